/* fwupctl's pure pieces: size/rate/ETA/time formatting, progress bars, job
 * lines, the rate estimator, tables, the message classifier, and the
 * client's round trip over a socketpair (descriptor
 * passing, notification queueing, errors, long lines). */
#include "client.h"
#include "output.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FMT(fn, ...)                                                                               \
    ({                                                                                             \
        static char b_[256];                                                                       \
        fn(b_, sizeof(b_), __VA_ARGS__);                                                           \
    })

START_TEST(test_size)
{
    ck_assert_str_eq(FMT(fwup_fmt_size, 0), "0 B");
    ck_assert_str_eq(FMT(fwup_fmt_size, 999), "999 B");
    ck_assert_str_eq(FMT(fwup_fmt_size, 1000), "1.0 kB");
    ck_assert_str_eq(FMT(fwup_fmt_size, 11200), "11.2 kB");
    ck_assert_str_eq(FMT(fwup_fmt_size, 40960), "41.0 kB");
    ck_assert_str_eq(FMT(fwup_fmt_size, 999949), "999.9 kB");
    ck_assert_str_eq(FMT(fwup_fmt_size, 999999), "1.0 MB");
    ck_assert_str_eq(FMT(fwup_fmt_size, 1500000), "1.5 MB");
    ck_assert_str_eq(FMT(fwup_fmt_size, 3000000000ull), "3.0 GB");

    ck_assert_str_eq(FMT(fwup_fmt_size_iec, 100), "100 B");
    ck_assert_str_eq(FMT(fwup_fmt_size_iec, 1024), "1 KiB");
    ck_assert_str_eq(FMT(fwup_fmt_size_iec, 262144), "256 KiB");
    ck_assert_str_eq(FMT(fwup_fmt_size_iec, 1536 * 1024), "1.5 MiB");
    ck_assert_str_eq(FMT(fwup_fmt_size_iec, 1048576), "1 MiB");

    ck_assert_str_eq(FMT(fwup_fmt_rate, 11200.4), "11.2 kB/s");
    ck_assert_str_eq(FMT(fwup_fmt_rate, 512.0), "512 B/s");
    ck_assert_str_eq(FMT(fwup_fmt_rate, 0.0), "0 B/s");
    ck_assert_str_eq(FMT(fwup_fmt_rate, -5.0), "0 B/s");
    ck_assert_str_eq(FMT(fwup_fmt_rate, NAN), "0 B/s");

    char tiny[4];
    fwup_fmt_size(tiny, sizeof(tiny), 123456);
    ck_assert_uint_eq(strlen(tiny), 3);
}
END_TEST

START_TEST(test_duration_eta)
{
    ck_assert_str_eq(FMT(fwup_fmt_duration, (int64_t)-1), "--");
    ck_assert_str_eq(FMT(fwup_fmt_duration, (int64_t)0), "0s");
    ck_assert_str_eq(FMT(fwup_fmt_duration, (int64_t)59), "59s");
    ck_assert_str_eq(FMT(fwup_fmt_duration, (int64_t)60), "1m00s");
    ck_assert_str_eq(FMT(fwup_fmt_duration, (int64_t)65), "1m05s");
    ck_assert_str_eq(FMT(fwup_fmt_duration, (int64_t)3600), "1h00m");
    ck_assert_str_eq(FMT(fwup_fmt_duration, (int64_t)7380), "2h03m");
    ck_assert_str_eq(FMT(fwup_fmt_duration, (int64_t)90000), "1d01h");

    ck_assert_int_eq(fwup_eta_seconds(20480, 40960, 10240), 2);
    ck_assert_int_eq(fwup_eta_seconds(1, 10, 4), 3); /* rounded up */
    ck_assert_int_eq(fwup_eta_seconds(0, 40960, 0), -1);
    ck_assert_int_eq(fwup_eta_seconds(0, 40960, -3), -1);
    ck_assert_int_eq(fwup_eta_seconds(0, 0, 100), -1);
    ck_assert_int_eq(fwup_eta_seconds(50, 40, 100), 0);
}
END_TEST

