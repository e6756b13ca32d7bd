#include "api.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "blobstore.h"
#include "defaults.h"
#include "fwupgw/sockapi.h"
#include "image.h"
#include "log.h"
#include "scheduler.h"

struct subscriber {
    struct subscriber *next;
    struct fwup_conn *conn;
};

struct fwup_api {
    struct fwupd *d;
    struct subscriber *subs;
};

/* A request failure: code + message, sent by the dispatcher. */
struct fail {
    int code;
    char msg[640];
    json_t *data; /* the error's "data", or NULL */
};

static int failf(struct fail *f, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int failf(struct fail *f, int code, const char *fmt, ...)
{
    va_list ap;
    f->code = code;
    va_start(ap, fmt);
    vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
    va_end(ap);
    return -1;
}

/* --- JSON views of store rows --------------------------------------------- */

static json_t *job_json(struct fwup_api *api, struct fwup_job *j)
{
    struct fwup_image_row img;
    json_int_t size = 0;
    fwup_sched_overlay(api->d->sched, j);
    if (fwup_store_get_image(api->d->store, j->image_sha256, &img) == 0)
        size = (json_int_t)img.size;
    json_t *o = json_pack(
        "{sI s:s s:{s:s s:s s:I} sI s:s s:s s:s sI sI si si s:b s:s sI sI sI sI sI}", "id",
        (json_int_t)j->id, "device", j->device, "image", "sha256", j->image_sha256, "format",
        j->format, "size", size, "batch", (json_int_t)j->batch_id, "version", j->version, "state",
        fwup_job_state_name(j->state), "phase", j->phase, "bytes_done", (json_int_t)j->bytes_done,
        "bytes_total", (json_int_t)j->bytes_total, "attempt", j->attempt, "max_attempts",
        j->max_attempts, "cancel_requested", j->cancel_requested, "last_error", j->last_error,
        "created", (json_int_t)j->created_ms, "updated", (json_int_t)j->updated_ms, "started",
        (json_int_t)j->started_ms, "finished", (json_int_t)j->finished_ms, "not_before",
        (json_int_t)j->not_before_ms);
    if (o) {
        const char *why = fwup_sched_waiting(api->d->sched, j->id);
        json_object_set_new(o, "waiting_for",
                            j->waiting_for ? json_integer(j->waiting_for) : json_null());
        json_object_set_new(o, "waiting", why ? json_string(why) : json_null());
    }
    /* A row json_pack cannot encode (bytes that are not UTF-8) must not
     * take the whole reply down with it. */
    return o ? o
             : json_pack("{sI s:s s:s}", "id", (json_int_t)j->id, "state",
                         fwup_job_state_name(j->state), "error", "job row is not valid UTF-8");
}

static json_t *device_json(struct fwup_api *api, const struct fwup_cfg_device *dev)
{
    json_t *tags = json_array();
    for (size_t i = 0; i < dev->ntags; i++)
        json_array_append_new(tags, json_string(dev->tags[i]));
    int64_t job = fwup_sched_device_job(api->d->sched, dev->id);
    return json_pack("{s:s s:s s:s s:o s:{sI sI} s:b s:o}", "id", dev->id, "link", dev->link,
                     "protocol", dev->protocol, "tags", tags, "flash", "base",
                     (json_int_t)dev->flash_base, "size", (json_int_t)dev->flash_size, "busy",
                     job != 0, "job", job ? json_integer(job) : json_null());
}

/* --- parameter helpers ---------------------------------------------------- */

static int param_int(json_t *params, const char *key, int required, json_int_t *out, struct fail *f)
{
    json_t *v = json_object_get(params, key);
    if (!v) {
        if (required)
            return failf(f, FWUP_E_PARAMS, "missing parameter '%s'", key);
        return 0;
    }
    if (!json_is_integer(v))
        return failf(f, FWUP_E_PARAMS, "parameter '%s' must be an integer", key);
    *out = json_integer_value(v);
    return 1;
}

static int param_str(json_t *params, const char *key, int required, const char **out,
                     struct fail *f)
{
    json_t *v = json_object_get(params, key);
    if (!v) {
        if (required)
            return failf(f, FWUP_E_PARAMS, "missing parameter '%s'", key);
        return 0;
    }
    if (!json_is_string(v))
        return failf(f, FWUP_E_PARAMS, "parameter '%s' must be a string", key);
    *out = json_string_value(v);
    return 1;
}

/* A string the store keeps in a fixed field: refuse rather than truncate
 * (truncation could split a UTF-8 character). */
static int fits(const char *v, size_t field, const char *what, struct fail *f)
{
    if (v && strlen(v) >= field)
        return failf(f, FWUP_E_PARAMS, "'%s' must be at most %zu bytes", what, field - 1);
    return 0;
}

static int param_bool(json_t *params, const char *key, int *out, struct fail *f)
{
    json_t *v = json_object_get(params, key);
    if (v && !json_is_boolean(v))
        return failf(f, FWUP_E_PARAMS, "parameter '%s' must be a boolean", key);
    *out = json_is_true(v);
    return 0;
}

static int get_job(struct fwup_api *api, json_t *params, struct fwup_job *job, struct fail *f)
{
    json_int_t id = 0;
    if (param_int(params, "job", 1, &id, f) < 0)
        return -1;
    int rc = fwup_store_get_job(api->d->store, id, job);
    if (rc == FWUP_STORE_NOT_FOUND)
        return failf(f, FWUP_E_NOT_FOUND, "no job %" JSON_INTEGER_FORMAT, id);
    if (rc)
        return failf(f, FWUP_E_INTERNAL, "database: %s", fwup_store_errmsg(api->d->store));
    return 0;
}

/* --- images from clients -------------------------------------------------- */

/* The bytes of one client image: read once per descriptor or inline blob. */
struct blob {
    uint8_t *data;
    size_t len;
    char sha[65];
    struct blob *next; /* inline images */
};

struct blobs {
    int *fds;
    size_t nfds;
    struct blob *byfd; /* lazily read, one per descriptor */
    /* Inline images, one per reference, each allocated on its own: the
     * targets checked so far keep pointers to theirs. */
    struct blob *inl;
};

static void blobs_free(struct blobs *b)
{
    for (size_t i = 0; b->byfd && i < b->nfds; i++)
        free(b->byfd[i].data);
    free(b->byfd);
    while (b->inl) {
        struct blob *bl = b->inl;
        b->inl = bl->next;
        free(bl->data);
        free(bl);
    }
}

static int blob_get(struct blobs *b, json_t *image, const char *where, const struct blob **out,
                    struct fail *f)
{
    char err[256];
    json_t *fdv = json_object_get(image, "fd");
    json_t *datav = json_object_get(image, "data");
    if (!json_is_object(image) || (!fdv == !datav))
        return failf(f, FWUP_E_PARAMS, "%s'image' must be {\"fd\": K} or {\"data\": BASE64}",
                     where);
    if (fdv) {
        if (!json_is_integer(fdv) || json_integer_value(fdv) < 0 ||
            (size_t)json_integer_value(fdv) >= b->nfds)
            return failf(f, FWUP_E_PARAMS,
                         "%simage fd index %s: %zu descriptor(s) came with "
                         "the request",
                         where,
                         json_is_integer(fdv) ? "out of range"
                                              : "not an "
                                                "integer",
                         b->nfds);
        size_t k = (size_t)json_integer_value(fdv);
        if (!b->byfd && !(b->byfd = calloc(b->nfds, sizeof(*b->byfd))))
            return failf(f, FWUP_E_INTERNAL, "out of memory");
        struct blob *bl = &b->byfd[k];
        if (!bl->data) {
            if (fwup_read_fd(b->fds[k], FWUP_IMAGE_MAX_FILE, &bl->data, &bl->len, err,
                             sizeof(err)) < 0)
                return failf(f, FWUP_E_IMAGE, "%s%s", where, err);
            fwup_sha256_hex(bl->data, bl->len, bl->sha);
        }
        *out = bl;
        return 0;
    }
    if (!json_is_string(datav))
        return failf(f, FWUP_E_PARAMS, "%simage data must be a base64 string", where);
    const char *s = json_string_value(datav);
    size_t slen = json_string_length(datav);
    struct blob *bl = calloc(1, sizeof(*bl));
    if (!bl)
        return failf(f, FWUP_E_INTERNAL, "out of memory");
    bl->next = b->inl;
    b->inl = bl;
    bl->data = malloc(slen / 4 * 3 + 3);
    if (!bl->data || sodium_base642bin(bl->data, slen / 4 * 3 + 3, s, slen, "\n\r ", &bl->len, NULL,
                                       sodium_base64_VARIANT_ORIGINAL) != 0)
        return failf(f, FWUP_E_PARAMS, "%simage data is not valid base64", where);
    fwup_sha256_hex(bl->data, bl->len, bl->sha);
    *out = bl;
    return 0;
}

/* One image checked for one device, ready to be committed as a job. */
struct prepared {
    const struct fwup_cfg_device *dev;
    const struct blob *blob;
    const char *format;
    uint32_t base;
    const char *version;
    int max_attempts;
    uint64_t total;
    uint32_t first, last; /* lowest and highest address written */
    size_t nsegments;
};

/* What the daemon made of an image, for queue replies and dry-run plans. */
static json_t *image_summary_json(const struct prepared *p)
{
    return json_pack("{s:s sI sI sI sI}", "format", p->format, "address_first",
                     (json_int_t)p->first, "address_last", (json_int_t)p->last, "bytes",
                     (json_int_t)p->total, "segments", (json_int_t)p->nsegments);
}

/* Parse and check an image for a device: format, flash range, protocol. */
static int check_for_device(struct fwup_api *api, const struct blob *bl, const char *format,
                            json_t *address, const struct fwup_cfg_device *dev, const char *where,
                            struct prepared *out, struct fail *f)
{
    char err[512];
    int fmt = fwup_image_format_from_name(format ? format : "auto");
    if (fmt < 0)
        return failf(f, FWUP_E_PARAMS, "%sunknown image format '%s'", where, format);
    uint32_t base = dev->flash_base;
    if (address) {
        if (!json_is_integer(address) || json_integer_value(address) < 0 ||
            json_integer_value(address) > 0xFFFFFFFF)
            return failf(f, FWUP_E_PARAMS, "%s'address' must be a 32-bit unsigned integer", where);
        base = (uint32_t)json_integer_value(address);
    }
    const struct fwup_protocol *proto = fwup_plugins_find(api->d->plugins, dev->protocol);
    if (!proto)
        return failf(f, FWUP_E_INTERNAL, "%sprotocol '%s' is not loaded", where, dev->protocol);

    struct fwup_parsed_image img;
    if (fwup_image_parse(bl->data, bl->len, (enum fwup_image_format)fmt, base, &img, err,
                         sizeof(err)) < 0)
        return failf(f, FWUP_E_IMAGE, "%s%s", where, err);
    int rc = fwup_image_check_range(&img.view, dev->flash_base, dev->flash_size, err, sizeof(err));
    if (rc == 0 && proto->check_image) {
        struct fwup_option *opts = calloc(dev->noptions + 1, sizeof(*opts));
        size_t n = dev->noptions;
        if (!opts) {
            fwup_image_free(&img);
            return failf(f, FWUP_E_INTERNAL, "out of memory");
        }
        for (size_t i = 0; i < n; i++) {
            opts[i].name = dev->options[i].name;
            opts[i].value = dev->options[i].value;
        }
        struct fwup_job_params jp = {.device_id = dev->id,
                                     .image = &img.view,
                                     .options = opts,
                                     .noptions = n,
                                     .flash_base = dev->flash_base,
                                     .flash_size = dev->flash_size};
        rc = proto->check_image(&jp, err, sizeof(err));
        free(opts);
    }
    out->dev = dev;
    out->blob = bl;
    out->format = fwup_image_format_name(img.format);
    out->base = base;
    out->total = img.view.total;
    const struct fwup_segment *end = &img.view.segments[img.view.nsegments - 1];
    out->first = img.view.segments[0].address;
    out->last = end->address + end->len - 1;
    out->nsegments = img.view.nsegments;
    fwup_image_free(&img);
    if (rc < 0)
        return failf(f, FWUP_E_IMAGE, "%s%s", where, err);
    return 0;
}

struct replacing {
    struct fwup_api *api;
    json_t *jobs; /* the jobs replaced, as Job objects */
};

static int replaced_cb(void *ctx, const struct fwup_job *job)
{
    struct replacing *r = ctx;
    struct fwup_job j = *job;
    return json_array_append_new(r->jobs, job_json(r->api, &j));
}

/* A store error as the client sees it: one that passes (disk full) says so,
 * and that nothing was queued. */
static int db_failed(struct fail *f, struct fwupd *d)
{
    struct fwup_store *st = d->store;
    if (fwup_store_err_transient(st)) {
        fwup_sched_store_wrote(d->sched, -1);
        return failf(f, FWUP_E_UNAVAILABLE, "cannot store the request now: %s; nothing was queued",
                     fwup_store_errmsg(st));
    }
    return failf(f, FWUP_E_INTERNAL, "database: %s", fwup_store_errmsg(st));
}

/* Removes the image files a failed commit_jobs added, then frees the list. */
typedef char added_path[512];
static void unadd(added_path *added, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (added[i][0] && unlink(added[i]) < 0)
            log_warn("removing %s: %s", added[i], strerror(errno));
    free(added);
}

/* What a write request records with the jobs it queues, in the same
 * transaction: its idempotency key with its result, and a batch's targets. */
struct record {
    const char *key;      /* the client's idempotency key, NULL: none */
    const char *method;   /* the request's method */
    char fingerprint[65]; /* of the request's parameters */
    const char *targets;  /* a batch's targets, NULL: none */
    /* Builds the request's result inside the transaction. */
    json_t *(*build)(struct fwup_api *api, void *ctx, int64_t batch, json_t *ids, json_t *replaced);
    void *ctx;
    json_t *result; /* the result built */
};

/* Keys are kept this long: a client retries within seconds, and a key must
 * not block a deliberate repeat for ever. */
#define KEY_LIFETIME_MS (24 * 3600 * 1000LL)

static int record_request(struct fwup_api *api, struct record *rec, int64_t batch, json_t *ids,
                          json_t *replaced, int64_t now)
{
    struct fwup_store *st = api->d->store;
    if (rec->targets && batch && fwup_store_set_batch_targets(st, batch, rec->targets) != 0)
        return -1;
    rec->result = rec->build(api, rec->ctx, batch, ids, replaced);
    if (!rec->result || !rec->key)
        return rec->result ? 0 : -1;
    struct fwup_request_row row = {.batch_id = batch,
                                   .job_id = json_integer_value(json_array_get(ids, 0)),
                                   .result = json_dumps(rec->result, JSON_COMPACT)};
    snprintf(row.method, sizeof(row.method), "%s", rec->method);
    memcpy(row.fingerprint, rec->fingerprint, sizeof(row.fingerprint));
    int rc =
        row.result ? fwup_store_put_request(st, rec->key, &row, now, now - KEY_LIFETIME_MS) : -1;
    free(row.result);
    return rc;
}

/* Write verified images and their jobs in one transaction. With replaced
 * non-NULL, each new job also cancels its device's older unfinished jobs in
 * that transaction (appended to replaced); running ones are stopped once it
 * is committed. */
static int commit_jobs(struct fwup_api *api, const char *batch_name, struct prepared *p, size_t n,
                       int64_t *batch_id, json_t *ids, json_t *replaced, struct record *rec,
                       struct fail *f)
{
    struct replacing rep = {api, replaced};
    struct fwupd *d = api->d;
    struct fwup_store *st = d->store;
    int64_t now = fwupd_now_ms(d);
    char err[512];
    /* Image files this call adds, removed again if it queues nothing. */
    added_path *added = calloc(n ? n : 1, sizeof(*added));
    if (!added)
        return failf(f, FWUP_E_UNAVAILABLE, "out of memory; nothing was queued");

    /* Image files first and durable: a committed job never points at a
     * missing file. */
    for (size_t i = 0; i < n; i++) {
        struct fwup_image_row row = {0};
        snprintf(row.path, sizeof(row.path), "%s/images/%s", d->conf->cfg->state_dir,
                 p[i].blob->sha);
        int existed = access(row.path, F_OK) == 0;
        if (fwup_blob_put(d->conf->cfg->state_dir, p[i].blob->data, p[i].blob->len, p[i].blob->sha,
                          row.path, sizeof(row.path), err, sizeof(err)) < 0) {
            int e = errno;
            unadd(added, n);
            return failf(f, fwup_errno_transient(e) ? FWUP_E_UNAVAILABLE : FWUP_E_INTERNAL,
                         "storing image: %s; nothing was queued", err);
        }
        if (!existed)
            snprintf(added[i], sizeof(added[i]), "%s", row.path);
    }
    if (fwup_store_begin(st) != 0)
        goto db;
    *batch_id = 0;
    if (batch_name && fwup_store_create_batch(st, batch_name, now, batch_id) != 0)
        goto rollback;
    for (size_t i = 0; i < n; i++) {
        struct fwup_image_row row = {.size = p[i].blob->len, .created_ms = now};
        snprintf(row.sha256, sizeof(row.sha256), "%s", p[i].blob->sha);
        snprintf(row.path, sizeof(row.path), "%s/images/%s", d->conf->cfg->state_dir,
                 p[i].blob->sha);
        if (fwup_store_put_image(st, &row) != 0)
            goto rollback;
        struct fwup_job job = {0};
        snprintf(job.device, sizeof(job.device), "%s", p[i].dev->id);
        snprintf(job.image_sha256, sizeof(job.image_sha256), "%s", p[i].blob->sha);
        snprintf(job.format, sizeof(job.format), "%s", p[i].format);
        snprintf(job.version, sizeof(job.version), "%s", p[i].version ? p[i].version : "");
        job.base_address = p[i].base;
        job.batch_id = *batch_id;
        job.bytes_total = p[i].total;
        job.max_attempts = p[i].max_attempts > 0    ? p[i].max_attempts
                           : p[i].dev->max_attempts ? p[i].dev->max_attempts
                                                    : (int)d->conf->cfg->max_attempts;
        if (fwup_store_queue_job(st, &job, now) != 0 ||
            (replaced && fwup_store_replace_older(st, job.id, now, replaced_cb, &rep) != 0))
            goto rollback;
        json_array_append_new(ids, json_integer(job.id));
    }
    if (record_request(api, rec, *batch_id, ids, replaced, now) != 0 || fwup_store_commit(st) != 0)
        goto rollback;
    free(added);
    fwup_sched_store_wrote(d->sched, 0);
    size_t i;
    json_t *r;
    json_array_foreach(replaced, i, r)
    {
        json_int_t id = json_integer_value(json_object_get(r, "id"));
        const char *why = json_string_value(json_object_get(r, "last_error"));
        log_notice("job %" JSON_INTEGER_FORMAT " (%s): %s%s", id,
                   json_string_value(json_object_get(r, "device")), why,
                   json_is_true(json_object_get(r, "cancel_requested")) ? ", stopping its run"
                                                                        : "; cancelled");
        if (json_is_true(json_object_get(r, "cancel_requested")))
            fwup_sched_cancel_because(d->sched, id, why);
        struct fwup_job job;
        if (fwup_store_get_job(st, id, &job) == 0)
            fwup_api_job_event(api, &job, "state", 0);
    }
    return 0;
rollback:
    db_failed(f, d);
    fwup_store_rollback(st);
    json_decref(rec->result);
    rec->result = NULL;
    json_array_clear(ids);
    if (replaced)
        json_array_clear(replaced);
    unadd(added, n);
    return -1;
db:
    unadd(added, n);
    return db_failed(f, d);
}

static void announce(struct fwup_api *api, json_t *ids)
{
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        struct fwup_job job;
        if (fwup_store_get_job(api->d->store, json_integer_value(v), &job) == 0)
            fwup_api_job_event(api, &job, "state", 0);
    }
    fwup_sched_kick(api->d->sched);
}

