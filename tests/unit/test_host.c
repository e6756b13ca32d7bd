/*
 * The host core (lib/host) on a virtual clock, driving a tiny scripted
 * engine: every event it gets is written to a log, and a per-test hook
 * makes the host calls the test needs from inside on_event.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "simlink.h"

/* ---- the scripted engine -------------------------------------------------- */

struct fwup_engine {
    const struct fwup_host_ops *ops;
    void *host;
    int in_event;
};

struct world;
typedef void (*hook_fn)(struct world *w, const struct fwup_event *ev);

/* Everything one test sees: the clock, what the engine got, what the
 * backend was asked. */
struct world {
    uint64_t now, wake;
    struct fwup_host *h;
    struct fwup_engine *eng;
    char log[4096];
    int reentered;
    hook_fn hook;
    void (*create_hook)(struct fwup_engine *e);
    /* backend */
    struct fwup_unit units[32];
    uint8_t unit_data[32][16];
    size_t nunits;
    struct fwup_control ctls[8];
    size_t nctls;
    int control_rc;
    int submit_rc;
    void (*submit_hook)(struct world *w, const struct fwup_unit *u);
    int finishes;
    enum fwup_result result;
    char msg[256];
    char blog[2048]; /* backend log lines */
    int free_in_finish;
    struct fwup_link_info link;
    struct fwup_serial_info serial;
    struct fwup_can_info can;
    struct fwup_isotp_info isotp;
    struct fwup_usb_info usb;
};

static struct world *W;

static void note(struct world *w, const char *fmt, ...)
{
    size_t n = strlen(w->log);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->log + n, sizeof(w->log) - n, fmt, ap);
    va_end(ap);
}

static struct fwup_engine *e_create(const struct fwup_job_params *p,
                                    const struct fwup_host_ops *ops, void *host, char *err,
                                    size_t errlen)
{
    if (p->device_id && strcmp(p->device_id, "refuse") == 0) {
        snprintf(err, errlen, "no such device");
        return NULL;
    }
    ck_assert_uint_eq(p->struct_size, sizeof(struct fwup_job_params));
    ck_assert_ptr_eq(p->link, &W->link);
    struct fwup_engine *e = calloc(1, sizeof(*e));
    ck_assert_ptr_nonnull(e);
    e->ops = ops;
    e->host = host;
    W->eng = e;
    if (W->create_hook)
        W->create_hook(e);
    return e;
}

static void e_destroy(struct fwup_engine *e)
{
    if (W->eng == e)
        W->eng = NULL;
    free(e);
}

static void e_event(struct fwup_engine *e, const struct fwup_event *ev)
{
    struct world *w = W;
    static const char *const names[] = {"?",      "start", "rx", "complete", "timer",
                                        "cancel", "down",  "up", "bus"};
    if (e->in_event)
        w->reentered++;
    e->in_event = 1;
    ck_assert_uint_eq(ev->time_us, w->now);
    note(w, "%s", ev->type < 9 ? names[ev->type] : "unknown");
    switch (ev->type) {
    case FWUP_EV_RX:
        note(w, ":%.*s", (int)ev->len, (const char *)ev->data);
        break;
    case FWUP_EV_COMPLETE:
        note(w, ":%u/%u", ev->tag, ev->status);
        if (ev->len)
            note(w, "/%.*s", (int)ev->len, (const char *)ev->data);
        break;
    case FWUP_EV_TIMER:
        note(w, ":%u", ev->timer_id);
        break;
    case FWUP_EV_BUS_STATE:
        note(w, ":%u", ev->bus_state);
        break;
    }
    note(w, "@%llu ", (unsigned long long)(w->now / 1000));
    if (w->hook)
        w->hook(w, ev);
    e->in_event = 0;
}

static const struct fwup_protocol eproto = {
    .abi_version = FWUP_PROTOCOL_ABI_VERSION,
    .struct_size = sizeof(struct fwup_protocol),
    .name = "scripted",
    .transports =
        FWUP_TRANSPORT_SERIAL | FWUP_TRANSPORT_CAN | FWUP_TRANSPORT_ISOTP | FWUP_TRANSPORT_USB,
    .create = e_create,
    .destroy = e_destroy,
    .on_event = e_event,
};

/* ---- the backend ---------------------------------------------------------- */

static uint64_t b_now(void *ctx)
{
    return ((struct world *)ctx)->now;
}

static void b_wake_at(void *ctx, uint64_t t)
{
    ((struct world *)ctx)->wake = t;
}

static int b_submit(void *ctx, const struct fwup_unit *u)
{
    struct world *w = ctx;
    ck_assert_uint_lt(w->nunits, 32);
    ck_assert_uint_eq(u->struct_size, sizeof(*u));
    w->units[w->nunits] = *u;
    if (u->data && u->len <= 16) {
        memcpy(w->unit_data[w->nunits], u->data, u->len);
        w->units[w->nunits].data = w->unit_data[w->nunits];
    }
    w->nunits++;
    if (w->submit_hook)
        w->submit_hook(w, u);
    return w->submit_rc;
}

static int b_control(void *ctx, const struct fwup_control *c)
{
    struct world *w = ctx;
    ck_assert_uint_lt(w->nctls, 8);
    w->ctls[w->nctls++] = *c;
    return w->control_rc;
}

static void b_log(void *ctx, enum fwup_log_prio prio, const char *msg)
{
    struct world *w = ctx;
    size_t n = strlen(w->blog);
    snprintf(w->blog + n, sizeof(w->blog) - n, "<%d>%s\n", (int)prio, msg);
}

static void b_finish(void *ctx, enum fwup_result result, const char *msg)
{
    struct world *w = ctx;
    w->finishes++;
    w->result = result;
    snprintf(w->msg, sizeof(w->msg), "%s", msg);
    if (w->free_in_finish) {
        fwup_host_free(w->h);
        w->h = NULL;
    }
}

