/*
 * STM32 AN3155 engine against the simulated bootloader (stm32_dev.c) on
 * the virtual-clock link: plain and sparse writes, both erase commands,
 * faults, protection, geometry, verify failures and line efficiency.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fwupgw/protocol.h>

#include "failalloc.h"
#include "simdev.h"
#include "simlink.h"
#include "testjob.h"

extern const struct fwup_protocol FWUP_PROTOCOL_SYMBOL;
#define PROTO (&FWUP_PROTOCOL_SYMBOL)

#define FLASH 0x08000000u

/* ---- helpers ---- */

/* One segment of `len` random bytes (seeded with `len`) at `addr`; options
 * as name, value pairs ending with NULL. */
#define job_init(j, addr, len, ...) testjob_init(j, "stm1", addr, len, (uint32_t)(len), __VA_ARGS__)
/* Another segment, seeded with its end address. */
#define job_add_segment(j, addr, len) testjob_add_segment(j, addr, len, (uint32_t)((addr) + (len)))

static const struct simdev_class *sdev(void)
{
    return testjob_device("stm32");
}

static void base_cfg(struct simlink_config *c, const struct testjob *j, const char *devopts)
{
    memset(c, 0, sizeof(*c));
    c->proto = PROTO;
    c->params = &j->params;
    c->dev_class = sdev();
    c->dev_options = devopts;
    c->seed = 1;
    c->verbose = getenv("STM32_TEST_VERBOSE") != NULL;
}

static void run(const struct simlink_config *c, struct simlink_result *r)
{
    ck_assert_int_eq(simlink_run(c, r), 0);
    ck_assert_msg(r->engine_finished, "engine did not finish: %s", r->message);
    ck_assert_uint_eq(r->protocol_errors, 0);
}

static void run_ok(const struct simlink_config *c, struct simlink_result *r)
{
    run(c, r);
    ck_assert_msg(r->result == FWUP_RESULT_OK, "result %d: %s", r->result, r->message);
    ck_assert_int_eq(r->dev_state, SIMDEV_COMPLETE);
    ck_assert_uint_eq(r->dev_completions, 1);
    ck_assert_str_eq(r->last_phase, "finish");
}

static void run_fail(const struct simlink_config *c, struct simlink_result *r,
                     enum fwup_result want, const char *needle)
{
    run(c, r);
    ck_assert_msg(r->result == want, "result %d (want %d): %s", r->result, want, r->message);
    ck_assert_msg(strstr(r->message, needle), "message \"%s\" lacks \"%s\"", r->message, needle);
}

/* Flash (from FLASH), which held old firmware: every segment where it lies,
 * 0xFF in the rest of every `page`-byte page a segment touches (page 0: all
 * of it, after a mass erase), the old firmware untouched everywhere else. */
static void check_flash(const struct simlink_result *r, const struct testjob *j, size_t page)
{
    ck_assert_ptr_nonnull(r->dev_content);
    size_t len = r->dev_content_len;
    uint8_t *want = malloc(len);
    ck_assert_ptr_nonnull(want);
    simdev_old_firmware(want, len);
    for (size_t i = 0; i < j->img.nsegments; i++) {
        ck_assert_uint_le(j->seg[i].address - FLASH + j->seg[i].len, len);
        simdev_erase_span(want, len, j->seg[i].address - FLASH, j->seg[i].len, page);
    }
    for (size_t i = 0; i < j->img.nsegments; i++)
        memcpy(want + (j->seg[i].address - FLASH), j->seg[i].data, j->seg[i].len);
    for (size_t i = 0; memcmp(r->dev_content, want, len) && i < len; i++)
        ck_assert_msg(r->dev_content[i] == want[i], "flash 0x%08zx: 0x%02x, want 0x%02x", FLASH + i,
                      r->dev_content[i], want[i]);
    free(want);
}

#define PAGE_410 1024 /* the default part's page size */
#define ALL      0    /* the whole flash erased */

static unsigned count_pair(const struct simlink_h2d *w, uint8_t a, uint8_t b)
{
    unsigned n = 0;
    for (size_t i = 0; i + 1 < w->len; i++)
        if (w->data[i] == a && w->data[i + 1] == b)
            n++;
    return n;
}

/* ---- plain jobs ---- */

