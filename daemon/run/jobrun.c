#include "jobrun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrlrun.h"
#include "host.h"
#include "link.h"
#include "log.h"

/* How often the stall and phase watchdogs look. */
#define WATCHDOG_MS 250

struct fwup_run {
    struct fwup_run_params p;
    struct fwup_host *host;
    struct fwup_link *link;
    struct fwup_option *options;
    struct fwup_job_params job;
    struct fwup_link_req req;

    /* wake is the host core's one wake-up; watchdog covers stall and phase
     * timeouts; defer runs the start and on_done outside any callback. */
    uv_timer_t wake, watchdog, defer;
    int open_handles;

    /* Entry and exit sequences on the device's control lines. */
    const struct fwup_line_ops *line_ops;
    void *line_ctx;
    struct fwup_line_hw *hw;
    struct fwup_seq_run *seq;
    int entering, exiting;

    int started, ended, reported, freeing;
    int reattach_expected; /* the engine asked the link to come back */
    enum fwup_result result;
    char msg[512];
    char phase[32];
    uint64_t phase_deadline_ms; /* 0: no phase timeout */
    uint64_t last_activity_ms;
};

static void end_run(struct fwup_run *r, enum fwup_result result, const char *msg);

/* Ends the job through the core, so that the engine hears nothing more; the
 * core's finish comes back to end_run. */
static void stop(struct fwup_run *r, enum fwup_result result, const char *msg)
{
    if (r->host)
        fwup_host_abort(r->host, result, msg);
    end_run(r, result, msg); /* no-op if the core already ended it */
}

/* --- the host core's backend ---------------------------------------------- */

static uint64_t b_now_us(void *ctx)
{
    struct fwup_run *r = ctx;
    return uv_now(r->p.loop) * 1000u;
}

static void on_wake(uv_timer_t *t)
{
    struct fwup_run *r = t->data;
    fwup_host_wake(r->host);
}

static void b_wake_at(void *ctx, uint64_t t_us)
{
    struct fwup_run *r = ctx;
    if (t_us == FWUP_HOST_NEVER) {
        uv_timer_stop(&r->wake);
        return;
    }
    uint64_t now = b_now_us(r);
    /* Rounded up: libuv's clock counts milliseconds. */
    uv_timer_start(&r->wake, on_wake, t_us > now ? (t_us - now + 999) / 1000 : 0, 0);
}

static int b_submit(void *ctx, const struct fwup_unit *u)
{
    struct fwup_run *r = ctx;
    return fwup_link_submit(r->link, u);
}

static int b_control(void *ctx, const struct fwup_control *c)
{
    struct fwup_run *r = ctx;
    int rc = fwup_link_control(r->link, c);
    if (rc >= 0 && c->op == FWUP_CTL_EXPECT_REATTACH)
        r->reattach_expected = 1;
    return rc;
}

static uint32_t phase_timeout(const struct fwup_run *r, const char *phase)
{
    for (size_t i = 0; i < r->p.nphase_timeouts; i++)
        if (strcmp(r->p.phase_timeouts[i].phase, phase) == 0)
            return r->p.phase_timeouts[i].ms;
    return 0;
}

static void b_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    struct fwup_run *r = ctx;
    if (r->ended)
        return;
    r->last_activity_ms = uv_now(r->p.loop);
    if (strncmp(r->phase, phase, sizeof(r->phase)) != 0) {
        snprintf(r->phase, sizeof(r->phase), "%s", phase);
        uint32_t t = phase_timeout(r, phase);
        r->phase_deadline_ms = t ? uv_now(r->p.loop) + t : 0;
    }
    r->p.on_progress(r->p.ctx, phase, done, total);
}

static void b_log(void *ctx, enum fwup_log_prio prio, const char *msg)
{
    struct fwup_run *r = ctx;
    fwup_log((int)prio, "%s: %s", r->p.dev->id, msg);
}

static void b_finish(void *ctx, enum fwup_result result, const char *msg)
{
    end_run(ctx, result, msg);
}

static const struct fwup_host_backend backend = {
    .now_us = b_now_us,
    .wake_at = b_wake_at,
    .submit = b_submit,
    .control = b_control,
    .progress = b_progress,
    .log = b_log,
    .finish = b_finish,
};

/* --- link callbacks ------------------------------------------------------- */

static void link_rx(void *ctx, uint32_t unit_kind, const uint8_t *data, size_t len,
                    const struct fwup_can_frame *frame)
{
    struct fwup_run *r = ctx;
    if (r->ended || !r->started)
        return;
    r->last_activity_ms = uv_now(r->p.loop);
    fwup_host_rx(r->host, unit_kind, data, len, frame);
}

static void link_complete(void *ctx, uint32_t tag, enum fwup_status status, const uint8_t *data,
                          size_t len)
{
    struct fwup_run *r = ctx;
    fwup_host_complete(r->host, tag, status, data, len);
}

