#include "scheduler.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blobstore.h"
#include "claims.h"
#include "image.h"
#include "link.h"
#include "log.h"
#include "outcomes.h"

struct active {
    struct active *next;
    struct fwup_sched *s;
    struct fwup_job job; /* live copy: phase and bytes ahead of the store */
    struct fwupd_config *conf;
    const struct fwup_cfg_device *dev;
    struct fwup_parsed_image img;
    struct fwup_link_req req; /* what the run's link must provide */
    struct fwup_run *run;
    int interrupt;          /* daemon shutdown: back to queued, run not counted */
    char cancel_reason[96]; /* why the run was cancelled, if not the user's cancel */
    uint64_t last_commit_ms, last_event_ms;
    uint64_t rate_ms;
    uint64_t rate_bytes;
    double rate;     /* bytes/s, smoothed */
    int transferred; /* the device acknowledged the last byte */

    /* The outcome, kept until the store has it (pending list). */
    enum fwup_job_state to; /* QUEUED: retry or interrupt */
    int interrupted;
    int64_t outcome_ms, not_before;
    char why[700];
};

/* A queued job that could have run at the last scan but for its resource. */
struct wait {
    int64_t job;
    char why[200];
};

struct fwup_sched {
    struct fwupd *d;
    fwup_sched_notify_fn notify;
    void *ctx;
    const struct fwup_run_ops *ops;
    struct fwup_claims *claims; /* what running jobs hold, by job id */
    struct wait *waits;
    size_t nwaits, capwaits;
    struct wait *prev; /* the scan before: subscribers hear of changes */
    size_t nprev, capprev;
    uv_timer_t wake; /* deferred scan, and the next back-off expiry */
    struct active *active;
    size_t nactive;
    void (*shutdown_done)(void *ctx);
    void *shutdown_ctx;
    int closing;

    /* Outcomes the store could not take yet (disk full), retried with
     * back-off until it does; their jobs still hold their devices. */
    struct active *pending;
    uv_timer_t pending_timer;
    uint32_t pending_backoff_ms;
    char degraded[300]; /* "" while the store takes every write */
    int open_timers;
};

/* Retrying an outcome the store refused: from this, doubling, to the max. */
#define PENDING_RETRY_MIN_MS 200
#define PENDING_RETRY_MAX_MS 5000

/* How often a running job's byte count is written to the store: often
 * enough for a useful restart picture, rarely enough to spare the flash. */
#define PROGRESS_COMMIT_MS 1000
#define PROGRESS_EVENT_MS  100

static void emit(struct fwup_sched *s, const struct fwup_job *job, const char *type, double rate)
{
    if (s->notify)
        s->notify(s->ctx, job, type, rate);
}

/* Re-read a job after a committed transition and tell subscribers. */
static void emit_stored(struct fwup_sched *s, int64_t id)
{
    struct fwup_job job;
    if (fwup_store_get_job(s->d->store, id, &job) == 0)
        emit(s, &job, "state", 0);
}

static void store_error(struct fwup_sched *s, const char *what, int64_t id)
{
    log_err("job %" PRId64 ": %s: %s", id, what, fwup_store_errmsg(s->d->store));
}

/* The daemon is degraded while the store refuses writes, or outcomes wait
 * for it: said in status replies and to systemd. */
static void set_degraded(struct fwup_sched *s, const char *why)
{
    char now[sizeof(s->degraded)];
    snprintf(now, sizeof(now), "%s", why ? why : "");
    if (strcmp(now, s->degraded) == 0)
        return;
    memcpy(s->degraded, now, sizeof(now));
    if (now[0])
        log_err("degraded: %s", now);
    else
        log_notice("the state database takes writes again");
    fwupd_notify_status(s->d);
}

void fwup_sched_store_wrote(struct fwup_sched *s, int rc)
{
    char why[300];
    if (rc < 0) {
        /* The store's message is "what: why"; the why is what counts. */
        const char *m = fwup_store_errmsg(s->d->store), *c = strrchr(m, ':');
        snprintf(why, sizeof(why), "cannot write the state database: %s", c ? c + 2 : m);
        set_degraded(s, why);
    } else if (!s->pending) {
        set_degraded(s, NULL);
    }
}

static void unlink_active(struct fwup_sched *s, struct active *a)
{
    for (struct active **p = &s->active; *p; p = &(*p)->next)
        if (*p == a) {
            *p = a->next;
            s->nactive--;
            return;
        }
}

