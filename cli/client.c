/*
 * fwupctl control-socket client. See client.h.
 */
#include "client.h"

#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fwupgw/sockapi.h"

/* Replies (e.g. a long history) may exceed the request limit; this only
 * guards against a runaway peer. */
#define CLIENT_MAX_LINE (64u * 1024 * 1024)

enum fwup_msg_kind fwup_msg_classify(const json_t *msg, json_int_t want_id)
{
    if (!json_is_object(msg))
        return FWUP_MSG_INVALID;
    const json_t *id = json_object_get(msg, "id");
    bool is_reply = json_object_get(msg, "result") || json_object_get(msg, "error");
    if (!id || json_is_null(id)) {
        if (!is_reply && json_is_string(json_object_get(msg, "method")))
            return FWUP_MSG_NOTIFICATION;
        if (json_is_object(json_object_get(msg, "error")))
            return FWUP_MSG_REPLY;
        return FWUP_MSG_INVALID;
    }
    if (!is_reply)
        return FWUP_MSG_INVALID;
    if (json_is_integer(id) && json_integer_value(id) == want_id)
        return FWUP_MSG_REPLY;
    return FWUP_MSG_STALE;
}

void fwup_client_init(struct fwup_client *c)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->next_id = 1;
    c->timeout_ms = 60000;
    fwup_linebuf_init(&c->in, CLIENT_MAX_LINE);
    c->events = json_array();
}

int fwup_client_connect(struct fwup_client *c, const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(c->err, sizeof(c->err), "socket path too long: %s", path);
        return FWUP_CLIENT_ELOST;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(c->err, sizeof(c->err), "socket: %s", strerror(errno));
        return FWUP_CLIENT_ELOST;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        c->connect_errno = e;
        const char *hint = (e == ENOENT || e == ECONNREFUSED) ? " (is fwupgwd running?)" : "";
        snprintf(c->err, sizeof(c->err), "cannot connect to %s: %s%s", path, strerror(e), hint);
        close(fd);
        return FWUP_CLIENT_ELOST;
    }
    c->fd = fd;
    return FWUP_CLIENT_OK;
}

void fwup_client_close(struct fwup_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    fwup_linebuf_free(&c->in);
    json_decref(c->events);
    c->events = NULL;
    json_decref(c->err_data);
    c->err_data = NULL;
}

static void lost(struct fwup_client *c, const char *what)
{
    snprintf(c->err, sizeof(c->err), "connection to the daemon lost: %s", what);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

int fwup_client_send_line(struct fwup_client *c, const char *line, size_t len, const int *fds,
                          size_t nfds)
{
    if (nfds > FWUP_SOCKAPI_MAX_FDS) {
        snprintf(c->err, sizeof(c->err), "too many descriptors for one request (%zu > %d)", nfds,
                 FWUP_SOCKAPI_MAX_FDS);
        return FWUP_CLIENT_EDAEMON;
    }
    if (c->fd < 0) {
        snprintf(c->err, sizeof(c->err), "not connected");
        return FWUP_CLIENT_ELOST;
    }
    size_t off = 0;
    while (off < len) {
        struct iovec iov = {.iov_base = (char *)line + off, .iov_len = len - off};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        union {
            char buf[CMSG_SPACE(sizeof(int) * FWUP_SOCKAPI_MAX_FDS)];
            struct cmsghdr align;
        } cm;
        /* The descriptors ride on the first byte: the daemon attaches them
         * to the line that byte starts. */
        if (off == 0 && nfds > 0) {
            memset(&cm, 0, sizeof(cm));
            mh.msg_control = cm.buf;
            mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
            struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
            h->cmsg_level = SOL_SOCKET;
            h->cmsg_type = SCM_RIGHTS;
            h->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
            memcpy(CMSG_DATA(h), fds, sizeof(int) * nfds);
        }
        ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* Keep the socket: the daemon may have said why before it
             * hung up (e.g. line too long); fwup_client_call looks. */
            snprintf(c->err, sizeof(c->err), "connection to the daemon lost: %s", strerror(errno));
            return FWUP_CLIENT_ELOST;
        }
        off += (size_t)n;
    }
    return FWUP_CLIENT_OK;
}

