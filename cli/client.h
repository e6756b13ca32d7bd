/*
 * fwupctl's side of the control socket (docs/socket-api.md): connect, send
 * one request line (with descriptors as SCM_RIGHTS in the same sendmsg),
 * read newline-delimited replies, match them to the request id, and queue
 * the event notifications that arrive in between for whoever watches.
 *
 * The framing is lib/jsonl's; the message classifier is pure so the unit
 * tests can drive it without a socket.
 */
#ifndef FWUPCTL_CLIENT_H
#define FWUPCTL_CLIENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "jsonl.h"

enum fwup_msg_kind {
    FWUP_MSG_REPLY,        /* answer to the request we wait for */
    FWUP_MSG_NOTIFICATION, /* {"method": ..., no id} */
    FWUP_MSG_STALE,        /* a reply with some other id: skip it */
    FWUP_MSG_INVALID,      /* not an object, or neither reply nor notification */
};
/* Classifies one decoded line while waiting for the reply to `want_id`. An
 * error reply with id null counts as ours: the daemon could not parse our
 * line (or it was too long) so it could not echo the id. */
enum fwup_msg_kind fwup_msg_classify(const json_t *msg, json_int_t want_id);

/* Return values; the positive ones double as fwupctl exit codes. */
enum fwup_client_status {
    FWUP_CLIENT_OK = 0,
    FWUP_CLIENT_EDAEMON = 1,  /* the daemon answered with an error (err_code/err) */
    FWUP_CLIENT_ELOST = 3,    /* cannot connect, connection lost, no reply in time */
    FWUP_CLIENT_TIMEOUT = -1, /* fwup_client_next_event: nothing arrived in time */
    FWUP_CLIENT_EINTR = -2,   /* *stop was set by a signal handler */
};

struct fwup_client {
    int fd;
    struct fwup_linebuf in;
    json_t *events; /* notifications read while waiting for replies */
    json_int_t next_id;
    int timeout_ms; /* for a reply; < 0 waits forever */
    /* Optional: ppoll() waits with this signal mask and returns
     * FWUP_CLIENT_EINTR once *stop is non-zero. Lets a caller keep SIGINT
     * blocked except while waiting, so no signal slips through unnoticed. */
    const sigset_t *wait_mask;
    volatile sig_atomic_t *stop;
    int err_code;      /* daemon error code after FWUP_CLIENT_EDAEMON */
    json_t *err_data;  /* and the error's "data" (NULL if none), until the next call */
    int connect_errno; /* why fwup_client_connect failed, 0 if it did not */
    /* Optional: told why before fwup_client_call_keyed asks again. */
    void (*retrying)(const char *why);
    char err[1024]; /* human message, without codes */
};

void fwup_client_init(struct fwup_client *c);
/* FWUP_CLIENT_OK or FWUP_CLIENT_ELOST (reason in c->err). */
int fwup_client_connect(struct fwup_client *c, const char *path);
void fwup_client_close(struct fwup_client *c);

/* Sends `len` bytes (one request line including '\n') with `nfds`
 * descriptors attached to its first byte. The descriptors stay ours. */
int fwup_client_send_line(struct fwup_client *c, const char *line, size_t len, const int *fds,
                          size_t nfds);
/* One request/reply round trip. Steals `params` (may be NULL). On
 * FWUP_CLIENT_OK *result holds the "result" member (caller decrefs). */
int fwup_client_call(struct fwup_client *c, const char *method, json_t *params, const int *fds,
                     size_t nfds, json_t **result);
/* fwup_client_call for a request that queues work, done at most once: it
 * goes with a random idempotency key and, if the connection is lost before
 * the reply, once more with that key on a new connection to path (after
 * events.subscribe again if subscribed), which the daemon answers with the
 * first result if it had done it. */
int fwup_client_call_keyed(struct fwup_client *c, const char *path, bool subscribed,
                           const char *method, json_t *params, const int *fds, size_t nfds,
                           json_t **result);
/* The next notification's params (queued ones first). timeout_ms < 0 waits
 * forever. Returns OK, TIMEOUT, EINTR or ELOST. */
int fwup_client_next_event(struct fwup_client *c, int timeout_ms, json_t **params);

#endif
