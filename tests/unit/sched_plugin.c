/*
 * A protocol plugin for the scheduler's tests (test_sched.c). Its engine
 * never runs (the tests finish runs themselves); it only says what its link
 * must provide, from the device's options:
 *   ids:       CAN ids it listens on, comma-separated ("0x7E8,0x7EA")
 *   exclusive: "1": it needs the whole bus
 *   refuse:    any value: link_req() fails with it as the reason
 * SCHED_TRANSPORTS (build definition) is what it runs on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fwupgw/protocol.h>

static const struct fwup_option_desc options[] = {
    {"ids", FWUP_OPT_STRING, NULL, NULL, 0, 0, "CAN ids it listens on"},
    {"exclusive", FWUP_OPT_BOOL, "0", NULL, 0, 0, "needs the whole bus"},
    {"refuse", FWUP_OPT_STRING, NULL, NULL, 0, 0, "link_req fails with this"},
};

static int link_req(const struct fwup_job_params *p, struct fwup_link_req *req, char *err,
                    size_t errlen)
{
    for (size_t i = 0; i < p->noptions; i++) {
        const char *name = p->options[i].name, *v = p->options[i].value;
        if (strcmp(name, "refuse") == 0) {
            snprintf(err, errlen, "%s", v);
            return -1;
        }
        if (strcmp(name, "exclusive") == 0)
            req->exclusive_bus = strcmp(v, "1") == 0;
        if (strcmp(name, "ids") != 0)
            continue;
        for (char *end = NULL; *v && req->nfilters < FWUP_LINK_REQ_MAX_FILTERS;
             v = *end ? end + 1 : end) {
            uint32_t id = (uint32_t)strtoul(v, &end, 0);
            req->filters[req->nfilters++] =
                (struct fwup_can_filter){id, FWUP_CAN_EFF | FWUP_CAN_SFF_MASK};
        }
    }
    return 0;
}

static struct fwup_engine *create(const struct fwup_job_params *params,
                                  const struct fwup_host_ops *ops, void *host, char *err,
                                  size_t errlen)
{
    (void)params, (void)ops, (void)host;
    snprintf(err, errlen, "the scheduler's test protocol has no engine");
    return NULL;
}

static void destroy(struct fwup_engine *e)
{
    (void)e;
}

static void on_event(struct fwup_engine *e, const struct fwup_event *ev)
{
    (void)e, (void)ev;
}

FWUP_PROTOCOL_EXPORT const struct fwup_protocol FWUP_PROTOCOL_SYMBOL = {
    .abi_version = FWUP_PROTOCOL_ABI_VERSION,
    .struct_size = sizeof(struct fwup_protocol),
    .name = SCHED_NAME,
    .description = "scheduler test protocol",
    .transports = SCHED_TRANSPORTS,
    .options = options,
    .noptions = sizeof(options) / sizeof(options[0]),
    .link_req = link_req,
    .create = create,
    .destroy = destroy,
    .on_event = on_event,
};
