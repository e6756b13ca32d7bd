/*
 * The socket API's methods (daemon/api/api.c) called directly: each request
 * goes in through the server's on_request callback on a connection this
 * test stands in for (server.c's fwup_conn_* are defined here and record
 * the replies and events), against a real config, a real SQLite store
 * file, real plugins and the real scheduler with fake runs (vcore.h), on a
 * virtual clock. Refusals are checked to leave the store as it was.
 */
#include <check.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "blobstore.h"
#include "defaults.h"
#include "fwupgw/sockapi.h"
#include "vcore.h"

/* --- the connection: replies and events recorded ----------------------- */

struct fwup_conn {
    int privileged;
    json_t *replies; /* {"id", "result"} or {"id", "error": {"code", "message", "data"}} */
    json_t *events;  /* the params of each "event" notification */
    void *data;
};

int fwup_conn_privileged(const struct fwup_conn *conn)
{
    return conn->privileged;
}

void fwup_conn_reply(struct fwup_conn *conn, json_t *id, json_t *result)
{
    json_array_append_new(conn->replies, json_pack("{s:O s:o}", "id", id, "result", result));
}

void fwup_conn_error(struct fwup_conn *conn, json_t *id, int code, const char *message,
                     json_t *data)
{
    json_t *e = json_pack("{s:i s:s}", "code", code, "message", message);
    if (data)
        json_object_set_new(e, "data", data);
    json_array_append_new(conn->replies, json_pack("{s:O s:o}", "id", id, "error", e));
}

int fwup_conn_notify(struct fwup_conn *conn, const char *method, json_t *params)
{
    ck_assert_str_eq(method, "event");
    json_array_append_new(conn->events, params);
    return 0;
}

void fwup_conn_set_data(struct fwup_conn *conn, void *data)
{
    conn->data = data;
}

void *fwup_conn_get_data(const struct fwup_conn *conn)
{
    return conn->data;
}

/* --- the daemon -------------------------------------------------------- */

static struct fwup_api *api;
static struct fwup_conn admin, guest, sub; /* sub: a privileged subscriber */
static char b64[512];                      /* the image every job flashes, base64 */
static char sha[65];

#define ID64 "d-123456789-123456789-123456789-123456789-123456789-123456789012"

static const char *config_fmt =
    "daemon:\n"
    "  state_dir: %s/state\n"
    "  max_concurrent_jobs: 4\n"
    "  max_attempts: 3\n"
    "  retry_backoff: {initial: 1s, max: 5s}\n"
    "links:\n"
    "  - {name: tty0, type: serial, path: %s/ttyA}\n"
    "  - {name: tty1, type: serial, path: %s/ttyB}\n"
    "  - {name: tty2, type: serial, path: %s/ttyC}\n"
    "  - {name: tty3, type: serial, path: %s/ttyD}\n"
    "devices:\n"
    "  - {id: d1, link: tty0, protocol: test, tags: [line], flash: {base: 0x08000000, size: 64K}}\n"
    "  - {id: d2, link: tty1, protocol: test, tags: [line], flash: {base: 0x08000000, size: 64K}}\n"
    "  - {id: d3, link: tty0, protocol: test, flash: {base: 0x08000000, size: 64K},"
    " max_attempts: 7}\n"
    "  - {id: " ID64 ", link: tty2, protocol: test, flash: {base: 0x08000000, size: 64K}}\n"
    "  - {id: d5, link: tty3, protocol: test, flash: {base: 0x08000000, size: 64K}}\n";

static void conn_init(struct fwup_conn *c, int privileged)
{
    *c = (struct fwup_conn){privileged, json_array(), json_array(), NULL};
}

static void setup(void)
{
    vc_mkdir();
    ck_assert_int_ge(sodium_init(), 0);
    uint8_t img[256];
    for (size_t i = 0; i < sizeof(img); i++)
        img[i] = (uint8_t)(i * 7);
    sodium_bin2base64(b64, sizeof(b64), img, sizeof(img), sodium_base64_VARIANT_ORIGINAL);
    fwup_sha256_hex(img, sizeof(img), sha);
    for (const char *p = "ABCD"; *p; p++) {
        char name[8];
        snprintf(name, sizeof(name), "tty%c", *p);
        vc_write_file(name, "", 0);
    }
    char *text = NULL;
    ck_assert_int_ge(asprintf(&text, config_fmt, vc_dir, vc_dir, vc_dir, vc_dir, vc_dir), 0);
    api = fwup_api_new(&vc_d); /* keeps &vc_d, which vc_start fills */
    ck_assert_ptr_nonnull(api);
    vc_start(text, SCHED_PLUGIN_DIR, fwup_api_job_event, api);
    free(text);
    vc_d.api = api;
    conn_init(&admin, 1);
    conn_init(&guest, 0);
    conn_init(&sub, 1);
}

static void teardown(void)
{
    /* Runs still going are stopped as by a daemon shutdown. */
    vc_stop();
    fwup_api_free(api);
    for (struct fwup_conn *c = &admin; c; c = c == &admin ? &guest : c == &guest ? &sub : NULL) {
        json_decref(c->replies);
        json_decref(c->events);
    }
}

