/*
 * The SQLite store: the daemon's source of truth. Every job state change is
 * committed here before the daemon acts on it, so a killed daemon restarts
 * from exactly what the store says.
 *
 * All functions return 0 on success, FWUP_STORE_NOT_FOUND when the row does
 * not exist or is not in a state the transition accepts, and -1 on a
 * database error (the message is available from fwup_store_errmsg()).
 * Times are milliseconds since the Unix epoch, supplied by the caller so that
 * tests control the clock.
 */
#ifndef FWUPGW_STORE_H
#define FWUPGW_STORE_H

#include <stddef.h>
#include <stdint.h>

#define FWUP_STORE_NOT_FOUND      1
#define FWUP_STORE_SCHEMA_VERSION 2

struct fwup_store;

enum fwup_job_state {
    FWUP_JOB_QUEUED = 0,
    FWUP_JOB_RUNNING,
    FWUP_JOB_SUCCEEDED,
    FWUP_JOB_FAILED,
    FWUP_JOB_CANCELLED,
};
#define FWUP_JOB_STATE_COUNT 5

const char *fwup_job_state_name(enum fwup_job_state s); /* "queued", ... */
int fwup_job_state_from_name(const char *name);         /* -1 if unknown */

struct fwup_job {
    int64_t id;
    char device[128];
    char image_sha256[65]; /* lowercase hex */
    char format[16];       /* image format name, see image.h */
    uint32_t base_address; /* for raw binaries */
    int64_t batch_id;      /* 0: none */
    char version[64];      /* the version the image carries, may be empty */
    enum fwup_job_state state;
    char phase[32]; /* last phase the engine reported, "" before start */
    uint64_t bytes_done, bytes_total;
    int attempt;      /* runs started so far */
    int max_attempts; /* loop breaker: fail after this many runs */
    int cancel_requested;
    char last_error[512];
    int64_t created_ms, updated_ms, started_ms, finished_ms; /* 0: not yet */
    int64_t not_before_ms; /* retry back-off: not runnable before this */
    int64_t waiting_for;   /* queued behind this earlier job of the device, 0: not */
};

struct fwup_job_filter {
    const char *device; /* NULL: any */
    int state;          /* -1: any, else enum fwup_job_state */
    int64_t batch_id;   /* 0: any */
    int limit;          /* 0: no limit; newest first unless oldest_first */
    int oldest_first;
};

struct fwup_job_event {
    int64_t id, job_id;
    char device[128];
    int64_t ts_ms;
    char kind[32];             /* "queued", "started", "phase", "retry", "succeeded", "failed",
                                  "cancel-requested", "cancelled", "interrupted", "recovered" */
    enum fwup_job_state state; /* the job's state after the event */
    char phase[32];
    char message[512];
};

struct fwup_image_row {
    char sha256[65];
    uint64_t size;
    char path[512]; /* where the daemon stored the bytes */
    int64_t created_ms;
};

struct fwup_batch {
    int64_t id;
    char name[128];
    int64_t created_ms;
    int counts[FWUP_JOB_STATE_COUNT]; /* jobs of this batch per state */
};

struct fwup_device_row {
    const char *id, *link, *protocol;
    const char *tags_json; /* JSON array of strings */
};

int fwup_store_open(const char *path, struct fwup_store **out, char *err, size_t errlen);
void fwup_store_close(struct fwup_store *st);
const char *fwup_store_errmsg(struct fwup_store *st);
/* Whether the last error may pass (disk full, I/O error, locked, out of
 * memory): the same call may succeed later. */
int fwup_store_err_transient(struct fwup_store *st);
int fwup_store_schema_version(struct fwup_store *st);

/* Explicit transaction around several calls (all-or-nothing batches). The
 * calls below open their own transaction only when none is active. */
int fwup_store_begin(struct fwup_store *st);
int fwup_store_commit(struct fwup_store *st);
int fwup_store_rollback(struct fwup_store *st);

/* Replace the device table with the configured devices (jobs keep their
 * device id even when the device leaves the config), updated at now. */
int fwup_store_sync_devices(struct fwup_store *st, const struct fwup_device_row *devs, size_t n,
                            int64_t now);

int fwup_store_put_image(struct fwup_store *st, const struct fwup_image_row *img);
int fwup_store_get_image(struct fwup_store *st, const char *sha256, struct fwup_image_row *out);

int fwup_store_create_batch(struct fwup_store *st, const char *name, int64_t now, int64_t *id);
int fwup_store_get_batch(struct fwup_store *st, int64_t id, struct fwup_batch *out);

