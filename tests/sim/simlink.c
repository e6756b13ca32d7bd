/*
 * Virtual-clock link between an engine and a simulated device. See simlink.h.
 *
 * Arrival times within one direction never decrease (bytes are serialised
 * in order and turnaround is constant), so each direction is a plain FIFO
 * and the next event is the minimum of six candidates: no priority queue.
 * Internally time is in nanoseconds so that 115200 baud does not round.
 * The engine's side of the ABI is the host core (lib/host); this file is
 * its backend: the line, the device and the virtual clock.
 */
#include "simlink.h"

#include "host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_US 1000ull
#define NS_PER_MS 1000000ull

struct qbyte {
    uint64_t t; /* arrival, ns */
    uint8_t b;
};

struct fifo {
    struct qbyte *v;
    size_t head, len, cap;
};

/* Units whose completion the engine asked for, in submit order. */
struct completion {
    uint64_t t; /* ns */
    uint32_t id;
};

struct sim {
    const struct simlink_config *cfg;
    struct simlink_result *out;
    uint64_t now;
    uint64_t rng;
    uint64_t byte_ns;
    unsigned fault_dirs;

    struct fwup_host *host;
    int eng_finished; /* the job is over (the engine finished or the host ended it) */
    struct fwup_job_params params;
    struct fwup_link_info link;
    struct fwup_serial_info serial;

    struct simdev *dev;
    struct simdev_io dev_io;

    struct fifo h2d, d2h;
    uint64_t h2d_free, d2h_free; /* when each line is next idle */

    struct completion *comp;
    size_t comp_head, comp_len, comp_cap;

    int host_wake_armed, dev_timer_armed, cancel_pending;
    uint64_t host_wake_at, dev_timer_at, cancel_at;
    int eng_started;
    uint64_t eng_start_at; /* the host opens the link and starts the engine */
    int oom;
};

