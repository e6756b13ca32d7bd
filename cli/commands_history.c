/*
 * fwupctl history [DEVICE] [--job N] [--limit N]
 */
#include <getopt.h>
#include <stdio.h>

#include "fwupctl.h"
#include "output.h"

static void help(void)
{
    printf("Usage: fwupctl history [DEVICE] [--job N] [--limit N]\n"
           "\n"
           "Show recorded job events, newest first: TIME (local ISO-8601), JOB,\n"
           "DEVICE, KIND, STATE, PHASE and MESSAGE.\n"
           "\n"
           "  DEVICE      only events of this device\n"
           "  --job N     only events of job N\n"
           "  --limit N   at most N events (default: the daemon's, 100)\n");
}

int fwupctl_cmd_history(const struct fwupctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"job", required_argument, NULL, 'j'},
        {"limit", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int64_t job = 0;
    uint64_t limit = 0;
    int opt, rc;
    while ((opt = fwupctl_getopt("history", argc, argv, ":h", opts, help, &rc)) != -1) {
        switch (opt) {
        case 'j':
            if (fwupctl_parse_job_id(optarg, &job) < 0)
                return fwupctl_usage("history", "bad job id '%s'", optarg);
            break;
        case 'l':
            if (fwupctl_parse_u64(optarg, &limit) < 0 || limit < 1 || limit > 1000000)
                return fwupctl_usage("history", "bad --limit '%s'", optarg);
            break;
        case FWUPCTL_OPT_EXIT:
            return rc;
        }
    }
    if ((rc = fwupctl_max_args("history", argc, argv, 1)))
        return rc;
    const char *device = optind < argc ? argv[optind] : NULL;

    json_t *params = json_object();
    if (job > 0)
        json_object_set_new(params, "job", json_integer((json_int_t)job));
    if (device)
        json_object_set_new(params, "device", json_string(device));
    if (limit > 0)
        json_object_set_new(params, "limit", json_integer((json_int_t)limit));
    json_t *res;
    rc = fwupctl_call_once(ctx, "jobs.history", params, &res);
    if (rc)
        return rc;
    if (ctx->json) {
        fwup_json_print(stdout, res);
        json_decref(res);
        return FWUPCTL_EXIT_OK;
    }
    static const char *const hdr[] = {"TIME", "JOB", "DEVICE", "KIND", "STATE", "PHASE", "MESSAGE"};
    struct fwup_table t;
    fwup_table_init(&t, 7, hdr);
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(res, "events"), i, ev)
    {
        char ts[64], jid[32];
        fwup_fmt_time(ts, sizeof(ts), json_integer_value(json_object_get(ev, "ts")));
        json_t *j = json_object_get(ev, "job");
        if (json_is_integer(j))
            snprintf(jid, sizeof(jid), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        else
            snprintf(jid, sizeof(jid), "-");
        const char *phase = json_string_value(json_object_get(ev, "phase"));
        const char *msg = json_string_value(json_object_get(ev, "message"));
        const char *row[] = {ts,
                             jid,
                             json_string_value(json_object_get(ev, "device")),
                             json_string_value(json_object_get(ev, "kind")),
                             json_string_value(json_object_get(ev, "state")),
                             phase && *phase ? phase : NULL,
                             msg && *msg ? msg : NULL};
        fwup_table_add(&t, row);
    }
    fwup_table_print(&t, stdout);
    fwup_table_free(&t);
    json_decref(res);
    return FWUPCTL_EXIT_OK;
}