static void free_active(struct active *a)
{
    a->s->ops->free(a->run);
    fwup_image_free(&a->img);
    fwupd_config_unref(a->conf);
    free(a);
}

static uint32_t backoff_ms(const struct fwup_config *cfg, int attempt)
{
    uint64_t ms = cfg->backoff_initial_ms;
    for (int i = 1; i < attempt && ms < cfg->backoff_max_ms; i++)
        ms *= 2;
    return (uint32_t)(ms > cfg->backoff_max_ms ? cfg->backoff_max_ms : ms);
}

static void maybe_shutdown_done(struct fwup_sched *s)
{
    if (s->shutdown_done && s->nactive == 0) {
        void (*done)(void *) = s->shutdown_done;
        s->shutdown_done = NULL;
        done(s->shutdown_ctx);
    }
}

/* Turn a run's outcome into the job's next state (a->to, a->why). */
static void decide(struct active *a, enum fwup_result res, const char *msg)
{
    const struct fwup_job *j = &a->job;
    a->outcome_ms = fwupd_now_ms(a->s->d);
    snprintf(a->why, sizeof(a->why), "%s", msg ? msg : "");
    /* Only a run the shutdown actually stopped is interrupted; one that
     * finished in the same loop iteration keeps its outcome. */
    if (a->interrupt && res == FWUP_RESULT_CANCELLED) {
        a->to = FWUP_JOB_QUEUED;
        a->interrupted = 1;
        log_notice("job %" PRId64 " (%s): interrupted by shutdown, stays queued", j->id, j->device);
    } else if (res == FWUP_RESULT_OK) {
        a->to = FWUP_JOB_SUCCEEDED;
        a->why[0] = 0;
        log_notice("job %" PRId64 " (%s): succeeded, %" PRIu64 " bytes", j->id, j->device,
                   j->bytes_total);
    } else if (res == FWUP_RESULT_CANCELLED || (a->cancel_reason[0] && res != FWUP_RESULT_OK)) {
        /* A run that failed while being stopped for a reason ends cancelled
         * too, with that reason rather than the failure's. */
        a->to = FWUP_JOB_CANCELLED;
        if (a->cancel_reason[0])
            snprintf(a->why, sizeof(a->why), "%s", a->cancel_reason);
        log_notice("job %" PRId64 " (%s): cancelled", j->id, j->device);
    } else if (res == FWUP_RESULT_TRANSIENT && j->attempt < j->max_attempts) {
        uint32_t wait = backoff_ms(a->conf->cfg, j->attempt);
        a->to = FWUP_JOB_QUEUED;
        a->not_before = a->outcome_ms + wait;
        log_warn("job %" PRId64 " (%s): attempt %d of %d failed: %s; retrying in %u ms", j->id,
                 j->device, j->attempt, j->max_attempts, msg, wait);
    } else {
        a->to = FWUP_JOB_FAILED;
        if (res == FWUP_RESULT_TRANSIENT)
            snprintf(a->why, sizeof(a->why), "%s (gave up after %d attempts)", msg, j->attempt);
        log_err("job %" PRId64 " (%s): failed: %s", j->id, j->device, a->why);
    }
}

/* Record a->to in the store: 0, or -1 when the store refused. */
static int commit_outcome(struct fwup_sched *s, struct active *a)
{
    struct fwup_store *st = s->d->store;
    const struct fwup_job *j = &a->job;
    int64_t now = a->outcome_ms;
    int rc;

    if (a->interrupted)
        rc = fwup_store_job_interrupt(st, j->id, now);
    else if (a->to == FWUP_JOB_QUEUED)
        rc = fwup_store_job_retry(st, j->id, a->not_before, a->why, now);
    else
        rc = fwup_store_job_finish(st, j->id, a->to, a->why[0] ? a->why : NULL, now);
    fwup_sched_store_wrote(s, rc < 0 ? -1 : 0);
    if (rc < 0)
        return -1;
    /* FWUP_STORE_NOT_FOUND: the job left "running" meanwhile (cancelled
     * through the API): nothing more to record. */
    if (fwup_outcomes_clear(s->d->outcomes, j->id) < 0)
        log_warn("job %" PRId64 ": clearing its outcome record: %s", j->id, strerror(errno));
    if (a->to == FWUP_JOB_QUEUED)
        fwup_sched_kick(s); /* rescan, which arms the wake-up for the back-off */
    emit_stored(s, j->id);
    return 0;
}

