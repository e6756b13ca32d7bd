/* The serial link module on real pseudo-terminals: units in order and
 * whole, completions deferred and in order (NOTIFY, ON_WIRE, timeout),
 * BREAK ordered with the bytes around it, FLUSH_RX, hang-up, link info,
 * framing from the protocol's link requirements; and link-kind choice. */
#include "link.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

struct rec {
    uv_loop_t loop;
    int master;
    struct fwup_link *link;
    int in_call; /* set around submit/control: callbacks must not come */
    char log[1024];
    const char *want; /* run_until's: stop the loop once the log has it */
    uint8_t rx[64];
    size_t nrx;
    int down;
    int peeked; /* what the master could read at on_peek (FIONREAD) */
};

static void logf_(struct rec *r, const char *fmt, unsigned a, unsigned b)
{
    size_t n = strlen(r->log);
    snprintf(r->log + n, sizeof r->log - n, fmt, a, b);
    if (r->want && strstr(r->log, r->want))
        uv_stop(&r->loop);
}

static void on_rx(void *ctx, uint32_t kind, const uint8_t *d, size_t len,
                  const struct fwup_can_frame *f)
{
    struct rec *r = ctx;
    ck_assert(!r->in_call);
    ck_assert_uint_eq(kind, FWUP_UNIT_BYTES);
    ck_assert_ptr_null(f);
    for (size_t i = 0; i < len && r->nrx < sizeof r->rx; i++)
        r->rx[r->nrx++] = d[i];
    logf_(r, "r%u ", (unsigned)r->nrx, 0);
}

static void on_complete(void *ctx, uint32_t tag, enum fwup_status st, const uint8_t *d, size_t len)
{
    struct rec *r = ctx;
    ck_assert(!r->in_call);
    ck_assert_ptr_null(d);
    ck_assert_uint_eq(len, 0);
    logf_(r, "c%u:%u ", tag, st);
}

static void on_down(void *ctx, const char *why)
{
    struct rec *r = ctx;
    ck_assert(!r->in_call);
    ck_assert_ptr_nonnull(strstr(why, "serial"));
    r->down++;
    logf_(r, "down ", 0, 0);
}

static const struct fwup_link_callbacks cbs = {on_rx, on_complete, on_down, NULL, NULL};

static struct fwup_cfg_link cfg_link(const char *path)
{
    return (struct fwup_cfg_link){.name = "l0",
                                  .type = FWUP_LINK_SERIAL,
                                  .path = (char *)path,
                                  .baud = 115200,
                                  .data_bits = 8,
                                  .stop_bits = 1,
                                  .parity_set = 1};
}

static const struct fwup_cfg_device dev = {.id = "d", .protocol = "xmodem"};

/* Opens a pty pair and the link on its slave; the master stays ours. */
static void setup(struct rec *r, struct fwup_cfg_link *l, char *path)
{
    int slave;
    memset(r, 0, sizeof *r);
    ck_assert_int_eq(uv_loop_init(&r->loop), 0);
    ck_assert_int_eq(openpty(&r->master, &slave, path, NULL, NULL), 0);
    close(slave);
    fcntl(r->master, F_SETFL, O_NONBLOCK);
    *l = cfg_link(path);
    char err[256] = "";
    int rc = fwup_link_open(&r->loop, l, &dev, NULL, &cbs, r, &r->link, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
}

static void teardown(struct rec *r)
{
    if (r->link)
        fwup_link_close(r->link);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&r->loop), 0);
    if (r->master >= 0)
        close(r->master);
}

static int submit(struct rec *r, uint32_t tag, uint32_t flags, const void *data, size_t len,
                  uint32_t timeout_ms)
{
    struct fwup_unit u = {.struct_size = sizeof u,
                          .kind = FWUP_UNIT_BYTES,
                          .tag = tag,
                          .flags = flags,
                          .timeout_ms = timeout_ms,
                          .data = data,
                          .len = len};
    r->in_call = 1;
    int rc = fwup_link_submit(r->link, &u);
    r->in_call = 0;
    return rc;
}

