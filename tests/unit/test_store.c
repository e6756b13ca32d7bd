/*
 * Unit tests for the SQLite job store, each on a real database file in its
 * own directory under one mkdtemp root that main() removes at the end.
 */
#include "store.h"

#include <check.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SHA_B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

static char g_root[256];

/* The test links with --wrap=sqlite3_open_v2 so it can look at the store's
 * own connection: synchronous and foreign_keys are per-connection settings
 * that no second connection can observe. */
static sqlite3 *g_last_db;
int __real_sqlite3_open_v2(const char *path, sqlite3 **db, int flags, const char *vfs);
int __wrap_sqlite3_open_v2(const char *path, sqlite3 **db, int flags, const char *vfs);
int __wrap_sqlite3_open_v2(const char *path, sqlite3 **db, int flags, const char *vfs)
{
    int rc = __real_sqlite3_open_v2(path, db, flags, vfs);
    g_last_db = *db;
    return rc;
}

/* Fresh directory per test (tests run in forked children, so a counter in
 * this process would repeat); writes the database path into path. */
static void new_db_path(char *path, size_t len)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/tXXXXXX", g_root);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    if ((size_t)snprintf(path, len, "%s/store.db", dir) >= len)
        ck_abort_msg("temporary path too long: %s", dir);
}

static struct fwup_store *open_ok(const char *path)
{
    struct fwup_store *st = NULL;
    char err[256] = "";
    int rc = fwup_store_open(path, &st, err, sizeof err);
    ck_assert_msg(rc == 0, "open %s: %s", path, err);
    ck_assert_ptr_nonnull(st);
    return st;
}

static struct fwup_store *fresh(char *path, size_t len)
{
    new_db_path(path, len);
    return open_ok(path);
}

static int64_t queue(struct fwup_store *st, const char *device, int64_t batch, int max_attempts,
                     int64_t now)
{
    struct fwup_job j;
    memset(&j, 0, sizeof j);
    snprintf(j.device, sizeof j.device, "%s", device);
    snprintf(j.image_sha256, sizeof j.image_sha256, "%s", SHA_A);
    snprintf(j.format, sizeof j.format, "ihex");
    j.batch_id = batch;
    j.max_attempts = max_attempts;
    j.bytes_total = 1000;
    ck_assert_msg(fwup_store_queue_job(st, &j, now) == 0, "queue: %s", fwup_store_errmsg(st));
    ck_assert_int_gt(j.id, 0);
    return j.id;
}

static struct fwup_job get(struct fwup_store *st, int64_t id)
{
    struct fwup_job j;
    ck_assert_msg(fwup_store_get_job(st, id, &j) == 0, "get %lld: %s", (long long)id,
                  fwup_store_errmsg(st));
    return j;
}

/* Raw SQLite access, as another process (or an operator) would have. */
static int raw_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

static void raw_text(const char *path, const char *sql, char *out, size_t len)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    const unsigned char *v = sqlite3_column_text(s, 0);
    snprintf(out, len, "%s", v ? (const char *)v : "");
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static long raw_int(const char *path, const char *sql)
{
    char buf[64];
    raw_text(path, sql, buf, sizeof buf);
    return strtol(buf, NULL, 10);
}

/* ---- collectors for the callbacks ---- */

struct job_list {
    int n, stop_after;
    int64_t ids[64];
};

static int collect_job(void *ctx, const struct fwup_job *j)
{
    struct job_list *l = ctx;
    if (l->n < 64)
        l->ids[l->n] = j->id;
    l->n++;
    return l->stop_after && l->n >= l->stop_after;
}

static struct job_list list(struct fwup_store *st, const char *device, int state, int64_t batch,
                            int limit, int oldest)
{
    struct fwup_job_filter f = {device, state, batch, limit, oldest};
    struct job_list l = {0};
    ck_assert_int_eq(fwup_store_list_jobs(st, &f, collect_job, &l), 0);
    return l;
}

struct ev_list {
    int n;
    struct fwup_job_event ev[64];
};

static int collect_ev(void *ctx, const struct fwup_job_event *e)
{
    struct ev_list *l = ctx;
    if (l->n < 64)
        l->ev[l->n] = *e;
    l->n++;
    return 0;
}

static struct ev_list events(struct fwup_store *st, int64_t job, const char *device, int limit)
{
    static struct ev_list l;
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(fwup_store_list_events(st, job, device, limit, collect_ev, &l), 0);
    return l;
}

static int event_count(struct fwup_store *st, int64_t job)
{
    return events(st, job, NULL, 0).n;
}

static void assert_same_job(const struct fwup_job *a, const struct fwup_job *b)
{
    ck_assert_int_eq(a->id, b->id);
    ck_assert_int_eq(a->state, b->state);
    ck_assert_str_eq(a->phase, b->phase);
    ck_assert_uint_eq(a->bytes_done, b->bytes_done);
    ck_assert_uint_eq(a->bytes_total, b->bytes_total);
    ck_assert_int_eq(a->attempt, b->attempt);
    ck_assert_int_eq(a->cancel_requested, b->cancel_requested);
    ck_assert_str_eq(a->last_error, b->last_error);
    ck_assert_int_eq(a->updated_ms, b->updated_ms);
    ck_assert_int_eq(a->started_ms, b->started_ms);
    ck_assert_int_eq(a->finished_ms, b->finished_ms);
    ck_assert_int_eq(a->not_before_ms, b->not_before_ms);
}

/* ---- tests ---- */

START_TEST(test_state_names)
{
    for (int i = 0; i < FWUP_JOB_STATE_COUNT; i++)
        ck_assert_int_eq(fwup_job_state_from_name(fwup_job_state_name(i)), i);
    ck_assert_str_eq(fwup_job_state_name(FWUP_JOB_QUEUED), "queued");
    ck_assert_str_eq(fwup_job_state_name(FWUP_JOB_CANCELLED), "cancelled");
    ck_assert_int_eq(fwup_job_state_from_name("running"), FWUP_JOB_RUNNING);
    ck_assert_int_eq(fwup_job_state_from_name("bogus"), -1);
    ck_assert_int_eq(fwup_job_state_from_name(NULL), -1);
}
END_TEST

/* A job filter's state is a job state or -1 (any): the last state lists,
 * one past it is refused rather than read past the statement table. */
START_TEST(test_list_state_bound)
{
    char path[PATH_MAX];
    struct fwup_store *st = fresh(path, sizeof path);
    struct job_list l = list(st, NULL, FWUP_JOB_STATE_COUNT - 1, 0, 0, 0);
    ck_assert_int_eq(l.n, 0);
    l = list(st, NULL, -1, 0, 0, 0);
    ck_assert_int_eq(l.n, 0);
    struct fwup_job_filter f = {NULL, FWUP_JOB_STATE_COUNT, 0, 0, 0};
    struct job_list none = {0};
    ck_assert_int_eq(fwup_store_list_jobs(st, &f, collect_job, &none), -1);
    ck_assert_ptr_nonnull(strstr(fwup_store_errmsg(st), "bad state 5"));
    ck_assert_int_eq(none.n, 0);
    fwup_store_close(st);
}
END_TEST

/* Closing nothing is a no-op, as free(NULL): error paths close whatever
 * they opened without checking. */
START_TEST(test_close_null)
{
    fwup_store_close(NULL);
}
END_TEST

START_TEST(test_schema_created)
{
    char path[PATH_MAX];
    struct fwup_store *st = fresh(path, sizeof path);
    ck_assert_int_eq(fwup_store_schema_version(st), FWUP_STORE_SCHEMA_VERSION);
    fwup_store_close(st);

    ck_assert_int_eq(raw_int(path, "PRAGMA user_version"), FWUP_STORE_SCHEMA_VERSION);
    char mode[16];
    raw_text(path, "PRAGMA journal_mode", mode, sizeof mode);
    ck_assert_str_eq(mode, "wal");
    ck_assert_int_eq(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                   "name IN ('devices','images','batches','jobs','job_events')"),
                     5);
    ck_assert_int_eq(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
                                   "AND tbl_name = 'job_events'"),
                     2);
    ck_assert_int_eq(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                                   "name IN ('jobs_by_state','jobs_by_device','jobs_by_batch',"
                                   "'job_events_by_job')"),
                     4);
}
END_TEST

static long conn_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s;
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    long v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

START_TEST(test_connection_settings)
{
    char path[PATH_MAX];
    g_last_db = NULL;
    struct fwup_store *st = fresh(path, sizeof path);
    ck_assert_ptr_nonnull(g_last_db);
    ck_assert_int_eq(conn_int(g_last_db, "PRAGMA synchronous"), 2); /* FULL */
    ck_assert_int_eq(conn_int(g_last_db, "PRAGMA foreign_keys"), 1);
    ck_assert_int_gt(conn_int(g_last_db, "PRAGMA busy_timeout"), 0);
    fwup_store_close(st);
}
END_TEST

START_TEST(test_reopen_keeps_data)
{
    char path[PATH_MAX];
    struct fwup_store *st = fresh(path, sizeof path);
    int64_t id = queue(st, "dev1", 0, 3, 1000);
    ck_assert_int_eq(fwup_store_job_start(st, id, 1100), 0);
    fwup_store_close(st);

    st = open_ok(path);
    ck_assert_int_eq(fwup_store_schema_version(st), FWUP_STORE_SCHEMA_VERSION);
    struct fwup_job j = get(st, id);
    ck_assert_int_eq(j.state, FWUP_JOB_RUNNING);
    ck_assert_int_eq(j.attempt, 1);
    ck_assert_int_eq(j.started_ms, 1100);
    ck_assert_int_eq(event_count(st, id), 2);
    fwup_store_close(st);
}
END_TEST