static void retry_pending(uv_timer_t *t);

/* The run is over and its outcome decided: record it, or keep it (and its
 * device) until the store takes it. Returns 1 if a is now pending. */
static int settle(struct fwup_sched *s, struct active *a, enum fwup_result res, const char *msg)
{
    struct fwup_store *st = s->d->store;
    const struct fwup_job *j = &a->job;

    /* The run is over, exit sequence included: its port or bus is free. */
    fwup_claims_release(s->claims, (uint64_t)j->id);
    /* Commit the final byte count; progress commits are throttled. */
    if (a->run) {
        int rc = fwup_store_job_progress(st, j->id, j->phase, j->bytes_done, j->bytes_total,
                                         fwupd_now_ms(s->d));
        if (rc < 0)
            store_error(s, "recording progress", j->id);
        fwup_sched_store_wrote(s, rc < 0 ? -1 : 0);
    }
    decide(a, res, msg);
    if (commit_outcome(s, a) == 0)
        return 0;
    store_error(s, "recording the outcome (kept, retried until the store takes it)", j->id);
    /* Should the daemon die before then, the restart must not run a
     * succeeded job again: that much goes where no free space is needed. */
    if (a->to == FWUP_JOB_SUCCEEDED &&
        fwup_outcomes_set(s->d->outcomes, j->id, j->attempt, FWUP_OUTCOME_SUCCEEDED) < 0)
        log_err("job %" PRId64 ": recording its success outside the store: %s", j->id,
                strerror(errno));
    s->ops->free(a->run);
    a->run = NULL;
    fwup_image_free(&a->img);
    snprintf(a->job.phase, sizeof(a->job.phase), "outcome pending commit");
    a->next = s->pending;
    s->pending = a;
    if (!uv_is_active((uv_handle_t *)&s->pending_timer)) {
        s->pending_backoff_ms = PENDING_RETRY_MIN_MS;
        uv_timer_start(&s->pending_timer, retry_pending, s->pending_backoff_ms, 0);
    }
    emit(s, &a->job, "state", 0);
    return 1;
}

static void retry_pending(uv_timer_t *t)
{
    struct fwup_sched *s = t->data;
    for (struct active **p = &s->pending; *p;) {
        struct active *a = *p;
        if (commit_outcome(s, a) != 0)
            break; /* the store still refuses: try again later, in order */
        log_notice("job %" PRId64 " (%s): outcome recorded", a->job.id, a->job.device);
        *p = a->next;
        free_active(a);
    }
    if (s->pending) {
        s->pending_backoff_ms = s->pending_backoff_ms * 2 > PENDING_RETRY_MAX_MS
                                    ? PENDING_RETRY_MAX_MS
                                    : s->pending_backoff_ms * 2;
        uv_timer_start(&s->pending_timer, retry_pending, s->pending_backoff_ms, 0);
    } else {
        fwup_sched_store_wrote(s, 0);
        maybe_shutdown_done(s);
        fwup_sched_kick(s);
    }
}

static void run_done(void *ctx, enum fwup_result res, const char *msg)
{
    struct active *a = ctx;
    struct fwup_sched *s = a->s;
    unlink_active(s, a);
    if (!settle(s, a, res, msg))
        free_active(a);
    fwupd_notify_status(s->d);
    maybe_shutdown_done(s);
    fwup_sched_kick(s);
}

