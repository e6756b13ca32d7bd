/*
 * Small tty helpers shared by fwupsim, fwupsend, the interop tests and the
 * benchmark: pseudo-terminal pairs, raw mode, the monotonic clock.
 */
#ifndef FWUPGW_SIMTTY_H
#define FWUPGW_SIMTTY_H

#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t simtty_now_ns(void);

/* Put a tty into raw 8N1 mode without flow control; baud 0 keeps the speed.
 * Returns 0, or -1 with errno set (EINVAL for an unsupported baud). */
int simtty_make_raw(int fd, unsigned baud);

/* Open a pseudo-terminal pair, both ends non-blocking and close-on-exec, the
 * slave in raw mode. `name` receives the slave's path. Returns 0 or -1. */
int simtty_open_pty(int *master, int *slave, char *name, size_t namelen);

/* n deterministic pseudo-random bytes for test images (xorshift32 seeded by
 * seed, so equal seeds give equal images); malloc'd, never NULL for n == 0.
 * NULL only when out of memory. */
uint8_t *simtty_random_bytes(size_t n, uint32_t seed);

/* "PROG: message" on stderr, then exit(status): the tools' fatal errors. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4), noreturn))
#endif
void simtty_die(int status, const char *prog, const char *fmt, ...);

/* Write all of buf to a possibly non-blocking fd, polling on EAGAIN.
 * Returns 0 or -1. */
int simtty_write_all(int fd, const void *buf, size_t len);

#endif