static const struct fwup_host_backend backend = {
    .now_us = b_now,
    .wake_at = b_wake_at,
    .submit = b_submit,
    .control = b_control,
    .log = b_log,
    .finish = b_finish,
};

static struct fwup_job_params params = {.device_id = "dev"};

static void setup_link(struct world *w, uint32_t kind)
{
    w->link = (struct fwup_link_info){.struct_size = sizeof(w->link), .kind = kind, .name = "l"};
    switch (kind) {
    case FWUP_LINK_SERIAL:
        w->serial = (struct fwup_serial_info){sizeof(w->serial), 10000, 8, 'N', 1, 0};
        w->link.serial = &w->serial;
        break;
    case FWUP_LINK_CAN:
        w->can = (struct fwup_can_info){.struct_size = sizeof(w->can), .ifname = "vcan0"};
        w->link.can = &w->can;
        break;
    case FWUP_LINK_ISOTP:
        w->isotp = (struct fwup_isotp_info){.struct_size = sizeof(w->isotp), .max_pdu = 4095};
        w->link.isotp = &w->isotp;
        break;
    case FWUP_LINK_USB:
        w->usb =
            (struct fwup_usb_info){.struct_size = sizeof(w->usb), .vid = 0x0483, .pid = 0xdf11};
        w->link.usb = &w->usb;
        break;
    }
}

/* A world on a link of `kind`, its engine created but not started. */
static struct world *world_new(uint32_t kind, uint32_t grace_ms)
{
    struct world *w = calloc(1, sizeof(*w));
    ck_assert_ptr_nonnull(w);
    W = w;
    w->wake = FWUP_HOST_NEVER;
    w->now = 1000000; /* not 0, so that a deadline of "0 + x" would show */
    setup_link(w, kind);
    struct fwup_host_config cfg = {
        .proto = &eproto,
        .params = &params,
        .link = &w->link,
        .cancel_grace_ms = grace_ms,
        .backend = &backend,
        .ctx = w,
    };
    char err[128] = "";
    w->h = fwup_host_new(&cfg, err, sizeof(err));
    ck_assert_msg(w->h != NULL, "%s", err);
    return w;
}

static struct world *world_started(uint32_t kind, hook_fn hook)
{
    struct world *w = world_new(kind, 0);
    w->hook = hook;
    fwup_host_start(w->h);
    return w;
}

static void world_free(struct world *w)
{
    fwup_host_free(w->h);
    ck_assert_ptr_null(w->eng); /* the engine was destroyed */
    free(w);
    W = NULL;
}

/* Runs the virtual clock to `t` (ms since the start), waking the host at
 * each time it asked for. */
static void run_until(struct world *w, uint64_t t_ms)
{
    uint64_t end = 1000000 + t_ms * 1000;
    while (w->wake <= end) {
        ck_assert_uint_ge(w->wake, w->now); /* never a wake-up in the past */
        w->now = w->wake;
        w->wake = FWUP_HOST_NEVER; /* used up, as a one-shot timer's */
        fwup_host_wake(w->h);
    }
    w->now = end;
}

static const struct fwup_host_ops *ops(const struct world *w)
{
    return w->eng->ops;
}

static int submit_bytes(struct world *w, uint32_t tag, uint32_t flags, const char *s,
                        uint32_t timeout_ms)
{
    struct fwup_unit u = {.struct_size = sizeof(u),
                          .kind = FWUP_UNIT_BYTES,
                          .tag = tag,
                          .flags = flags,
                          .timeout_ms = timeout_ms,
                          .data = (const uint8_t *)s,
                          .len = strlen(s)};
    return ops(w)->submit(w->eng->host, &u);
}

/* ---- timers --------------------------------------------------------------- */

static void timers_hook(struct world *w, const struct fwup_event *ev)
{
    const struct fwup_host_ops *o = ops(w);
    void *h = w->eng->host;
    if (ev->type == FWUP_EV_START) {
        o->timer(h, 0, 30);
        o->timer(h, 2, 10); /* armed before 1, due at the same time: fires first */
        o->timer(h, 1, 10);
        o->timer(h, 3, 20);
        o->timer(h, 0, 5); /* replaces 30 */
        o->timer(h, 7, 12);
        o->timer(h, 7, 0); /* disarmed */
    } else if (ev->type == FWUP_EV_TIMER && ev->timer_id == 2) {
        o->timer(h, 3, 0); /* an event disarms a timer due later */
    } else if (ev->type == FWUP_EV_TIMER && ev->timer_id == 0 && w->now == 1005000) {
        o->timer(h, 0, 40); /* rearmed from its own event */
    }
}

START_TEST(test_timers)
{
    struct world *w = world_started(FWUP_LINK_SERIAL, timers_hook);
    /* One wake-up, at the earliest due time. */
    ck_assert_uint_eq(w->wake, 1000000 + 5000);
    run_until(w, 100);
    ck_assert_str_eq(w->log, "start@1000 timer:0@1005 timer:2@1010 timer:1@1010 timer:0@1045 ");
    ck_assert_uint_eq(w->wake, FWUP_HOST_NEVER);
    ck_assert_int_eq(w->reentered, 0);
    ck_assert_uint_eq(fwup_host_protocol_errors(w->h), 0);
    /* An id beyond FWUP_MAX_TIMERS is refused and counted. */
    ops(w)->timer(w->eng->host, FWUP_MAX_TIMERS, 10);
    ck_assert_uint_eq(fwup_host_protocol_errors(w->h), 1);
    ck_assert_uint_eq(w->wake, FWUP_HOST_NEVER);
    ck_assert_ptr_nonnull(strstr(w->blog, "protocol error: timer id 8 out of range"));
    world_free(w);
}
END_TEST

/* A timer armed from create() and due before START waits for it. */
static void arm_in_create(struct fwup_engine *e)
{
    e->ops->timer(e->host, 4, 1);
}