static void run_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    struct active *a = ctx;
    struct fwup_sched *s = a->s;
    uint64_t now = fwupd_mono_ms(s->d);
    int phase_changed = strncmp(a->job.phase, phase, sizeof(a->job.phase)) != 0;

    /* Rate over windows of at least half a second, smoothed. */
    if (done < a->rate_bytes || phase_changed) {
        a->rate_ms = now;
        a->rate_bytes = done;
    } else if (now - a->rate_ms >= 500) {
        double r = (double)(done - a->rate_bytes) * 1000.0 / (double)(now - a->rate_ms);
        a->rate = a->rate > 0 ? 0.5 * a->rate + 0.5 * r : r;
        a->rate_ms = now;
        a->rate_bytes = done;
    }
    snprintf(a->job.phase, sizeof(a->job.phase), "%s", phase);
    a->job.bytes_done = done;
    a->job.bytes_total = total;
    /* The device has every byte: from here a restart must not flash it
     * again blindly (see outcomes.h). Erasing reports no bytes sent. */
    if (!a->transferred && total && done >= total && strcmp(phase, "erase") != 0) {
        a->transferred = 1;
        if (fwup_outcomes_set(s->d->outcomes, a->job.id, a->job.attempt, FWUP_OUTCOME_TRANSFERRED) <
            0)
            log_err("job %" PRId64 ": recording the completed transfer: %s", a->job.id,
                    strerror(errno));
    }
    if (phase_changed || now - a->last_commit_ms >= PROGRESS_COMMIT_MS) {
        a->last_commit_ms = now;
        int rc =
            fwup_store_job_progress(s->d->store, a->job.id, phase, done, total, fwupd_now_ms(s->d));
        if (rc < 0)
            store_error(s, "recording progress", a->job.id);
        fwup_sched_store_wrote(s, rc < 0 ? -1 : 0);
    }
    if (phase_changed) {
        a->last_event_ms = now;
        emit(s, &a->job, "state", a->rate);
    } else if (now - a->last_event_ms >= PROGRESS_EVENT_MS) {
        a->last_event_ms = now;
        emit(s, &a->job, "progress", a->rate);
    }
}

/* A job that cannot run (image gone, unreadable or unparsable, device or
 * protocol removed from the config) ends its attempt without a device round
 * trip: for good, or retried if what stopped it may pass. */
static void fail_started(struct fwup_sched *s, struct active *a, enum fwup_result res,
                         const char *msg)
{
    if (!settle(s, a, res, msg))
        free_active(a);
}

/* Read, verify and parse the job's stored image into a->img. A shortage
 * (descriptors, memory, I/O) is transient and named as it is; so is a
 * damaged copy, which queuing the image again replaces. */
static enum fwup_result load_image(struct fwup_sched *s, struct active *a, char *err, size_t errlen)
{
    const struct fwup_job *j = &a->job;
    struct fwup_image_row row;
    uint8_t *bytes = NULL;
    size_t len = 0;
    char why[400], sha[65];

    int rc = fwup_store_get_image(s->d->store, j->image_sha256, &row);
    if (rc == FWUP_STORE_NOT_FOUND) {
        snprintf(err, errlen, "image %.12s is not in the store", j->image_sha256);
        return FWUP_RESULT_PERMANENT;
    }
    if (rc != 0) {
        snprintf(err, errlen, "reading the record of image %.12s: %s", j->image_sha256,
                 fwup_store_errmsg(s->d->store));
        return FWUP_RESULT_TRANSIENT;
    }
    if (fwup_read_file(row.path, FWUP_IMAGE_MAX_FILE, &bytes, &len, why, sizeof(why)) < 0) {
        int e = errno;
        if (e == ENOENT) {
            snprintf(err, errlen, "image %.12s is missing from the state directory (%s)",
                     j->image_sha256, why);
            return FWUP_RESULT_PERMANENT;
        }
        snprintf(err, errlen, "cannot read stored image %.12s: %s", j->image_sha256, why);
        return fwup_errno_transient(e) ? FWUP_RESULT_TRANSIENT : FWUP_RESULT_PERMANENT;
    }
    fwup_sha256_hex(bytes, len, sha);
    enum fwup_result res = FWUP_RESULT_OK;
    int fmt = fwup_image_format_from_name(j->format);
    if (strcmp(sha, j->image_sha256) != 0) {
        snprintf(err, errlen,
                 "stored image %.12s is corrupt (SHA-256 now %.12s); queuing the image again "
                 "replaces it",
                 j->image_sha256, sha);
        res = FWUP_RESULT_TRANSIENT;
    } else if (fwup_image_parse(bytes, len, fmt < 0 ? FWUP_IMAGE_AUTO : (enum fwup_image_format)fmt,
                                j->base_address, &a->img, err, errlen) < 0)
        res = FWUP_RESULT_PERMANENT;
    /* The flash may have been re-declared by a reload since queuing. */
    else if (fwup_image_check_range(&a->img.view, a->dev->flash_base, a->dev->flash_size, err,
                                    errlen) < 0)
        res = FWUP_RESULT_PERMANENT;
    free(bytes);
    return res;
}

