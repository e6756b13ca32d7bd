/*
 * The scheduler (daemon/sched/scheduler.c) on a virtual clock, with a real SQLite
 * store file, real plugins (sched_plugin.c: the link requirements come from
 * its link_req) and fake runs behind the run ops, started and finished by
 * the test: which jobs run together on ports, CAN buses and USB ports, the
 * per-bus cap, max_concurrent_jobs, per-device order, the back-off schedule.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blobstore.h"
#include "vcore.h"

static char sha[65];

static const char *config_fmt =
    "daemon:\n"
    "  max_concurrent_jobs: 3\n"
    "  max_attempts: 3\n"
    "  retry_backoff: {initial: 1s, max: 5s}\n"
    "links:\n"
    "  - {name: tty0, type: serial, path: %s/ttyA}\n"
    "  - {name: tty1, type: serial, path: %s/ttyB}\n"
    "  - {name: alias, type: serial, path: %s/by-id}\n"
    "  - {name: bus0, type: can, interface: vcan0}\n"
    "  - {name: bus1, type: can, interface: vcan1, max_jobs: 2}\n"
    "  - {name: usb0, type: usb, port: 1-1.4}\n"
    "devices:\n"
    "  - {id: s1, link: tty0, protocol: test}\n"
    "  - {id: s2, link: tty0, protocol: test}\n"
    "  - {id: s3, link: tty1, protocol: test}\n"
    "  - {id: s4, link: alias, protocol: test}\n"
    "  - {id: s5, link: tty1, protocol: test, options: {refuse: no such framing}}\n"
    "  - {id: e1, link: bus0, protocol: test, options: {ids: '0x7E8'}}\n"
    "  - {id: e2, link: bus0, protocol: test, options: {ids: '0x7E9'}}\n"
    "  - {id: e3, link: bus0, protocol: test, options: {ids: '0x7EA,0x7E8'}}\n"
    "  - {id: x1, link: bus0, protocol: test, options: {ids: '0x79', exclusive: '1'}}\n"
    "  - {id: i1, link: bus0, protocol: isotp, tx_id: 0x7E0, rx_id: 0x7E9}\n"
    "  - {id: i2, link: bus0, protocol: isotp, tx_id: 0x7E1, rx_id: 0x7EB}\n"
    "  - {id: k1, link: bus0, protocol: test, tx_id: 0x700, rx_id: 0x708}\n"
    "  - {id: k2, link: bus0, protocol: test, options: {ids: '0x708'}}\n"
    "  - {id: w1, link: bus0, protocol: test}\n"
    "  - {id: c1, link: bus1, protocol: test, options: {ids: '0x101'}}\n"
    "  - {id: c2, link: bus1, protocol: test, options: {ids: '0x102'}}\n"
    "  - {id: c3, link: bus1, protocol: test, options: {ids: '0x103'}}\n"
    "  - {id: u1, link: usb0, protocol: test}\n"
    "  - {id: u2, link: usb0, protocol: test}\n";

/* The config took "alias" as written; its path becomes a symlink to ttyA
 * only afterwards. */
static void setup(void)
{
    char path[300], target[300];
    vc_mkdir();
    vc_write_file("ttyA", "", 0);
    vc_write_file("ttyB", "", 0);
    char *text = NULL;
    ck_assert_int_ge(asprintf(&text, config_fmt, vc_dir, vc_dir, vc_dir), 0);
    vc_start(text, SCHED_PLUGIN_DIR, NULL, NULL);
    free(text);
    ck_assert_uint_eq(fwup_plugins_count(vc_d.plugins), 2);
    snprintf(path, sizeof(path), "%s/by-id", vc_dir);
    snprintf(target, sizeof(target), "%s/ttyA", vc_dir);
    ck_assert_int_eq(symlink(target, path), 0);

    /* One stored image for every job. */
    uint8_t img[64];
    for (size_t i = 0; i < sizeof(img); i++)
        img[i] = (uint8_t)i;
    vc_write_file("image.bin", img, sizeof(img));
    fwup_sha256_hex(img, sizeof(img), sha);
    struct fwup_image_row row = {.size = sizeof(img), .created_ms = VC_T0};
    memcpy(row.sha256, sha, sizeof(sha));
    snprintf(row.path, sizeof(row.path), "%s/image.bin", vc_dir);
    ck_assert_int_eq(fwup_store_put_image(vc_d.store, &row), 0);
}

static void teardown(void)
{
    vc_stop();
}