/* --- requests ---------------------------------------------------------- */

/* Sends a request (params stolen) and returns its one reply (borrowed,
 * kept until teardown). */
static json_t *call(struct fwup_conn *c, const char *method, json_t *params)
{
    static json_int_t next_id;
    json_t *id = json_integer(++next_id);
    size_t before = json_array_size(c->replies);
    if (!params)
        params = json_object(); /* as the server passes a request without */
    fwup_api_server_callbacks.on_request(api, c, id, method, params, NULL, 0);
    json_decref(params);
    ck_assert_uint_eq(json_array_size(c->replies), before + 1);
    json_t *reply = json_array_get(c->replies, before);
    ck_assert(json_equal(json_object_get(reply, "id"), id));
    json_decref(id);
    return reply;
}

/* The result of a request that must succeed. */
static json_t *ok(struct fwup_conn *c, const char *method, json_t *params)
{
    json_t *reply = call(c, method, params);
    json_t *err = json_object_get(reply, "error");
    ck_assert_msg(err == NULL, "%s failed: %s", method,
                  json_string_value(json_object_get(err, "message")));
    return json_object_get(reply, "result");
}

/* The message of a request that must fail with code. */
static const char *refused(struct fwup_conn *c, const char *method, json_t *params, int code)
{
    json_t *reply = call(c, method, params);
    json_t *err = json_object_get(reply, "error");
    ck_assert_msg(err != NULL, "%s succeeded", method);
    const char *msg = json_string_value(json_object_get(err, "message"));
    ck_assert_msg(json_integer_value(json_object_get(err, "code")) == code,
                  "%s: code %" JSON_INTEGER_FORMAT " (%s), not %d", method,
                  json_integer_value(json_object_get(err, "code")), msg, code);
    return msg;
}

/* jobs.queue's parameters for the test image on device. */
static json_t *queue_params(const char *device)
{
    return json_pack("{s:s s:{s:s} s:s}", "device", device, "image", "data", b64, "format", "bin");
}

/* The same with one more parameter (value stolen). */
static json_t *queue_with(const char *device, const char *key, json_t *value)
{
    json_t *p = queue_params(device);
    json_object_set_new(p, key, value);
    return p;
}

static int64_t queue_ok(json_t *params)
{
    json_t *job = json_object_get(ok(&admin, "jobs.queue", params), "job");
    ck_assert_str_eq(json_string_value(json_object_get(job, "state")), "queued");
    return json_integer_value(json_object_get(job, "id"));
}

static json_t *get(int64_t id)
{
    return json_object_get(ok(&guest, "jobs.get", json_pack("{s:I}", "job", (json_int_t)id)),
                           "job");
}

static json_int_t field(int64_t id, const char *name)
{
    json_t *v = json_object_get(get(id), name);
    ck_assert_msg(json_is_integer(v), "job %" PRId64 ": '%s' is not an integer", id, name);
    return json_integer_value(v);
}

static const char *state(int64_t id)
{
    return json_string_value(json_object_get(get(id), "state"));
}

static size_t njobs(void)
{
    return json_array_size(json_object_get(ok(&guest, "jobs.list", NULL), "jobs"));
}

/* --- jobs.queue parameters --------------------------------------------- */

START_TEST(test_queue_max_attempts)
{
    /* 0 or absent: the device's own, else the daemon's. */
    ck_assert_int_eq(
        field(queue_ok(queue_with("d3", "max_attempts", json_integer(0))), "max_attempts"), 7);
    ck_assert_int_eq(field(queue_ok(queue_params("d1")), "max_attempts"), 3);
    ck_assert_int_eq(
        field(queue_ok(queue_with("d2", "max_attempts", json_integer(1))), "max_attempts"), 1);
    ck_assert_int_eq(
        field(queue_ok(queue_with("d2", "max_attempts", json_integer(FWUP_MAX_ATTEMPTS_MAX))),
              "max_attempts"),
        100);
    ck_assert_uint_eq(njobs(), 4);
    const char *msg = refused(&admin, "jobs.queue",
                              queue_with("d2", "max_attempts", json_integer(101)), FWUP_E_PARAMS);
    ck_assert_str_eq(msg, "'max_attempts' must be 1..100 (0: the default)");
    refused(&admin, "jobs.queue", queue_with("d2", "max_attempts", json_integer(-1)),
            FWUP_E_PARAMS);
    msg = refused(&admin, "jobs.queue", queue_with("d2", "max_attempts", json_string("3")),
                  FWUP_E_PARAMS);
    ck_assert_str_eq(msg, "parameter 'max_attempts' must be an integer");
    ck_assert_uint_eq(njobs(), 4);
}
END_TEST

