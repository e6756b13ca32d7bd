/*
 * Numbers with units, as the config and control-line steps write them.
 */
#ifndef FWUPGW_UNITS_H
#define FWUPGW_UNITS_H

#include <stdint.h>

/* Digits of `base` only (no sign, spaces or prefix), at most `limit`.
 * 0, or -1. */
int fwup_parse_digits(const char *s, int base, uint64_t limit, uint64_t *out);
/* "500ms", "2s", "1.5s", "3m", plain integer = ms. -1 on error. */
int fwup_parse_duration_ms(const char *s, uint32_t *out);
/* "4096", "0x1000", "256K", "1M" (binary units). -1 on error. */
int fwup_parse_size(const char *s, uint32_t *out);

#endif