/* --- idempotency ---------------------------------------------------------- */

/* Fills rec's fingerprint from the request's parameters without the key,
 * each image sent as a descriptor standing as its SHA-256 (a retry sends the
 * same file as a new descriptor, maybe at another index). The method is
 * recorded beside it. */
static int fingerprint(struct blobs *b, json_t *params, struct record *rec, struct fail *f)
{
    json_t *c = json_deep_copy(params);
    json_t *targets = json_object_get(c, "targets");
    size_t n = json_is_array(targets) ? json_array_size(targets) : 1;
    if (!c)
        return failf(f, FWUP_E_INTERNAL, "out of memory");
    json_object_del(c, "idempotency_key");
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_is_array(targets) ? json_array_get(targets, i) : c;
        json_t *image = json_object_get(t, "image");
        const struct blob *bl;
        /* An image that cannot be read stays as sent: the request fails
         * later where every problem is reported, and records nothing. */
        struct fail ignored = {0};
        if (json_is_object(image) && json_object_get(image, "fd") &&
            blob_get(b, image, "", &bl, &ignored) == 0)
            json_object_set_new(t, "image", json_string(bl->sha));
    }
    char *text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(c);
    if (!text)
        return failf(f, FWUP_E_INTERNAL, "out of memory");
    fwup_sha256_hex((const uint8_t *)text, strlen(text), rec->fingerprint);
    free(text);
    return 0;
}