START_TEST(test_time)
{
    setenv("TZ", "UTC", 1);
    tzset();
    ck_assert_str_eq(FMT(fwup_fmt_time, (int64_t)1764000000000), "2025-11-24T16:00:00+00:00");
    ck_assert_str_eq(FMT(fwup_fmt_time, (int64_t)1764000000999), "2025-11-24T16:00:00+00:00");
    ck_assert_str_eq(FMT(fwup_fmt_time, (int64_t)0), "-");
    setenv("TZ", "IST-5:30", 1);
    tzset();
    ck_assert_str_eq(FMT(fwup_fmt_time, (int64_t)1764000000000), "2025-11-24T21:30:00+05:30");
    setenv("TZ", "EST5", 1);
    tzset();
    ck_assert_str_eq(FMT(fwup_fmt_time, (int64_t)1764000000000), "2025-11-24T11:00:00-05:00");
    unsetenv("TZ");
    tzset();
}
END_TEST

START_TEST(test_percent_bar)
{
    ck_assert_uint_eq(fwup_percent(20480, 40960), 50);
    ck_assert_uint_eq(fwup_percent(0, 0), 0);
    ck_assert_uint_eq(fwup_percent(1, 3), 33);
    ck_assert_uint_eq(fwup_percent(2, 3), 66);
    ck_assert_uint_eq(fwup_percent(40959, 40960), 99);
    ck_assert_uint_eq(fwup_percent(40960, 40960), 100);
    ck_assert_uint_eq(fwup_percent(5, 3), 100);

    ck_assert_str_eq(FMT(fwup_fmt_bar, 10u, (uint64_t)5, (uint64_t)10), "[#####-----]");
    ck_assert_str_eq(FMT(fwup_fmt_bar, 10u, (uint64_t)0, (uint64_t)0), "[----------]");
    ck_assert_str_eq(FMT(fwup_fmt_bar, 10u, (uint64_t)99, (uint64_t)100), "[#########-]");
    ck_assert_str_eq(FMT(fwup_fmt_bar, 10u, (uint64_t)100, (uint64_t)100), "[##########]");
    ck_assert_str_eq(FMT(fwup_fmt_bar, 4u, (uint64_t)7, (uint64_t)5), "[####]");
    ck_assert_str_eq(FMT(fwup_fmt_bar, 0u, (uint64_t)1, (uint64_t)2), "[]");
    char small[5] = "xxxx";
    fwup_fmt_bar(small, sizeof(small), 10, 10, 10);
    ck_assert_str_eq(small, "[###");
}
END_TEST

START_TEST(test_sanitize)
{
    char s[] = "a\x1b[2Jb\n\tc\x7f";
    fwup_sanitize(s);
    ck_assert_str_eq(s, "a [2Jb  c ");
    char c1[] = "x\xc2\x9b"
                "1m\xc3\xa9";
    fwup_sanitize(c1);
    ck_assert_str_eq(c1, "x  1m\xc3\xa9");
}
END_TEST

static json_t *job(const char *state, const char *phase, int done, int total)
{
    json_t *j = json_pack("{s:i, s:s, s:{s:s, s:s, s:i}, s:i, s:s, s:s, s:s, s:i, s:i, s:i, s:i,"
                          " s:b, s:s, s:I, s:I}",
                          "id", 12, "device", "dev3", "image", "sha256", "ab12", "format", "ihex",
                          "size", total, "batch", 4, "version", "2.1.0", "state", state, "phase",
                          phase, "bytes_done", done, "bytes_total", total, "attempt", 1,
                          "max_attempts", 3, "cancel_requested", 0, "last_error", "", "created",
                          (json_int_t)1764000000000, "updated", (json_int_t)1764000001000);
    ck_assert_ptr_nonnull(j);
    return j;
}