/* The resource a job's run holds (claims.h). */
struct resource {
    struct fwup_claim_req req;
    char key[PATH_MAX];
    struct fwup_can_filter ids[FWUP_LINK_REQ_MAX_FILTERS];
};

/* One exact CAN id: 11 bits, or 29 with its FWUP_CAN_EFF flag. */
static struct fwup_can_filter can_id(uint32_t id)
{
    uint32_t bits = id & FWUP_CAN_EFF ? FWUP_CAN_EFF_MASK : FWUP_CAN_SFF_MASK;
    return (struct fwup_can_filter){id, FWUP_CAN_EFF | bits};
}

/* What the link gives the claim: a port's key, or a bus and its cap. */
static void link_resource(const struct fwup_cfg_link *l, struct resource *r)
{
    memset(&r->req, 0, sizeof(r->req));
    r->req.key = r->key;
    switch (l->type) {
    case FWUP_LINK_CAN:
        r->req.kind = FWUP_CLAIM_BUS;
        r->req.bus_cap = l->can.max_jobs;
        snprintf(r->key, sizeof(r->key), "%s", l->can.interface);
        break;
    case FWUP_LINK_USB:
        /* The port path stays when the device re-enumerates (DFU detach);
         * without one, the match rule is what names the device. */
        r->req.kind = FWUP_CLAIM_PORT;
        if (l->usb.port)
            snprintf(r->key, sizeof(r->key), "usb:%s", l->usb.port);
        else
            snprintf(r->key, sizeof(r->key), "usb:%04x:%04x/%04x:%04x/%s", l->usb.app.vid,
                     l->usb.app.pid, l->usb.dfu.vid, l->usb.dfu.pid,
                     l->usb.serial ? l->usb.serial : "");
        break;
    default:
        /* Resolved as the config compares ports: a by-id symlink is the
         * node it points at. */
        r->req.kind = FWUP_CLAIM_PORT;
        if (!realpath(l->path, r->key))
            snprintf(r->key, sizeof(r->key), "%s", l->path);
    }
}

/* The ids a job uses on its bus: ISO-TP its rx id; raw CAN the protocol's
 * filters, else the device's configured ids; none: the whole bus. */
static void bus_ids(struct resource *r, enum fwup_link_kind kind, const struct fwup_cfg_device *dev,
                    const struct fwup_link_req *lr)
{
    size_t n = 0;
    if (kind == FWUP_LINK_ISOTP) {
        r->ids[n++] = can_id(dev->can.rx_id);
    } else if (lr->nfilters) {
        n = lr->nfilters < FWUP_LINK_REQ_MAX_FILTERS ? lr->nfilters : FWUP_LINK_REQ_MAX_FILTERS;
        memcpy(r->ids, lr->filters, n * sizeof(r->ids[0]));
    } else if (dev->can.set) {
        r->ids[n++] = can_id(dev->can.tx_id);
        r->ids[n++] = can_id(dev->can.rx_id);
    }
    r->req.filters = r->ids;
    r->req.nfilters = n;
    r->req.exclusive = lr->exclusive_bus != 0;
}

static void note_wait(struct fwup_sched *s, int64_t job, const char *why)
{
    if (s->nwaits == s->capwaits) {
        size_t cap = s->capwaits ? s->capwaits * 2 : 16;
        struct wait *nv = realloc(s->waits, cap * sizeof(*nv));
        if (!nv)
            return; /* only the explanation is lost */
        s->waits = nv, s->capwaits = cap;
    }
    s->waits[s->nwaits].job = job;
    snprintf(s->waits[s->nwaits].why, sizeof(s->waits[0].why), "%s", why);
    s->nwaits++;
}

static const char *find_wait(const struct wait *w, size_t n, int64_t job)
{
    for (size_t i = 0; i < n; i++)
        if (w[i].job == job)
            return w[i].why;
    return NULL;
}

/* Tells subscribers of a job still queued whose reason to wait changed. */
static void emit_queued(struct fwup_sched *s, int64_t id)
{
    struct fwup_job job;
    if (fwup_store_get_job(s->d->store, id, &job) == 0 && job.state == FWUP_JOB_QUEUED)
        emit(s, &job, "state", 0);
}

/* A queued job's reason to wait is part of what subscribers see of it:
 * they hear of each new or changed reason, and of one gone while the job
 * stays queued (not of one that the same reason kept waiting). */