/* Reads the request's idempotency key into rec. If the key was recorded
 * before, *replay is the recorded result (the request is not done again),
 * or the call fails when the key came with other parameters. */
static int check_key(struct fwup_api *api, const char *method, json_t *params, struct blobs *b,
                     struct record *rec, json_t **replay, struct fail *f)
{
    *replay = NULL;
    rec->method = method;
    if (param_str(params, "idempotency_key", 0, &rec->key, f) < 0)
        return -1;
    if (!rec->key)
        return 0;
    size_t len = strlen(rec->key);
    if (len == 0 || len > FWUP_STORE_KEY_MAX)
        return failf(f, FWUP_E_PARAMS, "'idempotency_key' must be 1 to %d bytes long",
                     FWUP_STORE_KEY_MAX);
    if (fingerprint(b, params, rec, f) < 0)
        return -1;
    struct fwup_request_row row;
    int rc = fwup_store_find_request(api->d->store, rec->key,
                                     fwupd_now_ms(api->d) - KEY_LIFETIME_MS, &row);
    if (rc == FWUP_STORE_NOT_FOUND)
        return 0;
    if (rc != 0)
        return failf(f, FWUP_E_INTERNAL, "database: %s", fwup_store_errmsg(api->d->store));
    if (strcmp(row.method, method) != 0 || strcmp(row.fingerprint, rec->fingerprint) != 0) {
        char what[64];
        if (row.batch_id)
            snprintf(what, sizeof(what), "batch %" PRId64, row.batch_id);
        else
            snprintf(what, sizeof(what), "job %" PRId64, row.job_id);
        free(row.result);
        return failf(f, FWUP_E_PARAMS,
                     "idempotency key '%s' was used by an earlier %s request with other "
                     "parameters (it queued %s); nothing was done: send a new key for a new "
                     "request",
                     rec->key, method, what);
    }
    *replay = json_loads(row.result, 0, NULL);
    free(row.result);
    if (!*replay || !json_is_object(*replay)) {
        json_decref(*replay);
        return failf(f, FWUP_E_INTERNAL, "database: stored result of key '%s' is not an object",
                     rec->key);
    }
    /* Tells a client that this is the first request's outcome. */
    json_object_set_new(*replay, "replayed", json_true());
    log_info("%s with idempotency key '%s' repeated: answered with its first result", method,
             rec->key);
    return 0;
}

