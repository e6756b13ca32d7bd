/* The daemon's core state (daemon/core.c): the scheduler and the API read
 * time through its clock, which a test replaces with a virtual one; the
 * real one is the system's wall clock and the loop's time; a shared config
 * lives while a run holds it; status changes reach the hook. */
#include "core.h"

#include <check.h>
#include <stdlib.h>
#include <time.h>

struct vclock {
    int64_t wall;
    uint64_t mono;
};

static int64_t v_wall(void *ctx)
{
    return ((struct vclock *)ctx)->wall;
}

static uint64_t v_mono(void *ctx)
{
    return ((struct vclock *)ctx)->mono;
}

START_TEST(test_virtual_clock)
{
    struct fwupd d;
    struct vclock vc = {1764000000000, 5};
    fwupd_init(&d);
    d.clock = (struct fwupd_clock){v_wall, v_mono, &vc};
    ck_assert_int_eq(fwupd_now_ms(&d), 1764000000000);
    ck_assert_uint_eq(fwupd_mono_ms(&d), 5);
    vc.wall += 2000, vc.mono += 2000;
    ck_assert_int_eq(fwupd_now_ms(&d), 1764000002000);
    ck_assert_uint_eq(fwupd_mono_ms(&d), 2005);
}
END_TEST

START_TEST(test_real_clock)
{
    struct fwupd d;
    uv_loop_t loop;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    fwupd_init(&d);
    ck_assert_ptr_null(d.conf);
    ck_assert_ptr_null(d.status_changed);
    d.loop = &loop;
    int64_t now = fwupd_now_ms(&d);
    ck_assert_int_ge(now / 1000, (int64_t)time(NULL) - 1);
    ck_assert_int_le(now / 1000, (int64_t)time(NULL));
    /* the loop's cached time, as its timers see it */
    uv_update_time(&loop);
    ck_assert_uint_eq(fwupd_mono_ms(&d), uv_now(&loop));
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static int changes;

static void on_status(struct fwupd *d)
{
    ck_assert_ptr_nonnull(d);
    changes++;
}

START_TEST(test_status_hook)
{
    struct fwupd d;
    fwupd_init(&d);
    fwupd_notify_status(&d); /* no hook: nothing */
    d.status_changed = on_status;
    fwupd_notify_status(&d);
    fwupd_notify_status(&d);
    ck_assert_int_eq(changes, 2);
}
END_TEST

/* A run keeps the config it started under across a reload (ASan and
 * valgrind see a premature free or a leak). */
START_TEST(test_config_refs)
{
    struct fwup_config *cfg;
    char err[256];
    ck_assert_int_eq(fwup_config_parse("t.yaml", "daemon: {}\n", 11, &cfg, err, sizeof(err)), 0);
    struct fwupd_config *c = fwupd_config_new(cfg);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_eq(c->cfg, cfg);
    ck_assert_int_eq(c->refs, 1);
    struct fwupd_config *run = fwupd_config_ref(c);
    ck_assert_ptr_eq(run, c);
    ck_assert_int_eq(c->refs, 2);
    fwupd_config_unref(c); /* the daemon reloads */
    ck_assert_int_eq(run->refs, 1);
    ck_assert_ptr_eq(run->cfg, cfg);
    fwupd_config_unref(run); /* the run ends: freed */
    fwupd_config_unref(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core");
    TCase *t = tcase_create("core");
    tcase_add_test(t, test_virtual_clock);
    tcase_add_test(t, test_real_clock);
    tcase_add_test(t, test_status_hook);
    tcase_add_test(t, test_config_refs);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
