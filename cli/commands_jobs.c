/*
 * Single-job commands: fwupctl queue, status, cancel.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "defaults.h"
#include "fwupctl.h"
#include "image.h"
#include "output.h"
#include "sha256hex.h"

static void queue_help(void)
{
    printf("Usage: fwupctl queue DEVICE IMAGE [OPTIONS]\n"
           "\n"
           "Queue IMAGE for DEVICE and say what the daemon made of it:\n"
           "  queued job 12: sensor-01 <- app.hex (ihex, 0x08000000-0x0800A3FF, 41984 bytes)\n"
           "fwupctl opens IMAGE itself and passes the open file to the daemon.\n"
           "\n"
           "  --format F         auto (default), bin, ihex, srec, elf, dfu or dfuse;\n"
           "                     auto refuses a file that looks like a format (or like\n"
           "                     text) but fails its checks: bin sends any file raw\n"
           "  --address A        load address of a raw binary (decimal or 0x hex;\n"
           "                     default: the device's flash base)\n"
           "  --version V        version label stored with the job\n"
           "  --sha256 HEX       refuse the image unless its SHA-256 is HEX\n"
           "  --max-attempts N   override the retry limit\n"
           "  --replace          cancel DEVICE's earlier queued, retrying or running jobs\n"
           "                     (a running one is stopped cleanly first); without it the\n"
           "                     new job waits until they have finished\n"
           "  --wait             follow the job until it finishes (like watch);\n"
           "                     exit 4 if it failed or was cancelled\n");
}

/* What --replace did to the device's earlier jobs. */
static void print_replaced(const json_t *replaced, json_int_t by)
{
    size_t i;
    const json_t *r;
    json_array_foreach(replaced, i, r)
    {
        json_int_t id = json_integer_value(json_object_get(r, "id"));
        if (json_is_true(json_object_get(r, "cancel_requested")))
            printf("job %" JSON_INTEGER_FORMAT
                   " is being stopped: replaced by job %" JSON_INTEGER_FORMAT
                   ", which starts once it has stopped\n",
                   id, by);
        else
            printf("job %" JSON_INTEGER_FORMAT " cancelled: replaced by job %" JSON_INTEGER_FORMAT
                   "\n",
                   id, by);
    }
}

