/*
 * Control socket server. Every socket is driven by a uv_poll_t rather than a
 * uv_pipe_t: we need recvmsg() for SCM_RIGHTS and the raw fd for SO_PEERCRED.
 *
 * Lifetime: a connection is never freed from inside a call that may be
 * running on its behalf. Closing marks it, stops its poll handle with
 * uv_close() and frees it from the close callback, which libuv runs on a
 * later loop iteration; on_close is reported from there too, so it is never
 * re-entered from fwup_conn_reply/notify. fwup_server_stop() is the one
 * exception: it reports on_close for every connection before returning, so
 * the caller can tear down its own state right after.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fwupgw/sockapi.h>

#include "fs.h"
#include "jsonl.h"
#include "log.h"

#define READ_CHUNK          (64 * 1024)
#define READS_PER_EVENT     8 /* fairness between clients: level-triggered */
#define DEFAULT_PENDING_OUT (8u * 1024 * 1024)
#define ACCEPT_RETRY_MS     100
/* Defaults sized for a gateway with 512 MiB of RAM: at most about
 * DEFAULT_INPUT_TOTAL + DEFAULT_OUTPUT_TOTAL + clients * READ_CHUNK held for
 * clients, whatever they send or fail to read. */
#define DEFAULT_MAX_CLIENTS  128
#define DEFAULT_PER_UID      32
#define DEFAULT_INPUT_TOTAL  (32u * 1024 * 1024)
#define DEFAULT_OUTPUT_TOTAL (32u * 1024 * 1024)
/* Descriptors passed with requests and not yet consumed, all clients. */
#define MAX_PENDING_FDS_TOTAL (4 * FWUP_SOCKAPI_MAX_FDS)
/* A client's backlog up to this size never counts as hogging a total. */
#define SMALL_BACKLOG READ_CHUNK
#define LIMIT_LOG_MS  10000
#define MIN_CLIENTS   4

struct pending_fd {
    int fd;
    uint64_t off; /* stream offset of the byte the descriptor came with */
};

struct fwup_conn {
    struct fwup_server *srv;
    struct fwup_conn *prev, *next;
    uv_poll_t poll;
    int fd;
    pid_t pid;
    uid_t uid;
    gid_t gid;
    int privileged;
    void *data;

    /* Unprocessed input; its stream offsets match descriptors to lines. */
    struct fwup_linebuf in;

    struct pending_fd fds[FWUP_SOCKAPI_MAX_FDS];
    size_t nfds;

    char *out;
    size_t out_pos, out_len, out_cap;

    int poll_events;       /* what the poll handle currently watches */
    unsigned midline : 1;  /* out_pos is inside a line already partly sent */
    unsigned paused : 1;   /* output over max_pending_out: not reading */
    unsigned draining : 1; /* flush the output queue, then close */
    unsigned dead : 1;     /* uv_close() called */
    unsigned reported : 1; /* on_close delivered */
    unsigned answered : 1; /* the current request got its reply */
};

struct fwup_server {
    uv_loop_t *loop;
    struct fwup_server_callbacks cb;
    void *ctx;
    char *path;
    gid_t gid;
    int allow_unprivileged;
    size_t max_line;
    size_t max_pending_out;
    size_t max_clients, max_per_uid, max_input_total, max_output_total;
    size_t in_total;  /* input buffers of all connections beyond their first chunk */
    size_t out_total; /* queued output of all connections */
    size_t fds_total; /* passed descriptors held for all connections */
    int reserve_fd;   /* spent to refuse a client clearly on EMFILE */
    uint64_t limit_log_ms;
    unsigned limit_log_suppressed;

    int lfd;
    uv_poll_t lpoll;
    uv_timer_t retry; /* re-arms accept after EMFILE instead of spinning */
    struct fwup_conn *conns;
    size_t nconns;   /* live (not yet closing) connections */
    size_t nhandles; /* handles libuv has not finished closing */
    int stopping;
};

static void conn_update_poll(struct fwup_conn *c);
static void conn_process(struct fwup_conn *c);
static void conn_close(struct fwup_conn *c);
static void conn_flush(struct fwup_conn *c);

/* ---- helpers ------------------------------------------------------------ */

static void close_pending_fds(struct fwup_conn *c)
{
    for (size_t i = 0; i < c->nfds; i++)
        close(c->fds[i].fd);
    c->srv->fds_total -= c->nfds;
    c->nfds = 0;
}

/* A hostile client can trip a limit many times a second: one line per
 * LIMIT_LOG_MS, saying how many were left out. */