START_TEST(test_queue_device_ids)
{
    /* 64 characters is the longest id: kept whole. */
    ck_assert_uint_eq(strlen(ID64), FWUP_ID_MAX);
    int64_t id = queue_ok(queue_params(ID64));
    ck_assert_str_eq(json_string_value(json_object_get(get(id), "device")), ID64);
    ck_assert_str_eq(vc_job(id).device, ID64);
    /* One more, or one less, is another device: none. */
    const char *msg = refused(&admin, "jobs.queue", queue_params(ID64 "1"), FWUP_E_NOT_FOUND);
    ck_assert_str_eq(msg, "no device '" ID64 "1' in the configuration");
    char shorter[] = ID64;
    shorter[FWUP_ID_MAX - 1] = 0;
    refused(&admin, "jobs.queue", queue_params(shorter), FWUP_E_NOT_FOUND);
    msg = refused(&admin, "jobs.queue", queue_params("nope"), FWUP_E_NOT_FOUND);
    ck_assert_str_eq(msg, "no device 'nope' in the configuration");
    msg =
        refused(&admin, "jobs.queue", json_pack("{s:{s:s}}", "image", "data", b64), FWUP_E_PARAMS);
    ck_assert_str_eq(msg, "missing parameter 'device'");
    refused(&admin, "jobs.queue", queue_with("d1", "device", json_integer(1)), FWUP_E_PARAMS);
    ck_assert_uint_eq(njobs(), 1);
}
END_TEST

START_TEST(test_queue_formats)
{
    const char *msg = refused(&admin, "jobs.queue", queue_with("d1", "format", json_string("hexx")),
                              FWUP_E_PARAMS);
    ck_assert_str_eq(msg, "unknown image format 'hexx'");
    msg = refused(&admin, "jobs.queue", queue_with("d1", "format", json_integer(1)), FWUP_E_PARAMS);
    ck_assert_str_eq(msg, "parameter 'format' must be a string");
    /* A format the bytes are not: the parser's reason. */
    refused(&admin, "jobs.queue", queue_with("d1", "format", json_string("ihex")), FWUP_E_IMAGE);
    /* An image that does not fit the flash. */
    refused(&admin, "jobs.queue", queue_with("d1", "address", json_integer(0x0800FF80)),
            FWUP_E_IMAGE);
    refused(&admin, "jobs.queue", queue_with("d1", "image", json_pack("{s:s}", "data", "!!")),
            FWUP_E_PARAMS);
    refused(&admin, "jobs.queue",
            queue_with("d1", "sha256",
                       json_string("00000000000000000000000000000000000000000000"
                                   "00000000000000000000")),
            FWUP_E_CHECKSUM);
    ck_assert_uint_eq(njobs(), 0);
    /* Exactly at the end of the flash fits. */
    json_t *res = ok(&admin, "jobs.queue", queue_with("d1", "address", json_integer(0x0800FF00)));
    json_t *image = json_object_get(res, "image");
    ck_assert_str_eq(json_string_value(json_object_get(image, "format")), "bin");
    ck_assert_int_eq(json_integer_value(json_object_get(image, "address_first")), 0x0800FF00);
    ck_assert_int_eq(json_integer_value(json_object_get(image, "address_last")), 0x0800FFFF);
    ck_assert_int_eq(json_integer_value(json_object_get(image, "bytes")), 256);
    json_t *job_image = json_object_get(json_object_get(res, "job"), "image");
    ck_assert_str_eq(json_string_value(json_object_get(job_image, "format")), "bin");
    ck_assert_str_eq(json_string_value(json_object_get(job_image, "sha256")), sha);
    ck_assert_int_eq(json_integer_value(json_object_get(job_image, "size")), 256);
}
END_TEST

START_TEST(test_boolean_params)
{
    json_t *not_bools[] = {json_string("true"), json_integer(1), json_integer(0), json_null()};
    for (size_t i = 0; i < sizeof(not_bools) / sizeof(not_bools[0]); i++) {
        const char *msg =
            refused(&admin, "jobs.queue", queue_with("d1", "replace", json_incref(not_bools[i])),
                    FWUP_E_PARAMS);
        ck_assert_str_eq(msg, "parameter 'replace' must be a boolean");
        for (const char *const *k = (const char *const[]){"dry_run", "replace", "force", NULL}; *k;
             k++) {
            json_t *p = json_pack("{s:[{s:s s:{s:s} s:s s:s}]}", "targets", "device", "d1", "image",
                                  "data", b64, "format", "bin", "sha256", sha);
            json_object_set(p, *k, not_bools[i]);
            char want[64];
            snprintf(want, sizeof(want), "parameter '%s' must be a boolean", *k);
            ck_assert_str_eq(refused(&admin, "manifest.apply", p, FWUP_E_PARAMS), want);
        }
        json_decref(not_bools[i]);
    }
    ck_assert_uint_eq(njobs(), 0);
    /* Booleans are taken, either way. */
    int64_t a = queue_ok(queue_with("d1", "replace", json_false()));
    int64_t b = queue_ok(queue_with("d1", "replace", json_true()));
    ck_assert_str_eq(state(a), "cancelled");
    ck_assert_str_eq(state(b), "queued");
}
END_TEST

