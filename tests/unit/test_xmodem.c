/*
 * XMODEM sender engine: CRC vector, direct engine checks with a mock host,
 * the device model on its own, and engine + device over the virtual-clock
 * link with every kind of fault.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fwupgw/protocol.h>

#include "common/crc16.h"
#include "mockhost.h"
#include "simdev.h"
#include "simlink.h"
#include "testjob.h"

extern const struct fwup_protocol FWUP_PROTOCOL_SYMBOL;
#define PROTO (&FWUP_PROTOCOL_SYMBOL)

#define SOH 0x01
#define STX 0x02
#define EOT 0x04
#define ACK 0x06
#define NAK 0x15
#define CAN 0x18

/* ---- helpers ---- */

/* One segment of `len` random bytes at 0x08000000, then options as
 * "name", "value" pairs ending with NULL. */
#define job_init(j, len, seed, ...) testjob_init(j, "dev1", 0x08000000, len, seed, __VA_ARGS__)

static void base_cfg(struct simlink_config *c, const struct testjob *j, const char *devopts)
{
    memset(c, 0, sizeof(*c));
    c->proto = PROTO;
    c->params = &j->params;
    c->dev_class = testjob_device("xmodem");
    c->dev_options = devopts;
    c->seed = 1;
}

static void run_ok(const struct simlink_config *c, struct simlink_result *r)
{
    ck_assert_int_eq(simlink_run(c, r), 0);
    ck_assert_msg(r->engine_finished, "engine did not finish: %s", r->message);
    ck_assert_msg(r->result == FWUP_RESULT_OK, "result %d: %s", r->result, r->message);
    ck_assert_uint_eq(r->protocol_errors, 0);
    ck_assert_int_eq(r->dev_state, SIMDEV_COMPLETE);
    ck_assert_uint_eq(r->dev_completions, 1);
    ck_assert_str_eq(r->last_phase, "finish");
}

/* The device got the image, then only `pad` up to a 128-byte boundary. */
static void check_content(const struct simlink_result *r, const uint8_t *img, size_t len,
                          uint8_t pad)
{
    size_t want = (len + 127) / 128 * 128;
    ck_assert_uint_eq(r->dev_content_len, want);
    ck_assert_int_eq(memcmp(r->dev_content, img, len), 0);
    for (size_t i = len; i < want; i++)
        ck_assert_uint_eq(r->dev_content[i], pad);
}

static size_t nblocks(size_t len, size_t bs)
{
    return (len + bs - 1) / bs;
}

/* Wire bytes of a clean 1K-CRC transfer: 1K blocks while more than 896
 * bytes are left, then 128-byte blocks (sx -k's rule), then EOT. */
static uint64_t wire_1k(size_t len)
{
    uint64_t bytes = 0;
    size_t left = len;
    while (left > 0) {
        size_t bs = left > 896 ? 1024 : 128;
        bytes += 3 + bs + 2;
        left = left > bs ? left - bs : 0;
    }
    return bytes + 1;
}

/* ---- CRC ---- */

START_TEST(test_crc16_vector)
{
    const uint8_t *s = (const uint8_t *)"123456789";
    ck_assert_uint_eq(fwup_crc16_ccitt(0, s, 9), 0x31C3);
    /* incremental == one shot */
    ck_assert_uint_eq(fwup_crc16_ccitt(fwup_crc16_ccitt(0, s, 4), s + 4, 5), 0x31C3);
    ck_assert_uint_eq(fwup_crc16_ccitt(0, s, 0), 0);
}
END_TEST

/* ---- descriptor and check_image ---- */

START_TEST(test_descriptor)
{
    ck_assert_uint_eq(PROTO->abi_version, FWUP_PROTOCOL_ABI_VERSION);
    ck_assert_uint_eq(PROTO->struct_size, sizeof(struct fwup_protocol));
    ck_assert_str_eq(PROTO->name, "xmodem");
    ck_assert(PROTO->transports & FWUP_TRANSPORT_SERIAL);
    const char *want[] = {"mode",    "block",         "ymodem",        "pad",
                          "retries", "start_timeout", "block_timeout", "eot_retry"};
    ck_assert_uint_eq(PROTO->noptions, 8);
    for (size_t i = 0; i < 8; i++)
        ck_assert_str_eq(PROTO->options[i].name, want[i]);
}
END_TEST

START_TEST(test_check_image)
{
    char err[256];
    struct testjob j;
    job_init(&j, 1000, 1, NULL);
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), 0);
    j.params.flash_size = 1000;
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), 0);
    j.params.flash_size = 999;
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "flash"));

    /* sparse: the gap counts against the flash size */
    j.seg[0].len = 10;
    j.seg[1] = (struct fwup_segment){0x08000000 + 2000, 10, j.data, -1};
    j.img.nsegments = 2;
    j.img.total = 20;
    j.params.flash_size = 2009;
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), -1);
    j.params.flash_size = 2010;
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), 0);

    j.img.nsegments = 0;
    j.img.total = 0;
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "empty"));
    testjob_free(&j);

    job_init(&j, 10, 1, "block", "512", NULL);
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), -1);
    ck_assert_ptr_null(PROTO->create(&j.params, NULL, NULL, err, sizeof(err)));
    testjob_free(&j);
    job_init(&j, 10, 1, "retries", "0", NULL);
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), -1);
    testjob_free(&j);
    job_init(&j, 10, 1, "pad", "0xff", "mode", "checksum", "ymodem", "yes", NULL);
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), 0);
    testjob_free(&j);
}
END_TEST

/* ---- engine against a scripted mock host ---- */

static void event(struct fwup_engine *e, struct fwup_event ev)
{
    mockhost_event(PROTO, e, ev);
}
static void feed(struct fwup_engine *e, const char *s, size_t n)
{
    mockhost_rx(PROTO, e, s, n);
}
static void ev_start(struct fwup_engine *e)
{
    mockhost_start(PROTO, e);
}
static void ev_timer(struct fwup_engine *e)
{
    mockhost_timer(PROTO, e, 0);
}
static void ev_cancel(struct fwup_engine *e)
{
    mockhost_cancel(PROTO, e);
}
/* The last unit sent has left the UART. */
static void on_wire(struct fwup_engine *e, const struct mockhost *m)
{
    mockhost_complete(PROTO, e, m->wire_tag, FWUP_STATUS_OK);
}