static void limit_log(struct fwup_server *srv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void limit_log(struct fwup_server *srv, const char *fmt, ...)
{
    uint64_t now = uv_now(srv->loop);
    if (srv->limit_log_ms && now - srv->limit_log_ms < LIMIT_LOG_MS) {
        srv->limit_log_suppressed++;
        return;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (srv->limit_log_suppressed)
        log_warn("%s (and %u more client limit refusal(s) in the last %d s)", msg,
                 srv->limit_log_suppressed, LIMIT_LOG_MS / 1000);
    else
        log_warn("%s", msg);
    srv->limit_log_ms = now ? now : 1;
    srv->limit_log_suppressed = 0;
}

static size_t out_pending(const struct fwup_conn *c)
{
    return c->out_len - c->out_pos;
}

static int out_reserve(struct fwup_conn *c, size_t n)
{
    if (c->out_pos > 0 && c->out_pos == c->out_len) {
        c->out_pos = c->out_len = 0;
    } else if (c->out_pos > c->out_cap / 2) {
        memmove(c->out, c->out + c->out_pos, c->out_len - c->out_pos);
        c->out_len -= c->out_pos;
        c->out_pos = 0;
    }
    if (c->out_cap - c->out_len >= n)
        return 0;
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap - c->out_len < n)
        cap *= 2;
    char *p = realloc(c->out, cap);
    if (!p)
        return -1;
    c->out = p;
    c->out_cap = cap;
    return 0;
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    struct fwup_conn *c = data;
    if (out_reserve(c, size) < 0)
        return -1;
    memcpy(c->out + c->out_len, buf, size);
    c->out_len += size;
    return 0;
}

/* Appends one compact JSON line; on failure the partial line is dropped. */
static int queue_json(struct fwup_conn *c, json_t *msg)
{
    size_t before = out_pending(c);
    if (json_dump_callback(msg, dump_cb, c, JSON_COMPACT) < 0 || dump_cb("\n", 1, c) < 0) {
        /* out_reserve may have moved the queue; the partial line is its tail */
        c->out_len = c->out_pos + before;
        return -1;
    }
    c->srv->out_total += out_pending(c) - before;
    return 0;
}

/* What a connection's input buffer counts against max_input_total. */
static size_t in_excess(size_t cap)
{
    return cap > READ_CHUNK ? cap - READ_CHUNK : 0;
}

/* Over its own output limit, or holding more than a little of an exhausted
 * total: such a client is not fed more until it reads. */
static int out_over(const struct fwup_conn *c)
{
    size_t p = out_pending(c);
    return p > c->srv->max_pending_out ||
           (c->srv->out_total > c->srv->max_output_total && p > SMALL_BACKLOG);
}

/* ---- connection lifetime ------------------------------------------------ */

static void server_maybe_free(struct fwup_server *srv)
{
    if (!srv->stopping || srv->nhandles > 0)
        return;
    if (srv->reserve_fd >= 0)
        close(srv->reserve_fd);
    free(srv->path);
    free(srv);
}

static void report_close(struct fwup_conn *c)
{
    if (c->reported)
        return;
    c->reported = 1;
    if (c->srv->cb.on_close)
        c->srv->cb.on_close(c->srv->ctx, c);
}

static void on_conn_closed(uv_handle_t *h)
{
    struct fwup_conn *c = h->data;
    struct fwup_server *srv = c->srv;

    report_close(c);
    close(c->fd);
    close_pending_fds(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->in_total -= in_excess(c->in.cap);
    fwup_linebuf_free(&c->in);
    free(c->out);
    free(c);
    srv->nhandles--;
    server_maybe_free(srv);
}

/* Immediate close: pending output is dropped. The peer sees EOF at once
 * (shutdown), the fd itself is closed only after libuv let go of it. */
static void conn_close(struct fwup_conn *c)
{
    if (c->dead)
        return;
    c->dead = 1;
    c->srv->nconns--;
    c->srv->out_total -= out_pending(c);
    c->out_pos = c->out_len;
    shutdown(c->fd, SHUT_RDWR);
    close_pending_fds(c);
    uv_close((uv_handle_t *)&c->poll, on_conn_closed);
}

/* Close once everything queued so far has been sent (or sending failed). */
static void conn_close_after_flush(struct fwup_conn *c)
{
    if (c->dead)
        return;
    c->draining = 1;
    close_pending_fds(c);
    if (out_pending(c) == 0)
        conn_close(c);
    else
        conn_update_poll(c);
}

static void on_conn_poll(uv_poll_t *h, int status, int events);

static void conn_update_poll(struct fwup_conn *c)
{
    if (c->dead)
        return;
    int want = 0;
    if (!c->paused && !c->draining)
        want |= UV_READABLE;
    if (out_pending(c) > 0)
        want |= UV_WRITABLE;
    if (want == c->poll_events)
        return;
    c->poll_events = want;
    if (want == 0)
        uv_poll_stop(&c->poll);
    else if (uv_poll_start(&c->poll, want, on_conn_poll) < 0)
        conn_close(c);
}

/* ---- output ------------------------------------------------------------- */

static void conn_flush(struct fwup_conn *c)
{
    while (!c->dead && out_pending(c) > 0) {
        ssize_t n = send(c->fd, c->out + c->out_pos, out_pending(c), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c->out_pos += (size_t)n;
            c->srv->out_total -= (size_t)n;
            c->midline = c->out[c->out_pos - 1] != '\n';
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        /* EPIPE, ECONNRESET, ...: the peer is gone; nothing to report */
        conn_close(c);
        return;
    }
    if (c->dead)
        return;
    if (out_pending(c) == 0) {
        c->out_pos = c->out_len = 0;
        c->midline = 0;
        if (c->out_cap > SMALL_BACKLOG) {
            /* a burst is over: do not keep its buffer for an idle client */
            free(c->out);
            c->out = NULL;
            c->out_cap = 0;
        }
        if (c->draining) {
            conn_close(c);
            return;
        }
    }
    conn_update_poll(c);
}

/* Queues a message; sends right away unless earlier output is still waiting
 * for the socket to become writable (order must be kept). */
static int conn_send(struct fwup_conn *c, json_t *msg)
{
    int was_empty = out_pending(c) == 0;
    if (queue_json(c, msg) < 0) {
        /* out of memory or unencodable: the stream would lose a reply */
        conn_close(c);
        return -1;
    }
    if (was_empty)
        conn_flush(c);
    return c->dead ? -1 : 0;
}

static json_t *new_message(json_t *id)
{
    json_t *msg = json_object();
    if (!msg)
        return NULL;
    json_object_set_new(msg, "v", json_integer(FWUP_SOCKAPI_VERSION));
    if (id)
        json_object_set(msg, "id", id);
    else
        json_object_set_new(msg, "id", json_null());
    return msg;
}

void fwup_conn_reply(struct fwup_conn *conn, json_t *id, json_t *result)
{
    if (conn->dead || conn->draining) {
        json_decref(result);
        return;
    }
    conn->answered = 1;
    json_t *msg = new_message(id);
    if (!msg) {
        json_decref(result);
        conn_close(conn);
        return;
    }
    json_object_set_new(msg, "result", result ? result : json_object());
    conn_send(conn, msg);
    json_decref(msg);
}

void fwup_conn_error(struct fwup_conn *conn, json_t *id, int code, const char *message,
                     json_t *data)
{
    if (conn->dead || conn->draining) {
        json_decref(data);
        return;
    }
    conn->answered = 1;
    json_t *msg = new_message(id);
    json_t *err = json_object();
    if (!msg || !err) {
        json_decref(msg);
        json_decref(err);
        json_decref(data);
        conn_close(conn);
        return;
    }
    json_object_set_new(err, "code", json_integer(code));
    json_object_set_new(err, "message", json_string(message ? message : ""));
    if (data)
        json_object_set_new(err, "data", data);
    json_object_set_new(msg, "error", err);
    conn_send(conn, msg);
    json_decref(msg);
}

static json_t *error_message(int code, const char *message)
{
    json_t *msg = new_message(NULL), *err = json_object();
    if (!msg || !err) {
        json_decref(msg);
        json_decref(err);
        return NULL;
    }
    json_object_set_new(err, "code", json_integer(code));
    json_object_set_new(err, "message", json_string(message));
    json_object_set_new(msg, "error", err);
    return msg;
}

/* Turns away a client that hit a limit: what it has not started to receive
 * is dropped, the reason is sent if the socket takes it at once, and the
 * connection closes now, as waiting for a client that does not read would
 * keep holding what the limit is there to free. */
static void conn_abort(struct fwup_conn *c, const char *message)
{
    if (c->dead)
        return;
    size_t keep = 0, pending = out_pending(c);
    if (c->midline) {
        /* the rest of a line already partly sent keeps the stream parseable */
        const char *nl = memchr(c->out + c->out_pos, '\n', pending);
        keep = nl ? (size_t)(nl - (c->out + c->out_pos)) + 1 : pending;
    }
    c->srv->out_total -= pending - keep;
    c->out_len = c->out_pos + keep;
    json_t *msg = error_message(FWUP_E_BUSY, message);
    if (msg && queue_json(c, msg) == 0)
        conn_flush(c);
    json_decref(msg);
    conn_close(c);
}

/* Same for a connection not yet set up. */
static void refuse_fd(int fd, const char *message)
{
    json_t *msg = error_message(FWUP_E_BUSY, message);
    size_t n;
    char *line = msg ? fwup_jsonl_encode(msg, &n) : NULL;
    if (line)
        (void)!send(fd, line, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    free(line);
    json_decref(msg);
    close(fd);
}

int fwup_conn_notify(struct fwup_conn *conn, const char *method, json_t *params)
{
    if (conn->dead || conn->draining) {
        json_decref(params);
        return -1;
    }
    json_t *msg = json_object();
    if (!msg) {
        json_decref(params);
        return -1;
    }
    json_object_set_new(msg, "v", json_integer(FWUP_SOCKAPI_VERSION));
    json_object_set_new(msg, "method", json_string(method));
    json_object_set_new(msg, "params", params ? params : json_object());
    int rc = conn_send(conn, msg);
    json_decref(msg);
    if (rc < 0)
        return -1;
    /* A subscriber that does not keep up is dropped, not buffered for:
     * events are produced regardless of whether anyone reads them. */
    if (out_over(conn)) {
        struct fwup_server *srv = conn->srv;
        char why[256];
        snprintf(why, sizeof(why),
                 "dropped: %zu bytes of events unread (limits: %zu per client, daemon."
                 "max_client_output; %zu for all clients, daemon.max_output_total)",
                 out_pending(conn), srv->max_pending_out, srv->max_output_total);
        limit_log(srv, "client pid %ld uid %lu %s", (long)conn->pid, (unsigned long)conn->uid, why);
        conn_abort(conn, why);
        return -1;
    }
    return 0;
}

/* ---- input -------------------------------------------------------------- */

static void take_fds(struct fwup_conn *c, uint64_t line_end, int *fds, size_t *nfds)
{
    size_t n = 0;
    while (n < c->nfds && c->fds[n].off <= line_end) {
        fds[n] = c->fds[n].fd;
        n++;
    }
    memmove(c->fds, c->fds + n, (c->nfds - n) * sizeof(c->fds[0]));
    c->nfds -= n;
    c->srv->fds_total -= n;
    *nfds = n;
}

static void close_fds(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
}

static void handle_line(struct fwup_conn *c, const char *line, size_t len, int *fds, size_t nfds)
{
    struct fwup_server *srv = c->srv;
    json_error_t jerr;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!req) {
        char msg[256];
        snprintf(msg, sizeof(msg), "parse error: %s (column %d)", jerr.text, jerr.column);
        close_fds(fds, nfds);
        fwup_conn_error(c, NULL, FWUP_E_PARSE, msg, NULL);
        return;
    }

    const char *why = NULL;
    json_t *id = json_is_object(req) ? json_object_get(req, "id") : NULL;
    json_t *method = json_object_get(req, "method");
    json_t *params = json_object_get(req, "params");
    json_t *v = json_object_get(req, "v");
    if (!json_is_object(req))
        why = "request is not a JSON object";
    else if (!id || json_is_null(id))
        why = "request has no id";
    else if (!json_is_string(method))
        why = "method must be a string";
    else if (params && !json_is_object(params))
        why = "params must be an object";
    else if (v && !json_is_integer(v))
        why = "v must be an integer";
    if (why) {
        close_fds(fds, nfds);
        fwup_conn_error(c, json_is_null(id) ? NULL : id, FWUP_E_INVALID, why, NULL);
        json_decref(req);
        return;
    }
    if (v && json_integer_value(v) > FWUP_SOCKAPI_VERSION) {
        char msg[96];
        snprintf(msg, sizeof(msg),
                 "protocol version %" JSON_INTEGER_FORMAT " not supported (daemon speaks %d)",
                 json_integer_value(v), FWUP_SOCKAPI_VERSION);
        close_fds(fds, nfds);
        fwup_conn_error(c, id, FWUP_E_VERSION, msg, NULL);
        json_decref(req);
        return;
    }

    json_t *empty = params ? NULL : json_object();
    c->answered = 0;
    if (srv->cb.on_request) {
        srv->cb.on_request(srv->ctx, c, id, json_string_value(method), params ? params : empty, fds,
                           nfds);
    } else {
        close_fds(fds, nfds);
    }
    /* Exactly one reply per request keeps replies matched to requests even
     * for a client that does not look at ids. */
    if (!c->answered)
        fwup_conn_error(c, id, FWUP_E_INTERNAL, "request was not answered", NULL);
    json_decref(empty);
    json_decref(req);
}

static void too_large(struct fwup_conn *c)
{
    char msg[96];
    snprintf(msg, sizeof(msg), "request line exceeds %zu bytes", c->srv->max_line);
    fwup_conn_error(c, NULL, FWUP_E_TOO_LARGE, msg, NULL);
    conn_close_after_flush(c);
}

/* Runs the complete lines in the input buffer, in order, until none is left,
 * the connection is closing, or its output backs up. */
static void conn_process(struct fwup_conn *c)
{
    struct fwup_server *srv = c->srv;
    while (!c->dead && !c->draining && !c->paused) {
        char *start;
        size_t len;
        int r = fwup_linebuf_next(&c->in, &start, &len);
        if (r < 0) {
            too_large(c); /* closes the descriptors that came with it */
            break;
        }
        if (r == 0)
            break;
        int fds[FWUP_SOCKAPI_MAX_FDS];
        size_t nfds;
        take_fds(c, fwup_linebuf_offset(&c->in) - 1, fds, &nfds); /* up to its '\n' */
        if (len == 0) {
            close_fds(fds, nfds);
            continue;
        }
        handle_line(c, start, len, fds, nfds);
        if (!c->dead && out_over(c)) {
            /* Backpressure: stop taking requests until the client reads. */
            c->paused = 1;
        }
    }
    /* a long request is done: do not keep its buffer for an idle client */
    size_t cap = c->in.cap;
    fwup_linebuf_trim(&c->in, READ_CHUNK);
    srv->in_total -= in_excess(cap) - in_excess(c->in.cap);
    conn_update_poll(c);
}

/* One recvmsg(). Returns 1 to keep reading, 0 on EAGAIN, -1 when closed. */
static int conn_read_once(struct fwup_conn *c)
{
    struct fwup_server *srv = c->srv;
    size_t cap = fwup_linebuf_space_cap(&c->in, READ_CHUNK);
    if (cap != c->in.cap) {
        /* Every client may have one chunk; a request longer than that is
         * received only while all such requests fit in max_input_total. */
        size_t more = in_excess(cap) - in_excess(c->in.cap);
        if (more > 0 && srv->in_total + more > srv->max_input_total) {
            char why[256];
            snprintf(why, sizeof(why),
                     "daemon busy: requests being received from all clients exceed %zu bytes "
                     "(daemon.max_input_total); retry later",
                     srv->max_input_total);
            limit_log(srv, "client pid %ld uid %lu refused: %s", (long)c->pid,
                      (unsigned long)c->uid, why);
            conn_abort(c, why);
            return -1;
        }
        srv->in_total += more;
    }
    size_t room;
    char *to = fwup_linebuf_space(&c->in, READ_CHUNK, &room);
    if (!to) {
        srv->in_total -= in_excess(cap) - in_excess(c->in.cap);
        conn_close(c);
        return -1;
    }

    union {
        char buf[CMSG_SPACE(sizeof(int) * FWUP_SOCKAPI_MAX_FDS)];
        struct cmsghdr align;
    } cbuf;
    struct iovec iov = {.iov_base = to, .iov_len = room};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = cbuf.buf,
                        .msg_controllen = sizeof(cbuf.buf)};
    ssize_t n;
    do
        n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        conn_close(c); /* ECONNRESET and friends: the peer is gone */
        return -1;
    }

    /* Linux returns descriptors together with the skb that carried them and
     * stops reading right after it, but may first glue earlier fd-less data
     * into the same read. Tagging them with the last byte read therefore
     * assigns them to the line whose sendmsg() carried them. */
    int overflow = (mh.msg_flags & MSG_CTRUNC) != 0;
    uint64_t tag = fwup_linebuf_end(&c->in) + (n > 0 ? (uint64_t)n - 1 : 0);
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *data = CMSG_DATA(cm);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, data + i * sizeof(int), sizeof(int));
            if (c->nfds < FWUP_SOCKAPI_MAX_FDS && c->srv->fds_total < MAX_PENDING_FDS_TOTAL) {
                c->fds[c->nfds].fd = fd;
                c->fds[c->nfds].off = tag;
                c->nfds++;
                c->srv->fds_total++;
            } else {
                close(fd);
                overflow = 1;
            }
        }
    }
    if (overflow) {
        char why[200];
        snprintf(why, sizeof(why),
                 "too many descriptors passed: at most %d per request, %d held for all "
                 "clients, and the daemon's own limit",
                 FWUP_SOCKAPI_MAX_FDS, MAX_PENDING_FDS_TOTAL);
        limit_log(c->srv, "client pid %ld uid %lu refused: %s", (long)c->pid, (unsigned long)c->uid,
                  why);
        conn_abort(c, why);
        return -1;
    }
    if (n == 0) {
        /* EOF (maybe only a half-close): answer what was asked, then go. */
        close_pending_fds(c);
        conn_close_after_flush(c);
        return -1;
    }
    fwup_linebuf_commit(&c->in, (size_t)n);
    conn_process(c);
    return c->dead || c->draining || c->paused ? -1 : 1;
}

