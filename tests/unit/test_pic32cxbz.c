/*
 * PIC32CX-BZ serial DFU engine against the "pic32" device model over the
 * virtual-clock link (paced 115200 8N1, 1 ms turnaround): checksums, image
 * placement, whole transfers, catching and missing the boot window, every
 * fault, and the model's gap framing driven by a scripted raw host.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fwupgw/protocol.h>

#include "mockhost.h"
#include "pic32cxbz.h"
#include "simdev.h"
#include "simlink.h"
#include "testjob.h"

extern const struct fwup_protocol FWUP_PROTOCOL_SYMBOL;
#define PROTO (&FWUP_PROTOCOL_SYMBOL)

#define SLOT0 0x01000000u
#define SLOT1 0x01080000u

/* ---- helpers ---- */

/* One segment of `len` random bytes at `addr`, then options as "name",
 * "value" pairs ending with NULL. */
#define job_init(j, addr, len, seed, ...) testjob_init(j, "wbz451", addr, len, seed, __VA_ARGS__)

/* What the tap saw on the line. */
struct wire {
    uint64_t first_pgm_us; /* first PGM_CLUSTER_VERIFY queued by the host */
    int have_pgm;
    unsigned pings, pgm_frames, max_frame;
    unsigned cmds[0x20]; /* host frames by command byte */
    uint64_t pgm_us[8];  /* when the first PGM_CLUSTER_VERIFY frames were queued */
};

static void tap(void *ctx, enum simlink_dir dir, uint64_t t_us, const uint8_t *d, size_t n)
{
    struct wire *w = ctx;
    if (dir != SIMLINK_H2D || n < 4)
        return;
    if (n > w->max_frame)
        w->max_frame = (unsigned)n;
    if (d[2] < 0x20 && d[3] == 0)
        w->cmds[d[2]]++;
    if (d[2] == 0x07 && d[3] == 0)
        w->pings++;
    if (d[2] == 0x11 && d[3] == 0) {
        if (w->pgm_frames < sizeof(w->pgm_us) / sizeof(w->pgm_us[0]))
            w->pgm_us[w->pgm_frames] = t_us;
        w->pgm_frames++;
        if (!w->have_pgm) {
            w->have_pgm = 1;
            w->first_pgm_us = t_us;
        }
    }
}

