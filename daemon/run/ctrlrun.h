/*
 * Running control-line sequences (ctrlseq.h) on the daemon's loop. What
 * touches hardware sits behind struct fwup_line_ops so tests can record it
 * (pseudo-terminals have no modem lines, this machine no GPIO chips).
 */
#ifndef FWUPGW_CTRLRUN_H
#define FWUPGW_CTRLRUN_H

#include <uv.h>

#include "ctrlseq.h"

/* What drives the lines. set() takes the logical value. */
struct fwup_line_ops {
    int (*set)(void *ctx, const struct fwup_ctrl_line *line, int value, char *err, size_t errlen);
    int (*brk)(void *ctx, int on, char *err, size_t errlen);
};

/* The real driver: GPIO lines through libgpiod's character device, RTS, DTR
 * and break through the open serial port. Lines are requested on first use
 * and released by fwup_line_hw_free. */
struct fwup_line_hw;
struct fwup_line_hw *fwup_line_hw_new(int serial_fd, const char *consumer);
void fwup_line_hw_free(struct fwup_line_hw *hw);
extern const struct fwup_line_ops fwup_line_hw_ops;

/* Run a sequence asynchronously; done() is called once, never from inside
 * fwup_seq_start, with NULL or the first error. */
struct fwup_seq_run;
struct fwup_seq_run *fwup_seq_start(uv_loop_t *loop, const struct fwup_ctrl_seq *seq,
                                    const struct fwup_line_ops *ops, void *ops_ctx,
                                    void (*done)(void *ctx, const char *err), void *ctx);
/* Stop a running sequence (releasing a break in progress); done() is not
 * called. The run frees itself once libuv has closed its timer. */
void fwup_seq_abort(struct fwup_seq_run *r);

#endif
