/*
 * The daemon's top-level state, owned by its one libuv loop.
 */
#ifndef FWUPGW_DAEMON_H
#define FWUPGW_DAEMON_H

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

struct fwupd {
    uv_loop_t *loop;
    struct fwupd_config *conf;
    struct fwup_store *store;
    struct fwup_outcomes *outcomes; /* what a full disk must not lose */
    struct fwup_plugins *plugins;
    struct fwup_server *server;
    struct fwup_sched *sched;
    struct fwup_api *api;
    const char *config_path;
    int stopping;
};

struct fwupd_config *fwupd_config_ref(struct fwupd_config *c);
void fwupd_config_unref(struct fwupd_config *c);

/* Wall-clock milliseconds since the epoch (what the store records). */
int64_t fwupd_now_ms(void);

/* Tell systemd (if it is watching) how things stand. */
void fwupd_notify_status(struct fwupd *d);

#endif