static int64_t queue(const char *device, int max_attempts)
{
    struct fwup_job j = {.max_attempts = max_attempts};
    snprintf(j.device, sizeof(j.device), "%s", device);
    memcpy(j.image_sha256, sha, sizeof(sha));
    snprintf(j.format, sizeof(j.format), "bin");
    ck_assert_int_eq(fwup_store_queue_job(vc_d.store, &j, vc_wall), 0);
    return j.id;
}

/* The reason a queued job waits names what it waits for and who holds it. */
static void ck_waits(int64_t id, const char *what, int64_t holder)
{
    const char *why = fwup_sched_waiting(vc_d.sched, id);
    char by[32];
    ck_assert_msg(why != NULL, "job %" PRId64 " gives no reason to wait", id);
    ck_assert_msg(strstr(why, what), "job %" PRId64 " waits for '%s', not '%s'", id, why, what);
    snprintf(by, sizeof(by), "job %" PRId64, holder);
    if (holder)
        ck_assert_msg(strstr(why, by), "'%s' does not name %s", why, by);
    ck_assert_int_eq(vc_job(id).state, FWUP_JOB_QUEUED);
    ck_assert_int_eq(vc_job(id).attempt, 0);
}

/* --- serial ports ------------------------------------------------------ */

START_TEST(test_serial_one_job_per_port)
{
    int64_t a = queue("s1", 3), b = queue("s2", 3), c = queue("s3", 3), e = queue("s4", 3);
    vc_step();
    /* s1 and s2 share tty0; s4's link reaches the same port by a symlink. */
    ck_running("s1"), ck_idle("s2"), ck_running("s3"), ck_idle("s4");
    ck_assert_uint_eq(vc_nruns(), 2);
    char port[300];
    snprintf(port, sizeof(port), "port %s/ttyA", vc_dir);
    ck_waits(b, port, a);
    ck_waits(e, port, a);
    ck_assert_ptr_null(fwup_sched_waiting(vc_d.sched, c));
    /* The run's link requirements reach it: the plugin's (none here). */
    ck_assert_uint_eq(vc_run_of("s1")->req.nfilters, 0);
    ck_assert_int_eq(vc_run_of("s1")->req.usb_alt, -1);

    vc_finish("s1", FWUP_RESULT_OK, NULL);
    ck_assert_int_eq(vc_job(a).state, FWUP_JOB_SUCCEEDED);
    /* Queued first runs first. */
    ck_running("s2"), ck_idle("s4");
    ck_waits(e, port, b);
    vc_finish("s2", FWUP_RESULT_OK, NULL);
    ck_running("s4");
}
END_TEST

START_TEST(test_failed_start_frees_port)
{
    int64_t a = queue("s1", 3), b = queue("s2", 3);
    vc_fail_next_start = 1;
    vc_step();
    /* s1's run could not start: retried later, and the port it claimed is
     * free for s2 at once. */
    ck_assert_int_eq(vc_job(a).state, FWUP_JOB_QUEUED);
    ck_assert_int_eq(vc_job(a).attempt, 1);
    ck_assert_str_eq(vc_job(a).last_error, "port vanished");
    vc_step();
    ck_running("s2");
    ck_assert_int_eq(vc_job(b).state, FWUP_JOB_RUNNING);
}
END_TEST

START_TEST(test_link_req_refusal_is_permanent)
{
    int64_t a = queue("s5", 3), b = queue("s3", 3);
    vc_step();
    /* The protocol refuses the link for s5: failed at its first attempt,
     * no run, and tty1 is free for s3. */
    ck_assert_int_eq(vc_job(a).state, FWUP_JOB_FAILED);
    ck_assert_int_eq(vc_job(a).attempt, 1);
    ck_assert_str_eq(vc_job(a).last_error, "no such framing");
    ck_idle("s5");
    vc_step();
    ck_running("s3");
    ck_assert_int_eq(vc_job(b).state, FWUP_JOB_RUNNING);
}
END_TEST

/* --- CAN buses --------------------------------------------------------- */

START_TEST(test_can_distinct_ids_share_bus)
{
    int64_t a = queue("e1", 3), b = queue("e2", 3), c = queue("e3", 3);
    vc_step();
    ck_running("e1"), ck_running("e2"), ck_idle("e3");
    ck_waits(c, "bus vcan0: in use with overlapping CAN ids", a);
    /* Each run gets the filters its claim was made with. */
    ck_assert_uint_eq(vc_run_of("e1")->req.nfilters, 1);
    ck_assert_uint_eq(vc_run_of("e1")->req.filters[0].id, 0x7E8);
    vc_finish("e2", FWUP_RESULT_OK, NULL);
    ck_idle("e3"); /* e1 still holds 0x7E8 */
    ck_assert_int_eq(vc_job(b).state, FWUP_JOB_SUCCEEDED);
    vc_finish("e1", FWUP_RESULT_OK, NULL);
    ck_running("e3");
    ck_assert_uint_eq(vc_run_of("e3")->req.nfilters, 2);
}
END_TEST