static void on_conn_poll(uv_poll_t *h, int status, int events)
{
    struct fwup_conn *c = h->data;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (events & UV_WRITABLE) {
        conn_flush(c);
        if (!c->dead && c->paused && !out_over(c)) {
            c->paused = 0;
            conn_process(c); /* lines already buffered come first */
        }
    }
    if ((events & UV_READABLE) && !c->dead && !c->paused && !c->draining) {
        for (int i = 0; i < READS_PER_EVENT; i++)
            if (conn_read_once(c) <= 0)
                break;
    }
}

/* ---- accept ------------------------------------------------------------- */

static int in_group_list(const char *list, gid_t gid)
{
    const char *p = list;
    while (*p) {
        char *end;
        errno = 0;
        unsigned long g = strtoul(p, &end, 10);
        if (end == p)
            break;
        if (errno == 0 && (gid_t)g == gid)
            return 1;
        p = end;
        while (*p == ' ' || *p == '\t')
            p++;
    }
    return 0;
}

/* Supplementary groups of the peer process: /proc is exact for the process
 * itself; the user database is the fallback when /proc cannot tell. */
static int peer_in_group(pid_t pid, uid_t uid, gid_t primary, gid_t gid)
{
    if (pid > 0) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
        FILE *f = fopen(path, "re");
        if (f) {
            char line[4096];
            int found = -1;
            while (fgets(line, sizeof(line), f)) {
                if (strncmp(line, "Groups:", 7) == 0) {
                    found = in_group_list(line + 7, gid);
                    break;
                }
            }
            fclose(f);
            if (found >= 0)
                return found;
        }
    }
    char buf[4096];
    struct passwd pw, *pwp = NULL;
    if (getpwuid_r(uid, &pw, buf, sizeof(buf), &pwp) != 0 || !pwp)
        return 0;
    int ngroups = 64;
    for (int tries = 0; tries < 4; tries++) {
        gid_t *groups = malloc((size_t)ngroups * sizeof(gid_t));
        if (!groups)
            return 0;
        int n = ngroups;
        int rc = getgrouplist(pwp->pw_name, primary, groups, &n);
        if (rc >= 0) {
            int hit = 0;
            for (int i = 0; i < n && !hit; i++)
                hit = groups[i] == gid;
            free(groups);
            return hit;
        }
        free(groups);
        ngroups = n > ngroups ? n : ngroups * 2;
    }
    return 0;
}

