/*
 * Standard serial line rates: the one table the config, the daemon's serial
 * link and the simulators share.
 */
#ifndef FWUPGW_BAUD_H
#define FWUPGW_BAUD_H

#include <termios.h>

/* The termios speed of a standard rate (50 ... 4000000 baud), 0 (B0) for
 * any other. */
speed_t fwup_baud_speed(unsigned long baud);

#endif