START_TEST(test_engine_garbage_and_duplicate_start)
{
    struct testjob j;
    struct mockhost m = {0};
    char err[128];
    job_init(&j, 300, 7, "block", "128", NULL);
    struct fwup_engine *e = PROTO->create(&j.params, &mockhost_ops, &m, err, sizeof(err));
    ck_assert_ptr_nonnull(e);
    ev_start(e);
    ck_assert_uint_eq(m.timer, 60000);
    feed(e, "U-Boot> \r\n", 10); /* a banner is not a start byte */
    ck_assert_uint_eq(m.nsent, 0);
    ck_assert_int_eq(m.flushes, 0);
    feed(e, "C", 1);
    ck_assert_int_eq(m.flushes, 1);
    ck_assert_uint_eq(m.nsent, 133);
    ck_assert_uint_eq(m.sent[0], SOH);
    ck_assert_uint_eq(m.sent[1], 1);
    ck_assert_uint_eq(m.sent[2], 0xfe);
    ck_assert_int_eq(memcmp(m.sent + 3, j.data, 128), 0);
    uint16_t crc = fwup_crc16_ccitt(0, j.data, 128);
    ck_assert_uint_eq(m.sent[131], crc >> 8);
    ck_assert_uint_eq(m.sent[132], crc & 0xff);
    ck_assert_uint_eq(m.timer, 0); /* the answer's timeout starts on the wire */
    on_wire(e, &m);
    ck_assert_uint_eq(m.timer, 10000);
    /* repeated start bytes and noise while block 1 is in flight: nothing */
    feed(e, "CCxyz\x18q", 7); /* a lone CAN is noise too */
    ck_assert_uint_eq(m.nsent, 133);
    feed(e, "\x06", 1);
    ck_assert_uint_eq(m.nsent, 266);
    ck_assert_uint_eq(m.sent[133 + 1], 2);
    /* NAK: same block again */
    feed(e, "\x15", 1);
    ck_assert_uint_eq(m.nsent, 399);
    ck_assert_int_eq(memcmp(m.sent + 133, m.sent + 266, 133), 0);
    /* timeout: flush stale input, listen a while, then the same block again */
    on_wire(e, &m);
    ev_timer(e);
    ck_assert_int_eq(m.flushes, 2);
    ck_assert_uint_eq(m.nsent, 399);
    ck_assert_uint_eq(m.timer, 1000);
    ev_timer(e);
    ck_assert_uint_eq(m.nsent, 532);
    ck_assert_int_eq(memcmp(m.sent + 133, m.sent + 399, 133), 0);
    feed(e, "\x06", 1);
    /* block 3: 44 bytes of image then pad 0x1A */
    ck_assert_uint_eq(m.nsent, 665);
    ck_assert_int_eq(memcmp(m.sent + 532 + 3, j.data + 256, 44), 0);
    ck_assert_uint_eq(m.sent[532 + 3 + 44], 0x1a);
    ck_assert_uint_eq(m.sent[532 + 3 + 127], 0x1a);
    feed(e, "\x06", 1);
    ck_assert_uint_eq(m.nsent, 666);
    ck_assert_uint_eq(m.sent[665], EOT);
    on_wire(e, &m);
    ck_assert_uint_eq(m.timer, 2000);
    ck_assert(!m.finished);
    feed(e, "\x06", 1);
    ck_assert(m.finished);
    ck_assert_int_eq(m.result, FWUP_RESULT_OK);
    ck_assert_int_eq(m.calls_after_finish, 0);
    PROTO->destroy(e);
    testjob_free(&j);
}
END_TEST

START_TEST(test_engine_checksum_and_retries)
{
    struct testjob j;
    struct mockhost m = {0};
    char err[128];
    job_init(&j, 100, 3, "retries", "3", NULL);
    struct fwup_engine *e = PROTO->create(&j.params, &mockhost_ops, &m, err, sizeof(err));
    ck_assert_ptr_nonnull(e);
    ev_start(e);
    feed(e, "\x15", 1); /* NAK start: checksum mode, so 128-byte blocks despite block=1k */
    ck_assert_uint_eq(m.nsent, 132);
    ck_assert_uint_eq(m.sent[0], SOH);
    uint8_t sum = 0;
    for (size_t i = 0; i < 128; i++)
        sum = (uint8_t)(sum + m.sent[3 + i]);
    ck_assert_uint_eq(m.sent[131], sum);
    feed(e, "\x15", 1); /* failure 1: on block 1 it may be stale, so a resync window */
    ck_assert_uint_eq(m.nsent, 132);
    feed(e, "\x15", 1); /* the receiver asks again in the window: resend */
    ck_assert_uint_eq(m.nsent, 2 * 132);
    on_wire(e, &m);
    ev_timer(e); /* failure 2: resync window */
    ck_assert_uint_eq(m.nsent, 2 * 132);
    feed(e, "\x15", 1); /* the receiver's NAK in the window: resend, not a new failure */
    ck_assert_uint_eq(m.nsent, 3 * 132);
    ck_assert(!m.finished);
    feed(e, "\x15", 1); /* failure 3: give up */
    ck_assert(m.finished);
    ck_assert_int_eq(m.result, FWUP_RESULT_TRANSIENT);
    ck_assert_ptr_nonnull(strstr(m.msg, "block 1"));
    /* the receiver was told: at least two CANs at the end */
    ck_assert_uint_ge(m.nsent, 3 * 132 + 2);
    ck_assert_uint_eq(m.sent[3 * 132], CAN);
    ck_assert_uint_eq(m.sent[3 * 132 + 1], CAN);
    ck_assert_int_eq(m.calls_after_finish, 0);
    PROTO->destroy(e);
    testjob_free(&j);
}
END_TEST

/* YMODEM: after block 0 is ACKed the receiver must ask for data with 'C';
 * the sender waits `retries` block timeouts for it, then gives up. */
START_TEST(test_engine_ymodem_wait_for_c)
{
    for (unsigned retries = 1; retries <= 3; retries++) {
        struct testjob j;
        struct mockhost m = {0};
        char err[128], r[4];
        snprintf(r, sizeof(r), "%u", retries);
        job_init(&j, 100, 3, "ymodem", "yes", "retries", r, NULL);
        struct fwup_engine *e = PROTO->create(&j.params, &mockhost_ops, &m, err, sizeof(err));
        ck_assert_ptr_nonnull(e);
        ev_start(e);
        feed(e, "C", 1);
        size_t header = m.nsent;
        ck_assert_uint_gt(header, 0);
        on_wire(e, &m);
        feed(e, "\x06", 1); /* block 0 ACKed: now the 'C' is awaited */
        unsigned timeouts = 0;
        while (!m.finished && timeouts < 10) {
            ck_assert_uint_eq(m.nsent, header); /* nothing sent meanwhile */
            ev_timer(e);
            timeouts++;
        }
        ck_assert_uint_eq(timeouts, retries);
        ck_assert_int_eq(m.result, FWUP_RESULT_TRANSIENT);
        ck_assert_str_eq(m.msg, "xmodem: YMODEM receiver did not ask for more");
        ck_assert_int_eq(m.calls_after_finish, 0);
        PROTO->destroy(e);
        testjob_free(&j);
    }
}
END_TEST

