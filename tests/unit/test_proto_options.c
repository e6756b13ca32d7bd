/* The helpers shared by the protocol engines (and, for options, the
 * daemon): the option reader, line timing, image extent, logging and the
 * allocation of an engine's state. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/engine.h"
#include "common/options.h"
#include "failalloc.h"

static const struct fwup_option_desc descs[] = {
    {"n", FWUP_OPT_INT, "0x10", NULL, 1, 100, ""},
    {"b", FWUP_OPT_BOOL, "no", NULL, 0, 0, ""},
    {"e", FWUP_OPT_ENUM, "two", "one|two|three", 0, 0, ""},
    {"opt", FWUP_OPT_INT, NULL, NULL, 0, 5, ""},
    {"s", FWUP_OPT_STRING, NULL, NULL, 0, 0, ""},
    {"nb", FWUP_OPT_BOOL, NULL, NULL, 0, 0, ""},  /* no default */
    {"ne", FWUP_OPT_ENUM, NULL, "a|b", 0, 0, ""}, /* no default */
    {"neg", FWUP_OPT_INT, "-3", NULL, -3, -1, ""},
};
#define NDESCS (sizeof(descs) / sizeof(descs[0]))

static struct fwup_option given[6];
static struct fwup_job_params params;
static char err[128];

static void set(size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        given[i].name = va_arg(ap, const char *);
        given[i].value = va_arg(ap, const char *);
    }
    va_end(ap);
    params = (struct fwup_job_params){.options = given, .noptions = n};
    err[0] = '\0';
}

START_TEST(test_defaults)
{
    struct fwup_opts r;
    int64_t v = -1;
    int b = -1;
    set(0);
    ck_assert_int_eq(fwup_opts_init(&r, "t", descs, NDESCS, &params, err, sizeof(err)), 0);
    ck_assert_int_eq(fwup_opt_int(&r, "n", &v), 0);
    ck_assert_int_eq(v, 16);
    ck_assert_int_eq(fwup_opt_bool(&r, "b", &b), 0);
    ck_assert_int_eq(b, 0);
    ck_assert_int_eq(fwup_opt_enum(&r, "e"), 1);
    v = 42;
    ck_assert_int_eq(fwup_opt_int(&r, "opt", &v), 1); /* no default: untouched */
    ck_assert_int_eq(v, 42);
    ck_assert_ptr_null(fwup_opt_value(&r, "s"));
}
END_TEST

START_TEST(test_given)
{
    struct fwup_opts r;
    int64_t v;
    int b;
    /* the last of repeated options wins */
    set(4, "n", "7", "b", "On", "e", "three", "n", "010");
    ck_assert_int_eq(fwup_opts_init(&r, "t", descs, NDESCS, &params, err, sizeof(err)), 0);
    ck_assert_int_eq(fwup_opt_int(&r, "n", &v), 0);
    ck_assert_int_eq(v, 8); /* strtoll base 0: octal */
    ck_assert_int_eq(fwup_opt_bool(&r, "b", &b), 0);
    ck_assert_int_eq(b, 1);
    ck_assert_int_eq(fwup_opt_enum(&r, "e"), 2);
}
END_TEST