START_TEST(test_nothing_before_start)
{
    struct world *w = calloc(1, sizeof(*w));
    W = w;
    w->wake = FWUP_HOST_NEVER;
    w->now = 1000000;
    setup_link(w, FWUP_LINK_SERIAL);
    w->create_hook = arm_in_create;
    struct fwup_host_config cfg = {
        .proto = &eproto, .params = &params, .link = &w->link, .backend = &backend, .ctx = w};
    char err[64];
    w->h = fwup_host_new(&cfg, err, sizeof(err));
    ck_assert_ptr_nonnull(w->h);
    ck_assert_uint_eq(w->wake, 1000000 + 1000);
    ck_assert_int_eq(fwup_host_state(w->h), FWUP_HOST_CREATED);
    run_until(w, 5);
    fwup_host_rx(w->h, FWUP_UNIT_BYTES, (const uint8_t *)"noise", 5, NULL);
    ck_assert_str_eq(w->log, "");
    fwup_host_start(w->h);
    ck_assert_int_eq(fwup_host_state(w->h), FWUP_HOST_RUNNING);
    ck_assert_str_eq(w->log, "start@1005 timer:4@1005 ");
    fwup_host_start(w->h); /* once */
    ck_assert_str_eq(w->log, "start@1005 timer:4@1005 ");
    world_free(w);
}
END_TEST

START_TEST(test_create_fails)
{
    struct world w = {0};
    W = &w;
    struct fwup_job_params p = {.device_id = "refuse"};
    struct fwup_host_config cfg = {
        .proto = &eproto, .params = &p, .link = &w.link, .backend = &backend, .ctx = &w};
    char err[64] = "";
    ck_assert_ptr_null(fwup_host_new(&cfg, err, sizeof(err)));
    ck_assert_str_eq(err, "no such device");
    W = NULL;
}
END_TEST

/* ---- units ---------------------------------------------------------------- */

START_TEST(test_completions_and_tags)
{
    struct world *w = world_started(FWUP_LINK_SERIAL, NULL);
    ck_assert_int_eq(submit_bytes(w, 7, FWUP_SUBMIT_NOTIFY, "abc", 0), 0);
    ck_assert_int_eq(submit_bytes(w, 8, 0, "de", 0), 0);
    ck_assert_int_eq(submit_bytes(w, 7, FWUP_SUBMIT_ON_WIRE, "f", 0), 0); /* tags may repeat */
    ck_assert_uint_eq(w->nunits, 3);
    /* The backend gets its own ids, the flags (ON_WIRE implies NOTIFY) and
     * a copy of the bytes. */
    uint32_t id0 = w->units[0].tag, id1 = w->units[1].tag, id2 = w->units[2].tag;
    ck_assert_uint_ne(id0, id1);
    ck_assert_uint_ne(id1, id2);
    ck_assert_uint_ne(id0, 0);
    ck_assert_uint_eq(w->units[0].flags, FWUP_SUBMIT_NOTIFY);
    ck_assert_uint_eq(w->units[2].flags, FWUP_SUBMIT_ON_WIRE | FWUP_SUBMIT_NOTIFY);
    ck_assert_mem_eq(w->units[0].data, "abc", 3);
    ck_assert_uint_eq(fwup_host_pending(w->h), 2);

    fwup_host_complete(w->h, id1, FWUP_STATUS_OK, NULL, 0); /* not notified */
    fwup_host_complete(w->h, id0, FWUP_STATUS_OK, NULL, 0);
    fwup_host_complete(w->h, id0, FWUP_STATUS_OK, NULL, 0); /* twice: ignored */
    fwup_host_complete(w->h, 12345, FWUP_STATUS_OK, NULL, 0);
    w->now += 2000;
    fwup_host_complete(w->h, id2, FWUP_STATUS_ERROR, NULL, 0);
    ck_assert_str_eq(w->log, "start@1000 complete:7/0@1000 complete:7/4@1002 ");
    ck_assert_uint_eq(fwup_host_pending(w->h), 0);
    ck_assert_uint_eq(w->wake, FWUP_HOST_NEVER);
    ck_assert_uint_eq(fwup_host_protocol_errors(w->h), 0);

    /* A unit the backend refuses is not tracked. */
    w->submit_rc = -1;
    ck_assert_int_eq(submit_bytes(w, 9, FWUP_SUBMIT_NOTIFY, "g", 0), -1);
    ck_assert_uint_eq(fwup_host_pending(w->h), 0);
    world_free(w);
}
END_TEST

START_TEST(test_unit_timeouts)
{
    struct world *w = world_started(FWUP_LINK_SERIAL, NULL);
    /* The engine's own timeout. */
    ck_assert_int_eq(submit_bytes(w, 1, FWUP_SUBMIT_NOTIFY, "x", 50), 0);
    uint32_t id = w->units[0].tag;
    ck_assert_uint_eq(w->wake, 1000000 + 50000);
    run_until(w, 49);
    ck_assert_str_eq(w->log, "start@1000 ");
    run_until(w, 60);
    ck_assert_str_eq(w->log, "start@1000 complete:1/2@1050 ");
    fwup_host_complete(w->h, id, FWUP_STATUS_OK, NULL, 0); /* late: ignored */
    ck_assert_str_eq(w->log, "start@1000 complete:1/2@1050 ");

    /* The host's default: 10 bytes at 10000 baud 8N1 leave in 10 ms, behind
     * the 10 ms of bytes queued before them, then 5 s of slack. */
    w->log[0] = '\0';
    ck_assert_int_eq(submit_bytes(w, 2, 0, "0123456789", 0), 0);
    ck_assert_int_eq(submit_bytes(w, 3, FWUP_SUBMIT_ON_WIRE, "0123456789", 0), 0);
    uint64_t due = w->now + 20000 + FWUP_HOST_UNIT_TIMEOUT_MS * 1000ull;
    ck_assert_uint_eq(w->wake, due);
    run_until(w, 60 + 20 + FWUP_HOST_UNIT_TIMEOUT_MS - 1);
    ck_assert_str_eq(w->log, "");
    run_until(w, 60 + 20 + FWUP_HOST_UNIT_TIMEOUT_MS);
    ck_assert_str_eq(w->log, "complete:3/2@6080 ");

    /* Woken late (a busy loop), past several deadlines: they fire in the
     * order they fell due, ties to the unit. */
    w->log[0] = '\0';
    ck_assert_int_eq(submit_bytes(w, 4, FWUP_SUBMIT_NOTIFY, "x", 50), 0);
    ck_assert_int_eq(submit_bytes(w, 5, FWUP_SUBMIT_NOTIFY, "x", 30), 0);
    ops(w)->timer(w->eng->host, 6, 40);
    ops(w)->timer(w->eng->host, 5, 30);
    w->now += 100000;
    w->wake = FWUP_HOST_NEVER;
    fwup_host_wake(w->h);
    ck_assert_str_eq(w->log, "complete:5/2@6180 timer:5@6180 timer:6@6180 complete:4/2@6180 ");
    world_free(w);
}
END_TEST