static void accept_one(struct fwup_server *srv, int fd)
{
    struct ucred cred;
    socklen_t clen = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
        close(fd);
        return;
    }
    int priv = cred.uid == 0 || cred.uid == geteuid();
    if (!priv && srv->gid != (gid_t)-1)
        priv = cred.gid == srv->gid || peer_in_group(cred.pid, cred.uid, cred.gid, srv->gid);
    if (!priv && !srv->allow_unprivileged) {
        close(fd);
        return;
    }

    size_t same_uid = 0;
    for (const struct fwup_conn *o = srv->conns; o; o = o->next)
        same_uid += !o->dead && o->uid == cred.uid;
    char why[200];
    if (srv->nconns >= srv->max_clients) {
        snprintf(why, sizeof(why), "daemon busy: %zu clients connected (daemon.max_clients)",
                 srv->nconns);
    } else if (same_uid >= srv->max_per_uid) {
        snprintf(why, sizeof(why),
                 "too many connections from uid %lu: %zu (daemon.max_clients_per_uid)",
                 (unsigned long)cred.uid, same_uid);
    } else {
        why[0] = '\0';
    }
    if (why[0]) {
        limit_log(srv, "client pid %ld refused: %s", (long)cred.pid, why);
        refuse_fd(fd, why);
        return;
    }

    struct fwup_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return;
    }
    c->srv = srv;
    fwup_linebuf_init(&c->in, srv->max_line);
    c->in.crlf = 1; /* a CRLF from a terminal or socat ends a line too */
    c->fd = fd;
    c->pid = cred.pid;
    c->uid = cred.uid;
    c->gid = cred.gid;
    c->privileged = priv;
    if (uv_poll_init(srv->loop, &c->poll, fd) < 0) {
        free(c);
        close(fd);
        return;
    }
    c->poll.data = c;
    srv->nhandles++;
    srv->nconns++;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    conn_update_poll(c);
}

