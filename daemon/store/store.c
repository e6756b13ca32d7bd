/*
 * SQLite job store. See store.h for the contract.
 *
 * Durability: WAL with synchronous=FULL fsyncs the log on every commit, so
 * once a transition function returns 0 the change survives kill -9 and power
 * loss. Every transition is a single guarded UPDATE (WHERE id=? AND state=?)
 * plus its event row inside one transaction; a zero change count means the
 * job was not in an accepting state, and the transaction is rolled back.
 *
 * Transactions nest: the outermost begin is BEGIN IMMEDIATE (so we never
 * have to upgrade a read lock and hit SQLITE_BUSY mid-transaction), inner
 * ones are savepoints. An inner rollback therefore undoes only its own part,
 * and a transition that fails inside a caller's batch leaves the batch's
 * earlier work intact for the caller to commit or roll back.
 */
#include "store.h"
#include "defaults.h"

#include <inttypes.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Used when the caller queues a job with max_attempts <= 0. */
#define BUSY_TIMEOUT_MS 5000

/* ---- schema ---------------------------------------------------------------- */

/*
 * Migrations, applied in order; migrations[i] takes the schema from user
 * version i to i + 1. Never edit a released entry: append a new one and bump
 * FWUP_STORE_SCHEMA_VERSION.
 */
static const char *const migrations[] = {
    /* 1: initial schema */
    "CREATE TABLE devices ("
    "  id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),"
    "  link TEXT NOT NULL DEFAULT '',"
    "  protocol TEXT NOT NULL DEFAULT '',"
    "  tags TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags)),"
    "  updated INTEGER NOT NULL"
    ");"
    "CREATE TABLE images ("
    "  sha256 TEXT PRIMARY KEY NOT NULL"
    "    CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),"
    "  size INTEGER NOT NULL CHECK (size >= 0),"
    "  path TEXT NOT NULL,"
    "  created INTEGER NOT NULL"
    ");"
    "CREATE TABLE batches ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  created INTEGER NOT NULL"
    ");"
    /* No foreign key to devices (jobs outlive their device's config entry)
     * nor to images (a job's history must outlive image clean-up). */
    "CREATE TABLE jobs ("
    "  id INTEGER PRIMARY KEY,"
    "  device TEXT NOT NULL CHECK (device <> ''),"
    "  image_sha256 TEXT NOT NULL"
    "    CHECK (length(image_sha256) = 64 AND image_sha256 NOT GLOB '*[^0-9a-f]*'),"
    "  format TEXT NOT NULL DEFAULT '',"
    "  base_address INTEGER NOT NULL DEFAULT 0,"
    "  batch_id INTEGER REFERENCES batches(id),"
    "  version TEXT NOT NULL DEFAULT '',"
    "  state TEXT NOT NULL"
    "    CHECK (state IN ('queued','running','succeeded','failed','cancelled')),"
    "  phase TEXT NOT NULL DEFAULT '',"
    "  bytes_done INTEGER NOT NULL DEFAULT 0,"
    "  bytes_total INTEGER NOT NULL DEFAULT 0,"
    "  attempt INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),"
    "  max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),"
    "  cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),"
    "  last_error TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  started_ms INTEGER NOT NULL DEFAULT 0,"
    "  finished_ms INTEGER NOT NULL DEFAULT 0,"
    "  not_before_ms INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX jobs_by_state ON jobs(state, id);"
    "CREATE INDEX jobs_by_device ON jobs(device, id);"
    "CREATE INDEX jobs_by_batch ON jobs(batch_id, state);"
    "CREATE TABLE job_events ("
    "  id INTEGER PRIMARY KEY,"
    "  job_id INTEGER NOT NULL REFERENCES jobs(id),"
    "  ts INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  state TEXT NOT NULL"
    "    CHECK (state IN ('queued','running','succeeded','failed','cancelled')),"
    "  phase TEXT NOT NULL DEFAULT '',"
    "  message TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE INDEX job_events_by_job ON job_events(job_id, id);"
    /* The audit trail is append-only, whoever writes to the file. */
    "CREATE TRIGGER job_events_no_update BEFORE UPDATE ON job_events"
    " BEGIN SELECT RAISE(ABORT, 'job_events is append-only'); END;"
    "CREATE TRIGGER job_events_no_delete BEFORE DELETE ON job_events"
    " BEGIN SELECT RAISE(ABORT, 'job_events is append-only'); END;",
    /* 2: idempotency keys, and what a batch targets (so a second apply of
     * the same manifest can see the first one still running) */
    "CREATE TABLE requests ("
    "  key TEXT PRIMARY KEY NOT NULL CHECK (length(key) BETWEEN 1 AND 128),"
    "  method TEXT NOT NULL,"
    "  fingerprint TEXT NOT NULL,"
    "  batch_id INTEGER REFERENCES batches(id),"
    "  job_id INTEGER REFERENCES jobs(id),"
    "  result TEXT NOT NULL CHECK (json_valid(result)),"
    "  created INTEGER NOT NULL"
    ");"
    "CREATE INDEX requests_by_created ON requests(created);"
    "ALTER TABLE batches ADD COLUMN targets TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX batches_by_targets ON batches(targets) WHERE targets <> '';",
};

_Static_assert(sizeof migrations / sizeof migrations[0] == FWUP_STORE_SCHEMA_VERSION,
               "one migration per schema version");

/* ---- prepared statements --------------------------------------------------- */

/* Jobs p queued before job ID of device DEV and not finished: that job runs
 * after them. Through the state index this visits only unfinished jobs, not
 * the device's whole history. */
#define EARLIER_PENDING(DEV, ID)                                                                   \
    "FROM jobs p INDEXED BY jobs_by_state WHERE p.state IN ('queued', 'running')"                  \
    " AND p.device = " DEV " AND p.id < " ID
#define WAITING_FOR                                                                                \
    "(SELECT max(p.id) " EARLIER_PENDING("j.device", "j.id") " AND j.state = 'queued')"
#define NONE_EARLIER_PENDING                                                                       \
    " AND NOT EXISTS (SELECT 1 " EARLIER_PENDING("jobs.device", "jobs.id") ")"
#define EARLIER_PENDING_THAN_ID EARLIER_PENDING("(SELECT device FROM jobs WHERE id = ?1)", "?1")

#define JOB_COLS                                                                                   \
    "j.id, j.device, j.image_sha256, j.format, j.base_address, j.batch_id, j.version, j.state, "   \
    "j.phase, j.bytes_done, j.bytes_total, j.attempt, j.max_attempts, j.cancel_requested, "        \
    "j.last_error, j.created_ms, j.updated_ms, j.started_ms, j.finished_ms, "                      \
    "j.not_before_ms, " WAITING_FOR