/* Each link kind takes its own unit kind and refuses the other three. */
START_TEST(test_unit_kinds)
{
    static const uint32_t link_kinds[] = {FWUP_LINK_SERIAL, FWUP_LINK_CAN, FWUP_LINK_ISOTP,
                                          FWUP_LINK_USB};
    static const uint8_t data[8] = "12345678";
    struct fwup_can_frame f = {.id = 0x123, .len = 8};
    memcpy(f.data, data, 8);
    for (size_t l = 0; l < 4; l++) {
        struct world *w = world_started(link_kinds[l], NULL);
        unsigned errors = 0;
        for (uint32_t k = FWUP_UNIT_BYTES; k <= FWUP_UNIT_USB_CONTROL; k++) {
            struct fwup_unit u = {
                .struct_size = sizeof(u), .kind = k, .data = data, .len = 8, .frame = &f};
            u.setup = (struct fwup_usb_setup){.bmRequestType = 0x21, .bRequest = 1, .wLength = 8};
            int ok = k == fwup_host_unit_kind(link_kinds[l]);
            ck_assert_int_eq(ops(w)->submit(w->eng->host, &u), ok ? 0 : -1);
            errors += !ok;
            ck_assert_uint_eq(fwup_host_protocol_errors(w->h), errors);
        }
        ck_assert_uint_eq(w->nunits, 1);
        ck_assert_uint_eq(w->units[0].kind, fwup_host_unit_kind(link_kinds[l]));
        ck_assert_ptr_nonnull(strstr(w->blog, "protocol error: unit refused: a "));
        world_free(w);
    }
}
END_TEST

static int submit_frame(struct world *w, const struct fwup_can_frame *f)
{
    struct fwup_unit u = {.struct_size = sizeof(u), .kind = FWUP_UNIT_CAN, .frame = f};
    return ops(w)->submit(w->eng->host, &u);
}

START_TEST(test_can_frames)
{
    struct world *w = world_started(FWUP_LINK_CAN, NULL);
    struct fwup_can_frame ok = {.id = 0x7FF, .len = 8};
    struct fwup_can_frame eff = {.id = FWUP_CAN_EFF | 0x1FFFFFFF, .len = 0};
    struct fwup_can_frame wide = {.id = 0x800, .len = 1};
    struct fwup_can_frame long_classic = {.id = 0x100, .len = 9};
    struct fwup_can_frame fd12 = {.id = 0x100, .len = 12, .flags = FWUP_CAN_FD};
    struct fwup_can_frame brs = {.id = 0x100, .len = 1, .flags = FWUP_CAN_BRS};
    ck_assert_int_eq(submit_frame(w, &ok), 0);
    ck_assert_int_eq(submit_frame(w, &eff), 0);
    ck_assert_uint_eq(fwup_host_protocol_errors(w->h), 0);
    ck_assert_int_eq(submit_frame(w, &wide), -1);
    ck_assert_int_eq(submit_frame(w, &long_classic), -1);
    ck_assert_int_eq(submit_frame(w, &brs), -1);
    ck_assert_int_eq(submit_frame(w, NULL), -1);
    /* Valid FD, but this link carries classic frames only. */
    ck_assert_int_eq(submit_frame(w, &fd12), -1);
    ck_assert_uint_eq(fwup_host_protocol_errors(w->h), 5);
    ck_assert_uint_eq(w->nunits, 2);
    ck_assert_ptr_nonnull(strstr(w->blog, "invalid CAN frame: standard id wider than 11 bits"));
    ck_assert_ptr_nonnull(strstr(w->blog, "CAN FD frame on a classic CAN link"));
    /* On an FD link: 12 bytes go, 9 (no DLC's exact length) do not. */
    w->can.fd = 1;
    ck_assert_int_eq(submit_frame(w, &fd12), 0);
    fd12.len = 9;
    ck_assert_int_eq(submit_frame(w, &fd12), -1);
    ck_assert_uint_eq(fwup_host_protocol_errors(w->h), 6);
    ck_assert_uint_eq(w->nunits, 3);
    world_free(w);
}
END_TEST