static void on_listen_poll(uv_poll_t *h, int status, int events);

static void on_retry(uv_timer_t *t)
{
    struct fwup_server *srv = t->data;
    if (!srv->stopping)
        uv_poll_start(&srv->lpoll, UV_READABLE, on_listen_poll);
}

static void on_listen_poll(uv_poll_t *h, int status, int events)
{
    struct fwup_server *srv = h->data;
    (void)events;
    if (status < 0)
        return;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* The descriptor kept in reserve lets one waiting client
                 * hear why instead of hanging until descriptors free up. */
                if ((errno == EMFILE || errno == ENFILE) && srv->reserve_fd >= 0) {
                    close(srv->reserve_fd);
                    int rfd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (rfd >= 0) {
                        limit_log(srv, "client refused: the daemon is out of file descriptors");
                        refuse_fd(rfd, "daemon busy: out of file descriptors; retry later");
                    }
                    srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                }
                /* Level-triggered: pause instead of spinning on the error. */
                uv_poll_stop(&srv->lpoll);
                uv_timer_start(&srv->retry, on_retry, ACCEPT_RETRY_MS, 0);
            }
            return;
        }
        accept_one(srv, fd);
    }
}

/* ---- start / stop ------------------------------------------------------- */

static size_t or_default(size_t v, size_t def)
{
    return v ? v : def;
}