enum stmt_id {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_SAVEPOINT,
    S_RELEASE,
    S_ROLLBACK_TO,
    S_USER_VERSION,
    S_DEV_CLEAR,
    S_DEV_INSERT,
    S_IMG_PUT,
    S_IMG_GET,
    S_BATCH_INSERT,
    S_BATCH_GET,
    S_JOB_INSERT,
    S_JOB_GET,
    S_EVENT_INSERT,
    S_JOB_START,
    S_JOB_PROGRESS_SAME,
    S_JOB_PROGRESS_PHASE,
    S_JOB_FINISH,
    S_JOB_RETRY,
    S_JOB_INTERRUPT,
    S_JOB_CANCEL_REQUESTED,
    S_JOB_CANCEL_QUEUED,
    S_JOB_REQUEST_CANCEL,
    S_JOB_RUNNING,
    S_JOB_RECOVER_QUEUE,
    S_JOB_RECOVER_FAIL,
    S_JOB_EARLIER_PENDING,
    S_JOB_REPLACE_QUEUED,
    S_JOB_REPLACE_RUNNING,
    S_REQ_GET,
    S_REQ_EXPIRE,
    S_REQ_PUT,
    S_BATCH_SET_TARGETS,
    S_BATCH_RUNNING,
    S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SAVEPOINT] = "SAVEPOINT fwup_nested",
    [S_RELEASE] = "RELEASE fwup_nested",
    [S_ROLLBACK_TO] = "ROLLBACK TO fwup_nested",
    [S_USER_VERSION] = "PRAGMA user_version",
    [S_DEV_CLEAR] = "DELETE FROM devices",
    [S_DEV_INSERT] =
        "INSERT INTO devices(id, link, protocol, tags, updated) VALUES (?, ?, ?, ?, ?)",
    [S_IMG_PUT] = "INSERT INTO images(sha256, size, path, created) VALUES (?1, ?2, ?3, ?4)"
                  " ON CONFLICT(sha256) DO UPDATE SET size = excluded.size, path = excluded.path",
    [S_IMG_GET] = "SELECT sha256, size, path, created FROM images WHERE sha256 = ?",
    [S_BATCH_INSERT] = "INSERT INTO batches(name, created) VALUES (?, ?)",
    /* One statement, so the counts come from one snapshot. */
    [S_BATCH_GET] = "SELECT b.id, b.name, b.created, j.state, count(j.id) FROM batches b"
                    " LEFT JOIN jobs j ON j.batch_id = b.id WHERE b.id = ? GROUP BY j.state",
    [S_JOB_INSERT] =
        "INSERT INTO jobs(device, image_sha256, format, base_address, batch_id, "
        "version, state, bytes_total, max_attempts, created_ms, updated_ms, "
        "not_before_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?8, ?9, ?9, ?10)",
    [S_JOB_GET] = "SELECT " JOB_COLS " FROM jobs j WHERE j.id = ?",
    /* The event takes the job's state and phase after the change it records. */
    [S_EVENT_INSERT] = "INSERT INTO job_events(job_id, ts, kind, state, phase, message)"
                       " SELECT id, ?2, ?3, state, phase, ?4 FROM jobs WHERE id = ?1",
    [S_JOB_START] = "UPDATE jobs SET state = 'running', attempt = attempt + 1, started_ms = ?2,"
                    " updated_ms = ?2, finished_ms = 0, cancel_requested = 0, phase = '',"
                    " bytes_done = 0 WHERE id = ?1 AND state = 'queued'" NONE_EARLIER_PENDING
                    " RETURNING attempt, max_attempts",
    [S_JOB_PROGRESS_SAME] = "UPDATE jobs SET bytes_done = ?3, bytes_total = ?4, updated_ms = ?5"
                            " WHERE id = ?1 AND state = 'running' AND phase = ?2",
    [S_JOB_PROGRESS_PHASE] = "UPDATE jobs SET phase = ?2, bytes_done = ?3, bytes_total = ?4,"
                             " updated_ms = ?5 WHERE id = ?1 AND state = 'running'",
    [S_JOB_FINISH] = "UPDATE jobs SET state = ?2, last_error = ?3, finished_ms = ?4,"
                     " updated_ms = ?4 WHERE id = ?1 AND state = 'running'",
    [S_JOB_RETRY] = "UPDATE jobs SET state = 'queued', not_before_ms = ?2, last_error = ?3,"
                    " updated_ms = ?4 WHERE id = ?1 AND state = 'running' AND cancel_requested = 0",
    [S_JOB_INTERRUPT] = "UPDATE jobs SET state = 'queued', attempt = max(attempt - 1, 0),"
                        " updated_ms = ?2 WHERE id = ?1 AND state = 'running'"
                        " AND cancel_requested = 0",
    /* A running job the user asked to cancel never goes back to the queue. */
    [S_JOB_CANCEL_REQUESTED] = "UPDATE jobs SET state = 'cancelled', last_error = ?3,"
                               " finished_ms = ?2, updated_ms = ?2"
                               " WHERE id = ?1 AND state = 'running' AND cancel_requested = 1",
    /* Its own reason: a job waiting for a retry must not keep showing the
     * error of the attempt before as why it ended. */
    [S_JOB_CANCEL_QUEUED] = "UPDATE jobs SET state = 'cancelled',"
                            " last_error = 'cancelled on request', finished_ms = ?2,"
                            " updated_ms = ?2 WHERE id = ?1 AND state = 'queued'",
    [S_JOB_REQUEST_CANCEL] = "UPDATE jobs SET cancel_requested = 1, updated_ms = ?2"
                             " WHERE id = ?1 AND state = 'running' AND cancel_requested = 0",
    [S_JOB_RUNNING] = "SELECT id, attempt, max_attempts, cancel_requested FROM jobs"
                      " WHERE state = 'running' ORDER BY id",
    [S_JOB_RECOVER_QUEUE] = "UPDATE jobs SET state = 'queued', updated_ms = ?2"
                            " WHERE id = ?1 AND state = 'running'",
    [S_JOB_RECOVER_FAIL] = "UPDATE jobs SET state = 'failed', last_error = ?2, finished_ms = ?3,"
                           " updated_ms = ?3 WHERE id = ?1 AND state = 'running'",
    [S_JOB_EARLIER_PENDING] = "SELECT p.id " EARLIER_PENDING_THAN_ID " ORDER BY p.id",
    [S_JOB_REPLACE_QUEUED] =
        "UPDATE jobs SET state = 'cancelled', last_error = ?3,"
        " finished_ms = ?2, updated_ms = ?2 WHERE id = ?1 AND state = 'queued'",
    [S_JOB_REPLACE_RUNNING] =
        "UPDATE jobs SET cancel_requested = 1, last_error = ?3, updated_ms = ?2"
        " WHERE id = ?1 AND state = 'running' AND cancel_requested = 0",
    [S_REQ_GET] = "SELECT method, fingerprint, batch_id, job_id, result, created FROM requests"
                  " WHERE key = ?1 AND created >= ?2",
    [S_REQ_EXPIRE] = "DELETE FROM requests WHERE created < ?1",
    [S_REQ_PUT] =
        "INSERT INTO requests(key, method, fingerprint, batch_id, job_id, result, created)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_BATCH_SET_TARGETS] = "UPDATE batches SET targets = ?2 WHERE id = ?1",
    [S_BATCH_RUNNING] = "SELECT b.id FROM batches b INDEXED BY batches_by_targets"
                        " WHERE b.targets = ?1 AND b.targets <> '' AND EXISTS (SELECT 1 FROM jobs j"
                        " WHERE j.batch_id = b.id AND j.state IN ('queued', 'running'))"
                        " ORDER BY b.id DESC LIMIT 1",
};

