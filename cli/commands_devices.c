/*
 * fwupctl devices [--tag T]
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fwupctl.h"
#include "output.h"

static void help(void)
{
    printf("Usage: fwupctl devices [--tag T]\n"
           "\n"
           "List the configured devices in config order: ID, LINK, PROTOCOL, TAGS,\n"
           "STATE (idle, or the running job) and FLASH (base address and size).\n"
           "\n"
           "  --tag T   only devices carrying tag T\n");
}

int fwupctl_cmd_devices(const struct fwupctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"tag", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *tag = NULL;
    int opt, rc;
    while ((opt = fwupctl_getopt("devices", argc, argv, ":t:h", opts, help, &rc)) != -1) {
        switch (opt) {
        case 't':
            tag = optarg;
            break;
        case FWUPCTL_OPT_EXIT:
            return rc;
        }
    }
    if ((rc = fwupctl_max_args("devices", argc, argv, 0)))
        return rc;

    json_t *params = json_object();
    if (tag)
        json_object_set_new(params, "tag", json_string(tag));
    json_t *res;
    rc = fwupctl_call_once(ctx, "devices.list", params, &res);
    if (rc)
        return rc;
    if (ctx->json) {
        fwup_json_print(stdout, res);
        json_decref(res);
        return FWUPCTL_EXIT_OK;
    }

    static const char *const hdr[] = {"ID", "LINK", "PROTOCOL", "TAGS", "STATE", "FLASH"};
    struct fwup_table t;
    fwup_table_init(&t, 6, hdr);
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(res, "devices"), i, d)
    {
        char tags[512] = "", state[32], flash[64] = "-";
        size_t off = 0, k;
        json_t *tg;
        json_array_foreach(json_object_get(d, "tags"), k, tg)
        {
            if (!json_is_string(tg) || off >= sizeof(tags))
                continue;
            int n = snprintf(tags + off, sizeof(tags) - off, "%s%s", off ? "," : "",
                             json_string_value(tg));
            if (n > 0)
                off += (size_t)n;
        }
        json_t *job = json_object_get(d, "job");
        if (json_is_integer(job))
            snprintf(state, sizeof(state), "job %" JSON_INTEGER_FORMAT, json_integer_value(job));
        else
            snprintf(state, sizeof(state), "%s",
                     json_is_true(json_object_get(d, "busy")) ? "busy" : "idle");
        json_t *fl = json_object_get(d, "flash");
        if (json_is_object(fl)) {
            char size[32];
            json_int_t base = json_integer_value(json_object_get(fl, "base"));
            json_int_t sz = json_integer_value(json_object_get(fl, "size"));
            fwup_fmt_size_iec(size, sizeof(size), sz > 0 ? (uint64_t)sz : 0);
            snprintf(flash, sizeof(flash), "0x%08" PRIx64 " %s", (uint64_t)base, size);
        }
        const char *row[] = {
            json_string_value(json_object_get(d, "id")),
            json_string_value(json_object_get(d, "link")),
            json_string_value(json_object_get(d, "protocol")),
            tags[0] ? tags : NULL,
            state,
            flash,
        };
        fwup_table_add(&t, row);
    }
    fwup_table_print(&t, stdout);
    fwup_table_free(&t);
    json_decref(res);
    return FWUPCTL_EXIT_OK;
}
