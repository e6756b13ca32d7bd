/*
 * The real control-line driver: GPIO lines through libgpiod's character
 * device (never sysfs), RTS/DTR and break through the serial port's ioctls.
 */
#include <errno.h>
#include <gpiod.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>

#include "ctrlrun.h"

struct held_line {
    const struct fwup_ctrl_line *cfg;
    struct gpiod_chip *chip;
    struct gpiod_line *line;
};

struct fwup_line_hw {
    int fd; /* the serial port, -1 if none */
    char consumer[32];
    struct held_line *held;
    size_t nheld;
};

struct fwup_line_hw *fwup_line_hw_new(int serial_fd, const char *consumer)
{
    struct fwup_line_hw *hw = calloc(1, sizeof(*hw));
    if (hw) {
        hw->fd = serial_fd;
        snprintf(hw->consumer, sizeof(hw->consumer), "%s", consumer ? consumer : "fwupgw");
    }
    return hw;
}

void fwup_line_hw_free(struct fwup_line_hw *hw)
{
    if (!hw)
        return;
    /* Releasing keeps the last value driven on the chips we know of; the
     * sequences end in the state the device should stay in. */
    for (size_t i = 0; i < hw->nheld; i++) {
        gpiod_line_release(hw->held[i].line);
        gpiod_chip_close(hw->held[i].chip);
    }
    free(hw->held);
    free(hw);
}

static struct held_line *request(struct fwup_line_hw *hw, const struct fwup_ctrl_line *cfg,
                                 int value, char *err, size_t errlen)
{
    for (size_t i = 0; i < hw->nheld; i++)
        if (hw->held[i].cfg == cfg)
            return &hw->held[i];
    struct held_line *nv = realloc(hw->held, (hw->nheld + 1) * sizeof(*nv));
    if (!nv) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    hw->held = nv;
    struct held_line *h = &hw->held[hw->nheld];
    h->cfg = cfg;
    h->chip = gpiod_chip_open_lookup(cfg->chip);
    if (!h->chip) {
        snprintf(err, errlen, "line '%s': GPIO chip %s: %s", cfg->name, cfg->chip, strerror(errno));
        return NULL;
    }
    h->line = gpiod_chip_get_line(h->chip, cfg->offset);
    int flags = cfg->active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;
    if (!h->line || gpiod_line_request_output_flags(h->line, hw->consumer, flags, value) < 0) {
        snprintf(err, errlen, "line '%s': %s line %u: %s", cfg->name, cfg->chip, cfg->offset,
                 strerror(errno));
        gpiod_chip_close(h->chip);
        return NULL;
    }
    hw->nheld++;
    return h;
}

static int hw_set(void *ctx, const struct fwup_ctrl_line *line, int value, char *err, size_t errlen)
{
    struct fwup_line_hw *hw = ctx;
    if (line->kind == FWUP_LINE_RTS || line->kind == FWUP_LINE_DTR) {
        int bit = line->kind == FWUP_LINE_RTS ? TIOCM_RTS : TIOCM_DTR;
        if (hw->fd < 0 || ioctl(hw->fd, value ? TIOCMBIS : TIOCMBIC, &bit) < 0) {
            snprintf(err, errlen, "line '%s': %s", line->name,
                     hw->fd < 0 ? "no serial port" : strerror(errno));
            return -1;
        }
        return 0;
    }
    struct held_line *h = request(hw, line, value, err, errlen);
    if (!h)
        return -1;
    if (gpiod_line_set_value(h->line, value) < 0) {
        snprintf(err, errlen, "line '%s': %s", line->name, strerror(errno));
        return -1;
    }
    return 0;
}

static int hw_brk(void *ctx, int on, char *err, size_t errlen)
{
    struct fwup_line_hw *hw = ctx;
    if (hw->fd < 0 || ioctl(hw->fd, on ? TIOCSBRK : TIOCCBRK) < 0) {
        snprintf(err, errlen, "break: %s", hw->fd < 0 ? "no serial port" : strerror(errno));
        return -1;
    }
    return 0;
}

const struct fwup_line_ops fwup_line_hw_ops = {hw_set, hw_brk};