static int control(struct rec *r, uint32_t op, uint32_t tag, uint32_t arg)
{
    struct fwup_control c = {.struct_size = sizeof c, .op = op, .tag = tag, .arg = arg};
    r->in_call = 1;
    int rc = fwup_link_control(r->link, &c);
    r->in_call = 0;
    return rc;
}

/* The master's reader while run_until runs. */
struct sink {
    uint8_t *out;
    size_t *nout, cap;
};

static void on_master(uv_poll_t *h, int status, int events)
{
    struct sink *k = h->data;
    (void)status, (void)events;
    ssize_t n = read(h->io_watcher.fd, k->out + *k->nout, k->cap - *k->nout);
    if (n > 0)
        *k->nout += (size_t)n;
    if (*k->nout == k->cap)
        uv_poll_stop(h);
}

static void on_guard(uv_timer_t *t)
{
    uv_stop(t->loop);
}

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

/* Runs the loop until the log contains `want`, reading the master into
 * out (if not NULL) as it goes; fails after 5 s. */
static void run_until(struct rec *r, const char *want, uint8_t *out, size_t *nout, size_t cap)
{
    uv_poll_t poll;
    uv_timer_t guard;
    struct sink k = {out, nout, cap};
    uv_timer_init(&r->loop, &guard);
    uv_timer_start(&guard, on_guard, 5000, 0);
    if (out) {
        uv_poll_init(&r->loop, &poll, r->master);
        poll.data = &k;
        uv_poll_start(&poll, UV_READABLE, on_master);
    }
    r->want = want;
    if (!strstr(r->log, want))
        uv_run(&r->loop, UV_RUN_DEFAULT);
    r->want = NULL;
    ck_assert_msg(strstr(r->log, want), "waiting for '%s', log: %s", want, r->log);
    if (out)
        uv_close((uv_handle_t *)&poll, on_closed);
    uv_close((uv_handle_t *)&guard, on_closed);
    uv_run(&r->loop, UV_RUN_NOWAIT);
}

/* Reads the master until it has given `want` bytes in all. */
static void read_master(struct rec *r, uint8_t *out, size_t *nout, size_t want)
{
    while (*nout < want) {
        struct pollfd pfd = {.fd = r->master, .events = POLLIN};
        ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
        ssize_t n = read(r->master, out + *nout, want - *nout);
        ck_assert_int_gt(n, 0);
        *nout += (size_t)n;
    }
}