START_TEST(test_bad)
{
    struct fwup_opts r;
    int64_t v;
    int b;
    set(1, "nosuch", "1");
    ck_assert_int_eq(fwup_opts_init(&r, "t", descs, NDESCS, &params, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "t: bad option nosuch=1");
    set(1, "n", NULL);
    ck_assert_int_eq(fwup_opts_init(&r, "t", descs, NDESCS, &params, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "t: bad option n=(null)");

    set(3, "n", "101", "b", "maybe", "e", "One");
    ck_assert_int_eq(fwup_opts_init(&r, "t", descs, NDESCS, &params, err, sizeof(err)), 0);
    ck_assert_int_eq(fwup_opt_int(&r, "n", &v), -1);
    ck_assert_str_eq(err, "t: bad option n=101");
    ck_assert_int_eq(fwup_opt_bool(&r, "b", &b), -1);
    ck_assert_str_eq(err, "t: bad option b=maybe");
    ck_assert_int_eq(fwup_opt_enum(&r, "e"), -1);
    ck_assert_str_eq(err, "t: bad option e=One");
    set(1, "n", "12x");
    ck_assert_int_eq(fwup_opts_init(&r, "t", descs, NDESCS, &params, err, sizeof(err)), 0);
    ck_assert_int_eq(fwup_opt_int(&r, "n", &v), -1);
}
END_TEST

START_TEST(test_check)
{
    static const char *const yes[] = {"true", "false", "yes", "no",   "1",
                                      "0",    "on",    "off", "TRUE", "No"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        ck_assert_msg(fwup_opt_check(&descs[1], yes[i], err, sizeof(err)) == 0, "%s", yes[i]);
    ck_assert_int_eq(fwup_opt_check(&descs[1], "2", err, sizeof(err)), -1);
    ck_assert_str_eq(err, "option 'b' must be true or false, not '2'");
    ck_assert_int_eq(fwup_opt_check(&descs[0], "0x64", err, sizeof(err)), 0);
    ck_assert_int_eq(fwup_opt_check(&descs[0], "ten", err, sizeof(err)), -1);
    ck_assert_str_eq(err, "option 'n' must be an integer, not 'ten'");
    ck_assert_int_eq(fwup_opt_check(&descs[0], "0", err, sizeof(err)), -1);
    ck_assert_str_eq(err, "option 'n' = 0 is outside 1..100");
    ck_assert_int_eq(fwup_opt_check(&descs[2], "three", err, sizeof(err)), 0);
    ck_assert_int_eq(fwup_opt_check(&descs[2], "tw", err, sizeof(err)), -1);
    ck_assert_str_eq(err, "option 'e' must be one of one|two|three, not 'tw'");
    ck_assert_int_eq(fwup_opt_check(&descs[4], "anything", err, sizeof(err)), 0);
}
END_TEST

/* Both ends of an integer range are inside it, one past either is not;
 * the first and last choices of an enum are its indexes 0 and n-1. */
START_TEST(test_bounds)
{
    static const struct {
        const char *name, *value;
        int rc;
        int64_t v;
    } rows[] = {
        {"n", "0", -1, 0},    {"n", "1", 0, 1},        {"n", "100", 0, 100}, {"n", "101", -1, 0},
        {"neg", "-4", -1, 0}, {"neg", "-3", 0, -3},    {"neg", "-1", 0, -1}, {"neg", "0", -1, 0},
        {"e", "one", 0, 0},   {"e", "three", 0, 2},    {"e", "four", -1, 0}, {"e", "on", -1, 0},
        {"e", "", -1, 0},     {"e", "one|two", -1, 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct fwup_opts r;
        const struct fwup_option_desc *d = NULL;
        for (size_t k = 0; k < NDESCS; k++)
            if (strcmp(descs[k].name, rows[i].name) == 0)
                d = &descs[k];
        ck_assert_ptr_nonnull(d);
        set(1, rows[i].name, rows[i].value);
        ck_assert_int_eq(fwup_opts_init(&r, "t", descs, NDESCS, &params, err, sizeof(err)), 0);
        int64_t v = 42;
        int rc = d->type == FWUP_OPT_ENUM ? fwup_opt_enum(&r, rows[i].name)
                                          : fwup_opt_int(&r, rows[i].name, &v);
        if (d->type == FWUP_OPT_ENUM) {
            v = rc < 0 ? 0 : rc;
            rc = rc < 0 ? -1 : 0;
        }
        ck_assert_msg(rc == rows[i].rc && (rc < 0 || v == rows[i].v), "%s=%s: rc %d, value %lld",
                      rows[i].name, rows[i].value, rc, (long long)v);
        /* the daemon's check of a config value agrees with the engine's reading */
        ck_assert_msg(fwup_opt_check(d, rows[i].value, err, sizeof(err)) == rows[i].rc,
                      "check %s=%s", rows[i].name, rows[i].value);
    }
}
END_TEST

/* Names the schema does not have are errors for every reader; options
 * without a default read as "not given" (int, bool: 1, value untouched) or
 * as an error (enum, which has no "not given" index). */
START_TEST(test_unknown_and_unset)
{
    struct fwup_opts r;
    int64_t v = 42;
    int b = 42;
    set(0);
    ck_assert_int_eq(fwup_opts_init(&r, "t", descs, NDESCS, &params, err, sizeof(err)), 0);
    ck_assert_int_eq(fwup_opt_int(&r, "nosuch", &v), -1);
    ck_assert_str_eq(err, "t: bad option nosuch=(null)");
    err[0] = '\0';
    ck_assert_int_eq(fwup_opt_bool(&r, "nosuch", &b), -1);
    ck_assert_str_eq(err, "t: bad option nosuch=(null)");
    err[0] = '\0';
    ck_assert_int_eq(fwup_opt_enum(&r, "nosuch"), -1);
    ck_assert_str_eq(err, "t: bad option nosuch=(null)");
    ck_assert_ptr_null(fwup_opt_value(&r, "nosuch"));

    err[0] = '\0';
    ck_assert_int_eq(fwup_opt_bool(&r, "nb", &b), 1);
    ck_assert_int_eq(b, 42);
    ck_assert_int_eq(fwup_opt_int(&r, "opt", &v), 1);
    ck_assert_int_eq(v, 42);
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(fwup_opt_enum(&r, "ne"), -1);
    ck_assert_str_eq(err, "t: bad option ne=(null)");

    /* given, they read as usual */
    set(2, "nb", "off", "ne", "b");
    ck_assert_int_eq(fwup_opts_init(&r, "t", descs, NDESCS, &params, err, sizeof(err)), 0);
    ck_assert_int_eq(fwup_opt_bool(&r, "nb", &b), 0);
    ck_assert_int_eq(b, 0);
    ck_assert_int_eq(fwup_opt_enum(&r, "ne"), 1);
}
END_TEST

/* ---- engine helpers ---- */

/* Bits a character takes (start, data, parity, stop) and the speed, from the
 * link the host reports, the engine's own baud option and its fallback. */
START_TEST(test_line_of)
{
    static const struct {
        int has_link;
        struct {
            uint32_t baud, data_bits;
            char parity;
            uint32_t stop_bits;
        } link;
        int64_t baud_option;
        uint32_t fallback, baud, bits;
    } rows[] = {
        {0, {0}, 0, 0, 0, 10},                    /* nothing known */
        {0, {0}, 0, 115200, 115200, 10},          /* fallback, taken as 8N1 */
        {0, {0}, 9600, 115200, 9600, 10},         /* the option wins */
        {1, {0, 7, 'E', 2}, 0, 57600, 57600, 10}, /* a link of unknown speed says nothing */
        {1, {19200, 0, 'N', 1}, 0, 0, 19200, 10}, /* no data bits given: 8 */
        {1, {19200, 0, 'E', 0}, 0, 0, 19200, 11}, /* ... and no stop bits: 1 */
        {1, {19200, 8, 'N', 1}, 0, 0, 19200, 10},
        {1, {19200, 7, 'N', 1}, 0, 0, 19200, 9},
        {1, {19200, 5, 'E', 1}, 0, 0, 19200, 8},
        {1, {19200, 8, 'E', 1}, 0, 0, 19200, 11},
        {1, {19200, 8, 'O', 1}, 0, 0, 19200, 11},
        {1, {19200, 8, 'N', 2}, 0, 0, 19200, 11},
        {1, {19200, 6, 'O', 2}, 0, 0, 19200, 10},
        {1, {19200, 8, 'E', 1}, 0, 115200, 19200, 11}, /* the link beats the fallback */
        {1, {19200, 8, 'E', 1}, 1, 0, 1, 11},          /* any option > 0 beats the link */
        {1, {19200, 8, 'E', 1}, -1, 0, 19200, 11},     /* <= 0: not given */
        {2, {19200, 8, 'E', 1}, 0, 57600, 57600, 10},  /* not a serial link: says nothing */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct fwup_serial_info ser = {
            sizeof(ser),         rows[i].link.baud,      rows[i].link.data_bits,
            rows[i].link.parity, rows[i].link.stop_bits, FWUP_FLOW_CONTROL_NONE};
        struct fwup_link_info link = {.struct_size = sizeof(link),
                                      .kind =
                                          rows[i].has_link == 1 ? FWUP_LINK_SERIAL : FWUP_LINK_CAN,
                                      .serial = &ser};
        struct fwup_job_params p = {.struct_size = sizeof(p),
                                    .link = rows[i].has_link ? &link : NULL};
        struct fwup_line l = fwup_line_of(&p, rows[i].baud_option, rows[i].fallback);
        ck_assert_msg(l.baud == rows[i].baud && l.bits == rows[i].bits,
                      "row %zu: %u baud, %u bits; want %u, %u", i, l.baud, l.bits, rows[i].baud,
                      rows[i].bits);
    }
}
END_TEST

/* Line time in whole milliseconds, rounded up: exact quotients stay, a
 * remainder of one bit-millisecond adds one. */
START_TEST(test_line_ms)
{
    static const struct {
        uint32_t baud, bits;
        uint64_t bytes;
        uint32_t ms;
    } rows[] = {
        {0, 10, 1000, 0},        /* unknown speed */
        {1000, 10, 0, 0},        /* nothing to send */
        {1000, 10, 100, 1000},   /* exact */
        {10000, 10, 1, 1},       /* exact, 1 ms */
        {10001, 10, 1, 1},       /* just under 1 ms */
        {3, 10, 1, 3334},        /* 10000 / 3 = 3333 rem 1 */
        {115200, 10, 4112, 357}, /* a PIC32 cluster frame */
        {115200, 11, 4112, 393}, /* the same at 8E1 */
        {300, 12, 1u << 20, 41943040},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct fwup_line l = {rows[i].baud, rows[i].bits};
        ck_assert_msg(fwup_line_ms(&l, rows[i].bytes) == rows[i].ms, "row %zu: %u ms, want %u", i,
                      fwup_line_ms(&l, rows[i].bytes), rows[i].ms);
    }
}
END_TEST

/* From the lowest non-empty segment to the end of the highest (segments
 * sorted, as ABI 3 images are); -1 when no byte is to be written. */
START_TEST(test_image_extent)
{
    static const uint8_t d[16];
    static const struct {
        struct fwup_segment seg[3];
        size_t n;
        int rc;
        uint64_t base, len;
    } rows[] = {
        {{{0, 1, d, -1}}, 1, 0, 0, 1},                         /* one byte at 0 */
        {{{0x100, 0, d, -1}}, 1, -1, 0, 0},                    /* only an empty segment */
        {{{0x100, 0, d, -1}, {0x200, 0, d, -1}}, 2, -1, 0, 0}, /* only empty ones */
        {{{0x1000, 4, d, -1}, {0x2000, 16, d, -1}}, 2, 0, 0x1000, 0x1010},
        /* empty ends */
        {{{0x800, 0, d, -1}, {0x1000, 4, d, -1}, {0x2000, 0, d, -1}}, 3, 0, 0x1000, 4},
        {{{0x1000, 4, d, -1}, {0x10, 16, d, -1}}, 1, 0, 0x1000, 4}, /* only the first n count */
        {{{0xffffff00, 1, d, -1}, {0xfffffffe, 2, d, -1}}, 2, 0, 0xffffff00, 0x100}, /* 4 GiB */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct fwup_image img = {.struct_size = sizeof(img),
                                 .segment_size = sizeof(rows[i].seg[0]),
                                 .segments = rows[i].seg,
                                 .nsegments = rows[i].n};
        uint64_t base = 7, len = 7;
        int rc = fwup_image_extent(&img, &base, &len);
        ck_assert_msg(rc == rows[i].rc, "row %zu: rc %d", i, rc);
        if (rc == 0)
            ck_assert_msg(base == rows[i].base && len == rows[i].len,
                          "row %zu: 0x%llx + 0x%llx, want 0x%llx + 0x%llx", i,
                          (unsigned long long)base, (unsigned long long)len,
                          (unsigned long long)rows[i].base, (unsigned long long)rows[i].len);
    }
    uint64_t base, len;
    struct fwup_image none = {.struct_size = sizeof(none),
                              .segment_size = sizeof(struct fwup_segment),
                              .segments = NULL,
                              .nsegments = 1};
    ck_assert_int_eq(fwup_image_extent(NULL, &base, &len), -1);
    ck_assert_int_eq(fwup_image_extent(&none, &base, &len), -1);
    none.segments = rows[0].seg;
    none.nsegments = 0;
    ck_assert_int_eq(fwup_image_extent(&none, &base, &len), -1);
}
END_TEST

static char logged[512];
static unsigned nlogged;
static enum fwup_log_prio logged_prio;

static void log_to(void *host, enum fwup_log_prio prio, const char *msg)
{
    ck_assert_ptr_eq(host, logged);
    snprintf(logged, sizeof(logged), "%s", msg);
    logged_prio = prio;
    nlogged++;
}

/* Formatted through the host's optional log op, cut at 239 bytes. */
START_TEST(test_logf)
{
    struct fwup_host_ops ops = {0};
    char longer[301];
    memset(longer, 'x', 300);
    longer[300] = '\0';
    nlogged = 0;
    fwup_logf(&ops, logged, FWUP_LOG_INFO, "no log op: %d", 1);
    ck_assert_uint_eq(nlogged, 0);
    ops.log = log_to;
    fwup_logf(&ops, logged, FWUP_LOG_WARNING, "%s at 0x%08x", "NACK", 0x8000000u);
    ck_assert_uint_eq(nlogged, 1);
    ck_assert_str_eq(logged, "NACK at 0x08000000");
    ck_assert_int_eq(logged_prio, FWUP_LOG_WARNING);
    fwup_logf(&ops, logged, FWUP_LOG_DEBUG, "%.238s", longer);
    ck_assert_uint_eq(strlen(logged), 238);
    fwup_logf(&ops, logged, FWUP_LOG_DEBUG, "%.239s", longer);
    ck_assert_uint_eq(strlen(logged), 239);
    fwup_logf(&ops, logged, FWUP_LOG_DEBUG, "%s", longer);
    ck_assert_uint_eq(strlen(logged), 239);
    ck_assert_uint_eq(nlogged, 4);
}
END_TEST

/* Zeroed state, or NULL with the reason when memory runs out (and err left
 * alone otherwise). */
START_TEST(test_engine_alloc)
{
    char e[64] = "untouched";
    const size_t size = 3000;
    unsigned char *p = fwup_engine_alloc(size, "proto", e, sizeof(e));
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < size; i++)
        ck_assert_uint_eq(p[i], 0);
    ck_assert_str_eq(e, "untouched");
    free(p);

    failalloc_size(size);
    ck_assert_ptr_null(fwup_engine_alloc(size, "proto", e, sizeof(e)));
    ck_assert_uint_eq(failalloc_refused(), 1);
    ck_assert_str_eq(e, "proto: out of memory");
    failalloc_size(0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proto_options");
    TCase *t = tcase_create("options");
    tcase_add_test(t, test_defaults);
    tcase_add_test(t, test_given);
    tcase_add_test(t, test_bad);
    tcase_add_test(t, test_check);
    tcase_add_test(t, test_bounds);
    tcase_add_test(t, test_unknown_and_unset);
    suite_add_tcase(s, t);
    t = tcase_create("engine");
    tcase_add_test(t, test_line_of);
    tcase_add_test(t, test_line_ms);
    tcase_add_test(t, test_image_extent);
    tcase_add_test(t, test_logf);
    tcase_add_test(t, test_engine_alloc);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