START_TEST(test_engine_host_cancel)
{
    struct testjob j;
    struct mockhost m = {0};
    char err[128];
    job_init(&j, 100, 3, NULL);
    struct fwup_engine *e = PROTO->create(&j.params, &mockhost_ops, &m, err, sizeof(err));
    ev_start(e);
    feed(e, "C", 1);
    size_t before = m.nsent;
    ev_cancel(e);
    ck_assert(m.finished);
    ck_assert_int_eq(m.result, FWUP_RESULT_CANCELLED);
    ck_assert_uint_ge(m.nsent - before, 2);
    ck_assert_uint_eq(m.sent[before], CAN);
    ck_assert_uint_eq(m.sent[before + 1], CAN);
    ck_assert_uint_eq(m.timer, 0);
    ck_assert_int_eq(m.calls_after_finish, 0);
    PROTO->destroy(e);
    testjob_free(&j);
}
END_TEST

/* A receiver that has waited before the job left its start bytes queued on
 * the line ('C' three times, then NAK after falling back to checksum). */
static struct fwup_engine *start_with_backlog(struct testjob *j, struct mockhost *m,
                                              const char *burst)
{
    char err[128];
    struct fwup_engine *e = PROTO->create(&j->params, &mockhost_ops, m, err, sizeof(err));
    ck_assert_ptr_nonnull(e);
    ev_start(e);
    feed(e, burst, strlen(burst));
    return e;
}

START_TEST(test_engine_stale_start_burst)
{
    struct testjob j;
    struct mockhost m = {0};
    job_init(&j, 2000, 40, NULL);
    /* the latest start byte is NAK: checksum mode, 128-byte blocks, and
     * one copy of block 1, however many stale bytes came before */
    struct fwup_engine *e = start_with_backlog(&j, &m, "CCC\x15\x15\x15\x15\x15\x15\x15");
    ck_assert_uint_eq(m.nsent, 132);
    ck_assert_uint_eq(m.sent[0], SOH);
    ck_assert_uint_eq(m.sent[1], 1);
    ck_assert_int_eq(m.flushes, 1); /* what is still queued behind them is older than block 1 */
    /* a NAK already in flight when block 1 left: no second copy yet */
    feed(e, "\x15", 1);
    ck_assert_uint_eq(m.nsent, 132);
    ck_assert_uint_eq(m.timer, 1000);
    /* the receiver did get block 1: its ACK moves on to block 2 */
    feed(e, "\x06", 1);
    ck_assert_uint_eq(m.nsent, 2 * 132);
    ck_assert_uint_eq(m.sent[132 + 1], 2);
    ck_assert(!m.finished);
    PROTO->destroy(e);

    /* the latest is 'C': CRC and 1K blocks */
    memset(&m, 0, sizeof(m));
    e = start_with_backlog(&j, &m,
                           "\x15\x15\x15"
                           "CC");
    ck_assert_uint_eq(m.nsent, 1029);
    ck_assert_uint_eq(m.sent[0], STX);
    ck_assert_int_eq(m.flushes, 1);
    PROTO->destroy(e);
    testjob_free(&j);

    /* a forced mode takes the latest start byte of its own kind */
    job_init(&j, 2000, 40, "mode", "crc", NULL);
    memset(&m, 0, sizeof(m));
    e = start_with_backlog(&j, &m, "CC\x15\x15");
    ck_assert_uint_eq(m.nsent, 1029);
    PROTO->destroy(e);
    testjob_free(&j);
    job_init(&j, 2000, 40, "mode", "checksum", NULL);
    memset(&m, 0, sizeof(m));
    e = start_with_backlog(&j, &m,
                           "\x15"
                           "CC");
    ck_assert_uint_eq(m.nsent, 132);
    PROTO->destroy(e);
    /* CAN CAN in the backlog still ends the job */
    memset(&m, 0, sizeof(m));
    e = start_with_backlog(&j, &m, "\x15\x18\x18");
    ck_assert(m.finished);
    ck_assert_int_eq(m.result, FWUP_RESULT_TRANSIENT);
    ck_assert_uint_eq(m.nsent, 0);
    PROTO->destroy(e);
    /* but not one the receiver sent before it started over */
    memset(&m, 0, sizeof(m));
    e = start_with_backlog(&j, &m, "\x18\x18\x18\x18\b\b\b\bCC\x15");
    ck_assert(!m.finished);
    ck_assert_uint_eq(m.nsent, 132);
    PROTO->destroy(e);
    testjob_free(&j);
}
END_TEST

START_TEST(test_engine_first_block_genuine_nak)
{
    /* A NAK after block 1 has fully left may be a real rejection: block 1
     * goes again, once, after the resync window; NAKs during the guard that
     * follows predate the new copy. */
    struct testjob j;
    struct mockhost m = {0};
    job_init(&j, 300, 41, "block", "128", NULL);
    struct fwup_engine *e = start_with_backlog(&j, &m, "C");
    ck_assert_uint_eq(m.nsent, 133);
    on_wire(e, &m);
    feed(e, "\x15", 1);
    ck_assert_uint_eq(m.nsent, 133);
    ck_assert_int_eq(m.flushes, 2);
    ev_timer(e); /* the window ends quietly: resend */
    ck_assert_uint_eq(m.nsent, 266);
    ck_assert_int_eq(memcmp(m.sent, m.sent + 133, 133), 0);
    ck_assert_uint_eq(m.timer, 500);
    feed(e, "\x15", 1); /* guard */
    ck_assert_uint_eq(m.nsent, 266);
    feed(e, "\x06", 1);
    ck_assert_uint_eq(m.nsent, 399);
    ck_assert_uint_eq(m.sent[266 + 1], 2);
    /* block 2 is not the first: a NAK there is answered at once, as before */
    feed(e, "\x15", 1);
    ck_assert_uint_eq(m.nsent, 532);
    ck_assert_int_eq(memcmp(m.sent + 266, m.sent + 399, 133), 0);
    PROTO->destroy(e);
    testjob_free(&j);
}
END_TEST

/* What the engine does with its units' completions: only the latest unit's
 * starts the answer's timeout; one that could not leave counts as a timeout;
 * a lost link ends the job; events it does not know change nothing. */