START_TEST(test_job_lines)
{
    struct fwup_job_view v;
    char buf[512];
    json_t *j = job("running", "transfer", 20480, 40960);
    ck_assert_int_eq(fwup_job_view_from_json(&v, j), 0);
    ck_assert_int_eq(v.id, 12);
    ck_assert_int_eq(v.batch, 4);
    ck_assert_str_eq(v.device, "dev3");
    ck_assert_str_eq(v.version, "2.1.0");
    ck_assert_uint_eq(v.done, 20480);
    ck_assert_uint_eq(v.total, 40960);
    ck_assert_int_eq(v.updated, 1764000001000);
    ck_assert(!fwup_job_state_final(v.state));
    ck_assert_str_eq(fwup_fmt_state_line(buf, sizeof(buf), &v), "job 12 dev3 running transfer");
    ck_assert_str_eq(fwup_fmt_progress_line(buf, sizeof(buf), &v, 11200),
                     "job 12 dev3 transfer 50% 20480/40960 B 11.2 kB/s eta 2s");
    ck_assert_str_eq(fwup_fmt_progress_line(buf, sizeof(buf), &v, 0),
                     "job 12 dev3 transfer 50% 20480/40960 B");
    ck_assert_str_eq(fwup_fmt_live_line(buf, sizeof(buf), &v, 11200, 0),
                     "job 12    dev3         transfer  [##########----------]  50%  "
                     "20480/40960 B  11.2 kB/s  eta 2s");
    /* Narrow: padding and bar go before the rate is cut. */
    fwup_fmt_live_line(buf, sizeof(buf), &v, 11200, 40);
    ck_assert_str_eq(buf, "job 12    dev3 transfer   50%  11.2 kB/s");

    v.cancel_requested = true;
    ck_assert_str_eq(fwup_fmt_state_line(buf, sizeof(buf), &v),
                     "job 12 dev3 running transfer (cancel requested)");
    json_decref(j);

    j = job("failed", "transfer", 1024, 40960);
    json_object_set_new(j, "last_error", json_string("dev3: timeout\nwaiting"));
    json_object_set_new(j, "attempt", json_integer(3));
    json_object_set_new(j, "cancel_requested", json_true());
    ck_assert_int_eq(fwup_job_view_from_json(&v, j), 0);
    ck_assert(fwup_job_state_final(v.state));
    ck_assert_str_eq(fwup_fmt_state_line(buf, sizeof(buf), &v),
                     "job 12 dev3 failed: dev3: timeout waiting");
    ck_assert_str_eq(fwup_fmt_live_line(buf, sizeof(buf), &v, 500, 0),
                     "job 12    dev3         failed    [--------------------]   2%  "
                     "1024/40960 B  dev3: timeout waiting");
    json_decref(j);

    j = job("queued", "", 0, 0);
    ck_assert_int_eq(fwup_job_view_from_json(&v, j), 0);
    ck_assert_str_eq(fwup_fmt_state_line(buf, sizeof(buf), &v), "job 12 dev3 queued");
    ck_assert_str_eq(fwup_fmt_live_line(buf, sizeof(buf), &v, 0, 0),
                     "job 12    dev3         queued    [--------------------]   0%");
    /* What its run waits for. */
    json_object_set_new(j, "waiting", json_string("port /dev/ttyUSB0: in use by job 11"));
    ck_assert_int_eq(fwup_job_view_from_json(&v, j), 0);
    ck_assert_str_eq(fwup_fmt_state_line(buf, sizeof(buf), &v),
                     "job 12 dev3 queued (waiting: port /dev/ttyUSB0: in use by job 11)");
    ck_assert_str_eq(fwup_fmt_live_line(buf, sizeof(buf), &v, 0, 0),
                     "job 12    dev3         queued    [--------------------]   0%  "
                     "waiting: port /dev/ttyUSB0: in use by job 11");
    /* A job that is not queued waits for nothing, whatever the field says. */
    json_object_set_new(j, "state", json_string("running"));
    ck_assert_int_eq(fwup_job_view_from_json(&v, j), 0);
    ck_assert_str_eq(v.waiting, "");
    ck_assert_str_eq(fwup_fmt_state_line(buf, sizeof(buf), &v), "job 12 dev3 running");
    json_object_set_new(j, "state", json_string("queued"));
    json_object_set_new(j, "waiting", json_null());
    ck_assert_int_eq(fwup_job_view_from_json(&v, j), 0);
    ck_assert_str_eq(fwup_fmt_state_line(buf, sizeof(buf), &v), "job 12 dev3 queued");
    json_decref(j);

    j = job("succeeded", "finish", 40960, 40960);
    ck_assert_int_eq(fwup_job_view_from_json(&v, j), 0);
    ck_assert_str_eq(fwup_fmt_state_line(buf, sizeof(buf), &v), "job 12 dev3 succeeded");
    json_decref(j);

    /* Tiny buffers stay terminated. */
    char small[8];
    fwup_fmt_state_line(small, sizeof(small), &v);
    ck_assert_str_eq(small, "job 12 ");

    j = json_pack("{s:s}", "id", "12");
    ck_assert_int_eq(fwup_job_view_from_json(&v, j), -1);
    json_decref(j);
    ck_assert_int_eq(fwup_job_view_from_json(&v, NULL), -1);
}
END_TEST

/* The longest device id the config takes reaches the output whole; the
 * view holds nothing longer. */