static void tell_waits(struct fwup_sched *s)
{
    for (size_t i = 0; i < s->nwaits; i++) {
        const char *was = find_wait(s->prev, s->nprev, s->waits[i].job);
        if (!was || strcmp(was, s->waits[i].why) != 0)
            emit_queued(s, s->waits[i].job);
    }
    for (size_t i = 0; i < s->nprev; i++)
        if (!find_wait(s->waits, s->nwaits, s->prev[i].job))
            emit_queued(s, s->prev[i].job);
}

/* Claims the job's resource: 0, or 1 when it must wait (a is freed). A bus
 * is first only checked open (probe), since the ids a job uses there need
 * its image and the protocol. */
static int claim(struct fwup_sched *s, struct active *a, const struct resource *r, int probe)
{
    char why[200];
    int rc = probe && r->req.kind == FWUP_CLAIM_BUS
                 ? fwup_claims_bus_closed(s->claims, r->key, r->req.bus_cap, why, sizeof(why))
                 : fwup_claims_take(s->claims, &r->req, (uint64_t)a->job.id, why, sizeof(why));
    if (rc == 0)
        return 0;
    if (rc < 0)
        log_err("job %" PRId64 " (%s): claiming %s: %s", a->job.id, a->dev->id, r->key, why);
    note_wait(s, a->job.id, why);
    free_active(a);
    return 1;
}

/* Commit "running" (attempt + 1) before touching the device: if we die
 * from here on, the restart sees the attempt and the loop breaker works. */
static int commit_start(struct fwup_sched *s, struct active *a)
{
    struct fwupd *d = s->d;
    int64_t id = a->job.id;
    int rc = fwup_store_job_start(d->store, id, fwupd_now_ms(d));
    if (rc != 0) {
        store_error(s, "starting", id);
        fwup_sched_store_wrote(s, rc < 0 ? -1 : 0);
        return -1;
    }
    if (fwup_store_get_job(d->store, id, &a->job) != 0) {
        a->job.state = FWUP_JOB_RUNNING;
        a->job.attempt++;
    }
    emit(s, &a->job, "state", 0);
    log_info("job %" PRId64 " (%s): attempt %d of %d starting", id, a->dev->id, a->job.attempt,
             a->job.max_attempts);
    return 0;
}

/* Starts a queued job whose device is free, once its resource is claimed;
 * else it stays queued and the reason is noted. */
static void start_job(struct fwup_sched *s, const struct fwup_job *queued,
                      const struct fwup_cfg_device *dev)
{
    struct fwupd *d = s->d;
    const struct fwup_protocol *proto = fwup_plugins_find(d->plugins, dev->protocol);
    const struct fwup_cfg_link *link = fwup_config_find_link(d->conf->cfg, dev->link);
    enum fwup_result res = FWUP_RESULT_OK;
    enum fwup_link_kind kind = FWUP_LINK_NONE;
    struct resource r;
    char err[512];

    struct active *a = calloc(1, sizeof(*a));
    if (!a) {
        log_err("job %" PRId64 " (%s): out of memory, left queued", queued->id, dev->id);
        return;
    }
    a->s = s;
    a->conf = fwupd_config_ref(d->conf);
    a->dev = dev;
    a->job = *queued;

    /* What stops the job for good still counts as an attempt (below). */
    if (!proto) {
        snprintf(err, sizeof(err), "protocol '%s' is not loaded", dev->protocol);
        res = FWUP_RESULT_PERMANENT;
    } else if ((kind = fwup_link_kind_for(link, dev, proto->transports, err, sizeof(err))) ==
               FWUP_LINK_NONE) {
        res = FWUP_RESULT_PERMANENT;
    } else {
        link_resource(link, &r);
        if (claim(s, a, &r, 1))
            return;
        res = load_image(s, a, err, sizeof(err));
        if (res == FWUP_RESULT_OK &&
            fwup_run_link_req(proto, dev, &a->img.view, &a->req, err, sizeof(err)) < 0)
            res = FWUP_RESULT_PERMANENT;
        if (res == FWUP_RESULT_OK && r.req.kind == FWUP_CLAIM_BUS) {
            bus_ids(&r, kind, dev, &a->req);
            if (claim(s, a, &r, 0))
                return;
        }
    }
    if (commit_start(s, a) < 0) {
        fwup_claims_release(s->claims, (uint64_t)a->job.id);
        free_active(a);
        return;
    }
    if (res != FWUP_RESULT_OK) {
        fail_started(s, a, res, err);
        return;
    }
    a->job.bytes_total = a->img.view.total;

    struct fwup_run_params p = {
        .loop = d->loop,
        .proto = proto,
        .link = link,
        .dev = dev,
        .image = &a->img.view,
        .link_req = &a->req,
        .stall_timeout_ms = a->conf->cfg->stall_timeout_ms,
        .cancel_grace_ms = a->conf->cfg->cancel_grace_ms,
        .phase_timeouts = a->conf->cfg->phase_timeouts,
        .nphase_timeouts = a->conf->cfg->nphase_timeouts,
        .on_progress = run_progress,
        .on_done = run_done,
        .ctx = a,
    };
    int rc = s->ops->start(&p, &a->run, err, sizeof(err));
    if (rc < 0) {
        /* Port missing or busy: worth retrying later; settings the port
         * refuses need a config change first. */
        if (!settle(s, a, rc == FWUP_RUN_EPERM ? FWUP_RESULT_PERMANENT : FWUP_RESULT_TRANSIENT,
                    err))
            free_active(a);
        return;
    }
    a->next = s->active;
    s->active = a;
    s->nactive++;
    a->last_commit_ms = a->last_event_ms = a->rate_ms = fwupd_mono_ms(d);
}