/* The next decoded line, waiting until `deadline` (monotonic ms, < 0 none). */
static int read_message(struct fwup_client *c, int64_t deadline, json_t **out)
{
    for (;;) {
        char *line;
        size_t len;
        int r = fwup_linebuf_next(&c->in, &line, &len);
        if (r < 0) {
            lost(c, "reply line too long");
            return FWUP_CLIENT_ELOST;
        }
        if (r == 1) {
            if (len == 0)
                continue;
            json_error_t je;
            json_t *m = json_loadb(line, len, 0, &je);
            if (!m) {
                char why[256];
                snprintf(why, sizeof(why), "invalid JSON from the daemon: %s", je.text);
                lost(c, why);
                return FWUP_CLIENT_ELOST;
            }
            *out = m;
            return FWUP_CLIENT_OK;
        }
        if (c->fd < 0) {
            snprintf(c->err, sizeof(c->err), "not connected");
            return FWUP_CLIENT_ELOST;
        }
        if (c->stop && *c->stop)
            return FWUP_CLIENT_EINTR;
        int64_t left = -1;
        if (deadline >= 0) {
            left = deadline - fwup_clock_mono_ms();
            if (left < 0)
                left = 0;
        }
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int n;
        if (c->wait_mask) {
            struct timespec ts = {.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000};
            n = ppoll(&pfd, 1, left < 0 ? NULL : &ts, c->wait_mask);
        } else {
            n = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
        }
        if (n < 0) {
            if (errno == EINTR)
                continue; /* the stop check above decides */
            lost(c, strerror(errno));
            return FWUP_CLIENT_ELOST;
        }
        if (n == 0)
            return FWUP_CLIENT_TIMEOUT;
        char tmp[65536];
        ssize_t k = read(c->fd, tmp, sizeof(tmp));
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            lost(c, strerror(errno));
            return FWUP_CLIENT_ELOST;
        }
        if (k == 0) {
            lost(c, "closed by the daemon");
            return FWUP_CLIENT_ELOST;
        }
        if (fwup_linebuf_feed(&c->in, tmp, (size_t)k) < 0) {
            lost(c, "out of memory");
            return FWUP_CLIENT_ELOST;
        }
    }
}

/* Keeps an "event" notification for fwup_client_next_event. */
static void queue_notification(struct fwup_client *c, json_t *msg)
{
    const char *m = json_string_value(json_object_get(msg, "method"));
    json_t *params = json_object_get(msg, "params");
    if (c->events && m && !strcmp(m, "event") && json_is_object(params))
        json_array_append(c->events, params);
}

int fwup_client_call(struct fwup_client *c, const char *method, json_t *params, const int *fds,
                     size_t nfds, json_t **result)
{
    *result = NULL;
    c->err_code = 0;
    json_decref(c->err_data);
    c->err_data = NULL;
    json_int_t id = c->next_id++;
    json_t *req =
        json_pack("{s:i, s:I, s:s}", "v", FWUP_SOCKAPI_VERSION, "id", id, "method", method);
    if (params)
        json_object_set_new(req, "params", params);
    size_t len;
    char *line = fwup_jsonl_encode(req, &len);
    json_decref(req);
    if (!line) {
        snprintf(c->err, sizeof(c->err), "cannot encode the request");
        return FWUP_CLIENT_EDAEMON;
    }
    int rc = fwup_client_send_line(c, line, len, fds, nfds);
    free(line);
    bool send_failed = rc == FWUP_CLIENT_ELOST && c->fd >= 0;
    if (rc != FWUP_CLIENT_OK && !send_failed)
        return rc;

    /* After a failed send, only look at what is already there. */
    int64_t deadline = send_failed         ? 0
                       : c->timeout_ms < 0 ? -1
                                           : fwup_clock_mono_ms() + c->timeout_ms;
    for (;;) {
        json_t *msg;
        rc = read_message(c, deadline, &msg);
        if (send_failed && rc != FWUP_CLIENT_OK) {
            if (c->fd >= 0) {
                close(c->fd); /* err still holds the send error */
                c->fd = -1;
            }
            return FWUP_CLIENT_ELOST;
        }
        if (rc == FWUP_CLIENT_TIMEOUT) {
            snprintf(c->err, sizeof(c->err), "no reply from the daemon to %s within %d s", method,
                     c->timeout_ms / 1000);
            return FWUP_CLIENT_ELOST;
        }
        if (rc != FWUP_CLIENT_OK)
            return rc;
        switch (fwup_msg_classify(msg, id)) {
        case FWUP_MSG_REPLY: {
            json_t *err = json_object_get(msg, "error");
            if (err) {
                const char *m = json_string_value(json_object_get(err, "message"));
                json_t *code = json_object_get(err, "code");
                c->err_code = json_is_integer(code) ? (int)json_integer_value(code) : 0;
                c->err_data = json_incref(json_object_get(err, "data"));
                snprintf(c->err, sizeof(c->err), "%s", m ? m : "unknown error");
                json_decref(msg);
                return FWUP_CLIENT_EDAEMON;
            }
            json_t *res = json_object_get(msg, "result");
            *result = res ? json_incref(res) : json_object();
            json_decref(msg);
            return FWUP_CLIENT_OK;
        }
        case FWUP_MSG_NOTIFICATION:
            queue_notification(c, msg);
            break;
        case FWUP_MSG_STALE:
            break;
        case FWUP_MSG_INVALID:
            json_decref(msg);
            lost(c, "unexpected message from the daemon");
            return FWUP_CLIENT_ELOST;
        }
        json_decref(msg);
    }
}