START_TEST(test_plain_sizes)
{
    static const size_t sizes[] = {4, 100, 256, 257, 1000, 4096, 20000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct testjob j;
        struct simlink_config c;
        struct simlink_result r;
        job_init(&j, FLASH, sizes[i], NULL);
        base_cfg(&c, &j, NULL);
        run_ok(&c, &r);
        ck_assert_uint_eq(r.dev_content_len, 128 * 1024); /* 0x410: 128 KiB */
        ck_assert_uint_eq(r.last_done, sizes[i]);
        check_flash(&r, &j, PAGE_410);
        simlink_result_free(&r);
        testjob_free(&j);
    }
}
END_TEST

START_TEST(test_verify_modes)
{
    static const char *const modes[] = {"block", "after", "none"};
    for (size_t i = 0; i < 3; i++) {
        struct testjob j;
        struct simlink_config c;
        struct simlink_result r;
        struct simlink_h2d w = {0};
        job_init(&j, FLASH, 3000, "verify", modes[i], NULL);
        base_cfg(&c, &j, NULL);
        c.tap = simlink_record_h2d;
        c.tap_ctx = &w;
        run_ok(&c, &r);
        check_flash(&r, &j, PAGE_410);
        /* 12 blocks; one extra read is the protection probe */
        ck_assert_uint_eq(count_pair(&w, 0x11, 0xee), i == 2 ? 1 : 13);
        ck_assert_uint_eq(count_pair(&w, 0x31, 0xce), 12);
        simlink_result_free(&r);
        free(w.data);
        testjob_free(&j);
    }
}
END_TEST

/* Sparse image across page boundaries: only touched pages are erased, the
 * rest of the (pre-filled) flash keeps its content. */
START_TEST(test_sparse_pages)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, FLASH + 0x100, 0x200, NULL);
    job_add_segment(&j, FLASH + 0xf80, 0x100); /* pages 3 and 4 */
    job_add_segment(&j, FLASH + 0x400a, 20);   /* page 16, unaligned */
    job_add_segment(&j, FLASH + 0x1fffc, 4);   /* last word of flash */
    base_cfg(&c, &j, "fill=0x00");
    run_ok(&c, &r);
    ck_assert_uint_eq(r.last_done, 0x200 + 0x100 + 20 + 4);
    uint8_t *want = calloc(1, r.dev_content_len);
    static const uint32_t pages[] = {0, 3, 4, 16, 127};
    for (size_t i = 0; i < 5; i++)
        memset(want + pages[i] * 1024, 0xff, 1024);
    for (size_t i = 0; i < j.img.nsegments; i++)
        memcpy(want + (j.seg[i].address - FLASH), j.seg[i].data, j.seg[i].len);
    ck_assert_int_eq(memcmp(want, r.dev_content, r.dev_content_len), 0);
    free(want);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

/* The page lists of the host's erase commands, as sent: the send after an
 * Erase (0x43) or Extended Erase (0x44) command pair. */
struct erases {
    int after_pair, ext;
    unsigned cmds;
    uint32_t pages[64];
    size_t npages;
};

static void erase_tap(void *ctx, enum simlink_dir dir, uint64_t t_us, const uint8_t *d, size_t n)
{
    struct erases *e = ctx;
    (void)t_us;
    if (dir != SIMLINK_H2D)
        return;
    if (e->after_pair) {
        size_t k = e->ext ? ((size_t)d[0] << 8 | d[1]) + 1 : (size_t)d[0] + 1;
        ck_assert_uint_eq(n, e->ext ? 2 + 2 * k + 1 : 1 + k + 1);
        for (size_t i = 0; i < k && e->npages < 64; i++)
            e->pages[e->npages++] = e->ext ? (uint32_t)d[2 + 2 * i] << 8 | d[3 + 2 * i] : d[1 + i];
        e->cmds++;
    }
    e->after_pair = n == 2 && ((d[0] == 0x44 && d[1] == 0xbb) || (d[0] == 0x43 && d[1] == 0xbc));
    e->ext = d[0] == 0x44;
}

/* Each page an image touches is erased once, in order, however its
 * segments share or border pages; nothing else is erased. */