/* --- methods -------------------------------------------------------------- */

static json_t *m_version(struct fwup_api *api, json_t *params, struct blobs *b, struct fail *f)
{
    (void)params, (void)b, (void)f;
    json_t *plugins = json_array();
    for (size_t i = 0; i < fwup_plugins_count(api->d->plugins); i++) {
        const struct fwup_protocol *p = fwup_plugins_at(api->d->plugins, i);
        json_array_append_new(plugins, json_pack("{s:s s:s}", "name", p->name, "description",
                                                 p->description ? p->description : ""));
    }
    return json_pack("{s:s s:i s:i s:o}", "daemon", FWUP_VERSION, "protocol", FWUP_SOCKAPI_VERSION,
                     "abi", FWUP_PROTOCOL_ABI_VERSION, "plugins", plugins);
}

static json_t *m_devices_list(struct fwup_api *api, json_t *params, struct blobs *b, struct fail *f)
{
    (void)b;
    const char *tag = NULL;
    if (param_str(params, "tag", 0, &tag, f) < 0)
        return NULL;
    const struct fwup_config *cfg = api->d->conf->cfg;
    json_t *arr = json_array();
    for (size_t i = 0; i < cfg->ndevices; i++)
        if (!tag || fwup_cfg_device_has_tag(&cfg->devices[i], tag))
            json_array_append_new(arr, device_json(api, &cfg->devices[i]));
    return json_pack("{s:o}", "devices", arr);
}

/* jobs.queue's result, built in the transaction that queues the job. */
static json_t *queued_result(struct fwup_api *api, void *ctx, int64_t batch, json_t *ids,
                             json_t *replaced)
{
    (void)batch;
    struct fwup_job job;
    if (fwup_store_get_job(api->d->store, json_integer_value(json_array_get(ids, 0)), &job) != 0)
        return NULL;
    json_t *res = json_pack("{s:o s:o}", "job", job_json(api, &job), "image",
                            image_summary_json((const struct prepared *)ctx));
    if (res && replaced)
        json_object_set(res, "replaced", replaced);
    return res;
}