START_TEST(test_usb_and_pdu_lengths)
{
    static const uint8_t buf[64] = {0};
    struct world *w = world_started(FWUP_LINK_USB, NULL);
    struct fwup_unit u = {
        .struct_size = sizeof(u), .kind = FWUP_UNIT_USB_CONTROL, .tag = 5, .data = buf, .len = 16};
    u.setup = (struct fwup_usb_setup){.bmRequestType = 0x21, .bRequest = 1, .wLength = 16};
    ck_assert_int_eq(ops(w)->submit(w->eng->host, &u), 0); /* OUT, len == wLength */
    u.len = 15;
    ck_assert_int_eq(ops(w)->submit(w->eng->host, &u), -1);
    u.len = 17;
    ck_assert_int_eq(ops(w)->submit(w->eng->host, &u), -1);
    ck_assert_uint_eq(fwup_host_protocol_errors(w->h), 2);
    ck_assert_ptr_nonnull(strstr(w->blog, "USB OUT data of 15 bytes with wLength 16"));
    /* IN: wLength is what the device may send, no data goes out. */
    u = (struct fwup_unit){.struct_size = sizeof(u), .kind = FWUP_UNIT_USB_CONTROL, .tag = 6};
    u.setup = (struct fwup_usb_setup){.bmRequestType = 0xA1, .bRequest = 3, .wLength = 6};
    ck_assert_int_eq(ops(w)->submit(w->eng->host, &u), 0);
    ck_assert_uint_eq(w->nunits, 2);
    /* USB transfers always complete, IN data included. */
    ck_assert_uint_eq(fwup_host_pending(w->h), 2);
    fwup_host_complete(w->h, w->units[1].tag, FWUP_STATUS_OK, (const uint8_t *)"status", 6);
    fwup_host_complete(w->h, w->units[0].tag, FWUP_STATUS_STALL, NULL, 0);
    ck_assert_str_eq(w->log, "start@1000 complete:6/0/status@1000 complete:5/1@1000 ");
    world_free(w);

    w = world_started(FWUP_LINK_ISOTP, NULL);
    w->isotp.max_pdu = 64;
    u = (struct fwup_unit){.struct_size = sizeof(u), .kind = FWUP_UNIT_PDU, .data = buf, .len = 64};
    ck_assert_int_eq(ops(w)->submit(w->eng->host, &u), 0);
    u.len = 65;
    ck_assert_int_eq(ops(w)->submit(w->eng->host, &u), -1);
    u.len = 0;
    ck_assert_int_eq(ops(w)->submit(w->eng->host, &u), -1);
    ck_assert_uint_eq(fwup_host_protocol_errors(w->h), 2);
    ck_assert_uint_eq(w->nunits, 1);
    world_free(w);
}
END_TEST

/* An older, shorter unit (as a plugin built against a smaller struct
 * would pass): what it has is read, the rest is zero. */
START_TEST(test_short_unit)
{
    struct world *w = world_started(FWUP_LINK_SERIAL, NULL);
    struct fwup_unit u;
    memset(&u, 0xAB, sizeof(u));
    u.struct_size = (uint32_t)(offsetof(struct fwup_unit, len) + sizeof(u.len));
    u.kind = FWUP_UNIT_BYTES;
    u.flags = 0;
    u.timeout_ms = 0;
    u.data = (const uint8_t *)"hi";
    u.len = 2;
    ck_assert_int_eq(ops(w)->submit(w->eng->host, &u), 0);
    ck_assert_ptr_null(w->units[0].frame);
    ck_assert_uint_eq(w->units[0].setup.wLength, 0);
    u.struct_size = (uint32_t)offsetof(struct fwup_unit, len); /* no len: refused */
    ck_assert_int_eq(ops(w)->submit(w->eng->host, &u), -1);
    ck_assert_uint_eq(fwup_host_protocol_errors(w->h), 1);
    world_free(w);
}
END_TEST

/* ---- re-entrancy ---------------------------------------------------------- */

/* A backend that answers inside submit, overwriting its buffer afterwards
 * as a real one would reuse it. */
static void answer_at_once(struct world *w, const struct fwup_unit *u)
{
    char buf[8] = "ack";
    fwup_host_complete(w->h, u->tag, FWUP_STATUS_OK, NULL, 0);
    fwup_host_rx(w->h, FWUP_UNIT_BYTES, (const uint8_t *)buf, 3, NULL);
    memcpy(buf, "XXX", 3);
}

static void submit_on_start(struct world *w, const struct fwup_event *ev)
{
    if (ev->type == FWUP_EV_START ||
        (ev->type == FWUP_EV_RX && strstr(w->log, "rx") && !strstr(w->log, "second"))) {
        if (ev->type == FWUP_EV_RX)
            note(w, "second ");
        ck_assert_int_eq(submit_bytes(w, 3, FWUP_SUBMIT_NOTIFY, "q", 0), 0);
        note(w, "submitted ");
    }
}

START_TEST(test_reentrancy)
{
    struct world *w = world_new(FWUP_LINK_SERIAL, 0);
    w->hook = submit_on_start;
    w->submit_hook = answer_at_once;
    fwup_host_start(w->h);
    ck_assert_int_eq(w->reentered, 0);
    /* What the submit caused comes after the event that submitted, in the
     * order it happened, the input as it was when it arrived. */
    ck_assert_str_eq(w->log, "start@1000 submitted complete:3/0@1000 rx:ack@1000 second "
                             "submitted complete:3/0@1000 rx:ack@1000 ");
    world_free(w);
}
END_TEST

/* ---- cancel --------------------------------------------------------------- */

static void ignore_cancel(struct world *w, const struct fwup_event *ev)
{
    if (ev->type == FWUP_EV_START)
        ops(w)->timer(w->eng->host, 0, 1000);
}