/* list_jobs / list_events build their WHERE clause from the filter; each
 * combination is prepared once and cached by its bit mask. */
#define LJ_DEVICE 1
#define LJ_STATE  2
#define LJ_BATCH  4
#define LJ_OLDEST 8
#define LJ_COUNT  16
#define LE_JOB    1
#define LE_DEVICE 2
#define LE_COUNT  4

struct fwup_store {
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT];
    sqlite3_stmt *list_jobs[LJ_COUNT];
    sqlite3_stmt *list_events[LE_COUNT];
    int depth;   /* nesting level of open transactions */
    int errcode; /* SQLite's primary result code of the last error, 0: not SQLite's */
    char err[512];
};

static const char *const state_names[FWUP_JOB_STATE_COUNT] = {
    [FWUP_JOB_QUEUED] = "queued",       [FWUP_JOB_RUNNING] = "running",
    [FWUP_JOB_SUCCEEDED] = "succeeded", [FWUP_JOB_FAILED] = "failed",
    [FWUP_JOB_CANCELLED] = "cancelled",
};

const char *fwup_job_state_name(enum fwup_job_state s)
{
    if ((unsigned)s >= FWUP_JOB_STATE_COUNT)
        return "unknown";
    return state_names[s];
}

int fwup_job_state_from_name(const char *name)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < FWUP_JOB_STATE_COUNT; i++)
        if (strcmp(name, state_names[i]) == 0)
            return i;
    return -1;
}

/* ---- helpers --------------------------------------------------------------- */

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int
fail(struct fwup_store *st, const char *fmt, ...)
{
    va_list ap;
    st->errcode = 0;
    va_start(ap, fmt);
    vsnprintf(st->err, sizeof st->err, fmt, ap);
    va_end(ap);
    return -1;
}

static int db_fail(struct fwup_store *st, const char *what)
{
    int code = sqlite3_errcode(st->db);
    fail(st, "%s: %s", what, sqlite3_errmsg(st->db));
    st->errcode = code;
    return -1;
}

static sqlite3_stmt *prepare(struct fwup_store *st, const char *sql, unsigned flags)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v3(st->db, sql, -1, flags, &s, NULL) != SQLITE_OK) {
        db_fail(st, "prepare");
        return NULL;
    }
    return s;
}

static sqlite3_stmt *get_stmt(struct fwup_store *st, enum stmt_id id)
{
    if (st->stmt[id] == NULL)
        st->stmt[id] = prepare(st, stmt_sql[id], SQLITE_PREPARE_PERSISTENT);
    return st->stmt[id];
}

static void release(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Runs a statement that returns no rows; 0 or -1. */
static int run(struct fwup_store *st, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_DONE ? 0 : db_fail(st, what);
    release(s);
    return ret;
}

/* Binds a fixed-size struct field that may lack its terminator. */
static int bind_field(sqlite3_stmt *s, int idx, const char *v, size_t cap)
{
    if (v == NULL)
        v = "";
    return sqlite3_bind_text(s, idx, v, (int)strnlen(v, cap), SQLITE_TRANSIENT);
}

static int bind_str(sqlite3_stmt *s, int idx, const char *v)
{
    return sqlite3_bind_text(s, idx, v ? v : "", -1, SQLITE_TRANSIENT);
}

static void copy_col(char *dst, size_t cap, sqlite3_stmt *s, int col)
{
    const unsigned char *v = sqlite3_column_text(s, col);
    snprintf(dst, cap, "%s", v ? (const char *)v : "");
}

/* Most job statements start with (?1 job id, ?2 timestamp). */
static void bind_id_now(sqlite3_stmt *s, int64_t id, int64_t now)
{
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, now);
}

/* The statement cached in *slot, prepared from sql on first use. A list
 * callback may list again with the same filter shape; the cached statement
 * is mid-walk then, so that inner walk gets its own (*owned: finalize it). */
static sqlite3_stmt *cached_stmt(struct fwup_store *st, sqlite3_stmt **slot, const char *sql,
                                 int *owned)
{
    *owned = 0;
    if (*slot == NULL)
        return *slot = prepare(st, sql, SQLITE_PREPARE_PERSISTENT);
    if (!sqlite3_stmt_busy(*slot))
        return *slot;
    *owned = 1;
    return prepare(st, sql, 0);
}

/* Ends a walk over a cached_stmt() statement whose last step returned rc. */
static int end_walk(struct fwup_store *st, sqlite3_stmt *s, int owned, int rc, const char *what)
{
    int ret = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_fail(st, what);
    if (owned)
        sqlite3_finalize(s);
    else
        release(s);
    return ret;
}

/* ---- transactions ---------------------------------------------------------- */

static int tx_exec(struct fwup_store *st, enum stmt_id id)
{
    sqlite3_stmt *s = get_stmt(st, id);
    if (s == NULL)
        return -1;
    return run(st, s, stmt_sql[id]);
}

static int tx_begin(struct fwup_store *st)
{
    if (st->depth == 0) {
        if (tx_exec(st, S_BEGIN) != 0)
            return -1;
    } else {
        /* SQLite rolls the whole transaction back on some errors (disk full,
         * I/O); carrying on would autocommit statements one by one. */
        if (sqlite3_get_autocommit(st->db))
            return fail(st, "transaction was aborted by an earlier error");
        if (tx_exec(st, S_SAVEPOINT) != 0)
            return -1;
    }
    st->depth++;
    return 0;
}

static int tx_rollback(struct fwup_store *st)
{
    if (st->depth == 0)
        return fail(st, "rollback: no transaction is active");
    st->depth--;
    if (sqlite3_get_autocommit(st->db))
        return 0; /* already rolled back by SQLite */
    if (st->depth == 0)
        return tx_exec(st, S_ROLLBACK);
    if (tx_exec(st, S_ROLLBACK_TO) != 0)
        return -1;
    return tx_exec(st, S_RELEASE);
}

static int tx_commit(struct fwup_store *st)
{
    if (st->depth == 0)
        return fail(st, "commit: no transaction is active");
    if (sqlite3_get_autocommit(st->db)) {
        st->depth--;
        return fail(st, "commit: transaction was aborted by an earlier error");
    }
    if (tx_exec(st, st->depth == 1 ? S_COMMIT : S_RELEASE) != 0) {
        char keep[sizeof st->err];
        memcpy(keep, st->err, sizeof keep);
        tx_rollback(st);
        memcpy(st->err, keep, sizeof keep);
        return -1;
    }
    st->depth--;
    return 0;
}