START_TEST(test_refuse_newer_schema)
{
    char path[PATH_MAX];
    struct fwup_store *st = fresh(path, sizeof path);
    queue(st, "dev1", 0, 3, 1000);
    fwup_store_close(st);

    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", FWUP_STORE_SCHEMA_VERSION + 1);
    ck_assert_int_eq(raw_exec(path, sql), SQLITE_OK);

    char err[256] = "";
    st = (struct fwup_store *)&st; /* must be reset to NULL on failure */
    ck_assert_int_eq(fwup_store_open(path, &st, err, sizeof err), -1);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err, "newer") != NULL, "error does not say why: %s", err);
    /* Refusing must not touch the file: the version is still the newer one. */
    ck_assert_int_eq(raw_int(path, "PRAGMA user_version"), FWUP_STORE_SCHEMA_VERSION + 1);
}
END_TEST

START_TEST(test_refuse_garbage_file)
{
    char path[PATH_MAX];
    new_db_path(path, sizeof path);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 256; i++)
        fputs("this is not a database ", f);
    fclose(f);
    struct fwup_store *st = NULL;
    char err[256] = "";
    ck_assert_int_eq(fwup_store_open(path, &st, err, sizeof err), -1);
    ck_assert_ptr_null(st);
    ck_assert_int_gt(strlen(err), 0);
}
END_TEST

START_TEST(test_queue_and_get)
{
    char path[PATH_MAX];
    struct fwup_store *st = fresh(path, sizeof path);
    struct fwup_job j;
    memset(&j, 0, sizeof j);
    snprintf(j.device, sizeof j.device, "dev7");
    snprintf(j.image_sha256, sizeof j.image_sha256, SHA_B);
    snprintf(j.format, sizeof j.format, "bin");
    snprintf(j.version, sizeof j.version, "2.1.0");
    j.base_address = 0x08000000u;
    j.bytes_total = 40960;
    j.max_attempts = 5;
    j.not_before_ms = 7000;
    j.attempt = 42;            /* ignored: filled in */
    j.state = FWUP_JOB_FAILED; /* ignored: filled in */
    ck_assert_int_eq(fwup_store_queue_job(st, &j, 5000), 0);
    ck_assert_int_gt(j.id, 0);
    ck_assert_int_eq(j.state, FWUP_JOB_QUEUED);
    ck_assert_int_eq(j.attempt, 0);
    ck_assert_int_eq(j.created_ms, 5000);

    struct fwup_job g = get(st, j.id);
    ck_assert_str_eq(g.device, "dev7");
    ck_assert_str_eq(g.image_sha256, SHA_B);
    ck_assert_str_eq(g.format, "bin");
    ck_assert_str_eq(g.version, "2.1.0");
    ck_assert_uint_eq(g.base_address, 0x08000000u);
    ck_assert_int_eq(g.batch_id, 0);
    ck_assert_int_eq(g.state, FWUP_JOB_QUEUED);
    ck_assert_str_eq(g.phase, "");
    ck_assert_uint_eq(g.bytes_done, 0);
    ck_assert_uint_eq(g.bytes_total, 40960);
    ck_assert_int_eq(g.attempt, 0);
    ck_assert_int_eq(g.max_attempts, 5);
    ck_assert_int_eq(g.cancel_requested, 0);
    ck_assert_str_eq(g.last_error, "");
    ck_assert_int_eq(g.created_ms, 5000);
    ck_assert_int_eq(g.updated_ms, 5000);
    ck_assert_int_eq(g.started_ms, 0);
    ck_assert_int_eq(g.finished_ms, 0);
    ck_assert_int_eq(g.not_before_ms, 7000);

    struct ev_list ev = events(st, j.id, NULL, 0);
    ck_assert_int_eq(ev.n, 1);
    ck_assert_str_eq(ev.ev[0].kind, "queued");
    ck_assert_int_eq(ev.ev[0].state, FWUP_JOB_QUEUED);
    ck_assert_str_eq(ev.ev[0].device, "dev7");
    ck_assert_int_eq(ev.ev[0].ts_ms, 5000);

    /* max_attempts 0 or below takes the documented default: exactly 3 runs. */
    int64_t id2 = queue(st, "dev7", 0, 0, 5100);
    ck_assert_int_eq(get(st, id2).max_attempts, 3);
    int64_t id3 = queue(st, "dev8", 0, -1, 5100);
    ck_assert_int_eq(get(st, id3).max_attempts, 3);
    ck_assert_int_eq(get(st, queue(st, "dev9", 0, 1, 5100)).max_attempts, 1);

    ck_assert_int_eq(fwup_store_get_job(st, 9999, &g), FWUP_STORE_NOT_FOUND);

    /* Bad input is refused and leaves nothing behind. */
    struct fwup_job bad = j;
    snprintf(bad.image_sha256, sizeof bad.image_sha256, "not-a-hash");
    ck_assert_int_eq(fwup_store_queue_job(st, &bad, 6000), -1);
    ck_assert_int_gt(strlen(fwup_store_errmsg(st)), 0);
    bad = j;
    bad.batch_id = 777; /* no such batch */
    ck_assert_int_eq(fwup_store_queue_job(st, &bad, 6000), -1);
    ck_assert_int_eq(list(st, NULL, -1, 0, 0, 0).n, 4);
    fwup_store_close(st);
}
END_TEST

static int list_nested_cb(void *ctx, const struct fwup_job *j)
{
    (void)j;
    struct fwup_store *st = ctx;
    struct job_list inner = list(st, NULL, -1, 0, 0, 0);
    ck_assert_int_eq(inner.n, 5);
    return 0;
}

START_TEST(test_list_filters)
{
    char path[PATH_MAX];
    struct fwup_store *st = fresh(path, sizeof path);
    int64_t b1, b2;
    ck_assert_int_eq(fwup_store_create_batch(st, "one", 100, &b1), 0);
    ck_assert_int_eq(fwup_store_create_batch(st, "two", 100, &b2), 0);
    int64_t j1 = queue(st, "dev1", b1, 3, 1000);
    int64_t j2 = queue(st, "dev2", b1, 3, 1001);
    int64_t j3 = queue(st, "dev1", b2, 3, 1002);
    int64_t j4 = queue(st, "dev1", 0, 3, 1003);
    int64_t j5 = queue(st, "dev2", 0, 3, 1004);
    ck_assert_int_eq(fwup_store_job_start(st, j1, 1100), 0);

    struct job_list l = list(st, NULL, -1, 0, 0, 0);
    ck_assert_int_eq(l.n, 5);
    ck_assert_int_eq(l.ids[0], j5); /* newest first */
    ck_assert_int_eq(l.ids[4], j1);

    l = list(st, "dev1", -1, 0, 0, 0);
    ck_assert_int_eq(l.n, 3);
    ck_assert_int_eq(l.ids[0], j4);
    ck_assert_int_eq(l.ids[1], j3);
    ck_assert_int_eq(l.ids[2], j1);

    l = list(st, NULL, FWUP_JOB_RUNNING, 0, 0, 0);
    ck_assert_int_eq(l.n, 1);
    ck_assert_int_eq(l.ids[0], j1);

    l = list(st, NULL, -1, b1, 0, 0);
    ck_assert_int_eq(l.n, 2);
    ck_assert_int_eq(l.ids[0], j2);
    ck_assert_int_eq(l.ids[1], j1);

    l = list(st, "dev1", FWUP_JOB_QUEUED, 0, 0, 1);
    ck_assert_int_eq(l.n, 2);
    ck_assert_int_eq(l.ids[0], j3);
    ck_assert_int_eq(l.ids[1], j4);

    l = list(st, "dev2", FWUP_JOB_QUEUED, b1, 0, 0);
    ck_assert_int_eq(l.n, 1);
    ck_assert_int_eq(l.ids[0], j2);

    l = list(st, NULL, -1, 0, 2, 0);
    ck_assert_int_eq(l.n, 2);
    ck_assert_int_eq(l.ids[0], j5);
    ck_assert_int_eq(l.ids[1], j4);

    l = list(st, NULL, -1, 0, 2, 1);
    ck_assert_int_eq(l.n, 2);
    ck_assert_int_eq(l.ids[0], j1);
    ck_assert_int_eq(l.ids[1], j2);

    ck_assert_int_eq(list(st, "nobody", -1, 0, 0, 0).n, 0);
    ck_assert_int_eq(list(st, NULL, FWUP_JOB_FAILED, 0, 0, 0).n, 0);

    /* A non-zero callback return stops the walk. */
    struct fwup_job_filter all = {NULL, -1, 0, 0, 0};
    struct job_list stop = {.stop_after = 2};
    ck_assert_int_eq(fwup_store_list_jobs(st, &all, collect_job, &stop), 0);
    ck_assert_int_eq(stop.n, 2);

    /* A callback may list again with the same filter. */
    ck_assert_int_eq(fwup_store_list_jobs(st, &all, list_nested_cb, st), 0);
    /* And the cached statement is reusable afterwards. */
    ck_assert_int_eq(list(st, NULL, -1, 0, 0, 0).n, 5);
    fwup_store_close(st);
}
END_TEST