START_TEST(test_cancel_grace)
{
    struct world *w = world_new(FWUP_LINK_SERIAL, 100);
    w->hook = ignore_cancel;
    fwup_host_start(w->h);
    run_until(w, 10);
    fwup_host_cancel(w->h);
    fwup_host_cancel(w->h); /* once */
    ck_assert_str_eq(w->log, "start@1000 cancel@1010 ");
    ck_assert_uint_eq(w->wake, 1000000 + 110000);
    run_until(w, 109);
    ck_assert_int_eq(w->finishes, 0);
    run_until(w, 2000);
    ck_assert_int_eq(w->finishes, 1);
    ck_assert_int_eq(w->result, FWUP_RESULT_CANCELLED);
    ck_assert_str_eq(w->msg, "cancelled (the protocol did not confirm the abort)");
    ck_assert_int_eq(fwup_host_state(w->h), FWUP_HOST_ENDED);
    /* Its timer died with the job; an engine still mid-event when the host
     * ends the job is no protocol error, and nothing reaches the backend. */
    ck_assert_str_eq(w->log, "start@1000 cancel@1010 ");
    ck_assert_uint_eq(w->wake, FWUP_HOST_NEVER);
    ck_assert_int_eq(submit_bytes(w, 1, 0, "x", 0), -1);
    ops(w)->finish(w->eng->host, FWUP_RESULT_OK, NULL);
    ck_assert_uint_eq(w->nunits, 0);
    ck_assert_int_eq(w->finishes, 1);
    ck_assert_uint_eq(fwup_host_protocol_errors(w->h), 0);
    world_free(w);
}
END_TEST

static void fail_on_cancel(struct world *w, const struct fwup_event *ev)
{
    if (ev->type == FWUP_EV_CANCEL)
        ops(w)->finish(w->eng->host, FWUP_RESULT_TRANSIENT, "device stopped answering");
}

START_TEST(test_cancel_wins)
{
    struct world *w = world_started(FWUP_LINK_SERIAL, fail_on_cancel);
    fwup_host_cancel(w->h);
    ck_assert_int_eq(w->finishes, 1);
    ck_assert_int_eq(w->result, FWUP_RESULT_CANCELLED);
    ck_assert_str_eq(w->msg, "device stopped answering");
    ck_assert_int_eq(fwup_host_state(w->h), FWUP_HOST_FINISHED);
    ck_assert_uint_eq(w->wake, FWUP_HOST_NEVER); /* no grace left armed */
    world_free(w);

    /* Before START the job ends at once and the engine never starts. */
    w = world_new(FWUP_LINK_SERIAL, 0);
    fwup_host_cancel(w->h);
    ck_assert_int_eq(w->finishes, 1);
    ck_assert_int_eq(w->result, FWUP_RESULT_CANCELLED);
    ck_assert_str_eq(w->msg, "cancelled before the protocol started");
    fwup_host_start(w->h);
    ck_assert_str_eq(w->log, "");
    world_free(w);
}
END_TEST

/* ---- finish and misuse ---------------------------------------------------- */

START_TEST(test_finish_guards)
{
    struct world *w = world_started(FWUP_LINK_SERIAL, NULL);
    const struct fwup_host_ops *o = ops(w);
    void *h = w->eng->host;
    o->progress(h, "erase", 10, 100);
    o->progress(h, "erase", 10, 100);   /* the same again is fine */
    o->progress(h, "transfer", 0, 100); /* a new phase starts over */
    ck_assert_uint_eq(fwup_host_protocol_errors(w->h), 0);
    o->progress(h, "transfer", 50, 100);
    o->progress(h, "transfer", 40, 100);
    ck_assert_uint_eq(fwup_host_protocol_errors(w->h), 1);
    o->progress(h, "verify", 101, 100);
    ck_assert_uint_eq(fwup_host_protocol_errors(w->h), 2);
    ck_assert_ptr_nonnull(strstr(w->blog, "progress 101 beyond total 100"));
    ck_assert_ptr_nonnull(strstr(w->blog, "progress going back from 50 to 40"));
    o->timer(h, 1, 5);
    ck_assert_int_eq(submit_bytes(w, 1, FWUP_SUBMIT_NOTIFY, "x", 0), 0);

    o->finish(h, FWUP_RESULT_PERMANENT, "refused");
    ck_assert_int_eq(w->finishes, 1);
    ck_assert_int_eq(w->result, FWUP_RESULT_PERMANENT);
    ck_assert_str_eq(w->msg, "refused");
    ck_assert_uint_eq(w->wake, FWUP_HOST_NEVER);
    ck_assert_uint_eq(fwup_host_pending(w->h), 0);
    /* Every call after finish is refused and counted. */
    ck_assert_int_eq(submit_bytes(w, 2, 0, "y", 0), -1);
    struct fwup_control c = {.struct_size = sizeof(c), .op = FWUP_CTL_FLUSH_RX};
    ck_assert_int_eq(o->control(h, &c), -1);
    o->timer(h, 1, 5);
    o->progress(h, "transfer", 60, 100);
    o->log(h, FWUP_LOG_INFO, "late");
    o->finish(h, FWUP_RESULT_OK, NULL);
    ck_assert_uint_eq(fwup_host_protocol_errors(w->h), 2 + 6);
    ck_assert_ptr_nonnull(strstr(w->blog, "protocol error: a second finish after finish"));
    ck_assert_int_eq(w->finishes, 1);
    ck_assert_uint_eq(w->nunits, 1);
    ck_assert_uint_eq(w->nctls, 0);
    ck_assert_uint_eq(w->wake, FWUP_HOST_NEVER);
    ck_assert_ptr_null(strstr(w->blog, "late"));
    /* Nothing more reaches the engine. */
    size_t before = strlen(w->log);
    fwup_host_rx(w->h, FWUP_UNIT_BYTES, (const uint8_t *)"z", 1, NULL);
    fwup_host_complete(w->h, w->units[0].tag, FWUP_STATUS_OK, NULL, 0);
    fwup_host_cancel(w->h);
    fwup_host_link_down(w->h, "gone");
    run_until(w, 100);
    ck_assert_uint_eq(strlen(w->log), before);
    ck_assert_int_eq(w->finishes, 1);
    world_free(w);
}
END_TEST

/* Events queued behind the one that finishes are dropped, and a backend
 * may free the host from its finish callback. */
