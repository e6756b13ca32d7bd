/*
 * One job run: the daemon's backend of the host core (lib/host). It opens
 * the device's link (daemon/link, whatever its kind), runs the entry and
 * exit sequences around the engine, puts the core's one wake-up on a libuv
 * timer, adds the daemon's watchdogs (stall, phase timeouts), and reports
 * progress and the outcome. It knows nothing of the store or retry policy;
 * the scheduler does.
 */
#ifndef FWUPGW_JOBRUN_H
#define FWUPGW_JOBRUN_H

#include <uv.h>

#include "config.h"
#include "fwupgw/protocol.h"

struct fwup_run;

struct fwup_run_params {
    uv_loop_t *loop;
    const struct fwup_protocol *proto;
    const struct fwup_cfg_link *link;
    const struct fwup_cfg_device *dev;
    const struct fwup_image *image; /* owned by the caller until on_done */
    /* What the link must provide; NULL: the protocol's link_req(). */
    const struct fwup_link_req *link_req;
    uint32_t stall_timeout_ms; /* no rx and no progress for this long */
    uint32_t cancel_grace_ms;  /* engine's time to abort after cancel */
    const struct fwup_cfg_phase_timeout *phase_timeouts;
    size_t nphase_timeouts;
    /* Control-line driver for the entry/exit sequences; NULL: the real one
     * (libgpiod and the port's modem lines). Tests pass a recorder. */
    const struct fwup_line_ops *line_ops;
    void *line_ctx;

    /* Phase or byte count changed. */
    void (*on_progress)(void *ctx, const char *phase, uint64_t done, uint64_t total);
    /* The run is over (exactly once, never from inside fwup_run_start or
     * fwup_run_cancel). The caller then calls fwup_run_free. */
    void (*on_done)(void *ctx, enum fwup_result result, const char *msg);
    void *ctx;
};

/* Opens the link and creates the engine; the engine starts on the next
 * loop iteration. -1 with a reason if the run could not start, or
 * FWUP_RUN_EPERM if it never will with this config (the link refuses its
 * settings, or the protocol the device's). */
#define FWUP_RUN_EPERM (-2)
int fwup_run_start(const struct fwup_run_params *p, struct fwup_run **out, char *err,
                   size_t errlen);
/* What the link must provide for this device and image: the protocol's
 * link_req() on the job's params (defaults if it has none). The scheduler
 * claims resources from it and passes it to the run. 0, or -1 with a
 * reason. */
int fwup_run_link_req(const struct fwup_protocol *proto, const struct fwup_cfg_device *dev,
                      const struct fwup_image *image, struct fwup_link_req *req, char *err,
                      size_t errlen);
/* Ask the engine to abort; after cancel_grace_ms it is stopped regardless. */
void fwup_run_cancel(struct fwup_run *r);
void fwup_run_free(struct fwup_run *r);

#endif
