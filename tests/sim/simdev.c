/* Registry of the built-in simulated device models, and what they share. */
#include "simdev.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct simdev_class simdev_xmodem;
extern const struct simdev_class simdev_pic32;
extern const struct simdev_class simdev_stm32;

static const struct simdev_class *const simdev_classes[] = {
    &simdev_xmodem,
    &simdev_pic32,
    &simdev_stm32,
};

const struct simdev_class *simdev_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof(simdev_classes) / sizeof(simdev_classes[0]); i++)
        if (strcmp(simdev_classes[i]->name, name) == 0)
            return simdev_classes[i];
    return NULL;
}

void *simdev_alloc(size_t size, const struct simdev_io *io, void *ctx, char *err, size_t errlen)
{
    struct simdev_head *h = calloc(1, size);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->io = io;
    h->ctx = ctx;
    h->status = SIMDEV_IDLE;
    return h;
}

enum simdev_state simdev_head_state(const struct simdev *dev)
{
    return ((const struct simdev_head *)dev)->status;
}

unsigned simdev_head_completions(const struct simdev *dev)
{
    return ((const struct simdev_head *)dev)->completions;
}

void simdev_old_firmware(uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        p[i] = simdev_old_byte(i);
}

void simdev_erase_span(uint8_t *want, size_t len, size_t off, size_t n, size_t page)
{
    if (page == 0) {
        memset(want, 0xff, len);
        return;
    }
    if (n == 0 || off >= len)
        return;
    size_t lo = off / page * page, hi = (off + n + page - 1) / page * page;
    memset(want + lo, 0xff, (hi < len ? hi : len) - lo);
}