static void base_cfg(struct simlink_config *c, const struct testjob *j, const char *devopts,
                     struct wire *w)
{
    memset(c, 0, sizeof(*c));
    c->proto = PROTO;
    c->params = &j->params;
    c->dev_class = testjob_device("pic32");
    c->dev_options = devopts;
    c->baud = 115200;
    c->bits_per_byte = 10;
    c->turnaround_us = 1000;
    c->seed = 1;
    if (w) {
        memset(w, 0, sizeof(*w));
        c->tap = tap;
        c->tap_ctx = w;
    }
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

static void run_fails(const struct simlink_config *c, struct simlink_result *r,
                      enum fwup_result want, const char *needle)
{
    ck_assert_int_eq(simlink_run(c, r), 0);
    ck_assert_msg(r->engine_finished, "engine did not finish: %s", r->message);
    ck_assert_msg(r->result == want, "result %d (want %d): %s", r->result, want, r->message);
    ck_assert_uint_eq(r->protocol_errors, 0);
    ck_assert_msg(strstr(r->message, needle), "message '%s' lacks '%s'", r->message, needle);
}

/* Image bytes at an offset in the slot. */
struct span {
    size_t off;
    const uint8_t *data;
    size_t len;
};

/* The whole slot after a job, from old firmware: the image where it lies,
 * 0xFF (erased, or the padding to a multiple of 4) in the rest of every
 * 4 KiB page it touches, the old firmware untouched everywhere else; after
 * erase=chip (`chip`), 0xFF everywhere else. */
static void check_slot(const struct simlink_result *r, const struct span *sp, size_t n, int chip)
{
    size_t slot = 512 * 1024;
    ck_assert_uint_eq(r->dev_content_len, slot);
    uint8_t *want = malloc(slot);
    ck_assert_ptr_nonnull(want);
    simdev_old_firmware(want, slot);
    for (size_t i = 0; i < n; i++)
        simdev_erase_span(want, slot, sp[i].off, sp[i].len, chip ? 0 : 4096);
    for (size_t i = 0; i < n; i++)
        memcpy(want + sp[i].off, sp[i].data, sp[i].len);
    for (size_t i = 0; memcmp(r->dev_content, want, slot) && i < slot; i++)
        ck_assert_msg(r->dev_content[i] == want[i], "slot offset 0x%05zx: 0x%02x, want 0x%02x", i,
                      r->dev_content[i], want[i]);
    free(want);
}

static void check_content(const struct simlink_result *r, size_t off, const uint8_t *img,
                          size_t len)
{
    struct span sp = {off, img, len};
    check_slot(r, &sp, 1, 0);
}

/* ---- checksums ---- */

START_TEST(test_crc_vector)
{
    const uint8_t *s = (const uint8_t *)"123456789";
    ck_assert_uint_eq(fwup_pic32_crc16(s, 9), 0x29B1);
    ck_assert_uint_eq(fwup_pic32_crc16(s, 0), 0xFFFF);
    /* byte sum, not word sum: '1'..'9' = 0x31+..+0x39 */
    ck_assert_uint_eq(fwup_pic32_sum32(s, 9), 477);
    uint8_t ff[4096];
    memset(ff, 0xff, sizeof(ff));
    ck_assert_uint_eq(fwup_pic32_sum32(ff, sizeof(ff)), 4096u * 255u);
}
END_TEST

/* ---- descriptor and check_image ---- */

START_TEST(test_descriptor)
{
    ck_assert_uint_eq(PROTO->abi_version, FWUP_PROTOCOL_ABI_VERSION);
    ck_assert_uint_eq(PROTO->struct_size, sizeof(struct fwup_protocol));
    ck_assert_str_eq(PROTO->name, "pic32cx-bz");
    ck_assert_uint_eq(PROTO->transports, FWUP_TRANSPORT_SERIAL);
    const char *want[] = {"slot", "verify", "trigger", "window", "ping_interval", "reset", "erase"};
    ck_assert_uint_ge(PROTO->noptions, 7);
    for (size_t i = 0; i < 7; i++)
        ck_assert_str_eq(PROTO->options[i].name, want[i]);
    ck_assert_str_eq(PROTO->options[0].default_value, "1");
    ck_assert_str_eq(PROTO->options[1].default_value, "crc");
    ck_assert_str_eq(PROTO->options[2].default_value, "timer");
    ck_assert_str_eq(PROTO->options[4].default_value, "10");
}
END_TEST

START_TEST(test_check_image)
{
    char err[256];
    struct testjob j;

    /* raw image at 0 (no configured base): placed at the slot */
    job_init(&j, 0, 512 * 1024, 1, NULL);
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), 0);
    testjob_free(&j);
    job_init(&j, 0, 512 * 1024 + 1, 1, NULL);
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "outside slot 1"));
    testjob_free(&j);

    /* absolute addresses */
    job_init(&j, SLOT1, 1000, 1, NULL);
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), 0);
    j.params.flash_base = SLOT1;
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), 0);
    testjob_free(&j);
    job_init(&j, SLOT0, 1000, 1, NULL); /* slot 0 image, slot 1 chosen */
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "0x01000000"));
    ck_assert_ptr_null(PROTO->create(&j.params, NULL, NULL, err, sizeof(err)));
    testjob_free(&j);
    job_init(&j, SLOT0, 1000, 1, "slot", "0", NULL);
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), 0);
    testjob_free(&j);
    job_init(&j, SLOT1 + 512 * 1024 - 8, 16, 1, NULL); /* runs past the slot */
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "outside slot 1"), "%s", err);
    testjob_free(&j);
    /* a raw image with a declared base is not relocated */
    job_init(&j, 0x10000, 100, 1, NULL);
    j.params.flash_base = 0x10000;
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "0x00010000"), "%s", err);
    testjob_free(&j);

    /* options */
    job_init(&j, 0, 10, 1, "ping_interval", "20", NULL);
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "ping_interval"));
    testjob_free(&j);
    job_init(&j, 0, 10, 1, "verify", "md5", NULL);
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "bad option verify=md5"), "%s", err);
    testjob_free(&j);
    job_init(&j, 0, 10, 1, "slot", "2", NULL);
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "bad option slot=2"), "%s", err);
    testjob_free(&j);

    job_init(&j, 0, 10, 1, NULL);
    j.img.nsegments = 0;
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "empty"));
    testjob_free(&j);
}
END_TEST

/* ---- whole transfers ---- */

static const size_t sizes[] = {1, 3, 4, 511, 4096, 4097, 65536 + 13, 300 * 1024};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static void write_one(size_t len, const char *verify)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    struct wire w;
    job_init(&j, 0, len, (uint32_t)len, "verify", verify, NULL);
    base_cfg(&c, &j, NULL, &w);
    run_ok(&c, &r);
    check_content(&r, 0, j.data, len);
    ck_assert_uint_eq(r.last_done, len);
    size_t clusters = (len + 4095) / 4096;
    ck_assert_uint_eq(w.pgm_frames, clusters);
    ck_assert_uint_le(w.max_frame, 16 + 4096);
    /* host bytes: clusters (16-byte header + payload padded to 4) plus a
     * handful of 4-8 byte commands */
    uint64_t payload = (len + 3) / 4 * 4;
    ck_assert_uint_ge(r.bytes_host_to_dev, payload + 16 * clusters + 4 + 4 + 8 + 4);
    ck_assert_uint_le(r.bytes_host_to_dev, payload + 16 * clusters + 4 * 4 + 4 + 8 + 4);
    simlink_result_free(&r);
    testjob_free(&j);
}

START_TEST(test_write_crc)
{
    write_one(sizes[_i], "crc");
}
END_TEST

START_TEST(test_write_checksum)
{
    write_one(sizes[_i], "checksum");
}
END_TEST

/* Goodput of a long transfer on the virtual clock, against the 4 KiB
 * cluster ceiling: 4096 / ((4112 + 4) * 86.8 us + gap + turnaround). */
