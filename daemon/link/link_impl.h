/*
 * What every link module shares: the common head of its link object and
 * the table link.c dispatches through. Only daemon/link/ includes this.
 */
#ifndef FWUPGW_DAEMON_LINK_IMPL_H
#define FWUPGW_DAEMON_LINK_IMPL_H

#include "link.h"

struct fwup_link_ops {
    int (*submit)(struct fwup_link *l, const struct fwup_unit *u);
    int (*control)(struct fwup_link *l, const struct fwup_control *c);
    int (*fd)(const struct fwup_link *l);
    void (*close)(struct fwup_link *l);
};

/* The first member of every module's link object. */
struct fwup_link {
    const struct fwup_link_ops *ops;
    struct fwup_link_info info;
    struct fwup_link_callbacks cb;
    void *ctx;
};

int fwup_serial_link_open(uv_loop_t *loop, const struct fwup_cfg_link *cfg,
                          const struct fwup_cfg_device *dev, const struct fwup_link_req *req,
                          struct fwup_link **out, char *err, size_t errlen);

#endif
