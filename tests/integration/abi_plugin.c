/*
 * Protocol plugins for the loader's refusals, one per TEST_KIND:
 *
 *   current  a complete ABI 3 descriptor claiming ABI TEST_ABI: loaded for
 *            FWUP_PROTOCOL_ABI_MIN..FWUP_PROTOCOL_ABI_VERSION, else refused
 *            (a newer one above all, which may read what this daemon lacks)
 *   short    ABI 3, but a struct_size one field short of ABI 3's
 *   old      ABI 2's descriptor and symbol, as a plugin built before typed
 *            links exports them (the layout is copied here: the installed
 *            headers no longer have it)
 */
#include <stddef.h>

#include "fwupgw/protocol.h"

#define STR_(x) #x
#define STR(x)  STR_(x)

#define KIND_CURRENT 1
#define KIND_SHORT   2
#define KIND_OLD     3

#if TEST_KIND == KIND_OLD
/* include/fwupgw/protocol.h of ABI 2: byte streams, one timer. */
struct old_host_ops;
struct old_job_params;
struct old_protocol {
    uint32_t abi_version;
    uint32_t struct_size;
    const char *name;
    const char *description;
    uint32_t transports;
    const struct fwup_option_desc *options;
    size_t noptions;
    int (*check_image)(const struct old_job_params *params, char *err, size_t errlen);
    struct fwup_engine *(*create)(const struct old_job_params *params,
                                  const struct old_host_ops *ops, void *host, char *err,
                                  size_t errlen);
    void (*destroy)(struct fwup_engine *engine);
    void (*on_start)(struct fwup_engine *engine);
    void (*on_rx)(struct fwup_engine *engine, const uint8_t *data, size_t len);
    void (*on_timer)(struct fwup_engine *engine);
    void (*on_tx_done)(struct fwup_engine *engine);
    void (*on_cancel)(struct fwup_engine *engine);
    const char *serial_framing;
};

static struct fwup_engine *old_create(const struct old_job_params *params,
                                      const struct old_host_ops *ops, void *host, char *err,
                                      size_t errlen)
{
    (void)params, (void)ops, (void)host, (void)err, (void)errlen;
    return NULL;
}

static void nop(struct fwup_engine *e)
{
    (void)e;
}

static void nop_rx(struct fwup_engine *e, const uint8_t *data, size_t len)
{
    (void)e, (void)data, (void)len;
}

FWUP_PROTOCOL_EXPORT const struct old_protocol fwup_protocol_v1 = {
    .abi_version = 2,
    .struct_size = sizeof(struct old_protocol),
    .name = "abi-old",
    .transports = FWUP_TRANSPORT_SERIAL,
    .create = old_create,
    .destroy = nop,
    .on_start = nop,
    .on_rx = nop_rx,
    .on_timer = nop,
    .on_tx_done = nop,
    .on_cancel = nop,
};
#else
static struct fwup_engine *create(const struct fwup_job_params *params,
                                  const struct fwup_host_ops *ops, void *host, char *err,
                                  size_t errlen)
{
    (void)params, (void)ops, (void)host, (void)err, (void)errlen;
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
    .abi_version = TEST_ABI,
#if TEST_KIND == KIND_SHORT
    .struct_size = offsetof(struct fwup_protocol, on_event),
    .name = "abi-short",
#else
    .struct_size = sizeof(struct fwup_protocol),
    .name = "abi-v" STR(TEST_ABI),
#endif
    .transports = FWUP_TRANSPORT_SERIAL,
    .create = create,
    .destroy = destroy,
    .on_event = on_event,
};
#endif