START_TEST(test_erase_lists)
{
    static const struct {
        const char *devopts;
        size_t page; /* for check_flash */
        struct {
            uint32_t off, len;
        } seg[3];
        size_t nseg;
        uint32_t pages[6];
        size_t npages;
    } rows[] = {
        /* two segments inside one page */
        {NULL, 1024, {{0x10, 0x20}, {0x100, 0x20}}, 2, {0}, 1},
        /* the second starts in the page the first ends in */
        {NULL, 1024, {{0x300, 0x200}, {0x600, 0x400}}, 2, {0, 1, 2}, 3},
        {"ext_erase=0", 1024, {{0x300, 0x200}, {0x600, 0x400}}, 2, {0, 1, 2}, 3},
        /* exactly one page each, back to back */
        {NULL, 1024, {{0x0, 0x400}, {0x400, 0x400}}, 2, {0, 1}, 2},
        /* ending on a page boundary, then a gap of two pages */
        {NULL, 1024, {{0x0, 0x400}, {0xc00, 1}}, 2, {0, 3}, 2},
        /* the last byte of a page and the first of the next */
        {NULL, 1024, {{0x3ff, 1}, {0x400, 1}, {0x7ff, 2}}, 3, {0, 1, 2}, 3},
        /* F4: 16 KiB sectors, three segments in two of them */
        {"pid=0x413", 16384, {{0x0, 0x100}, {0x3f00, 0x200}, {0x5000, 0x10}}, 3, {0, 1}, 2},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct testjob j;
        struct simlink_config c;
        struct simlink_result r;
        struct erases e = {0};
        job_init(&j, FLASH + rows[i].seg[0].off, rows[i].seg[0].len, NULL);
        for (size_t k = 1; k < rows[i].nseg; k++)
            job_add_segment(&j, FLASH + rows[i].seg[k].off, rows[i].seg[k].len);
        base_cfg(&c, &j, rows[i].devopts);
        c.tap = erase_tap;
        c.tap_ctx = &e;
        run_ok(&c, &r);
        ck_assert_uint_eq(e.cmds, 1);
        ck_assert_msg(e.npages == rows[i].npages, "row %zu: %zu pages erased", i, e.npages);
        for (size_t k = 0; k < e.npages; k++)
            ck_assert_msg(e.pages[k] == rows[i].pages[k], "row %zu: erase list[%zu] = %u", i, k,
                          e.pages[k]);
        check_flash(&r, &j, rows[i].page);
        simlink_result_free(&r);
        testjob_free(&j);
    }
}
END_TEST

/* The page list cannot grow (out of memory): the job fails before any
 * erase, whichever page it was at, and the flash keeps its old firmware. */
START_TEST(test_erase_plan_out_of_memory)
{
    for (size_t nth = 1; nth <= 3; nth++) {
        struct testjob j;
        struct simlink_config c;
        struct simlink_result r;
        struct erases e = {0};
        job_init(&j, FLASH + 0x200, 0x800, NULL); /* pages 0, 1 and 2 */
        base_cfg(&c, &j, NULL);
        c.tap = erase_tap;
        c.tap_ctx = &e;
        failalloc_size(nth * sizeof(uint32_t)); /* the list of nth pages */
        run(&c, &r);
        ck_assert_uint_eq(failalloc_refused(), 1);
        failalloc_size(0);
        ck_assert_int_ne(r.result, FWUP_RESULT_OK);
        ck_assert_msg(strstr(r.message, "cannot plan the erase"), "%s", r.message);
        ck_assert_uint_eq(e.cmds, 0);
        uint8_t *old = malloc(r.dev_content_len);
        ck_assert_ptr_nonnull(old);
        simdev_old_firmware(old, r.dev_content_len);
        ck_assert_int_eq(memcmp(r.dev_content, old, r.dev_content_len), 0);
        free(old);
        simlink_result_free(&r);
        testjob_free(&j);
    }
}
END_TEST

/* F4 sectors: a 40 KiB image erases sectors 0..2 (16 KiB each) only. */
START_TEST(test_f4_sectors)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, FLASH, 40 * 1024, NULL);
    base_cfg(&c, &j, "pid=0x413,fill=0x00");
    run_ok(&c, &r);
    ck_assert_uint_eq(r.dev_content_len, 1024 * 1024);
    for (size_t i = 40 * 1024; i < 48 * 1024; i++)
        ck_assert_uint_eq(r.dev_content[i], 0xff);
    for (size_t i = 48 * 1024; i < r.dev_content_len; i++)
        ck_assert_uint_eq(r.dev_content[i], 0x00);
    ck_assert_int_eq(memcmp(r.dev_content, j.data, 40 * 1024), 0);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