START_TEST(test_write_efficiency)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    struct wire w;
    size_t len = 128 * 1024;
    job_init(&j, 0, len, 7, NULL);
    base_cfg(&c, &j, NULL, &w);
    run_ok(&c, &r);
    double secs = (double)r.virtual_us / 1e6;
    double goodput = (double)len / secs;
    fprintf(stderr, "pic32: 128 KiB in %.3f s virtual: %.0f B/s (%.3f of 11 400)\n", secs, goodput,
            goodput / 11400.0);
    ck_assert_msg(goodput > 0.97 * 11400.0, "goodput %.0f B/s", goodput);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

/* A two-segment image with an unaligned start and a gap: gap and edges are
 * erased within the touched pages, addresses are absolute, slot 0. */
START_TEST(test_write_sparse_slot0)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, SLOT0 + 0x202, 6000, 3, "slot", "0", "verify", "checksum", NULL);
    j.seg[1] = (struct fwup_segment){SLOT0 + 0x202 + 6000 + 5000, 123, j.data + 100, -1};
    j.img.nsegments = 2;
    j.img.total = 6123;
    base_cfg(&c, &j, NULL, NULL);
    run_ok(&c, &r);
    size_t end = 0x202 + 6000 + 5000 + 123;
    struct span sp[] = {{0x202, j.data, 6000}, {0x202 + 6000 + 5000, j.data + 100, 123}};
    check_slot(&r, sp, 2, 0);
    ck_assert_uint_eq(r.last_done, end - 0x202);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

/* Writing over unerased flash fails the device's verify: the engine must
 * erase, whichever way. */
START_TEST(test_write_chip_erase_no_reset)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    struct wire w;
    job_init(&j, 0, 10000, 4, "erase", "chip", "reset", "false", NULL);
    base_cfg(&c, &j, "trigger=gpio", &w);
    ck_assert_int_eq(simlink_run(&c, &r), 0);
    ck_assert_msg(r.result == FWUP_RESULT_OK, "%s", r.message);
    /* no RESET: the device is still in DFU mode, content is there */
    ck_assert_int_eq(r.dev_state, SIMDEV_BUSY);
    ck_assert_uint_eq(r.dev_completions, 0);
    struct span sp = {0, j.data, 10000};
    check_slot(&r, &sp, 1, 1);
    /* one CHIP_ERASE, no page erase, three clusters, no RESET */
    ck_assert_uint_eq(w.cmds[0x04], 1);
    ck_assert_uint_eq(w.cmds[0x05], 0);
    ck_assert_uint_eq(w.pgm_frames, 3);
    ck_assert_uint_eq(w.cmds[0x12], 0);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

/* ---- the boot window ---- */

/* The device runs its application until someone resets it 5 s later; its
 * window is 600 ms. Pinging every 10 ms catches it, and the first cluster
 * goes out within a few round trips of the reset. */
START_TEST(test_window_caught)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    struct wire w;
    job_init(&j, 0, 20000, 5, NULL);
    base_cfg(&c, &j, "app_first=1,reset_after_ms=5000,window=600", &w);
    run_ok(&c, &r);
    check_content(&r, 0, j.data, 20000);
    ck_assert(w.have_pgm);
    ck_assert_uint_ge(w.first_pgm_us, 5000000);
    uint64_t delay = w.first_pgm_us - 5000000;
    fprintf(stderr, "pic32: reset to first cluster byte: %.3f ms virtual, %u pings\n",
            (double)delay / 1000.0, w.pings);
    ck_assert_uint_lt(delay, 100000);
    /* pings every 10 ms for 5 s: about 500 of them, not more */
    ck_assert_uint_ge(w.pings, 495);
    ck_assert_uint_le(w.pings, 505);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

/* Without app_first the device boots into a window at start() and is
 * caught there at once; the later reset never matters. */
START_TEST(test_window_at_power_on)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    struct wire w;
    job_init(&j, 0, 5000, 6, NULL);
    base_cfg(&c, &j, "reset_after_ms=5000,window=400", &w);
    run_ok(&c, &r);
    ck_assert_uint_lt(w.first_pgm_us, 100000);
    ck_assert_uint_eq(w.pings, 1);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

/* Pinging stops once `window` ms have gone by, not one interval later: a
 * ping at 0 and one every interval before the window ends. */
START_TEST(test_window_missed)
{
    static const struct {
        const char *window, *interval;
        unsigned pings;
        uint64_t ms;
    } rows[] = {
        {"3000", "10", 300, 3000}, {"105", "10", 11, 110}, {"100", "7", 15, 105},
        {"10", "10", 1, 10},       {"10", "1", 10, 10},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct testjob j;
        struct simlink_config c;
        struct simlink_result r;
        struct wire w;
        char msg[64];
        job_init(&j, 0, 5000, 6, "window", rows[i].window, "ping_interval", rows[i].interval, NULL);
        base_cfg(&c, &j, "app_first=1,reset_after_ms=5000", &w);
        snprintf(msg, sizeof(msg), "did not answer within %s ms", rows[i].window);
        run_fails(&c, &r, FWUP_RESULT_TRANSIENT, msg);
        ck_assert_msg(w.pings == rows[i].pings && r.virtual_us == rows[i].ms * 1000,
                      "window %s, interval %s: %u pings, gave up at %llu us", rows[i].window,
                      rows[i].interval, w.pings, (unsigned long long)r.virtual_us);
        ck_assert_uint_eq(r.bytes_dev_to_host, 0);
        ck_assert(!w.have_pgm);
        ck_assert_str_eq(r.last_phase, "waiting for bootloader");
        ck_assert_int_eq(r.dev_state, SIMDEV_IDLE);
        simlink_result_free(&r);
        testjob_free(&j);
    }
}
END_TEST

