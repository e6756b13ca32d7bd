/*
 * Control socket harness: the input is what one client writes to the
 * daemon's socket (daemon/api/server.c on a real UNIX socket, its loop pumped
 * here), then it half-closes and reads until the server hangs up. Each
 * well-formed request reaches the callback with a string method and an
 * object params; every reply is a JSON object carrying "v" and exactly one
 * of result / error; each complete non-empty line gets exactly one reply
 * (an over-long line gets its error, then the connection ends).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "fuzz_util.h"
#include "server.h"

#define MAX_LINE 4096 /* small, so the fuzzer reaches the over-long paths */

static uv_loop_t loop;
static struct fwup_server *srv;
static struct sockaddr_un addr = {.sun_family = AF_UNIX};
static size_t closed;

static void fail(const char *what)
{
    fuzz_fail("socket", what);
}

static void on_request(void *ctx, struct fwup_conn *conn, json_t *id, const char *method,
                       json_t *params, int *fds, size_t nfds)
{
    (void)ctx;
    for (size_t i = 0; i < nfds; i++)
        close(fds[i]);
    if (!id || json_is_null(id) || !method || !json_is_object(params))
        fail("malformed request reached the callback");
    /* the three ways api.c answers, picked by the method's first letter */
    if (method[0] == 'e') {
        fwup_conn_error(conn, id, 2, method, json_deep_copy(params));
    } else if (method[0] == 'n') {
        fwup_conn_notify(conn, "event", json_deep_copy(params));
        fwup_conn_reply(conn, id, json_object());
    } else {
        fwup_conn_reply(conn, id, json_deep_copy(params));
    }
}

static void on_close(void *ctx, struct fwup_conn *conn)
{
    (void)ctx;
    (void)conn;
    closed++;
}

static const struct fwup_server_callbacks cbs = {on_request, on_close};

static char dir[] = "/tmp/fwup-fuzz-XXXXXX";

static void remove_dir(void)
{
    unlink(addr.sun_path);
    rmdir(dir);
}

static void start(void)
{
    if (!mkdtemp(dir) || uv_loop_init(&loop) < 0)
        fail("set-up");
    atexit(remove_dir);
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/s", dir);
    struct fwup_server_options o = {.path = addr.sun_path,
                                    .mode = 0600,
                                    .gid = (gid_t)-1,
                                    .allow_unprivileged = 1,
                                    .max_line = MAX_LINE};
    char err[256];
    if (fwup_server_start(&loop, &o, &cbs, NULL, &srv, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        fail("server start");
    }
}

/* Replies the server owes for this input, and whether it ends with an
 * over-long line (after which it closes, so fewer may arrive). */
static size_t expected_replies(const uint8_t *p, size_t len, int *too_long)
{
    size_t n = 0, start = 0;
    *too_long = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] != '\n')
            continue;
        size_t l = i - start;
        if (l > 0 && p[i - 1] == '\r')
            l--;
        if (l > MAX_LINE) {
            *too_long = 1;
            return n + 1;
        }
        n += l > 0;
        start = i + 1;
    }
    if (len - start > MAX_LINE + 1) {
        *too_long = 1;
        n++;
    }
    return n; /* an unterminated last line is dropped at EOF */
}

static size_t check_replies(char *out, size_t len)
{
    size_t replies = 0;
    char *line = out;
    for (char *nl; (nl = memchr(line, '\n', len - (size_t)(line - out))); line = nl + 1) {
        json_error_t e;
        json_t *m = json_loadb(line, (size_t)(nl - line), 0, &e);
        if (!json_is_object(m) || !json_is_integer(json_object_get(m, "v")))
            fail("reply is not a JSON object with v");
        if (json_object_get(m, "method")) { /* a notification */
            json_decref(m);
            continue;
        }
        if (!json_object_get(m, "id") ||
            !json_object_get(m, "result") == !json_object_get(m, "error"))
            fail("reply without id or without exactly one of result / error");
        json_decref(m);
        replies++;
    }
    if (line != out + len)
        fail("reply not terminated by a newline");
    return replies;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (!srv)
        start();
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        fail("connect");
    size_t opened = closed + 1, off = 0, outlen = 0, outcap = 1 << 16;
    char *out = malloc(outcap);
    int writing = 1;
    if (!out)
        fail("out of memory");
    for (;;) {
        if (writing && off < len) {
            ssize_t n = send(fd, data + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0)
                off += (size_t)n;
            else if (n < 0 && errno != EAGAIN)
                writing = 0; /* the server hung up (over-long line) */
        }
        if (writing && off == len) {
            shutdown(fd, SHUT_WR);
            writing = 0;
        }
        uv_run(&loop, UV_RUN_NOWAIT);
        if (outcap - outlen < 4096 && !(out = realloc(out, outcap *= 2)))
            fail("out of memory");
        ssize_t n = recv(fd, out + outlen, outcap - outlen, MSG_DONTWAIT);
        if (n > 0)
            outlen += (size_t)n;
        else if (n == 0 || errno != EAGAIN)
            break;
    }
    close(fd);
    while (closed < opened) /* the server forgets the connection */
        uv_run(&loop, UV_RUN_NOWAIT);

    int too_long;
    size_t want = expected_replies(data, len, &too_long);
    size_t got = check_replies(out, outlen);
    if (too_long ? got > want : got != want) {
        fprintf(stderr, "%zu replies for %zu requests\n", got, want);
        fail("not one reply per request");
    }
    free(out);
    return 0;
}