START_TEST(test_legacy_vs_extended_erase)
{
    for (int ext = 0; ext <= 1; ext++) {
        struct testjob j;
        struct simlink_config c;
        struct simlink_result r;
        struct simlink_h2d w = {0};
        job_init(&j, FLASH + 0x800, 5000, NULL);
        base_cfg(&c, &j, ext ? "ext_erase=1,fill=0x5a" : "ext_erase=0,fill=0x5a");
        c.tap = simlink_record_h2d;
        c.tap_ctx = &w;
        run_ok(&c, &r);
        ck_assert_uint_eq(count_pair(&w, 0x43, 0xbc), ext ? 0 : 1);
        ck_assert_uint_eq(count_pair(&w, 0x44, 0xbb), ext ? 1 : 0);
        /* pages 2..6 erased, 0..1 and 7.. untouched */
        for (size_t i = 0; i < 0x800; i++)
            ck_assert_uint_eq(r.dev_content[i], 0x5a);
        for (size_t i = 0x800 + 5000; i < 0x1c00; i++)
            ck_assert_uint_eq(r.dev_content[i], 0xff);
        ck_assert_uint_eq(r.dev_content[0x1c00], 0x5a);
        simlink_result_free(&r);
        free(w.data);
        testjob_free(&j);
    }
}
END_TEST

START_TEST(test_mass_and_no_erase)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, FLASH + 0x400, 2000, "erase", "mass", NULL);
    base_cfg(&c, &j, NULL);
    run_ok(&c, &r);
    check_flash(&r, &j, ALL);
    simlink_result_free(&r);
    testjob_free(&j);

    job_init(&j, FLASH, 2000, "erase", "none", NULL);
    base_cfg(&c, &j, "fill=0xff"); /* erased chip: no erase needed */
    run_ok(&c, &r);
    check_flash(&r, &j, ALL);
    simlink_result_free(&r);
    testjob_free(&j);

    job_init(&j, FLASH, 2000, "erase", "none", NULL);
    base_cfg(&c, &j, "fill=0x00"); /* programmed chip: writes are refused */
    run_fail(&c, &r, FWUP_RESULT_PERMANENT, "refused write at 0x08000000");
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

START_TEST(test_go_options)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    struct simlink_h2d w = {0};
    job_init(&j, FLASH, 600, "go", "no", NULL);
    base_cfg(&c, &j, NULL);
    c.tap = simlink_record_h2d;
    c.tap_ctx = &w;
    run(&c, &r);
    ck_assert_int_eq(r.result, FWUP_RESULT_OK);
    ck_assert_uint_eq(r.dev_completions, 0);
    ck_assert_uint_eq(count_pair(&w, 0x21, 0xde), 0);
    check_flash(&r, &j, PAGE_410); /* programmed, just not started */
    simlink_result_free(&r);
    testjob_free(&j);

    w.len = 0;
    job_init(&j, FLASH, 600, "go_address", "0x08000100", NULL);
    base_cfg(&c, &j, NULL);
    c.tap = simlink_record_h2d;
    c.tap_ctx = &w;
    run_ok(&c, &r);
    static const uint8_t go[] = {0x21, 0xde, 0x08, 0x00, 0x01, 0x00, 0x09};
    ck_assert_ptr_nonnull(memmem(w.data, w.len, go, sizeof(go)));
    simlink_result_free(&r);
    free(w.data);
    testjob_free(&j);
}
END_TEST

/* ---- faults ---- */

START_TEST(test_nacks_recovered)
{
    static const char *const opts[] = {"nack_every=2", "nack_every=3", "nack_every=5,ext_erase=1"};
    for (size_t i = 0; i < 3; i++) {
        struct testjob j;
        struct simlink_config c;
        struct simlink_result r;
        job_init(&j, FLASH, 5000, NULL);
        base_cfg(&c, &j, opts[i]);
        run_ok(&c, &r);
        check_flash(&r, &j, PAGE_410);
        simlink_result_free(&r);
        testjob_free(&j);
    }
}
END_TEST

/* `retries` NACKs of one command are tolerated and the next one fails the
 * job, for every limit: at the limit the job succeeds with exactly that many
 * extra Write commands on the wire; one NACK more fails it. */
START_TEST(test_nack_limit)
{
    for (unsigned retries = 0; retries <= 2; retries++) {
        struct testjob j;
        struct simlink_config c;
        struct simlink_result r;
        struct simlink_h2d base = {0}, w = {0};
        char ro[8], dopt[32];
        snprintf(ro, sizeof(ro), "%u", retries);

        job_init(&j, FLASH, 600, "retries", ro, NULL);
        base_cfg(&c, &j, NULL);
        c.tap = simlink_record_h2d;
        c.tap_ctx = &base;
        run_ok(&c, &r);
        simlink_result_free(&r);

        snprintf(dopt, sizeof(dopt), "nack_write=%u", retries);
        base_cfg(&c, &j, dopt);
        c.tap = simlink_record_h2d;
        c.tap_ctx = &w;
        run_ok(&c, &r);
        check_flash(&r, &j, PAGE_410);
        ck_assert_uint_eq(count_pair(&w, 0x31, 0xce), count_pair(&base, 0x31, 0xce) + retries);
        simlink_result_free(&r);

        snprintf(dopt, sizeof(dopt), "nack_write=%u", retries + 1);
        base_cfg(&c, &j, dopt);
        char needle[64];
        snprintf(needle, sizeof(needle), "refused write at 0x08000000 (NACK %u times)",
                 retries + 1);
        run_fail(&c, &r, FWUP_RESULT_PERMANENT, needle);
        simlink_result_free(&r);
        free(base.data);
        free(w.data);
        testjob_free(&j);
    }
}
END_TEST