/* Every phase starts at 0 and write progress is the image bytes the device
 * has acknowledged (the alignment lead before the image not counted). */
struct progress_log {
    char phase[16][32];
    uint64_t done[16], total[16];
    size_t n;
};

static void progress_to(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    struct progress_log *p = ctx;
    ck_assert_uint_lt(p->n, 16);
    snprintf(p->phase[p->n], sizeof(p->phase[p->n]), "%s", phase);
    p->done[p->n] = done;
    p->total[p->n++] = total;
}

START_TEST(test_progress)
{
    static const struct {
        uint32_t addr, flash_base;
        uint64_t write_done[4];
    } rows[] = {
        {0, 0, {0, 4096, 8192, 8292}},
        {SLOT1 + 2, SLOT1, {0, 4094, 8190, 8292}}, /* two 0xFF bytes lead the image */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct testjob j;
        struct simlink_config c;
        struct simlink_result r;
        struct progress_log p = {0};
        job_init(&j, rows[i].addr, 8292, 4, NULL);
        j.params.flash_base = rows[i].flash_base;
        base_cfg(&c, &j, NULL, NULL);
        c.on_progress = progress_to;
        c.progress_ctx = &p;
        run_ok(&c, &r);
        static const char *const phases[] = {
            "waiting for bootloader", "erase", "write", "write", "write", "write", "finish"};
        ck_assert_uint_eq(p.n, 7);
        for (size_t k = 0; k < 7; k++) {
            uint64_t want = k < 2 ? 0 : k < 6 ? rows[i].write_done[k - 2] : 8292;
            ck_assert_str_eq(p.phase[k], phases[k]);
            ck_assert_msg(p.done[k] == want && p.total[k] == 8292, "row %zu, call %zu: %llu/%llu",
                          i, k, (unsigned long long)p.done[k], (unsigned long long)p.total[k]);
        }
        simlink_result_free(&r);
        testjob_free(&j);
    }
}
END_TEST

/* The window closes before a slow starter pings: application, no answer. */
START_TEST(test_trigger_none_no_bootloader)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, 0, 100, 6, "trigger", "none", NULL);
    base_cfg(&c, &j, "app_first=1", NULL);
    run_fails(&c, &r, FWUP_RESULT_TRANSIENT, "did not answer 5 pings");
    ck_assert_uint_eq(r.virtual_us, 5 * 200000); /* five pings, 200 ms each */
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

START_TEST(test_trigger_gpio)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    struct wire w;
    job_init(&j, 0, 9000, 8, "trigger", "gpio", NULL);
    /* a GPIO-held bootloader has no window: an idle minute changes nothing */
    base_cfg(&c, &j, "trigger=gpio", &w);
    run_ok(&c, &r);
    check_content(&r, 0, j.data, 9000);
    ck_assert_uint_eq(w.pings, 1);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

/* ---- link speed ---- */

/* A 19200-baud link and no baud option: a 4 KiB cluster spends 2.1 s on the
 * line, far past the 300 ms timeout plus the 357 ms a 115200 line would
 * take, so the engine must time the answer from when the cluster has left
 * the UART. */
static void run_19200(const char *parity, const char *baud_option, struct simlink_result *r,
                      struct testjob *j)
{
    struct simlink_config c;
    if (baud_option)
        job_init(j, 0, 9000, 11, "trigger", "gpio", "baud", baud_option, NULL);
    else
        job_init(j, 0, 9000, 11, "trigger", "gpio", NULL);
    testjob_serial_link(j, 19200, parity[0]);
    base_cfg(&c, j, "trigger=gpio", NULL);
    c.baud = 19200;
    c.bits_per_byte = parity[0] == 'N' ? 10 : 11;
    c.host_tx_buffer = 4096;
    ck_assert_int_eq(simlink_run(&c, r), 0);
}