START_TEST(test_engine_completions)
{
    struct testjob j;
    struct mockhost m = {0};
    job_init(&j, 600, 42, "block", "128", NULL);
    struct fwup_engine *e = start_with_backlog(&j, &m, "C");
    uint32_t t1 = m.wire_tag;
    event(e, (struct fwup_event){.type = 99});                           /* a later ABI's event */
    event(e, (struct fwup_event){.type = FWUP_EV_TIMER, .timer_id = 5}); /* not armed */
    ck_assert_uint_eq(m.nsent, 133);
    ck_assert_uint_eq(m.timer, 0);
    ck_assert(!m.finished);
    on_wire(e, &m);
    feed(e, "\x06", 1);
    /* block 2, NAKed before it is on the wire: a second copy */
    uint32_t t2 = m.wire_tag;
    feed(e, "\x15", 1);
    ck_assert_uint_eq(m.nsent, 3 * 133);
    ck_assert_uint_ne(m.wire_tag, t2);
    ck_assert_uint_ne(t2, t1);
    event(e, (struct fwup_event){.type = FWUP_EV_COMPLETE, .tag = t2, .status = FWUP_STATUS_OK});
    ck_assert_uint_eq(m.timer, 0); /* the first copy's: still waiting for the second */
    on_wire(e, &m);
    ck_assert_uint_eq(m.timer, 10000);
    feed(e, "\x06", 1);
    /* block 3 never leaves: a failure, answered as a timeout is */
    int flushes = m.flushes;
    event(e, (struct fwup_event){
                 .type = FWUP_EV_COMPLETE, .tag = m.wire_tag, .status = FWUP_STATUS_TIMEOUT});
    ck_assert_int_eq(m.flushes, flushes + 1);
    ck_assert_uint_eq(m.timer, 1000);
    ck_assert(!m.finished);
    /* the link goes away under the resend */
    ev_timer(e);
    ck_assert_uint_eq(m.nsent, 5 * 133);
    event(e, (struct fwup_event){
                 .type = FWUP_EV_COMPLETE, .tag = m.wire_tag, .status = FWUP_STATUS_LINK_GONE});
    ck_assert(m.finished);
    ck_assert_int_eq(m.result, FWUP_RESULT_TRANSIENT);
    ck_assert_ptr_nonnull(strstr(m.msg, "link lost"));
    event(e, (struct fwup_event){.type = FWUP_EV_LINK_DOWN});
    ck_assert_int_eq(m.calls_after_finish, 0);
    PROTO->destroy(e);

    /* a link down while waiting for the receiver */
    memset(&m, 0, sizeof(m));
    e = PROTO->create(&j.params, &mockhost_ops, &m, (char[64]){0}, 64);
    ev_start(e);
    event(e, (struct fwup_event){.type = FWUP_EV_LINK_DOWN});
    ck_assert(m.finished);
    ck_assert_int_eq(m.result, FWUP_RESULT_TRANSIENT);
    ck_assert_uint_eq(m.timer, 0);
    PROTO->destroy(e);
    testjob_free(&j);
}
END_TEST

/* ---- device model alone ---- */

struct devio {
    uint8_t out[4096];
    size_t n;
    uint32_t timer;
};
static void dv_send(void *ctx, const uint8_t *d, size_t n)
{
    struct devio *io = ctx;
    ck_assert_uint_le(io->n + n, sizeof(io->out));
    memcpy(io->out + io->n, d, n);
    io->n += n;
}
static void dv_timer(void *ctx, uint32_t ms)
{
    ((struct devio *)ctx)->timer = ms;
}

static void make_block(uint8_t *b, uint8_t num, const uint8_t *data)
{
    b[0] = SOH;
    b[1] = num;
    b[2] = (uint8_t)~num;
    memcpy(b + 3, data, 128);
    uint16_t c = fwup_crc16_ccitt(0, data, 128);
    b[131] = (uint8_t)(c >> 8);
    b[132] = (uint8_t)c;
}

START_TEST(test_device_model_direct)
{
    const struct simdev_class *c = testjob_device("xmodem");
    struct devio io = {0};
    struct simdev_io ops = {dv_send, dv_timer};
    char err[128];
    ck_assert_ptr_null(c->create("bogus=1", &ops, &io, err, sizeof(err)));
    ck_assert_ptr_null(c->create("nak_blocks=1/x", &ops, &io, err, sizeof(err)));
    struct simdev *d = c->create("start_interval=500", &ops, &io, err, sizeof(err));
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(c->state(d), SIMDEV_IDLE);
    uint8_t data[256], blk[133];
    for (int i = 0; i < 256; i++)
        data[i] = (uint8_t)i;

    for (int round = 0; round < 2; round++) {
        io.n = 0;
        c->start(d);
        ck_assert_uint_eq(io.n, 1);
        ck_assert_uint_eq(io.out[0], 'C');
        ck_assert_uint_eq(io.timer, 500);
        /* three 'C's, then NAK (checksum fallback) */
        c->on_timer(d);
        c->on_timer(d);
        ck_assert_uint_eq(io.out[2], 'C');
        if (round == 1) {
            c->on_timer(d);
            ck_assert_uint_eq(io.out[3], NAK);
            break;
        }
        make_block(blk, 1, data);
        c->on_rx(d, blk, sizeof(blk));
        ck_assert_uint_eq(io.out[io.n - 1], ACK);
        ck_assert_int_eq(c->state(d), SIMDEV_BUSY);
        c->on_rx(d, blk, sizeof(blk)); /* duplicate: ACK, discarded */
        ck_assert_uint_eq(io.out[io.n - 1], ACK);
        make_block(blk, 2, data + 128);
        blk[50] ^= 1; /* bad CRC: purge then NAK */
        c->on_rx(d, blk, sizeof(blk));
        ck_assert_uint_eq(io.out[io.n - 1], ACK);
        c->on_timer(d);
        ck_assert_uint_eq(io.out[io.n - 1], NAK);
        blk[50] ^= 1;
        c->on_rx(d, blk, sizeof(blk));
        ck_assert_uint_eq(io.out[io.n - 1], ACK);
        uint8_t eot = EOT;
        c->on_rx(d, &eot, 1);
        ck_assert_uint_eq(io.out[io.n - 1], ACK);
        ck_assert_int_eq(c->state(d), SIMDEV_COMPLETE);
        ck_assert_uint_eq(c->completions(d), 1);
        size_t len;
        const uint8_t *content = c->content(d, &len);
        ck_assert_uint_eq(len, 256);
        ck_assert_int_eq(memcmp(content, data, 256), 0);
    }
    /* a new job: idle again, but the last content is kept */
    ck_assert_int_eq(c->state(d), SIMDEV_IDLE);
    size_t len;
    c->content(d, &len);
    ck_assert_uint_eq(len, 256);
    /* out-of-sequence block: CAN */
    make_block(blk, 5, data);
    /* checksum mode now (after NAK fallback): a 132-byte frame */
    uint8_t sum = 0;
    for (int i = 0; i < 128; i++)
        sum = (uint8_t)(sum + data[i]);
    blk[131] = sum;
    io.n = 0;
    c->on_rx(d, blk, 132);
    ck_assert_int_eq(c->state(d), SIMDEV_ABORTED);
    ck_assert_uint_ge(io.n, 2);
    ck_assert_uint_eq(io.out[0], CAN);
    ck_assert_uint_eq(io.out[1], CAN);
    c->destroy(d);
}
END_TEST