START_TEST(test_legal_transitions)
{
    char path[PATH_MAX];
    struct fwup_store *st = fresh(path, sizeof path);

    /* queued -> running -> succeeded */
    int64_t a = queue(st, "dev1", 0, 3, 1000);
    ck_assert_int_eq(fwup_store_job_start(st, a, 1100), 0);
    struct fwup_job j = get(st, a);
    ck_assert_int_eq(j.state, FWUP_JOB_RUNNING);
    ck_assert_int_eq(j.attempt, 1);
    ck_assert_int_eq(j.started_ms, 1100);
    ck_assert_int_eq(j.updated_ms, 1100);
    ck_assert_int_eq(fwup_store_job_finish(st, a, FWUP_JOB_SUCCEEDED, NULL, 1200), 0);
    j = get(st, a);
    ck_assert_int_eq(j.state, FWUP_JOB_SUCCEEDED);
    ck_assert_int_eq(j.finished_ms, 1200);
    ck_assert_str_eq(j.last_error, "");

    /* running -> failed keeps the error */
    int64_t b = queue(st, "dev1", 0, 3, 1000);
    ck_assert_int_eq(fwup_store_job_start(st, b, 1100), 0);
    ck_assert_int_eq(fwup_store_job_finish(st, b, FWUP_JOB_FAILED, "NAK on block 3", 1300), 0);
    j = get(st, b);
    ck_assert_int_eq(j.state, FWUP_JOB_FAILED);
    ck_assert_str_eq(j.last_error, "NAK on block 3");
    ck_assert_int_eq(j.finished_ms, 1300);

    /* running -> cancelled */
    int64_t c = queue(st, "dev1", 0, 3, 1000);
    ck_assert_int_eq(fwup_store_job_start(st, c, 1100), 0);
    ck_assert_int_eq(fwup_store_job_finish(st, c, FWUP_JOB_CANCELLED, NULL, 1400), 0);
    ck_assert_int_eq(get(st, c).state, FWUP_JOB_CANCELLED);

    /* A non-final target state is a caller bug, not a transition. */
    int64_t d = queue(st, "dev1", 0, 3, 1000);
    ck_assert_int_eq(fwup_store_job_start(st, d, 1100), 0);
    ck_assert_int_eq(fwup_store_job_finish(st, d, FWUP_JOB_QUEUED, NULL, 1500), -1);
    ck_assert_int_eq(get(st, d).state, FWUP_JOB_RUNNING);

    /* running -> queued (interrupt): the run does not count */
    ck_assert_int_eq(fwup_store_job_interrupt(st, d, 1600), 0);
    j = get(st, d);
    ck_assert_int_eq(j.state, FWUP_JOB_QUEUED);
    ck_assert_int_eq(j.attempt, 0);
    struct ev_list ev = events(st, d, NULL, 1);
    ck_assert_str_eq(ev.ev[0].kind, "interrupted");
    ck_assert_int_eq(ev.ev[0].state, FWUP_JOB_QUEUED);
    ck_assert_int_eq(fwup_store_job_start(st, d, 1700), 0);
    ck_assert_int_eq(get(st, d).attempt, 1);

    /* Event kinds in order, newest first. */
    ev = events(st, a, NULL, 0);
    ck_assert_int_eq(ev.n, 3);
    ck_assert_str_eq(ev.ev[0].kind, "succeeded");
    ck_assert_int_eq(ev.ev[0].state, FWUP_JOB_SUCCEEDED);
    ck_assert_str_eq(ev.ev[1].kind, "started");
    ck_assert_int_eq(ev.ev[1].state, FWUP_JOB_RUNNING);
    ck_assert_str_eq(ev.ev[1].message, "attempt 1 of 3");
    ck_assert_str_eq(ev.ev[2].kind, "queued");
    ev = events(st, b, NULL, 1);
    ck_assert_str_eq(ev.ev[0].kind, "failed");
    ck_assert_str_eq(ev.ev[0].message, "NAK on block 3");
    ev = events(st, c, NULL, 1);
    ck_assert_str_eq(ev.ev[0].kind, "cancelled");
    fwup_store_close(st);
}
END_TEST

enum op { OP_START, OP_PROGRESS, OP_FINISH, OP_RETRY, OP_INTERRUPT, OP_CANCEL, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"start", "progress",  "finish",
                                               "retry", "interrupt", "cancel"};

static int do_op(struct fwup_store *st, int64_t id, enum op op, int64_t now)
{
    int was_running;
    switch (op) {
    case OP_START:
        return fwup_store_job_start(st, id, now);
    case OP_PROGRESS:
        return fwup_store_job_progress(st, id, "transfer", 10, 100, now);
    case OP_FINISH:
        return fwup_store_job_finish(st, id, FWUP_JOB_SUCCEEDED, NULL, now);
    case OP_RETRY:
        return fwup_store_job_retry(st, id, now + 1000, "timeout", now);
    case OP_INTERRUPT:
        return fwup_store_job_interrupt(st, id, now);
    case OP_CANCEL:
        return fwup_store_job_cancel(st, id, now, &was_running);
    default:
        return -1;
    }
}

static int64_t job_in_state(struct fwup_store *st, enum fwup_job_state s)
{
    /* A device of its own: no earlier job holds it back. */
    static int n;
    char dev[32];
    snprintf(dev, sizeof dev, "dev%d", ++n);
    int64_t id = queue(st, dev, 0, 3, 1000);
    if (s == FWUP_JOB_QUEUED)
        return id;
    ck_assert_int_eq(fwup_store_job_start(st, id, 1100), 0);
    ck_assert_int_eq(fwup_store_job_progress(st, id, "connect", 0, 100, 1150), 0);
    if (s != FWUP_JOB_RUNNING)
        ck_assert_int_eq(fwup_store_job_finish(st, id, s, "x", 1200), 0);
    return id;
}

START_TEST(test_illegal_transitions)
{
    char path[PATH_MAX];
    struct fwup_store *st = fresh(path, sizeof path);
    /* legal[state][op] */
    static const int legal[FWUP_JOB_STATE_COUNT][OP_COUNT] = {
        [FWUP_JOB_QUEUED] = {[OP_START] = 1, [OP_CANCEL] = 1},
        [FWUP_JOB_RUNNING] = {[OP_PROGRESS] = 1,
                              [OP_FINISH] = 1,
                              [OP_RETRY] = 1,
                              [OP_INTERRUPT] = 1,
                              [OP_CANCEL] = 1},
    };
    int checked = 0;
    for (int s = 0; s < FWUP_JOB_STATE_COUNT; s++) {
        for (int op = 0; op < OP_COUNT; op++) {
            int64_t id = job_in_state(st, s);
            struct fwup_job before = get(st, id);
            int nev = event_count(st, id);
            int rc = do_op(st, id, op, 5000);
            if (legal[s][op]) {
                ck_assert_msg(rc == 0, "%s from %s: %d %s", op_names[op], fwup_job_state_name(s),
                              rc, fwup_store_errmsg(st));
                continue;
            }
            ck_assert_msg(rc == FWUP_STORE_NOT_FOUND, "%s from %s returned %d", op_names[op],
                          fwup_job_state_name(s), rc);
            struct fwup_job after = get(st, id);
            assert_same_job(&before, &after);
            ck_assert_int_eq(event_count(st, id), nev);
            checked++;
        }
    }
    ck_assert_int_eq(checked, 5 * 6 - 7);

    /* No such job: every transition says so and writes nothing. */
    int nev = event_count(st, 0);
    for (int op = 0; op < OP_COUNT; op++)
        ck_assert_int_eq(do_op(st, 9999, op, 6000), FWUP_STORE_NOT_FOUND);
    ck_assert_int_eq(event_count(st, 0), nev);
    /* The table left four jobs running, all at attempt 1 of 3: started,
     * refused a second start, progressed (requeued) and cancel-requested
     * (cancelled, counted as neither). */
    int r = -1, f = -1;
    ck_assert_int_eq(fwup_store_recover(st, 7000, &r, &f), 0);
    ck_assert_int_eq(r, 3);
    ck_assert_int_eq(f, 0);
    ck_assert_int_eq(list(st, NULL, FWUP_JOB_RUNNING, 0, 0, 0).n, 0);
    fwup_store_close(st);
}
END_TEST

/*
 * Every transition is committed by the call that makes it: after each one
 * the store is closed (an open transaction would be rolled back, as by a
 * crash) and reopened, and the job must be exactly as the call left it.
 */
struct persist_case {
    const char *what;
    enum fwup_job_state from; /* QUEUED, RUNNING, or RUNNING with a cancel request: */
    int cancel_first;
    int (*op)(struct fwup_store *st, int64_t id, int64_t now);
    enum fwup_job_state state;
    int attempt, cancel_requested;
    const char *last_error;
    int64_t not_before_ms, finished_ms;
    const char *event; /* newest event kind */
};

static int p_start(struct fwup_store *st, int64_t id, int64_t now)
{
    return fwup_store_job_start(st, id, now);
}
static int p_progress(struct fwup_store *st, int64_t id, int64_t now)
{
    return fwup_store_job_progress(st, id, "write", 64, 1000, now);
}
static int p_succeed(struct fwup_store *st, int64_t id, int64_t now)
{
    return fwup_store_job_finish(st, id, FWUP_JOB_SUCCEEDED, NULL, now);
}
static int p_fail(struct fwup_store *st, int64_t id, int64_t now)
{
    return fwup_store_job_finish(st, id, FWUP_JOB_FAILED, "NAK", now);
}
static int p_finish_cancelled(struct fwup_store *st, int64_t id, int64_t now)
{
    return fwup_store_job_finish(st, id, FWUP_JOB_CANCELLED, NULL, now);
}
static int p_retry(struct fwup_store *st, int64_t id, int64_t now)
{
    return fwup_store_job_retry(st, id, now + 4000, "timeout", now);
}
static int p_interrupt(struct fwup_store *st, int64_t id, int64_t now)
{
    return fwup_store_job_interrupt(st, id, now);
}
static int p_cancel(struct fwup_store *st, int64_t id, int64_t now)
{
    int was_running;
    return fwup_store_job_cancel(st, id, now, &was_running);
}
static int p_recover(struct fwup_store *st, int64_t id, int64_t now)
{
    int rq = -1, fl = -1;
    (void)id;
    int rc = fwup_store_recover(st, now, &rq, &fl);
    ck_assert_int_eq(rq, 1);
    ck_assert_int_eq(fl, 0);
    return rc;
}