START_TEST(test_link_speed)
{
    struct testjob j;
    struct simlink_result r;
    run_19200("N", NULL, &r, &j);
    ck_assert_msg(r.result == FWUP_RESULT_OK, "result %d: %s", r.result, r.message);
    check_content(&r, 0, j.data, 9000);
    /* three clusters of 2.1 s each, once: no timeout and resend */
    ck_assert_uint_lt(r.virtual_us, 3 * 2300000 + 500000);
    simlink_result_free(&r);
    testjob_free(&j);

    /* 8E1: 11 bits a byte, which the engine counts too */
    run_19200("E", NULL, &r, &j);
    ck_assert_msg(r.result == FWUP_RESULT_OK, "8E1: result %d: %s", r.result, r.message);
    simlink_result_free(&r);
    testjob_free(&j);

    /* a wrong baud option no longer matters: the answer is timed from the
     * wire, not from a line time reckoned at the option's speed */
    run_19200("N", "115200", &r, &j);
    ck_assert_msg(r.result == FWUP_RESULT_OK, "baud=115200: result %d: %s", r.result, r.message);
    ck_assert_uint_lt(r.virtual_us, 3 * 2300000 + 500000);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

/* ---- faults ---- */

START_TEST(test_fault_fail_cluster_once)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    struct wire w;
    job_init(&j, 0, 5 * 4096, 9, NULL);
    base_cfg(&c, &j, "fail_cluster=3", &w);
    run_ok(&c, &r);
    check_content(&r, 0, j.data, 5 * 4096);
    ck_assert_uint_eq(w.pgm_frames, 6); /* the third went twice */
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

START_TEST(test_fault_corrupt_verify)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    struct wire w;
    job_init(&j, 0, 3 * 4096, 10, NULL);
    base_cfg(&c, &j, "corrupt_verify=1", &w);
    run_fails(&c, &r, FWUP_RESULT_PERMANENT, "verify failed at 0x01080000");
    ck_assert_uint_eq(w.pgm_frames, 3); /* retries=3 on the first cluster */
    ck_assert_str_eq(r.last_phase, "write");
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

/* A command's answer is timed from when it has left the UART (its ON_WIRE
 * completion), not from when it was queued: until then no timer runs, and
 * the completion of an older unit starts none. A command that never leaves
 * (the host completes it with TIMEOUT or ERROR) is a try without an answer,
 * as a timeout after it left is. Driven event by event: the answer never
 * comes. */
START_TEST(test_tx_waits)
{
    static const enum fwup_status status[] = {FWUP_STATUS_OK, FWUP_STATUS_TIMEOUT,
                                              FWUP_STATUS_ERROR};
    static const uint8_t ping_answer[4] = {0x01, 0x00, 0x07, 0x00};
    for (size_t i = 0; i < 2 * sizeof(status) / sizeof(status[0]); i++) {
        unsigned tries = 1 + (unsigned)(i & 1);
        struct testjob j;
        struct mockhost m = {0};
        char err[128];
        job_init(&j, 0, 4096, 3, "trigger", "gpio", "retries", tries == 1 ? "1" : "2", NULL);
        testjob_serial_link(&j, 115200, 'N');
        struct fwup_engine *e = PROTO->create(&j.params, &mockhost_ops, &m, err, sizeof(err));
        ck_assert_ptr_nonnull(e);
        mockhost_start(PROTO, e);
        mockhost_rx(PROTO, e, ping_answer, 4);
        mockhost_timer(PROTO, e, 0); /* settled: GET_DEVICEID goes */
        for (unsigned t = 1; t <= tries; t++) {
            ck_assert_uint_eq(m.nsent, 4 + 4 * t); /* the ping, then GET_DEVICEID each try */
            ck_assert_uint_eq(m.sent[4 * t + 2], 0x0a);
            ck_assert_uint_eq(m.unit_flags & FWUP_SUBMIT_ON_WIRE, FWUP_SUBMIT_ON_WIRE);
            ck_assert_uint_eq(m.unit_timeout, 302); /* twice its 1 ms on the line + 300 */
            ck_assert_uint_eq(m.timer, 0);          /* nothing timed until it has left */
            mockhost_complete(PROTO, e, m.tag - 1, FWUP_STATUS_OK); /* an older unit */
            ck_assert_uint_eq(m.timer, 0);
            mockhost_complete(PROTO, e, m.tag, status[i / 2]);
            if (status[i / 2] == FWUP_STATUS_OK) {
                ck_assert_uint_eq(m.timer, 301); /* 300 ms + the answer's 1 ms on the line */
                ck_assert(!m.finished);
                mockhost_timer(PROTO, e, 0);
            }
            ck_assert_msg(m.finished == (t == tries), "status %d, try %u of %u: finished %d",
                          status[i / 2], t, tries, m.finished);
            if (t < tries) {
                ck_assert_uint_eq(m.timer, 50); /* a late answer's wait, then the next try */
                mockhost_timer(PROTO, e, 0);
            }
        }
        ck_assert_int_eq(m.result, FWUP_RESULT_TRANSIENT);
        ck_assert_ptr_nonnull(strstr(m.msg, "no answer to GET_DEVICEID"));
        ck_assert_uint_eq(m.nsent, 4 + 4 * tries); /* never sent again */
        ck_assert_int_eq(m.calls_after_finish, 0);
        PROTO->destroy(e);
        testjob_free(&j);
    }
}
END_TEST

/* GET_DEVICEID's id word is little-endian: every byte in its place, high
 * bits included (ids whose bytes all differ and have bit 7 set or clear). */
START_TEST(test_device_id)
{
    static const char *const ids[] = {"0xa1b2c3d4", "0x80ff7f01", "0x01800080", "0xffffffff",
                                      "0x00000000"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        struct testjob j;
        struct simlink_config c;
        struct simlink_result r;
        struct simlink_log_match l = {"pic32cx-bz: device id ", "", 0};
        char devopts[32], want[64];
        snprintf(devopts, sizeof(devopts), "devid=%s", ids[i]);
        snprintf(want, sizeof(want), "pic32cx-bz: device id %s", ids[i]);
        job_init(&j, 0, 4096, 3, NULL);
        base_cfg(&c, &j, devopts, NULL);
        c.on_log = simlink_match_log;
        c.log_ctx = &l;
        run_ok(&c, &r);
        ck_assert_uint_eq(l.n, 1);
        ck_assert_str_eq(l.line, want);
        simlink_result_free(&r);
        testjob_free(&j);
    }
}
END_TEST

/* A FAIL is the device's verdict on a frame it got: the cluster goes again
 * at once. Silence may be a late answer: the engine waits RESYNC_MS (50) for
 * it first. Each try of a cluster waits until it is on the wire (its 4112
 * bytes at simlink's whole 86805 ns each on a 115200 8N1 line: 356942 us),
 * then 301 ms (the 300 ms timeout and the answer's 1 ms on the line), so a
 * silent try takes exactly 707942 us. */
START_TEST(test_retry_timing)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    struct wire w;
    const uint64_t line_us = 4112ull * 10 * 1000000 / 115200; /* 356944 */
    job_init(&j, 0, 3 * 4096, 9, NULL);
    base_cfg(&c, &j, "fail_cluster=2", &w);
    run_ok(&c, &r);
    ck_assert_uint_eq(w.pgm_frames, 4);
    /* the second cluster, then its resend: line time, the device's 2 ms
     * end-of-frame gap, 1 ms turnaround and the 4-byte answer; no wait */
    uint64_t again = w.pgm_us[2] - w.pgm_us[1];
    ck_assert_uint_ge(again, line_us + 3000);
    ck_assert_uint_lt(again, line_us + 3000 + 1000);
    check_content(&r, 0, j.data, 3 * 4096);
    simlink_result_free(&r);
    testjob_free(&j);

    /* ping, GET_DEVICEID, PAGE_ERASE, then the first cluster is never answered */
    job_init(&j, 0, 3 * 4096, 9, NULL);
    base_cfg(&c, &j, "silent_after=3", &w);
    run_fails(&c, &r, FWUP_RESULT_TRANSIENT, "no answer to PGM_CLUSTER_VERIFY at 0x01080000");
    ck_assert_uint_eq(w.pgm_frames, 3);
    const uint64_t wire_us = 4112 * (10 * 1000000000ull / 115200) / 1000;
    ck_assert_uint_eq(w.pgm_us[1] - w.pgm_us[0], wire_us + 301000 + 50000);
    ck_assert_uint_eq(w.pgm_us[2] - w.pgm_us[1], wire_us + 301000 + 50000);
    /* the last try is given up on without the resync wait */
    ck_assert_uint_eq(r.virtual_us - w.pgm_us[2], wire_us + 301000);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

/* The device answers ping, GET_DEVICEID, PAGE_ERASE and two clusters, then
 * goes silent: TRANSIENT naming the phase and the third cluster. */
START_TEST(test_fault_silent)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, 0, 5 * 4096, 11, NULL);
    base_cfg(&c, &j, "silent_after=5", NULL);
    run_fails(&c, &r, FWUP_RESULT_TRANSIENT, "phase write");
    ck_assert_ptr_nonnull(strstr(r.message, "0x01082000"));
    ck_assert_uint_eq(r.last_done, 2 * 4096);
    simlink_result_free(&r);
    testjob_free(&j);

    /* silent after the ping: stuck in the connect step */
    job_init(&j, 0, 4096, 11, NULL);
    base_cfg(&c, &j, "silent_after=1", NULL);
    run_fails(&c, &r, FWUP_RESULT_TRANSIENT, "GET_DEVICEID");
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

