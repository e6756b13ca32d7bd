/*
 * Unit tests for the outcome records (daemon/outcomes.c) on a real state
 * directory and a real store: what a restart does with a run whose outcome
 * the store did not get.
 */
#include "outcomes.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char g_dir[PATH_MAX];

static void setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/fwupgw-outcomes.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

static void teardown(void)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    ck_assert_int_eq(system(cmd), 0);
}

static struct fwup_store *open_store(void)
{
    char path[PATH_MAX + 16], err[256] = "";
    struct fwup_store *st = NULL;
    snprintf(path, sizeof path, "%s/fwupgw.db", g_dir);
    ck_assert_msg(fwup_store_open(path, &st, err, sizeof err) == 0, "%s", err);
    return st;
}

static struct fwup_outcomes *open_outcomes(void)
{
    struct fwup_outcomes *o = NULL;
    char err[256] = "";
    ck_assert_msg(fwup_outcomes_open(g_dir, &o, err, sizeof err) == 0, "%s", err);
    return o;
}

/* A job started attempt times (running in its last one). */
static int64_t running_job(struct fwup_store *st, const char *device, int attempts)
{
    struct fwup_job j = {.max_attempts = 5, .bytes_total = 100};
    snprintf(j.device, sizeof j.device, "%s", device);
    snprintf(j.image_sha256, sizeof j.image_sha256, "%s", SHA_A);
    ck_assert_int_eq(fwup_store_queue_job(st, &j, 1000), 0);
    for (int i = 0; i < attempts; i++) {
        if (i)
            ck_assert_int_eq(fwup_store_job_retry(st, j.id, 0, "noise", 1500), 0);
        ck_assert_int_eq(fwup_store_job_start(st, j.id, 2000), 0);
    }
    return j.id;
}

/* What a start-up does: open the records, settle, close; jobs settled. */
static int restart(struct fwup_store *st, int64_t now)
{
    struct fwup_outcomes *o = open_outcomes();
    int finished = -1;
    ck_assert_int_eq(fwup_outcomes_recover(o, st, now, &finished), 0);
    fwup_outcomes_close(o);
    return finished;
}

static struct fwup_job get(struct fwup_store *st, int64_t id)
{
    struct fwup_job j;
    ck_assert_int_eq(fwup_store_get_job(st, id, &j), 0);
    return j;
}

/* The file is allocated whole at creation: later records need no space. */
START_TEST(test_file_allocated_at_open)
{
    struct fwup_outcomes *o = open_outcomes();
    char path[PATH_MAX + 16];
    struct stat sb;
    snprintf(path, sizeof path, "%s/outcomes", g_dir);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_size, 32768);
    ck_assert_int_ge(sb.st_blocks * 512, 32768);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    fwup_outcomes_close(o);
}
END_TEST

/* A success the store did not get is recorded as a success after the
 * restart, with a note; a completed transfer alone fails for good with
 * what to do; neither job is requeued by the recovery that follows. */
START_TEST(test_recover_settles_without_reflashing)
{
    struct fwup_store *st = open_store();
    struct fwup_outcomes *o = open_outcomes();
    int64_t ok = running_job(st, "dev-ok", 1);
    int64_t sent = running_job(st, "dev-sent", 2);
    int64_t plain = running_job(st, "dev-plain", 1);
    ck_assert_int_eq(fwup_outcomes_set(o, ok, 1, FWUP_OUTCOME_TRANSFERRED), 0);
    ck_assert_int_eq(fwup_outcomes_set(o, ok, 1, FWUP_OUTCOME_SUCCEEDED), 0);
    ck_assert_int_eq(fwup_outcomes_set(o, sent, 2, FWUP_OUTCOME_TRANSFERRED), 0);
    fwup_outcomes_close(o); /* as a kill -9 leaves it */
    fwup_store_close(st);

    st = open_store();
    int requeued = -1, failed = -1;
    ck_assert_int_eq(restart(st, 9000), 2);
    ck_assert_int_eq(fwup_store_recover(st, 9000, &requeued, &failed), 0);
    ck_assert_int_eq(requeued, 1); /* only the job without a record */
    ck_assert_int_eq(failed, 0);

    struct fwup_job j = get(st, ok);
    ck_assert_int_eq(j.state, FWUP_JOB_SUCCEEDED);
    ck_assert_int_eq(j.attempt, 1);
    ck_assert_str_eq(j.last_error, FWUP_OUTCOME_NOTE_SUCCEEDED);
    j = get(st, sent);
    ck_assert_int_eq(j.state, FWUP_JOB_FAILED);
    ck_assert_int_eq(j.attempt, 2);
    ck_assert_ptr_nonnull(strstr(j.last_error, "needs attention"));
    ck_assert_ptr_nonnull(strstr(j.last_error, "attempt 2"));
    ck_assert_ptr_nonnull(strstr(j.last_error, "not flashed again"));
    j = get(st, plain);
    ck_assert_int_eq(j.state, FWUP_JOB_QUEUED);

    /* The records are gone once applied: the next start changes nothing. */
    ck_assert_int_eq(restart(st, 9500), 0);
    fwup_store_close(st);
}
END_TEST

/* A record of an earlier attempt, of a job no longer running, or cleared
 * after the store took the outcome does nothing. */
START_TEST(test_recover_ignores_stale_records)
{
    struct fwup_store *st = open_store();
    struct fwup_outcomes *o = open_outcomes();
    int64_t again = running_job(st, "dev-a", 2);
    int64_t done = running_job(st, "dev-b", 1);
    int64_t cleared = running_job(st, "dev-c", 1);
    ck_assert_int_eq(fwup_outcomes_set(o, again, 1, FWUP_OUTCOME_SUCCEEDED), 0);
    ck_assert_int_eq(fwup_outcomes_set(o, done, 1, FWUP_OUTCOME_TRANSFERRED), 0);
    ck_assert_int_eq(fwup_store_job_finish(st, done, FWUP_JOB_FAILED, "verify failed", 3000), 0);
    ck_assert_int_eq(fwup_outcomes_set(o, cleared, 1, FWUP_OUTCOME_SUCCEEDED), 0);
    ck_assert_int_eq(fwup_outcomes_clear(o, cleared), 0);
    fwup_outcomes_close(o);

    ck_assert_int_eq(restart(st, 9000), 0);
    ck_assert_int_eq(get(st, again).state, FWUP_JOB_RUNNING);
    ck_assert_str_eq(get(st, done).last_error, "verify failed");
    ck_assert_int_eq(get(st, cleared).state, FWUP_JOB_RUNNING);
    fwup_store_close(st);
}
END_TEST

/* A torn or foreign slot reads as no record. */
START_TEST(test_damaged_slot_ignored)
{
    struct fwup_store *st = open_store();
    struct fwup_outcomes *o = open_outcomes();
    int64_t id = running_job(st, "dev-a", 1);
    ck_assert_int_eq(fwup_outcomes_set(o, id, 1, FWUP_OUTCOME_SUCCEEDED), 0);
    fwup_outcomes_close(o);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/outcomes", g_dir);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 12, SEEK_SET), 0); /* inside the first slot's attempt */
    ck_assert_int_eq(fputc(7, f), 7);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(restart(st, 9000), 0);
    ck_assert_int_eq(get(st, id).state, FWUP_JOB_RUNNING);
    fwup_store_close(st);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("outcomes");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_file_allocated_at_open);
    tcase_add_test(tc, test_recover_settles_without_reflashing);
    tcase_add_test(tc, test_recover_ignores_stale_records);
    tcase_add_test(tc, test_damaged_slot_ignored);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
