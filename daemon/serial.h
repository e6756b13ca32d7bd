/*
 * Serial link transport: a termios port (raw, baud, parity, flow control),
 * non-blocking, driven by a uv_poll_t on the daemon's loop.
 */
#ifndef FWUPGW_SERIAL_H
#define FWUPGW_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"

struct fwup_serial;

struct fwup_serial_callbacks {
    void (*on_data)(void *ctx, const uint8_t *data, size_t len);
    /* Every byte queued with fwup_serial_write() has been written. Never
     * called from inside fwup_serial_write(). */
    void (*on_tx_done)(void *ctx);
    /* The port failed (device unplugged, I/O error); no more callbacks. */
    void (*on_error)(void *ctx, const char *msg);
};

/* Map a numeric baud rate to its termios constant; 0 if unsupported. */
unsigned fwup_serial_speed(unsigned baud);

/* fwup_serial_open's result for a port that exists but will never take the
 * link's settings (baud, framing): retrying cannot help. Other failures
 * (missing, busy) are -1. */
#define FWUP_SERIAL_EPERM (-2)

int fwup_serial_open(uv_loop_t *loop, const struct fwup_cfg_link *link,
                     const struct fwup_serial_callbacks *cb, void *ctx, struct fwup_serial **out,
                     char *err, size_t errlen);
/* Queue bytes; they go out as the port accepts them. -1 if the port failed. */
int fwup_serial_write(struct fwup_serial *s, const uint8_t *data, size_t len);
/* Discard input not yet delivered, in the kernel and here. */
void fwup_serial_flush_rx(struct fwup_serial *s);
/* The port's descriptor, for its modem lines and break (ctrlseq). */
int fwup_serial_fd(const struct fwup_serial *s);
/* Closes the port; no callbacks after this. Frees once libuv is done. */
void fwup_serial_close(struct fwup_serial *s);

#endif