static void link_down(void *ctx, const char *why)
{
    struct fwup_run *r = ctx;
    /* Gone for good unless the engine said it would come back: the job
     * fails with the link's reason, the engine is not asked. */
    if (!r->reattach_expected)
        stop(r, FWUP_RESULT_TRANSIENT, why);
    else
        fwup_host_link_down(r->host, why);
}

static void link_up(void *ctx, const struct fwup_link_info *info)
{
    struct fwup_run *r = ctx;
    r->reattach_expected = 0;
    fwup_host_link_up(r->host, info);
}

static void link_bus_state(void *ctx, enum fwup_bus_state state)
{
    struct fwup_run *r = ctx;
    fwup_host_bus_state(r->host, state);
}

static const struct fwup_link_callbacks link_cb = {
    .on_rx = link_rx,
    .on_complete = link_complete,
    .on_down = link_down,
    .on_up = link_up,
    .on_bus_state = link_bus_state,
};

/* --- watchdogs and sequences ---------------------------------------------- */

static void on_watchdog(uv_timer_t *t)
{
    struct fwup_run *r = t->data;
    uint64_t now = uv_now(r->p.loop);
    char msg[160];
    if (r->ended || !r->started)
        return;
    if (r->p.stall_timeout_ms && now - r->last_activity_ms >= r->p.stall_timeout_ms) {
        snprintf(msg, sizeof(msg), "device stopped answering: nothing for %u ms in phase '%s'",
                 r->p.stall_timeout_ms, r->phase);
        stop(r, FWUP_RESULT_TRANSIENT, msg);
    } else if (r->phase_deadline_ms && now >= r->phase_deadline_ms) {
        snprintf(msg, sizeof(msg), "phase '%s' timed out after %u ms", r->phase,
                 phase_timeout(r, r->phase));
        stop(r, FWUP_RESULT_TRANSIENT, msg);
    }
}

static void start_engine(struct fwup_run *r)
{
    r->started = 1;
    r->last_activity_ms = uv_now(r->p.loop);
    fwup_host_start(r->host);
}

static void entry_done(void *ctx, const char *err)
{
    struct fwup_run *r = ctx;
    char msg[320];
    r->seq = NULL;
    r->entering = 0;
    if (err) {
        snprintf(msg, sizeof(msg), "entry sequence: %s", err);
        stop(r, FWUP_RESULT_TRANSIENT, msg);
        return;
    }
    start_engine(r);
}

/* The start and on_done both run from here, so neither is ever re-entrant. */
static void on_defer(uv_timer_t *t)
{
    struct fwup_run *r = t->data;
    if (!r->started && !r->ended && !r->entering) {
        if (r->p.dev->entry.n && r->line_ops) {
            r->entering = 1;
            r->p.on_progress(r->p.ctx, "enter-bootloader", 0, r->job.image->total);
            r->seq = fwup_seq_start(r->p.loop, &r->p.dev->entry, r->line_ops, r->line_ctx,
                                    entry_done, r);
            if (r->seq)
                return;
            r->entering = 0;
        }
        start_engine(r);
        return;
    }
    if (r->ended && !r->reported) {
        r->reported = 1;
        uv_timer_stop(&r->wake);
        uv_timer_stop(&r->watchdog);
        r->p.on_done(r->p.ctx, r->result, r->msg);
    }
}

static void exit_done(void *ctx, const char *err)
{
    struct fwup_run *r = ctx;
    r->seq = NULL;
    r->exiting = 0;
    if (err) {
        log_warn("%s: exit sequence: %s", r->p.dev->id, err);
        if (r->result != FWUP_RESULT_OK) {
            size_t len = strlen(r->msg);
            snprintf(r->msg + len, sizeof(r->msg) - len, "; exit sequence: %s", err);
        }
    }
    uv_timer_start(&r->defer, on_defer, 0, 0);
}

/* The outcome, once: from the core's finish (the engine's, a cancel's
 * grace, an abort) or from a failure before the core exists. */
static void end_run(struct fwup_run *r, enum fwup_result result, const char *msg)
{
    if (r->ended)
        return;
    r->ended = 1;
    r->result = result;
    snprintf(r->msg, sizeof(r->msg), "%s", msg ? msg : "");
    if (r->entering) {
        fwup_seq_abort(r->seq);
        r->seq = NULL;
        r->entering = 0;
    }
    /* Bring the device back to its application, whatever the outcome,
     * unless the config asks to leave a failed one in its bootloader. */
    const struct fwup_cfg_device *dev = r->p.dev;
    if (dev->exit.n && r->line_ops &&
        (r->result == FWUP_RESULT_OK || !dev->stay_in_bootloader_on_failure)) {
        r->exiting = 1;
        r->seq = fwup_seq_start(r->p.loop, &dev->exit, r->line_ops, r->line_ctx, exit_done, r);
        if (r->seq)
            return;
        r->exiting = 0;
    }
    uv_timer_start(&r->defer, on_defer, 0, 0);
}