START_TEST(test_writes_need_privilege)
{
    const char *msg = refused(&guest, "jobs.queue", queue_params("d1"), FWUP_E_DENIED);
    ck_assert_str_eq(msg, "permission denied: jobs.queue needs root or the socket's group");
    int64_t id = queue_ok(queue_params("d1"));
    refused(&guest, "jobs.cancel", json_pack("{s:I}", "job", (json_int_t)id), FWUP_E_DENIED);
    ck_assert_str_eq(state(id), "queued");
    refused(&guest, "nope.nope", NULL, FWUP_E_NO_METHOD);
}
END_TEST

/* --- idempotency keys -------------------------------------------------- */

START_TEST(test_idempotency_keys)
{
    json_t *first =
        ok(&admin, "jobs.queue", queue_with("d1", "idempotency_key", json_string("k1")));
    json_int_t id = json_integer_value(json_object_get(json_object_get(first, "job"), "id"));
    ck_assert_ptr_null(json_object_get(first, "replayed"));
    /* The same request again: the first one's result, nothing queued. */
    vc_wall += 1000;
    json_t *again =
        ok(&admin, "jobs.queue", queue_with("d1", "idempotency_key", json_string("k1")));
    ck_assert(json_is_true(json_object_get(again, "replayed")));
    ck_assert(json_equal(json_object_get(again, "job"), json_object_get(first, "job")));
    ck_assert_uint_eq(njobs(), 1);
    /* Other parameters, or another method, under the same key: refused. */
    json_t *p = queue_with("d1", "idempotency_key", json_string("k1"));
    json_object_set_new(p, "version", json_string("2"));
    const char *msg = refused(&admin, "jobs.queue", p, FWUP_E_PARAMS);
    char want[300];
    snprintf(want, sizeof(want),
             "idempotency key 'k1' was used by an earlier jobs.queue request with other "
             "parameters (it queued job %" JSON_INTEGER_FORMAT
             "); nothing was done: send a new key for a new request",
             id);
    ck_assert_str_eq(msg, want);
    refused(&admin, "jobs.queue", queue_with("d2", "idempotency_key", json_string("k1")),
            FWUP_E_PARAMS);
    p = json_pack("{s:s s:[{s:s s:{s:s} s:s s:s}]}", "idempotency_key", "k1", "targets", "device",
                  "d1", "image", "data", b64, "format", "bin", "sha256", sha);
    refused(&admin, "manifest.apply", p, FWUP_E_PARAMS);
    /* Even with the very same parameters. */
    refused(&admin, "manifest.apply", queue_with("d1", "idempotency_key", json_string("k1")),
            FWUP_E_PARAMS);
    ck_assert_uint_eq(njobs(), 1);
    /* Another key is another request. */
    queue_ok(queue_with("d1", "idempotency_key", json_string("k2")));
    ck_assert_uint_eq(njobs(), 2);
    /* Key lengths: 1 to 128 bytes. */
    char key[FWUP_STORE_KEY_MAX + 2];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = 0;
    msg = refused(&admin, "jobs.queue", queue_with("d1", "idempotency_key", json_string(key)),
                  FWUP_E_PARAMS);
    ck_assert_str_eq(msg, "'idempotency_key' must be 1 to 128 bytes long");
    refused(&admin, "jobs.queue", queue_with("d1", "idempotency_key", json_string("")),
            FWUP_E_PARAMS);
    key[FWUP_STORE_KEY_MAX] = 0;
    queue_ok(queue_with("d1", "idempotency_key", json_string(key)));
    ck_assert_uint_eq(njobs(), 3);
    /* A key is kept 24 hours from its first use, to the millisecond. */
    vc_wall = VC_T0 + 24 * 3600 * 1000LL;
    again = ok(&admin, "jobs.queue", queue_with("d1", "idempotency_key", json_string("k1")));
    ck_assert(json_is_true(json_object_get(again, "replayed")));
    vc_wall++;
    json_t *fresh =
        ok(&admin, "jobs.queue", queue_with("d1", "idempotency_key", json_string("k1")));
    ck_assert_ptr_null(json_object_get(fresh, "replayed"));
    ck_assert_int_ne(json_integer_value(json_object_get(json_object_get(fresh, "job"), "id")), id);
    ck_assert_uint_eq(njobs(), 4);
}
END_TEST

START_TEST(test_idempotent_apply)
{
    json_t *p = json_pack("{s:s s:s s:[{s:[s] s:{s:s} s:s s:s}]}", "idempotency_key", "m1", "name",
                          "roll-out", "targets", "tags", "line", "image", "data", b64, "format",
                          "bin", "sha256", sha);
    json_t *first = ok(&admin, "manifest.apply", json_deep_copy(p));
    json_t *again = ok(&admin, "manifest.apply", p);
    ck_assert(json_is_true(json_object_get(again, "replayed")));
    ck_assert(json_equal(json_object_get(again, "batch"), json_object_get(first, "batch")));
    ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(first, "batch"), "jobs")), 2);
    ck_assert_uint_eq(njobs(), 2);
    /* Without the key, its running twin refuses it. */
    p = json_pack("{s:s s:[{s:[s] s:{s:s} s:s s:s}]}", "name", "roll-out", "targets", "tags",
                  "line", "image", "data", b64, "format", "bin", "sha256", sha);
    refused(&admin, "manifest.apply", p, FWUP_E_STATE);
    ck_assert_uint_eq(njobs(), 2);
}
END_TEST