START_TEST(test_units_in_order)
{
    struct rec r;
    struct fwup_cfg_link l;
    char path[64];
    setup(&r, &l, path);
    /* Link info: what the port was opened with. */
    const struct fwup_link_info *info = fwup_link_info(r.link);
    ck_assert_uint_eq(info->kind, FWUP_LINK_SERIAL);
    ck_assert_str_eq(info->name, "l0");
    ck_assert_ptr_nonnull(info->serial);
    ck_assert_ptr_null(info->can);
    ck_assert_uint_eq(info->serial->baud, 115200);
    ck_assert_int_eq(info->serial->parity, 'N');
    ck_assert_uint_eq(info->serial->data_bits, 8);
    ck_assert_uint_eq(info->serial->stop_bits, 1);
    ck_assert_int_ge(fwup_link_fd(r.link), 0);

    /* 300 KiB in the second unit: more than the pty holds, so it goes out
     * in pieces as the master reads, yet completes once, in order. */
    size_t big = 300 * 1024, nout = 0, total = big + 6;
    uint8_t *data = malloc(big), *out = malloc(total);
    for (size_t i = 0; i < big; i++)
        data[i] = (uint8_t)(i * 7 + 3);
    ck_assert_int_eq(submit(&r, 1, FWUP_SUBMIT_NOTIFY, "abc", 3, 0), 0);
    ck_assert_int_eq(submit(&r, 2, FWUP_SUBMIT_NOTIFY, data, big, 0), 0);
    ck_assert_int_eq(submit(&r, 3, 0, "de", 2, 0), 0); /* no completion asked */
    /* (ON_WIRE here would wait the 27 s 300 KiB take at 115200 baud.) */
    ck_assert_int_eq(submit(&r, 4, FWUP_SUBMIT_NOTIFY, "f", 1, 0), 0);
    ck_assert_str_eq(r.log, ""); /* nothing from inside submit */
    run_until(&r, "c4:0 ", out, &nout, total);
    ck_assert_str_eq(r.log, "c1:0 c2:0 c4:0 ");
    read_master(&r, out, &nout, total);
    ck_assert_int_eq(memcmp(out, "abc", 3), 0);
    ck_assert_int_eq(memcmp(out + 3, data, big), 0);
    ck_assert_int_eq(memcmp(out + 3 + big, "def", 3), 0);

    /* Received bytes arrive as BYTES units. */
    ck_assert_int_eq(write(r.master, "xyz", 3), 3);
    run_until(&r, "r3 ", NULL, NULL, 0);
    ck_assert_int_eq(memcmp(r.rx, "xyz", 3), 0);
    /* A zero-length unit completes too; a unit of another kind is refused. */
    ck_assert_int_eq(submit(&r, 8, FWUP_SUBMIT_NOTIFY, NULL, 0, 0), 0);
    run_until(&r, "c8:0 ", NULL, NULL, 0);
    struct fwup_unit frame = {.struct_size = sizeof frame, .kind = FWUP_UNIT_CAN};
    ck_assert_int_eq(fwup_link_submit(r.link, &frame), -1);
    ck_assert_int_eq(submit(&r, 6, 0, NULL, 3, 0), -1);
    ck_assert_int_eq(control(&r, FWUP_CTL_USB_RESET, 7, 0), -1);
    free(data);
    free(out);
    teardown(&r);
}
END_TEST

/* ON_WIRE on a pty: its output queue is empty once the kernel took the
 * bytes (the pty has no transmitter), yet the device behind it may read at
 * the line rate: the completion comes no sooner than the block's nominal
 * wire time, and the NOTIFY unit behind it completes after it, in order. */
START_TEST(test_on_wire)
{
    struct rec r;
    struct fwup_cfg_link l;
    char path[64];
    setup(&r, &l, path);
    static const uint8_t block[1029] = {1, 2, 3};
    ck_assert_int_eq(submit(&r, 1, FWUP_SUBMIT_ON_WIRE, block, sizeof block, 0), 0);
    ck_assert_int_eq(submit(&r, 2, FWUP_SUBMIT_NOTIFY, "E", 1, 0), 0);
    uint64_t t0 = uv_now(&r.loop);
    run_until(&r, "c2:0 ", NULL, NULL, 0);
    ck_assert_str_eq(r.log, "c1:0 c2:0 ");
    /* 1030 bytes at 115200 baud, 10 bits each: 89.4 ms. */
    ck_assert_uint_ge(uv_now(&r.loop) - t0, 89);
    ck_assert_uint_lt(uv_now(&r.loop) - t0, 1000);
    teardown(&r);
}
END_TEST

static void on_peek(uv_timer_t *t)
{
    struct rec *r = t->data;
    ck_assert_int_eq(ioctl(r->master, FIONREAD, &r->peeked), 0);
    uv_close((uv_handle_t *)t, NULL);
}