int fwup_client_call_keyed(struct fwup_client *c, const char *path, bool subscribed,
                           const char *method, json_t *params, const int *fds, size_t nfds,
                           json_t **result)
{
    unsigned char raw[16];
    char key[2 * sizeof(raw) + 1];
    if (sodium_init() < 0) {
        json_decref(params);
        snprintf(c->err, sizeof(c->err), "libsodium initialisation failed");
        return FWUP_CLIENT_EDAEMON;
    }
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(key, sizeof(key), raw, sizeof(raw));
    json_object_set_new(params, "idempotency_key", json_string(key));
    json_incref(params); /* kept for the retry */
    int rc = fwup_client_call(c, method, params, fds, nfds, result);
    if (rc != FWUP_CLIENT_ELOST || !path) {
        json_decref(params);
        return rc;
    }
    /* The daemon may have done it before the connection went: ask once
     * more under the same key, which it answers with the first result
     * instead of doing it again. */
    char first[sizeof(c->err)];
    memcpy(first, c->err, sizeof(first));
    struct fwup_client keep = *c;
    c->events = NULL; /* events read so far stay with the caller */
    fwup_client_close(c);
    fwup_client_init(c);
    json_decref(c->events);
    c->events = keep.events;
    c->timeout_ms = keep.timeout_ms;
    c->wait_mask = keep.wait_mask;
    c->stop = keep.stop;
    c->next_id = keep.next_id;
    c->retrying = keep.retrying;
    if (c->retrying)
        c->retrying(first);
    json_t *res = NULL;
    rc = fwup_client_connect(c, path);
    if (rc == FWUP_CLIENT_OK && subscribed)
        rc = fwup_client_call(c, "events.subscribe", NULL, NULL, 0, &res);
    json_decref(res);
    if (rc != FWUP_CLIENT_OK) {
        json_decref(params);
        char again[sizeof(c->err)];
        memcpy(again, c->err, sizeof(again));
        snprintf(c->err, sizeof(c->err), "%.400s; asking again: %.400s", first, again);
        return FWUP_CLIENT_ELOST;
    }
    return fwup_client_call(c, method, params, fds, nfds, result);
}

int fwup_client_next_event(struct fwup_client *c, int timeout_ms, json_t **params)
{
    *params = NULL;
    if (c->events && json_array_size(c->events) > 0) {
        *params = json_incref(json_array_get(c->events, 0));
        json_array_remove(c->events, 0);
        return FWUP_CLIENT_OK;
    }
    int64_t deadline = timeout_ms < 0 ? -1 : fwup_clock_mono_ms() + timeout_ms;
    for (;;) {
        json_t *msg;
        int rc = read_message(c, deadline, &msg);
        if (rc != FWUP_CLIENT_OK)
            return rc;
        if (fwup_msg_classify(msg, -1) == FWUP_MSG_NOTIFICATION) {
            const char *m = json_string_value(json_object_get(msg, "method"));
            json_t *p = json_object_get(msg, "params");
            if (m && !strcmp(m, "event") && json_is_object(p)) {
                *params = json_incref(p);
                json_decref(msg);
                return FWUP_CLIENT_OK;
            }
        }
        json_decref(msg);
    }
}