/* ---- engine + device over simlink ---- */

static const size_t sizes[] = {1, 127, 128, 129, 1023, 1024, 1025, 100000};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

START_TEST(test_link_crc_1k)
{
    size_t len = sizes[_i];
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, len, (uint32_t)len, NULL);
    base_cfg(&c, &j, NULL);
    run_ok(&c, &r);
    check_content(&r, j.data, len, 0x1a);
    ck_assert_uint_eq(r.last_done, len);
    ck_assert_uint_eq(r.bytes_host_to_dev, wire_1k(len));
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

START_TEST(test_link_crc_128)
{
    size_t len = sizes[_i];
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, len, (uint32_t)len + 1, "block", "128", "pad", "0x55", NULL);
    base_cfg(&c, &j, NULL);
    run_ok(&c, &r);
    check_content(&r, j.data, len, 0x55);
    ck_assert_uint_eq(r.bytes_host_to_dev, nblocks(len, 128) * 133 + 1);
    /* 'C', one ACK per block, ACK of EOT */
    ck_assert_uint_eq(r.bytes_dev_to_host, 1 + nblocks(len, 128) + 1);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

START_TEST(test_link_checksum)
{
    size_t len = sizes[_i];
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, len, (uint32_t)len + 2, NULL); /* block=1k, yet 128 is forced */
    base_cfg(&c, &j, "mode=checksum");
    run_ok(&c, &r);
    check_content(&r, j.data, len, 0x1a);
    ck_assert_uint_eq(r.bytes_host_to_dev, nblocks(len, 128) * 132 + 1);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

/* Sizes that leave 895, 896 and 897 bytes for the last blocks, from the
 * start and after one and two 1K blocks, with the block sizes sx -k sends:
 * 1K only while more than 896 bytes are left. */
static const struct tail_case {
    size_t len;
    size_t blocks[4]; /* 0-terminated */
} tail_cases[] = {
    {895, {128, 128, 128, 128}},
    {896, {128, 128, 128, 128}},
    {897, {1024}},
    {1024 + 895, {1024, 128, 128, 128}},
    {1024 + 896, {1024, 128, 128, 128}},
    {1024 + 897, {1024, 1024}},
    {2048 + 896, {1024, 1024, 128, 128}},
    {2048 + 897, {1024, 1024, 1024}},
};
#define NTAIL (sizeof(tail_cases) / sizeof(tail_cases[0]))