static json_t *m_jobs_queue(struct fwup_api *api, json_t *params, struct blobs *b, struct fail *f)
{
    const char *device = NULL, *format = NULL, *sha = NULL, *version = NULL;
    json_int_t max_attempts = 0;
    int replace = 0;
    struct prepared p;
    struct record rec = {.build = queued_result, .ctx = &p};
    json_t *replay;
    if (check_key(api, "jobs.queue", params, b, &rec, &replay, f) < 0)
        return NULL;
    if (replay)
        return replay;
    if (param_str(params, "device", 1, &device, f) < 0 ||
        param_bool(params, "replace", &replace, f) < 0 ||
        param_str(params, "format", 0, &format, f) < 0 ||
        param_str(params, "sha256", 0, &sha, f) < 0 ||
        param_str(params, "version", 0, &version, f) < 0 ||
        param_int(params, "max_attempts", 0, &max_attempts, f) < 0 ||
        fits(version, sizeof(((struct fwup_job *)0)->version), "version", f) < 0)
        return NULL;
    if (max_attempts < 0 || max_attempts > FWUP_MAX_ATTEMPTS_MAX) {
        failf(f, FWUP_E_PARAMS, "'max_attempts' must be 1..%d (0: the default)",
              FWUP_MAX_ATTEMPTS_MAX);
        return NULL;
    }
    const struct fwup_cfg_device *dev = fwup_config_find_device(api->d->conf->cfg, device);
    if (!dev) {
        failf(f, FWUP_E_NOT_FOUND, "no device '%s' in the configuration", device);
        return NULL;
    }
    const struct blob *bl;
    if (!json_object_get(params, "image")) {
        failf(f, FWUP_E_PARAMS, "missing parameter 'image'");
        return NULL;
    }
    if (blob_get(b, json_object_get(params, "image"), "", &bl, f) < 0)
        return NULL;
    if (sha && strcasecmp(sha, bl->sha) != 0) {
        failf(f, FWUP_E_CHECKSUM, "image SHA-256 is %s, expected %s", bl->sha, sha);
        return NULL;
    }
    if (check_for_device(api, bl, format, json_object_get(params, "address"), dev, "", &p, f) < 0)
        return NULL;
    p.version = version;
    p.max_attempts = (int)max_attempts;
    int64_t batch;
    json_t *ids = json_array(), *replaced = replace ? json_array() : NULL;
    int rc = commit_jobs(api, NULL, &p, 1, &batch, ids, replaced, &rec, f);
    json_decref(replaced);
    if (rc < 0) {
        json_decref(ids);
        return NULL;
    }
    log_info("job %" JSON_INTEGER_FORMAT " queued for %s (%s, %" PRIu64 " bytes)",
             json_integer_value(json_array_get(ids, 0)), dev->id, p.format, p.total);
    announce(api, ids);
    json_decref(ids);
    return rec.result;
}

struct listctx {
    struct fwup_api *api;
    json_t *arr;
};

static int list_cb(void *ctx, const struct fwup_job *job)
{
    struct listctx *l = ctx;
    struct fwup_job j = *job;
    json_array_append_new(l->arr, job_json(l->api, &j));
    return 0;
}

static json_t *m_jobs_list(struct fwup_api *api, json_t *params, struct blobs *b, struct fail *f)
{
    (void)b;
    const char *device = NULL, *state = NULL;
    json_int_t batch = 0, limit = 100;
    if (param_str(params, "device", 0, &device, f) < 0 ||
        param_str(params, "state", 0, &state, f) < 0 ||
        param_int(params, "batch", 0, &batch, f) < 0 ||
        param_int(params, "limit", 0, &limit, f) < 0)
        return NULL;
    struct fwup_job_filter flt = {.device = device,
                                  .state = -1,
                                  .batch_id = batch,
                                  .limit = limit > 0 && limit < 100000 ? (int)limit : 100};
    if (state && (flt.state = fwup_job_state_from_name(state)) < 0) {
        failf(f, FWUP_E_PARAMS, "unknown state '%s'", state);
        return NULL;
    }
    struct listctx l = {api, json_array()};
    if (fwup_store_list_jobs(api->d->store, &flt, list_cb, &l) != 0) {
        json_decref(l.arr);
        failf(f, FWUP_E_INTERNAL, "database: %s", fwup_store_errmsg(api->d->store));
        return NULL;
    }
    return json_pack("{s:o}", "jobs", l.arr);
}

static json_t *m_jobs_get(struct fwup_api *api, json_t *params, struct blobs *b, struct fail *f)
{
    (void)b;
    struct fwup_job job;
    if (get_job(api, params, &job, f) < 0)
        return NULL;
    return json_pack("{s:o}", "job", job_json(api, &job));
}

static json_t *m_jobs_cancel(struct fwup_api *api, json_t *params, struct blobs *b, struct fail *f)
{
    (void)b;
    struct fwup_job job;
    int was_running = 0;
    if (get_job(api, params, &job, f) < 0)
        return NULL;
    int rc = fwup_store_job_cancel(api->d->store, job.id, fwupd_now_ms(api->d), &was_running);
    if (rc == FWUP_STORE_NOT_FOUND) {
        failf(f, FWUP_E_STATE, "job %" PRId64 " is already %s", job.id,
              fwup_job_state_name(job.state));
        return NULL;
    }
    if (rc) {
        failf(f, FWUP_E_INTERNAL, "database: %s", fwup_store_errmsg(api->d->store));
        return NULL;
    }
    log_notice("job %" PRId64 " (%s): cancel requested", job.id, job.device);
    if (was_running)
        fwup_sched_cancel(api->d->sched, job.id);
    fwup_store_get_job(api->d->store, job.id, &job);
    fwup_api_job_event(api, &job, "state", 0);
    return json_pack("{s:o}", "job", job_json(api, &job));
}

static int event_cb(void *ctx, const struct fwup_job_event *ev)
{
    json_array_append_new(ctx, json_pack("{sI sI s:s sI s:s s:s s:s s:s}", "id", (json_int_t)ev->id,
                                         "job", (json_int_t)ev->job_id, "device", ev->device, "ts",
                                         (json_int_t)ev->ts_ms, "kind", ev->kind, "state",
                                         fwup_job_state_name(ev->state), "phase", ev->phase,
                                         "message", ev->message));
    return 0;
}

static json_t *m_jobs_history(struct fwup_api *api, json_t *params, struct blobs *b, struct fail *f)
{
    (void)b;
    const char *device = NULL;
    json_int_t job = 0, limit = 100;
    if (param_str(params, "device", 0, &device, f) < 0 ||
        param_int(params, "job", 0, &job, f) < 0 || param_int(params, "limit", 0, &limit, f) < 0)
        return NULL;
    json_t *arr = json_array();
    if (fwup_store_list_events(api->d->store, job, device,
                               limit > 0 && limit < 100000 ? (int)limit : 100, event_cb,
                               arr) != 0) {
        json_decref(arr);
        failf(f, FWUP_E_INTERNAL, "database: %s", fwup_store_errmsg(api->d->store));
        return NULL;
    }
    return json_pack("{s:o}", "events", arr);
}

