/*
 * Control-line sequences: how the gateway puts a device into its bootloader
 * and back into its application without anyone touching the board. A
 * sequence is a list of steps on named lines (GPIO lines of a gpiochip, the
 * serial port's RTS and DTR), breaks and delays, e.g. for an STM32:
 *
 *   entry: [boot0=1, nrst=1, delay 10ms, nrst=0, delay 50ms]
 *   exit:  [boot0=0, nrst=1, delay 10ms, nrst=0]
 *
 * Values are logical: 1 = asserted. For GPIO lines active_low inverts the
 * pin; for RTS/DTR, 1 = TIOCMBIS (most adapters then drive the pin low).
 * This is the model and its parser, shared with the config; ctrlrun.h runs
 * sequences on the daemon's loop.
 */
#ifndef FWUPGW_CTRLSEQ_H
#define FWUPGW_CTRLSEQ_H

#include <stddef.h>
#include <stdint.h>

enum fwup_line_kind { FWUP_LINE_GPIO = 0, FWUP_LINE_RTS, FWUP_LINE_DTR };

struct fwup_ctrl_line {
    char *name;
    enum fwup_line_kind kind;
    char *chip;      /* GPIO: "gpiochip0", "/dev/gpiochip0" or a chip label */
    unsigned offset; /* GPIO: line offset on the chip */
    int active_low;  /* GPIO: the pin is low when the line is asserted */
};

enum fwup_step_kind { FWUP_STEP_SET = 0, FWUP_STEP_DELAY, FWUP_STEP_BREAK };

struct fwup_step {
    enum fwup_step_kind kind;
    const struct fwup_ctrl_line *line; /* SET */
    int value;                         /* SET: 0 or 1 */
    uint32_t ms;                       /* DELAY, BREAK: duration */
};

struct fwup_ctrl_seq {
    struct fwup_step *steps;
    size_t n;
};

/* The built-in serial lines, usable in any device's sequences. */
extern const struct fwup_ctrl_line fwup_line_rts, fwup_line_dtr;

/*
 * Parse one step: "NAME=0", "NAME=1", "delay DURATION", "break DURATION".
 * NAME is "rts", "dtr" or one of `lines`. Returns 0, or -1 with a reason.
 */
int fwup_ctrl_parse_step(const char *text, const struct fwup_ctrl_line *lines, size_t nlines,
                         struct fwup_step *out, char *err, size_t errlen);

#endif
