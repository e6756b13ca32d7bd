/*
 * The daemon's core state (core.h): shared config, clock, status.
 */
#include "core.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"

static int64_t system_wall_ms(void *ctx)
{
    (void)ctx;
    return fwup_clock_wall_ms();
}

/* The loop's cached time, as the daemon's timers see it. */
static uint64_t loop_mono_ms(void *ctx)
{
    const struct fwupd *d = ctx;
    return uv_now(d->loop);
}

void fwupd_init(struct fwupd *d)
{
    memset(d, 0, sizeof(*d));
    d->clock = (struct fwupd_clock){system_wall_ms, loop_mono_ms, d};
}

struct fwupd_config *fwupd_config_new(struct fwup_config *cfg)
{
    struct fwupd_config *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->cfg = cfg;
    c->refs = 1;
    return c;
}

struct fwupd_config *fwupd_config_ref(struct fwupd_config *c)
{
    c->refs++;
    return c;
}

void fwupd_config_unref(struct fwupd_config *c)
{
    if (c && --c->refs == 0) {
        fwup_config_free(c->cfg);
        free(c);
    }
}

void fwupd_notify_status(struct fwupd *d)
{
    if (d->status_changed)
        d->status_changed(d);
}