START_TEST(test_link_small_tail_boundary)
{
    const struct tail_case *tc = &tail_cases[_i];
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    struct simlink_h2d w = {0};
    job_init(&j, tc->len, (uint32_t)tc->len, NULL);
    base_cfg(&c, &j, NULL);
    c.tap = simlink_record_h2d;
    c.tap_ctx = &w;
    run_ok(&c, &r);
    check_content(&r, j.data, tc->len, 0x1a);

    /* The exact byte stream: 1K blocks as listed, then 128-byte blocks for
     * whatever is left, then EOT. */
    uint8_t *want = malloc(tc->len + 8 * 1029 + 1);
    ck_assert_ptr_nonnull(want);
    size_t n = 0, off = 0;
    for (unsigned seq = 1, k = 0; off < tc->len; seq++) {
        size_t bs = k < 4 && tc->blocks[k] == 1024 ? 1024 : 128;
        if (k < 4 && tc->blocks[k])
            k++;
        uint8_t *b = want + n;
        b[0] = bs == 1024 ? STX : SOH;
        b[1] = (uint8_t)seq;
        b[2] = (uint8_t)~seq;
        size_t take = tc->len - off < bs ? tc->len - off : bs;
        memcpy(b + 3, j.data + off, take);
        memset(b + 3 + take, 0x1a, bs - take);
        uint16_t crc = fwup_crc16_ccitt(0, b + 3, bs);
        b[3 + bs] = (uint8_t)(crc >> 8);
        b[4 + bs] = (uint8_t)crc;
        n += bs + 5;
        off += bs;
    }
    want[n++] = EOT;
    ck_assert_uint_eq(w.len, n);
    ck_assert_int_eq(memcmp(w.data, want, n), 0);
    ck_assert_uint_eq(r.bytes_host_to_dev, wire_1k(tc->len));
    free(want);
    free(w.data);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

START_TEST(test_link_forced_checksum_vs_crc_receiver)
{
    /* the receiver tries 'C' three times (3 s apart), then NAK */
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, 5000, 9, "mode", "checksum", NULL);
    base_cfg(&c, &j, NULL);
    run_ok(&c, &r);
    check_content(&r, j.data, j.len, 0x1a);
    ck_assert_uint_eq(r.bytes_host_to_dev, nblocks(j.len, 128) * 132 + 1);
    ck_assert_uint_ge(r.virtual_us, 9000000);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

/* Receivers that have waited idle_ms before the job, their start bytes
 * queued on the line. The first attempt must succeed with one copy of every
 * block: the mode follows the latest start byte. */
struct idle_case {
    const char *devopts;
    const char *mode, *block; /* engine options, NULL: default */
    uint32_t idle_ms;
    uint32_t baud;
    int wire; /* 0: checksum 128, 1: CRC 1K, 2: CRC 128 */
};
static const struct idle_case idle_cases[] = {
    /* 'C' three times, then NAK: checksum after 3 s */
    {"start_interval=1000", NULL, NULL, 10333, 0, 0},
    {"start_interval=1000", NULL, NULL, 15000, 115200, 0},
    {"start_interval=1000", NULL, NULL, 2500, 115200, 1},
    {"start_interval=1000", NULL, "128", 12100, 115200, 0},
    /* the device's next NAK leaves as block 1 does, and is in flight */
    {"start_interval=1000", NULL, NULL, 9000, 115200, 0},
    {"start_interval=1000", NULL, NULL, 9000, 9600, 0},
    {"start_interval=1000,crc_only=1", NULL, NULL, 10333, 115200, 1},
    {"start_interval=1000,crc_only=1", NULL, "128", 10000, 115200, 2},
    {"start_interval=1000,crc_only=1", NULL, NULL, 11000, 9600, 1},
    {"start_interval=1000,mode=checksum", NULL, NULL, 14077, 115200, 0},
    {"start_interval=1000,mode=checksum", "checksum", NULL, 10500, 0, 0},
};
#define NIDLE (sizeof(idle_cases) / sizeof(idle_cases[0]))

START_TEST(test_link_idle_receiver)
{
    const struct idle_case *ic = &idle_cases[_i];
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    size_t len = 5000 + (size_t)_i * 111;
    job_init(&j, len, (uint32_t)(50 + _i), "mode", ic->mode ? ic->mode : "auto", "block",
             ic->block ? ic->block : "1k", NULL);
    base_cfg(&c, &j, ic->devopts);
    c.host_start_ms = ic->idle_ms;
    c.baud = ic->baud;
    run_ok(&c, &r);
    check_content(&r, j.data, len, 0x1a);
    uint64_t want = ic->wire == 0   ? nblocks(len, 128) * 132 + 1
                    : ic->wire == 1 ? wire_1k(len)
                                    : nblocks(len, 128) * 133 + 1;
    ck_assert_msg(r.bytes_host_to_dev == want, "idle %u ms: %llu bytes sent, a clean run is %llu",
                  ic->idle_ms, (unsigned long long)r.bytes_host_to_dev, (unsigned long long)want);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

START_TEST(test_link_first_block_nak)
{
    /* A receiver that really refuses block 1 gets it once more, whether it
     * waited or not: after the resync window, or at once if it asks again in
     * the window (at 10 s its next NAK, stale, opens the window before the
     * refusal arrives). */
    static const struct {
        uint32_t idle, min_extra_us;
    } k_cases[] = {{0, 1000000}, {10500, 1000000}, {10000, 0}};
    for (size_t k = 0; k < 3; k++) {
        uint32_t idle = k_cases[k].idle;
        struct testjob j;
        struct simlink_config c;
        struct simlink_result r;
        job_init(&j, 3000, 60, NULL);
        base_cfg(&c, &j, "start_interval=1000,nak_blocks=1");
        c.host_start_ms = idle;
        c.baud = 115200;
        run_ok(&c, &r);
        check_content(&r, j.data, j.len, 0x1a);
        ck_assert_uint_eq(r.bytes_host_to_dev,
                          idle ? (nblocks(j.len, 128) + 1) * 132 + 1 : wire_1k(j.len) + 1029);
        ck_assert_uint_ge(r.virtual_us, (uint64_t)idle * 1000 + k_cases[k].min_extra_us);
        ck_assert_uint_lt(r.virtual_us, (uint64_t)idle * 1000 + 2000000);
        simlink_result_free(&r);
        testjob_free(&j);
    }
}
END_TEST

START_TEST(test_link_sparse)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, 700, 11, NULL);
    /* 300 bytes at 0x1000, 400 at 0x2000: 4096 + 400 flat bytes */
    j.seg[0] = (struct fwup_segment){0x1000, 300, j.data, -1};
    j.seg[1] = (struct fwup_segment){0x2000, 400, j.data + 300, -1};
    j.img.nsegments = 2;
    base_cfg(&c, &j, NULL);
    run_ok(&c, &r);
    ck_assert_uint_eq(r.dev_content_len, 4096 + 512);
    ck_assert_int_eq(memcmp(r.dev_content, j.data, 300), 0);
    for (size_t i = 300; i < 4096; i++)
        ck_assert_uint_eq(r.dev_content[i], 0xff);
    ck_assert_int_eq(memcmp(r.dev_content + 4096, j.data + 300, 400), 0);
    for (size_t i = 4096 + 400; i < r.dev_content_len; i++)
        ck_assert_uint_eq(r.dev_content[i], 0x1a);
    ck_assert_uint_eq(r.last_done, 4496);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

START_TEST(test_link_block_number_wrap)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    size_t len = 300 * 128 + 17; /* 301 blocks: numbers wrap 255 -> 0 */
    job_init(&j, len, 12, "block", "128", NULL);
    base_cfg(&c, &j, NULL);
    run_ok(&c, &r);
    check_content(&r, j.data, len, 0x1a);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

/* Faults: (drop, corrupt) x (0.001, 0.01) x direction. 1K blocks survive
 * 0.1 % per byte; at 1 % a 1029-byte block almost never gets through, so
 * those runs use 128-byte blocks and more retries, as a user would. */
struct fault_case {
    double drop, corrupt;
    unsigned dirs;
};
static const struct fault_case faults[] = {
    {0.001, 0, SIMLINK_BOTH}, {0.01, 0, SIMLINK_BOTH}, {0, 0.001, SIMLINK_BOTH},
    {0, 0.01, SIMLINK_BOTH},  {0.01, 0, SIMLINK_H2D},  {0.01, 0, SIMLINK_D2H},
    {0, 0.01, SIMLINK_H2D},   {0, 0.01, SIMLINK_D2H},  {0.005, 0.005, SIMLINK_BOTH},
};
#define NFAULTS (sizeof(faults) / sizeof(faults[0]))

START_TEST(test_link_faults)
{
    const struct fault_case *f = &faults[_i];
    int heavy = f->drop + f->corrupt >= 0.01;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        struct testjob j;
        struct simlink_config c;
        struct simlink_result r;
        size_t len = 20000 + (size_t)seed * 333;
        if (heavy)
            job_init(&j, len, (uint32_t)seed, "block", "128", "retries", "60", NULL);
        else
            job_init(&j, len, (uint32_t)seed, "retries", "40", NULL);
        /* eot_silence as lrzsz: without it a lost SOH before block 4
         * makes the block number look like an EOT */
        base_cfg(&c, &j, "max_errors=100,eot_silence=1000");
        c.baud = 115200;
        c.bits_per_byte = 10;
        c.turnaround_us = 500;
        c.drop_rate = f->drop;
        c.corrupt_rate = f->corrupt;
        c.fault_dirs = f->dirs;
        c.seed = seed;
        c.max_virtual_ms = 3600 * 1000;
        run_ok(&c, &r);
        check_content(&r, j.data, len, 0x1a);
        /* the faults did happen, and cost retransmissions */
        ck_assert_uint_gt(r.bytes_dropped + r.bytes_corrupted, 0);
        ck_assert_uint_gt(r.bytes_host_to_dev, heavy ? nblocks(len, 128) * 133 + 1 : wire_1k(len));
        simlink_result_free(&r);
        testjob_free(&j);
    }
}
END_TEST