static const struct persist_case persist_cases[] = {
    {"start", FWUP_JOB_QUEUED, 0, p_start, FWUP_JOB_RUNNING, 1, 0, "", 0, 0, "started"},
    {"progress", FWUP_JOB_RUNNING, 0, p_progress, FWUP_JOB_RUNNING, 1, 0, "", 0, 0, "phase"},
    {"succeed", FWUP_JOB_RUNNING, 0, p_succeed, FWUP_JOB_SUCCEEDED, 1, 0, "", 0, 5000, "succeeded"},
    {"fail", FWUP_JOB_RUNNING, 0, p_fail, FWUP_JOB_FAILED, 1, 0, "NAK", 0, 5000, "failed"},
    {"finish cancelled", FWUP_JOB_RUNNING, 0, p_finish_cancelled, FWUP_JOB_CANCELLED, 1, 0, "", 0,
     5000, "cancelled"},
    {"retry", FWUP_JOB_RUNNING, 0, p_retry, FWUP_JOB_QUEUED, 1, 0, "timeout", 9000, 0, "retry"},
    {"interrupt", FWUP_JOB_RUNNING, 0, p_interrupt, FWUP_JOB_QUEUED, 0, 0, "", 0, 0, "interrupted"},
    {"cancel queued", FWUP_JOB_QUEUED, 0, p_cancel, FWUP_JOB_CANCELLED, 0, 0,
     "cancelled on request", 0, 5000, "cancelled"},
    {"cancel running", FWUP_JOB_RUNNING, 0, p_cancel, FWUP_JOB_RUNNING, 1, 1, "", 0, 0,
     "cancel-requested"},
    {"retry after cancel", FWUP_JOB_RUNNING, 1, p_retry, FWUP_JOB_CANCELLED, 1, 1,
     "cancelled on request", 0, 5000, "cancelled"},
    {"interrupt after cancel", FWUP_JOB_RUNNING, 1, p_interrupt, FWUP_JOB_CANCELLED, 1, 1,
     "cancelled on request", 0, 5000, "cancelled"},
    {"recover", FWUP_JOB_RUNNING, 0, p_recover, FWUP_JOB_QUEUED, 1, 0, "", 0, 0, "recovered"},
};

START_TEST(test_transitions_persist)
{
    const struct persist_case *c = &persist_cases[_i];
    char path[PATH_MAX];
    struct fwup_store *st = fresh(path, sizeof path);
    int64_t id = queue(st, "dev1", 0, 3, 1000);
    int was_running;
    if (c->from == FWUP_JOB_RUNNING)
        ck_assert_int_eq(fwup_store_job_start(st, id, 1100), 0);
    if (c->cancel_first)
        ck_assert_int_eq(fwup_store_job_cancel(st, id, 1200, &was_running), 0);
    int nev = event_count(st, id);
    fwup_store_close(st);

    st = open_ok(path);
    ck_assert_msg(c->op(st, id, 5000) == 0, "%s: %s", c->what, fwup_store_errmsg(st));
    struct fwup_job live = get(st, id);
    fwup_store_close(st);

    st = open_ok(path);
    struct fwup_job j = get(st, id);
    assert_same_job(&live, &j);
    ck_assert_msg(j.state == c->state, "%s: state %s after reopening", c->what,
                  fwup_job_state_name(j.state));
    ck_assert_int_eq(j.attempt, c->attempt);
    ck_assert_int_eq(j.cancel_requested, c->cancel_requested);
    ck_assert_str_eq(j.last_error, c->last_error);
    ck_assert_int_eq(j.not_before_ms, c->not_before_ms);
    ck_assert_int_eq(j.finished_ms, c->finished_ms);
    ck_assert_int_eq(j.updated_ms, 5000);
    struct ev_list ev = events(st, id, NULL, 0);
    ck_assert_int_eq(ev.n, nev + 1);
    ck_assert_str_eq(ev.ev[0].kind, c->event);
    ck_assert_int_eq(ev.ev[0].ts_ms, 5000);
    fwup_store_close(st);
}
END_TEST

START_TEST(test_events_append_only)
{
    char path[PATH_MAX];
    struct fwup_store *st = fresh(path, sizeof path);
    int64_t a = queue(st, "dev1", 0, 3, 1000);
    int64_t b = queue(st, "dev2", 0, 3, 1001);
    ck_assert_int_eq(fwup_store_job_start(st, a, 1100), 0);
    ck_assert_int_eq(fwup_store_job_progress(st, a, "erase", 0, 100, 1150), 0);
    ck_assert_int_eq(fwup_store_add_event(st, a, "note", "operator was here", 1160), 0);
    ck_assert_int_eq(fwup_store_add_event(st, 9999, "note", "x", 1160), FWUP_STORE_NOT_FOUND);

    struct ev_list ev = events(st, a, NULL, 0);
    ck_assert_int_eq(ev.n, 4);
    ck_assert_str_eq(ev.ev[0].kind, "note");
    ck_assert_str_eq(ev.ev[0].message, "operator was here");
    ck_assert_int_eq(ev.ev[0].state, FWUP_JOB_RUNNING);
    ck_assert_str_eq(ev.ev[0].phase, "erase");
    ck_assert_int_eq(ev.ev[0].ts_ms, 1160);
    ck_assert_str_eq(ev.ev[1].kind, "phase");
    ck_assert_str_eq(ev.ev[1].phase, "erase");
    for (int i = 1; i < ev.n; i++)
        ck_assert_int_lt(ev.ev[i].id, ev.ev[i - 1].id);

    ck_assert_int_eq(events(st, 0, "dev2", 0).n, 1);
    ck_assert_int_eq(events(st, 0, "dev2", 0).ev[0].job_id, b);
    ck_assert_int_eq(events(st, 0, NULL, 0).n, 5);
    ck_assert_int_eq(events(st, 0, NULL, 2).n, 2);
    ck_assert_int_eq(events(st, b, "dev1", 0).n, 0);
    fwup_store_close(st);

    /* Even a direct writer cannot rewrite history. */
    ck_assert_int_ne(raw_exec(path, "UPDATE job_events SET message = 'forged'"), SQLITE_OK);
    ck_assert_int_ne(raw_exec(path, "DELETE FROM job_events WHERE job_id = 1"), SQLITE_OK);
    ck_assert_int_eq(raw_int(path, "SELECT count(*) FROM job_events"), 5);
    ck_assert_int_eq(raw_int(path, "SELECT count(*) FROM job_events WHERE message = 'forged'"), 0);
    /* Nor delete a job that has history (foreign key). */
    ck_assert_int_ne(raw_exec(path, "PRAGMA foreign_keys = ON; DELETE FROM jobs WHERE id = 2"),
                     SQLITE_OK);
}
END_TEST

START_TEST(test_progress_events_on_phase_change)
{
    char path[PATH_MAX];
    struct fwup_store *st = fresh(path, sizeof path);
    int64_t id = queue(st, "dev1", 0, 3, 1000);
    ck_assert_int_eq(fwup_store_job_progress(st, id, "connect", 0, 100, 1050),
                     FWUP_STORE_NOT_FOUND);
    ck_assert_int_eq(fwup_store_job_start(st, id, 1100), 0);
    int base = event_count(st, id);

    ck_assert_int_eq(fwup_store_job_progress(st, id, "connect", 0, 100, 1200), 0);
    ck_assert_int_eq(event_count(st, id), base + 1);
    ck_assert_int_eq(fwup_store_job_progress(st, id, "connect", 0, 100, 1210), 0);
    ck_assert_int_eq(event_count(st, id), base + 1);
    ck_assert_int_eq(fwup_store_job_progress(st, id, "transfer", 10, 100, 1300), 0);
    ck_assert_int_eq(event_count(st, id), base + 2);
    for (int i = 2; i <= 10; i++)
        ck_assert_int_eq(fwup_store_job_progress(st, id, "transfer", i * 10, 100, 1300 + i), 0);
    ck_assert_int_eq(event_count(st, id), base + 2);

    struct fwup_job j = get(st, id);
    ck_assert_str_eq(j.phase, "transfer");
    ck_assert_uint_eq(j.bytes_done, 100);
    ck_assert_uint_eq(j.bytes_total, 100);
    ck_assert_int_eq(j.updated_ms, 1310);

    struct ev_list ev = events(st, id, NULL, 2);
    ck_assert_str_eq(ev.ev[0].kind, "phase");
    ck_assert_str_eq(ev.ev[0].phase, "transfer");
    ck_assert_int_eq(ev.ev[0].ts_ms, 1300);
    ck_assert_str_eq(ev.ev[1].phase, "connect");

    /* A new run starts with a clean phase, so its first phase is recorded. */
    ck_assert_int_eq(fwup_store_job_retry(st, id, 2000, "timeout", 1400), 0);
    ck_assert_int_eq(fwup_store_job_start(st, id, 2000), 0);
    ck_assert_str_eq(get(st, id).phase, "");
    base = event_count(st, id);
    ck_assert_int_eq(fwup_store_job_progress(st, id, "connect", 0, 100, 2100), 0);
    ck_assert_int_eq(event_count(st, id), base + 1);
    fwup_store_close(st);
}
END_TEST

START_TEST(test_retry)
{
    char path[PATH_MAX];
    struct fwup_store *st = fresh(path, sizeof path);
    int64_t id = queue(st, "dev1", 0, 3, 1000);
    ck_assert_int_eq(fwup_store_job_start(st, id, 1100), 0);
    ck_assert_int_eq(fwup_store_job_retry(st, id, 9000, "no answer after 10 tries", 1500), 0);
    struct fwup_job j = get(st, id);
    ck_assert_int_eq(j.state, FWUP_JOB_QUEUED);
    ck_assert_int_eq(j.not_before_ms, 9000);
    ck_assert_str_eq(j.last_error, "no answer after 10 tries");
    ck_assert_int_eq(j.attempt, 1); /* a failed run counts */
    ck_assert_int_eq(j.updated_ms, 1500);
    struct ev_list ev = events(st, id, NULL, 1);
    ck_assert_str_eq(ev.ev[0].kind, "retry");
    ck_assert_str_eq(ev.ev[0].message, "no answer after 10 tries");
    ck_assert_int_eq(ev.ev[0].state, FWUP_JOB_QUEUED);

    ck_assert_int_eq(fwup_store_job_start(st, id, 9000), 0);
    ck_assert_int_eq(get(st, id).attempt, 2);
    ck_assert_str_eq(events(st, id, NULL, 1).ev[0].message, "attempt 2 of 3");
    fwup_store_close(st);
}
END_TEST