START_TEST(test_id_limit)
{
    struct fwup_job_view v;
    char id[FWUP_ID_MAX + 2], want[FWUP_ID_MAX + 32], buf[512];
    memset(id, 'd', sizeof(id) - 1);
    id[FWUP_ID_MAX - 1] = 'z'; /* the last character of the longest id */
    id[FWUP_ID_MAX] = '\0';
    json_t *j = job("queued", "", 0, 0);
    json_object_set_new(j, "device", json_string(id));
    ck_assert_int_eq(fwup_job_view_from_json(&v, j), 0);
    ck_assert_str_eq(v.device, id);
    snprintf(want, sizeof(want), "job 12 %s queued", id);
    ck_assert_str_eq(fwup_fmt_state_line(buf, sizeof(buf), &v), want);

    id[FWUP_ID_MAX] = 'x';
    id[FWUP_ID_MAX + 1] = '\0';
    json_object_set_new(j, "device", json_string(id));
    ck_assert_int_eq(fwup_job_view_from_json(&v, j), 0);
    ck_assert_uint_eq(strlen(v.device), FWUP_ID_MAX);
    ck_assert_int_eq(v.device[FWUP_ID_MAX - 1], 'z');
    json_decref(j);
}
END_TEST

/* Display width in UTF-8 code points. */
static size_t cols(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

START_TEST(test_live_line_width)
{
    struct fwup_job_view v;
    char buf[512];
    json_t *j = job("running", "transfer", 524288, 1048576);
    json_object_set_new(j, "device", json_string("pump-controller-line-a-cabinet-7-slot-12"));
    ck_assert_int_eq(fwup_job_view_from_json(&v, j), 0);
    /* 80 columns (the live view leaves the last one free): the name gives
     * way so the rate and ETA stay. */
    fwup_fmt_live_line(buf, sizeof(buf), &v, 11200, 79);
    ck_assert_str_eq(buf, "job 12    pump-controller-line-a-cabinet-7.. transfer   50%  "
                          "11.2 kB/s  eta 47s");
    /* Wider: the bar comes back first, then the byte counts. */
    fwup_fmt_live_line(buf, sizeof(buf), &v, 11200, 100);
    ck_assert_str_eq(buf, "job 12    pump-controller-line-a-cabinet-7-slot-12 transfer  "
                          "[######------]  50%  11.2 kB/s  eta 47s");
    ck_assert_uint_eq(cols(buf), 100);
    fwup_fmt_live_line(buf, sizeof(buf), &v, 11200, 200);
    ck_assert_str_eq(buf, "job 12    pump-controller-line-a-cabinet-7-slot-12 transfer  "
                          "[##########----------]  50%  524288/1048576 B  11.2 kB/s  eta 47s");
    /* Every width from 40 to 200 stays inside it and, from 80 on, shows
     * the rate and the ETA. */
    for (unsigned w = 40; w <= 200; w++) {
        fwup_fmt_live_line(buf, sizeof(buf), &v, 11200, w);
        ck_assert_uint_le(cols(buf), w);
        if (w >= 79)
            ck_assert_ptr_nonnull(strstr(buf, "11.2 kB/s  eta 47s"));
    }
    /* A short name at 80 columns: nothing shortened, only the bar. */
    json_object_set_new(j, "device", json_string("dev3"));
    ck_assert_int_eq(fwup_job_view_from_json(&v, j), 0);
    fwup_fmt_live_line(buf, sizeof(buf), &v, 11200, 79);
    ck_assert_str_eq(buf, "job 12    dev3         transfer  [#########----------]  50%  "
                          "11.2 kB/s  eta 47s");
    /* A failed job keeps its error rather than its bar. */
    json_object_set_new(j, "state", json_string("failed"));
    json_object_set_new(j, "device", json_string("pump-controller-line-a-cabinet-7-slot-12"));
    json_object_set_new(j, "last_error", json_string("timeout (gave up after 3 attempts)"));
    json_object_set_new(j, "attempt", json_integer(3));
    ck_assert_int_eq(fwup_job_view_from_json(&v, j), 0);
    fwup_fmt_live_line(buf, sizeof(buf), &v, 0, 79);
    ck_assert_str_eq(buf, "job 12    pump-controller-.. failed     50%  "
                          "timeout (gave up after 3 attempts)");
    json_decref(j);
}
END_TEST

START_TEST(test_attempt_once)
{
    /* A finished job's error says how many attempts it took (the daemon's
     * "gave up after"): the lines must not say it again. A job waiting for
     * its retry still shows where it stands. */
    static const struct {
        const char *state, *error, *line, *attempt_words;
        int attempt;
        bool shown;
    } cases[] = {
        {"failed", "dev3: timeout (gave up after 3 attempts)",
         "job 12 dev3 failed: dev3: timeout (gave up after 3 attempts)", "attempt 3/3", 3, false},
        {"queued", "dev3: timeout", "job 12 dev3 queued: dev3: timeout (attempt 2/3)",
         "attempt 2/3", 2, true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fwup_job_view v;
        char buf[512];
        json_t *j = job(cases[i].state, "transfer", 1024, 40960);
        json_object_set_new(j, "last_error", json_string(cases[i].error));
        json_object_set_new(j, "attempt", json_integer(cases[i].attempt));
        ck_assert_int_eq(fwup_job_view_from_json(&v, j), 0);
        ck_assert_str_eq(fwup_fmt_state_line(buf, sizeof(buf), &v), cases[i].line);
        fwup_fmt_live_line(buf, sizeof(buf), &v, 0, 0);
        ck_assert_int_eq(strstr(buf, cases[i].attempt_words) != NULL, cases[i].shown);
        json_decref(j);
    }
}
END_TEST

START_TEST(test_term_mode)
{
    ck_assert_int_eq(fwup_term_mode(true, "xterm-256color", NULL), FWUP_TERM_LIVE);
    ck_assert_int_eq(fwup_term_mode(true, "linux", ""), FWUP_TERM_LIVE);
    ck_assert_int_eq(fwup_term_mode(true, "dumb", NULL), FWUP_TERM_PLAIN);
    ck_assert_int_eq(fwup_term_mode(true, NULL, NULL), FWUP_TERM_PLAIN);
    ck_assert_int_eq(fwup_term_mode(true, "", NULL), FWUP_TERM_PLAIN);
    ck_assert_int_eq(fwup_term_mode(true, "xterm", "1"), FWUP_TERM_PLAIN);
    ck_assert_int_eq(fwup_term_mode(false, "xterm", NULL), FWUP_TERM_PLAIN);
}
END_TEST

START_TEST(test_rate)
{
    struct fwup_rate r;
    fwup_rate_reset(&r);
    ck_assert(fwup_rate_update(&r, 0, 0) == 0);
    ck_assert_double_eq_tol(fwup_rate_update(&r, 1000, 10000), 10000, 1e-9);
    ck_assert_double_eq_tol(fwup_rate_update(&r, 1000, 12000), 10000, 1e-9); /* same instant */
    ck_assert_double_eq_tol(fwup_rate_update(&r, 2000, 20000), 10000, 1e-9);
    fwup_rate_reset(&r);
    fwup_rate_update(&r, 0, 0);
    fwup_rate_update(&r, 1000, 10000);
    ck_assert_double_eq_tol(fwup_rate_update(&r, 2000, 20000), 10000, 1e-9);
    double alpha = 1.0 - exp(-0.5);
    ck_assert_double_eq_tol(fwup_rate_update(&r, 3000, 40000), 10000 + alpha * 10000, 1e-6);
    /* A retry restarts the transfer: forget the old estimate. */
    ck_assert(fwup_rate_update(&r, 4000, 100) == 0);
    ck_assert_double_eq_tol(fwup_rate_update(&r, 4500, 600), 1000, 1e-9);
}
END_TEST

START_TEST(test_table)
{
    static const char *const hdr[] = {"ID", "NAME", "NOTE"};
    struct fwup_table t;
    fwup_table_init(&t, 3, hdr);
    char *s = fwup_table_render(&t);
    ck_assert_str_eq(s, "ID  NAME  NOTE\n");
    free(s);
    const char *r1[] = {"1", "d\xc3\xa9v", "x\x1b[0m"};
    const char *r2[] = {"1234", NULL, "last"};
    fwup_table_add(&t, r1);
    fwup_table_add(&t, r2);
    ck_assert_uint_eq(t.nrows, 2);
    for (int i = 0; i < 20; i++) /* grow past the initial capacity */
        fwup_table_add(&t, r2);
    s = fwup_table_render(&t);
    const char *want = "ID    NAME  NOTE\n"
                       "1     d\xc3\xa9v   x [0m\n"
                       "1234  -     last\n";
    ck_assert(!strncmp(s, want, strlen(want)));
    ck_assert_uint_eq(strlen(s), strlen(want) + 20 * strlen("1234  -     last\n"));
    free(s);
    fwup_table_free(&t);
}
END_TEST

/* What queue and apply --dry-run say about an image. */
START_TEST(test_image_summary)
{
    char buf[160];
    json_t *img = json_pack("{s:s sI sI sI sI}", "format", "ihex", "address_first",
                            (json_int_t)0x08000000, "address_last", (json_int_t)0x0800A3FF, "bytes",
                            (json_int_t)41984, "segments", (json_int_t)1);
    ck_assert_str_eq(fwup_fmt_image(buf, sizeof(buf), img),
                     "ihex, 0x08000000-0x0800A3FF, 41984 bytes");
    ck_assert_str_eq(fwup_fmt_image_range(buf, sizeof(buf), img), "0x08000000-0x0800A3FF");
    /* sparse, and the top of the address space */
    json_object_set_new(img, "segments", json_integer(3));
    json_object_set_new(img, "address_last", json_integer(0xFFFFFFFF));
    ck_assert_str_eq(fwup_fmt_image(buf, sizeof(buf), img),
                     "ihex, 0x08000000-0xFFFFFFFF, 41984 bytes in 3 segments");
    /* daemon text cannot reach the terminal raw */
    json_object_set_new(img, "format", json_string("e\x1b[2Jlf"));
    ck_assert_ptr_null(strchr(fwup_fmt_image(buf, sizeof(buf), img), '\x1b'));
    json_decref(img);
    /* an older daemon sends no Image */
    ck_assert_str_eq(fwup_fmt_image(buf, sizeof(buf), NULL), "-");
    ck_assert_str_eq(fwup_fmt_image_range(buf, sizeof(buf), NULL), "-");
}
END_TEST

static enum fwup_msg_kind classify(const char *text, json_int_t want)
{
    json_t *m = json_loads(text, JSON_DECODE_ANY, NULL);
    ck_assert_ptr_nonnull(m);
    enum fwup_msg_kind k = fwup_msg_classify(m, want);
    json_decref(m);
    return k;
}

START_TEST(test_classify)
{
    ck_assert_int_eq(classify("{\"v\":1,\"id\":7,\"result\":{}}", 7), FWUP_MSG_REPLY);
    ck_assert_int_eq(classify("{\"v\":1,\"id\":7,\"error\":{\"code\":2}}", 7), FWUP_MSG_REPLY);
    ck_assert_int_eq(classify("{\"v\":1,\"id\":6,\"result\":{}}", 7), FWUP_MSG_STALE);
    ck_assert_int_eq(classify("{\"v\":1,\"id\":\"7\",\"result\":{}}", 7), FWUP_MSG_STALE);
    ck_assert_int_eq(classify("{\"v\":1,\"method\":\"event\",\"params\":{}}", 7),
                     FWUP_MSG_NOTIFICATION);
    ck_assert_int_eq(classify("{\"v\":1,\"id\":null,\"error\":{\"code\":-32700}}", 7),
                     FWUP_MSG_REPLY);
    ck_assert_int_eq(classify("{\"v\":1,\"id\":null,\"result\":{}}", 7), FWUP_MSG_INVALID);
    ck_assert_int_eq(classify("{\"v\":1,\"id\":7}", 7), FWUP_MSG_INVALID);
    ck_assert_int_eq(classify("{\"v\":1}", 7), FWUP_MSG_INVALID);
    ck_assert_int_eq(classify("[1,2]", 7), FWUP_MSG_INVALID);
    ck_assert_int_eq(classify("42", 7), FWUP_MSG_INVALID);
}
END_TEST

/* --- the client over a socketpair ------------------------------------------ */

static void put(int fd, const char *s)
{
    size_t n = strlen(s);
    ck_assert_int_eq(write(fd, s, n), (ssize_t)n);
}

/* Reads one request line (and descriptors) from the daemon's side. */
static json_t *take_request(int fd, int *fds, size_t *nfds)
{
    char buf[65536];
    union {
        char b[CMSG_SPACE(sizeof(int) * 8)];
        struct cmsghdr align;
    } cm;
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf) - 1};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b, .msg_controllen = sizeof(cm.b)};
    ssize_t n = recvmsg(fd, &mh, 0);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(buf[n - 1], '\n');
    buf[n] = '\0';
    *nfds = 0;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h))
        if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS) {
            *nfds = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            memcpy(fds, CMSG_DATA(h), *nfds * sizeof(int));
        }
    json_t *req = json_loads(buf, 0, NULL);
    ck_assert_ptr_nonnull(req);
    return req;
}