/* --- jobs.cancel ------------------------------------------------------- */

START_TEST(test_cancel_queued)
{
    int64_t id = queue_ok(queue_params("d1"));
    vc_wall += 250;
    json_t *job = json_object_get(
        ok(&admin, "jobs.cancel", json_pack("{s:I}", "job", (json_int_t)id)), "job");
    ck_assert_str_eq(json_string_value(json_object_get(job, "state")), "cancelled");
    ck_assert_int_eq(json_integer_value(json_object_get(job, "finished")), vc_wall);
    ck_assert_int_eq(json_integer_value(json_object_get(job, "started")), 0);
    /* It never runs. */
    vc_step();
    ck_idle("d1");
    ck_assert_str_eq(state(id), "cancelled");
    const char *msg =
        refused(&admin, "jobs.cancel", json_pack("{s:I}", "job", (json_int_t)id), FWUP_E_STATE);
    char want[64];
    snprintf(want, sizeof(want), "job %" PRId64 " is already cancelled", id);
    ck_assert_str_eq(msg, want);
}
END_TEST

START_TEST(test_cancel_running)
{
    int64_t id = queue_ok(queue_params("d1"));
    vc_step();
    ck_running("d1");
    vc_wall += 300;
    json_t *job = json_object_get(
        ok(&admin, "jobs.cancel", json_pack("{s:I}", "job", (json_int_t)id)), "job");
    /* Still running until its protocol has stopped. */
    ck_assert_str_eq(json_string_value(json_object_get(job, "state")), "running");
    ck_assert(json_is_true(json_object_get(job, "cancel_requested")));
    ck_assert(vc_run_of("d1")->cancelled);
    ck_assert_int_eq(json_integer_value(json_object_get(job, "finished")), 0);
    vc_wall += 40;
    vc_finish("d1", FWUP_RESULT_CANCELLED, "aborted");
    ck_assert_str_eq(state(id), "cancelled");
    ck_assert_int_eq(field(id, "finished"), vc_wall);
    ck_assert_int_eq(field(id, "attempt"), 1);
}
END_TEST

START_TEST(test_cancel_finished_and_unknown)
{
    int64_t id = queue_ok(queue_params("d1"));
    vc_step();
    vc_finish("d1", FWUP_RESULT_OK, NULL);
    ck_assert_str_eq(state(id), "succeeded");
    int64_t updated = field(id, "updated");
    vc_wall += 1000;
    const char *msg =
        refused(&admin, "jobs.cancel", json_pack("{s:I}", "job", (json_int_t)id), FWUP_E_STATE);
    char want[64];
    snprintf(want, sizeof(want), "job %" PRId64 " is already succeeded", id);
    ck_assert_str_eq(msg, want);
    /* Nothing changed. */
    ck_assert_str_eq(state(id), "succeeded");
    ck_assert_int_eq(field(id, "updated"), updated);
    ck_assert(json_is_false(json_object_get(get(id), "cancel_requested")));
    msg = refused(&admin, "jobs.cancel", json_pack("{s:I}", "job", (json_int_t)id + 1),
                  FWUP_E_NOT_FOUND);
    snprintf(want, sizeof(want), "no job %" PRId64, id + 1);
    ck_assert_str_eq(msg, want);
    refused(&admin, "jobs.cancel", json_pack("{s:s}", "job", "1"), FWUP_E_PARAMS);
    refused(&admin, "jobs.cancel", NULL, FWUP_E_PARAMS);
}
END_TEST

/* --- jobs.get ---------------------------------------------------------- */

START_TEST(test_get_times_are_the_clocks)
{
    vc_wall = VC_T0 + 1000;
    int64_t id = queue_ok(queue_params("d1"));
    json_t *j = get(id);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "created")), VC_T0 + 1000);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "updated")), VC_T0 + 1000);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "started")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "finished")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "not_before")), 0);

    vc_wall = VC_T0 + 2500;
    vc_step();
    j = get(id);
    ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "running");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "started")), VC_T0 + 2500);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "updated")), VC_T0 + 2500);

    /* A failed attempt: back-off from the moment it failed. */
    vc_wall = VC_T0 + 4000;
    vc_finish("d1", FWUP_RESULT_TRANSIENT, "no answer");
    j = get(id);
    ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "queued");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "not_before")), VC_T0 + 5000);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "updated")), VC_T0 + 4000);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "finished")), 0);

    vc_wall = VC_T0 + 5000;
    vc_step();
    ck_assert_int_eq(field(id, "started"), VC_T0 + 5000);
    vc_wall = VC_T0 + 7250;
    vc_finish("d1", FWUP_RESULT_OK, NULL);
    j = get(id);
    ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "succeeded");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "created")), VC_T0 + 1000);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "started")), VC_T0 + 5000);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "finished")), VC_T0 + 7250);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "updated")), VC_T0 + 7250);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "attempt")), 2);

    /* The history has the same times, newest first. */
    json_t *evs = json_object_get(
        ok(&guest, "jobs.history", json_pack("{s:I}", "job", (json_int_t)id)), "events");
    static const struct {
        const char *kind;
        int64_t ts;
    } want[] = {{"succeeded", 7250},
                {"started", 5000},
                {"retry", 4000},
                {"started", 2500},
                {"queued", 1000}};
    ck_assert_uint_eq(json_array_size(evs), sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        json_t *e = json_array_get(evs, i);
        ck_assert_str_eq(json_string_value(json_object_get(e, "kind")), want[i].kind);
        ck_assert_int_eq(json_integer_value(json_object_get(e, "ts")), VC_T0 + want[i].ts);
    }
    refused(&guest, "jobs.get", json_pack("{s:I}", "job", (json_int_t)id + 1), FWUP_E_NOT_FOUND);
}
END_TEST