START_TEST(test_silent_device)
{
    /* Commands: 1 Get, 2 Get Version, 3 Get ID, 4 probe Read, 5 Erase,
     * then Write/Read pairs per block. */
    static const struct {
        const char *opts, *needle;
    } cases[] = {
        {"silent_after=0", "silent during connect"},
        {"silent_after=2", "silent during connect at 0x00000000 (Get ID"},
        {"silent_after=4", "silent during erase at 0x08000000"},
        {"silent_after=10", "silent during write at 0x08000200 (read"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct testjob j;
        struct simlink_config c;
        struct simlink_result r;
        job_init(&j, FLASH, 2000, NULL);
        base_cfg(&c, &j, cases[i].opts);
        run_fail(&c, &r, FWUP_RESULT_TRANSIENT, cases[i].needle);
        simlink_result_free(&r);
        testjob_free(&j);
    }
}
END_TEST

START_TEST(test_slow_erase)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    /* 4 pages at 3 s each: within 4 x 5 s */
    job_init(&j, FLASH, 4096, NULL);
    base_cfg(&c, &j, "erase_ms=3000");
    run_ok(&c, &r);
    ck_assert_uint_ge(r.virtual_us, 12000000);
    check_flash(&r, &j, PAGE_410);
    simlink_result_free(&r);

    /* 6 s a page is beyond the 5 s per page the engine allows */
    base_cfg(&c, &j, "erase_ms=6000");
    run_fail(&c, &r, FWUP_RESULT_TRANSIENT, "silent during erase");
    simlink_result_free(&r);

    /* unless told otherwise */
    j.opt[0] = (struct fwup_option){"page_erase_timeout", "7000"};
    j.params.noptions = 1;
    run_ok(&c, &r);
    simlink_result_free(&r);

    /* mass erase: 20 s within 35 s */
    j.opt[0] = (struct fwup_option){"erase", "mass"};
    base_cfg(&c, &j, "mass_erase_ms=20000");
    run_ok(&c, &r);
    ck_assert_uint_ge(r.virtual_us, 20000000);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

/* A device whose parser was already synced before the job: the first
 * 0x7F is held as half a command pair, the second draws NACK. */
struct pre {
    const struct simdev_io *io;
    void *ctx;
    struct simdev *inner;
    struct simdev_io my_io;
    int mute;
};

static void pre_send(void *ctx, const uint8_t *d, size_t n)
{
    struct pre *p = ctx;
    if (!p->mute)
        p->io->send(p->ctx, d, n);
}

static void pre_timer(void *ctx, uint32_t ms)
{
    struct pre *p = ctx;
    p->io->timer(p->ctx, ms);
}

static struct simdev *pre_create(const char *o, const struct simdev_io *io, void *ctx, char *err,
                                 size_t errlen)
{
    struct pre *p = calloc(1, sizeof(*p));
    p->io = io;
    p->ctx = ctx;
    p->my_io.send = pre_send;
    p->my_io.timer = pre_timer;
    p->inner = sdev()->create(o, &p->my_io, p, err, errlen);
    if (!p->inner) {
        free(p);
        return NULL;
    }
    return (struct simdev *)p;
}

static void pre_destroy(struct simdev *d)
{
    struct pre *p = (struct pre *)d;
    sdev()->destroy(p->inner);
    free(p);
}

static void pre_start(struct simdev *d)
{
    struct pre *p = (struct pre *)d;
    static const uint8_t sync = 0x7f;
    sdev()->start(p->inner);
    p->mute = 1; /* an earlier host synced it */
    sdev()->on_rx(p->inner, &sync, 1);
    p->mute = 0;
}

static void pre_on_rx(struct simdev *d, const uint8_t *b, size_t n)
{
    sdev()->on_rx(((struct pre *)d)->inner, b, n);
}

static void pre_on_timer(struct simdev *d)
{
    sdev()->on_timer(((struct pre *)d)->inner);
}

static enum simdev_state pre_state(const struct simdev *d)
{
    return sdev()->state(((const struct pre *)d)->inner);
}

static const uint8_t *pre_content(const struct simdev *d, size_t *len)
{
    return sdev()->content(((const struct pre *)d)->inner, len);
}

static unsigned pre_completions(const struct simdev *d)
{
    return sdev()->completions(((const struct pre *)d)->inner);
}

static const struct simdev_class presynced = {
    "stm32-presynced", pre_create, pre_destroy, pre_start,       pre_on_rx,
    pre_on_timer,      pre_state,  pre_content, pre_completions, NULL,
};

START_TEST(test_already_synced)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    struct simlink_h2d w = {0};
    struct simlink_log_match synced = {"stm32-uart: NACK to 0x7F: bootloader already synced", "",
                                       0};
    job_init(&j, FLASH, 1000, NULL);
    base_cfg(&c, &j, NULL);
    c.dev_class = &presynced;
    c.tap = simlink_record_h2d;
    c.tap_ctx = &w;
    c.on_log = simlink_match_log;
    c.log_ctx = &synced;
    run_ok(&c, &r);
    check_flash(&r, &j, PAGE_410);
    /* the first 0x7F drew nothing; the second, after the sync timeout, a NACK */
    ck_assert_uint_eq(w.data[0], 0x7f);
    ck_assert_uint_eq(w.data[1], 0x7f);
    ck_assert_uint_eq(w.data[2], 0x00); /* then Get */
    ck_assert_uint_ge(r.virtual_us, 500000);
    ck_assert_uint_eq(synced.n, 1);
    simlink_result_free(&r);
    free(w.data);
    testjob_free(&j);

    /* a device that answers the first 0x7F with ACK: nothing to say */
    synced.n = 0;
    job_init(&j, FLASH, 1000, NULL);
    base_cfg(&c, &j, NULL);
    c.on_log = simlink_match_log;
    c.log_ctx = &synced;
    run_ok(&c, &r);
    ck_assert_uint_eq(synced.n, 0);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

/* ---- geometry and image checks ---- */

START_TEST(test_unknown_pid)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, FLASH, 3000, NULL);
    base_cfg(&c, &j, "pid=0x999,flash_size=65536,page_size=1024");
    run_fail(&c, &r, FWUP_RESULT_PERMANENT, "unknown STM32 product ID 0x999");
    ck_assert_uint_eq(r.dev_completions, 0);
    simlink_result_free(&r);
    testjob_free(&j);

    job_init(&j, FLASH, 3000, "flash_size", "65536", "page_size", "1024", NULL);
    base_cfg(&c, &j, "pid=0x999,flash_size=65536,page_size=1024,fill=0x00");
    run_ok(&c, &r);
    ck_assert_uint_eq(r.dev_content_len, 65536);
    for (size_t i = 3000; i < 3072; i++)
        ck_assert_uint_eq(r.dev_content[i], 0xff);
    ck_assert_uint_eq(r.dev_content[3072], 0x00);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