/* Damaged and lost bytes towards the device: NACKs (checksum, or a frame
 * cut short) and timeouts, all retried. */
START_TEST(test_fault_line_noise)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, 0, 64 * 1024, 12, "retries", "20", NULL);
    base_cfg(&c, &j, NULL, NULL);
    c.fault_dirs = SIMLINK_H2D;
    c.corrupt_rate = 5e-5;
    c.drop_rate = 5e-5;
    c.seed = (uint64_t)_i + 1;
    run_ok(&c, &r);
    ck_assert_uint_gt(r.bytes_corrupted + r.bytes_dropped, 0);
    check_content(&r, 0, j.data, j.len);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

/* Noise towards the host: answers arrive damaged or torn; the stream parser
 * resyncs and the command is retried after the timeout. (GPIO-held: a lost
 * erase answer waits longer than a 600 ms window, see test_window_lost.) */
START_TEST(test_fault_reply_noise)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, 0, 64 * 1024, 13, "retries", "20", "trigger", "gpio", NULL);
    base_cfg(&c, &j, "trigger=gpio", NULL);
    c.fault_dirs = SIMLINK_D2H;
    c.corrupt_rate = 0.02;
    c.drop_rate = 0.02;
    c.seed = (uint64_t)_i + 7;
    run_ok(&c, &r);
    ck_assert_uint_gt(r.bytes_corrupted + r.bytes_dropped, 0);
    check_content(&r, 0, j.data, j.len);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

/* Timer trigger: a lost answer is retried within the default timeout +
 * resync (350 ms), inside even the shortest window (400 ms), so the
 * bootloader is still there for the retry. */
START_TEST(test_fault_reply_noise_window)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, 0, 64 * 1024, 15, "retries", "20", NULL);
    base_cfg(&c, &j, "window=400", NULL);
    c.fault_dirs = SIMLINK_D2H;
    c.drop_rate = 0.03;
    c.seed = (uint64_t)_i + 11;
    run_ok(&c, &r);
    ck_assert_uint_gt(r.bytes_dropped, 0);
    check_content(&r, 0, j.data, j.len);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