/* --- life cycle ----------------------------------------------------------- */

/* The job as the engine sees it: the device's options, image and flash.
 * *options (freed by the caller) backs out->options. */
static int job_params(const struct fwup_cfg_device *dev, const struct fwup_image *image,
                      struct fwup_option **options, struct fwup_job_params *out, char *err,
                      size_t errlen)
{
    *options = calloc(dev->noptions + 1, sizeof(**options));
    if (!*options) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < dev->noptions; i++) {
        (*options)[i].name = dev->options[i].name;
        (*options)[i].value = dev->options[i].value;
    }
    *out = (struct fwup_job_params){
        .struct_size = sizeof(*out),
        .device_id = dev->id,
        .image = image,
        .options = *options,
        .noptions = dev->noptions,
        .flash_base = dev->flash_base,
        .flash_size = dev->flash_size,
    };
    return 0;
}

static int build_job(struct fwup_run *r, char *err, size_t errlen)
{
    return job_params(r->p.dev, r->p.image, &r->options, &r->job, err, errlen);
}

int fwup_run_link_req(const struct fwup_protocol *proto, const struct fwup_cfg_device *dev,
                      const struct fwup_image *image, struct fwup_link_req *req, char *err,
                      size_t errlen)
{
    struct fwup_option *options;
    struct fwup_job_params job;
    *req = (struct fwup_link_req){.struct_size = sizeof(*req), .usb_alt = -1};
    if (!proto->link_req)
        return 0;
    if (job_params(dev, image, &options, &job, err, errlen) < 0)
        return -1;
    int rc = proto->link_req(&job, req, err, errlen);
    free(options);
    return rc < 0 ? -1 : 0;
}

/* What the link must provide: the caller's, or the protocol's answer. */
static int link_requirements(struct fwup_run *r, char *err, size_t errlen)
{
    if (r->p.link_req) {
        r->req = *r->p.link_req;
        return 0;
    }
    return fwup_run_link_req(r->p.proto, r->p.dev, r->p.image, &r->req, err, errlen);
}

int fwup_run_start(const struct fwup_run_params *p, struct fwup_run **out, char *err, size_t errlen)
{
    struct fwup_run *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    r->p = *p;
    if (build_job(r, err, errlen) < 0) {
        free(r);
        return -1;
    }
    if (link_requirements(r, err, errlen) < 0) {
        free(r->options);
        free(r);
        return FWUP_RUN_EPERM;
    }
    int rc = fwup_link_open(p->loop, p->link, p->dev, &r->req, &link_cb, r, &r->link, err, errlen);
    if (rc < 0) {
        free(r->options);
        free(r);
        return rc == FWUP_LINK_EPERM ? FWUP_RUN_EPERM : -1;
    }
    if (p->line_ops) {
        r->line_ops = p->line_ops;
        r->line_ctx = p->line_ctx;
    } else if (p->dev->entry.n || p->dev->exit.n) {
        r->hw = fwup_line_hw_new(fwup_link_fd(r->link), "fwupgw");
        r->line_ops = &fwup_line_hw_ops;
        r->line_ctx = r->hw;
    }
    /* Timers exist before the engine does: create() may already arm one. */
    uv_timer_t *timers[] = {&r->wake, &r->watchdog, &r->defer};
    for (size_t i = 0; i < 3; i++) {
        uv_timer_init(p->loop, timers[i]);
        timers[i]->data = r;
        r->open_handles++;
    }
    struct fwup_host_config hc = {
        .proto = p->proto,
        .params = &r->job,
        .link = fwup_link_info(r->link),
        .cancel_grace_ms = p->cancel_grace_ms,
        .backend = &backend,
        .ctx = r,
    };
    r->host = fwup_host_new(&hc, err, errlen);
    if (!r->host) {
        fwup_run_free(r);
        return -1;
    }
    uv_timer_start(&r->defer, on_defer, 0, 0);
    uv_timer_start(&r->watchdog, on_watchdog, WATCHDOG_MS, WATCHDOG_MS);
    *out = r;
    return 0;
}

void fwup_run_cancel(struct fwup_run *r)
{
    if (!r->ended)
        fwup_host_cancel(r->host);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct fwup_run *r = h->data;
    if (--r->open_handles == 0) {
        free(r->options);
        free(r);
    }
}

void fwup_run_free(struct fwup_run *r)
{
    if (!r || r->freeing)
        return;
    r->freeing = 1;
    r->ended = 1;
    fwup_seq_abort(r->seq);
    r->seq = NULL;
    fwup_line_hw_free(r->hw);
    r->hw = NULL;
    fwup_host_free(r->host);
    r->host = NULL;
    fwup_link_close(r->link);
    r->link = NULL;
    uv_close((uv_handle_t *)&r->wake, on_handle_closed);
    uv_close((uv_handle_t *)&r->watchdog, on_handle_closed);
    uv_close((uv_handle_t *)&r->defer, on_handle_closed);
}
