#include "jobrun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrlrun.h"
#include "log.h"
#include "serial.h"

struct fwup_run {
    struct fwup_run_params p;
    struct fwup_engine *engine;
    struct fwup_serial *port;
    struct fwup_option *options;
    struct fwup_job_params job;
    struct fwup_link_params link;

    /* engine_timer is the engine's own; watchdog covers stall and phase
     * timeouts; defer runs on_start and on_done outside any callback;
     * grace bounds a cancel. */
    uv_timer_t engine_timer, watchdog, defer, grace;
    int open_handles;

    /* Entry and exit sequences on the device's control lines. */
    const struct fwup_line_ops *line_ops;
    void *line_ctx;
    struct fwup_line_hw *hw;
    struct fwup_seq_run *seq;
    int entering, exiting;

    int started, cancelling, ended, reported, freeing;
    enum fwup_result result;
    char msg[512];
    char phase[32];
    uint64_t phase_deadline_ms; /* 0: no phase timeout */
    uint64_t last_activity_ms;
};

static void end_run(struct fwup_run *r, enum fwup_result result, const char *msg);
static void on_engine_timer(uv_timer_t *t);

/* --- host ops given to the engine ---------------------------------------- */

static int host_send(void *host, const uint8_t *data, size_t len)
{
    struct fwup_run *r = host;
    if (r->ended)
        return -1;
    return fwup_serial_write(r->port, data, len);
}

static void host_timer(void *host, uint32_t ms)
{
    struct fwup_run *r = host;
    if (r->ended)
        return;
    if (ms == 0)
        uv_timer_stop(&r->engine_timer);
    else
        uv_timer_start(&r->engine_timer, on_engine_timer, ms, 0);
}

static void host_flush_rx(void *host)
{
    struct fwup_run *r = host;
    if (!r->ended)
        fwup_serial_flush_rx(r->port);
}

static uint32_t phase_timeout(const struct fwup_run *r, const char *phase)
{
    for (size_t i = 0; i < r->p.nphase_timeouts; i++)
        if (strcmp(r->p.phase_timeouts[i].phase, phase) == 0)
            return r->p.phase_timeouts[i].ms;
    return 0;
}

static void host_progress(void *host, const char *phase, uint64_t done, uint64_t total)
{
    struct fwup_run *r = host;
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

static void host_log(void *host, enum fwup_log_prio prio, const char *msg)
{
    struct fwup_run *r = host;
    fwup_log((int)prio, "%s: %s", r->p.dev->id, msg);
}

static void host_finish(void *host, enum fwup_result result, const char *msg)
{
    end_run(host, result, msg);
}

static const struct fwup_host_ops host_ops = {
    .send = host_send,
    .timer = host_timer,
    .flush_rx = host_flush_rx,
    .progress = host_progress,
    .log = host_log,
    .finish = host_finish,
};

/* --- transport callbacks -------------------------------------------------- */

static void port_data(void *ctx, const uint8_t *data, size_t len)
{
    struct fwup_run *r = ctx;
    if (r->ended || !r->started)
        return;
    r->last_activity_ms = uv_now(r->p.loop);
    r->p.proto->on_rx(r->engine, data, len);
}

static void port_tx_done(void *ctx)
{
    struct fwup_run *r = ctx;
    if (!r->ended && r->started && r->p.proto->on_tx_done)
        r->p.proto->on_tx_done(r->engine);
}

static void port_error(void *ctx, const char *msg)
{
    end_run(ctx, FWUP_RESULT_TRANSIENT, msg);
}

/* --- timers --------------------------------------------------------------- */

static void on_engine_timer(uv_timer_t *t)
{
    struct fwup_run *r = t->data;
    if (!r->ended)
        r->p.proto->on_timer(r->engine);
}

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
        end_run(r, FWUP_RESULT_TRANSIENT, msg);
    } else if (r->phase_deadline_ms && now >= r->phase_deadline_ms) {
        snprintf(msg, sizeof(msg), "phase '%s' timed out after %u ms", r->phase,
                 phase_timeout(r, r->phase));
        end_run(r, FWUP_RESULT_TRANSIENT, msg);
    }
}

static void on_grace(uv_timer_t *t)
{
    struct fwup_run *r = t->data;
    end_run(r, FWUP_RESULT_CANCELLED, "cancelled (the protocol did not confirm the abort)");
}

static void start_engine(struct fwup_run *r)
{
    r->started = 1;
    r->last_activity_ms = uv_now(r->p.loop);
    r->p.proto->on_start(r->engine);
}

static void entry_done(void *ctx, const char *err)
{
    struct fwup_run *r = ctx;
    char msg[320];
    r->seq = NULL;
    r->entering = 0;
    if (err) {
        snprintf(msg, sizeof(msg), "entry sequence: %s", err);
        end_run(r, FWUP_RESULT_TRANSIENT, msg);
        return;
    }
    start_engine(r);
}