/* Ends a transaction begun by a store function: commit on 0, else roll back
 * and pass the result (-1 or FWUP_STORE_NOT_FOUND) through. */
static int tx_end(struct fwup_store *st, int rc)
{
    if (rc == 0)
        return tx_commit(st);
    if (rc < 0) {
        char keep[sizeof st->err];
        memcpy(keep, st->err, sizeof keep);
        tx_rollback(st);
        memcpy(st->err, keep, sizeof keep);
    } else {
        tx_rollback(st);
    }
    return rc;
}

/* Statement id, inside a newly begun transaction; NULL on error. */
static sqlite3_stmt *tx_stmt(struct fwup_store *st, enum stmt_id id)
{
    sqlite3_stmt *s = get_stmt(st, id);
    if (s == NULL || tx_begin(st) != 0)
        return NULL;
    return s;
}

int fwup_store_begin(struct fwup_store *st)
{
    return tx_begin(st);
}

int fwup_store_commit(struct fwup_store *st)
{
    return tx_commit(st);
}

int fwup_store_rollback(struct fwup_store *st)
{
    return tx_rollback(st);
}

/* ---- open / close ---------------------------------------------------------- */

static int exec(struct fwup_store *st, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fail(st, "%s: %s", sql, msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int read_user_version(struct fwup_store *st, int *v)
{
    sqlite3_stmt *s = get_stmt(st, S_USER_VERSION);
    if (s == NULL)
        return -1;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *v = sqlite3_column_int(s, 0);
    release(s);
    return rc == SQLITE_ROW ? 0 : db_fail(st, "reading schema version");
}

static int migrate(struct fwup_store *st)
{
    for (;;) {
        int v;
        /* Version check and upgrade under one write lock, so two processes
         * opening a fresh file cannot both apply a migration. */
        if (tx_begin(st) != 0)
            return -1;
        if (read_user_version(st, &v) != 0)
            return tx_end(st, -1);
        if (v > FWUP_STORE_SCHEMA_VERSION) {
            fail(st,
                 "database schema version %d is newer than this fwupgw supports (%d); "
                 "refusing to open it (upgrade fwupgw or restore a matching backup)",
                 v, FWUP_STORE_SCHEMA_VERSION);
            return tx_end(st, -1);
        }
        if (v < 0) {
            fail(st, "database has invalid schema version %d", v);
            return tx_end(st, -1);
        }
        if (v == FWUP_STORE_SCHEMA_VERSION)
            return tx_end(st, 0);
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        if (exec(st, migrations[v]) != 0 || exec(st, pragma) != 0) {
            char msg[sizeof st->err];
            snprintf(msg, sizeof msg, "%s", st->err);
            fail(st, "migration to schema version %d failed: %s", v + 1, msg);
            return tx_end(st, -1);
        }
        if (tx_end(st, 0) != 0)
            return -1;
    }
}

static int configure(struct fwup_store *st)
{
    sqlite3_extended_result_codes(st->db, 1);
    if (sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS) != SQLITE_OK)
        return db_fail(st, "busy_timeout");

    /* journal_mode answers with the mode it ended up in; a filesystem that
     * cannot do WAL leaves the old mode, which we do not accept silently. */
    sqlite3_stmt *s = prepare(st, "PRAGMA journal_mode = WAL", 0);
    if (s == NULL)
        return -1;
    int rc = sqlite3_step(s);
    int wal =
        rc == SQLITE_ROW && sqlite3_stricmp((const char *)sqlite3_column_text(s, 0), "wal") == 0;
    if (rc != SQLITE_ROW)
        db_fail(st, "journal_mode");
    else if (!wal)
        fail(st, "journal_mode: cannot enable WAL (got %s)", sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    if (!wal)
        return -1;

    return exec(st, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;");
}

int fwup_store_open(const char *path, struct fwup_store **out, char *err, size_t errlen)
{
    *out = NULL;
    struct fwup_store *st = calloc(1, sizeof *st);
    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        fwup_store_close(st);
        return -1;
    }
    if (configure(st) != 0 || migrate(st) != 0) {
        snprintf(err, errlen, "%s: %s", path, st->err);
        fwup_store_close(st);
        return -1;
    }
    *out = st;
    return 0;
}

void fwup_store_close(struct fwup_store *st)
{
    if (st == NULL)
        return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    for (int i = 0; i < LJ_COUNT; i++)
        sqlite3_finalize(st->list_jobs[i]);
    for (int i = 0; i < LE_COUNT; i++)
        sqlite3_finalize(st->list_events[i]);
    /* Closing inside an explicit transaction rolls it back, like a crash. */
    sqlite3_close(st->db);
    free(st);
}

const char *fwup_store_errmsg(struct fwup_store *st)
{
    return st->err;
}

int fwup_store_err_transient(struct fwup_store *st)
{
    switch (st->errcode & 0xff) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_NOMEM:
        return 1;
    default:
        return 0;
    }
}

int fwup_store_schema_version(struct fwup_store *st)
{
    int v;
    return read_user_version(st, &v) == 0 ? v : -1;
}

/* ---- devices, images, batches ---------------------------------------------- */

/* Accepts NULL (no tags) or a JSON array of strings, stored compact. */
static char *normalize_tags(struct fwup_store *st, const char *id, const char *tags)
{
    if (tags == NULL || *tags == '\0')
        return strdup("[]");
    json_error_t jerr;
    json_t *j = json_loads(tags, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) {
        fail(st, "device %s: tags are not JSON: %s", id, jerr.text);
        return NULL;
    }
    char *out = NULL;
    int ok = json_is_array(j);
    for (size_t i = 0; ok && i < json_array_size(j); i++)
        ok = json_is_string(json_array_get(j, i));
    if (ok)
        out = json_dumps(j, JSON_COMPACT);
    else
        fail(st, "device %s: tags must be a JSON array of strings", id);
    json_decref(j);
    return out;
}

int fwup_store_sync_devices(struct fwup_store *st, const struct fwup_device_row *devs, size_t n,
                            int64_t now)
{
    sqlite3_stmt *clr = get_stmt(st, S_DEV_CLEAR);
    sqlite3_stmt *ins = get_stmt(st, S_DEV_INSERT);
    if (clr == NULL || ins == NULL)
        return -1;
    if (tx_begin(st) != 0)
        return -1;
    int rc = run(st, clr, "clearing devices");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (devs[i].id == NULL) {
            rc = fail(st, "device %zu has no id", i);
            break;
        }
        char *tags = normalize_tags(st, devs[i].id, devs[i].tags_json);
        if (tags == NULL) {
            rc = -1;
            break;
        }
        bind_str(ins, 1, devs[i].id);
        bind_str(ins, 2, devs[i].link);
        bind_str(ins, 3, devs[i].protocol);
        bind_str(ins, 4, tags);
        sqlite3_bind_int64(ins, 5, now);
        free(tags);
        rc = run(st, ins, "inserting device");
    }
    return tx_end(st, rc);
}