struct candidates {
    struct fwup_job *v;
    size_t n, cap;
};

static int collect(void *ctx, const struct fwup_job *job)
{
    struct candidates *c = ctx;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        struct fwup_job *nv = realloc(c->v, cap * sizeof(*nv));
        if (!nv)
            return 1;
        c->v = nv;
        c->cap = cap;
    }
    c->v[c->n++] = *job;
    return 0;
}

static void scan(uv_timer_t *t)
{
    struct fwup_sched *s = t->data;
    struct fwupd *d = s->d;
    const struct fwup_config *cfg = d->conf->cfg;
    struct fwup_job_filter f = {.device = NULL, .state = FWUP_JOB_QUEUED, .oldest_first = 1};
    struct candidates c = {0};
    int64_t now = fwupd_now_ms(s->d), next_wake = 0;

    if (s->closing || d->stopping)
        return;
    struct wait *w = s->prev;
    size_t cap = s->capprev;
    s->prev = s->waits, s->nprev = s->nwaits, s->capprev = s->capwaits;
    s->waits = w, s->nwaits = 0, s->capwaits = cap;
    if (fwup_store_list_jobs(d->store, &f, collect, &c) != 0) {
        log_err("listing queued jobs: %s", fwup_store_errmsg(d->store));
        free(c.v);
        return;
    }
    for (size_t i = 0; i < c.n && s->nactive < cfg->max_concurrent_jobs; i++) {
        const struct fwup_job *j = &c.v[i];
        /* Queue order per device: an earlier job, even one in back-off, goes
         * first; its end kicks the scan again. */
        if (j->waiting_for)
            continue;
        if (j->not_before_ms > now) {
            if (!next_wake || j->not_before_ms < next_wake)
                next_wake = j->not_before_ms;
            continue;
        }
        if (fwup_sched_device_job(s, j->device))
            continue;
        const struct fwup_cfg_device *dev = fwup_config_find_device(cfg, j->device);
        if (!dev) {
            /* The device left the config while the job waited. */
            if (fwup_store_job_start(d->store, j->id, now) == 0 &&
                fwup_store_job_finish(d->store, j->id, FWUP_JOB_FAILED,
                                      "device is no longer configured", now) == 0)
                emit_stored(s, j->id);
            continue;
        }
        start_job(s, j, dev);
    }
    free(c.v);
    tell_waits(s);
    fwupd_notify_status(d);
    /* Wake for the earliest back-off expiry, unless a sooner scan (a kick
     * from a retry just recorded) is already due. */
    if (next_wake && (!uv_is_active((uv_handle_t *)&s->wake) ||
                      uv_timer_get_due_in(&s->wake) > (uint64_t)(next_wake - now)))
        uv_timer_start(&s->wake, scan, (uint64_t)(next_wake - now), 0);
}

void fwup_sched_kick(struct fwup_sched *s)
{
    if (!s->closing)
        uv_timer_start(&s->wake, scan, 0, 0);
}

