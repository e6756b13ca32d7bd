/*
 * The system's clocks in milliseconds.
 */
#ifndef FWUPGW_CLOCK_H
#define FWUPGW_CLOCK_H

#include <stdint.h>

/* Since the epoch: what the store records and people read. */
int64_t fwup_clock_wall_ms(void);
/* CLOCK_MONOTONIC: deadlines and rates, immune to clock changes. */
int64_t fwup_clock_mono_ms(void);
uint64_t fwup_clock_mono_ns(void);

#endif