/* on_start and on_done both run from here, so neither is ever re-entrant. */
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
        uv_timer_stop(&r->engine_timer);
        uv_timer_stop(&r->watchdog);
        uv_timer_stop(&r->grace);
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

static void end_run(struct fwup_run *r, enum fwup_result result, const char *msg)
{
    if (r->ended)
        return;
    r->ended = 1;
    /* A cancel wins over whatever failure the abort provoked. */
    r->result = r->cancelling && result != FWUP_RESULT_OK ? FWUP_RESULT_CANCELLED : result;
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

void fwup_link_apply_framing(struct fwup_cfg_link *link, const struct fwup_protocol *proto)
{
    /* A link that leaves parity open gets the protocol's framing. */
    if (!link->parity_set && proto->serial_framing && strcmp(proto->serial_framing, "8E1") == 0) {
        link->parity = FWUP_PARITY_EVEN;
        link->parity_from = proto->name;
    }
}

int fwup_run_start(const struct fwup_run_params *p, struct fwup_run **out, char *err, size_t errlen)
{
    struct fwup_run *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    r->p = *p;
    r->options = calloc(p->dev->noptions + 1, sizeof(*r->options));
    if (!r->options) {
        free(r);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < p->dev->noptions; i++) {
        r->options[i].name = p->dev->options[i].name;
        r->options[i].value = p->dev->options[i].value;
    }
    r->job.device_id = p->dev->id;
    r->job.image = p->image;
    r->job.options = r->options;
    r->job.noptions = p->dev->noptions;
    r->job.flash_base = p->dev->flash_base;
    r->job.flash_size = p->dev->flash_size;

    static const struct fwup_serial_callbacks port_cb = {port_data, port_tx_done, port_error};
    struct fwup_cfg_link link = *p->link;
    fwup_link_apply_framing(&link, p->proto);
    /* The engine times the line from what the port is opened with. */
    static const char parities[] = {
        [FWUP_PARITY_NONE] = 'N', [FWUP_PARITY_EVEN] = 'E', [FWUP_PARITY_ODD] = 'O'};
    static const uint8_t flows[] = {[FWUP_FLOW_NONE] = FWUP_FLOW_CONTROL_NONE,
                                    [FWUP_FLOW_RTSCTS] = FWUP_FLOW_CONTROL_RTSCTS,
                                    [FWUP_FLOW_XONXOFF] = FWUP_FLOW_CONTROL_XONXOFF};
    r->link = (struct fwup_link_params){link.baud, (uint8_t)link.data_bits, parities[link.parity],
                                        (uint8_t)link.stop_bits, flows[link.flow]};
    r->job.link = &r->link;
    int rc = fwup_serial_open(p->loop, &link, &port_cb, r, &r->port, err, errlen);
    if (rc < 0) {
        free(r->options);
        free(r);
        return rc == FWUP_SERIAL_EPERM ? FWUP_RUN_EPERM : -1;
    }
    if (p->line_ops) {
        r->line_ops = p->line_ops;
        r->line_ctx = p->line_ctx;
    } else if (p->dev->entry.n || p->dev->exit.n) {
        r->hw = fwup_line_hw_new(fwup_serial_fd(r->port), "fwupgw");
        r->line_ops = &fwup_line_hw_ops;
        r->line_ctx = r->hw;
    }
    /* Timers exist before the engine does: create() may already arm one. */
    uv_timer_t *timers[] = {&r->engine_timer, &r->watchdog, &r->defer, &r->grace};
    for (size_t i = 0; i < 4; i++) {
        uv_timer_init(p->loop, timers[i]);
        timers[i]->data = r;
        r->open_handles++;
    }
    r->engine = p->proto->create(&r->job, &host_ops, r, err, errlen);
    if (!r->engine) {
        fwup_run_free(r);
        return -1;
    }
    uv_timer_start(&r->defer, on_defer, 0, 0);
    uv_timer_start(&r->watchdog, on_watchdog, 250, 250);
    *out = r;
    return 0;
}

void fwup_run_cancel(struct fwup_run *r)
{
    if (r->ended || r->cancelling)
        return;
    r->cancelling = 1;
    uv_timer_start(&r->grace, on_grace, r->p.cancel_grace_ms ? r->p.cancel_grace_ms : 5000, 0);
    if (r->started && !r->ended)
        r->p.proto->on_cancel(r->engine);
    else
        end_run(r, FWUP_RESULT_CANCELLED, "cancelled before the protocol started");
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
    if (r->engine)
        r->p.proto->destroy(r->engine);
    r->engine = NULL;
    fwup_serial_close(r->port);
    uv_close((uv_handle_t *)&r->engine_timer, on_handle_closed);
    uv_close((uv_handle_t *)&r->watchdog, on_handle_closed);
    uv_close((uv_handle_t *)&r->defer, on_handle_closed);
    uv_close((uv_handle_t *)&r->grace, on_handle_closed);
}