int fwup_store_put_image(struct fwup_store *st, const struct fwup_image_row *img)
{
    sqlite3_stmt *s = get_stmt(st, S_IMG_PUT);
    if (s == NULL)
        return -1;
    bind_field(s, 1, img->sha256, sizeof img->sha256);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)img->size);
    bind_field(s, 3, img->path, sizeof img->path);
    sqlite3_bind_int64(s, 4, img->created_ms);
    return run(st, s, "storing image");
}

int fwup_store_get_image(struct fwup_store *st, const char *sha256, struct fwup_image_row *out)
{
    sqlite3_stmt *s = get_stmt(st, S_IMG_GET);
    if (s == NULL)
        return -1;
    bind_str(s, 1, sha256);
    int rc = sqlite3_step(s), ret = 0;
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        copy_col(out->sha256, sizeof out->sha256, s, 0);
        out->size = (uint64_t)sqlite3_column_int64(s, 1);
        copy_col(out->path, sizeof out->path, s, 2);
        out->created_ms = sqlite3_column_int64(s, 3);
    } else {
        ret = rc == SQLITE_DONE ? FWUP_STORE_NOT_FOUND : db_fail(st, "reading image");
    }
    release(s);
    return ret;
}

int fwup_store_create_batch(struct fwup_store *st, const char *name, int64_t now, int64_t *id)
{
    sqlite3_stmt *s = get_stmt(st, S_BATCH_INSERT);
    if (s == NULL)
        return -1;
    bind_str(s, 1, name);
    sqlite3_bind_int64(s, 2, now);
    if (run(st, s, "creating batch") != 0)
        return -1;
    *id = sqlite3_last_insert_rowid(st->db);
    return 0;
}

int fwup_store_get_batch(struct fwup_store *st, int64_t id, struct fwup_batch *out)
{
    sqlite3_stmt *s = get_stmt(st, S_BATCH_GET);
    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, id);
    int rc, ret = FWUP_STORE_NOT_FOUND;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (ret != 0) {
            memset(out, 0, sizeof *out);
            out->id = sqlite3_column_int64(s, 0);
            copy_col(out->name, sizeof out->name, s, 1);
            out->created_ms = sqlite3_column_int64(s, 2);
            ret = 0;
        }
        /* A batch without jobs yields one row with a NULL state. */
        int k = fwup_job_state_from_name((const char *)sqlite3_column_text(s, 3));
        if (k >= 0)
            out->counts[k] = sqlite3_column_int(s, 4);
    }
    if (rc != SQLITE_DONE)
        ret = db_fail(st, "reading batch");
    release(s);
    return ret;
}

int fwup_store_set_batch_targets(struct fwup_store *st, int64_t id, const char *targets)
{
    sqlite3_stmt *s = get_stmt(st, S_BATCH_SET_TARGETS);
    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, id);
    bind_str(s, 2, targets);
    int rc = run(st, s, "recording batch targets");
    return rc == 0 && sqlite3_changes(st->db) == 0 ? FWUP_STORE_NOT_FOUND : rc;
}

int fwup_store_find_running_batch(struct fwup_store *st, const char *targets, int64_t *id)
{
    sqlite3_stmt *s = get_stmt(st, S_BATCH_RUNNING);
    if (s == NULL)
        return -1;
    bind_str(s, 1, targets);
    int rc = sqlite3_step(s), ret = 0;
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(s, 0);
    else
        ret = rc == SQLITE_DONE ? FWUP_STORE_NOT_FOUND : db_fail(st, "finding a running batch");
    release(s);
    return ret;
}

/* ---- idempotency keys ------------------------------------------------------ */

int fwup_store_find_request(struct fwup_store *st, const char *key, int64_t not_before,
                            struct fwup_request_row *out)
{
    sqlite3_stmt *s = get_stmt(st, S_REQ_GET);
    if (s == NULL)
        return -1;
    bind_str(s, 1, key);
    sqlite3_bind_int64(s, 2, not_before);
    int rc = sqlite3_step(s), ret = 0;
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        copy_col(out->method, sizeof out->method, s, 0);
        copy_col(out->fingerprint, sizeof out->fingerprint, s, 1);
        out->batch_id = sqlite3_column_int64(s, 2);
        out->job_id = sqlite3_column_int64(s, 3);
        const unsigned char *r = sqlite3_column_text(s, 4);
        out->result = strdup(r ? (const char *)r : "{}");
        out->created_ms = sqlite3_column_int64(s, 5);
        if (out->result == NULL)
            ret = fail(st, "reading request: out of memory");
    } else {
        ret = rc == SQLITE_DONE ? FWUP_STORE_NOT_FOUND : db_fail(st, "reading request");
    }
    release(s);
    return ret;
}

int fwup_store_put_request(struct fwup_store *st, const char *key,
                           const struct fwup_request_row *req, int64_t now, int64_t not_before)
{
    if (tx_begin(st) != 0)
        return -1;
    sqlite3_stmt *x = get_stmt(st, S_REQ_EXPIRE), *s = get_stmt(st, S_REQ_PUT);
    if (x == NULL || s == NULL)
        return tx_end(st, -1);
    sqlite3_bind_int64(x, 1, not_before);
    if (run(st, x, "expiring requests") != 0)
        return tx_end(st, -1);
    bind_str(s, 1, key);
    bind_field(s, 2, req->method, sizeof req->method);
    bind_field(s, 3, req->fingerprint, sizeof req->fingerprint);
    if (req->batch_id > 0)
        sqlite3_bind_int64(s, 4, req->batch_id);
    else
        sqlite3_bind_null(s, 4);
    if (req->job_id > 0)
        sqlite3_bind_int64(s, 5, req->job_id);
    else
        sqlite3_bind_null(s, 5);
    bind_str(s, 6, req->result ? req->result : "{}");
    sqlite3_bind_int64(s, 7, now);
    return tx_end(st, run(st, s, "recording request"));
}

/* ---- jobs ------------------------------------------------------------------ */

