/*
 * Virtual-clock link between an engine and a simulated device. See simlink.h.
 *
 * Arrival times within one direction never decrease (bytes are serialised
 * in order and turnaround is constant), so each direction is a plain FIFO
 * and the next event is the minimum of six candidates: no priority queue.
 * Internally time is in nanoseconds so that 115200 baud does not round.
 */
#include "simlink.h"

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

struct sim {
    const struct simlink_config *cfg;
    struct simlink_result *out;
    uint64_t now;
    uint64_t rng;
    uint64_t byte_ns;
    unsigned fault_dirs;

    struct fwup_engine *eng;
    int eng_finished;

    struct simdev *dev;
    struct simdev_io dev_io;

    struct fifo h2d, d2h;
    uint64_t h2d_free, d2h_free; /* when each line is next idle */

    int host_timer_armed, dev_timer_armed, tx_done_pending, cancel_pending;
    uint64_t host_timer_at, dev_timer_at, tx_done_at, cancel_at;
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

/* ---- host side (what the engine sees) ---- */

static int misuse(struct sim *s)
{
    if (s->eng_finished) {
        s->out->protocol_errors++;
        return 1;
    }
    return 0;
}

static int h_send(void *host, const uint8_t *data, size_t len)
{
    struct sim *s = host;
    if (misuse(s))
        return -1;
    line_send(s, SIMLINK_H2D, data, len, 0);
    s->tx_done_pending = 1;
    s->tx_done_at = s->h2d_free;
    uint64_t buffered = (uint64_t)s->cfg->host_tx_buffer * s->byte_ns;
    if (s->tx_done_at > s->now)
        s->tx_done_at -= buffered < s->tx_done_at - s->now ? buffered : s->tx_done_at - s->now;
    return 0;
}

static void h_timer(void *host, uint32_t ms)
{
    struct sim *s = host;
    if (misuse(s))
        return;
    s->host_timer_armed = ms != 0;
    s->host_timer_at = s->now + (uint64_t)ms * NS_PER_MS;
}

static void h_flush_rx(void *host)
{
    struct sim *s = host;
    if (misuse(s))
        return;
    /* Only what has already arrived: bytes still on the wire are not ours to drop. */
    while (!fifo_empty(&s->d2h) && s->d2h.v[s->d2h.head].t <= s->now)
        s->d2h.head++;
}

static void h_progress(void *host, const char *phase, uint64_t done, uint64_t total)
{
    struct sim *s = host;
    if (misuse(s))
        return;
    struct simlink_result *o = s->out;
    if (done > total ||
        (o->progress_calls && strcmp(o->last_phase, phase) == 0 && done < o->last_done))
        o->protocol_errors++;
    o->progress_calls++;
    if (s->cfg->on_progress)
        s->cfg->on_progress(s->cfg->progress_ctx, phase, done, total);
    snprintf(o->last_phase, sizeof(o->last_phase), "%s", phase ? phase : "");
    o->last_done = done;
}

static void h_log(void *host, enum fwup_log_prio prio, const char *msg)
{
    struct sim *s = host;
    if (misuse(s))
        return;
    if (s->cfg->verbose)
        fprintf(stderr, "[%10.3f ms] <%d> %s\n", (double)s->now / NS_PER_MS, (int)prio, msg);
    if (s->cfg->on_log)
        s->cfg->on_log(s->cfg->log_ctx, prio, msg);
}

static void h_finish(void *host, enum fwup_result result, const char *msg)
{
    struct sim *s = host;
    if (misuse(s))
        return;
    s->eng_finished = 1;
    s->out->engine_finished = 1;
    s->out->result = result;
    snprintf(s->out->message, sizeof(s->out->message), "%s", msg ? msg : "");
    s->out->virtual_us = s->now / NS_PER_US;
    s->host_timer_armed = 0;
    s->tx_done_pending = 0;
    s->cancel_pending = 0;
}

/* What a real host may deliver after finish(), from events it had already
 * queued: each must be ignored (any host call counts in protocol_errors). */
static void events_after_finish(struct sim *s)
{
    static const uint8_t byte = 0x06; /* XMODEM's ACK */
    const struct fwup_protocol *p = s->cfg->proto;
    p->on_cancel(s->eng);
    p->on_timer(s->eng);
    if (p->on_tx_done)
        p->on_tx_done(s->eng);
    p->on_rx(s->eng, &byte, 1);
}

static const struct fwup_host_ops host_ops = {
    .send = h_send,
    .timer = h_timer,
    .flush_rx = h_flush_rx,
    .progress = h_progress,
    .log = h_log,
    .finish = h_finish,
};

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
        s->cfg->proto->on_rx(s->eng, buf, n);
}

enum ev {
    EV_NONE,
    EV_H2D,
    EV_D2H,
    EV_DEV_TIMER,
    EV_HOST_TIMER,
    EV_TX_DONE,
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
        CAND(s->tx_done_pending, s->tx_done_at, EV_TX_DONE);
        CAND(!fifo_empty(&s->d2h), s->d2h.v[s->d2h.head].t, EV_D2H);
        CAND(s->dev_timer_armed, s->dev_timer_at, EV_DEV_TIMER);
        CAND(s->host_timer_armed, s->host_timer_at, EV_HOST_TIMER);
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

    if (cfg->proto->check_image && cfg->proto->check_image(cfg->params, err, sizeof(err)) < 0) {
        snprintf(out->message, sizeof(out->message), "check_image: %s", err);
        out->result = FWUP_RESULT_PERMANENT;
        return -1;
    }
    s.eng = cfg->proto->create(cfg->params, &host_ops, &s, err, sizeof(err));
    if (!s.eng) {
        snprintf(out->message, sizeof(out->message), "create: %s", err);
        out->result = FWUP_RESULT_PERMANENT;
        return -1;
    }
    s.dev_io.send = d_send;
    s.dev_io.timer = d_timer;
    s.dev = cfg->dev_class->create(cfg->dev_options, &s.dev_io, &s, err, sizeof(err));
    if (!s.dev) {
        snprintf(out->message, sizeof(out->message), "device: %s", err);
        cfg->proto->destroy(s.eng);
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
        cfg->proto->on_start(s.eng);
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
        case EV_HOST_TIMER:
            s.host_timer_armed = 0;
            cfg->proto->on_timer(s.eng);
            break;
        case EV_TX_DONE:
            s.tx_done_pending = 0;
            if (cfg->proto->on_tx_done)
                cfg->proto->on_tx_done(s.eng);
            break;
        case EV_CANCEL:
            s.cancel_pending = 0;
            cfg->proto->on_cancel(s.eng);
            break;
        case EV_HOST_START:
            /* The backlog (bytes that arrived by now) follows as one EV_D2H. */
            s.eng_started = 1;
            cfg->proto->on_start(s.eng);
            break;
        case EV_NONE:
            break;
        }
    }
    if (!s.eng_finished)
        out->virtual_us = s.now / NS_PER_US;
    else
        events_after_finish(&s);

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
    cfg->proto->destroy(s.eng);
    free(s.h2d.v);
    free(s.d2h.v);
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