int fwupctl_cmd_queue(const struct fwupctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'},
        {"address", required_argument, NULL, 'a'},
        {"version", required_argument, NULL, 'v'},
        {"sha256", required_argument, NULL, 's'},
        {"max-attempts", required_argument, NULL, 'm'},
        {"wait", no_argument, NULL, 'w'},
        {"replace", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool replace = false;
    const char *format = NULL, *version = NULL;
    char *sha = NULL;
    uint64_t address = 0, max_attempts = 0;
    bool have_address = false, have_max = false, wait = false;
    int opt, rc;
    while ((opt = fwupctl_getopt("queue", argc, argv, ":h", opts, queue_help, &rc)) != -1) {
        switch (opt) {
        case 'f':
            if (fwup_image_format_canonical(optarg) < 0)
                return fwupctl_usage("queue", "unknown format '%s'", optarg);
            format = optarg;
            break;
        case 'a':
            if (fwupctl_parse_u64(optarg, &address) < 0 || address > INT64_MAX)
                return fwupctl_usage("queue", "bad address '%s'", optarg);
            have_address = true;
            break;
        case 'v':
            version = optarg;
            break;
        case 's':
            if (fwup_sha256_hex_check(optarg, &(size_t){0}) < 0)
                return fwupctl_usage("queue", "--sha256 needs 64 hex digits");
            fwup_sha256_hex_lower(optarg, optarg);
            sha = optarg;
            break;
        case 'm':
            if (fwupctl_parse_u64(optarg, &max_attempts) < 0 || max_attempts < 1 ||
                max_attempts > FWUP_MAX_ATTEMPTS_MAX)
                return fwupctl_usage("queue", "bad --max-attempts '%s'", optarg);
            have_max = true;
            break;
        case 'w':
            wait = true;
            break;
        case 'r':
            replace = true;
            break;
        case FWUPCTL_OPT_EXIT:
            return rc;
        }
    }
    if (argc - optind < 2)
        return fwupctl_usage("queue", "needs DEVICE and IMAGE");
    if ((rc = fwupctl_max_args("queue", argc, argv, 2)))
        return rc;
    const char *device = argv[optind], *path = argv[optind + 1];

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fwupctl_err("cannot open %s: %s", path, strerror(errno));
        return FWUPCTL_EXIT_ERROR;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode)) {
        fwupctl_err("%s: not a readable file", path);
        close(fd);
        return FWUPCTL_EXIT_ERROR;
    }

    struct fwup_client c;
    rc = fwupctl_connect(ctx, &c);
    if (rc) {
        close(fd);
        return rc;
    }
    json_t *res = NULL;
    /* Subscribe before queueing so not even the first event is missed. */
    if (wait && (rc = fwupctl_subscribe(&c)))
        goto out;
    json_t *params = json_pack("{s:s, s:{s:i}}", "device", device, "image", "fd", 0);
    if (format)
        json_object_set_new(params, "format", json_string(format));
    if (have_address)
        json_object_set_new(params, "address", json_integer((json_int_t)address));
    if (sha)
        json_object_set_new(params, "sha256", json_string(sha));
    if (version)
        json_object_set_new(params, "version", json_string(version));
    if (have_max)
        json_object_set_new(params, "max_attempts", json_integer((json_int_t)max_attempts));
    if (replace)
        json_object_set_new(params, "replace", json_true());
    rc = fwupctl_call_image(ctx, &c, wait, "jobs.queue", params, fd, path, &res);
    close(fd);
    fd = -1;
    if (rc)
        goto out;
    json_t *job = json_object_get(res, "job");
    json_t *jid = json_object_get(job, "id");
    if (!json_is_integer(jid)) {
        fwupctl_errc(FWUPCTL_E_PROTOCOL, "daemon reply to jobs.queue has no job id");
        rc = FWUPCTL_EXIT_ERROR;
        goto out;
    }
    char desc[160];
    if (ctx->json && !wait) /* with --wait: events only, the first names the job */
        fwup_json_print(stdout, res);
    else if (!ctx->json)
        printf("queued job %" JSON_INTEGER_FORMAT ": %s <- %s (%s)\n", json_integer_value(jid),
               device, path, fwup_fmt_image(desc, sizeof(desc), json_object_get(res, "image")));
    if (!ctx->json)
        print_replaced(json_object_get(res, "replaced"), json_integer_value(jid));
    fflush(stdout);
    if (wait) {
        int64_t id = json_integer_value(jid);
        struct fwupctl_watch_opts wo = {.jobs = &id,
                                        .njobs = 1,
                                        .exit_when_done = true,
                                        .subscribed = true,
                                        .detach_hint = true};
        rc = fwupctl_watch(ctx, &c, &wo);
    }
out:
    if (fd >= 0)
        close(fd);
    json_decref(res);
    fwup_client_close(&c);
    return rc;
}

/* Why a queued job does not start: an earlier job of its device; "" if not. */
static const char *waiting_note(char *buf, size_t len, const json_t *job, const char *tail)
{
    json_int_t w = json_integer_value(json_object_get(job, "waiting_for"));
    if (w <= 0)
        return "";
    snprintf(buf, len, " (waiting for job %" JSON_INTEGER_FORMAT "%s)", w, tail);
    return buf;
}

