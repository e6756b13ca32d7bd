/* The one host of the plugin ABI. See host.h. */
#include "host.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* An event waiting for delivery. Data is borrowed when the event is
 * delivered before the call that posted it returns, else copied into buf. */
struct qev {
    struct qev *next;
    uint32_t type, unit_kind, tag, status, timer_id, bus_state;
    const uint8_t *data;
    size_t len;
    const struct fwup_can_frame *frame;
    const struct fwup_link_info *link;
    struct fwup_can_frame frame_copy;
    uint8_t buf[];
};

/* A unit or control whose completion the engine gets. */
struct pending {
    uint32_t id, tag;
    uint64_t deadline; /* FWUP_HOST_NEVER: the backend decides */
};

struct timer {
    uint64_t due; /* FWUP_HOST_NEVER: disarmed */
    uint64_t seq; /* arming order: timers due at once fire in it */
};

struct fwup_host {
    const struct fwup_protocol *proto;
    struct fwup_engine *engine;
    struct fwup_job_params params;
    const struct fwup_link_info *link;
    const struct fwup_host_backend *be;
    void *ctx;
    uint32_t grace_ms, unit_timeout_ms;

    enum fwup_host_state state;
    int started, cancelling, link_down;
    int depth; /* fwup_host_* calls and engine calls in progress */
    int dead;  /* fwup_host_free was called: no more backend calls */
    struct qev *qhead, **qtail;

    struct timer timers[FWUP_MAX_TIMERS];
    uint64_t timer_seq;
    uint64_t grace_at;
    uint64_t wake_requested;

    struct pending *pend;
    size_t npend, cappend;
    uint32_t next_id;
    uint64_t line_free_us; /* serial: when the bytes submitted so far have left */

    unsigned protocol_errors;
    int progress_seen;
    char last_phase[32];
    uint64_t last_done;
};

/* ---- helpers -------------------------------------------------------------- */

