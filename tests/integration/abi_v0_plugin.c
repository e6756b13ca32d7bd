/* A plugin that claims an older ABI: the daemon must refuse to load it. */
#include "fwupgw/protocol.h"

FWUP_PROTOCOL_EXPORT const struct fwup_protocol FWUP_PROTOCOL_SYMBOL = {
    .abi_version = 0,
    .struct_size = sizeof(struct fwup_protocol),
    .name = "stale",
};