static void pair(struct fwup_client *c, int *peer)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fwup_client_init(c);
    c->fd = sv[0];
    *peer = sv[1];
}

START_TEST(test_client_roundtrip)
{
    struct fwup_client c;
    int peer;
    pair(&c, &peer);
    /* Written before the call: a notification, a stale reply and ours split
     * by a blank line arrive ahead of and around the answer. */
    put(peer, "{\"v\":1,\"method\":\"event\",\"params\":{\"type\":\"state\",\"job\":{\"id\":1}}}\n"
              "{\"v\":1,\"id\":99,\"result\":{}}\n\n{\"v\":1,\"id\":1,");
    put(peer, "\"result\":{\"ok\":true}}\n"
              "{\"v\":1,\"method\":\"event\",\"params\":{\"type\":\"progress\"}}\n");
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    json_t *res;
    ck_assert_int_eq(fwup_client_call(&c, "jobs.queue", json_pack("{s:{s:i}}", "image", "fd", 0),
                                      &p[1], 1, &res),
                     FWUP_CLIENT_OK);
    ck_assert(json_is_true(json_object_get(res, "ok")));
    json_decref(res);

    int fds[8];
    size_t nfds;
    json_t *req = take_request(peer, fds, &nfds);
    ck_assert_int_eq(json_integer_value(json_object_get(req, "id")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(req, "v")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(req, "method")), "jobs.queue");
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(json_object_get(req, "params"), "image"), "fd")),
                     0);
    json_decref(req);
    /* The descriptor made it: writing to it reaches our pipe. */
    ck_assert_uint_eq(nfds, 1);
    put(fds[0], "hi");
    close(fds[0]);
    char got[3] = "";
    ck_assert_int_eq(read(p[0], got, 2), 2);
    ck_assert_str_eq(got, "hi");
    close(p[0]);
    close(p[1]);

    /* The event read before the reply is queued; the one after follows. */
    json_t *ev;
    ck_assert_int_eq(fwup_client_next_event(&c, 0, &ev), FWUP_CLIENT_OK);
    ck_assert_str_eq(json_string_value(json_object_get(ev, "type")), "state");
    json_decref(ev);
    ck_assert_int_eq(fwup_client_next_event(&c, 1000, &ev), FWUP_CLIENT_OK);
    ck_assert_str_eq(json_string_value(json_object_get(ev, "type")), "progress");
    json_decref(ev);
    ck_assert_int_eq(fwup_client_next_event(&c, 0, &ev), FWUP_CLIENT_TIMEOUT);

    /* The second request gets id 2; a daemon error is reported as such. */
    put(peer, "{\"v\":1,\"id\":2,\"error\":{\"code\":2,\"message\":\"no job 12\"}}\n");
    ck_assert_int_eq(fwup_client_call(&c, "jobs.get", json_pack("{s:i}", "job", 12), NULL, 0, &res),
                     FWUP_CLIENT_EDAEMON);
    ck_assert_ptr_null(res);
    ck_assert_int_eq(c.err_code, 2);
    ck_assert_str_eq(c.err, "no job 12"); /* the code is for scripts, not people */
    req = take_request(peer, fds, &nfds);
    ck_assert_int_eq(json_integer_value(json_object_get(req, "id")), 2);
    ck_assert_uint_eq(nfds, 0);
    json_decref(req);

    /* An error with id null (our line was unreadable) is ours too. */
    put(peer, "{\"v\":1,\"id\":null,\"error\":{\"code\":-32700,\"message\":\"parse error\"}}\n");
    ck_assert_int_eq(fwup_client_call(&c, "version", NULL, NULL, 0, &res), FWUP_CLIENT_EDAEMON);
    ck_assert_int_eq(c.err_code, -32700);

    /* Garbage from the daemon ends the conversation. */
    put(peer, "not json\n");
    ck_assert_int_eq(fwup_client_call(&c, "version", NULL, NULL, 0, &res), FWUP_CLIENT_ELOST);
    ck_assert_ptr_nonnull(strstr(c.err, "invalid JSON"));
    fwup_client_close(&c);
    close(peer);
}
END_TEST