static void finish_on_rx(struct world *w, const struct fwup_event *ev)
{
    if (ev->type == FWUP_EV_START)
        ck_assert_int_eq(submit_bytes(w, 1, FWUP_SUBMIT_NOTIFY, "x", 0), 0);
    if (ev->type == FWUP_EV_RX)
        ops(w)->finish(w->eng->host, FWUP_RESULT_OK, NULL);
}

static void rx_and_complete(struct world *w, const struct fwup_unit *u)
{
    fwup_host_rx(w->h, FWUP_UNIT_BYTES, (const uint8_t *)"done", 4, NULL);
    fwup_host_complete(w->h, u->tag, FWUP_STATUS_OK, NULL, 0);
}

START_TEST(test_free_in_finish)
{
    struct world *w = world_new(FWUP_LINK_SERIAL, 0);
    w->hook = finish_on_rx;
    w->submit_hook = rx_and_complete;
    w->free_in_finish = 1;
    fwup_host_start(w->h);
    ck_assert_int_eq(w->finishes, 1);
    ck_assert_int_eq(w->result, FWUP_RESULT_OK);
    ck_assert_str_eq(w->log, "start@1000 rx:done@1000 ");
    ck_assert_ptr_null(w->eng); /* destroyed once the host's call returned */
    free(w);
}
END_TEST

START_TEST(test_abort)
{
    struct world *w = world_started(FWUP_LINK_SERIAL, NULL);
    fwup_host_abort(w->h, FWUP_RESULT_TRANSIENT, "device stopped answering");
    fwup_host_abort(w->h, FWUP_RESULT_OK, "again");
    ck_assert_int_eq(w->finishes, 1);
    ck_assert_int_eq(w->result, FWUP_RESULT_TRANSIENT);
    ck_assert_str_eq(w->msg, "device stopped answering");
    ck_assert_int_eq(fwup_host_state(w->h), FWUP_HOST_ENDED);
    world_free(w);

    /* A watchdog firing while the engine aborts: the cancel wins. */
    w = world_started(FWUP_LINK_SERIAL, NULL);
    fwup_host_cancel(w->h);
    fwup_host_abort(w->h, FWUP_RESULT_TRANSIENT, "device stopped answering");
    ck_assert_int_eq(w->result, FWUP_RESULT_CANCELLED);
    world_free(w);
}
END_TEST

/* ---- link down and up ----------------------------------------------------- */

static void on_up_submit(struct world *w, const struct fwup_event *ev)
{
    if (ev->type == FWUP_EV_LINK_UP) {
        ck_assert_ptr_eq(ev->link, &w->link);
        note(w, "pid=%04x ", ev->link->usb->pid);
    }
}

START_TEST(test_link_down_up)
{
    struct world *w = world_started(FWUP_LINK_USB, on_up_submit);
    struct fwup_unit u = {.struct_size = sizeof(u), .kind = FWUP_UNIT_USB_CONTROL, .tag = 1};
    u.setup = (struct fwup_usb_setup){.bmRequestType = 0xA1, .bRequest = 3, .wLength = 6};
    ck_assert_int_eq(ops(w)->submit(w->eng->host, &u), 0);
    u.tag = 2;
    ck_assert_int_eq(ops(w)->submit(w->eng->host, &u), 0);
    w->control_rc = 1; /* pending */
    struct fwup_control c = {.struct_size = sizeof(c), .op = FWUP_CTL_USB_RESET, .tag = 300};
    ck_assert_int_eq(ops(w)->control(w->eng->host, &c), 1);
    ck_assert_uint_ne(w->ctls[0].tag, 300); /* the host's id */
    ck_assert_uint_eq(fwup_host_pending(w->h), 3);
    /* The first completes normally, the others with the link. */
    fwup_host_complete(w->h, w->units[0].tag, FWUP_STATUS_OK, NULL, 0);
    fwup_host_link_down(w->h, "device detached");
    ck_assert_str_eq(w->log, "start@1000 complete:1/0@1000 complete:2/3@1000 complete:300/3@1000 "
                             "down@1000 ");
    ck_assert_uint_eq(fwup_host_pending(w->h), 0);
    /* Down: submit fails without a protocol error, completions are stale. */
    ck_assert_int_eq(ops(w)->submit(w->eng->host, &u), -1);
    ck_assert_uint_eq(fwup_host_protocol_errors(w->h), 0);
    ck_assert_uint_eq(w->nunits, 2);
    fwup_host_complete(w->h, w->units[1].tag, FWUP_STATUS_OK, NULL, 0);
    ck_assert_str_eq(w->log, "start@1000 complete:1/0@1000 complete:2/3@1000 complete:300/3@1000 "
                             "down@1000 ");

    /* Back, as the DFU-mode device. */
    w->log[0] = '\0';
    w->usb.pid = 0xdf12;
    w->now += 500000;
    fwup_host_link_up(w->h, &w->link);
    ck_assert_str_eq(w->log, "up@1500 pid=df12 ");
    ck_assert_int_eq(ops(w)->submit(w->eng->host, &u), 0);
    ck_assert_uint_eq(w->nunits, 3);
    fwup_host_bus_state(w->h, FWUP_BUS_PASSIVE);
    ck_assert_str_eq(w->log, "up@1500 pid=df12 bus:2@1500 ");
    world_free(w);
}
END_TEST

