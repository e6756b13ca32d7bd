/*
 * The control socket server: a UNIX stream listener on the daemon's libuv
 * loop. It frames newline-delimited JSON requests, receives file descriptors
 * passed with them (SCM_RIGHTS), identifies peers (SO_PEERCRED), enforces
 * size limits, and queues replies and notifications without ever blocking
 * the loop. What a request means is the caller's business (api.c).
 */
#ifndef FWUPGW_SERVER_H
#define FWUPGW_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <uv.h>

struct fwup_server;
struct fwup_conn;

struct fwup_server_callbacks {
    /*
     * One well-formed request: a JSON object with "id" (any JSON value other
     * than null) and a string "method". `params` is the "params" member or an
     * empty object; both are borrowed for the call. `fds` are the
     * descriptors that arrived with the request's line; the callee owns
     * them (must close them). The callee answers synchronously with
     * fwup_conn_reply() or fwup_conn_error() before returning.
     * Malformed lines never reach this callback: the server answers them.
     */
    void (*on_request)(void *ctx, struct fwup_conn *conn, json_t *id, const char *method,
                       json_t *params, int *fds, size_t nfds);
    /* The connection is going away (peer closed, error, slow reader, server
     * stop); after this the conn pointer is invalid. */
    void (*on_close)(void *ctx, struct fwup_conn *conn);
};

struct fwup_server_options {
    const char *path;
    unsigned mode;          /* e.g. 0660 */
    gid_t gid;              /* (gid_t)-1: leave the group alone */
    int allow_unprivileged; /* 0: drop others at accept; 1: they may read */
    size_t max_line;        /* default FWUP_SOCKAPI_MAX_LINE */
    size_t max_pending_out; /* bytes queued to a client before it is dropped as
                               too slow; default 8 MiB */
    /* Totals that bound what clients can make the daemon hold (0: default).
     * A client over one is told why ({"error": {"code": FWUP_E_BUSY}}) and
     * disconnected. */
    size_t max_clients;         /* connections; default 128, fewer if
                                   RLIMIT_NOFILE cannot hold them */
    size_t max_clients_per_uid; /* default 32 */
    size_t max_input_total;     /* request bytes buffered beyond the first
                                   64 KiB of each client; default 32 MiB */
    size_t max_output_total;    /* replies and events queued, all clients;
                                   default 32 MiB */
    size_t fd_reserve;          /* descriptors the daemon needs besides clients */
};

/* Default fd_reserve: SQLite, plugins, logs, a margin. */
#define FWUP_SERVER_FD_RESERVE 64

/* Binds (replacing a stale socket file, refusing one a live daemon holds),
 * chmod/chown, listens. Returns 0 or -1 with a reason in err. */
int fwup_server_start(uv_loop_t *loop, const struct fwup_server_options *opt,
                      const struct fwup_server_callbacks *cb, void *ctx, struct fwup_server **out,
                      char *err, size_t errlen);
/* Closes every connection (on_close for each), the listener, and unlinks
 * the socket file. The server is freed once libuv has closed its handles. */
void fwup_server_stop(struct fwup_server *srv);
/* Applies the limits of opt (a reload); existing connections are kept. */
void fwup_server_set_limits(struct fwup_server *srv, const struct fwup_server_options *opt);
size_t fwup_server_connection_count(const struct fwup_server *srv);

/* 1 if the peer is root, the daemon's own uid, or in the socket's group:
 * such peers may change things; others may only read. */
int fwup_conn_privileged(const struct fwup_conn *conn);
pid_t fwup_conn_pid(const struct fwup_conn *conn);
uid_t fwup_conn_uid(const struct fwup_conn *conn);

/* Replies carry the request id and "v". Both steal the reference to `result`
 * / `data` (which may be NULL). */
void fwup_conn_reply(struct fwup_conn *conn, json_t *id, json_t *result);
void fwup_conn_error(struct fwup_conn *conn, json_t *id, int code, const char *message,
                     json_t *data);
/* {"v":1, "method": method, "params": params} without an id. Steals params.
 * Returns -1 (and schedules the close) when the client is too slow. */
int fwup_conn_notify(struct fwup_conn *conn, const char *method, json_t *params);

void fwup_conn_set_data(struct fwup_conn *conn, void *data);
void *fwup_conn_get_data(const struct fwup_conn *conn);

#endif