static uint64_t rng_next(struct sim *s)
{
    /* splitmix64: tiny, good enough, same sequence everywhere */
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unit(struct sim *s)
{
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static int fifo_push(struct fifo *f, uint64_t t, uint8_t b)
{
    if (f->head > 0 && f->head == f->len) {
        f->head = f->len = 0;
    }
    if (f->len == f->cap) {
        if (f->head > f->cap / 2) {
            memmove(f->v, f->v + f->head, (f->len - f->head) * sizeof(*f->v));
            f->len -= f->head;
            f->head = 0;
        } else {
            size_t cap = f->cap ? f->cap * 2 : 4096;
            struct qbyte *v = realloc(f->v, cap * sizeof(*v));
            if (!v)
                return -1;
            f->v = v;
            f->cap = cap;
        }
    }
    f->v[f->len++] = (struct qbyte){t, b};
    return 0;
}

static int fifo_empty(const struct fifo *f)
{
    return f->head == f->len;
}

/* Put bytes on one direction of the line at s->now (+ start delay). */
static void line_send(struct sim *s, enum simlink_dir dir, const uint8_t *data, size_t len,
                      uint64_t start_delay)
{
    struct fifo *f = dir == SIMLINK_H2D ? &s->h2d : &s->d2h;
    uint64_t *free_at = dir == SIMLINK_H2D ? &s->h2d_free : &s->d2h_free;
    int faulty = (s->fault_dirs & dir) != 0;

    if (s->cfg->tap && len)
        s->cfg->tap(s->cfg->tap_ctx, dir, s->now / NS_PER_US, data, len);
    if (dir == SIMLINK_H2D)
        s->out->bytes_host_to_dev += len;
    else
        s->out->bytes_dev_to_host += len;

    for (size_t i = 0; i < len; i++) {
        uint64_t start = s->now + start_delay;
        if (*free_at > start)
            start = *free_at;
        uint64_t end = start + s->byte_ns + (uint64_t)s->cfg->delay_us * NS_PER_US;
        *free_at = end;
        uint8_t b = data[i];
        if (faulty && s->cfg->drop_rate > 0 && rng_unit(s) < s->cfg->drop_rate) {
            s->out->bytes_dropped++;
            continue;
        }
        if (faulty && s->cfg->corrupt_rate > 0 && rng_unit(s) < s->cfg->corrupt_rate) {
            b ^= (uint8_t)(1u << (rng_next(s) % 8));
            s->out->bytes_corrupted++;
        }
        if (fifo_push(f, end, b) < 0)
            s->oom = 1;
    }
}

/* ---- host side: the backend of the host core ---- */

static uint64_t h_now_us(void *ctx)
{
    return ((struct sim *)ctx)->now / NS_PER_US;
}

static void h_wake_at(void *ctx, uint64_t t_us)
{
    struct sim *s = ctx;
    s->host_wake_armed = t_us != FWUP_HOST_NEVER;
    s->host_wake_at = t_us * NS_PER_US;
}

static int h_submit(void *ctx, const struct fwup_unit *u)
{
    struct sim *s = ctx;
    line_send(s, SIMLINK_H2D, u->data, u->len, 0);
    if (!(u->flags & FWUP_SUBMIT_NOTIFY))
        return 0;
    /* On the wire: when the last byte has reached the device. Else when
     * what is still to leave fits in the host's transmit buffer. */
    uint64_t t = s->h2d_free;
    if (!(u->flags & FWUP_SUBMIT_ON_WIRE)) {
        uint64_t buffered = (uint64_t)s->cfg->host_tx_buffer * s->byte_ns;
        if (t > s->now)
            t -= buffered < t - s->now ? buffered : t - s->now;
    }
    if (s->comp_len > s->comp_head && t < s->comp[s->comp_len - 1].t)
        t = s->comp[s->comp_len - 1].t; /* a serial line completes in order */
    if (s->comp_head > 0 && s->comp_head == s->comp_len)
        s->comp_head = s->comp_len = 0;
    if (s->comp_len == s->comp_cap) {
        size_t cap = s->comp_cap ? s->comp_cap * 2 : 64;
        struct completion *c = realloc(s->comp, cap * sizeof(*c));
        if (!c) {
            s->oom = 1;
            return -1;
        }
        s->comp = c;
        s->comp_cap = cap;
    }
    s->comp[s->comp_len++] = (struct completion){t, u->tag};
    return 0;
}

static int h_control(void *ctx, const struct fwup_control *c)
{
    struct sim *s = ctx;
    if (c->op != FWUP_CTL_FLUSH_RX)
        return -1;
    /* Only what has already arrived: bytes still on the wire are not ours to drop. */
    while (!fifo_empty(&s->d2h) && s->d2h.v[s->d2h.head].t <= s->now)
        s->d2h.head++;
    return 0;
}

static void h_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    struct sim *s = ctx;
    struct simlink_result *o = s->out;
    o->progress_calls++;
    if (s->cfg->on_progress)
        s->cfg->on_progress(s->cfg->progress_ctx, phase, done, total);
    snprintf(o->last_phase, sizeof(o->last_phase), "%s", phase);
    o->last_done = done;
}

static void h_log(void *ctx, enum fwup_log_prio prio, const char *msg)
{
    struct sim *s = ctx;
    if (s->cfg->verbose)
        fprintf(stderr, "[%10.3f ms] <%d> %s\n", (double)s->now / NS_PER_MS, (int)prio, msg);
    if (s->cfg->on_log)
        s->cfg->on_log(s->cfg->log_ctx, prio, msg);
}

static void h_finish(void *ctx, enum fwup_result result, const char *msg)
{
    struct sim *s = ctx;
    s->eng_finished = 1;
    /* The host ending a job (a cancel the engine never confirmed) is not
     * the engine finishing it. */
    s->out->engine_finished = fwup_host_state(s->host) == FWUP_HOST_FINISHED;
    s->out->result = result;
    snprintf(s->out->message, sizeof(s->out->message), "%s", msg);
    s->out->virtual_us = s->now / NS_PER_US;
}

static const struct fwup_host_backend host_backend = {
    .now_us = h_now_us,
    .wake_at = h_wake_at,
    .submit = h_submit,
    .control = h_control,
    .progress = h_progress,
    .log = h_log,
    .finish = h_finish,
};

/* What a backend may still have had queued when the engine finished: none
 * of it may reach the engine (any host call it made would count in
 * protocol_errors). */
static void events_after_finish(struct sim *s)
{
    static const uint8_t byte = 0x06; /* XMODEM's ACK */
    fwup_host_cancel(s->host);
    fwup_host_wake(s->host);
    fwup_host_rx(s->host, FWUP_UNIT_BYTES, &byte, 1, NULL);
    for (size_t i = s->comp_head; i < s->comp_len; i++)
        fwup_host_complete(s->host, s->comp[i].id, FWUP_STATUS_OK, NULL, 0);
    fwup_host_link_down(s->host, "simlink: closed");
}

/* ---- device side ---- */

static void d_send(void *ctx, const uint8_t *data, size_t len)
{
    struct sim *s = ctx;
    line_send(s, SIMLINK_D2H, data, len, (uint64_t)s->cfg->turnaround_us * NS_PER_US);
}

static void d_timer(void *ctx, uint32_t ms)
{
    struct sim *s = ctx;
    s->dev_timer_armed = ms != 0;
    s->dev_timer_at = s->now + (uint64_t)ms * NS_PER_MS;
}

/* Hand every byte of `f` that has arrived by s->now to the receiver. */
static void deliver(struct sim *s, struct fifo *f, int to_device)
{
    uint8_t buf[2048];
    size_t n = 0;
    while (!fifo_empty(f) && f->v[f->head].t <= s->now && n < sizeof(buf))
        buf[n++] = f->v[f->head++].b;
    if (to_device)
        s->cfg->dev_class->on_rx(s->dev, buf, n);
    else
        fwup_host_rx(s->host, FWUP_UNIT_BYTES, buf, n, NULL);
}

enum ev {
    EV_NONE,
    EV_H2D,
    EV_D2H,
    EV_DEV_TIMER,
    EV_HOST_WAKE,
    EV_COMPLETE,
    EV_CANCEL,
    EV_HOST_START,
};

static enum ev next_event(struct sim *s, uint64_t *at)
{
    enum ev e = EV_NONE;
    uint64_t t = UINT64_MAX;
#define CAND(cond, when, kind)                                                                     \
    do {                                                                                           \
        if ((cond) && (when) < t) {                                                                \
            t = (when);                                                                            \
            e = (kind);                                                                            \
        }                                                                                          \
    } while (0)
    /* Order breaks ties: data before timeouts, as a real loop would see
     * readable fds before an expired timer on the same iteration. */
    CAND(!fifo_empty(&s->h2d), s->h2d.v[s->h2d.head].t, EV_H2D);
    CAND(!s->eng_started, s->eng_start_at, EV_HOST_START);
    CAND(s->dev_timer_armed && !s->eng_started, s->dev_timer_at, EV_DEV_TIMER);
    if (s->eng_started && !s->eng_finished) {
        /* the host learns its write completed before it reads the answer */
        CAND(s->comp_head < s->comp_len, s->comp[s->comp_head].t, EV_COMPLETE);
        CAND(!fifo_empty(&s->d2h), s->d2h.v[s->d2h.head].t, EV_D2H);
        CAND(s->dev_timer_armed, s->dev_timer_at, EV_DEV_TIMER);
        CAND(s->host_wake_armed, s->host_wake_at, EV_HOST_WAKE);
        CAND(s->cancel_pending, s->cancel_at, EV_CANCEL);
    }
#undef CAND
    *at = t;
    return e;
}

int simlink_run(const struct simlink_config *cfg, struct simlink_result *out)
{
    char err[200] = "";
    struct sim s;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    out->result = FWUP_RESULT_TRANSIENT;
    memset(&s, 0, sizeof(s));
    s.cfg = cfg;
    s.out = out;
    s.rng = cfg->seed ? cfg->seed : 0x5eed;
    s.fault_dirs = cfg->fault_dirs ? cfg->fault_dirs : SIMLINK_BOTH;
    if (cfg->baud)
        s.byte_ns =
            (uint64_t)(cfg->bits_per_byte ? cfg->bits_per_byte : 10) * 1000000000ull / cfg->baud;
    uint64_t limit = (cfg->max_virtual_ms ? cfg->max_virtual_ms : 600000) * NS_PER_MS;

    /* The link the engine is told about: the test's own, or this line. */
    s.params = *cfg->params;
    s.params.struct_size = sizeof(s.params);
    if (!s.params.link) {
        uint32_t bits = cfg->bits_per_byte ? cfg->bits_per_byte : 10;
        s.serial = (struct fwup_serial_info){
            sizeof(s.serial), cfg->baud, 8, bits > 10 ? 'E' : 'N', 1, FWUP_FLOW_CONTROL_NONE};
        s.link = (struct fwup_link_info){.struct_size = sizeof(s.link),
                                         .kind = FWUP_LINK_SERIAL,
                                         .name = "simlink",
                                         .serial = &s.serial};
        s.params.link = &s.link;
    }
    if (cfg->proto->check_image && cfg->proto->check_image(&s.params, err, sizeof(err)) < 0) {
        snprintf(out->message, sizeof(out->message), "check_image: %s", err);
        out->result = FWUP_RESULT_PERMANENT;
        return -1;
    }
    struct fwup_host_config hc = {.proto = cfg->proto,
                                  .params = &s.params,
                                  .link = s.params.link,
                                  .backend = &host_backend,
                                  .ctx = &s};
    s.host = fwup_host_new(&hc, err, sizeof(err));
    if (!s.host) {
        snprintf(out->message, sizeof(out->message), "create: %s", err);
        out->result = FWUP_RESULT_PERMANENT;
        return -1;
    }
    s.dev_io.send = d_send;
    s.dev_io.timer = d_timer;
    s.dev = cfg->dev_class->create(cfg->dev_options, &s.dev_io, &s, err, sizeof(err));
    if (!s.dev) {
        snprintf(out->message, sizeof(out->message), "device: %s", err);
        fwup_host_free(s.host);
        free(s.h2d.v);
        free(s.comp);
        return -1;
    }
    if (cfg->cancel_at_ms) {
        s.cancel_pending = 1;
        s.cancel_at = (uint64_t)cfg->cancel_at_ms * NS_PER_MS;
    }

    if (cfg->host_start_ms) {
        /* A device that has been waiting: it starts alone. */
        s.eng_start_at = (uint64_t)cfg->host_start_ms * NS_PER_MS;
        cfg->dev_class->start(s.dev);
    } else {
        /* The engine must be listening before the device's first start byte. */
        s.eng_started = 1;
        fwup_host_start(s.host);
        if (!s.eng_finished)
            cfg->dev_class->start(s.dev);
    }

    for (;;) {
        uint64_t at;
        enum ev e = next_event(&s, &at);
        if (e == EV_NONE) {
            if (!s.eng_finished)
                snprintf(out->message, sizeof(out->message),
                         "simlink: deadlock, no pending event at %.3f ms",
                         (double)s.now / NS_PER_MS);
            break;
        }
        if (at > limit) {
            if (!s.eng_finished)
                snprintf(out->message, sizeof(out->message), "simlink: virtual time limit reached");
            break;
        }
        if (s.oom) {
            snprintf(out->message, sizeof(out->message), "simlink: out of memory");
            rc = -1;
            break;
        }
        if (at > s.now) /* a backlog held until the engine started is due at once */
            s.now = at;
        switch (e) {
        case EV_H2D:
            deliver(&s, &s.h2d, 1);
            break;
        case EV_D2H:
            deliver(&s, &s.d2h, 0);
            break;
        case EV_DEV_TIMER:
            s.dev_timer_armed = 0;
            cfg->dev_class->on_timer(s.dev);
            break;
        case EV_HOST_WAKE:
            s.host_wake_armed = 0;
            fwup_host_wake(s.host);
            break;
        case EV_COMPLETE:
            fwup_host_complete(s.host, s.comp[s.comp_head++].id, FWUP_STATUS_OK, NULL, 0);
            break;
        case EV_CANCEL:
            s.cancel_pending = 0;
            fwup_host_cancel(s.host);
            break;
        case EV_HOST_START:
            /* The backlog (bytes that arrived by now) follows as one EV_D2H. */
            s.eng_started = 1;
            fwup_host_start(s.host);
            break;
        case EV_NONE:
            break;
        }
    }
    if (!s.eng_finished)
        out->virtual_us = s.now / NS_PER_US;
    else
        events_after_finish(&s);
    out->protocol_errors = fwup_host_protocol_errors(s.host);

    out->dev_state = cfg->dev_class->state(s.dev);
    out->dev_completions = cfg->dev_class->completions(s.dev);
    size_t clen = 0;
    const uint8_t *c = cfg->dev_class->content(s.dev, &clen);
    if (c && clen) {
        out->dev_content = malloc(clen);
        if (out->dev_content) {
            memcpy(out->dev_content, c, clen);
            out->dev_content_len = clen;
        }
    }
    cfg->dev_class->destroy(s.dev);
    fwup_host_free(s.host);
    free(s.h2d.v);
    free(s.d2h.v);
    free(s.comp);
    return rc;
}

void simlink_result_free(struct simlink_result *r)
{
    if (!r)
        return;
    free(r->dev_content);
    r->dev_content = NULL;
    r->dev_content_len = 0;
}

void simlink_record_h2d(void *ctx, enum simlink_dir dir, uint64_t t_us, const uint8_t *data,
                        size_t len)
{
    struct simlink_h2d *w = ctx;
    (void)t_us;
    if (dir != SIMLINK_H2D)
        return;
    if (w->len + len > w->cap) {
        w->cap = (w->len + len) * 2;
        w->data = realloc(w->data, w->cap);
        if (!w->data)
            abort(); /* a test's recorder: nothing sensible to go on with */
    }
    memcpy(w->data + w->len, data, len);
    w->len += len;
}

void simlink_match_log(void *ctx, enum fwup_log_prio prio, const char *msg)
{
    struct simlink_log_match *l = ctx;
    (void)prio;
    if (strncmp(msg, l->prefix, strlen(l->prefix)) == 0) {
        snprintf(l->line, sizeof(l->line), "%s", msg);
        l->n++;
    }
}