START_TEST(test_get_waiting)
{
    int64_t a = queue_ok(queue_params("d1")), b = queue_ok(queue_params("d3")),
            c = queue_ok(queue_params("d1"));
    vc_step();
    ck_running("d1");
    /* d3 shares d1's port; d1's second job waits for its first. */
    json_t *j = get(b);
    char want[300];
    snprintf(want, sizeof(want), "port %s/ttyA: in use by job %" PRId64, vc_dir, a);
    ck_assert_str_eq(json_string_value(json_object_get(j, "waiting")), want);
    ck_assert(json_is_null(json_object_get(j, "waiting_for")));
    j = get(c);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "waiting_for")), a);
    ck_assert(json_is_null(json_object_get(get(a), "waiting")));
    ck_assert(json_is_null(json_object_get(get(a), "waiting_for")));
    vc_finish("d1", FWUP_RESULT_OK, NULL);
    ck_running("d3");
    ck_assert(json_is_null(json_object_get(get(b), "waiting")));
}
END_TEST

/* --- batches ----------------------------------------------------------- */

/* A batch of one target per device (NULL-terminated), its id. */
static int64_t apply(const char *name, const char *const *devices)
{
    json_t *targets = json_array();
    for (; *devices; devices++)
        json_array_append_new(targets,
                              json_pack("{s:s s:{s:s} s:s s:s}", "device", *devices, "image",
                                        "data", b64, "format", "bin", "sha256", sha));
    json_t *res =
        ok(&admin, "manifest.apply", json_pack("{s:s s:o}", "name", name, "targets", targets));
    return json_integer_value(json_object_get(json_object_get(res, "batch"), "id"));
}

static json_t *batch(int64_t id)
{
    return json_object_get(ok(&guest, "batches.get", json_pack("{s:I}", "batch", (json_int_t)id)),
                           "batch");
}

/* The id of the batch's job i, oldest first. */
static json_int_t batch_job(int64_t id, size_t i)
{
    json_t *j = json_array_get(json_object_get(batch(id), "jobs"), i);
    return json_integer_value(json_object_get(j, "id"));
}

static const char *batch_state(int64_t id)
{
    return json_string_value(json_object_get(batch(id), "state"));
}

static int count(int64_t id, const char *state)
{
    return (int)json_integer_value(json_object_get(json_object_get(batch(id), "counts"), state));
}

START_TEST(test_batch_all_succeeded)
{
    vc_wall = VC_T0 + 10;
    int64_t b = apply("all", (const char *const[]){"d1", "d2", "d5", NULL});
    ck_assert_str_eq(batch_state(b), "running");
    ck_assert_int_eq(count(b, "queued"), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(batch(b), "created")), VC_T0 + 10);
    ck_assert_str_eq(json_string_value(json_object_get(batch(b), "name")), "all");
    vc_step();
    ck_assert_int_eq(count(b, "running"), 3);
    vc_finish("d1", FWUP_RESULT_OK, NULL);
    vc_finish("d2", FWUP_RESULT_OK, NULL);
    ck_assert_str_eq(batch_state(b), "running");
    vc_finish("d5", FWUP_RESULT_OK, NULL);
    ck_assert_str_eq(batch_state(b), "succeeded");
    ck_assert_int_eq(count(b, "succeeded"), 3);
    /* Its jobs, oldest first. */
    json_t *jobs = json_object_get(batch(b), "jobs");
    ck_assert_uint_eq(json_array_size(jobs), 3);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(jobs, 0), "device")), "d1");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(jobs, 2), "device")), "d5");
    refused(&guest, "batches.get", json_pack("{s:I}", "batch", (json_int_t)b + 1),
            FWUP_E_NOT_FOUND);
}
END_TEST

START_TEST(test_batch_one_failed)
{
    int64_t b = apply("one-fails", (const char *const[]){"d1", "d2", NULL});
    vc_step();
    vc_finish("d1", FWUP_RESULT_PERMANENT, "refused");
    /* Not over while the other runs. */
    ck_assert_str_eq(batch_state(b), "running");
    vc_finish("d2", FWUP_RESULT_OK, NULL);
    ck_assert_str_eq(batch_state(b), "failed");
    ck_assert_int_eq(count(b, "failed"), 1);
    ck_assert_int_eq(count(b, "succeeded"), 1);
}
END_TEST