static void read_job(sqlite3_stmt *s, struct fwup_job *j)
{
    memset(j, 0, sizeof *j);
    j->id = sqlite3_column_int64(s, 0);
    copy_col(j->device, sizeof j->device, s, 1);
    copy_col(j->image_sha256, sizeof j->image_sha256, s, 2);
    copy_col(j->format, sizeof j->format, s, 3);
    j->base_address = (uint32_t)sqlite3_column_int64(s, 4);
    j->batch_id = sqlite3_column_int64(s, 5);
    copy_col(j->version, sizeof j->version, s, 6);
    int state = fwup_job_state_from_name((const char *)sqlite3_column_text(s, 7));
    j->state = state < 0 ? FWUP_JOB_FAILED : (enum fwup_job_state)state;
    copy_col(j->phase, sizeof j->phase, s, 8);
    j->bytes_done = (uint64_t)sqlite3_column_int64(s, 9);
    j->bytes_total = (uint64_t)sqlite3_column_int64(s, 10);
    j->attempt = sqlite3_column_int(s, 11);
    j->max_attempts = sqlite3_column_int(s, 12);
    j->cancel_requested = sqlite3_column_int(s, 13);
    copy_col(j->last_error, sizeof j->last_error, s, 14);
    j->created_ms = sqlite3_column_int64(s, 15);
    j->updated_ms = sqlite3_column_int64(s, 16);
    j->started_ms = sqlite3_column_int64(s, 17);
    j->finished_ms = sqlite3_column_int64(s, 18);
    j->not_before_ms = sqlite3_column_int64(s, 19);
    j->waiting_for = sqlite3_column_int64(s, 20); /* NULL: 0 */
}

/* Appends an event for job id carrying the job's current state and phase.
 * Must run after the UPDATE it records, inside the same transaction. */
static int add_event(struct fwup_store *st, int64_t id, const char *kind, const char *msg,
                     int64_t now)
{
    sqlite3_stmt *s = get_stmt(st, S_EVENT_INSERT);
    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, now);
    bind_str(s, 3, kind);
    bind_str(s, 4, msg);
    if (run(st, s, "recording job event") != 0)
        return -1;
    return sqlite3_changes(st->db) == 1 ? 0 : FWUP_STORE_NOT_FOUND;
}

int fwup_store_add_event(struct fwup_store *st, int64_t job_id, const char *kind,
                         const char *message, int64_t now)
{
    if (kind == NULL || *kind == '\0')
        return fail(st, "event kind is empty");
    return add_event(st, job_id, kind, message, now);
}

/* Runs a guarded UPDATE; 0 if it changed the row, FWUP_STORE_NOT_FOUND if
 * the row is missing or in another state, -1 on error. */
static int guarded(struct fwup_store *st, sqlite3_stmt *s, const char *what)
{
    if (run(st, s, what) != 0)
        return -1;
    return sqlite3_changes(st->db) > 0 ? 0 : FWUP_STORE_NOT_FOUND;
}

/* A guarded UPDATE of job id and, if it changed the row, its event. */
static int transition(struct fwup_store *st, sqlite3_stmt *s, const char *what, int64_t id,
                      const char *kind, const char *msg, int64_t now)
{
    int rc = guarded(st, s, what);
    if (rc == 0)
        rc = add_event(st, id, kind, msg, now);
    return rc;
}

/* Job id into *out: 0, FWUP_STORE_NOT_FOUND, or -1 ("WHAT: sqlite error"). */
static int load_job(struct fwup_store *st, int64_t id, struct fwup_job *out, const char *what)
{
    sqlite3_stmt *s = get_stmt(st, S_JOB_GET);
    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s), ret = 0;
    if (rc == SQLITE_ROW)
        read_job(s, out);
    else
        ret = rc == SQLITE_DONE ? FWUP_STORE_NOT_FOUND : db_fail(st, what);
    release(s);
    return ret;
}

int fwup_store_queue_job(struct fwup_store *st, struct fwup_job *job, int64_t now)
{
    sqlite3_stmt *s = tx_stmt(st, S_JOB_INSERT);
    if (s == NULL)
        return -1;
    bind_field(s, 1, job->device, sizeof job->device);
    bind_field(s, 2, job->image_sha256, sizeof job->image_sha256);
    bind_field(s, 3, job->format, sizeof job->format);
    sqlite3_bind_int64(s, 4, job->base_address);
    if (job->batch_id > 0)
        sqlite3_bind_int64(s, 5, job->batch_id);
    else
        sqlite3_bind_null(s, 5);
    bind_field(s, 6, job->version, sizeof job->version);
    sqlite3_bind_int64(s, 7, (sqlite3_int64)job->bytes_total);
    sqlite3_bind_int(s, 8, job->max_attempts > 0 ? job->max_attempts : FWUP_DEFAULT_MAX_ATTEMPTS);
    sqlite3_bind_int64(s, 9, now);
    sqlite3_bind_int64(s, 10, job->not_before_ms);
    int rc = run(st, s, "queueing job");
    int64_t id = sqlite3_last_insert_rowid(st->db);
    if (rc == 0)
        rc = add_event(st, id, "queued", "", now);
    if (rc == 0 && (rc = load_job(st, id, job, "reading queued job")) == FWUP_STORE_NOT_FOUND)
        rc = db_fail(st, "reading queued job");
    return tx_end(st, rc < 0 ? -1 : rc);
}

int fwup_store_get_job(struct fwup_store *st, int64_t id, struct fwup_job *out)
{
    return load_job(st, id, out, "reading job");
}

static sqlite3_stmt *list_jobs_stmt(struct fwup_store *st, unsigned mask, int *owned)
{
    char sql[1024]; /* JOB_COLS and the filter */
    snprintf(
        sql, sizeof sql, "SELECT " JOB_COLS " FROM jobs j WHERE 1%s%s%s ORDER BY j.id %s LIMIT ?4",
        mask & LJ_DEVICE ? " AND j.device = ?1" : "", mask & LJ_STATE ? " AND j.state = ?2" : "",
        mask & LJ_BATCH ? " AND j.batch_id = ?3" : "", mask & LJ_OLDEST ? "ASC" : "DESC");
    return cached_stmt(st, &st->list_jobs[mask], sql, owned);
}

int fwup_store_list_jobs(struct fwup_store *st, const struct fwup_job_filter *f,
                         int (*cb)(void *ctx, const struct fwup_job *job), void *ctx)
{
    struct fwup_job_filter any = {.state = -1};
    if (f == NULL)
        f = &any;
    if (f->state >= FWUP_JOB_STATE_COUNT)
        return fail(st, "list_jobs: bad state %d", f->state);
    unsigned mask = (f->device ? LJ_DEVICE : 0) | (f->state >= 0 ? LJ_STATE : 0) |
                    (f->batch_id ? LJ_BATCH : 0) | (f->oldest_first ? LJ_OLDEST : 0);
    int owned;
    sqlite3_stmt *s = list_jobs_stmt(st, mask, &owned);
    if (s == NULL)
        return -1;
    if (f->device)
        bind_str(s, 1, f->device);
    if (f->state >= 0)
        bind_str(s, 2, fwup_job_state_name((enum fwup_job_state)f->state));
    if (f->batch_id)
        sqlite3_bind_int64(s, 3, f->batch_id);
    sqlite3_bind_int(s, 4, f->limit > 0 ? f->limit : -1);

    int rc;
    struct fwup_job job;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        read_job(s, &job);
        if (cb(ctx, &job) != 0)
            break;
    }
    return end_walk(st, s, owned, rc, "listing jobs");
}