static json_t *m_batches_get(struct fwup_api *api, json_t *params, struct blobs *b, struct fail *f)
{
    (void)b;
    json_int_t id = 0;
    struct fwup_batch batch;
    if (param_int(params, "batch", 1, &id, f) < 0)
        return NULL;
    int rc = fwup_store_get_batch(api->d->store, id, &batch);
    if (rc == FWUP_STORE_NOT_FOUND) {
        failf(f, FWUP_E_NOT_FOUND, "no batch %" JSON_INTEGER_FORMAT, id);
        return NULL;
    }
    if (rc) {
        failf(f, FWUP_E_INTERNAL, "database: %s", fwup_store_errmsg(api->d->store));
        return NULL;
    }
    struct fwup_job_filter flt = {.state = -1, .batch_id = id, .oldest_first = 1};
    struct listctx l = {api, json_array()};
    if (fwup_store_list_jobs(api->d->store, &flt, list_cb, &l) != 0) {
        json_decref(l.arr);
        failf(f, FWUP_E_INTERNAL, "database: %s", fwup_store_errmsg(api->d->store));
        return NULL;
    }
    const int *c = batch.counts;
    const char *state = c[FWUP_JOB_QUEUED] + c[FWUP_JOB_RUNNING]     ? "running"
                        : c[FWUP_JOB_FAILED] + c[FWUP_JOB_CANCELLED] ? "failed"
                                                                     : "succeeded";
    return json_pack(
        "{s:{sI s:s sI s:s s:{si si si si si} s:o}}", "batch", "id", (json_int_t)batch.id, "name",
        batch.name, "created", (json_int_t)batch.created_ms, "state", state, "counts", "queued",
        c[FWUP_JOB_QUEUED], "running", c[FWUP_JOB_RUNNING], "succeeded", c[FWUP_JOB_SUCCEEDED],
        "failed", c[FWUP_JOB_FAILED], "cancelled", c[FWUP_JOB_CANCELLED], "jobs", l.arr);
}

/* A device a manifest target selects, and which target selected it first. */
struct selected {
    const struct fwup_cfg_device *dev;
    size_t target;
};

/* One problem with target i (with `field`, for `dev`) in a manifest.apply
 * error's data.errors, so the client can point at each. */
static void problem(json_t *problems, size_t i, const char *field,
                    const struct fwup_cfg_device *dev, const struct fail *tf)
{
    json_t *e =
        json_pack("{sI si s:s}", "target", (json_int_t)i, "code", tf->code, "message", tf->msg);
    if (!e)
        return;
    if (field)
        json_object_set_new(e, "field", json_string(field));
    if (dev)
        json_object_set_new(e, "device", json_string(dev->id));
    json_array_append_new(problems, e);
}

/* Names the tags in a selection that matched nothing, and those that no
 * device carries at all: the likely typo. */
static int no_device_for(const struct fwup_config *cfg, json_t *tags, const char *where,
                         struct fail *f)
{
    char all[400] = "", none[400] = "";
    size_t k, la = 0, ln = 0;
    json_t *tag;
    json_array_foreach(tags, k, tag)
    {
        const char *t = json_string_value(tag);
        size_t i = 0;
        while (i < cfg->ndevices && !fwup_cfg_device_has_tag(&cfg->devices[i], t))
            i++;
        if (la < sizeof(all))
            la += (size_t)snprintf(all + la, sizeof(all) - la, "%s%s", k ? ", " : "", t);
        if (i == cfg->ndevices && ln < sizeof(none))
            ln += (size_t)snprintf(none + ln, sizeof(none) - ln, "%s'%s'", ln ? ", " : "", t);
    }
    if (json_array_size(tags) == 1)
        return failf(f, FWUP_E_NOT_FOUND, "%sno configured device carries the tag '%s'", where,
                     all);
    return failf(f, FWUP_E_NOT_FOUND, "%sno configured device carries all of the tags %s%s%s%s",
                 where, all, none[0] ? " (none carries " : "", none, none[0] ? ")" : "");
}

/* Devices a manifest target selects: one by id, or all carrying every tag. */
static int select_devices(struct fwup_api *api, json_t *t, const char *where,
                          const struct fwup_cfg_device **sel, size_t *nsel, struct fail *f)
{
    const struct fwup_config *cfg = api->d->conf->cfg;
    json_t *dv = json_object_get(t, "device"), *tags = json_object_get(t, "tags");
    *nsel = 0;
    if (!dv == !tags)
        return failf(f, FWUP_E_PARAMS, "%sexactly one of 'device' and 'tags' is required", where);
    if (dv) {
        if (!json_is_string(dv))
            return failf(f, FWUP_E_PARAMS, "%s'device' must be a string", where);
        const struct fwup_cfg_device *dev = fwup_config_find_device(cfg, json_string_value(dv));
        if (!dev)
            return failf(f, FWUP_E_NOT_FOUND, "%sno device '%s' in the configuration", where,
                         json_string_value(dv));
        sel[(*nsel)++] = dev;
        return 0;
    }
    if (!json_is_array(tags) || json_array_size(tags) == 0)
        return failf(f, FWUP_E_PARAMS, "%s'tags' must be a non-empty array of strings", where);
    for (size_t i = 0; i < cfg->ndevices; i++) {
        int all = 1;
        size_t k;
        json_t *tag;
        json_array_foreach(tags, k, tag)
        {
            if (!json_is_string(tag))
                return failf(f, FWUP_E_PARAMS, "%s'tags' must hold strings", where);
            all = all && fwup_cfg_device_has_tag(&cfg->devices[i], json_string_value(tag));
        }
        if (all)
            sel[(*nsel)++] = &cfg->devices[i];
    }
    if (*nsel == 0)
        return no_device_for(cfg, tags, where, f);
    return 0;
}

