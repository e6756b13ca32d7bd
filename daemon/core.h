/*
 * The daemon's core state, owned by its one libuv loop: what the scheduler,
 * the API and main.c share. Time comes from an injectable clock so that the
 * scheduler and the API can run on a virtual one in tests.
 */
#ifndef FWUPGW_CORE_H
#define FWUPGW_CORE_H

#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "plugins.h"
#include "store.h"

struct fwup_sched;
struct fwup_api;
struct fwup_server;
struct fwup_outcomes;

/* A config shared by the daemon and the runs that started under it, so a
 * SIGHUP reload never pulls a link out from under a running job. */
struct fwupd_config {
    struct fwup_config *cfg;
    int refs;
};

struct fwupd_clock {
    /* Milliseconds since the epoch: what the store records. */
    int64_t (*wall_ms)(void *ctx);
    /* Milliseconds on a clock that never jumps: rates and intervals. */
    uint64_t (*mono_ms)(void *ctx);
    void *ctx;
};

struct fwupd {
    uv_loop_t *loop;
    struct fwupd_clock clock;
    struct fwupd_config *conf;
    struct fwup_store *store;
    struct fwup_outcomes *outcomes; /* what a full disk must not lose */
    struct fwup_plugins *plugins;
    struct fwup_server *server;
    struct fwup_sched *sched;
    struct fwup_api *api;
    const char *config_path;
    int stopping;
    /* Called by fwupd_notify_status (main.c tells systemd); may be NULL. */
    void (*status_changed)(struct fwupd *d);
};

/* Zeroes d and sets the real clock: the system's wall clock, and d->loop's
 * time (set d->loop before reading it). */
void fwupd_init(struct fwupd *d);

/* A new shared config holding cfg (one reference; cfg is freed with it). */
struct fwupd_config *fwupd_config_new(struct fwup_config *cfg);
struct fwupd_config *fwupd_config_ref(struct fwupd_config *c);
void fwupd_config_unref(struct fwupd_config *c);

static inline int64_t fwupd_now_ms(const struct fwupd *d)
{
    return d->clock.wall_ms(d->clock.ctx);
}

static inline uint64_t fwupd_mono_ms(const struct fwupd *d)
{
    return d->clock.mono_ms(d->clock.ctx);
}

/* Jobs started or ended, or the daemon's health changed: calls
 * d->status_changed. */
void fwupd_notify_status(struct fwupd *d);

#endif
