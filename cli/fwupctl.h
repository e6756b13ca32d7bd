/*
 * fwupctl internals shared by the command files: exit codes, the global
 * options, error reporting and the command entry points.
 */
#ifndef FWUPCTL_H
#define FWUPCTL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "client.h"

#ifndef FWUP_VERSION
#define FWUP_VERSION "0.0.0"
#endif

/* Exit codes (also listed in `fwupctl --help`). */
enum fwupctl_exit {
    FWUPCTL_EXIT_OK = 0,
    FWUPCTL_EXIT_ERROR = 1,       /* the daemon refused, or a bad input file */
    FWUPCTL_EXIT_USAGE = 2,       /* bad command line */
    FWUPCTL_EXIT_UNREACHABLE = 3, /* cannot connect, connection lost, no reply */
    FWUPCTL_EXIT_JOB_FAILED = 4,  /* a job asked about failed or was cancelled */
    FWUPCTL_EXIT_DENIED = 5,      /* not allowed on the socket, or to change things */
};
/* Ctrl-C ends `watch` and `--wait` by the signal itself (the shell sees
 * 128 + 2 = 130); a closed stdout pipe ends any command by SIGPIPE (141),
 * silently. */

/* Stable error codes: "code" of the {"error": {...}} object that --json
 * prints on stderr (README, "fwupctl"). */
#define FWUPCTL_E_USAGE       "usage"             /* exit 2 */
#define FWUPCTL_E_INPUT       "bad_input"         /* a file or manifest given is bad */
#define FWUPCTL_E_UNREACHABLE "unreachable"       /* exit 3 */
#define FWUPCTL_E_DENIED      "permission_denied" /* exit 5 */
#define FWUPCTL_E_JOB_FAILED  "job_failed"        /* exit 4 */
#define FWUPCTL_E_INTERRUPTED "interrupted"       /* Ctrl-C on --wait: jobs keep running */
#define FWUPCTL_E_PROTOCOL    "protocol"          /* the daemon's reply makes no sense */
#define FWUPCTL_E_INTERNAL    "internal"          /* fwupctl itself failed */
/* Daemon errors (include/fwupgw/sockapi.h): not_found, bad_image,
 * checksum_mismatch, invalid_state, invalid_params, unknown_method,
 * version_mismatch, too_large, daemon_error. */

struct fwupctl_ctx {
    const char *socket_path;
    bool json;
    int timeout_ms; /* per reply, < 0 forever */
};

/* An error on stderr: "fwupctl: <message>", or under --json one line
 * {"error": {"code": CODE, "message": "<message>"}}. */
void fwupctl_errc(const char *code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The stable name of a daemon error code (include/fwupgw/sockapi.h). */
const char *fwupctl_daemon_code(int code);
/* fwupctl_errc for a bad input (FWUPCTL_E_INPUT). */
void fwupctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reports a failed fwup_client call (not OK, not EINTR) and returns the
 * exit code: 1 daemon error, 3 unreachable, 5 denied (with a hint naming
 * the socket's group). */
int fwupctl_client_fail(const struct fwup_client *c, int rc);
/* True under --json (also when --json comes after the command). */
bool fwupctl_json(void);
/* Reports a usage error for `cmd` and returns FWUPCTL_EXIT_USAGE. */
int fwupctl_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* For a getopt_long() result ':' or '?' (optstring starting with ':'):
 * reports the offending option and returns FWUPCTL_EXIT_USAGE. */
int fwupctl_bad_option(const char *cmd, int opt, char **argv);

struct option;
/* getopt_long() for a command, with --help and bad options handled the same
 * way everywhere. Returns the command's next own option, or -1 once they
 * are done. Returns FWUPCTL_OPT_EXIT with the exit code in *rc when the
 * command must end now: it printed `help` or reported a usage error.
 * opts NULL: the command takes --help only. */
#define FWUPCTL_OPT_EXIT (-2)
int fwupctl_getopt(const char *cmd, int argc, char **argv, const char *optstring,
                   const struct option *opts, void (*help)(void), int *rc);
/* After the options: reports the first of more than `max` operands and
 * returns FWUPCTL_EXIT_USAGE, else 0. */
int fwupctl_max_args(const char *cmd, int argc, char **argv, int max);

/* Connects; on failure reports and returns FWUPCTL_EXIT_UNREACHABLE. */
int fwupctl_connect(const struct fwupctl_ctx *ctx, struct fwup_client *c);
/* fwup_client_call that reports failures; returns an exit code. */
int fwupctl_call(struct fwup_client *c, const char *method, json_t *params, const int *fds,
                 size_t nfds, json_t **result);
/* An image error message from the daemon, which read the image from a
 * descriptor, with the file's name: "line 5: x" -> "PATH:5: x", else
 * "PATH: msg". */
void fwupctl_name_image(char *out, size_t len, const char *path, const char *msg);
/* fwupctl_call with one image descriptor, opened from `path`: image and
 * checksum errors name the file ("images/a.hex:5: checksum mismatch"). The
 * request queues work, so it goes as fwup_client_call_keyed (done at most
 * once, asked again on a lost connection). */
int fwupctl_call_image(const struct fwupctl_ctx *ctx, struct fwup_client *c, bool subscribed,
                       const char *method, json_t *params, int fd, const char *path,
                       json_t **result);
/* events.subscribe on c, before a request whose events must not be missed. */
int fwupctl_subscribe(struct fwup_client *c);
/* Connect, one call, close: for the simple read commands. */
int fwupctl_call_once(const struct fwupctl_ctx *ctx, const char *method, json_t *params,
                      json_t **result);

/* Parses a whole decimal or 0x-hex number; -1 if it is not one. */
int fwupctl_parse_u64(const char *s, uint64_t *out);
/* A job id: a positive decimal integer. */
int fwupctl_parse_job_id(const char *s, int64_t *out);

/* Live progress (watch.c), shared by `watch`, `queue --wait`, `apply --wait`. */
struct fwupctl_watch_opts {
    const int64_t *jobs; /* follow these jobs ... */
    size_t njobs;
    int64_t batch; /* ... and/or this batch (0 = none); neither: all active jobs */
    bool exit_when_done;
    bool subscribed;  /* the caller already sent events.subscribe on this connection */
    bool detach_hint; /* --wait: on Ctrl-C, say the jobs keep running and how to find them */
};
int fwupctl_watch(const struct fwupctl_ctx *ctx, struct fwup_client *c,
                  const struct fwupctl_watch_opts *o);

/* Commands: argv[0] is the command name; the return value is the exit code. */
int fwupctl_cmd_devices(const struct fwupctl_ctx *ctx, int argc, char **argv);
int fwupctl_cmd_queue(const struct fwupctl_ctx *ctx, int argc, char **argv);
int fwupctl_cmd_status(const struct fwupctl_ctx *ctx, int argc, char **argv);
int fwupctl_cmd_cancel(const struct fwupctl_ctx *ctx, int argc, char **argv);
int fwupctl_cmd_watch(const struct fwupctl_ctx *ctx, int argc, char **argv);
int fwupctl_cmd_history(const struct fwupctl_ctx *ctx, int argc, char **argv);
int fwupctl_cmd_apply(const struct fwupctl_ctx *ctx, int argc, char **argv);
int fwupctl_cmd_version(const struct fwupctl_ctx *ctx, int argc, char **argv);

#endif