START_TEST(test_cancel)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, 0, 64 * 1024, 14, NULL);
    base_cfg(&c, &j, NULL, NULL);
    c.cancel_at_ms = 1000;
    run_fails(&c, &r, FWUP_RESULT_CANCELLED, "cancelled");
    ck_assert_uint_eq(r.dev_completions, 0);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

/* ---- the model alone, driven by a scripted raw host ---- */

/* A stand-in engine: sends script[i] as one burst, waits `wait_ms`, sends
 * the next, and records every byte the device sends back. */
struct script {
    const uint8_t *frames[8];
    size_t lens[8];
    size_t n;
    uint32_t wait_ms;
};

struct fwup_engine {
    const struct fwup_host_ops *ops;
    void *host;
    size_t step;
    int finished; /* events after finish() are ignored, as the ABI asks */
};

static const struct script *g_script;
static uint8_t g_rx[256];
static size_t g_rxn;

static struct fwup_engine *raw_create(const struct fwup_job_params *p,
                                      const struct fwup_host_ops *ops, void *host, char *err,
                                      size_t errlen)
{
    (void)p;
    (void)err;
    (void)errlen;
    struct fwup_engine *e = calloc(1, sizeof(*e));
    e->ops = ops;
    e->host = host;
    return e;
}

static void raw_destroy(struct fwup_engine *e)
{
    free(e);
}

static void raw_next(struct fwup_engine *e)
{
    if (e->step == g_script->n) {
        e->finished = 1;
        e->ops->finish(e->host, FWUP_RESULT_OK, NULL);
        return;
    }
    struct fwup_unit u = {.struct_size = sizeof(u),
                          .kind = FWUP_UNIT_BYTES,
                          .data = g_script->frames[e->step],
                          .len = g_script->lens[e->step]};
    e->ops->submit(e->host, &u);
    e->step++;
    /* after the last frame, time for its answer */
    e->ops->timer(e->host, 0,
                  e->step == g_script->n && g_script->wait_ms < 100 ? 100 : g_script->wait_ms);
}

static void raw_event(struct fwup_engine *e, const struct fwup_event *ev)
{
    if (e->finished)
        return;
    if (ev->type == FWUP_EV_START || ev->type == FWUP_EV_TIMER)
        raw_next(e);
    for (size_t i = 0; ev->type == FWUP_EV_RX && i < ev->len && g_rxn < sizeof(g_rx); i++)
        g_rx[g_rxn++] = ev->data[i];
}

static const struct fwup_protocol raw_proto = {
    .abi_version = FWUP_PROTOCOL_ABI_VERSION,
    .struct_size = sizeof(struct fwup_protocol),
    .name = "raw",
    .create = raw_create,
    .destroy = raw_destroy,
    .on_event = raw_event,
};

static void run_script(const struct script *s, const char *devopts, struct simlink_result *r)
{
    struct testjob j;
    struct simlink_config c;
    job_init(&j, 0, 4, 1, NULL);
    base_cfg(&c, &j, devopts, NULL);
    c.proto = &raw_proto;
    g_script = s;
    g_rxn = 0;
    ck_assert_int_eq(simlink_run(&c, r), 0);
    ck_assert(r->engine_finished);
    ck_assert_uint_eq(r->protocol_errors, 0);
    testjob_free(&j);
}

static const uint8_t PING[4] = {0x01, 0x00, 0x07, 0x00};
static const uint8_t TWO_PINGS[8] = {0x01, 0x00, 0x07, 0x00, 0x01, 0x00, 0x07, 0x00};
static const uint8_t BLANK[12] = {0x01, 0x00, 0x06, 0x00, 0x00, 0x00,
                                  0x08, 0x01, 0x00, 0x10, 0x00, 0x00}; /* 0x01080000, 4096 */
static const uint8_t ERASE_BAD[8] = {0x01, 0x00, 0x05, 0x00, 0x10, 0x00, 0x08, 0x01};
static const uint8_t DEVID[4] = {0x01, 0x00, 0x0A, 0x00};
static const uint8_t UNKNOWN[4] = {0x00, 0x00, 0x42, 0x00};

/* Two commands in one burst are one frame to the device: NACK. Each alone
 * is answered. */
START_TEST(test_model_gap_framing)
{
    struct script s = {{TWO_PINGS, PING, PING, PING + 2}, {8, 4, 4, 2}, 4, 20};
    struct simlink_result r;
    run_script(&s, NULL, &r);
    static const uint8_t want[] = {0x03, 0x00, 0x07, 0x00,  /* NACK: 8 bytes for a 4-byte cmd */
                                   0x01, 0x00, 0x07, 0x00,  /* version 1 */
                                   0x01, 0x00, 0x07, 0x00}; /* then 2 bytes: noise, no answer */
    ck_assert_uint_eq(g_rxn, sizeof(want));
    ck_assert_int_eq(memcmp(g_rx, want, sizeof(want)), 0);
    ck_assert_int_eq(r.dev_state, SIMDEV_BUSY);
    simlink_result_free(&r);

    /* the gap is 2 ms: pings 1 ms apart merge into one frame, 3 ms apart
     * they do not */
    s = (struct script){{PING, PING}, {4, 4}, 2, 1};
    run_script(&s, NULL, &r);
    ck_assert_uint_eq(g_rxn, 4);
    ck_assert_uint_eq(g_rx[0], 0x03); /* NACK */
    simlink_result_free(&r);
    s = (struct script){{PING, PING}, {4, 4}, 2, 3};
    run_script(&s, NULL, &r);
    ck_assert_uint_eq(g_rxn, 8);
    ck_assert_uint_eq(g_rx[0], 0x01);
    ck_assert_uint_eq(g_rx[4], 0x01);
    simlink_result_free(&r);
}
END_TEST