START_TEST(test_client_lost)
{
    struct fwup_client c;
    int peer;
    json_t *res;

    /* No answer within the timeout. */
    pair(&c, &peer);
    c.timeout_ms = 50;
    ck_assert_int_eq(fwup_client_call(&c, "version", NULL, NULL, 0, &res), FWUP_CLIENT_ELOST);
    ck_assert_ptr_nonnull(strstr(c.err, "no reply"));
    fwup_client_close(&c);
    close(peer);

    /* The daemon hangs up, with a partial line pending. */
    pair(&c, &peer);
    put(peer, "{\"v\":1,\"id\":1,");
    close(peer);
    ck_assert_int_eq(fwup_client_call(&c, "version", NULL, NULL, 0, &res), FWUP_CLIENT_ELOST);
    ck_assert_ptr_nonnull(strstr(c.err, "closed"));
    ck_assert_int_eq(fwup_client_next_event(&c, 0, &res), FWUP_CLIENT_ELOST);
    fwup_client_close(&c);

    /* The daemon refuses a line and hangs up before we finish sending: its
     * error is reported rather than the broken pipe. */
    pair(&c, &peer);
    put(peer, "{\"v\":1,\"id\":null,\"error\":{\"code\":7,\"message\":\"line too long\"}}\n");
    shutdown(peer, SHUT_RD);
    ck_assert_int_eq(fwup_client_call(&c, "version", NULL, NULL, 0, &res), FWUP_CLIENT_EDAEMON);
    ck_assert_str_eq(c.err, "line too long");
    fwup_client_close(&c);
    close(peer);

    /* Nobody listening. */
    fwup_client_init(&c);
    char path[] = "/tmp/fwupctl-test-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(path));
    char sock[128];
    snprintf(sock, sizeof(sock), "%s/none.sock", path);
    ck_assert_int_eq(fwup_client_connect(&c, sock), FWUP_CLIENT_ELOST);
    ck_assert_ptr_nonnull(strstr(c.err, "cannot connect"));
    fwup_client_close(&c);
    rmdir(path);

    /* Too many descriptors is refused before anything is sent. */
    pair(&c, &peer);
    int fds[65] = {0};
    ck_assert_int_eq(fwup_client_call(&c, "version", NULL, fds, 65, &res), FWUP_CLIENT_EDAEMON);
    fwup_client_close(&c);
    close(peer);
}
END_TEST