static void add_job_row(struct fwup_table *t, const json_t *job)
{
    struct fwup_job_view v;
    if (fwup_job_view_from_json(&v, job) < 0)
        return;
    char id[32], progress[96] = "-", attempt[32];
    snprintf(id, sizeof(id), "%" PRId64, v.id);
    if (v.total > 0)
        snprintf(progress, sizeof(progress), "%u%% %" PRIu64 "/%" PRIu64 " B",
                 fwup_percent(v.done, v.total), v.done, v.total);
    snprintf(attempt, sizeof(attempt), "%d/%d", v.attempt, v.max_attempts);
    char state[360], note[48];
    snprintf(state, sizeof(state), "%s%s%s%s%s%s", v.state,
             v.cancel_requested && !fwup_job_state_final(v.state) ? " (cancelling)" : "",
             waiting_note(note, sizeof(note), job, ""), v.waiting[0] ? " (waiting: " : "",
             v.waiting, v.waiting[0] ? ")" : "");
    const char *row[] = {id,
                         v.device,
                         state,
                         v.phase[0] ? v.phase : NULL,
                         progress,
                         attempt,
                         v.error[0] ? v.error : NULL};
    fwup_table_add(t, row);
}

static void print_job_detail(const json_t *job)
{
    struct fwup_job_view v;
    fwup_job_view_from_json(&v, job);
    char buf[128];
    const json_t *img = json_object_get(job, "image");
    printf("%-12s%" PRId64 "\n", "job:", v.id);
    printf("%-12s%s\n", "device:", v.device);
    if (v.batch > 0)
        printf("%-12s%" PRId64 "\n", "batch:", v.batch);
    else
        printf("%-12s-\n", "batch:");
    printf("%-12s%s%s%s\n", "state:", v.state,
           v.cancel_requested && !fwup_job_state_final(v.state) ? " (cancel requested)" : "",
           waiting_note(buf, sizeof(buf), job, " on the same device"));
    if (v.waiting[0])
        printf("%-12s%s\n", "waiting:", v.waiting);
    printf("%-12s%s\n", "phase:", v.phase[0] ? v.phase : "-");
    printf("%-12s%u%% %" PRIu64 "/%" PRIu64 " B\n", "progress:", fwup_percent(v.done, v.total),
           v.done, v.total);
    printf("%-12s%d/%d\n", "attempt:", v.attempt, v.max_attempts);
    if (json_is_object(img)) {
        const char *sha = json_string_value(json_object_get(img, "sha256"));
        const char *fmt = json_string_value(json_object_get(img, "format"));
        json_int_t size = json_integer_value(json_object_get(img, "size"));
        printf("%-12s%s %s %" JSON_INTEGER_FORMAT " B\n", "image:", sha ? sha : "-",
               fmt ? fmt : "-", size);
    }
    printf("%-12s%s\n", "version:", v.version[0] ? v.version : "-");
    static const char *const times[][2] = {{"created", "created:"},
                                           {"started", "started:"},
                                           {"finished", "finished:"},
                                           {"not_before", "not before:"}};
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        json_int_t ms = json_integer_value(json_object_get(job, times[i][0]));
        printf("%-12s%s\n", times[i][1], fwup_fmt_time(buf, sizeof(buf), ms));
    }
    printf("%-12s%s\n", "error:", v.error[0] ? v.error : "-");
}

/* A daemon that cannot record what it does says so in every reply; status
 * passes it on where people look. */
static void warn_degraded(const json_t *res)
{
    const char *why = json_string_value(json_object_get(res, "degraded"));
    if (why)
        fprintf(stderr, "fwupctl: the daemon is degraded: %s\n", why);
}

static void status_help(void)
{
    printf("Usage: fwupctl status [JOB | DEVICE] [--device D] [--limit N]\n"
           "\n"
           "Without an argument: the most recent jobs (newest first) as a table of\n"
           "ID, DEVICE, STATE, PHASE, PROGRESS, ATTEMPT and ERROR. A queued job's\n"
           "STATE says what it waits for: an earlier job of its device, or the\n"
           "port or bus another job's run holds.\n"
           "With a numeric JOB: that job in detail; exit 4 if it failed or was\n"
           "cancelled. With DEVICE (or --device for a numeric device id): that\n"
           "device's jobs.\n"
           "\n"
           "  --device D   list the jobs of device D\n"
           "  --limit N    at most N jobs in a list (default 20)\n");
}

