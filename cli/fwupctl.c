/*
 * fwupctl: command-line client for fwupgwd's control socket.
 *
 *   fwupctl [--socket PATH] [--json] [--timeout SEC] COMMAND [ARGS...]
 *
 * The global options may also come after the command and its operands.
 * Exit codes: see fwupctl.h and usage() below.
 *
 * Errors are one line on stderr, "fwupctl: <message>" for people; under
 * --json one JSON object per error, {"error": {"code": "...", "message":
 * "..."}}, with the stable codes of fwupctl.h.
 */
#include "fwupctl.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fwupgw/sockapi.h"

struct command {
    const char *name;
    int (*run)(const struct fwupctl_ctx *ctx, int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"devices", fwupctl_cmd_devices, "list configured devices"},
    {"queue", fwupctl_cmd_queue, "queue a firmware image for a device"},
    {"status", fwupctl_cmd_status, "show recent jobs, one job, or a device's jobs"},
    {"watch", fwupctl_cmd_watch, "follow job progress live"},
    {"cancel", fwupctl_cmd_cancel, "cancel a queued or running job"},
    {"history", fwupctl_cmd_history, "show the event history"},
    {"apply", fwupctl_cmd_apply, "queue a batch from a YAML manifest"},
    {"version", fwupctl_cmd_version, "show client and daemon versions"},
};

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: fwupctl [OPTIONS] COMMAND [ARGS...]\n"
            "\n"
            "Control fwupgwd, the firmware-update gateway daemon.\n"
            "\n"
            "Options (before or after the command):\n"
            "  --socket PATH   control socket (default $FWUPGW_SOCKET or " FWUP_SOCKAPI_DEFAULT_PATH
            ")\n"
            "  --json          machine-readable output: the daemon's result object as one\n"
            "                  line of JSON (watch: one JSON object per line)\n"
            "  --timeout SEC   wait at most SEC seconds for each reply (default 60, 0 = "
            "forever)\n"
            "  --version       print the client version\n"
            "  --help          this text\n"
            "\n"
            "Commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n"
               "Run 'fwupctl COMMAND --help' for a command's arguments.\n"
               "\n"
               "Exit status:\n"
               "  0  success\n"
               "  1  the daemon reported an error, or an input file is bad\n"
               "  2  usage error\n"
               "  3  daemon unreachable (cannot connect, connection lost, no reply)\n"
               "  4  a job failed or was cancelled (status JOB, watch, --wait)\n"
               "  5  permission denied (not allowed on the socket, or read-only access)\n"
               "  130  Ctrl-C on watch or --wait (queued jobs keep running)\n"
               "\n"
               "With --json, errors are JSON objects on stderr:\n"
               "  {\"error\":{\"code\":\"not_found\",\"message\":\"...\"}}\n");
}

/* The context of this run: main() fills it, and the global options found
 * among a command's own options update it (commands see it as const). */
static struct fwupctl_ctx ctx = {.socket_path = NULL, .json = false, .timeout_ms = 60000};

bool fwupctl_json(void)
{
    return ctx.json;
}

static void verr(const char *code, const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    fflush(stdout);
    if (ctx.json) {
        json_t *e = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
        json_dumpf(e, stderr, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fputc('\n', stderr);
        json_decref(e);
    } else {
        fprintf(stderr, "fwupctl: %s\n", msg);
    }
}

void fwupctl_errc(const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(code, fmt, ap);
    va_end(ap);
}

void fwupctl_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(FWUPCTL_E_INPUT, fmt, ap);
    va_end(ap);
}

const char *fwupctl_daemon_code(int code)
{
    switch (code) {
    case FWUP_E_NOT_FOUND:
        return "not_found";
    case FWUP_E_IMAGE:
        return "bad_image";
    case FWUP_E_CHECKSUM:
        return "checksum_mismatch";
    case FWUP_E_STATE:
        return "invalid_state";
    case FWUP_E_PARAMS:
        return "invalid_params";
    case FWUP_E_NO_METHOD:
        return "unknown_method";
    case FWUP_E_VERSION:
        return "version_mismatch";
    case FWUP_E_TOO_LARGE:
        return "too_large";
    case FWUP_E_BUSY:
        return "busy";
    case FWUP_E_UNAVAILABLE:
        return "unavailable";
    case FWUP_E_DENIED:
        return FWUPCTL_E_DENIED;
    default:
        return "daemon_error";
    }
}

/* Permission problems name the group that grants access: the socket's.
 * `connecting`: refused by the socket itself, else by the daemon. */
static int denied(const char *what, bool connecting)
{
    struct stat st;
    char group[96] = "the socket's group (daemon.socket_group)";
    if (stat(ctx.socket_path, &st) == 0) {
        const struct group *g = getgrgid(st.st_gid);
        if (g)
            snprintf(group, sizeof(group), "group '%s'", g->gr_name);
        else
            snprintf(group, sizeof(group), "group %lu", (unsigned long)st.st_gid);
    }
    fwupctl_errc(FWUPCTL_E_DENIED,
                 "%s; members of %s may %s: ask an administrator to add you, then log in again",
                 what, group, connecting ? "connect" : "queue and cancel jobs");
    return FWUPCTL_EXIT_DENIED;
}