/* AN3155's even parity is asked for as the link's default framing; nothing
 * else of the link is. */
START_TEST(test_link_req)
{
    struct testjob j;
    struct fwup_link_req req;
    char err[128];
    job_init(&j, FLASH, 100, NULL);
    memset(&req, 0, sizeof(req));
    req.struct_size = sizeof(req);
    req.usb_alt = -1;
    ck_assert_ptr_nonnull(PROTO->link_req);
    ck_assert_int_eq(PROTO->link_req(&j.params, &req, err, sizeof(err)), 0);
    ck_assert_str_eq(req.framing, "8E1");
    ck_assert_uint_eq(req.nfilters, 0);
    ck_assert_uint_eq(req.exclusive_bus, 0);
    ck_assert_uint_eq(req.fd, 0);
    ck_assert_int_eq(req.usb_alt, -1);
    ck_assert_ptr_null(req.usb_alt_name);
    testjob_free(&j);
}
END_TEST

START_TEST(test_image_outside_flash)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    char err[256];

    /* declared flash range: refused before any byte is sent */
    job_init(&j, FLASH, 0x20004, NULL);
    j.params.flash_base = FLASH;
    j.params.flash_size = 0x20000;
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "0x08020003"), "%s", err);
    base_cfg(&c, &j, NULL);
    ck_assert_int_eq(simlink_run(&c, &r), -1);
    ck_assert_int_eq(r.result, FWUP_RESULT_PERMANENT);
    ck_assert_uint_eq(r.bytes_host_to_dev, 0);
    simlink_result_free(&r);
    testjob_free(&j);

    /* in range */
    job_init(&j, FLASH, 0x20000, NULL);
    j.params.flash_base = FLASH;
    j.params.flash_size = 0x20000;
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), 0);
    testjob_free(&j);

    /* range from the options */
    job_init(&j, FLASH + 0x10000, 16, "flash_size", "65536", "page_size", "2048", NULL);
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "0x08010000"), "%s", err);
    testjob_free(&j);

    /* nothing declared: the chip's geometry (0x410: 128 KiB) decides */
    job_init(&j, FLASH + 0x1ff00, 0x200, NULL);
    base_cfg(&c, &j, NULL);
    run_fail(&c, &r, FWUP_RESULT_PERMANENT, "outside the chip's flash");
    ck_assert_msg(strstr(r.message, "0x080200ff"), "%s", r.message);
    simlink_result_free(&r);
    testjob_free(&j);

    /* bad options */
    job_init(&j, FLASH, 16, "verify", "sometimes", NULL);
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), -1);
    testjob_free(&j);
    job_init(&j, FLASH, 16, "flash_size", "65536", NULL);
    ck_assert_int_eq(PROTO->check_image(&j.params, err, sizeof(err)), -1);
    testjob_free(&j);
}
END_TEST