struct writer {
    int fd;
    char *data;
    size_t len;
};

static void *write_all(void *arg)
{
    struct writer *w = arg;
    size_t off = 0;
    while (off < w->len) {
        /* Odd-sized chunks so lines arrive split in arbitrary places. */
        size_t chunk = w->len - off < 7777 ? w->len - off : 7777;
        ssize_t n = write(w->fd, w->data + off, chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    return NULL;
}

START_TEST(test_client_long_line)
{
    struct fwup_client c;
    int peer;
    pair(&c, &peer);
    /* A 3 MiB event and a 2 MiB reply: bigger than any socket buffer. */
    size_t ev_blob = 3u << 20, res_blob = 2u << 20;
    size_t cap = ev_blob + res_blob + 1024;
    char *data = malloc(cap);
    size_t o = 0;
    o += (size_t)sprintf(data + o,
                         "{\"v\":1,\"method\":\"event\",\"params\":{\"type\":\"x\",\"b\":\"");
    memset(data + o, 'e', ev_blob);
    o += ev_blob;
    o += (size_t)sprintf(data + o, "\"}}\n{\"v\":1,\"id\":1,\"result\":{\"b\":\"");
    memset(data + o, 'r', res_blob);
    o += res_blob;
    o += (size_t)sprintf(data + o, "\"}}\n");
    struct writer w = {peer, data, o};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, write_all, &w), 0);
    json_t *res;
    c.timeout_ms = -1;
    ck_assert_int_eq(fwup_client_call(&c, "jobs.history", NULL, NULL, 0, &res), FWUP_CLIENT_OK);
    pthread_join(th, NULL);
    ck_assert_uint_eq(strlen(json_string_value(json_object_get(res, "b"))), res_blob);
    json_decref(res);
    json_t *ev;
    ck_assert_int_eq(fwup_client_next_event(&c, 0, &ev), FWUP_CLIENT_OK);
    ck_assert_uint_eq(strlen(json_string_value(json_object_get(ev, "b"))), ev_blob);
    json_decref(ev);
    free(data);
    fwup_client_close(&c);
    close(peer);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cli_output");
    TCase *t = tcase_create("format");
    tcase_add_test(t, test_size);
    tcase_add_test(t, test_duration_eta);
    tcase_add_test(t, test_time);
    tcase_add_test(t, test_percent_bar);
    tcase_add_test(t, test_sanitize);
    tcase_add_test(t, test_job_lines);
    tcase_add_test(t, test_id_limit);
    tcase_add_test(t, test_live_line_width);
    tcase_add_test(t, test_attempt_once);
    tcase_add_test(t, test_term_mode);
    tcase_add_test(t, test_rate);
    tcase_add_test(t, test_table);
    tcase_add_test(t, test_image_summary);
    suite_add_tcase(s, t);
    t = tcase_create("client");
    tcase_add_test(t, test_classify);
    tcase_add_test(t, test_client_roundtrip);
    tcase_add_test(t, test_client_lost);
    tcase_add_test(t, test_client_long_line);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
