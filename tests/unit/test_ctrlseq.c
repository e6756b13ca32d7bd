/*
 * Entry/exit control-line sequences. The hardware boundary (GPIO chips,
 * RTS/DTR) does not exist on this machine or on a pseudo-terminal, so the
 * line driver is a recorder here; everything above it is the daemon's own
 * code: the step parser, the asynchronous runner, and the job run that
 * sequences entry -> protocol -> exit over a real pty.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ctrlrun.h"
#include "jobrun.h"

/* --- the recording driver ------------------------------------------------- */

struct recorder {
    char log[2048];
    uv_loop_t *loop;
    uint64_t t0;
    int fail_on; /* fail the Nth set() call (1-based), 0: never */
    int calls;
};

static void note(struct recorder *r, const char *fmt, const char *a, int v)
{
    size_t len = strlen(r->log);
    snprintf(r->log + len, sizeof(r->log) - len, fmt, a, v);
}

static int rec_set(void *ctx, const struct fwup_ctrl_line *line, int value, char *err,
                   size_t errlen)
{
    struct recorder *r = ctx;
    if (++r->calls == r->fail_on) {
        snprintf(err, errlen, "line '%s': no such chip", line->name);
        return -1;
    }
    note(r, "%s=%d ", line->name, value);
    return 0;
}

static int rec_brk(void *ctx, int on, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    note(ctx, "%sbreak%d ", "", on);
    return 0;
}

static const struct fwup_line_ops rec_ops = {rec_set, rec_brk};

static struct fwup_ctrl_line lines[] = {
    {.name = "boot0", .kind = FWUP_LINE_GPIO, .chip = "gpiochip0", .offset = 17},
    {.name = "nrst", .kind = FWUP_LINE_GPIO, .chip = "gpiochip0", .offset = 18, .active_low = 1},
};

static struct fwup_ctrl_seq parse(const char *const *steps, size_t n)
{
    struct fwup_ctrl_seq seq = {calloc(n, sizeof(struct fwup_step)), n};
    char err[256];
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fwup_ctrl_parse_step(steps[i], lines, 2, &seq.steps[i], err, sizeof err) == 0,
                      "%s", err);
    return seq;
}

/* --- the step parser ------------------------------------------------------ */

START_TEST(test_parse)
{
    struct fwup_step s;
    char err[256];
    ck_assert_int_eq(fwup_ctrl_parse_step("nrst = 1", lines, 2, &s, err, sizeof err), 0);
    ck_assert_ptr_eq(s.line, &lines[1]);
    ck_assert_int_eq(s.value, 1);
    ck_assert_int_eq(fwup_ctrl_parse_step("dtr=0", lines, 2, &s, err, sizeof err), 0);
    ck_assert_ptr_eq(s.line, &fwup_line_dtr);
    ck_assert_int_eq(fwup_ctrl_parse_step("delay 1.5s", lines, 2, &s, err, sizeof err), 0);
    ck_assert_int_eq(s.kind, FWUP_STEP_DELAY);
    ck_assert_uint_eq(s.ms, 1500);
    ck_assert_int_eq(fwup_ctrl_parse_step("break 250ms", lines, 2, &s, err, sizeof err), 0);
    ck_assert_int_eq(s.kind, FWUP_STEP_BREAK);
    ck_assert_int_eq(fwup_ctrl_parse_step("boot1=1", lines, 2, &s, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "no control line 'boot1'"));
    ck_assert_int_eq(fwup_ctrl_parse_step("delay 2m", lines, 2, &s, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "at most 60 s"));
}
END_TEST

/* --- the runner ----------------------------------------------------------- */

struct done_rec {
    int calls;
    char err[256];
    uint64_t at;
    uv_loop_t *loop;
};

static void on_done(void *ctx, const char *err)
{
    struct done_rec *d = ctx;
    d->calls++;
    d->at = uv_now(d->loop);
    snprintf(d->err, sizeof d->err, "%s", err ? err : "");
}