/* manifest.apply's result, built in the transaction that queues the batch. */
static json_t *applied_result(struct fwup_api *api, void *ctx, int64_t batch, json_t *ids,
                              json_t *replaced)
{
    (void)api;
    json_t *res = json_pack("{s:{sI s:s s:O}}", "batch", "id", (json_int_t)batch, "name",
                            (const char *)ctx, "jobs", ids);
    if (res && replaced)
        json_object_set(json_object_get(res, "batch"), "replaced", replaced);
    return res;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What makes two applies the same: the batch name and the set of (device,
 * image SHA-256) pairs, in any order. */
static int batch_targets(const char *name, const struct prepared *p, size_t n, char out[65],
                         struct fail *f)
{
    char **pairs = calloc(n ? n : 1, sizeof(*pairs));
    size_t len = strlen(name) + 1;
    int rc = 0;
    for (size_t i = 0; pairs && i < n; i++) {
        if (asprintf(&pairs[i], "%s %s", p[i].dev->id, p[i].blob->sha) < 0) {
            pairs[i] = NULL;
            rc = -1;
            break;
        }
        len += strlen(pairs[i]) + 1;
    }
    char *all = rc == 0 && pairs ? malloc(len + 1) : NULL; /* + sprintf's last NUL */
    if (all) {
        qsort(pairs, n, sizeof(*pairs), cmp_str);
        size_t off = (size_t)sprintf(all, "%s", name) + 1; /* the NUL ends the name */
        for (size_t i = 0; i < n; i++)
            off += (size_t)sprintf(all + off, "%s\n", pairs[i]);
        fwup_sha256_hex((const uint8_t *)all, off, out);
    }
    for (size_t i = 0; pairs && i < n; i++)
        free(pairs[i]);
    free(pairs);
    free(all);
    return all ? 0 : failf(f, FWUP_E_INTERNAL, "out of memory");
}

/* Refuses a batch whose twin (same targets) still has jobs to run. */
static int refuse_running_twin(struct fwup_api *api, const char *targets, struct fail *f)
{
    struct fwup_store *st = api->d->store;
    struct fwup_batch twin;
    int64_t id;
    int rc = fwup_store_find_running_batch(st, targets, &id);
    if (rc == FWUP_STORE_NOT_FOUND)
        return 0;
    if (rc != 0 || fwup_store_get_batch(st, id, &twin) != 0)
        return failf(f, FWUP_E_INTERNAL, "database: %s", fwup_store_errmsg(st));
    int total = 0;
    for (int k = 0; k < FWUP_JOB_STATE_COUNT; k++)
        total += twin.counts[k];
    failf(f, FWUP_E_STATE,
          "batch %" PRId64 " '%s' with the same devices and images is still running (%d of %d "
          "jobs not finished); nothing was queued. Follow it with 'fwupctl watch --batch %" PRId64
          "', or apply again with --force to queue it anyway",
          id, twin.name, twin.counts[FWUP_JOB_QUEUED] + twin.counts[FWUP_JOB_RUNNING], total, id);
    f->data = json_pack("{sI}", "batch", (json_int_t)id);
    return -1;
}

static json_t *m_manifest_apply(struct fwup_api *api, json_t *params, struct blobs *b,
                                struct fail *f)
{
    const struct fwup_config *cfg = api->d->conf->cfg;
    json_t *targets = json_object_get(params, "targets");
    const char *name = "manifest";
    json_t *dry = json_object_get(params, "dry_run");
    int replace = 0, force = 0;
    struct record rec = {.build = applied_result};
    char twins[65];
    json_t *replay;
    if (check_key(api, "manifest.apply", params, b, &rec, &replay, f) < 0)
        return NULL;
    if (replay)
        return replay;
    if (param_str(params, "name", 0, &name, f) < 0 ||
        param_bool(params, "replace", &replace, f) < 0 ||
        param_bool(params, "force", &force, f) < 0 ||
        fits(name, sizeof(((struct fwup_batch *)0)->name), "name", f) < 0)
        return NULL;
    if (dry && !json_is_boolean(dry)) {
        failf(f, FWUP_E_PARAMS, "parameter 'dry_run' must be a boolean");
        return NULL;
    }
    if (!json_is_array(targets) || json_array_size(targets) == 0) {
        failf(f, FWUP_E_PARAMS, "parameter 'targets' must be a non-empty array");
        return NULL;
    }
    size_t cap = json_array_size(targets) * (cfg->ndevices + 1);
    struct prepared *p = calloc(cap, sizeof(*p));
    const struct fwup_cfg_device **sel = calloc(cfg->ndevices + 1, sizeof(*sel));
    struct selected *seen = calloc(cap, sizeof(*seen));
    json_t *problems = json_array();
    size_t np = 0, nseen = 0, i;
    json_t *t, *result = NULL;
    if (!p || !sel || !seen || !problems) {
        failf(f, FWUP_E_INTERNAL, "out of memory");
        goto out;
    }
    /* Check everything before queuing anything: all or nothing. Every
     * problem of every target is reported, not just the first. */
    json_array_foreach(targets, i, t)
    {
        const char *sha = NULL, *format = NULL, *version = NULL;
        const struct blob *bl = NULL;
        size_t nsel = 0;
        struct fail tf = {0};
        if (!json_is_object(t)) {
            failf(&tf, FWUP_E_PARAMS, "must be an object");
            problem(problems, i, NULL, NULL, &tf);
            continue;
        }
        if (param_str(t, "sha256", 1, &sha, &tf) < 0)
            problem(problems, i, "sha256", NULL, &tf);
        if (param_str(t, "format", 0, &format, &tf) < 0)
            problem(problems, i, "format", NULL, &tf);
        if (param_str(t, "version", 0, &version, &tf) < 0 ||
            fits(version, sizeof(((struct fwup_job *)0)->version), "version", &tf) < 0)
            problem(problems, i, "version", NULL, &tf);
        if (select_devices(api, t, "", sel, &nsel, &tf) < 0)
            problem(problems, i, json_object_get(t, "tags") ? "tags" : "device", NULL, &tf);
        /* A device targeted again is reported and checked only where it
         * was targeted first. */
        size_t keep = 0;
        for (size_t k = 0; k < nsel; k++) {
            size_t m = 0;
            while (m < nseen && seen[m].dev != sel[k])
                m++;
            if (m == nseen) {
                seen[nseen++] = (struct selected){sel[k], i};
                sel[keep++] = sel[k];
                continue;
            }
            failf(&tf, FWUP_E_PARAMS, "device '%s' is also targeted by target %zu", sel[k]->id,
                  seen[m].target);
            problem(problems, i, json_object_get(t, "tags") ? "tags" : "device", sel[k], &tf);
            json_object_set_new(json_array_get(problems, json_array_size(problems) - 1),
                                "first_target", json_integer((json_int_t)seen[m].target));
        }
        nsel = keep;
        if (blob_get(b, json_object_get(t, "image"), "", &bl, &tf) < 0) {
            problem(problems, i, "image", NULL, &tf);
            continue;
        }
        if (sha && strcasecmp(sha, bl->sha) != 0) {
            failf(&tf, FWUP_E_CHECKSUM, "image SHA-256 is %s, the manifest says %s", bl->sha, sha);
            problem(problems, i, "sha256", NULL, &tf);
            continue;
        }
        for (size_t k = 0; k < nsel; k++) {
            if (check_for_device(api, bl, format, json_object_get(t, "address"), sel[k], "", &p[np],
                                 &tf) < 0) {
                problem(problems, i, "image", sel[k], &tf);
                continue;
            }
            p[np++].version = version;
        }
    }
    if (json_array_size(problems)) {
        json_t *first = json_array_get(problems, 0);
        size_t more = json_array_size(problems) - 1;
        const char *dev = json_string_value(json_object_get(first, "device"));
        char also[64] = "";
        if (more)
            snprintf(also, sizeof(also), " (and %zu more problem%s)", more, more > 1 ? "s" : "");
        failf(f, (int)json_integer_value(json_object_get(first, "code")),
              "target %" JSON_INTEGER_FORMAT "%s%s%s: %s%s",
              json_integer_value(json_object_get(first, "target")), dev ? " (device " : "",
              dev ? dev : "", dev ? ")" : "", json_string_value(json_object_get(first, "message")),
              also);
        f->data = json_pack("{s:O}", "errors", problems);
        goto out;
    }
    if (dry && json_is_true(dry)) {
        json_t *plan = json_array();
        for (size_t k = 0; k < np; k++)
            json_array_append_new(plan, json_pack("{s:s s:s sI s:s s:o}", "device", p[k].dev->id,
                                                  "sha256", p[k].blob->sha, "bytes",
                                                  (json_int_t)p[k].total, "version",
                                                  p[k].version ? p[k].version : "", "image",
                                                  image_summary_json(&p[k])));
        result = json_pack("{s:o}", "plan", plan);
        goto out;
    }
    /* A second apply of what is still running would flash every device
     * again; replacing (which cancels the first) or forcing is deliberate. */
    if (batch_targets(name, p, np, twins, f) < 0 ||
        (!force && !replace && refuse_running_twin(api, twins, f) < 0))
        goto out;
    rec.targets = twins;
    rec.ctx = (void *)name;
    int64_t batch;
    json_t *ids = json_array(), *replaced = replace ? json_array() : NULL;
    int rc = commit_jobs(api, name, p, np, &batch, ids, replaced, &rec, f);
    json_decref(replaced);
    if (rc == 0) {
        log_notice("batch %" PRId64 " '%s': %zu job(s) queued", batch, name, np);
        announce(api, ids);
        result = rec.result;
    }
    json_decref(ids);
out:
    json_decref(problems);
    free(seen);
    free(p);
    free(sel);
    return result;
}

static json_t *m_events_subscribe(struct fwup_api *api, json_t *params, struct blobs *b,
                                  struct fail *f);

static const struct method {
    const char *name;
    int writes; /* needs a privileged peer */
    json_t *(*fn)(struct fwup_api *, json_t *, struct blobs *, struct fail *);
} methods[] = {
    {"version", 0, m_version},
    {"devices.list", 0, m_devices_list},
    {"jobs.queue", 1, m_jobs_queue},
    {"jobs.list", 0, m_jobs_list},
    {"jobs.get", 0, m_jobs_get},
    {"jobs.cancel", 1, m_jobs_cancel},
    {"jobs.history", 0, m_jobs_history},
    {"batches.get", 0, m_batches_get},
    {"manifest.apply", 1, m_manifest_apply},
    {"events.subscribe", 0, m_events_subscribe},
};

/* The connection being served, for events.subscribe. */
static struct fwup_conn *current_conn;

static json_t *m_events_subscribe(struct fwup_api *api, json_t *params, struct blobs *b,
                                  struct fail *f)
{
    (void)params, (void)b, (void)f;
    if (!fwup_conn_get_data(current_conn)) {
        struct subscriber *s = calloc(1, sizeof(*s));
        if (!s) {
            failf(f, FWUP_E_INTERNAL, "out of memory");
            return NULL;
        }
        s->conn = current_conn;
        s->next = api->subs;
        api->subs = s;
        fwup_conn_set_data(current_conn, s);
    }
    return json_pack("{s:b}", "subscribed", 1);
}

static void on_request(void *ctx, struct fwup_conn *conn, json_t *id, const char *method,
                       json_t *params, int *fds, size_t nfds)
{
    struct fwup_api *api = ctx;
    struct blobs b = {.fds = fds, .nfds = nfds};
    struct fail f = {0};
    const struct method *m = NULL;
    json_t *result = NULL;

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(methods[i].name, method) == 0)
            m = &methods[i];
    if (!m)
        failf(&f, FWUP_E_NO_METHOD, "unknown method '%s'", method);
    else if (m->writes && !fwup_conn_privileged(conn))
        failf(&f, FWUP_E_DENIED, "permission denied: %s needs root or the socket's group", method);
    else if (api->d->stopping && m->writes)
        failf(&f, FWUP_E_STATE, "the daemon is shutting down");
    else {
        current_conn = conn;
        result = m->fn(api, params, &b, &f);
        current_conn = NULL;
    }
    blobs_free(&b);
    for (size_t i = 0; i < nfds; i++)
        close(fds[i]);
    if (result) {
        json_decref(f.data);
        /* Every reply tells whether the daemon is degraded (absent: not). */
        const char *degraded = fwup_sched_degraded(api->d->sched);
        if (degraded && json_is_object(result))
            json_object_set_new(result, "degraded", json_string(degraded));
        fwup_conn_reply(conn, id, result);
    } else {
        fwup_conn_error(conn, id, f.code ? f.code : FWUP_E_INTERNAL,
                        f.msg[0] ? f.msg : "internal error", f.data);
    }
}