START_TEST(test_isotp_claims_rx_id)
{
    /* ISO-TP claims the rx id only: i1 answers on 0x7E9 (e2's id) and
     * waits for e2; i2 answers on 0x7EB and runs beside it. */
    int64_t a = queue("e2", 3), b = queue("i1", 3);
    queue("i2", 3);
    vc_step();
    ck_running("e2"), ck_idle("i1"), ck_running("i2");
    ck_waits(b, "overlapping CAN ids", a);
    vc_finish("e2", FWUP_RESULT_OK, NULL);
    ck_running("i1");
}
END_TEST

START_TEST(test_can_configured_ids_without_filters)
{
    /* k1's protocol gives no filters: its configured ids (0x700, 0x708)
     * are claimed, so k2, listening on 0x708, waits; e1 does not. */
    int64_t a = queue("k1", 3), b = queue("k2", 3);
    queue("e1", 3);
    vc_step();
    ck_running("k1"), ck_idle("k2"), ck_running("e1");
    ck_waits(b, "overlapping CAN ids", a);
    ck_assert_uint_eq(vc_run_of("k1")->req.nfilters, 0);
}
END_TEST

START_TEST(test_can_no_ids_holds_whole_bus)
{
    /* w1 declares no ids and has none configured: the whole bus. */
    int64_t a = queue("w1", 3), b = queue("e1", 3);
    vc_step();
    ck_running("w1"), ck_idle("e1");
    ck_waits(b, "bus vcan0: held whole (no CAN ids declared)", a);
    vc_finish("w1", FWUP_RESULT_OK, NULL);
    ck_running("e1");
}
END_TEST

START_TEST(test_can_exclusive)
{
    int64_t a = queue("e1", 3), b = queue("x1", 3), c = queue("e2", 3);
    vc_step();
    /* x1's own id (0x79) overlaps nobody's, but it needs the whole bus. */
    ck_running("e1"), ck_idle("x1"), ck_running("e2");
    ck_waits(b, "needs the whole bus", 0);
    vc_finish("e1", FWUP_RESULT_OK, NULL);
    ck_idle("x1"); /* e2 still runs */
    ck_waits(b, "needs the whole bus", c);
    vc_finish("e2", FWUP_RESULT_OK, NULL);
    ck_running("x1");
    ck_assert(vc_run_of("x1")->req.exclusive_bus);
    /* Now x1 holds the bus: even disjoint ids wait, and say why. */
    int64_t e = queue("e1", 3);
    vc_step();
    ck_idle("e1");
    ck_waits(e, "bus vcan0: held whole (exclusive protocol)", b);
    vc_finish("x1", FWUP_RESULT_OK, NULL);
    ck_running("e1");
    ck_assert_int_eq(vc_job(a).state, FWUP_JOB_SUCCEEDED);
}
END_TEST

START_TEST(test_bus_cap)
{
    int64_t a = queue("c1", 3), b = queue("c2", 3), c = queue("c3", 3), e = queue("s1", 3);
    vc_step();
    /* bus1's cap is 2: the third waits though its ids are free, while a
     * job elsewhere still starts (max_concurrent_jobs is 3). */
    ck_running("c1"), ck_running("c2"), ck_idle("c3"), ck_running("s1");
    ck_waits(c, "bus vcan1: 2 jobs running, its limit", 0);
    ck_assert_int_eq(vc_job(e).state, FWUP_JOB_RUNNING);
    /* Another bus is not capped by it. */
    vc_finish("s1", FWUP_RESULT_OK, NULL);
    ck_idle("c3");
    int64_t f = queue("e1", 3);
    vc_step();
    ck_running("e1");
    ck_assert_int_eq(vc_job(f).state, FWUP_JOB_RUNNING);
    vc_finish("e1", FWUP_RESULT_OK, NULL);
    vc_finish("c2", FWUP_RESULT_OK, NULL);
    ck_running("c3");
    ck_assert_int_eq(vc_job(b).state, FWUP_JOB_SUCCEEDED);
    ck_assert_int_eq(vc_job(a).state, FWUP_JOB_RUNNING);
}
END_TEST

/* --- USB --------------------------------------------------------------- */