int fwup_store_job_start(struct fwup_store *st, int64_t id, int64_t now)
{
    sqlite3_stmt *s = tx_stmt(st, S_JOB_START);
    if (s == NULL)
        return -1;
    bind_id_now(s, id, now);
    int rc = sqlite3_step(s), ret;
    int attempt = 0, max = 0;
    if (rc == SQLITE_ROW) {
        attempt = sqlite3_column_int(s, 0);
        max = sqlite3_column_int(s, 1);
        rc = sqlite3_step(s); /* finish the RETURNING statement */
    }
    if (rc != SQLITE_DONE)
        ret = db_fail(st, "starting job");
    else
        ret = attempt > 0 ? 0 : FWUP_STORE_NOT_FOUND;
    release(s);
    if (ret == 0) {
        char msg[64];
        snprintf(msg, sizeof msg, "attempt %d of %d", attempt, max);
        ret = add_event(st, id, "started", msg, now);
    }
    return tx_end(st, ret);
}

/* Both progress statements take (id, phase, done, total, now). */
static void bind_progress(sqlite3_stmt *s, int64_t id, const char *phase, uint64_t done,
                          uint64_t total, int64_t now)
{
    sqlite3_bind_int64(s, 1, id);
    bind_str(s, 2, phase);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)done);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)total);
    sqlite3_bind_int64(s, 5, now);
}

int fwup_store_job_progress(struct fwup_store *st, int64_t id, const char *phase, uint64_t done,
                            uint64_t total, int64_t now)
{
    if (phase == NULL)
        phase = "";
    /* Fast path, the common case: same phase, one UPDATE, no event. A byte
     * count is not a state change: outside an explicit transaction it is
     * committed with synchronous=NORMAL (survives a crash of the daemon, may
     * lose the last counts to a power cut) so a running job does not cost
     * the loop an fsync every commit. */
    sqlite3_stmt *s = get_stmt(st, S_JOB_PROGRESS_SAME);
    if (s == NULL)
        return -1;
    int relaxed = st->depth == 0 && exec(st, "PRAGMA synchronous = NORMAL") == 0;
    bind_progress(s, id, phase, done, total, now);
    int rc = guarded(st, s, "updating progress");
    if (relaxed && exec(st, "PRAGMA synchronous = FULL") != 0)
        rc = -1;
    if (rc != FWUP_STORE_NOT_FOUND)
        return rc;

    /* New phase (or not running at all): change and event together. */
    if ((s = tx_stmt(st, S_JOB_PROGRESS_PHASE)) == NULL)
        return -1;
    bind_progress(s, id, phase, done, total, now);
    return tx_end(st, transition(st, s, "updating phase", id, "phase", "", now));
}

/* A running job with cancel_requested set ends as cancelled whatever way its
 * run ends; retry/interrupt/recover use this instead of requeueing it. */
static int finish_cancel_requested(struct fwup_store *st, int64_t id, const char *why, int64_t now)
{
    sqlite3_stmt *s = get_stmt(st, S_JOB_CANCEL_REQUESTED);
    if (s == NULL)
        return -1;
    bind_id_now(s, id, now);
    bind_str(s, 3, why);
    return transition(st, s, "cancelling job", id, "cancelled", why, now);
}

int fwup_store_job_finish(struct fwup_store *st, int64_t id, enum fwup_job_state state,
                          const char *error, int64_t now)
{
    if (state != FWUP_JOB_SUCCEEDED && state != FWUP_JOB_FAILED && state != FWUP_JOB_CANCELLED)
        return fail(st, "job_finish: %s is not a final state", fwup_job_state_name(state));
    sqlite3_stmt *s = tx_stmt(st, S_JOB_FINISH);
    if (s == NULL)
        return -1;
    const char *name = fwup_job_state_name(state);
    sqlite3_bind_int64(s, 1, id);
    bind_str(s, 2, name);
    bind_str(s, 3, error);
    sqlite3_bind_int64(s, 4, now);
    return tx_end(st, transition(st, s, "finishing job", id, name, error, now));
}

int fwup_store_job_retry(struct fwup_store *st, int64_t id, int64_t not_before, const char *error,
                         int64_t now)
{
    sqlite3_stmt *s = tx_stmt(st, S_JOB_RETRY);
    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, not_before);
    bind_str(s, 3, error);
    sqlite3_bind_int64(s, 4, now);
    int rc = guarded(st, s, "requeueing job");
    if (rc == 0)
        rc = add_event(st, id, "retry", error, now);
    else if (rc == FWUP_STORE_NOT_FOUND)
        rc = finish_cancel_requested(st, id, "cancelled on request", now);
    return tx_end(st, rc);
}

int fwup_store_job_interrupt(struct fwup_store *st, int64_t id, int64_t now)
{
    sqlite3_stmt *s = tx_stmt(st, S_JOB_INTERRUPT);
    if (s == NULL)
        return -1;
    bind_id_now(s, id, now);
    int rc = guarded(st, s, "interrupting job");
    if (rc == 0)
        rc = add_event(st, id, "interrupted", "daemon shutting down; run not counted", now);
    else if (rc == FWUP_STORE_NOT_FOUND)
        rc = finish_cancel_requested(st, id, "cancelled on request", now);
    return tx_end(st, rc);
}

int fwup_store_job_cancel(struct fwup_store *st, int64_t id, int64_t now, int *was_running)
{
    sqlite3_stmt *q = get_stmt(st, S_JOB_CANCEL_QUEUED);
    sqlite3_stmt *r = get_stmt(st, S_JOB_REQUEST_CANCEL);
    if (q == NULL || r == NULL)
        return -1;
    int running = 0;
    if (tx_begin(st) != 0)
        return -1;
    bind_id_now(q, id, now);
    int rc = guarded(st, q, "cancelling job");
    if (rc == 0) {
        rc = add_event(st, id, "cancelled", "", now);
    } else if (rc == FWUP_STORE_NOT_FOUND) {
        running = 1;
        bind_id_now(r, id, now);
        rc = guarded(st, r, "requesting cancel");
        if (rc == 0) {
            rc = add_event(st, id, "cancel-requested", "", now);
        } else if (rc == FWUP_STORE_NOT_FOUND) {
            /* Asking twice is not an error, but records nothing new. */
            struct fwup_job j;
            int got = load_job(st, id, &j, "reading job");
            if (got < 0)
                rc = -1;
            else if (got == 0 && j.state == FWUP_JOB_RUNNING && j.cancel_requested)
                rc = 0;
        }
    }
    rc = tx_end(st, rc);
    if (rc == 0 && was_running)
        *was_running = running;
    return rc;
}