void fwup_server_set_limits(struct fwup_server *srv, const struct fwup_server_options *opt)
{
    srv->max_line = or_default(opt->max_line, FWUP_SOCKAPI_MAX_LINE);
    for (struct fwup_conn *c = srv->conns; c; c = c->next)
        c->in.max = srv->max_line; /* as for new clients, from their next line on */
    srv->max_pending_out = or_default(opt->max_pending_out, DEFAULT_PENDING_OUT);
    srv->max_input_total = or_default(opt->max_input_total, DEFAULT_INPUT_TOTAL);
    srv->max_output_total = or_default(opt->max_output_total, DEFAULT_OUTPUT_TOTAL);
    size_t want = or_default(opt->max_clients, DEFAULT_MAX_CLIENTS);
    srv->max_clients = want;
    /* Each client costs a descriptor: the clients must fit beside what the
     * daemon needs for everything else, or accept() fails with EMFILE. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        size_t other = or_default(opt->fd_reserve, FWUP_SERVER_FD_RESERVE) + MAX_PENDING_FDS_TOTAL;
        size_t fit = rl.rlim_cur > other ? (size_t)rl.rlim_cur - other : 0;
        if (fit < MIN_CLIENTS)
            fit = MIN_CLIENTS;
        if (fit < want) {
            srv->max_clients = fit;
            log_warn("open file limit %llu: serving at most %zu clients instead of %zu "
                     "(daemon.max_clients); raise LimitNOFILE to %zu to serve them all",
                     (unsigned long long)rl.rlim_cur, fit, want, want + other);
        }
    }
    srv->max_per_uid = or_default(opt->max_clients_per_uid, DEFAULT_PER_UID);
    if (srv->max_per_uid > srv->max_clients)
        srv->max_per_uid = srv->max_clients;
}

/* 1 if a live server answers on the path, 0 if the file is stale. */
static int socket_is_live(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 1; /* cannot tell: do not remove what may be in use */
    int rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
    int e = errno;
    close(fd);
    if (rc == 0)
        return 1;
    /* EAGAIN: the backlog is full, so somebody is listening. */
    return !(e == ECONNREFUSED || e == ENOENT);
}

int fwup_server_start(uv_loop_t *loop, const struct fwup_server_options *opt,
                      const struct fwup_server_callbacks *cb, void *ctx, struct fwup_server **out,
                      char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *path = opt->path ? opt->path : FWUP_SOCKAPI_DEFAULT_PATH;
    size_t plen = strlen(path);
    int fd = -1, bound = 0;
    struct stat st;

    *out = NULL;
    if (plen == 0 || plen >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "socket path %s (%zu bytes, at most %zu): %s",
                 plen ? "too long" : "empty", plen, sizeof(sa.sun_path) - 1, path);
        return -1;
    }
    memcpy(sa.sun_path, path, plen + 1);

    if (fwup_mkdirs_parent(path, 0755) < 0) {
        snprintf(err, errlen, "cannot create the directory of %s: %s", path, strerror(errno));
        return -1;
    }
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a socket", path);
            return -1;
        }
        if (socket_is_live(&sa)) {
            snprintf(err, errlen, "another daemon is listening on %s", path);
            return -1;
        }
        if (unlink(path) < 0 && errno != ENOENT) {
            snprintf(err, errlen, "cannot remove stale socket %s: %s", path, strerror(errno));
            return -1;
        }
    }

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    /* Nobody can connect before listen(), so chmod/chown here is race-free. */
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        snprintf(err, errlen, "bind %s: %s", path, strerror(errno));
        goto fail;
    }
    bound = 1;
    if (chmod(path, opt->mode) < 0) {
        snprintf(err, errlen, "chmod %s: %s", path, strerror(errno));
        goto fail;
    }
    if (opt->gid != (gid_t)-1 && chown(path, (uid_t)-1, opt->gid) < 0) {
        snprintf(err, errlen, "chown %s to group %ld: %s", path, (long)opt->gid, strerror(errno));
        goto fail;
    }
    if (listen(fd, 64) < 0) {
        snprintf(err, errlen, "listen %s: %s", path, strerror(errno));
        goto fail;
    }

    struct fwup_server *srv = calloc(1, sizeof(*srv));
    if (!srv || !(srv->path = strdup(path))) {
        free(srv);
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    srv->loop = loop;
    if (cb)
        srv->cb = *cb;
    srv->ctx = ctx;
    srv->gid = opt->gid;
    srv->allow_unprivileged = opt->allow_unprivileged;
    fwup_server_set_limits(srv, opt);
    srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    srv->lfd = fd;
    int rc = uv_poll_init(loop, &srv->lpoll, fd);
    if (rc < 0) {
        snprintf(err, errlen, "uv_poll_init: %s", uv_strerror(rc));
        if (srv->reserve_fd >= 0)
            close(srv->reserve_fd);
        free(srv->path);
        free(srv);
        goto fail;
    }
    srv->lpoll.data = srv;
    srv->nhandles++;
    uv_timer_init(loop, &srv->retry);
    srv->retry.data = srv;
    srv->nhandles++;
    uv_poll_start(&srv->lpoll, UV_READABLE, on_listen_poll);
    *out = srv;
    return 0;

fail:
    if (bound)
        unlink(path);
    close(fd);
    return -1;
}