START_TEST(test_usb_port_held_across_reenumeration)
{
    int64_t a = queue("u1", 3), b = queue("u2", 3);
    vc_step();
    ck_running("u1"), ck_idle("u2");
    ck_waits(b, "port usb:1-1.4", a);
    /* The device detaches and comes back in DFU mode (the run reports
     * its phases meanwhile): the port stays claimed. */
    struct fwup_run *r = vc_run_of("u1");
    r->p.on_progress(r->p.ctx, "detach", 0, 64);
    vc_step();
    ck_idle("u2");
    r->p.on_progress(r->p.ctx, "download", 32, 64);
    vc_step();
    ck_idle("u2");
    ck_waits(b, "port usb:1-1.4", a);
    /* Released when the run ends, its exit sequence included. */
    vc_finish("u1", FWUP_RESULT_OK, NULL);
    ck_running("u2");
}
END_TEST

/* --- limits and order -------------------------------------------------- */

START_TEST(test_max_concurrent_jobs)
{
    queue("s1", 3), queue("s3", 3), queue("e1", 3);
    int64_t f = queue("e2", 3);
    vc_step();
    ck_assert_uint_eq(vc_nruns(), 3);
    ck_assert_uint_eq(fwup_sched_running(vc_d.sched), 3);
    ck_idle("e2");
    ck_assert_int_eq(vc_job(f).state, FWUP_JOB_QUEUED);
    vc_finish("s3", FWUP_RESULT_OK, NULL);
    ck_running("e2");
    ck_assert_uint_eq(vc_nruns(), 3);
}
END_TEST

START_TEST(test_device_order)
{
    int64_t a = queue("s3", 3), b = queue("s3", 3);
    vc_step();
    ck_assert_int_eq(vc_job(a).state, FWUP_JOB_RUNNING);
    ck_assert_int_eq(vc_job(b).state, FWUP_JOB_QUEUED);
    /* An earlier job in back-off still goes first. */
    vc_finish("s3", FWUP_RESULT_TRANSIENT, "no answer");
    ck_assert_int_eq(vc_job(a).state, FWUP_JOB_QUEUED);
    vc_step();
    ck_idle("s3");
    ck_assert_int_eq(vc_job(b).state, FWUP_JOB_QUEUED);
    vc_wall += 1000;
    vc_step();
    ck_assert_int_eq(vc_job(a).state, FWUP_JOB_RUNNING);
    ck_assert_int_eq(vc_job(b).state, FWUP_JOB_QUEUED);
    vc_finish("s3", FWUP_RESULT_OK, NULL);
    ck_assert_int_eq(vc_job(b).state, FWUP_JOB_RUNNING);
    ck_assert_int_eq(vc_job(b).attempt, 1);
}
END_TEST

START_TEST(test_backoff_schedule)
{
    /* initial 1 s, doubling, capped at 5 s: 1, 2, 4, 5; then it gives up. */
    static const int64_t waits[] = {1000, 2000, 4000, 5000};
    int64_t id = queue("s3", 5);
    vc_step();
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(vc_job(id).attempt, i + 1);
        vc_wall += 7; /* the run took a while: back-off counts from its end */
        int64_t end = vc_wall;
        vc_finish("s3", FWUP_RESULT_TRANSIENT, "no answer");
        struct fwup_job j = vc_job(id);
        ck_assert_int_eq(j.state, FWUP_JOB_QUEUED);
        ck_assert_int_eq(j.not_before_ms, end + waits[i]);
        /* One millisecond early: still waiting. */
        vc_wall = end + waits[i] - 1;
        vc_step();
        ck_idle("s3");
        ck_assert_int_eq(vc_job(id).attempt, i + 1);
        vc_wall = end + waits[i];
        vc_step();
        ck_running("s3");
    }
    vc_finish("s3", FWUP_RESULT_TRANSIENT, "no answer");
    struct fwup_job j = vc_job(id);
    ck_assert_int_eq(j.state, FWUP_JOB_FAILED);
    ck_assert_int_eq(j.attempt, 5);
    ck_assert_str_eq(j.last_error, "no answer (gave up after 5 attempts)");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sched");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_serial_one_job_per_port);
    tcase_add_test(tc, test_failed_start_frees_port);
    tcase_add_test(tc, test_link_req_refusal_is_permanent);
    tcase_add_test(tc, test_can_distinct_ids_share_bus);
    tcase_add_test(tc, test_isotp_claims_rx_id);
    tcase_add_test(tc, test_can_configured_ids_without_filters);
    tcase_add_test(tc, test_can_no_ids_holds_whole_bus);
    tcase_add_test(tc, test_can_exclusive);
    tcase_add_test(tc, test_bus_cap);
    tcase_add_test(tc, test_usb_port_held_across_reenumeration);
    tcase_add_test(tc, test_max_concurrent_jobs);
    tcase_add_test(tc, test_device_order);
    tcase_add_test(tc, test_backoff_schedule);
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