START_TEST(test_cancel)
{
    char path[PATH_MAX];
    struct fwup_store *st = fresh(path, sizeof path);
    int was_running = -1;

    int64_t q = queue(st, "dev1", 0, 3, 1000);
    ck_assert_int_eq(fwup_store_job_cancel(st, q, 1100, &was_running), 0);
    ck_assert_int_eq(was_running, 0);
    struct fwup_job j = get(st, q);
    ck_assert_int_eq(j.state, FWUP_JOB_CANCELLED);
    ck_assert_int_eq(j.finished_ms, 1100);
    ck_assert_str_eq(events(st, q, NULL, 1).ev[0].kind, "cancelled");
    ck_assert_int_eq(fwup_store_job_cancel(st, q, 1200, &was_running), FWUP_STORE_NOT_FOUND);

    int64_t r = queue(st, "dev1", 0, 3, 1000);
    ck_assert_int_eq(fwup_store_job_start(st, r, 1100), 0);
    ck_assert_int_eq(fwup_store_job_cancel(st, r, 1200, &was_running), 0);
    ck_assert_int_eq(was_running, 1);
    j = get(st, r);
    ck_assert_int_eq(j.state, FWUP_JOB_RUNNING);
    ck_assert_int_eq(j.cancel_requested, 1);
    struct ev_list ev = events(st, r, NULL, 1);
    ck_assert_str_eq(ev.ev[0].kind, "cancel-requested");
    ck_assert_int_eq(ev.ev[0].state, FWUP_JOB_RUNNING);
    /* Asking again is fine and records nothing new. */
    int n = event_count(st, r);
    was_running = -1;
    ck_assert_int_eq(fwup_store_job_cancel(st, r, 1300, &was_running), 0);
    ck_assert_int_eq(was_running, 1);
    ck_assert_int_eq(event_count(st, r), n);
    ck_assert_int_eq(fwup_store_job_finish(st, r, FWUP_JOB_CANCELLED, NULL, 1400), 0);
    ck_assert_int_eq(get(st, r).state, FWUP_JOB_CANCELLED);

    /* A cancel-requested job whose run ends by retry or interrupt must not
     * go back to the queue. */
    int64_t t = queue(st, "dev1", 0, 3, 1000);
    ck_assert_int_eq(fwup_store_job_start(st, t, 1100), 0);
    ck_assert_int_eq(fwup_store_job_cancel(st, t, 1200, &was_running), 0);
    ck_assert_int_eq(fwup_store_job_retry(st, t, 5000, "timeout", 1300), 0);
    ck_assert_int_eq(get(st, t).state, FWUP_JOB_CANCELLED);
    ck_assert_str_eq(events(st, t, NULL, 1).ev[0].kind, "cancelled");
    int64_t u = queue(st, "dev1", 0, 3, 1000);
    ck_assert_int_eq(fwup_store_job_start(st, u, 1100), 0);
    ck_assert_int_eq(fwup_store_job_cancel(st, u, 1200, &was_running), 0);
    ck_assert_int_eq(fwup_store_job_interrupt(st, u, 1300), 0);
    ck_assert_int_eq(get(st, u).state, FWUP_JOB_CANCELLED);

    /* Cancelled while waiting for its retry: the reason is the cancel, not
     * the error of the attempt before. */
    int64_t w = queue(st, "dev2", 0, 3, 1000);
    ck_assert_int_eq(fwup_store_job_start(st, w, 1100), 0);
    ck_assert_int_eq(fwup_store_job_retry(st, w, 5000, "timeout", 1200), 0);
    ck_assert_str_eq(get(st, w).last_error, "timeout");
    ck_assert_int_eq(fwup_store_job_cancel(st, w, 1300, &was_running), 0);
    j = get(st, w);
    ck_assert_int_eq(j.state, FWUP_JOB_CANCELLED);
    ck_assert_str_eq(j.last_error, "cancelled on request");

    /* No such job. */
    ck_assert_int_eq(fwup_store_job_cancel(st, 9999, 1, &was_running), FWUP_STORE_NOT_FOUND);
    fwup_store_close(st);
}
END_TEST

START_TEST(test_recover)
{
    char path[PATH_MAX];
    struct fwup_store *st = fresh(path, sizeof path);
    int64_t fresh_run = queue(st, "dev1", 0, 3, 1000);
    int64_t last_run = queue(st, "dev2", 0, 1, 1000);
    int64_t cancelled = queue(st, "dev3", 0, 3, 1000);
    int64_t idle = queue(st, "dev4", 0, 3, 1000);
    int was_running;
    ck_assert_int_eq(fwup_store_job_start(st, fresh_run, 1100), 0);
    ck_assert_int_eq(fwup_store_job_start(st, last_run, 1100), 0);
    ck_assert_int_eq(fwup_store_job_start(st, cancelled, 1100), 0);
    ck_assert_int_eq(fwup_store_job_cancel(st, cancelled, 1150, &was_running), 0);

    int rq = -1, fl = -1;
    ck_assert_int_eq(fwup_store_recover(st, 2000, &rq, &fl), 0);
    ck_assert_int_eq(rq, 1);
    ck_assert_int_eq(fl, 1);

    struct fwup_job j = get(st, fresh_run);
    ck_assert_int_eq(j.state, FWUP_JOB_QUEUED);
    ck_assert_int_eq(j.attempt, 1); /* the dead run counts */
    struct ev_list ev = events(st, fresh_run, NULL, 1);
    ck_assert_str_eq(ev.ev[0].kind, "recovered");
    ck_assert_msg(strstr(ev.ev[0].message, "attempt 1 of 3") != NULL, "%s", ev.ev[0].message);

    j = get(st, last_run);
    ck_assert_int_eq(j.state, FWUP_JOB_FAILED);
    ck_assert_str_eq(j.last_error, "daemon stopped during attempt 1 of 1 (restart loop breaker)");
    ck_assert_int_eq(j.finished_ms, 2000);
    ev = events(st, last_run, NULL, 1);
    ck_assert_str_eq(ev.ev[0].kind, "failed");
    ck_assert_int_eq(ev.ev[0].state, FWUP_JOB_FAILED);

    ck_assert_int_eq(get(st, cancelled).state, FWUP_JOB_CANCELLED);
    ck_assert_int_eq(get(st, idle).state, FWUP_JOB_QUEUED);
    ck_assert_int_eq(get(st, idle).attempt, 0);

    /* Nothing left running: a second pass is a no-op. */
    int n = event_count(st, 0);
    ck_assert_int_eq(fwup_store_recover(st, 3000, &rq, &fl), 0);
    ck_assert_int_eq(rq, 0);
    ck_assert_int_eq(fl, 0);
    ck_assert_int_eq(event_count(st, 0), n);
    fwup_store_close(st);
}
END_TEST

/* A job whose run kills the daemon every time must stop being retried. */
START_TEST(test_recover_loop_breaker_across_restarts)
{
    char path[PATH_MAX];
    new_db_path(path, sizeof path);
    struct fwup_store *st = open_ok(path);
    int64_t id = queue(st, "dev1", 0, 2, 1000);
    fwup_store_close(st);

    int64_t now = 2000;
    for (int run = 1; run <= 2; run++) {
        st = open_ok(path);
        int rq, fl;
        ck_assert_int_eq(fwup_store_recover(st, now++, &rq, &fl), 0);
        ck_assert_int_eq(rq, run == 2);
        ck_assert_int_eq(fl, 0);
        ck_assert_int_eq(fwup_store_job_start(st, id, now++), 0);
        ck_assert_int_eq(get(st, id).attempt, run);
        fwup_store_close(st); /* "crash": the run never finishes */
    }
    st = open_ok(path);
    int rq, fl;
    ck_assert_int_eq(fwup_store_recover(st, now, &rq, &fl), 0);
    ck_assert_int_eq(rq, 0);
    ck_assert_int_eq(fl, 1);
    struct fwup_job j = get(st, id);
    ck_assert_int_eq(j.state, FWUP_JOB_FAILED);
    ck_assert_str_eq(j.last_error, "daemon stopped during attempt 2 of 2 (restart loop breaker)");
    ck_assert_int_eq(fwup_store_job_start(st, id, now + 1), FWUP_STORE_NOT_FOUND);
    fwup_store_close(st);

    /* The verdict itself survived. */
    st = open_ok(path);
    ck_assert_int_eq(get(st, id).state, FWUP_JOB_FAILED);
    fwup_store_close(st);
}
END_TEST

static void wait_child(pid_t pid, int expect_signal)
{
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    if (expect_signal) {
        ck_assert(WIFSIGNALED(status));
        ck_assert_int_eq(WTERMSIG(status), expect_signal);
    } else {
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
    }
}

/* Child processes report failure through their exit status only. */
static int64_t child_queue(struct fwup_store *st, const char *device, int64_t now)
{
    struct fwup_job j;
    memset(&j, 0, sizeof j);
    snprintf(j.device, sizeof j.device, "%s", device);
    snprintf(j.image_sha256, sizeof j.image_sha256, "%s", SHA_A);
    j.max_attempts = 3;
    if (fwup_store_queue_job(st, &j, now) != 0)
        _exit(3);
    return j.id;
}

START_TEST(test_crash_fork)
{
    char path[PATH_MAX];
    new_db_path(path, sizeof path);

    /* Committed work survives a process that never closes the store. */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct fwup_store *st;
        char err[256];
        if (fwup_store_open(path, &st, err, sizeof err) != 0)
            _exit(2);
        if (fwup_store_begin(st) != 0)
            _exit(4);
        int64_t id = child_queue(st, "dev1", 1000);
        child_queue(st, "dev2", 1001);
        if (fwup_store_commit(st) != 0)
            _exit(5);
        if (fwup_store_job_start(st, id, 1100) != 0)
            _exit(6);
        _exit(0);
    }
    wait_child(pid, 0);

    /* Uncommitted work dies with a SIGKILLed process. */
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct fwup_store *st;
        char err[256];
        if (fwup_store_open(path, &st, err, sizeof err) != 0)
            _exit(2);
        if (fwup_store_begin(st) != 0)
            _exit(4);
        child_queue(st, "dev3", 2000);
        raise(SIGKILL);
        _exit(7);
    }
    wait_child(pid, SIGKILL);

    struct fwup_store *st = open_ok(path);
    struct job_list l = list(st, NULL, -1, 0, 0, 1);
    ck_assert_int_eq(l.n, 2);
    struct fwup_job j = get(st, l.ids[0]);
    ck_assert_str_eq(j.device, "dev1");
    ck_assert_int_eq(j.state, FWUP_JOB_RUNNING);
    ck_assert_int_eq(list(st, "dev3", -1, 0, 0, 0).n, 0);

    int rq = -1, fl = -1;
    ck_assert_int_eq(fwup_store_recover(st, 3000, &rq, &fl), 0);
    ck_assert_int_eq(rq, 1);
    ck_assert_int_eq(fl, 0);
    ck_assert_int_eq(get(st, l.ids[0]).state, FWUP_JOB_QUEUED);
    fwup_store_close(st);
}
END_TEST

