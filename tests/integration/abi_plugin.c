/*
 * A complete protocol descriptor that claims ABI TEST_ABI (compile-time):
 * the daemon must load ABI FWUP_PROTOCOL_ABI_MIN..FWUP_PROTOCOL_ABI_VERSION
 * (older plugins see an unchanged prefix of every structure) and refuse the
 * rest, a newer one above all, which may read what this daemon lacks.
 */
#include "fwupgw/protocol.h"

#define STR_(x) #x
#define STR(x)  STR_(x)

static struct fwup_engine *create(const struct fwup_job_params *params,
                                  const struct fwup_host_ops *ops, void *host, char *err,
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

FWUP_PROTOCOL_EXPORT const struct fwup_protocol FWUP_PROTOCOL_SYMBOL = {
    .abi_version = TEST_ABI,
    .struct_size = sizeof(struct fwup_protocol),
    .name = "abi-v" STR(TEST_ABI),
    .transports = FWUP_TRANSPORT_SERIAL,
    .create = create,
    .destroy = nop,
    .on_start = nop,
    .on_rx = nop_rx,
    .on_timer = nop,
    .on_cancel = nop,
};