START_TEST(test_batch_only_job_cancelled)
{
    int64_t b = apply("cancelled", (const char *const[]){"d1", NULL});
    ok(&admin, "jobs.cancel", json_pack("{s:I}", "job", batch_job(b, 0)));
    ck_assert_int_eq(count(b, "cancelled"), 1);
    ck_assert_int_eq(count(b, "succeeded"), 0);
    ck_assert_str_eq(batch_state(b), "failed");
}
END_TEST

START_TEST(test_batch_mixed)
{
    int64_t b = apply("mixed", (const char *const[]){"d1", "d2", "d5", ID64, NULL});
    vc_step();
    ok(&admin, "jobs.cancel", json_pack("{s:I}", "job", batch_job(b, 3)));
    vc_finish(ID64, FWUP_RESULT_CANCELLED, "aborted");
    vc_finish("d1", FWUP_RESULT_OK, NULL);
    vc_finish("d2", FWUP_RESULT_TRANSIENT, "no answer");
    /* Queued for a retry, running, succeeded, cancelled: running. */
    ck_assert_int_eq(count(b, "queued"), 1);
    ck_assert_int_eq(count(b, "running"), 1);
    ck_assert_int_eq(count(b, "succeeded"), 1);
    ck_assert_int_eq(count(b, "cancelled"), 1);
    ck_assert_str_eq(batch_state(b), "running");
    vc_finish("d5", FWUP_RESULT_OK, NULL);
    vc_wall += 1000;
    vc_step();
    vc_finish("d2", FWUP_RESULT_OK, NULL);
    ck_assert_int_eq(count(b, "succeeded"), 3);
    ck_assert_str_eq(batch_state(b), "failed");
}
END_TEST

START_TEST(test_apply_inline_images)
{
    /* Several images sent inline: each target keeps its own. */
    uint8_t other[100];
    char other_b64[200], other_sha[65];
    memset(other, 0x5A, sizeof(other));
    sodium_bin2base64(other_b64, sizeof(other_b64), other, sizeof(other),
                      sodium_base64_VARIANT_ORIGINAL);
    fwup_sha256_hex(other, sizeof(other), other_sha);
    static const char *const devices[] = {"d1", "d2", "d5"};
    json_t *targets = json_array();
    for (size_t i = 0; i < 3; i++)
        json_array_append_new(targets,
                              json_pack("{s:s s:{s:s} s:s s:s}", "device", devices[i], "image",
                                        "data", i == 1 ? other_b64 : b64, "format", "bin", "sha256",
                                        i == 1 ? other_sha : sha));
    json_t *res = ok(&admin, "manifest.apply", json_pack("{s:o}", "targets", targets));
    int64_t b = json_integer_value(json_object_get(json_object_get(res, "batch"), "id"));
    json_t *jobs = json_object_get(batch(b), "jobs");
    ck_assert_uint_eq(json_array_size(jobs), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *image = json_object_get(json_array_get(jobs, i), "image");
        ck_assert_str_eq(json_string_value(json_object_get(image, "sha256")),
                         i == 1 ? other_sha : sha);
        ck_assert_int_eq(json_integer_value(json_object_get(image, "size")), i == 1 ? 100 : 256);
    }
}
END_TEST

/* --- events ------------------------------------------------------------ */

/* Event i: its type, the job's id and state. */
static void ck_event(size_t i, const char *type, int64_t job, const char *st)
{
    json_t *e = json_array_get(sub.events, i);
    ck_assert_msg(e != NULL, "no event %zu", i);
    json_t *j = json_object_get(e, "job");
    ck_assert_str_eq(json_string_value(json_object_get(e, "type")), type);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "id")), job);
    ck_assert_str_eq(json_string_value(json_object_get(j, "state")), st);
}