static const struct fwup_run_ops jobrun_ops = {fwup_run_start, fwup_run_cancel, fwup_run_free};

void fwup_sched_set_run_ops(struct fwup_sched *s, const struct fwup_run_ops *ops)
{
    s->ops = ops;
}

int fwup_sched_new(struct fwupd *d, fwup_sched_notify_fn notify, void *ctx, struct fwup_sched **out)
{
    struct fwup_sched *s = calloc(1, sizeof(*s));
    if (!s)
        return -1;
    s->d = d;
    s->notify = notify;
    s->ctx = ctx;
    s->ops = &jobrun_ops;
    if (!(s->claims = fwup_claims_new())) {
        free(s);
        return -1;
    }
    uv_timer_init(d->loop, &s->wake);
    s->wake.data = s;
    uv_timer_init(d->loop, &s->pending_timer);
    s->pending_timer.data = s;
    s->open_timers = 2;
    *out = s;
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct fwup_sched *s = h->data;
    if (--s->open_timers == 0) {
        fwup_claims_free(s->claims);
        free(s->waits);
        free(s->prev);
        free(s);
    }
}

void fwup_sched_free(struct fwup_sched *s)
{
    if (!s)
        return;
    s->closing = 1;
    /* Runs are gone by now (shutdown waited for them). Outcomes still
     * pending are lost with the daemon: a success is in the outcome record,
     * anything else the restart's recovery retries. */
    while (s->pending) {
        struct active *a = s->pending;
        s->pending = a->next;
        log_warn("job %" PRId64 " (%s): stopping with its outcome not recorded", a->job.id,
                 a->job.device);
        free_active(a);
    }
    uv_close((uv_handle_t *)&s->wake, on_timer_closed);
    uv_close((uv_handle_t *)&s->pending_timer, on_timer_closed);
}

static struct active *find_active(const struct fwup_sched *s, int64_t id)
{
    for (struct active *a = s->active; a; a = a->next)
        if (a->job.id == id)
            return a;
    return NULL;
}

void fwup_sched_cancel(struct fwup_sched *s, int64_t job_id)
{
    fwup_sched_cancel_because(s, job_id, NULL);
}

void fwup_sched_cancel_because(struct fwup_sched *s, int64_t job_id, const char *reason)
{
    struct active *a = find_active(s, job_id);
    if (a) {
        a->job.cancel_requested = 1;
        if (reason)
            snprintf(a->cancel_reason, sizeof(a->cancel_reason), "%s", reason);
        s->ops->cancel(a->run);
    }
}

int64_t fwup_sched_device_job(const struct fwup_sched *s, const char *device)
{
    for (const struct active *a = s->active; a; a = a->next)
        if (strcmp(a->job.device, device) == 0)
            return a->job.id;
    /* A job whose outcome waits for the store holds its device. */
    for (const struct active *a = s->pending; a; a = a->next)
        if (strcmp(a->job.device, device) == 0)
            return a->job.id;
    return 0;
}

const char *fwup_sched_degraded(const struct fwup_sched *s)
{
    return s && s->degraded[0] ? s->degraded : NULL;
}

const char *fwup_sched_waiting(const struct fwup_sched *s, int64_t job_id)
{
    return find_wait(s->waits, s->nwaits, job_id);
}

void fwup_sched_overlay(const struct fwup_sched *s, struct fwup_job *job)
{
    const struct active *a = find_active(s, job->id);
    if (!a)
        for (a = s->pending; a && a->job.id != job->id; a = a->next)
            ;
    if (a && job->state == FWUP_JOB_RUNNING) {
        memcpy(job->phase, a->job.phase, sizeof(job->phase));
        job->bytes_done = a->job.bytes_done;
        job->bytes_total = a->job.bytes_total;
    }
}

size_t fwup_sched_running(const struct fwup_sched *s)
{
    return s->nactive;
}

void fwup_sched_shutdown(struct fwup_sched *s, void (*done)(void *ctx), void *ctx)
{
    s->shutdown_done = done;
    s->shutdown_ctx = ctx;
    uv_timer_stop(&s->wake);
    for (struct active *a = s->active; a; a = a->next) {
        a->interrupt = 1;
        /* Let the protocol leave the device clean (XMODEM: CAN CAN). */
        s->ops->cancel(a->run);
    }
    maybe_shutdown_done(s);
}