int fwupctl_client_fail(const struct fwup_client *c, int rc)
{
    if (rc == FWUP_CLIENT_EDAEMON) {
        if (c->err_code == FWUP_E_DENIED)
            return denied(c->err, false);
        fwupctl_errc(fwupctl_daemon_code(c->err_code), "%s", c->err);
        return FWUPCTL_EXIT_ERROR;
    }
    if (rc == FWUP_CLIENT_EINTR) {
        fwupctl_errc(FWUPCTL_E_INTERRUPTED, "interrupted");
        return FWUPCTL_EXIT_ERROR;
    }
    if (c->connect_errno == EACCES || c->connect_errno == EPERM)
        return denied(c->err, true);
    fwupctl_errc(FWUPCTL_E_UNREACHABLE, "%s", c->err);
    return FWUPCTL_EXIT_UNREACHABLE;
}

int fwupctl_usage(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (cmd)
        fwupctl_errc(FWUPCTL_E_USAGE, "%s: %s (see 'fwupctl %s --help')", cmd, msg, cmd);
    else
        fwupctl_errc(FWUPCTL_E_USAGE, "%s (see 'fwupctl --help')", msg);
    return FWUPCTL_EXIT_USAGE;
}

int fwupctl_bad_option(const char *cmd, int opt, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    if (opt == ':')
        return fwupctl_usage(cmd, "option %s needs an argument", arg);
    if (optopt)
        return fwupctl_usage(cmd, "unknown option -%c", optopt);
    return fwupctl_usage(cmd, "unknown option %s", arg);
}

/* The global options, accepted before and after the command. */
enum { OPT_SOCKET = 0x100, OPT_JSON, OPT_TIMEOUT };
#define GLOBAL_OPTS                                                                                \
    {"socket", required_argument, NULL, OPT_SOCKET}, {"json", no_argument, NULL, OPT_JSON},        \
    {                                                                                              \
        "timeout", required_argument, NULL, OPT_TIMEOUT                                            \
    }

/* Applies a global option; FWUPCTL_EXIT_OK or a usage error's exit code. */
static int global_option(int opt, const char *arg)
{
    switch (opt) {
    case OPT_SOCKET:
        ctx.socket_path = arg;
        break;
    case OPT_JSON:
        ctx.json = true;
        break;
    case OPT_TIMEOUT: {
        uint64_t t;
        if (fwupctl_parse_u64(arg, &t) < 0 || t > 86400)
            return fwupctl_usage(NULL, "bad --timeout '%s' (seconds, 0..86400)", arg);
        ctx.timeout_ms = t == 0 ? -1 : (int)t * 1000;
        break;
    }
    }
    return FWUPCTL_EXIT_OK;
}