START_TEST(test_link_deterministic)
{
    struct simlink_result r[2];
    struct testjob j;
    job_init(&j, 30000, 5, "block", "128", "retries", "60", NULL);
    for (int k = 0; k < 2; k++) {
        struct simlink_config c;
        base_cfg(&c, &j, "max_errors=100,eot_silence=1000");
        c.baud = 57600;
        c.drop_rate = 0.004;
        c.corrupt_rate = 0.004;
        c.seed = 42;
        run_ok(&c, &r[k]);
    }
    ck_assert_uint_eq(r[0].virtual_us, r[1].virtual_us);
    ck_assert_uint_eq(r[0].bytes_host_to_dev, r[1].bytes_host_to_dev);
    ck_assert_uint_eq(r[0].bytes_dev_to_host, r[1].bytes_dev_to_host);
    ck_assert_uint_eq(r[0].bytes_dropped, r[1].bytes_dropped);
    simlink_result_free(&r[0]);
    simlink_result_free(&r[1]);
    testjob_free(&j);
}
END_TEST

START_TEST(test_link_nak_blocks)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, 10 * 1024, 21, NULL);
    base_cfg(&c, &j, "nak_blocks=3/7");
    run_ok(&c, &r);
    check_content(&r, j.data, j.len, 0x1a);
    ck_assert_uint_eq(r.bytes_host_to_dev, wire_1k(j.len) + 2 * 1029);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

START_TEST(test_link_receiver_cancel)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, 10 * 1024, 22, NULL);
    base_cfg(&c, &j, "cancel_at=3");
    ck_assert_int_eq(simlink_run(&c, &r), 0);
    ck_assert(r.engine_finished);
    ck_assert_int_eq(r.result, FWUP_RESULT_TRANSIENT);
    ck_assert_ptr_nonnull(strstr(r.message, "receiver cancelled"));
    ck_assert_int_eq(r.dev_state, SIMDEV_ABORTED);
    ck_assert_uint_eq(r.last_done, 2048);
    ck_assert_uint_eq(r.protocol_errors, 0);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

START_TEST(test_link_max_size)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, 4000, 23, NULL);
    base_cfg(&c, &j, "max_size=2048");
    ck_assert_int_eq(simlink_run(&c, &r), 0);
    ck_assert_int_eq(r.result, FWUP_RESULT_TRANSIENT);
    ck_assert_ptr_nonnull(strstr(r.message, "receiver cancelled"));
    ck_assert_int_eq(r.dev_state, SIMDEV_ABORTED);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

START_TEST(test_link_silent_device)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, 10 * 1024, 24, NULL);
    base_cfg(&c, &j, "silent_after=2");
    c.baud = 115200;
    ck_assert_int_eq(simlink_run(&c, &r), 0);
    ck_assert(r.engine_finished);
    ck_assert_int_eq(r.result, FWUP_RESULT_TRANSIENT);
    ck_assert_msg(strstr(r.message, "block 3") != NULL, "%s", r.message);
    ck_assert_ptr_nonnull(strstr(r.message, "timeout"));
    /* 10 tries x 10 s, 9 x (1 s resync window + 0.5 s guard), plus line time */
    ck_assert_uint_ge(r.virtual_us, 113500000);
    ck_assert_uint_lt(r.virtual_us, 114500000);
    ck_assert_uint_eq(r.last_done, 2048);
    ck_assert_uint_eq(r.bytes_host_to_dev, 2 * 1029 + 10 * 1029 + 16);
    ck_assert_uint_eq(r.protocol_errors, 0);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

START_TEST(test_link_never_starts)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, 1000, 25, "start_timeout", "5000", NULL);
    base_cfg(&c, &j, "silent_after=0");
    ck_assert_int_eq(simlink_run(&c, &r), 0);
    ck_assert(r.engine_finished);
    ck_assert_int_eq(r.result, FWUP_RESULT_TRANSIENT);
    ck_assert_ptr_nonnull(strstr(r.message, "start"));
    ck_assert_uint_eq(r.virtual_us, 5000000);
    ck_assert_uint_eq(r.bytes_host_to_dev, 0);
    ck_assert_str_eq(r.last_phase, "connect");
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

struct eot_tap {
    uint64_t t[16];
    int n;
};
static void eot_tap_fn(void *ctx, enum simlink_dir dir, uint64_t t_us, const uint8_t *d, size_t n)
{
    struct eot_tap *e = ctx;
    if (dir == SIMLINK_H2D && n == 1 && d[0] == EOT && e->n < 16)
        e->t[e->n++] = t_us;
}

START_TEST(test_link_eot_silence)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    struct eot_tap tap = {0};
    job_init(&j, 5000, 26, NULL);
    base_cfg(&c, &j, "eot_silence=1000");
    c.baud = 115200;
    c.turnaround_us = 1000;
    c.tap = eot_tap_fn;
    c.tap_ctx = &tap;
    run_ok(&c, &r);
    check_content(&r, j.data, j.len, 0x1a);
    ck_assert_int_eq(tap.n, 1); /* the ACK came after 1 s: no second EOT */
    ck_assert_uint_ge(r.virtual_us, tap.t[0] + 1000000);
    simlink_result_free(&r);

    /* ACK of the first EOT lost: the EOT is re-sent, but not before 1.5 s */
    tap.n = 0;
    base_cfg(&c, &j, "eot_silence=1000");
    c.tap = eot_tap_fn;
    c.tap_ctx = &tap;
    c.baud = 115200;
    c.drop_rate = 0.2;
    c.fault_dirs = SIMLINK_D2H;
    testjob_free(&j);
    job_init(&j, 2000, 27, "retries", "100", NULL);
    c.params = &j.params;
    int resent = 0;
    for (uint64_t seed = 1; seed < 20 && !resent; seed++) {
        tap.n = 0;
        c.seed = seed;
        run_ok(&c, &r);
        for (int i = 1; i < tap.n; i++) {
            ck_assert_uint_ge(tap.t[i] - tap.t[i - 1], 1500000);
            resent = 1;
        }
        simlink_result_free(&r);
    }
    ck_assert(resent);
    testjob_free(&j);
}
END_TEST

START_TEST(test_link_host_cancel)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, 100000, 28, NULL);
    base_cfg(&c, &j, NULL);
    c.baud = 115200;
    c.turnaround_us = 1000;
    c.cancel_at_ms = 500;
    ck_assert_int_eq(simlink_run(&c, &r), 0);
    ck_assert(r.engine_finished);
    ck_assert_int_eq(r.result, FWUP_RESULT_CANCELLED);
    ck_assert_uint_eq(r.virtual_us, 500000);
    ck_assert_int_eq(r.dev_state, SIMDEV_ABORTED);
    ck_assert_str_eq(r.last_phase, "transfer");
    ck_assert_uint_gt(r.last_done, 0);
    ck_assert_uint_lt(r.last_done, j.len);
    ck_assert_uint_eq(r.protocol_errors, 0);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