/* A batch's targets, as a fingerprint of its name and its (device, image)
 * pairs chosen by the caller; "" (the default) is never matched. */
int fwup_store_set_batch_targets(struct fwup_store *st, int64_t id, const char *targets);
/* The newest batch with these targets that still has a job queued or
 * running: 0 and *id, or FWUP_STORE_NOT_FOUND. */
int fwup_store_find_running_batch(struct fwup_store *st, const char *targets, int64_t *id);

/* Idempotency keys: a request's client-chosen key, recorded with what it
 * did in the transaction that did it. */
#define FWUP_STORE_KEY_MAX 128
struct fwup_request_row {
    char method[32];
    char fingerprint[65];     /* of the request's parameters, chosen by the caller */
    int64_t batch_id, job_id; /* 0: none */
    char *result;             /* the reply's result as JSON text; free() it */
    int64_t created_ms;
};
/* The request recorded under key at or after not_before (older keys have
 * expired): 0 and *out, or FWUP_STORE_NOT_FOUND. */
int fwup_store_find_request(struct fwup_store *st, const char *key, int64_t not_before,
                            struct fwup_request_row *out);
/* Records key (result is JSON text); keys recorded before not_before are
 * forgotten first. A key still recorded fails (-1): look it up first. */
int fwup_store_put_request(struct fwup_store *st, const char *key,
                           const struct fwup_request_row *req, int64_t now, int64_t not_before);

/* Insert a queued job (id, state, attempt, timestamps are filled in) and its
 * "queued" event. */
int fwup_store_queue_job(struct fwup_store *st, struct fwup_job *job, int64_t now);
int fwup_store_get_job(struct fwup_store *st, int64_t id, struct fwup_job *out);
/* Calls cb for each matching job; a non-zero return from cb stops the walk. */
int fwup_store_list_jobs(struct fwup_store *st, const struct fwup_job_filter *f,
                         int (*cb)(void *ctx, const struct fwup_job *job), void *ctx);

/* queued -> running, attempt + 1, started_ms = now, cancel_requested = 0.
 * Jobs of one device run in queue (id) order: FWUP_STORE_NOT_FOUND while an
 * earlier job of the same device is queued (back-off included) or running. */
int fwup_store_job_start(struct fwup_store *st, int64_t id, int64_t now);
/* Update progress of a running job; an event is recorded only when the
 * phase changes. */
int fwup_store_job_progress(struct fwup_store *st, int64_t id, const char *phase, uint64_t done,
                            uint64_t total, int64_t now);
/* running -> succeeded | failed | cancelled (finished_ms = now). */
int fwup_store_job_finish(struct fwup_store *st, int64_t id, enum fwup_job_state state,
                          const char *error, int64_t now);
/* running -> queued after a transient failure; runnable again at not_before. */
int fwup_store_job_retry(struct fwup_store *st, int64_t id, int64_t not_before, const char *error,
                         int64_t now);
/* running -> queued because the daemon is shutting down: this run does not
 * count against max_attempts (attempt - 1). */
int fwup_store_job_interrupt(struct fwup_store *st, int64_t id, int64_t now);
/* queued -> cancelled at once (*was_running = 0); running -> cancel_requested
 * = 1 (*was_running = 1); other states: FWUP_STORE_NOT_FOUND. */
int fwup_store_job_cancel(struct fwup_store *st, int64_t id, int64_t now, int *was_running);

/* Cancels every job queued before new_id for the same device that is still
 * queued or running, with the reason "replaced by job NEW_ID": queued ones at
 * once, running ones by cancel_requested with the reason in last_error (the
 * caller stops their runs). cb (may be NULL) sees each such job after the
 * change; a non-zero return fails the call. Call it in the transaction that
 * queued new_id, so that both or neither are committed. */
int fwup_store_replace_older(struct fwup_store *st, int64_t new_id, int64_t now,
                             int (*cb)(void *ctx, const struct fwup_job *job), void *ctx);

/* Start-up recovery: every job left running by a dead daemon goes back to
 * queued (its interrupted run counted), or to failed when it has used
 * max_attempts runs. Counts are returned for the log. */
int fwup_store_recover(struct fwup_store *st, int64_t now, int *requeued, int *failed);

int fwup_store_add_event(struct fwup_store *st, int64_t job_id, const char *kind,
                         const char *message, int64_t now);
/* Newest first. job_id 0 / device NULL: any. */
int fwup_store_list_events(struct fwup_store *st, int64_t job_id, const char *device, int limit,
                           int (*cb)(void *ctx, const struct fwup_job_event *ev), void *ctx);

#endif