START_TEST(test_events_in_order)
{
    ck_assert(json_is_true(json_object_get(ok(&sub, "events.subscribe", NULL), "subscribed")));
    /* Subscribing twice still sends each event once. */
    ok(&sub, "events.subscribe", NULL);
    int64_t a = queue_ok(queue_params("d1"));
    int64_t b = queue_ok(queue_params("d2"));
    ck_assert_uint_eq(json_array_size(sub.events), 2);
    ck_event(0, "state", a, "queued");
    ck_event(1, "state", b, "queued");
    vc_step();
    ck_assert_uint_eq(json_array_size(sub.events), 4);
    ck_event(2, "state", a, "running");
    ck_event(3, "state", b, "running");

    /* A phase change is a state event; bytes within a phase are progress
     * events, at most one per 100 ms. */
    struct fwup_run *r = vc_run_of("d1");
    r->p.on_progress(r->p.ctx, "transfer", 0, 256);
    vc_wall += 99;
    r->p.on_progress(r->p.ctx, "transfer", 128, 256);
    vc_wall += 1;
    r->p.on_progress(r->p.ctx, "transfer", 256, 256);
    ck_assert_uint_eq(json_array_size(sub.events), 6);
    ck_event(4, "state", a, "running");
    ck_event(5, "progress", a, "running");
    json_t *j = json_object_get(json_array_get(sub.events, 5), "job");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "bytes_done")), 256);
    ck_assert_str_eq(json_string_value(json_object_get(j, "phase")), "transfer");

    vc_finish("d2", FWUP_RESULT_PERMANENT, "refused");
    ok(&admin, "jobs.cancel", json_pack("{s:I}", "job", (json_int_t)a));
    vc_finish("d1", FWUP_RESULT_CANCELLED, "aborted");
    ck_assert_uint_eq(json_array_size(sub.events), 9);
    ck_event(6, "state", b, "failed");
    ck_event(7, "state", a, "running"); /* cancel requested */
    ck_assert(json_is_true(json_object_get(json_object_get(json_array_get(sub.events, 7), "job"),
                                           "cancel_requested")));
    ck_event(8, "state", a, "cancelled");
    /* Times never go back. */
    for (size_t i = 1; i < json_array_size(sub.events); i++)
        ck_assert_int_le(json_integer_value(json_object_get(
                             json_object_get(json_array_get(sub.events, i - 1), "job"), "updated")),
                         json_integer_value(json_object_get(
                             json_object_get(json_array_get(sub.events, i), "job"), "updated")));
    /* Only the subscriber got them; once gone, it gets no more. */
    ck_assert_uint_eq(json_array_size(admin.events), 0);
    fwup_api_server_callbacks.on_close(api, &sub);
    queue_ok(queue_params("d1"));
    ck_assert_uint_eq(json_array_size(sub.events), 9);
}
END_TEST

/* The waiting reason of the job in event i ("" for null). */
static const char *event_waiting(size_t i)
{
    json_t *w = json_object_get(json_object_get(json_array_get(sub.events, i), "job"), "waiting");
    return json_is_string(w) ? json_string_value(w) : "";
}

START_TEST(test_events_on_waiting)
{
    ok(&sub, "events.subscribe", NULL);
    int64_t a = queue_ok(queue_params("d1")), b = queue_ok(queue_params("d3"));
    vc_step();
    /* d3 shares d1's port: its job says so once the scheduler has looked. */
    ck_assert_uint_eq(json_array_size(sub.events), 4);
    ck_event(0, "state", a, "queued");
    ck_event(1, "state", b, "queued");
    ck_assert_str_eq(event_waiting(1), "");
    ck_event(2, "state", a, "running");
    ck_event(3, "state", b, "queued");
    char want[300];
    snprintf(want, sizeof(want), "port %s/ttyA: in use by job %" PRId64, vc_dir, a);
    ck_assert_str_eq(event_waiting(3), want);
    /* The same reason at the next look: nothing new. */
    vc_step();
    ck_assert_uint_eq(json_array_size(sub.events), 4);
    /* d1's run ends: b starts, and no more is said of its reason. */
    vc_finish("d1", FWUP_RESULT_OK, NULL);
    ck_assert_uint_eq(json_array_size(sub.events), 6);
    ck_event(4, "state", a, "succeeded");
    ck_event(5, "state", b, "running");

    /* Now d1 waits for d3's run. The others then fill max_concurrent_jobs
     * (4), after which the scheduler looks no further: the reason is gone
     * while the job stays queued. */
    int64_t c = queue_ok(queue_params("d1"));
    vc_step();
    ck_assert_uint_eq(json_array_size(sub.events), 8);
    ck_event(7, "state", c, "queued");
    snprintf(want, sizeof(want), "port %s/ttyA: in use by job %" PRId64, vc_dir, b);
    ck_assert_str_eq(event_waiting(7), want);
    queue_ok(queue_params("d2"));
    queue_ok(queue_params("d5"));
    queue_ok(queue_params(ID64));
    vc_step();
    ck_assert_uint_eq(vc_nruns(), 4);
    ck_assert_uint_eq(json_array_size(sub.events), 14);
    vc_step();
    ck_assert_uint_eq(json_array_size(sub.events), 15);
    ck_event(14, "state", c, "queued");
    ck_assert_str_eq(event_waiting(14), "");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("methods");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_queue_max_attempts);
    tcase_add_test(tc, test_queue_device_ids);
    tcase_add_test(tc, test_queue_formats);
    tcase_add_test(tc, test_boolean_params);
    tcase_add_test(tc, test_writes_need_privilege);
    tcase_add_test(tc, test_idempotency_keys);
    tcase_add_test(tc, test_idempotent_apply);
    tcase_add_test(tc, test_cancel_queued);
    tcase_add_test(tc, test_cancel_running);
    tcase_add_test(tc, test_cancel_finished_and_unknown);
    tcase_add_test(tc, test_get_times_are_the_clocks);
    tcase_add_test(tc, test_get_waiting);
    tcase_add_test(tc, test_batch_all_succeeded);
    tcase_add_test(tc, test_batch_one_failed);
    tcase_add_test(tc, test_batch_only_job_cancelled);
    tcase_add_test(tc, test_batch_mixed);
    tcase_add_test(tc, test_apply_inline_images);
    tcase_add_test(tc, test_events_in_order);
    tcase_add_test(tc, test_events_on_waiting);
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