START_TEST(test_transactions)
{
    char path[PATH_MAX];
    struct fwup_store *st = fresh(path, sizeof path);

    ck_assert_int_eq(fwup_store_commit(st), -1);
    ck_assert_int_eq(fwup_store_rollback(st), -1);

    /* A rolled-back batch leaves no jobs and no events. */
    int64_t b;
    ck_assert_int_eq(fwup_store_begin(st), 0);
    ck_assert_int_eq(fwup_store_create_batch(st, "doomed", 100, &b), 0);
    for (int i = 0; i < 5; i++)
        queue(st, "dev1", b, 3, 1000 + i);
    ck_assert_int_eq(list(st, NULL, -1, 0, 0, 0).n, 5); /* visible inside */
    ck_assert_int_eq(fwup_store_rollback(st), 0);
    ck_assert_int_eq(list(st, NULL, -1, 0, 0, 0).n, 0);
    ck_assert_int_eq(event_count(st, 0), 0);
    struct fwup_batch batch;
    ck_assert_int_eq(fwup_store_get_batch(st, b, &batch), FWUP_STORE_NOT_FOUND);

    /* Nested: the inner rollback undoes only the inner part. */
    ck_assert_int_eq(fwup_store_begin(st), 0);
    int64_t keep1 = queue(st, "dev1", 0, 3, 2000);
    ck_assert_int_eq(fwup_store_begin(st), 0);
    queue(st, "dev2", 0, 3, 2001);
    ck_assert_int_eq(fwup_store_rollback(st), 0);
    /* A refused transition inside the batch does not spoil it. */
    ck_assert_int_eq(fwup_store_job_finish(st, keep1, FWUP_JOB_FAILED, "x", 2002),
                     FWUP_STORE_NOT_FOUND);
    int64_t keep2 = queue(st, "dev3", 0, 3, 2003);
    ck_assert_int_eq(fwup_store_commit(st), 0);
    struct job_list l = list(st, NULL, -1, 0, 0, 1);
    ck_assert_int_eq(l.n, 2);
    ck_assert_int_eq(l.ids[0], keep1);
    ck_assert_int_eq(l.ids[1], keep2);
    ck_assert_int_eq(get(st, keep1).state, FWUP_JOB_QUEUED);
    ck_assert_int_eq(fwup_store_commit(st), -1);
    fwup_store_close(st);

    /* Closing inside a transaction discards it. */
    st = open_ok(path);
    ck_assert_int_eq(fwup_store_begin(st), 0);
    queue(st, "dev4", 0, 3, 3000);
    fwup_store_close(st);
    st = open_ok(path);
    ck_assert_int_eq(list(st, NULL, -1, 0, 0, 0).n, 2);
    fwup_store_close(st);
}
END_TEST

START_TEST(test_images)
{
    char path[PATH_MAX];
    struct fwup_store *st = fresh(path, sizeof path);
    struct fwup_image_row img = {.sha256 = SHA_A, .size = 40960, .created_ms = 1000};
    snprintf(img.path, sizeof img.path, "images/%s", SHA_A);
    ck_assert_int_eq(fwup_store_put_image(st, &img), 0);

    struct fwup_image_row out;
    ck_assert_int_eq(fwup_store_get_image(st, SHA_A, &out), 0);
    ck_assert_str_eq(out.sha256, SHA_A);
    ck_assert_uint_eq(out.size, 40960);
    ck_assert_str_eq(out.path, img.path);
    ck_assert_int_eq(out.created_ms, 1000);

    /* Putting the same content again updates the location, keeps the age. */
    snprintf(img.path, sizeof img.path, "moved/%s", SHA_A);
    img.created_ms = 5000;
    ck_assert_int_eq(fwup_store_put_image(st, &img), 0);
    ck_assert_int_eq(fwup_store_get_image(st, SHA_A, &out), 0);
    ck_assert_str_eq(out.path, img.path);
    ck_assert_int_eq(out.created_ms, 1000);

    ck_assert_int_eq(fwup_store_get_image(st, SHA_B, &out), FWUP_STORE_NOT_FOUND);
    struct fwup_image_row bad = {.sha256 = "ABC", .size = 1};
    ck_assert_int_eq(fwup_store_put_image(st, &bad), -1);
    fwup_store_close(st);
}
END_TEST

START_TEST(test_batches)
{
    char path[PATH_MAX];
    struct fwup_store *st = fresh(path, sizeof path);
    int64_t b, other;
    ck_assert_int_eq(fwup_store_create_batch(st, "line-a rollout", 500, &b), 0);
    ck_assert_int_eq(fwup_store_create_batch(st, "other", 600, &other), 0);
    ck_assert_int_ne(b, other);

    struct fwup_batch out;
    ck_assert_int_eq(fwup_store_get_batch(st, b, &out), 0);
    ck_assert_int_eq(out.id, b);
    ck_assert_str_eq(out.name, "line-a rollout");
    ck_assert_int_eq(out.created_ms, 500);
    for (int i = 0; i < FWUP_JOB_STATE_COUNT; i++)
        ck_assert_int_eq(out.counts[i], 0);

    int64_t ids[6];
    for (int i = 0; i < 6; i++)
        ids[i] = queue(st, "dev1", b, 3, 1000 + i);
    queue(st, "dev2", other, 3, 1000);
    queue(st, "dev2", 0, 3, 1000);
    int was_running;
    /* In queue order: one device's jobs run one after the other. */
    ck_assert_int_eq(fwup_store_job_start(st, ids[0], 1100), 0);
    ck_assert_int_eq(fwup_store_job_finish(st, ids[0], FWUP_JOB_SUCCEEDED, NULL, 1200), 0);
    ck_assert_int_eq(fwup_store_job_start(st, ids[1], 1100), 0);
    ck_assert_int_eq(fwup_store_job_finish(st, ids[1], FWUP_JOB_SUCCEEDED, NULL, 1200), 0);
    ck_assert_int_eq(fwup_store_job_start(st, ids[2], 1100), 0);
    ck_assert_int_eq(fwup_store_job_finish(st, ids[2], FWUP_JOB_FAILED, "x", 1200), 0);
    ck_assert_int_eq(fwup_store_job_start(st, ids[3], 1100), 0);
    ck_assert_int_eq(fwup_store_job_cancel(st, ids[4], 1200, &was_running), 0);

    ck_assert_int_eq(fwup_store_get_batch(st, b, &out), 0);
    ck_assert_int_eq(out.counts[FWUP_JOB_QUEUED], 1);
    ck_assert_int_eq(out.counts[FWUP_JOB_RUNNING], 1);
    ck_assert_int_eq(out.counts[FWUP_JOB_SUCCEEDED], 2);
    ck_assert_int_eq(out.counts[FWUP_JOB_FAILED], 1);
    ck_assert_int_eq(out.counts[FWUP_JOB_CANCELLED], 1);
    ck_assert_int_eq(fwup_store_get_batch(st, other, &out), 0);
    ck_assert_int_eq(out.counts[FWUP_JOB_QUEUED], 1);
    ck_assert_int_eq(out.counts[FWUP_JOB_SUCCEEDED], 0);

    ck_assert_int_eq(fwup_store_get_batch(st, 9999, &out), FWUP_STORE_NOT_FOUND);
    fwup_store_close(st);
}
END_TEST

/* A device's jobs start in the order they were queued: a later one waits
 * while an earlier one is queued (retry back-off included) or running, in
 * the store itself, so the order survives a restart. */
START_TEST(test_device_queue_order)
{
    char path[PATH_MAX];
    struct fwup_store *st = fresh(path, sizeof path);
    int64_t a1 = queue(st, "devA", 0, 3, 1000);
    int64_t b1 = queue(st, "devB", 0, 3, 1001);
    int64_t a2 = queue(st, "devA", 0, 3, 1002);
    int64_t a3 = queue(st, "devA", 0, 3, 1003);
    ck_assert_int_eq(get(st, a1).waiting_for, 0);
    ck_assert_int_eq(get(st, b1).waiting_for, 0);
    ck_assert_int_eq(get(st, a2).waiting_for, a1);
    ck_assert_int_eq(get(st, a3).waiting_for, a2); /* the job right before it */

    /* a1 fails once and waits for its retry; a2 may not overtake it. */
    ck_assert_int_eq(fwup_store_job_start(st, a1, 1100), 0);
    ck_assert_int_eq(fwup_store_job_retry(st, a1, 9000, "timeout", 1200), 0);
    struct fwup_job before = get(st, a2);
    int nev = event_count(st, a2);
    ck_assert_int_eq(fwup_store_job_start(st, a2, 1300), FWUP_STORE_NOT_FOUND);
    struct fwup_job after = get(st, a2);
    assert_same_job(&before, &after);
    ck_assert_int_eq(event_count(st, a2), nev);
    ck_assert_int_eq(fwup_store_job_start(st, b1, 1300), 0); /* other devices go on */

    /* The same after a restart. */
    fwup_store_close(st);
    st = open_ok(path);
    ck_assert_int_eq(get(st, a2).waiting_for, a1);
    ck_assert_int_eq(fwup_store_job_start(st, a2, 1400), FWUP_STORE_NOT_FOUND);

    /* Running counts as unfinished; only running and queued jobs report
     * what they wait for. */
    ck_assert_int_eq(fwup_store_job_start(st, a1, 9000), 0);
    ck_assert_int_eq(get(st, a1).waiting_for, 0);
    ck_assert_int_eq(fwup_store_job_start(st, a2, 9001), FWUP_STORE_NOT_FOUND);
    ck_assert_int_eq(fwup_store_job_finish(st, a1, FWUP_JOB_SUCCEEDED, NULL, 9100), 0);
    ck_assert_int_eq(get(st, a1).waiting_for, 0);
    ck_assert_int_eq(get(st, a2).waiting_for, 0);
    ck_assert_int_eq(get(st, a3).waiting_for, a2);

    /* Finished jobs, cancelled ones included, hold nothing back. */
    int was_running;
    ck_assert_int_eq(fwup_store_job_cancel(st, a2, 9200, &was_running), 0);
    ck_assert_int_eq(get(st, a3).waiting_for, 0);
    int64_t a4 = queue(st, "devA", 0, 3, 9300);
    ck_assert_int_eq(get(st, a4).waiting_for, a3);
    ck_assert_int_eq(fwup_store_job_start(st, a3, 9400), 0);
    ck_assert_int_eq(fwup_store_job_finish(st, a3, FWUP_JOB_FAILED, "x", 9500), 0);
    ck_assert_int_eq(fwup_store_job_start(st, a4, 9600), 0);
    fwup_store_close(st);
}
END_TEST