static void on_listener_closed(uv_handle_t *h)
{
    struct fwup_server *srv = h->data;
    close(srv->lfd);
    srv->nhandles--;
    server_maybe_free(srv);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct fwup_server *srv = h->data;
    srv->nhandles--;
    server_maybe_free(srv);
}

void fwup_server_stop(struct fwup_server *srv)
{
    if (!srv || srv->stopping)
        return;
    srv->stopping = 1;
    unlink(srv->path);
    for (struct fwup_conn *c = srv->conns; c; c = c->next) {
        conn_close(c);
        report_close(c);
    }
    uv_close((uv_handle_t *)&srv->lpoll, on_listener_closed);
    uv_close((uv_handle_t *)&srv->retry, on_timer_closed);
}

size_t fwup_server_connection_count(const struct fwup_server *srv)
{
    return srv->nconns;
}

int fwup_conn_privileged(const struct fwup_conn *conn)
{
    return conn->privileged;
}

pid_t fwup_conn_pid(const struct fwup_conn *conn)
{
    return conn->pid;
}

uid_t fwup_conn_uid(const struct fwup_conn *conn)
{
    return conn->uid;
}

void fwup_conn_set_data(struct fwup_conn *conn, void *data)
{
    conn->data = data;
}

void *fwup_conn_get_data(const struct fwup_conn *conn)
{
    return conn->data;
}