START_TEST(test_controls)
{
    struct world *w = world_started(FWUP_LINK_SERIAL, NULL);
    struct fwup_control c = {.struct_size = sizeof(c), .op = FWUP_CTL_BREAK, .arg = 250};
    ck_assert_int_eq(ops(w)->control(w->eng->host, &c), 0);
    ck_assert_uint_eq(w->nctls, 1);
    ck_assert_uint_eq(w->ctls[0].arg, 250);
    /* Operations of other link kinds do not reach the backend. */
    c.op = FWUP_CTL_USB_SET_ALT;
    ck_assert_int_eq(ops(w)->control(w->eng->host, &c), -1);
    c.op = FWUP_CTL_SET_FILTERS;
    ck_assert_int_eq(ops(w)->control(w->eng->host, &c), -1);
    ck_assert_uint_eq(w->nctls, 1);
    ck_assert_uint_eq(fwup_host_protocol_errors(w->h), 0); /* asking is allowed */
    /* A pending control completes with the engine's tag. */
    w->control_rc = 1;
    c = (struct fwup_control){.struct_size = sizeof(c), .op = FWUP_CTL_FLUSH_RX, .tag = 42};
    ck_assert_int_eq(ops(w)->control(w->eng->host, &c), 1);
    fwup_host_complete(w->h, w->ctls[1].tag, FWUP_STATUS_OK, NULL, 0);
    ck_assert_str_eq(w->log, "start@1000 complete:42/0@1000 ");
    world_free(w);
}
END_TEST

/* ---- on the simulated line (simlink is a backend of the core) ----------- */

struct fwup_engine_w {
    const struct fwup_host_ops *ops;
    void *host;
    uint64_t done_us[3];
    int ndone;
};
static struct fwup_engine_w wire_eng;
static uint64_t wire_done[3];

static struct fwup_engine *w_create(const struct fwup_job_params *p, const struct fwup_host_ops *o,
                                    void *host, char *err, size_t errlen)
{
    (void)p, (void)err, (void)errlen;
    wire_eng = (struct fwup_engine_w){.ops = o, .host = host};
    return (struct fwup_engine *)&wire_eng;
}

static void w_destroy(struct fwup_engine *e)
{
    (void)e;
}

static void w_event(struct fwup_engine *e, const struct fwup_event *ev)
{
    struct fwup_engine_w *w = (struct fwup_engine_w *)e;
    static const uint8_t block[100] = {0};
    if (ev->type == FWUP_EV_START) {
        for (uint32_t tag = 1; tag <= 2; tag++) {
            struct fwup_unit u = {.struct_size = sizeof(u),
                                  .kind = FWUP_UNIT_BYTES,
                                  .tag = tag,
                                  .flags = tag == 1 ? FWUP_SUBMIT_NOTIFY : FWUP_SUBMIT_ON_WIRE,
                                  .data = block,
                                  .len = sizeof(block)};
            ck_assert_int_eq(w->ops->submit(w->host, &u), 0);
        }
    } else if (ev->type == FWUP_EV_COMPLETE) {
        ck_assert_uint_eq(ev->tag, (uint32_t)w->ndone + 1);
        wire_done[w->ndone++] = ev->time_us;
        if (w->ndone == 2)
            w->ops->finish(w->host, FWUP_RESULT_OK, NULL);
    }
}

static const struct fwup_protocol wproto = {
    .abi_version = FWUP_PROTOCOL_ABI_VERSION,
    .struct_size = sizeof(struct fwup_protocol),
    .name = "wire",
    .transports = FWUP_TRANSPORT_SERIAL,
    .create = w_create,
    .destroy = w_destroy,
    .on_event = w_event,
};

/* 10000 baud 8N1: a byte per millisecond. Two 100-byte units: the first
 * (NOTIFY) completes once what is left of it fits the host's transmit
 * buffer, the second (ON_WIRE) when its last byte reaches the device. */
static void run_wire(uint32_t tx_buffer)
{
    struct fwup_segment seg = {0, 1, (const uint8_t *)"x", -1};
    struct fwup_image img = {.struct_size = sizeof(img),
                             .segment_size = sizeof(seg),
                             .segments = &seg,
                             .nsegments = 1,
                             .total = 1};
    struct fwup_job_params p = {.struct_size = sizeof(p), .device_id = "d", .image = &img};
    struct simlink_config c = {.proto = &wproto,
                               .params = &p,
                               .dev_class = simdev_find("xmodem"),
                               .baud = 10000,
                               .host_tx_buffer = tx_buffer};
    struct simlink_result r;
    ck_assert_ptr_nonnull(c.dev_class);
    ck_assert_int_eq(simlink_run(&c, &r), 0);
    ck_assert_msg(r.engine_finished, "%s", r.message);
    ck_assert_uint_eq(r.protocol_errors, 0);
    ck_assert_uint_eq(r.bytes_host_to_dev, 200);
    simlink_result_free(&r);
}

START_TEST(test_simlink_notify_and_on_wire)
{
    run_wire(50);
    ck_assert_uint_eq(wire_done[0], 50000);
    ck_assert_uint_eq(wire_done[1], 200000);
    run_wire(0); /* no buffer: NOTIFY too waits for the last byte */
    ck_assert_uint_eq(wire_done[0], 100000);
    ck_assert_uint_eq(wire_done[1], 200000);
}
END_TEST

static Suite *host_suite(void)
{
    Suite *s = suite_create("host");
    TCase *t = tcase_create("core");
    tcase_add_test(t, test_timers);
    tcase_add_test(t, test_nothing_before_start);
    tcase_add_test(t, test_create_fails);
    tcase_add_test(t, test_completions_and_tags);
    tcase_add_test(t, test_unit_timeouts);
    tcase_add_test(t, test_unit_kinds);
    tcase_add_test(t, test_can_frames);
    tcase_add_test(t, test_usb_and_pdu_lengths);
    tcase_add_test(t, test_short_unit);
    tcase_add_test(t, test_reentrancy);
    tcase_add_test(t, test_cancel_grace);
    tcase_add_test(t, test_cancel_wins);
    tcase_add_test(t, test_finish_guards);
    tcase_add_test(t, test_free_in_finish);
    tcase_add_test(t, test_abort);
    tcase_add_test(t, test_link_down_up);
    tcase_add_test(t, test_controls);
    tcase_add_test(t, test_simlink_notify_and_on_wire);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(host_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