static int collect_full(void *ctx, const struct fwup_job *j)
{
    struct job_list *l = ctx;
    ck_assert_int_lt(l->n, 64);
    l->ids[l->n++] = j->id;
    ck_assert_int_eq(j->cancel_requested || j->state == FWUP_JOB_CANCELLED, 1);
    return 0;
}

START_TEST(test_replace_older)
{
    char path[PATH_MAX];
    struct fwup_store *st = fresh(path, sizeof path);
    int64_t r1 = queue(st, "devR", 0, 3, 1000);
    int64_t r2 = queue(st, "devR", 0, 3, 1001);
    int64_t x1 = queue(st, "devX", 0, 3, 1002);
    ck_assert_int_eq(fwup_store_job_start(st, r1, 1100), 0);
    int64_t r3 = queue(st, "devR", 0, 3, 1200);
    struct fwup_job x_before = get(st, x1);

    struct job_list seen = {0};
    ck_assert_int_eq(fwup_store_replace_older(st, r3, 1300, collect_full, &seen), 0);
    ck_assert_int_eq(seen.n, 2);
    ck_assert_int_eq(seen.ids[0], r1);
    ck_assert_int_eq(seen.ids[1], r2);
    char why[64];
    snprintf(why, sizeof why, "replaced by job %lld", (long long)r3);

    /* The running one is asked to stop, with the reason. */
    struct fwup_job j = get(st, r1);
    ck_assert_int_eq(j.state, FWUP_JOB_RUNNING);
    ck_assert_int_eq(j.cancel_requested, 1);
    ck_assert_str_eq(j.last_error, why);
    struct ev_list ev = events(st, r1, NULL, 1);
    ck_assert_str_eq(ev.ev[0].kind, "cancel-requested");
    ck_assert_str_eq(ev.ev[0].message, why);
    /* The queued one is cancelled at once. */
    j = get(st, r2);
    ck_assert_int_eq(j.state, FWUP_JOB_CANCELLED);
    ck_assert_str_eq(j.last_error, why);
    ck_assert_int_eq(j.finished_ms, 1300);
    ev = events(st, r2, NULL, 1);
    ck_assert_str_eq(ev.ev[0].kind, "cancelled");
    ck_assert_str_eq(ev.ev[0].message, why);
    /* Other devices and the new job itself are untouched; the new job
     * waits until the running one has stopped. */
    struct fwup_job x_after = get(st, x1);
    assert_same_job(&x_before, &x_after);
    ck_assert_int_eq(get(st, r3).state, FWUP_JOB_QUEUED);
    ck_assert_int_eq(get(st, r3).waiting_for, r1);
    ck_assert_int_eq(fwup_store_job_start(st, r3, 1400), FWUP_STORE_NOT_FOUND);

    /* A second replace does not report a job already being stopped. */
    int64_t r4 = queue(st, "devR", 0, 3, 1500);
    seen.n = 0;
    ck_assert_int_eq(fwup_store_replace_older(st, r4, 1600, collect_full, &seen), 0);
    ck_assert_int_eq(seen.n, 1);
    ck_assert_int_eq(seen.ids[0], r3);
    ck_assert_str_eq(get(st, r1).last_error, why);
    ck_assert_int_eq(fwup_store_job_finish(st, r1, FWUP_JOB_CANCELLED, why, 1700), 0);
    ck_assert_int_eq(get(st, r4).waiting_for, 0);

    /* Nothing older: nothing to do. */
    seen.n = 0;
    ck_assert_int_eq(fwup_store_replace_older(st, x1, 1800, collect_full, &seen), 0);
    ck_assert_int_eq(seen.n, 0);
    fwup_store_close(st);

    /* Queue and replace in one transaction: a killed process leaves the
     * older job queued and no new one. */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char err[256];
        if (fwup_store_open(path, &st, err, sizeof err) != 0 || fwup_store_begin(st) != 0)
            _exit(2);
        int64_t id = child_queue(st, "devR", 2000);
        if (fwup_store_replace_older(st, id, 2000, NULL, NULL) != 0)
            _exit(4);
        raise(SIGKILL);
        _exit(7);
    }
    wait_child(pid, SIGKILL);
    st = open_ok(path);
    ck_assert_int_eq(get(st, r4).state, FWUP_JOB_QUEUED);
    ck_assert_int_eq(list(st, "devR", -1, 0, 0, 0).n, 4);
    fwup_store_close(st);
}
END_TEST

START_TEST(test_sync_devices)
{
    char path[PATH_MAX];
    struct fwup_store *st = fresh(path, sizeof path);
    struct fwup_device_row two[] = {
        {"dev1", "uart1", "xmodem", "[\"line-a\", \"bench\"]"},
        {"dev2", "can0", "isotp", NULL},
    };
    ck_assert_int_eq(fwup_store_sync_devices(st, two, 2, 1234), 0);
    int64_t job = queue(st, "dev1", 0, 3, 1000);
    fwup_store_close(st);
    ck_assert_int_eq(raw_int(path, "SELECT count(*) FROM devices"), 2);
    char tags[64];
    raw_text(path, "SELECT tags FROM devices WHERE id = 'dev1'", tags, sizeof tags);
    ck_assert_str_eq(tags, "[\"line-a\",\"bench\"]");
    raw_text(path, "SELECT tags FROM devices WHERE id = 'dev2'", tags, sizeof tags);
    ck_assert_str_eq(tags, "[]");
    raw_text(path, "SELECT protocol FROM devices WHERE id = 'dev2'", tags, sizeof tags);
    ck_assert_str_eq(tags, "isotp");
    /* The caller's clock, not the system's. */
    ck_assert_int_eq(raw_int(path, "SELECT count(*) FROM devices WHERE updated = 1234"), 2);

    st = open_ok(path);
    struct fwup_device_row one[] = {{"dev9", "uart9", "stm32", "[\"x\"]"}};
    ck_assert_int_eq(fwup_store_sync_devices(st, one, 1, 5678), 0);
    /* Bad input replaces nothing. */
    struct fwup_device_row bad[] = {
        {"devA", "uart1", "xmodem", "[]"},
        {"devB", "uart2", "xmodem", "{\"not\": \"an array\"}"},
    };
    ck_assert_int_eq(fwup_store_sync_devices(st, bad, 2, 9000), -1);
    struct fwup_device_row dup[] = {{"devA", "u", "p", NULL}, {"devA", "u", "p", NULL}};
    ck_assert_int_eq(fwup_store_sync_devices(st, dup, 2, 9000), -1);
    /* The job keeps its device although dev1 left the config. */
    ck_assert_str_eq(get(st, job).device, "dev1");
    fwup_store_close(st);
    ck_assert_int_eq(raw_int(path, "SELECT count(*) FROM devices"), 1);
    raw_text(path, "SELECT id FROM devices", tags, sizeof tags);
    ck_assert_str_eq(tags, "dev9");
    ck_assert_int_eq(raw_int(path, "SELECT updated FROM devices"), 5678);
}
END_TEST

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* ---- idempotency keys ---- */

static void put_req(struct fwup_store *st, const char *key, const char *fp, int64_t batch,
                    int64_t job, const char *result, int64_t now)
{
    struct fwup_request_row r = {.batch_id = batch, .job_id = job, .result = (char *)result};
    snprintf(r.method, sizeof r.method, "%s", batch ? "manifest.apply" : "jobs.queue");
    snprintf(r.fingerprint, sizeof r.fingerprint, "%s", fp);
    ck_assert_msg(fwup_store_put_request(st, key, &r, now, now - 1000) == 0, "put %s: %s", key,
                  fwup_store_errmsg(st));
}

