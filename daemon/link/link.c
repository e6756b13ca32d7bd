/* Link dispatch: the module of each link kind behind one interface. */
#include "link_impl.h"

#include <stdio.h>
#include <string.h>

const char *fwup_link_kind_name(uint32_t kind)
{
    static const char *const names[] = {[FWUP_LINK_NONE] = "none",
                                        [FWUP_LINK_SERIAL] = "serial",
                                        [FWUP_LINK_CAN] = "can",
                                        [FWUP_LINK_ISOTP] = "isotp",
                                        [FWUP_LINK_USB] = "usb"};
    return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "unknown";
}

enum fwup_link_kind fwup_link_kind_for(const struct fwup_cfg_link *cfg,
                                       const struct fwup_cfg_device *dev, uint32_t transports,
                                       char *err, size_t errlen)
{
    const char *proto = dev && dev->protocol ? dev->protocol : "?";
    switch (cfg->type) {
    case FWUP_LINK_SERIAL:
    case FWUP_LINK_USB:
        if (transports & FWUP_TRANSPORT_BIT(cfg->type))
            return (enum fwup_link_kind)cfg->type;
        break;
    case FWUP_LINK_CAN: {
        int isotp = (transports & FWUP_TRANSPORT_ISOTP) != 0;
        int raw = (transports & FWUP_TRANSPORT_CAN) != 0;
        int ids = dev && dev->can.set;
        if (isotp && (ids || !raw)) {
            if (!ids) {
                snprintf(err, errlen,
                         "protocol '%s' runs on ISO-TP over can link '%s': the device needs "
                         "'tx_id' and 'rx_id'",
                         proto, cfg->name);
                return FWUP_LINK_NONE;
            }
            return FWUP_LINK_ISOTP;
        }
        if (raw)
            return FWUP_LINK_CAN;
        break;
    }
    default:
        break;
    }
    char kinds[64] = "";
    size_t len = 0;
    for (uint32_t k = FWUP_LINK_SERIAL; k <= FWUP_LINK_USB; k++)
        if (transports & FWUP_TRANSPORT_BIT(k) && len < sizeof(kinds))
            len += (size_t)snprintf(kinds + len, sizeof(kinds) - len, "%s%s", len ? ", " : "",
                                    fwup_link_kind_name(k));
    snprintf(err, errlen, "protocol '%s' cannot run on %s link '%s' (it runs on: %s)", proto,
             fwup_link_kind_name(cfg->type), cfg->name, len ? kinds : "no link kind");
    return FWUP_LINK_NONE;
}

int fwup_link_open(uv_loop_t *loop, const struct fwup_cfg_link *cfg,
                   const struct fwup_cfg_device *dev, const struct fwup_link_req *req,
                   const struct fwup_link_callbacks *cb, void *ctx, struct fwup_link **out,
                   char *err, size_t errlen)
{
    int rc;
    *out = NULL;
    switch (cfg->type) {
    case FWUP_LINK_SERIAL:
        rc = fwup_serial_link_open(loop, cfg, dev, req, out, err, errlen);
        break;
    default:
        snprintf(err, errlen, "link '%s': %s links are not supported yet in this build", cfg->name,
                 fwup_link_kind_name(cfg->type));
        return -1;
    }
    if (rc < 0)
        return rc;
    (*out)->cb = *cb;
    (*out)->ctx = ctx;
    return 0;
}

int fwup_link_submit(struct fwup_link *l, const struct fwup_unit *u)
{
    return l->ops->submit(l, u);
}

int fwup_link_control(struct fwup_link *l, const struct fwup_control *c)
{
    return l->ops->control(l, c);
}

const struct fwup_link_info *fwup_link_info(const struct fwup_link *l)
{
    return &l->info;
}

int fwup_link_fd(const struct fwup_link *l)
{
    return l->ops->fd ? l->ops->fd(l) : -1;
}

void fwup_link_close(struct fwup_link *l)
{
    if (l)
        l->ops->close(l);
}