static uint64_t now(const struct fwup_host *h)
{
    return h->be->now_us(h->ctx);
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
logf_(struct fwup_host *h, enum fwup_log_prio prio, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    if (h->dead || !h->be->log)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    h->be->log(h->ctx, prio, msg);
}

#define misuse(h, ...)                                                                             \
    do {                                                                                           \
        (h)->protocol_errors++;                                                                    \
        logf_((h), FWUP_LOG_ERR, "protocol error: " __VA_ARGS__);                                  \
    } while (0)

static int over(const struct fwup_host *h)
{
    return h->state == FWUP_HOST_FINISHED || h->state == FWUP_HOST_ENDED;
}

uint32_t fwup_host_unit_kind(uint32_t link_kind)
{
    switch (link_kind) {
    case FWUP_LINK_SERIAL:
        return FWUP_UNIT_BYTES;
    case FWUP_LINK_CAN:
        return FWUP_UNIT_CAN;
    case FWUP_LINK_ISOTP:
        return FWUP_UNIT_PDU;
    case FWUP_LINK_USB:
        return FWUP_UNIT_USB_CONTROL;
    default:
        return 0;
    }
}

static void free_queue(struct fwup_host *h)
{
    while (h->qhead) {
        struct qev *q = h->qhead;
        h->qhead = q->next;
        free(q);
    }
    h->qtail = &h->qhead;
}

/* Queues an event; `keep` copies its data (the caller's may not outlive the
 * call). At the head for START, which precedes whatever came before it. */
static void post(struct fwup_host *h, const struct qev *ev, int keep, int at_head)
{
    size_t extra = keep && ev->data ? ev->len : 0;
    struct qev *q = malloc(sizeof(*q) + extra);
    if (!q) {
        fwup_host_abort(h, FWUP_RESULT_TRANSIENT, "out of memory");
        return;
    }
    *q = *ev;
    q->next = NULL;
    if (extra) {
        memcpy(q->buf, ev->data, extra);
        q->data = q->buf;
    }
    if (ev->frame) {
        q->frame_copy = *ev->frame;
        q->frame = &q->frame_copy;
    }
    if (at_head) {
        q->next = h->qhead;
        if (!h->qhead)
            h->qtail = &q->next;
        h->qhead = q;
    } else {
        *h->qtail = q;
        h->qtail = &q->next;
    }
}

static void deliver(struct fwup_host *h, const struct qev *q)
{
    struct fwup_event ev = {
        .struct_size = sizeof(ev),
        .type = q->type,
        .time_us = now(h),
        .unit_kind = q->unit_kind,
        .data = q->data,
        .len = q->len,
        .frame = q->frame,
        .tag = q->tag,
        .status = q->status,
        .timer_id = q->timer_id,
        .link = q->link,
        .bus_state = q->bus_state,
    };
    if (q->type == FWUP_EV_START)
        h->started = 1;
    h->proto->on_event(h->engine, &ev);
}

/* Delivers queued events in order until none is left or the job is over;
 * only events that came before START wait for it. */
static void drain(struct fwup_host *h)
{
    while (h->qhead && !over(h) && !h->dead) {
        struct qev *q = h->qhead;
        if (!h->started && q->type != FWUP_EV_START)
            return;
        h->qhead = q->next;
        if (!h->qhead)
            h->qtail = &h->qhead;
        deliver(h, q);
        free(q);
    }
    if (over(h))
        free_queue(h);
}

static uint64_t next_due(const struct fwup_host *h)
{
    uint64_t t = FWUP_HOST_NEVER;
    if (over(h))
        return t;
    for (size_t i = 0; i < FWUP_MAX_TIMERS; i++)
        if (h->timers[i].due < t)
            t = h->timers[i].due;
    for (size_t i = 0; i < h->npend; i++)
        if (h->pend[i].deadline < t)
            t = h->pend[i].deadline;
    if (h->cancelling && h->grace_at < t)
        t = h->grace_at;
    return t;
}

static void update_wake(struct fwup_host *h)
{
    uint64_t t = next_due(h);
    if (t != h->wake_requested && !h->dead) {
        h->wake_requested = t;
        h->be->wake_at(h->ctx, t);
    }
}

static void destroy(struct fwup_host *h)
{
    if (h->engine)
        h->proto->destroy(h->engine);
    free_queue(h);
    free(h->pend);
    free(h);
}

/* Every entry point (and every call into the engine) runs between enter and
 * leave, so that a backend or engine calling back in only queues, and the
 * host is freed only once the outermost call is done. */
static void enter(struct fwup_host *h)
{
    h->depth++;
}

static void leave(struct fwup_host *h)
{
    if (h->depth == 1 && !h->dead) {
        drain(h);
        update_wake(h);
    }
    if (--h->depth == 0 && h->dead)
        destroy(h);
}

/* Posts an event from an entry point: borrowed data if it is delivered
 * before the entry point returns (outermost call, started), else copied. */
static void post_in(struct fwup_host *h, const struct qev *ev)
{
    post(h, ev, h->depth > 1 || !h->started, 0);
}

static void end_job(struct fwup_host *h, enum fwup_host_state state, enum fwup_result result,
                    const char *msg)
{
    /* A cancel wins over whatever failure the abort provoked. */
    if (h->cancelling && result != FWUP_RESULT_OK)
        result = FWUP_RESULT_CANCELLED;
    h->state = state;
    for (size_t i = 0; i < FWUP_MAX_TIMERS; i++)
        h->timers[i].due = FWUP_HOST_NEVER;
    h->npend = 0;
    h->cancelling = 0;
    if (!h->dead)
        h->be->finish(h->ctx, result, msg ? msg : "");
}

static ssize_t find_pending(const struct fwup_host *h, uint32_t id)
{
    for (size_t i = 0; i < h->npend; i++)
        if (h->pend[i].id == id)
            return (ssize_t)i;
    return -1;
}

static void drop_pending(struct fwup_host *h, size_t i)
{
    memmove(&h->pend[i], &h->pend[i + 1], (h->npend - i - 1) * sizeof(*h->pend));
    h->npend--;
}

static int add_pending(struct fwup_host *h, uint32_t id, uint32_t tag, uint64_t deadline)
{
    if (h->npend == h->cappend) {
        size_t cap = h->cappend ? h->cappend * 2 : 8;
        struct pending *p = realloc(h->pend, cap * sizeof(*p));
        if (!p)
            return -1;
        h->pend = p;
        h->cappend = cap;
    }
    h->pend[h->npend++] = (struct pending){id, tag, deadline};
    return 0;
}

static uint32_t new_id(struct fwup_host *h)
{
    if (++h->next_id == 0) /* 0 is never an id: backends may complete untracked units with it */
        h->next_id = 1;
    return h->next_id;
}

/* ---- the engine's host ops ------------------------------------------------ */

/* Calls an engine makes after finish() are misuse; after the host ended the
 * job they are the engine finishing its current event, and ignored. */
static int refused(struct fwup_host *h, const char *what)
{
    if (h->dead || h->state == FWUP_HOST_ENDED)
        return 1;
    if (h->state == FWUP_HOST_FINISHED) {
        misuse(h, "%s after finish", what);
        return 1;
    }
    return 0;
}

/* Microseconds `len` characters spend on the link, 0 if its speed is unknown. */
static uint64_t line_us(const struct fwup_host *h, size_t len)
{
    const struct fwup_serial_info *s = h->link ? h->link->serial : NULL;
    if (!s || !s->baud)
        return 0;
    uint64_t bits = 1u + s->data_bits + (s->parity != 'N') + s->stop_bits;
    return ((uint64_t)len * bits * 1000000u + s->baud - 1) / s->baud;
}

static const char *unit_invalid(const struct fwup_host *h, const struct fwup_unit *u, char *why,
                                size_t whylen)
{
    static const char *const kinds[] = {"?", "bytes", "CAN", "PDU", "USB control"};
    static const char *const links[] = {"no", "serial", "CAN", "ISO-TP", "USB"};
    uint32_t lk = h->link ? h->link->kind : FWUP_LINK_NONE;
    uint32_t want = fwup_host_unit_kind(lk);
    if (!FWUP_HAS_FIELD(u, struct fwup_unit, len))
        return "unit structure too small";
    if (u->kind != want) {
        snprintf(why, whylen, "a %s unit on a %s link", u->kind < 5 ? kinds[u->kind] : "unknown",
                 lk < 5 ? links[lk] : "unknown");
        return why;
    }
    switch (u->kind) {
    case FWUP_UNIT_BYTES:
        return u->len && !u->data ? "bytes without data" : NULL;
    case FWUP_UNIT_PDU: {
        const struct fwup_isotp_info *i = h->link->isotp;
        if (!u->len || !u->data)
            return "empty PDU";
        if (i && i->max_pdu && u->len > i->max_pdu) {
            snprintf(why, whylen, "PDU of %zu bytes, the link moves at most %u", u->len,
                     i->max_pdu);
            return why;
        }
        return NULL;
    }
    case FWUP_UNIT_CAN: {
        const char *bad;
        if (!FWUP_HAS_FIELD(u, struct fwup_unit, frame) || !u->frame)
            return "CAN unit without a frame";
        if ((bad = fwup_can_frame_invalid(u->frame)) != NULL) {
            snprintf(why, whylen, "invalid CAN frame: %s", bad);
            return why;
        }
        if ((u->frame->flags & FWUP_CAN_FD) && h->link->can && !h->link->can->fd)
            return "CAN FD frame on a classic CAN link";
        return NULL;
    }
    case FWUP_UNIT_USB_CONTROL:
        if (!FWUP_HAS_FIELD(u, struct fwup_unit, setup))
            return "USB unit without a setup packet";
        if (!(u->setup.bmRequestType & FWUP_USB_DIR_IN)) {
            if (u->len != u->setup.wLength) {
                snprintf(why, whylen, "USB OUT data of %zu bytes with wLength %u", u->len,
                         u->setup.wLength);
                return why;
            }
            if (u->len && !u->data)
                return "USB OUT without data";
        }
        return NULL;
    }
    return "unknown unit kind";
}

static int op_submit(void *host, const struct fwup_unit *unit)
{
    struct fwup_host *h = host;
    char why[128];
    const char *bad;
    if (refused(h, "submit"))
        return -1;
    if (!unit) {
        misuse(h, "submit without a unit");
        return -1;
    }
    if ((bad = unit_invalid(h, unit, why, sizeof(why))) != NULL) {
        misuse(h, "unit refused: %s", bad);
        return -1;
    }
    if (h->link_down)
        return -1;

    struct fwup_unit u = {0};
    memcpy(&u, unit, unit->struct_size < sizeof(u) ? unit->struct_size : sizeof(u));
    u.struct_size = sizeof(u);
    u.tag = new_id(h);
    if (u.flags & FWUP_SUBMIT_ON_WIRE)
        u.flags |= FWUP_SUBMIT_NOTIFY;

    uint64_t t = now(h);
    if (u.kind == FWUP_UNIT_BYTES) {
        uint64_t start = h->line_free_us > t ? h->line_free_us : t;
        h->line_free_us = start + line_us(h, u.len);
    }
    int notify = (u.flags & FWUP_SUBMIT_NOTIFY) || u.kind == FWUP_UNIT_USB_CONTROL;
    if (notify) {
        uint64_t deadline = u.timeout_ms ? t + u.timeout_ms * 1000ull
                                         : (u.kind == FWUP_UNIT_BYTES ? h->line_free_us : t) +
                                               h->unit_timeout_ms * 1000ull;
        if (add_pending(h, u.tag, unit->tag, deadline) < 0) {
            logf_(h, FWUP_LOG_ERR, "out of memory");
            return -1;
        }
    }
    enter(h);
    int rc = h->be->submit(h->ctx, &u);
    if (rc < 0 && notify) {
        ssize_t i = find_pending(h, u.tag);
        if (i >= 0)
            drop_pending(h, (size_t)i);
    }
    leave(h);
    return rc < 0 ? -1 : 0;
}

static int op_supported(uint32_t op, uint32_t link_kind)
{
    switch (op) {
    case FWUP_CTL_BREAK:
        return link_kind == FWUP_LINK_SERIAL;
    case FWUP_CTL_SET_FILTERS:
        return link_kind == FWUP_LINK_CAN || link_kind == FWUP_LINK_ISOTP;
    case FWUP_CTL_USB_SET_ALT:
    case FWUP_CTL_USB_RESET:
        return link_kind == FWUP_LINK_USB;
    default:
        return 1; /* the backend knows */
    }
}

static int op_control(void *host, const struct fwup_control *ctl)
{
    struct fwup_host *h = host;
    if (refused(h, "control"))
        return -1;
    if (!ctl || !FWUP_HAS_FIELD(ctl, struct fwup_control, op)) {
        misuse(h, "control without an operation");
        return -1;
    }
    uint32_t lk = h->link ? h->link->kind : FWUP_LINK_NONE;
    if (!h->be->control || !op_supported(ctl->op, lk)) {
        logf_(h, FWUP_LOG_WARNING, "control operation %u is not supported on this link", ctl->op);
        return -1;
    }
    if (h->link_down && ctl->op != FWUP_CTL_EXPECT_REATTACH)
        return -1;
    struct fwup_control c = {0};
    memcpy(&c, ctl, ctl->struct_size < sizeof(c) ? ctl->struct_size : sizeof(c));
    c.struct_size = sizeof(c);
    c.tag = new_id(h);
    enter(h);
    int rc = h->be->control(h->ctx, &c);
    if (rc == 1 && add_pending(h, c.tag, ctl->tag, FWUP_HOST_NEVER) < 0) {
        logf_(h, FWUP_LOG_ERR, "out of memory");
        rc = -1;
    }
    leave(h);
    return rc;
}

static void op_timer(void *host, unsigned id, uint32_t ms)
{
    struct fwup_host *h = host;
    if (refused(h, "timer"))
        return;
    if (id >= FWUP_MAX_TIMERS) {
        misuse(h, "timer id %u out of range", id);
        return;
    }
    h->timers[id].due = ms ? now(h) + ms * 1000ull : FWUP_HOST_NEVER;
    h->timers[id].seq = ++h->timer_seq;
    if (h->depth == 0)
        update_wake(h);
}

static void op_progress(void *host, const char *phase, uint64_t done, uint64_t total)
{
    struct fwup_host *h = host;
    if (refused(h, "progress"))
        return;
    if (!phase) {
        misuse(h, "progress without a phase");
        return;
    }
    if (done > total)
        misuse(h, "progress %llu beyond total %llu", (unsigned long long)done,
               (unsigned long long)total);
    else if (h->progress_seen && strncmp(h->last_phase, phase, sizeof(h->last_phase)) == 0 &&
             done < h->last_done)
        misuse(h, "progress going back from %llu to %llu in phase '%s'",
               (unsigned long long)h->last_done, (unsigned long long)done, phase);
    h->progress_seen = 1;
    snprintf(h->last_phase, sizeof(h->last_phase), "%s", phase);
    h->last_done = done;
    if (h->be->progress)
        h->be->progress(h->ctx, phase, done, total);
}

static void op_log(void *host, enum fwup_log_prio prio, const char *msg)
{
    struct fwup_host *h = host;
    if (refused(h, "log") || !msg)
        return;
    if (h->be->log)
        h->be->log(h->ctx, prio, msg);
}

static void op_finish(void *host, enum fwup_result result, const char *msg)
{
    struct fwup_host *h = host;
    if (refused(h, "a second finish"))
        return;
    enter(h);
    end_job(h, FWUP_HOST_FINISHED, result, msg);
    leave(h);
}

static const struct fwup_host_ops host_ops = {
    .struct_size = sizeof(struct fwup_host_ops),
    .submit = op_submit,
    .control = op_control,
    .timer = op_timer,
    .progress = op_progress,
    .log = op_log,
    .finish = op_finish,
};

/* ---- life cycle ----------------------------------------------------------- */

struct fwup_host *fwup_host_new(const struct fwup_host_config *cfg, char *err, size_t errlen)
{
    struct fwup_host *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->proto = cfg->proto;
    h->be = cfg->backend;
    h->ctx = cfg->ctx;
    h->link = cfg->link;
    h->grace_ms = cfg->cancel_grace_ms ? cfg->cancel_grace_ms : FWUP_HOST_CANCEL_GRACE_MS;
    h->unit_timeout_ms = cfg->unit_timeout_ms ? cfg->unit_timeout_ms : FWUP_HOST_UNIT_TIMEOUT_MS;
    h->qtail = &h->qhead;
    h->wake_requested = FWUP_HOST_NEVER;
    for (size_t i = 0; i < FWUP_MAX_TIMERS; i++)
        h->timers[i].due = FWUP_HOST_NEVER;
    size_t n = cfg->params->struct_size && cfg->params->struct_size < sizeof(h->params)
                   ? cfg->params->struct_size
                   : sizeof(h->params);
    memcpy(&h->params, cfg->params, n);
    h->params.struct_size = sizeof(h->params);
    h->params.link = cfg->link;

    enter(h);
    h->engine = h->proto->create(&h->params, &host_ops, h, err, errlen);
    if (!h->engine) {
        h->dead = 1;
        leave(h);
        return NULL;
    }
    leave(h);
    return h;
}

void fwup_host_free(struct fwup_host *h)
{
    if (!h || h->dead)
        return;
    h->dead = 1;
    if (h->depth == 0)
        destroy(h);
}

void fwup_host_start(struct fwup_host *h)
{
    if (h->dead || h->started || over(h))
        return;
    enter(h);
    h->state = FWUP_HOST_RUNNING;
    post(h, &(struct qev){.type = FWUP_EV_START}, 0, 1);
    leave(h);
}

void fwup_host_wake(struct fwup_host *h)
{
    if (h->dead)
        return;
    enter(h);
    uint64_t t = now(h);
    /* One at a time, so that an event can disarm or settle the next. Ties:
     * unit timeouts (oldest first), timers (in arming order), grace. */
    while (!over(h) && !h->dead) {
        ssize_t unit = -1;
        int timer = -1;
        uint64_t unit_due = FWUP_HOST_NEVER, timer_due = FWUP_HOST_NEVER;
        for (size_t i = 0; i < h->npend; i++)
            if (h->pend[i].deadline <= t && h->pend[i].deadline < unit_due) {
                unit_due = h->pend[i].deadline;
                unit = (ssize_t)i;
            }
        for (int i = 0; i < FWUP_MAX_TIMERS; i++) {
            const struct timer *tm = &h->timers[i];
            if (tm->due <= t &&
                (tm->due < timer_due || (tm->due == timer_due && tm->seq < h->timers[timer].seq))) {
                timer_due = tm->due;
                timer = i;
            }
        }
        if (timer >= 0 && unit >= 0 && timer_due < unit_due)
            unit = -1;
        if (unit >= 0) {
            uint32_t tag = h->pend[unit].tag;
            drop_pending(h, (size_t)unit);
            post(h,
                 &(struct qev){.type = FWUP_EV_COMPLETE, .tag = tag, .status = FWUP_STATUS_TIMEOUT},
                 0, 0);
        } else if (timer >= 0) {
            h->timers[timer].due = FWUP_HOST_NEVER;
            post(h, &(struct qev){.type = FWUP_EV_TIMER, .timer_id = (uint32_t)timer}, 0, 0);
        } else if (h->cancelling && h->grace_at <= t) {
            end_job(h, FWUP_HOST_ENDED, FWUP_RESULT_CANCELLED,
                    "cancelled (the protocol did not confirm the abort)");
        } else {
            break;
        }
        drain(h);
    }
    h->wake_requested = FWUP_HOST_NEVER; /* the backend's request was used up */
    leave(h);
}

void fwup_host_rx(struct fwup_host *h, uint32_t unit_kind, const uint8_t *data, size_t len,
                  const struct fwup_can_frame *frame)
{
    if (h->dead || !h->started || over(h))
        return; /* before START: noise from the entry sequence, not the engine's */
    enter(h);
    post_in(
        h,
        &(struct qev){
            .type = FWUP_EV_RX, .unit_kind = unit_kind, .data = data, .len = len, .frame = frame});
    leave(h);
}

void fwup_host_complete(struct fwup_host *h, uint32_t id, enum fwup_status status,
                        const uint8_t *data, size_t len)
{
    ssize_t i;
    if (h->dead || over(h) || (i = find_pending(h, id)) < 0)
        return;
    enter(h);
    uint32_t tag = h->pend[i].tag;
    drop_pending(h, (size_t)i);
    post_in(h,
            &(struct qev){
                .type = FWUP_EV_COMPLETE, .tag = tag, .status = status, .data = data, .len = len});
    leave(h);
}

void fwup_host_link_down(struct fwup_host *h, const char *why)
{
    if (h->dead || over(h))
        return;
    enter(h);
    logf_(h, FWUP_LOG_INFO, "link down: %s", why ? why : "gone");
    h->link_down = 1;
    for (size_t i = 0; i < h->npend; i++)
        post_in(h, &(struct qev){.type = FWUP_EV_COMPLETE,
                                 .tag = h->pend[i].tag,
                                 .status = FWUP_STATUS_LINK_GONE});
    h->npend = 0;
    h->line_free_us = 0;
    post_in(h, &(struct qev){.type = FWUP_EV_LINK_DOWN});
    leave(h);
}

void fwup_host_link_up(struct fwup_host *h, const struct fwup_link_info *info)
{
    if (h->dead || over(h))
        return;
    enter(h);
    h->link = info;
    h->link_down = 0;
    post_in(h, &(struct qev){.type = FWUP_EV_LINK_UP, .link = info});
    leave(h);
}

void fwup_host_bus_state(struct fwup_host *h, enum fwup_bus_state state)
{
    if (h->dead || over(h))
        return;
    enter(h);
    post_in(h, &(struct qev){.type = FWUP_EV_BUS_STATE, .bus_state = state});
    leave(h);
}

void fwup_host_cancel(struct fwup_host *h)
{
    if (h->dead || over(h) || h->cancelling)
        return;
    enter(h);
    if (!h->started) {
        end_job(h, FWUP_HOST_ENDED, FWUP_RESULT_CANCELLED, "cancelled before the protocol started");
    } else {
        h->cancelling = 1;
        h->grace_at = now(h) + h->grace_ms * 1000ull;
        post_in(h, &(struct qev){.type = FWUP_EV_CANCEL});
    }
    leave(h);
}

void fwup_host_abort(struct fwup_host *h, enum fwup_result result, const char *msg)
{
    if (h->dead || over(h))
        return;
    enter(h);
    end_job(h, FWUP_HOST_ENDED, result, msg);
    leave(h);
}

enum fwup_host_state fwup_host_state(const struct fwup_host *h)
{
    return h->state;
}

unsigned fwup_host_protocol_errors(const struct fwup_host *h)
{
    return h->protocol_errors;
}

size_t fwup_host_pending(const struct fwup_host *h)
{
    return h->npend;
}