int fwupctl_cmd_status(const struct fwupctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"device", required_argument, NULL, 'd'},
        {"limit", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *device = NULL;
    uint64_t limit = 20;
    int opt, rc;
    while ((opt = fwupctl_getopt("status", argc, argv, ":h", opts, status_help, &rc)) != -1) {
        switch (opt) {
        case 'd':
            device = optarg;
            break;
        case 'l':
            if (fwupctl_parse_u64(optarg, &limit) < 0 || limit < 1 || limit > 1000000)
                return fwupctl_usage("status", "bad --limit '%s'", optarg);
            break;
        case FWUPCTL_OPT_EXIT:
            return rc;
        }
    }
    if ((rc = fwupctl_max_args("status", argc, argv, 1)))
        return rc;
    int64_t job = 0;
    if (optind < argc) {
        if (device)
            return fwupctl_usage("status", "give either --device or an argument");
        if (fwupctl_parse_job_id(argv[optind], &job) < 0)
            device = argv[optind];
    }

    json_t *res;
    if (job > 0) {
        rc = fwupctl_call_once(ctx, "jobs.get", json_pack("{s:I}", "job", (json_int_t)job), &res);
        if (rc)
            return rc;
        json_t *j = json_object_get(res, "job");
        if (ctx->json)
            fwup_json_print(stdout, res);
        else
            print_job_detail(j);
        warn_degraded(res);
        const char *state = json_string_value(json_object_get(j, "state"));
        rc = state && (!strcmp(state, "failed") || !strcmp(state, "cancelled"))
                 ? FWUPCTL_EXIT_JOB_FAILED
                 : FWUPCTL_EXIT_OK;
        json_decref(res);
        return rc;
    }

    json_t *params = json_pack("{s:I}", "limit", (json_int_t)limit);
    if (device)
        json_object_set_new(params, "device", json_string(device));
    rc = fwupctl_call_once(ctx, "jobs.list", params, &res);
    if (rc)
        return rc;
    if (ctx->json) {
        fwup_json_print(stdout, res);
    } else {
        static const char *const hdr[] = {"ID",       "DEVICE",  "STATE", "PHASE",
                                          "PROGRESS", "ATTEMPT", "ERROR"};
        struct fwup_table t;
        fwup_table_init(&t, 7, hdr);
        size_t i;
        json_t *j;
        json_array_foreach(json_object_get(res, "jobs"), i, j) add_job_row(&t, j);
        fwup_table_print(&t, stdout);
        fwup_table_free(&t);
    }
    warn_degraded(res);
    json_decref(res);
    return FWUPCTL_EXIT_OK;
}

static void cancel_help(void)
{
    printf("Usage: fwupctl cancel JOB\n"
           "\n"
           "Cancel JOB. A queued job is cancelled at once; a running job is asked to\n"
           "abort cleanly. Prints the job's resulting state, e.g.\n"
           "\"job 12 dev3 cancelled\" or \"job 12 dev3 running transfer (cancel requested)\".\n");
}

int fwupctl_cmd_cancel(const struct fwupctl_ctx *ctx, int argc, char **argv)
{
    int rc;
    if (fwupctl_getopt("cancel", argc, argv, ":h", NULL, cancel_help, &rc) != -1)
        return rc;
    if (argc - optind != 1)
        return fwupctl_usage("cancel", "needs exactly one JOB");
    int64_t job;
    if (fwupctl_parse_job_id(argv[optind], &job) < 0)
        return fwupctl_usage("cancel", "bad job id '%s'", argv[optind]);
    json_t *res;
    rc = fwupctl_call_once(ctx, "jobs.cancel", json_pack("{s:I}", "job", (json_int_t)job), &res);
    if (rc)
        return rc;
    if (ctx->json) {
        fwup_json_print(stdout, res);
    } else {
        struct fwup_job_view v;
        char line[512];
        if (fwup_job_view_from_json(&v, json_object_get(res, "job")) == 0)
            printf("%s\n", fwup_fmt_state_line(line, sizeof(line), &v));
    }
    json_decref(res);
    return FWUPCTL_EXIT_OK;
}