int fwupctl_getopt(const char *cmd, int argc, char **argv, const char *optstring,
                   const struct option *opts, void (*help)(void), int *rc)
{
    static const struct option help_only[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const struct option globals[] = {GLOBAL_OPTS};
    /* The command's options plus the global ones; rebuilt identically on
     * every call, so getopt_long sees one stable table. */
    static struct option merged[64];
    size_t n = 0;
    for (const struct option *o = opts ? opts : help_only; o->name; o++)
        if (n < sizeof(merged) / sizeof(merged[0]) - 4)
            merged[n++] = *o;
    for (size_t i = 0; i < sizeof(globals) / sizeof(globals[0]); i++)
        merged[n++] = globals[i];
    merged[n] = (struct option){NULL, 0, NULL, 0};
    int opt;
    while ((opt = getopt_long(argc, argv, optstring, merged, NULL)) >= OPT_SOCKET) {
        if ((*rc = global_option(opt, optarg)) != FWUPCTL_EXIT_OK)
            return FWUPCTL_OPT_EXIT;
    }
    switch (opt) {
    case 'h':
        help();
        *rc = FWUPCTL_EXIT_OK;
        return FWUPCTL_OPT_EXIT;
    case ':':
    case '?':
        *rc = fwupctl_bad_option(cmd, opt, argv);
        return FWUPCTL_OPT_EXIT;
    default:
        return opt;
    }
}

int fwupctl_max_args(const char *cmd, int argc, char **argv, int max)
{
    if (argc - optind > max)
        return fwupctl_usage(cmd, "unexpected argument '%s'", argv[optind + max]);
    return 0;
}

/* Says why a request that queues work is sent again (not under --json:
 * the retry's outcome is what counts there). */
static void note_retry(const char *why)
{
    if (!ctx.json)
        fprintf(stderr, "fwupctl: %s; asking again with the same idempotency key\n", why);
}

int fwupctl_connect(const struct fwupctl_ctx *cx, struct fwup_client *c)
{
    fwup_client_init(c);
    c->timeout_ms = cx->timeout_ms;
    c->retrying = note_retry;
    int rc = fwup_client_connect(c, cx->socket_path);
    if (rc != FWUP_CLIENT_OK) {
        rc = fwupctl_client_fail(c, rc);
        fwup_client_close(c);
        return rc;
    }
    return FWUPCTL_EXIT_OK;
}

int fwupctl_call(struct fwup_client *c, const char *method, json_t *params, const int *fds,
                 size_t nfds, json_t **result)
{
    int rc = fwup_client_call(c, method, params, fds, nfds, result);
    return rc == FWUP_CLIENT_OK ? FWUPCTL_EXIT_OK : fwupctl_client_fail(c, rc);
}

void fwupctl_name_image(char *out, size_t len, const char *path, const char *msg)
{
    unsigned long line;
    int used = 0, n;
    if (sscanf(msg, "line %lu: %n", &line, &used) == 1 && used > 0)
        n = snprintf(out, len, "%s:%lu: %s", path, line, msg + used);
    else
        n = snprintf(out, len, "%s: %s", path, msg);
    (void)n; /* a message longer than out is cut: fine */
}

/* The daemon reads images from descriptors and cannot name the file. */
static void name_image(struct fwup_client *c, const char *path)
{
    if (c->err_code != FWUP_E_IMAGE && c->err_code != FWUP_E_CHECKSUM)
        return;
    char msg[sizeof(c->err)];
    memcpy(msg, c->err, sizeof(msg));
    fwupctl_name_image(c->err, sizeof(c->err), path, msg);
}

int fwupctl_call_image(const struct fwupctl_ctx *cx, struct fwup_client *c, bool subscribed,
                       const char *method, json_t *params, int fd, const char *path,
                       json_t **result)
{
    int rc = fwup_client_call_keyed(c, cx->socket_path, subscribed, method, params, &fd, 1, result);
    if (rc == FWUP_CLIENT_EDAEMON)
        name_image(c, path);
    return rc == FWUP_CLIENT_OK ? FWUPCTL_EXIT_OK : fwupctl_client_fail(c, rc);
}

int fwupctl_subscribe(struct fwup_client *c)
{
    json_t *res = NULL;
    int rc = fwupctl_call(c, "events.subscribe", NULL, NULL, 0, &res);
    json_decref(res);
    return rc;
}

int fwupctl_call_once(const struct fwupctl_ctx *cx, const char *method, json_t *params,
                      json_t **result)
{
    struct fwup_client c;
    *result = NULL;
    int rc = fwupctl_connect(cx, &c);
    if (rc) {
        json_decref(params);
        return rc;
    }
    rc = fwupctl_call(&c, method, params, NULL, 0, result);
    fwup_client_close(&c);
    return rc;
}

int fwupctl_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int fwupctl_parse_job_id(const char *s, int64_t *out)
{
    if (!s || !*s)
        return -1;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno || v <= 0)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    const char *env = getenv("FWUPGW_SOCKET");
    ctx.socket_path = env && *env ? env : FWUP_SOCKAPI_DEFAULT_PATH;
    /* --json anywhere decides how errors look, even ones found before the
     * option parser reaches it. */
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--json"))
            ctx.json = true;

    /* Output into a closed pipe (`| head`) ends us quietly by SIGPIPE, even
     * if the parent ignored it; the socket is written with MSG_NOSIGNAL, so
     * a daemon that goes away is an error, not a signal. */
    signal(SIGPIPE, SIG_DFL);

    static const struct option opts[] = {
        GLOBAL_OPTS,
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int opt, rc;
    /* '+': stop at the command name; its options are its own. */
    while ((opt = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_SOCKET:
        case OPT_JSON:
        case OPT_TIMEOUT:
            if ((rc = global_option(opt, optarg)) != FWUPCTL_EXIT_OK)
                return rc;
            break;
        case 'V':
            printf("fwupctl %s\n", FWUP_VERSION);
            return FWUPCTL_EXIT_OK;
        case 'h':
            usage(stdout);
            return FWUPCTL_EXIT_OK;
        default:
            return fwupctl_bad_option(NULL, opt, argv);
        }
    }
    if (optind >= argc)
        return fwupctl_usage(NULL, "missing command");
    const char *name = argv[optind];
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (!strcmp(commands[i].name, name)) {
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;
            optind = 0; /* full getopt re-initialisation (GNU) for the command */
            rc = commands[i].run(&ctx, sub_argc, sub_argv);
            if (fflush(stdout) != 0 && rc == FWUPCTL_EXIT_OK) {
                fwupctl_errc(FWUPCTL_E_INTERNAL, "writing output: %s", strerror(errno));
                rc = FWUPCTL_EXIT_ERROR;
            }
            return rc;
        }
    }
    return fwupctl_usage(NULL, "unknown command '%s'", name);
}