START_TEST(test_request_keys)
{
    char path[PATH_MAX];
    struct fwup_store *st = fresh(path, sizeof path);
    int64_t job = queue(st, "dev1", 0, 3, 1000);
    char result[64];
    snprintf(result, sizeof result, "{\"job\":{\"id\":%lld}}", (long long)job);
    put_req(st, "k-1", SHA_A, 0, job, result, 2000);

    /* Unique: a second record under the same key fails and leaves the
     * first one as it was, whatever the second carried. */
    struct fwup_request_row r = {.method = "jobs.queue", .result = "{}"};
    snprintf(r.fingerprint, sizeof r.fingerprint, "%s", SHA_B);
    ck_assert_int_eq(fwup_store_put_request(st, "k-1", &r, 2100, 1100), -1);
    ck_assert_int_eq(fwup_store_put_request(st, "", &r, 2100, 1100), -1);
    char big[FWUP_STORE_KEY_MAX + 2];
    memset(big, 'k', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(fwup_store_put_request(st, big, &r, 2100, 1100), -1);
    big[FWUP_STORE_KEY_MAX] = '\0'; /* the longest key allowed */
    ck_assert_int_eq(fwup_store_put_request(st, big, &r, 2100, 1100), 0);

    struct fwup_request_row got;
    ck_assert_int_eq(fwup_store_find_request(st, "k-1", 0, &got), 0);
    ck_assert_str_eq(got.method, "jobs.queue");
    ck_assert_str_eq(got.fingerprint, SHA_A);
    ck_assert_int_eq(got.job_id, job);
    ck_assert_int_eq(got.batch_id, 0);
    ck_assert_str_eq(got.result, result);
    ck_assert_int_eq(got.created_ms, 2000);
    free(got.result);
    ck_assert_int_eq(fwup_store_find_request(st, "k-2", 0, &got), FWUP_STORE_NOT_FOUND);
    ck_assert_int_eq(fwup_store_find_request(st, "K-1", 0, &got), FWUP_STORE_NOT_FOUND);

    /* A batch's key, recorded in the transaction that queued its jobs:
     * rolled back together with them. */
    int64_t b;
    ck_assert_int_eq(fwup_store_begin(st), 0);
    ck_assert_int_eq(fwup_store_create_batch(st, "m", 3000, &b), 0);
    int64_t bj = queue(st, "dev2", b, 3, 3000);
    put_req(st, "k-batch", SHA_B, b, bj, "{\"batch\":{}}", 3000);
    ck_assert_int_eq(fwup_store_rollback(st), 0);
    ck_assert_int_eq(fwup_store_find_request(st, "k-batch", 0, &got), FWUP_STORE_NOT_FOUND);
    ck_assert_int_eq(fwup_store_begin(st), 0);
    ck_assert_int_eq(fwup_store_create_batch(st, "m", 3000, &b), 0);
    bj = queue(st, "dev2", b, 3, 3000);
    put_req(st, "k-batch", SHA_B, b, bj, "{\"batch\":{}}", 3000);
    ck_assert_int_eq(fwup_store_commit(st), 0);
    fwup_store_close(st);

    /* Survives a restart. */
    st = open_ok(path);
    ck_assert_int_eq(fwup_store_find_request(st, "k-1", 0, &got), 0);
    ck_assert_int_eq(got.job_id, job);
    ck_assert_str_eq(got.result, result);
    free(got.result);
    ck_assert_int_eq(fwup_store_find_request(st, "k-batch", 0, &got), 0);
    ck_assert_int_eq(got.batch_id, b);
    ck_assert_int_eq(got.job_id, bj);
    ck_assert_str_eq(got.method, "manifest.apply");
    free(got.result);

    /* Expiry: a key older than not_before is not found, and the next
     * record forgets it, so the key may name a new request. */
    ck_assert_int_eq(fwup_store_find_request(st, "k-1", 2000, &got), 0);
    free(got.result);
    ck_assert_int_eq(fwup_store_find_request(st, "k-1", 2001, &got), FWUP_STORE_NOT_FOUND);
    ck_assert_int_eq(fwup_store_put_request(st, "k-1", &r, 5000, 2500), 0);
    ck_assert_int_eq(fwup_store_find_request(st, "k-1", 0, &got), 0);
    ck_assert_str_eq(got.fingerprint, SHA_B);
    free(got.result);
    ck_assert_int_eq(fwup_store_find_request(st, "k-batch", 0, &got), 0); /* not yet expired */
    free(got.result);
    /* The job itself is untouched by its key's expiry. */
    ck_assert_int_eq(get(st, job).state, FWUP_JOB_QUEUED);
    fwup_store_close(st);
}
END_TEST

START_TEST(test_running_batch_by_targets)
{
    char path[PATH_MAX];
    struct fwup_store *st = fresh(path, sizeof path);
    int64_t b1, b2, other, none, found = 0;
    ck_assert_int_eq(fwup_store_create_batch(st, "m", 100, &b1), 0);
    ck_assert_int_eq(fwup_store_create_batch(st, "m", 100, &b2), 0);
    ck_assert_int_eq(fwup_store_create_batch(st, "m", 100, &other), 0);
    ck_assert_int_eq(fwup_store_create_batch(st, "m", 100, &none), 0);
    ck_assert_int_eq(fwup_store_set_batch_targets(st, b1, "T"), 0);
    ck_assert_int_eq(fwup_store_set_batch_targets(st, b2, "T"), 0);
    ck_assert_int_eq(fwup_store_set_batch_targets(st, other, "U"), 0);
    ck_assert_int_eq(fwup_store_set_batch_targets(st, 999, "T"), FWUP_STORE_NOT_FOUND);
    int64_t j1 = queue(st, "dev1", b1, 3, 200);
    int64_t j2 = queue(st, "dev2", b2, 3, 200);
    queue(st, "dev3", other, 3, 200);
    queue(st, "dev4", none, 3, 200);

    /* The newest unfinished one; a batch without targets never matches. */
    ck_assert_int_eq(fwup_store_find_running_batch(st, "T", &found), 0);
    ck_assert_int_eq(found, b2);
    ck_assert_int_eq(fwup_store_find_running_batch(st, "", &found), FWUP_STORE_NOT_FOUND);
    ck_assert_int_eq(fwup_store_find_running_batch(st, "V", &found), FWUP_STORE_NOT_FOUND);
    int was_running;
    ck_assert_int_eq(fwup_store_job_cancel(st, j2, 300, &was_running), 0);
    ck_assert_int_eq(fwup_store_find_running_batch(st, "T", &found), 0);
    ck_assert_int_eq(found, b1);
    /* Running counts as unfinished; finished does not. */
    ck_assert_int_eq(fwup_store_job_start(st, j1, 400), 0);
    ck_assert_int_eq(fwup_store_find_running_batch(st, "T", &found), 0);
    ck_assert_int_eq(found, b1);
    ck_assert_int_eq(fwup_store_job_finish(st, j1, FWUP_JOB_SUCCEEDED, NULL, 500), 0);
    ck_assert_int_eq(fwup_store_find_running_batch(st, "T", &found), FWUP_STORE_NOT_FOUND);
    fwup_store_close(st);
}
END_TEST

/* A database written by schema version 1 (before idempotency keys): made
 * by taking version 2's additions out again, then opened. */
START_TEST(test_migrate_from_v1)
{
    char path[PATH_MAX];
    struct fwup_store *st = fresh(path, sizeof path);
    int64_t b;
    ck_assert_int_eq(fwup_store_create_batch(st, "old", 100, &b), 0);
    int64_t id = queue(st, "dev1", b, 3, 1000);
    fwup_store_close(st);
    ck_assert_int_eq(raw_exec(path, "DROP TABLE requests; DROP INDEX batches_by_targets;"
                                    "ALTER TABLE batches DROP COLUMN targets;"
                                    "PRAGMA user_version = 1;"),
                     SQLITE_OK);
    ck_assert_int_eq(raw_int(path, "SELECT count(*) FROM pragma_table_info('batches')"), 3);

    st = open_ok(path);
    ck_assert_int_eq(fwup_store_schema_version(st), 2);
    struct fwup_job j = get(st, id);
    ck_assert_int_eq(j.batch_id, b);
    ck_assert_int_eq(j.state, FWUP_JOB_QUEUED);
    struct fwup_batch out;
    ck_assert_int_eq(fwup_store_get_batch(st, b, &out), 0);
    ck_assert_str_eq(out.name, "old");
    int64_t found;
    /* An old batch has no targets: it never blocks a new apply. */
    ck_assert_int_eq(fwup_store_find_running_batch(st, "", &found), FWUP_STORE_NOT_FOUND);
    put_req(st, "k", SHA_A, b, id, "{}", 2000);
    fwup_store_close(st);
    ck_assert_int_eq(raw_int(path, "PRAGMA user_version"), 2);
    ck_assert_int_eq(raw_int(path, "SELECT count(*) FROM requests"), 1);
    char ok[16];
    raw_text(path, "PRAGMA integrity_check", ok, sizeof ok);
    ck_assert_str_eq(ok, "ok");
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_state_names);
    tcase_add_test(tc, test_close_null);
    tcase_add_test(tc, test_list_state_bound);
    tcase_add_test(tc, test_schema_created);
    tcase_add_test(tc, test_connection_settings);
    tcase_add_test(tc, test_reopen_keeps_data);
    tcase_add_test(tc, test_refuse_newer_schema);
    tcase_add_test(tc, test_refuse_garbage_file);
    tcase_add_test(tc, test_queue_and_get);
    tcase_add_test(tc, test_list_filters);
    tcase_add_test(tc, test_legal_transitions);
    tcase_add_test(tc, test_illegal_transitions);
    tcase_add_loop_test(tc, test_transitions_persist, 0,
                        (int)(sizeof persist_cases / sizeof persist_cases[0]));
    tcase_add_test(tc, test_events_append_only);
    tcase_add_test(tc, test_progress_events_on_phase_change);
    tcase_add_test(tc, test_retry);
    tcase_add_test(tc, test_cancel);
    tcase_add_test(tc, test_recover);
    tcase_add_test(tc, test_recover_loop_breaker_across_restarts);
    tcase_add_test(tc, test_crash_fork);
    tcase_add_test(tc, test_transactions);
    tcase_add_test(tc, test_images);
    tcase_add_test(tc, test_batches);
    tcase_add_test(tc, test_sync_devices);
    tcase_add_test(tc, test_device_queue_order);
    tcase_add_test(tc, test_replace_older);
    tcase_add_test(tc, test_request_keys);
    tcase_add_test(tc, test_running_batch_by_targets);
    tcase_add_test(tc, test_migrate_from_v1);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    snprintf(g_root, sizeof g_root, "/tmp/fwup-store-XXXXXX");
    if (mkdtemp(g_root) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    SRunner *sr = srunner_create(store_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    nftw(g_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return failed == 0 ? 0 : 1;
}