START_TEST(test_model_commands)
{
    struct script s = {{DEVID, BLANK, ERASE_BAD, UNKNOWN}, {4, 12, 8, 4}, 4, 20};
    struct simlink_result r;
    run_script(&s, "devid=0x12345678,blank=1", &r);
    static const uint8_t want[] = {0x00, 0x00, 0x0A, 0x00, 0x78, 0x56,
                                   0x34, 0x12, 0x00, 0x00, 0x06, 0x00, /* blank: PASS */
                                   0x02, 0x00, 0x05, 0x00, /* 16 pages at an unaligned addr: FAIL */
                                   0x03, 0x00, 0x42, 0x00}; /* unknown: NACK */
    ck_assert_uint_eq(g_rxn, sizeof(want));
    ck_assert_int_eq(memcmp(g_rx, want, sizeof(want)), 0);
    simlink_result_free(&r);

    /* by default the slot holds old firmware: the same blank check fails */
    run_script(&s, "devid=0x12345678", &r);
    ck_assert_uint_eq(g_rxn, sizeof(want));
    ck_assert_uint_eq(g_rx[8], 0x02);
    ck_assert_uint_eq(g_rx[10], 0x06);
    simlink_result_free(&r);
}
END_TEST

/* The window: frames before it opens and after it closes get nothing. */
START_TEST(test_model_window)
{
    /* window 400 ms: a ping at 0 is answered, its answer restarts the
     * window, pings 300 ms apart keep it open, then 500 ms of silence
     * closes it. */
    struct script s = {{PING, PING, PING, PING}, {4, 4, 4, 4}, 4, 300};
    struct simlink_result r;
    run_script(&s, "window=400", &r);
    ck_assert_uint_eq(g_rxn, 16);
    simlink_result_free(&r);
    s.wait_ms = 500;
    run_script(&s, "window=400", &r);
    ck_assert_uint_eq(g_rxn, 4);
    ck_assert_int_eq(r.dev_state, SIMDEV_ABORTED);
    simlink_result_free(&r);
    /* the application ignores everything */
    s.wait_ms = 10;
    run_script(&s, "app_first=1", &r);
    ck_assert_uint_eq(g_rxn, 0);
    ck_assert_int_eq(r.dev_state, SIMDEV_IDLE);
    simlink_result_free(&r);
}
END_TEST

START_TEST(test_model_bad_options)
{
    char err[128];
    struct simdev_io io = {0};
    const struct simdev_class *c = testjob_device("pic32");
    ck_assert_ptr_null(c->create("window=100", &io, NULL, err, sizeof(err)));
    ck_assert_ptr_null(c->create("bogus=1", &io, NULL, err, sizeof(err)));
    ck_assert_ptr_null(c->create("reset_after_ms=500,window=600", &io, NULL, err, sizeof(err)));
    struct simdev *d =
        c->create("reset_after_ms=500,window=600,app_first=1", &io, NULL, err, sizeof(err));
    ck_assert_ptr_nonnull(d);
    c->destroy(d);
}
END_TEST

static Suite *pic32_suite(void)
{
    Suite *s = suite_create("pic32cxbz");
    TCase *t = tcase_create("engine");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_crc_vector);
    tcase_add_test(t, test_descriptor);
    tcase_add_test(t, test_check_image);
    tcase_add_loop_test(t, test_write_crc, 0, NSIZES);
    tcase_add_loop_test(t, test_write_checksum, 0, NSIZES);
    tcase_add_test(t, test_write_efficiency);
    tcase_add_test(t, test_write_sparse_slot0);
    tcase_add_test(t, test_write_chip_erase_no_reset);
    tcase_add_test(t, test_window_caught);
    tcase_add_test(t, test_window_at_power_on);
    tcase_add_test(t, test_window_missed);
    tcase_add_test(t, test_progress);
    tcase_add_test(t, test_trigger_none_no_bootloader);
    tcase_add_test(t, test_trigger_gpio);
    tcase_add_test(t, test_link_speed);
    tcase_add_test(t, test_fault_fail_cluster_once);
    tcase_add_test(t, test_fault_corrupt_verify);
    tcase_add_test(t, test_fault_silent);
    tcase_add_test(t, test_retry_timing);
    tcase_add_test(t, test_device_id);
    tcase_add_test(t, test_tx_waits);
    tcase_add_loop_test(t, test_fault_line_noise, 0, 3);
    tcase_add_loop_test(t, test_fault_reply_noise, 0, 3);
    tcase_add_loop_test(t, test_fault_reply_noise_window, 0, 3);
    tcase_add_test(t, test_cancel);
    tcase_add_test(t, test_model_gap_framing);
    tcase_add_test(t, test_model_commands);
    tcase_add_test(t, test_model_window);
    tcase_add_test(t, test_model_bad_options);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pic32_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