/* flash_base only means something with the geometry it goes with: alone it
 * would be ignored (the table's base used), so it is refused; with it, the
 * image is held to that base. */
START_TEST(test_flash_base_option)
{
    static const struct {
        uint32_t addr;
        const char *base, *size, *page;
        const char *err; /* NULL: accepted */
    } rows[] = {
        {FLASH, "0x08000000", NULL, NULL, "flash_base goes with flash_size and page_size"},
        {FLASH, "0", NULL, NULL, "flash_base goes with flash_size and page_size"},
        {FLASH, "0x08000000", "65536", "1024", NULL},
        {0x20000000, "0x20000000", "65536", "1024", NULL},
        {FLASH, "0x08004000", "65536", "1024", "outside the flash given by the options"},
        {FLASH, NULL, "65536", "1024", NULL}, /* base defaults to 0x08000000 */
        {FLASH, NULL, NULL, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct testjob j;
        char err[256] = "";
        job_init(&j, rows[i].addr, 16, NULL);
        size_t n = 0;
        const char *names[] = {"flash_base", "flash_size", "page_size"};
        const char *values[] = {rows[i].base, rows[i].size, rows[i].page};
        for (size_t k = 0; k < 3; k++)
            if (values[k])
                j.opt[n++] = (struct fwup_option){names[k], values[k]};
        j.params.noptions = n;
        int rc = PROTO->check_image(&j.params, err, sizeof(err));
        ck_assert_msg(rc == (rows[i].err ? -1 : 0), "row %zu: rc %d: %s", i, rc, err);
        if (rows[i].err)
            ck_assert_msg(strstr(err, rows[i].err), "row %zu: '%s' lacks '%s'", i, err,
                          rows[i].err);
        testjob_free(&j);
    }
}
END_TEST

START_TEST(test_read_protected)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, FLASH, 3000, NULL);
    base_cfg(&c, &j, "rdp=1,fill=0x00");
    run_fail(&c, &r, FWUP_RESULT_PERMANENT, "read-out protected");
    ck_assert_uint_eq(r.dev_content[5000], 0x00); /* nothing erased */
    simlink_result_free(&r);
    testjob_free(&j);

    job_init(&j, FLASH, 3000, "unprotect", "yes", NULL);
    base_cfg(&c, &j, "rdp=1,fill=0x00,mass_erase_ms=3000");
    run_ok(&c, &r);
    check_flash(&r, &j, ALL); /* Readout Unprotect mass-erased it */
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

START_TEST(test_verify_mismatch)
{
    static const char *const modes[] = {"block", "after"};
    for (size_t i = 0; i < 2; i++) {
        struct testjob j;
        struct simlink_config c;
        struct simlink_result r;
        job_init(&j, FLASH, 2000, "verify", modes[i], NULL);
        base_cfg(&c, &j, "corrupt_write=3");
        run_fail(&c, &r, FWUP_RESULT_PERMANENT, "verify failed at 0x08000200");
        ck_assert_str_eq(r.last_phase, i == 0 ? "write" : "verify");
        simlink_result_free(&r);
        testjob_free(&j);
    }
}
END_TEST

/* ---- efficiency on a paced line (virtual time: deterministic) ---- */