START_TEST(test_runner_order_and_delays)
{
    static const char *const steps[] = {"boot0=1",    "nrst=1",     "delay 30ms", "nrst=0",
                                        "break 20ms", "delay 10ms", "boot0=0"};
    struct fwup_ctrl_seq seq = parse(steps, 7);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct recorder rec = {.loop = &loop};
    struct done_rec d = {.loop = &loop};
    uint64_t t0 = uv_now(&loop);
    ck_assert_ptr_nonnull(fwup_seq_start(&loop, &seq, &rec_ops, &rec, on_done, &d));
    /* Nothing happens inside start: the caller may still be mid-callback. */
    ck_assert_str_eq(rec.log, "");
    ck_assert_int_eq(d.calls, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(d.calls, 1);
    ck_assert_str_eq(d.err, "");
    ck_assert_str_eq(rec.log, "boot0=1 nrst=1 nrst=0 break1 break0 boot0=0 ");
    /* Delays are lower bounds: the sequence cannot be faster than 60 ms. */
    ck_assert_uint_ge(d.at - t0, 60);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    free(seq.steps);
}
END_TEST

START_TEST(test_runner_error_stops)
{
    static const char *const steps[] = {"boot0=1", "nrst=1", "delay 5ms", "nrst=0"};
    struct fwup_ctrl_seq seq = parse(steps, 4);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct recorder rec = {.loop = &loop, .fail_on = 2};
    struct done_rec d = {.loop = &loop};
    fwup_seq_start(&loop, &seq, &rec_ops, &rec, on_done, &d);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(d.calls, 1);
    ck_assert_str_eq(d.err, "line 'nrst': no such chip");
    ck_assert_str_eq(rec.log, "boot0=1 ");
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    free(seq.steps);
}
END_TEST

static void abort_cb(uv_timer_t *t)
{
    fwup_seq_abort(t->data);
    uv_close((uv_handle_t *)t, NULL);
}

START_TEST(test_runner_abort_releases_break)
{
    static const char *const steps[] = {"rts=1", "break 5s", "rts=0"};
    struct fwup_ctrl_seq seq = parse(steps, 3);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct recorder rec = {.loop = &loop};
    struct done_rec d = {.loop = &loop};
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    t.data = fwup_seq_start(&loop, &seq, &rec_ops, &rec, on_done, &d);
    uv_timer_start(&t, abort_cb, 20, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(d.calls, 0);
    ck_assert_str_eq(rec.log, "rts=1 break1 break0 ");
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    free(seq.steps);
}
END_TEST

/* --- a job run: entry, protocol, exit, over a real pty ------------------- */

struct fwup_engine {
    const struct fwup_host_ops *ops;
    void *host;
    struct recorder *rec;
};

static struct recorder *engine_rec;
static enum fwup_result engine_result;

static struct fwup_engine *t_create(const struct fwup_job_params *p,
                                    const struct fwup_host_ops *ops, void *host, char *err,
                                    size_t errlen)
{
    (void)p, (void)err, (void)errlen;
    struct fwup_engine *e = calloc(1, sizeof(*e));
    e->ops = ops;
    e->host = host;
    e->rec = engine_rec;
    return e;
}

static void t_destroy(struct fwup_engine *e)
{
    free(e);
}

static void t_event(struct fwup_engine *e, const struct fwup_event *ev)
{
    if (ev->type == FWUP_EV_START) {
        note(e->rec, "%sstart%d ", "", 0);
        e->ops->progress(e->host, "transfer", 0, 1);
        e->ops->finish(e->host, engine_result, engine_result ? "device said no" : NULL);
    } else if (ev->type == FWUP_EV_CANCEL) {
        e->ops->finish(e->host, FWUP_RESULT_CANCELLED, "cancelled");
    }
}

static const struct fwup_protocol tproto = {
    .abi_version = FWUP_PROTOCOL_ABI_VERSION,
    .struct_size = sizeof(struct fwup_protocol),
    .name = "t",
    .transports = FWUP_TRANSPORT_SERIAL,
    .create = t_create,
    .destroy = t_destroy,
    .on_event = t_event,
};

struct outcome {
    int done;
    enum fwup_result result;
    char msg[512];
    struct fwup_run *run;
};

static void r_progress(void *ctx, const char *phase, uint64_t d, uint64_t t)
{
    (void)ctx, (void)d, (void)t;
    note(engine_rec, "[%s] ", phase, 0);
}

static void r_done(void *ctx, enum fwup_result res, const char *msg)
{
    struct outcome *o = ctx;
    o->done = 1;
    o->result = res;
    snprintf(o->msg, sizeof o->msg, "%s", msg);
    note(engine_rec, "%sdone%d ", "", (int)res);
    fwup_run_free(o->run);
}

static void run_job(enum fwup_result result, int stay, struct recorder *rec, struct outcome *o)
{
    static const char *const entry[] = {"boot0=1", "nrst=1", "delay 5ms", "nrst=0"};
    static const char *const exitsteps[] = {"boot0=0", "nrst=1", "delay 5ms", "nrst=0"};
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    ck_assert_int_ge(master, 0);
    ck_assert_int_eq(grantpt(master), 0);
    ck_assert_int_eq(unlockpt(master), 0);
    struct fwup_cfg_link link = {
        .name = "l", .type = FWUP_LINK_SERIAL, .path = ptsname(master), .baud = 115200};
    struct fwup_cfg_device dev = {.id = "d", .link = "l", .protocol = "t"};
    dev.lines = lines;
    dev.nlines = 2;
    dev.entry = parse(entry, 4);
    dev.exit = parse(exitsteps, 4);
    dev.stay_in_bootloader_on_failure = stay;
    struct fwup_segment seg = {0, 1, (const uint8_t *)"x", -1};
    struct fwup_image img = {.struct_size = sizeof(img),
                             .segment_size = sizeof(seg),
                             .segments = &seg,
                             .nsegments = 1,
                             .total = 1};
    uv_loop_t loop;
    uv_loop_init(&loop);
    engine_rec = rec;
    engine_result = result;
    struct fwup_run_params p = {
        .loop = &loop,
        .proto = &tproto,
        .link = &link,
        .dev = &dev,
        .image = &img,
        .cancel_grace_ms = 1000,
        .on_progress = r_progress,
        .on_done = r_done,
        .ctx = o,
        .line_ops = &rec_ops,
        .line_ctx = rec,
    };
    char err[256];
    ck_assert_msg(fwup_run_start(&p, &o->run, err, sizeof err) == 0, "%s", err);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(o->done, 1);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    close(master);
    free(dev.entry.steps);
    free(dev.exit.steps);
}

START_TEST(test_run_success)
{
    struct recorder rec = {0};
    struct outcome o = {0};
    run_job(FWUP_RESULT_OK, 0, &rec, &o);
    ck_assert_int_eq(o.result, FWUP_RESULT_OK);
    ck_assert_str_eq(rec.log, "[enter-bootloader] boot0=1 nrst=1 nrst=0 start0 [transfer] "
                              "boot0=0 nrst=1 nrst=0 done0 ");
}
END_TEST

START_TEST(test_run_failure_still_exits)
{
    struct recorder rec = {0};
    struct outcome o = {0};
    run_job(FWUP_RESULT_PERMANENT, 0, &rec, &o);
    ck_assert_int_eq(o.result, FWUP_RESULT_PERMANENT);
    ck_assert_str_eq(o.msg, "device said no");
    ck_assert_str_eq(rec.log, "[enter-bootloader] boot0=1 nrst=1 nrst=0 start0 [transfer] "
                              "boot0=0 nrst=1 nrst=0 done2 ");
}
END_TEST

START_TEST(test_run_failure_stays)
{
    struct recorder rec = {0};
    struct outcome o = {0};
    run_job(FWUP_RESULT_TRANSIENT, 1, &rec, &o);
    ck_assert_int_eq(o.result, FWUP_RESULT_TRANSIENT);
    ck_assert_str_eq(rec.log, "[enter-bootloader] boot0=1 nrst=1 nrst=0 start0 [transfer] done1 ");
}
END_TEST

START_TEST(test_run_entry_fails)
{
    /* The second line fails: the protocol never starts, the job is a
     * transient failure naming the sequence, and the exit still runs. */
    struct recorder rec = {.fail_on = 2};
    struct outcome o = {0};
    run_job(FWUP_RESULT_OK, 0, &rec, &o);
    ck_assert_int_eq(o.result, FWUP_RESULT_TRANSIENT);
    ck_assert_str_eq(o.msg, "entry sequence: line 'nrst': no such chip");
    ck_assert_str_eq(rec.log, "[enter-bootloader] boot0=1 boot0=0 nrst=1 nrst=0 done1 ");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ctrlseq");
    TCase *tc = tcase_create("ctrlseq");
    tcase_add_test(tc, test_parse);
    tcase_add_test(tc, test_runner_order_and_delays);
    tcase_add_test(tc, test_runner_error_stops);
    tcase_add_test(tc, test_runner_abort_releases_break);
    tcase_add_test(tc, test_run_success);
    tcase_add_test(tc, test_run_failure_still_exits);
    tcase_add_test(tc, test_run_failure_stays);
    tcase_add_test(tc, test_run_entry_fails);
    suite_add_tcase(s, tc);
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