START_TEST(test_link_ymodem)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, 3000, 29, "ymodem", "true", NULL);
    base_cfg(&c, &j, "expect_name=dev1.bin");
    c.baud = 115200;
    run_ok(&c, &r);
    /* the receiver truncates to the size announced in block 0 */
    ck_assert_uint_eq(r.dev_content_len, j.len);
    ck_assert_int_eq(memcmp(r.dev_content, j.data, j.len), 0);
    /* block 0, data, EOT, empty block 0 */
    ck_assert_uint_eq(r.bytes_host_to_dev, 133 + wire_1k(j.len) + 133);
    simlink_result_free(&r);

    /* a receiver expecting another name refuses block 0 */
    base_cfg(&c, &j, "expect_name=other.bin");
    ck_assert_int_eq(simlink_run(&c, &r), 0);
    ck_assert_int_eq(r.result, FWUP_RESULT_TRANSIENT);
    ck_assert_ptr_nonnull(strstr(r.message, "cancelled"));
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

START_TEST(test_link_slow_line_tx_done)
{
    /* At 1200 baud a 1K block takes 8.6 s, longer than block_timeout: the
     * timer must count from the end of transmission (on the wire). */
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, 3000, 30, "block_timeout", "2000", NULL);
    base_cfg(&c, &j, NULL);
    c.baud = 1200;
    c.turnaround_us = 1000;
    run_ok(&c, &r);
    check_content(&r, j.data, j.len, 0x1a);
    ck_assert_uint_eq(r.bytes_host_to_dev, wire_1k(j.len));
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

START_TEST(test_link_efficiency)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    size_t kib = 64;
    job_init(&j, kib * 1024, 31, NULL);
    base_cfg(&c, &j, NULL);
    run_ok(&c, &r);
    /* wire bytes per payload KiB: 1029 (STX, number, complement, 1024, CRC) */
    ck_assert_uint_eq((r.bytes_host_to_dev - 1) / kib, 1029);
    ck_assert_uint_eq(r.bytes_host_to_dev, kib * 1029 + 1);
    /* one round trip per KiB */
    ck_assert_uint_eq(r.bytes_dev_to_host, 1 + kib + 1);
    simlink_result_free(&r);

    /* goodput at 115200 8N1 with 1 ms turnaround, for information only */
    testjob_free(&j);
    job_init(&j, 100000, 32, NULL);
    base_cfg(&c, &j, NULL);
    c.baud = 115200;
    c.bits_per_byte = 10;
    c.turnaround_us = 1000;
    run_ok(&c, &r);
    double secs = (double)r.virtual_us / 1e6;
    double rate = (double)j.len / secs;
    printf("xmodem-1k virtual goodput at 115200 8N1, 1 ms turnaround: %.0f B/s = %.3f of 11.3 "
           "kB/s\n",
           rate, rate / 11300.0);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

START_TEST(test_link_bad_setup)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, 100, 1, NULL);
    base_cfg(&c, &j, "no_such_option=1");
    ck_assert_int_eq(simlink_run(&c, &r), -1);
    ck_assert_ptr_nonnull(strstr(r.message, "device"));
    j.params.flash_size = 10;
    base_cfg(&c, &j, NULL);
    ck_assert_int_eq(simlink_run(&c, &r), -1);
    ck_assert_int_eq(r.result, FWUP_RESULT_PERMANENT);
    testjob_free(&j);
}
END_TEST

/* A 600-baud line behind a UART driver's 4 KiB buffer: the kernel takes a
 * 1K block at once while it spends 17 s on the wire, longer than
 * block_timeout (10 s). The engine times the answer from when the block has
 * left the UART. */
START_TEST(test_engine_slow_link)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, 2500, 3, "block", "1k", NULL);
    testjob_serial_link(&j, 600, 'N');
    base_cfg(&c, &j, NULL);
    c.baud = 600;
    c.turnaround_us = 1000;
    c.host_tx_buffer = 4096;
    run_ok(&c, &r);
    /* every block sent once: two 1K blocks, a 452-byte tail in 128s, EOT */
    ck_assert_uint_le(r.bytes_host_to_dev, 2 * 1029 + 4 * 133 + 2);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

static Suite *xmodem_suite(void)
{
    Suite *s = suite_create("xmodem");
    TCase *t = tcase_create("engine");
    tcase_add_test(t, test_crc16_vector);
    tcase_add_test(t, test_descriptor);
    tcase_add_test(t, test_check_image);
    tcase_add_test(t, test_engine_garbage_and_duplicate_start);
    tcase_add_test(t, test_engine_checksum_and_retries);
    tcase_add_test(t, test_engine_ymodem_wait_for_c);
    tcase_add_test(t, test_engine_host_cancel);
    tcase_add_test(t, test_engine_stale_start_burst);
    tcase_add_test(t, test_engine_first_block_genuine_nak);
    tcase_add_test(t, test_engine_completions);
    tcase_add_test(t, test_engine_slow_link);
    tcase_add_test(t, test_device_model_direct);
    suite_add_tcase(s, t);

    t = tcase_create("link");
    tcase_set_timeout(t, 120);
    tcase_add_loop_test(t, test_link_crc_1k, 0, NSIZES);
    tcase_add_loop_test(t, test_link_crc_128, 0, NSIZES);
    tcase_add_loop_test(t, test_link_checksum, 0, NSIZES);
    tcase_add_loop_test(t, test_link_small_tail_boundary, 0, NTAIL);
    tcase_add_test(t, test_link_forced_checksum_vs_crc_receiver);
    tcase_add_loop_test(t, test_link_idle_receiver, 0, NIDLE);
    tcase_add_test(t, test_link_first_block_nak);
    tcase_add_test(t, test_link_sparse);
    tcase_add_test(t, test_link_block_number_wrap);
    tcase_add_loop_test(t, test_link_faults, 0, NFAULTS);
    tcase_add_test(t, test_link_deterministic);
    tcase_add_test(t, test_link_nak_blocks);
    tcase_add_test(t, test_link_receiver_cancel);
    tcase_add_test(t, test_link_max_size);
    tcase_add_test(t, test_link_silent_device);
    tcase_add_test(t, test_link_never_starts);
    tcase_add_test(t, test_link_eot_silence);
    tcase_add_test(t, test_link_host_cancel);
    tcase_add_test(t, test_link_ymodem);
    tcase_add_test(t, test_link_slow_line_tx_done);
    tcase_add_test(t, test_link_efficiency);
    tcase_add_test(t, test_link_bad_setup);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(xmodem_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