START_TEST(test_paced_goodput)
{
    /* 115200 8E1, 1 ms device turnaround. Per 256-byte block a write is
     * 265 bytes down and 3 ACKs (3 turnarounds); a read-back 9 bytes down,
     * 3 ACKs and 256 bytes up (3 turnarounds). */
    const double byte_s = 11.0 / 115200;
    const double t_write = 268 * byte_s + 3e-3, t_read = 268 * byte_s + 3e-3;
    static const char *const verify[] = {"none", "block"};
    for (int v = 0; v < 2; v++) {
        struct testjob j;
        struct simlink_config c;
        struct simlink_result r;
        job_init(&j, FLASH, 64 * 1024, "verify", verify[v], NULL);
        base_cfg(&c, &j, NULL);
        c.baud = 115200;
        c.bits_per_byte = 11;
        c.turnaround_us = 1000;
        run_ok(&c, &r);
        double ceiling = 256 / (t_write + (v ? t_read : 0));
        double goodput = 64 * 1024 / ((double)r.virtual_us / 1e6);
        fprintf(stderr, "paced 115200 8E1, verify=%s: %.0f B/s, %.3f of %.0f B/s\n", verify[v],
                goodput, goodput / ceiling, ceiling);
        ck_assert_msg(goodput >= 0.97 * ceiling, "goodput %.0f B/s, ceiling %.0f B/s", goodput,
                      ceiling);
        simlink_result_free(&r);
        testjob_free(&j);
    }
}
END_TEST

/* A 2400-baud 8E1 line behind a UART driver's 4 KiB buffer: the kernel
 * takes a 256-byte write at once while it spends 1.2 s on the wire, longer
 * than write_timeout (1 s). The engine times the answer from when the write
 * has left the UART, so the default timeouts hold at any speed. */
START_TEST(test_slow_link)
{
    struct testjob j;
    struct simlink_config c;
    struct simlink_result r;
    job_init(&j, FLASH, 1000, "verify", "block", NULL);
    testjob_serial_link(&j, 2400, 'E');
    base_cfg(&c, &j, NULL);
    c.baud = 2400;
    c.bits_per_byte = 11;
    c.turnaround_us = 1000;
    c.host_tx_buffer = 4096;
    run_ok(&c, &r);
    ck_assert_int_eq(memcmp(r.dev_content, j.data, 1000), 0);
    simlink_result_free(&r);
    testjob_free(&j);

    /* A host that cannot tell the line (no link): a 256-byte block read
     * back takes 1.17 s at 2400 8E1, more than cmd_timeout (1 s); the
     * read's reply is given twice that. Writes wait for on_tx_done. */
    job_init(&j, FLASH, 1000, "verify", "block", NULL);
    base_cfg(&c, &j, NULL);
    c.baud = 2400;
    c.bits_per_byte = 11;
    c.turnaround_us = 1000;
    run_ok(&c, &r);
    check_flash(&r, &j, PAGE_410);
    simlink_result_free(&r);
    testjob_free(&j);
}
END_TEST

/* Destroying no engine is a no-op, as free(NULL): a host may clean up
 * after a create() that failed without checking. */
START_TEST(test_destroy_null)
{
    PROTO->destroy(NULL);
}
END_TEST

static Suite *stm32_suite(void)
{
    Suite *s = suite_create("stm32uart");
    TCase *t = tcase_create("link");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_destroy_null);
    tcase_add_test(t, test_plain_sizes);
    tcase_add_test(t, test_verify_modes);
    tcase_add_test(t, test_sparse_pages);
    tcase_add_test(t, test_f4_sectors);
    tcase_add_test(t, test_legacy_vs_extended_erase);
    tcase_add_test(t, test_mass_and_no_erase);
    tcase_add_test(t, test_go_options);
    tcase_add_test(t, test_nacks_recovered);
    tcase_add_test(t, test_nack_limit);
    tcase_add_test(t, test_silent_device);
    tcase_add_test(t, test_slow_erase);
    tcase_add_test(t, test_already_synced);
    tcase_add_test(t, test_unknown_pid);
    tcase_add_test(t, test_link_req);
    tcase_add_test(t, test_image_outside_flash);
    tcase_add_test(t, test_flash_base_option);
    tcase_add_test(t, test_erase_lists);
    tcase_add_test(t, test_erase_plan_out_of_memory);
    tcase_add_test(t, test_read_protected);
    tcase_add_test(t, test_verify_mismatch);
    tcase_add_test(t, test_paced_goodput);
    tcase_add_test(t, test_slow_link);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(stm32_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