/* Bytes submitted after a BREAK wait for it: A, break, B on the wire. */
START_TEST(test_break_ordered)
{
    struct rec r;
    struct fwup_cfg_link l;
    char path[64];
    uint8_t out[8];
    size_t nout = 0;
    setup(&r, &l, path);
    uv_timer_t peek;
    uv_timer_init(&r.loop, &peek);
    peek.data = &r;
    uv_timer_start(&peek, on_peek, 30, 0); /* in the middle of the break */
    ck_assert_int_eq(submit(&r, 1, 0, "A", 1, 0), 0);
    ck_assert_int_eq(control(&r, FWUP_CTL_BREAK, 2, 60), 1);
    ck_assert_int_eq(submit(&r, 3, FWUP_SUBMIT_NOTIFY, "B", 1, 0), 0);
    uint64_t t0 = uv_now(&r.loop);
    run_until(&r, "c2:0 ", NULL, NULL, 0);
    ck_assert_uint_ge(uv_now(&r.loop) - t0, 60);
    ck_assert_int_eq(r.peeked, 1); /* B held back during the break */
    run_until(&r, "c3:0 ", NULL, NULL, 0);
    ck_assert_str_eq(r.log, "c2:0 c3:0 ");
    read_master(&r, out, &nout, 2);
    ck_assert_int_eq(memcmp(out, "AB", 2), 0);
    ck_assert_int_eq(control(&r, FWUP_CTL_FLUSH_RX, 4, 0), 0);
    teardown(&r);
}
END_TEST

/* A unit the port cannot take in time completes TIMEOUT; the next one,
 * with the host default, still completes once the bytes go. */
START_TEST(test_timeout)
{
    struct rec r;
    struct fwup_cfg_link l;
    char path[64];
    setup(&r, &l, path);
    size_t big = 1 << 20;
    uint8_t *data = calloc(1, big);
    ck_assert_int_eq(submit(&r, 1, FWUP_SUBMIT_NOTIFY, data, big, 50), 0);
    ck_assert_int_eq(submit(&r, 2, FWUP_SUBMIT_NOTIFY, "z", 1, 0), 0);
    uint64_t t0 = uv_now(&r.loop);
    run_until(&r, "c1:", NULL, NULL, 0); /* nobody reads the master */
    ck_assert_str_eq(r.log, "c1:2 ");
    ck_assert_uint_ge(uv_now(&r.loop) - t0, 50);
    size_t nout = 0;
    uint8_t *sink = malloc(big + 1);
    run_until(&r, "c2:0 ", sink, &nout, big + 1);
    free(sink);
    free(data);
    teardown(&r);
}
END_TEST

/* The peer hangs up: pending units complete LINK_GONE, then the link is
 * down, and takes nothing more. */
START_TEST(test_hangup)
{
    struct rec r;
    struct fwup_cfg_link l;
    char path[64];
    setup(&r, &l, path);
    uint8_t *data = calloc(1, 1 << 20);
    ck_assert_int_eq(submit(&r, 1, FWUP_SUBMIT_NOTIFY, data, 1 << 20, 0), 0);
    ck_assert_int_eq(submit(&r, 2, FWUP_SUBMIT_ON_WIRE, "x", 1, 0), 0);
    close(r.master);
    r.master = -1;
    run_until(&r, "down", NULL, NULL, 0);
    ck_assert_str_eq(r.log, "c1:3 c2:3 down ");
    ck_assert_int_eq(submit(&r, 3, 0, "y", 1, 0), -1);
    ck_assert_int_eq(control(&r, FWUP_CTL_FLUSH_RX, 4, 0), -1);
    free(data);
    teardown(&r);
}
END_TEST

/* Closing inside a completion: no further callbacks. */
static void close_on_complete(void *ctx, uint32_t tag, enum fwup_status st, const uint8_t *d,
                              size_t len)
{
    struct rec *r = ctx;
    on_complete(ctx, tag, st, d, len);
    fwup_link_close(r->link);
    r->link = NULL;
}

START_TEST(test_close_in_callback)
{
    struct rec r;
    struct fwup_cfg_link l;
    char path[64];
    setup(&r, &l, path);
    fwup_link_close(r.link);
    static const struct fwup_link_callbacks cb2 = {on_rx, close_on_complete, on_down, NULL, NULL};
    char err[256];
    ck_assert_int_eq(fwup_link_open(&r.loop, &l, &dev, NULL, &cb2, &r, &r.link, err, sizeof err),
                     0);
    ck_assert_int_eq(submit(&r, 1, FWUP_SUBMIT_NOTIFY, "a", 1, 0), 0);
    ck_assert_int_eq(submit(&r, 2, FWUP_SUBMIT_NOTIFY, "b", 1, 0), 0);
    run_until(&r, "c1:0 ", NULL, NULL, 0);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    ck_assert_str_eq(r.log, "c1:0 ");
    teardown(&r);
}
END_TEST