static void on_close(void *ctx, struct fwup_conn *conn)
{
    struct fwup_api *api = ctx;
    struct subscriber *s = fwup_conn_get_data(conn);
    if (!s)
        return;
    for (struct subscriber **p = &api->subs; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    free(s);
}

const struct fwup_server_callbacks fwup_api_server_callbacks = {on_request, on_close};

void fwup_api_job_event(void *ctx, const struct fwup_job *job, const char *type, double rate)
{
    struct fwup_api *api = ctx;
    if (!api->subs)
        return;
    struct fwup_job j = *job;
    json_t *params =
        json_pack("{s:s s:o s:f}", "type", type, "job", job_json(api, &j), "rate", rate);
    /* fwup_conn_notify may drop a slow subscriber, whose on_close unlinks
     * it: walk a snapshot of the next pointers. */
    for (struct subscriber *s = api->subs, *next; s; s = next) {
        next = s->next;
        fwup_conn_notify(s->conn, "event", json_incref(params));
    }
    json_decref(params);
}

struct fwup_api *fwup_api_new(struct fwupd *d)
{
    struct fwup_api *api = calloc(1, sizeof(*api));
    if (api)
        api->d = d;
    return api;
}

void fwup_api_free(struct fwup_api *api)
{
    if (!api)
        return;
    while (api->subs) {
        struct subscriber *s = api->subs;
        api->subs = s->next;
        free(s);
    }
    free(api);
}
