/*
 * fwupctl version
 */
#include <getopt.h>
#include <stdio.h>

#include "fwupctl.h"
#include "output.h"

static void help(void)
{
    printf("Usage: fwupctl version\n"
           "\n"
           "Print the client's version, then the daemon's version, socket protocol\n"
           "and plugin ABI versions and its protocol plugins. With --json: the\n"
           "daemon's result object with a \"client\" member added.\n");
}

int fwupctl_cmd_version(const struct fwupctl_ctx *ctx, int argc, char **argv)
{
    int rc;
    if (fwupctl_getopt("version", argc, argv, ":h", NULL, help, &rc) != -1)
        return rc;
    if ((rc = fwupctl_max_args("version", argc, argv, 0)))
        return rc;
    if (!ctx->json) {
        printf("fwupctl %s\n", FWUP_VERSION);
        fflush(stdout);
    }
    json_t *res;
    rc = fwupctl_call_once(ctx, "version", NULL, &res);
    if (rc)
        return rc;
    if (ctx->json) {
        json_object_set_new(res, "client", json_string(FWUP_VERSION));
        fwup_json_print(stdout, res);
        json_decref(res);
        return FWUPCTL_EXIT_OK;
    }
    const char *d = json_string_value(json_object_get(res, "daemon"));
    printf("fwupgwd %s (protocol %" JSON_INTEGER_FORMAT ", abi %" JSON_INTEGER_FORMAT ")\n",
           d ? d : "?", json_integer_value(json_object_get(res, "protocol")),
           json_integer_value(json_object_get(res, "abi")));
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(res, "plugins"), i, p)
    {
        const char *name = json_string_value(json_object_get(p, "name"));
        const char *desc = json_string_value(json_object_get(p, "description"));
        char line[512];
        snprintf(line, sizeof(line), "  %-10s %s", name ? name : "?", desc ? desc : "");
        fwup_sanitize(line);
        printf("%s\n", line);
    }
    json_decref(res);
    return FWUPCTL_EXIT_OK;
}