/* A protocol's 8E1 applies to a link that leaves parity open; a pty cannot
 * keep it, and the refusal says where the parity came from. An explicit
 * parity on the link wins. */
START_TEST(test_framing_from_req)
{
    struct rec r;
    struct fwup_cfg_link l;
    char path[64], err[512] = "";
    setup(&r, &l, path);
    fwup_link_close(r.link);
    r.link = NULL;
    struct fwup_link_req req = {.struct_size = sizeof req, .framing = "8E1", .usb_alt = -1};
    struct fwup_link *link = NULL;
    l.parity_set = 0;
    ck_assert_int_eq(fwup_link_open(&r.loop, &l, &dev, &req, &cbs, &r, &link, err, sizeof err),
                     FWUP_LINK_EPERM);
    ck_assert_ptr_null(link);
    ck_assert_msg(strstr(err, "l0: cannot set 8E1 on ") &&
                      strstr(err, "(parity even, implied by protocol xmodem; set parity: none on "
                                  "the link to override)"),
                  "%s", err);
    l.parity_set = 1; /* parity: none */
    ck_assert_int_eq(fwup_link_open(&r.loop, &l, &dev, &req, &cbs, &r, &link, err, sizeof err), 0);
    ck_assert_int_eq(fwup_link_info(link)->serial->parity, 'N');
    fwup_link_close(link);
    /* Not a framing at all: permanent, naming the protocol. */
    l.parity_set = 0;
    memcpy(req.framing, "8X1", 4);
    ck_assert_int_eq(fwup_link_open(&r.loop, &l, &dev, &req, &cbs, &r, &link, err, sizeof err),
                     FWUP_LINK_EPERM);
    ck_assert_str_eq(err, "l0: protocol xmodem asks for framing '8X1', not like 8N1 or 8E1");
    /* A port that is not there may come back: transient. */
    l.path = "/nonexistent/tty";
    ck_assert_int_eq(fwup_link_open(&r.loop, &l, &dev, NULL, &cbs, &r, &link, err, sizeof err), -1);
    ck_assert_str_eq(err, "/nonexistent/tty: No such file or directory");
    teardown(&r);
}
END_TEST

/* Stop bits reach the port and the link info: two set CSTOPB, one clears
 * it (a pty keeps the flag, so the port's own settings are checked). */
START_TEST(test_stop_bits)
{
    struct rec r;
    struct fwup_cfg_link l;
    char path[64], err[512] = "";
    setup(&r, &l, path);
    fwup_link_close(r.link);
    r.link = NULL;
    for (unsigned stop = 2;; stop = 1) {
        struct fwup_link *link = NULL;
        l.stop_bits = stop;
        ck_assert_int_eq(fwup_link_open(&r.loop, &l, &dev, NULL, &cbs, &r, &link, err, sizeof err),
                         0);
        struct termios t;
        ck_assert_int_eq(tcgetattr(fwup_link_fd(link), &t), 0);
        ck_assert_msg(((t.c_cflag & CSTOPB) != 0) == (stop == 2), "stop bits %u: c_cflag %#lx",
                      stop, (unsigned long)t.c_cflag);
        ck_assert_uint_eq(fwup_link_info(link)->serial->stop_bits, stop);
        fwup_link_close(link);
        if (stop == 1)
            break;
    }
    teardown(&r);
}
END_TEST

START_TEST(test_unsupported_kinds)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct fwup_cfg_link can = {.name = "bus0", .type = FWUP_LINK_CAN},
                         usb = {.name = "u0", .type = FWUP_LINK_USB};
    struct fwup_link *link = (void *)1;
    char err[256];
    ck_assert_int_eq(fwup_link_open(&loop, &can, &dev, NULL, &cbs, NULL, &link, err, sizeof err),
                     -1);
    ck_assert_ptr_null(link);
    ck_assert_str_eq(err, "link 'bus0': can links are not supported yet in this build");
    ck_assert_int_eq(fwup_link_open(&loop, &usb, &dev, NULL, &cbs, NULL, &link, err, sizeof err),
                     -1);
    ck_assert_str_eq(err, "link 'u0': usb links are not supported yet in this build");
    uv_loop_close(&loop);
}
END_TEST

