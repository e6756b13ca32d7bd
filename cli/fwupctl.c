/*
 * fwupctl: command-line client for fwupgwd's control socket.
 *
 *   fwupctl [--socket PATH] [--json] [--timeout SEC] COMMAND [ARGS...]
 *
 * Exit codes:
 *   0  success
 *   1  the daemon reported an error, or an input file is bad
 *   2  usage error
 *   3  daemon unreachable: cannot connect, connection lost, no reply in time
 *   4  a job asked about failed or was cancelled (status, watch, --wait)
 *
 * Errors are one line on stderr, "fwupctl: <message>"; a daemon error ends
 * in "(error <code>)" with the code from include/fwupgw/sockapi.h.
 */
#include "fwupctl.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
            "Options (before the command):\n"
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
               "  4  a job failed or was cancelled (status JOB, watch, --wait)\n");
}

void fwupctl_err(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("fwupctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int fwupctl_usage(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (cmd)
        fwupctl_err("%s: %s (see 'fwupctl %s --help')", cmd, msg, cmd);
    else
        fwupctl_err("%s (see 'fwupctl --help')", msg);
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

int fwupctl_getopt(const char *cmd, int argc, char **argv, const char *optstring,
                   const struct option *opts, void (*help)(void), int *rc)
{
    static const struct option help_only[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt = getopt_long(argc, argv, optstring, opts ? opts : help_only, NULL);
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

int fwupctl_connect(const struct fwupctl_ctx *ctx, struct fwup_client *c)
{
    fwup_client_init(c);
    c->timeout_ms = ctx->timeout_ms;
    if (fwup_client_connect(c, ctx->socket_path) != FWUP_CLIENT_OK) {
        fwupctl_err("%s", c->err);
        fwup_client_close(c);
        return FWUPCTL_EXIT_UNREACHABLE;
    }
    return FWUPCTL_EXIT_OK;
}

int fwupctl_call(struct fwup_client *c, const char *method, json_t *params, const int *fds,
                 size_t nfds, json_t **result)
{
    int rc = fwup_client_call(c, method, params, fds, nfds, result);
    switch (rc) {
    case FWUP_CLIENT_OK:
        return FWUPCTL_EXIT_OK;
    case FWUP_CLIENT_EDAEMON:
        fwupctl_err("%s", c->err);
        return FWUPCTL_EXIT_ERROR;
    case FWUP_CLIENT_EINTR:
        fwupctl_err("interrupted");
        return FWUPCTL_EXIT_ERROR;
    default:
        fwupctl_err("%s", c->err);
        return FWUPCTL_EXIT_UNREACHABLE;
    }
}

int fwupctl_subscribe(struct fwup_client *c)
{
    json_t *res = NULL;
    int rc = fwupctl_call(c, "events.subscribe", NULL, NULL, 0, &res);
    json_decref(res);
    return rc;
}

int fwupctl_call_once(const struct fwupctl_ctx *ctx, const char *method, json_t *params,
                      json_t **result)
{
    struct fwup_client c;
    *result = NULL;
    int rc = fwupctl_connect(ctx, &c);
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
    struct fwupctl_ctx ctx = {.socket_path = NULL, .json = false, .timeout_ms = 60000};
    const char *env = getenv("FWUPGW_SOCKET");
    ctx.socket_path = env && *env ? env : FWUP_SOCKAPI_DEFAULT_PATH;

    /* A daemon that goes away must show up as an error, not kill us. */
    signal(SIGPIPE, SIG_IGN);

    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'},  {"json", no_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 't'}, {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int opt;
    /* '+': stop at the command name; its options are its own. */
    while ((opt = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (opt) {
        case 's':
            ctx.socket_path = optarg;
            break;
        case 'j':
            ctx.json = true;
            break;
        case 't': {
            uint64_t t;
            if (fwupctl_parse_u64(optarg, &t) < 0 || t > 86400)
                return fwupctl_usage(NULL, "bad --timeout '%s' (seconds, 0..86400)", optarg);
            ctx.timeout_ms = t == 0 ? -1 : (int)t * 1000;
            break;
        }
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
            int rc = commands[i].run(&ctx, sub_argc, sub_argv);
            if (fflush(stdout) != 0 && rc == FWUPCTL_EXIT_OK) {
                fwupctl_err("writing output: %s", strerror(errno));
                rc = FWUPCTL_EXIT_ERROR;
            }
            return rc;
        }
    }
    return fwupctl_usage(NULL, "unknown command '%s'", name);
}