int fwup_store_replace_older(struct fwup_store *st, int64_t new_id, int64_t now,
                             int (*cb)(void *ctx, const struct fwup_job *job), void *ctx)
{
    sqlite3_stmt *sel = get_stmt(st, S_JOB_EARLIER_PENDING);
    sqlite3_stmt *q = get_stmt(st, S_JOB_REPLACE_QUEUED);
    sqlite3_stmt *r = get_stmt(st, S_JOB_REPLACE_RUNNING);
    if (sel == NULL || q == NULL || r == NULL || tx_begin(st) != 0)
        return -1;
    char why[64];
    snprintf(why, sizeof why, "replaced by job %" PRId64, new_id);

    /* Collect first, then change (the walk's own index is being updated). */
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    int rc = 0, step;
    sqlite3_bind_int64(sel, 1, new_id);
    while ((step = sqlite3_step(sel)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            int64_t *nids = realloc(ids, ncap * sizeof *nids);
            if (nids == NULL) {
                rc = fail(st, "out of memory");
                break;
            }
            ids = nids;
            cap = ncap;
        }
        ids[n++] = sqlite3_column_int64(sel, 0);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_fail(st, "listing replaced jobs");
    release(sel);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        bind_id_now(q, ids[i], now);
        bind_str(q, 3, why);
        rc = transition(st, q, "cancelling replaced job", ids[i], "cancelled", why, now);
        if (rc == FWUP_STORE_NOT_FOUND) { /* running: its run is stopped by the caller */
            bind_id_now(r, ids[i], now);
            bind_str(r, 3, why);
            rc = transition(st, r, "requesting cancel", ids[i], "cancel-requested", why, now);
            if (rc == FWUP_STORE_NOT_FOUND) {
                rc = 0; /* already being cancelled: not ours to report */
                continue;
            }
        }
        struct fwup_job j;
        if (rc == 0 && cb && (rc = load_job(st, ids[i], &j, "reading replaced job")) == 0 &&
            cb(ctx, &j) != 0)
            rc = fail(st, "replacing jobs: out of memory");
    }
    free(ids);
    return tx_end(st, rc);
}

struct running_job {
    int64_t id;
    int attempt, max_attempts, cancel_requested;
};

int fwup_store_recover(struct fwup_store *st, int64_t now, int *requeued, int *failed)
{
    int nq = 0, nf = 0;
    sqlite3_stmt *sel = get_stmt(st, S_JOB_RUNNING);
    sqlite3_stmt *q = get_stmt(st, S_JOB_RECOVER_QUEUE);
    sqlite3_stmt *f = get_stmt(st, S_JOB_RECOVER_FAIL);
    if (sel == NULL || q == NULL || f == NULL)
        return -1;
    if (tx_begin(st) != 0)
        return -1;

    /* Collect first: updating rows under a live SELECT on their own index
     * is allowed but makes the walk order hard to reason about. */
    struct running_job *jobs = NULL;
    size_t n = 0, cap = 0;
    int rc = 0, step;
    while ((step = sqlite3_step(sel)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct running_job *nj = realloc(jobs, ncap * sizeof *nj);
            if (nj == NULL) {
                rc = fail(st, "out of memory");
                break;
            }
            jobs = nj;
            cap = ncap;
        }
        jobs[n].id = sqlite3_column_int64(sel, 0);
        jobs[n].attempt = sqlite3_column_int(sel, 1);
        jobs[n].max_attempts = sqlite3_column_int(sel, 2);
        jobs[n].cancel_requested = sqlite3_column_int(sel, 3);
        n++;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_fail(st, "listing running jobs");
    release(sel);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct running_job *j = &jobs[i];
        char msg[256];
        if (j->cancel_requested) {
            snprintf(msg, sizeof msg,
                     "cancelled: daemon stopped during attempt %d of %d after cancel was requested",
                     j->attempt, j->max_attempts);
            rc = finish_cancel_requested(st, j->id, msg, now);
            continue;
        }
        if (j->attempt < j->max_attempts) {
            snprintf(msg, sizeof msg, "daemon stopped during attempt %d of %d; requeued",
                     j->attempt, j->max_attempts);
            bind_id_now(q, j->id, now);
            rc = transition(st, q, "requeueing job", j->id, "recovered", msg, now);
            nq++;
        } else {
            snprintf(msg, sizeof msg,
                     "daemon stopped during attempt %d of %d (restart loop breaker)", j->attempt,
                     j->max_attempts);
            sqlite3_bind_int64(f, 1, j->id);
            bind_str(f, 2, msg);
            sqlite3_bind_int64(f, 3, now);
            rc = transition(st, f, "failing job", j->id, "failed", msg, now);
            nf++;
        }
    }
    free(jobs);
    /* Rows come from our own SELECT in this transaction: a miss is a bug. */
    if (rc == FWUP_STORE_NOT_FOUND)
        rc = fail(st, "recover: running job vanished");
    rc = tx_end(st, rc);
    if (rc == 0) {
        if (requeued)
            *requeued = nq;
        if (failed)
            *failed = nf;
    }
    return rc;
}

/* ---- events ---------------------------------------------------------------- */

static sqlite3_stmt *list_events_stmt(struct fwup_store *st, unsigned mask, int *owned)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT e.id, e.job_id, j.device, e.ts, e.kind, e.state, e.phase, e.message"
             " FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE 1%s%s"
             " ORDER BY e.id DESC LIMIT ?3",
             mask & LE_JOB ? " AND e.job_id = ?1" : "",
             mask & LE_DEVICE ? " AND j.device = ?2" : "");
    return cached_stmt(st, &st->list_events[mask], sql, owned);
}

int fwup_store_list_events(struct fwup_store *st, int64_t job_id, const char *device, int limit,
                           int (*cb)(void *ctx, const struct fwup_job_event *ev), void *ctx)
{
    unsigned mask = (job_id ? LE_JOB : 0) | (device ? LE_DEVICE : 0);
    int owned;
    sqlite3_stmt *s = list_events_stmt(st, mask, &owned);
    if (s == NULL)
        return -1;
    if (job_id)
        sqlite3_bind_int64(s, 1, job_id);
    if (device)
        bind_str(s, 2, device);
    sqlite3_bind_int(s, 3, limit > 0 ? limit : -1);

    int rc;
    struct fwup_job_event ev;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        memset(&ev, 0, sizeof ev);
        ev.id = sqlite3_column_int64(s, 0);
        ev.job_id = sqlite3_column_int64(s, 1);
        copy_col(ev.device, sizeof ev.device, s, 2);
        ev.ts_ms = sqlite3_column_int64(s, 3);
        copy_col(ev.kind, sizeof ev.kind, s, 4);
        int state = fwup_job_state_from_name((const char *)sqlite3_column_text(s, 5));
        ev.state = state < 0 ? FWUP_JOB_FAILED : (enum fwup_job_state)state;
        copy_col(ev.phase, sizeof ev.phase, s, 6);
        copy_col(ev.message, sizeof ev.message, s, 7);
        if (cb(ctx, &ev) != 0)
            break;
    }
    return end_walk(st, s, owned, rc, "listing events");
}