START_TEST(test_kind_for)
{
    static const struct {
        uint32_t link_type;
        int ids;
        uint32_t transports;
        enum fwup_link_kind want;
        const char *err;
    } cases[] = {
        {FWUP_LINK_SERIAL, 0, FWUP_TRANSPORT_SERIAL, FWUP_LINK_SERIAL, NULL},
        {FWUP_LINK_SERIAL, 0, FWUP_TRANSPORT_SERIAL | FWUP_TRANSPORT_USB, FWUP_LINK_SERIAL, NULL},
        {FWUP_LINK_SERIAL, 0, FWUP_TRANSPORT_CAN | FWUP_TRANSPORT_USB, FWUP_LINK_NONE,
         "protocol 'p' cannot run on serial link 'l' (it runs on: can, usb)"},
        {FWUP_LINK_SERIAL, 0, 0, FWUP_LINK_NONE,
         "protocol 'p' cannot run on serial link 'l' (it runs on: no link kind)"},
        {FWUP_LINK_USB, 0, FWUP_TRANSPORT_USB, FWUP_LINK_USB, NULL},
        {FWUP_LINK_USB, 0, FWUP_TRANSPORT_SERIAL, FWUP_LINK_NONE,
         "protocol 'p' cannot run on usb link 'l' (it runs on: serial)"},
        {FWUP_LINK_CAN, 0, FWUP_TRANSPORT_CAN, FWUP_LINK_CAN, NULL},
        {FWUP_LINK_CAN, 1, FWUP_TRANSPORT_CAN, FWUP_LINK_CAN, NULL},
        {FWUP_LINK_CAN, 1, FWUP_TRANSPORT_ISOTP, FWUP_LINK_ISOTP, NULL},
        {FWUP_LINK_CAN, 0, FWUP_TRANSPORT_ISOTP, FWUP_LINK_NONE,
         "protocol 'p' runs on ISO-TP over can link 'l': the device needs 'tx_id' and 'rx_id'"},
        {FWUP_LINK_CAN, 1, FWUP_TRANSPORT_ISOTP | FWUP_TRANSPORT_CAN, FWUP_LINK_ISOTP, NULL},
        {FWUP_LINK_CAN, 0, FWUP_TRANSPORT_ISOTP | FWUP_TRANSPORT_CAN, FWUP_LINK_CAN, NULL},
        {FWUP_LINK_CAN, 0, FWUP_TRANSPORT_SERIAL, FWUP_LINK_NONE,
         "protocol 'p' cannot run on can link 'l' (it runs on: serial)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fwup_cfg_link l = {.name = "l", .type = cases[i].link_type};
        struct fwup_cfg_device d = {.id = "d", .protocol = "p"};
        d.can.set = cases[i].ids;
        char err[256] = "";
        ck_assert_int_eq(fwup_link_kind_for(&l, &d, cases[i].transports, err, sizeof err),
                         cases[i].want);
        ck_assert_str_eq(err, cases[i].err ? cases[i].err : "");
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("link_serial");
    TCase *tc = tcase_create("serial");
    tcase_add_test(tc, test_units_in_order);
    tcase_add_test(tc, test_on_wire);
    tcase_add_test(tc, test_break_ordered);
    tcase_add_test(tc, test_timeout);
    tcase_add_test(tc, test_hangup);
    tcase_add_test(tc, test_close_in_callback);
    tcase_add_test(tc, test_framing_from_req);
    tcase_add_test(tc, test_stop_bits);
    tcase_add_test(tc, test_unsupported_kinds);
    tcase_add_test(tc, test_kind_for);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
