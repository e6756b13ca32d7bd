/*
 * The daemon's link layer: one module per link kind (serial now; CAN,
 * ISO-TP and USB later) behind one interface, so the job runner never
 * knows which kind it drives. A link carries one engine's units (ABI 3,
 * fwupgw/link.h) in submit order, never split or merged.
 *
 * Callbacks are never made from inside submit, control or open: what those
 * cause arrives on a later loop iteration, as libuv's write callbacks do.
 */
#ifndef FWUPGW_DAEMON_LINK_H
#define FWUPGW_DAEMON_LINK_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "fwupgw/protocol.h"

#define FWUP_LINK_EPERM (-2) /* the link exists but will never take these settings: permanent */
struct fwup_link;
struct fwup_link_callbacks {
    void (*on_rx)(void *ctx, uint32_t unit_kind, const uint8_t *data, size_t len,
                  const struct fwup_can_frame *frame);
    void (*on_complete)(void *ctx, uint32_t tag, enum fwup_status status, const uint8_t *data,
                        size_t len);
    void (*on_down)(void *ctx, const char *why); /* pending units completed LINK_GONE first */
    void (*on_up)(void *ctx, const struct fwup_link_info *info);
    void (*on_bus_state)(void *ctx, enum fwup_bus_state state);
};
int fwup_link_open(uv_loop_t *loop, const struct fwup_cfg_link *cfg,
                   const struct fwup_cfg_device *dev, const struct fwup_link_req *req,
                   const struct fwup_link_callbacks *cb, void *ctx, struct fwup_link **out,
                   char *err, size_t errlen);                         /* 0, -1, FWUP_LINK_EPERM */
int fwup_link_submit(struct fwup_link *l, const struct fwup_unit *u); /* as fwup_host_ops.submit */
int fwup_link_control(struct fwup_link *l,
                      const struct fwup_control *c); /* as fwup_host_ops.control */
const struct fwup_link_info *
fwup_link_info(const struct fwup_link *l); /* valid until close or on_up */
int fwup_link_fd(
    const struct fwup_link *l); /* serial: the tty fd (modem lines for ctrlseq); else -1 */
void fwup_link_close(struct fwup_link *l); /* no callbacks after this */

/*
 * The unit kind a device's jobs exchange on its link with a protocol that
 * runs on `transports` (mask of enum fwup_transport): serial links carry
 * bytes, USB links control transfers; a CAN link carries ISO-TP PDUs for a
 * protocol that speaks ISO-TP (preferred when the device gives tx_id and
 * rx_id, or when the protocol has no raw-CAN mode), else raw frames.
 * FWUP_LINK_NONE with the reason in err if the protocol cannot run there.
 */
enum fwup_link_kind fwup_link_kind_for(const struct fwup_cfg_link *cfg,
                                       const struct fwup_cfg_device *dev, uint32_t transports,
                                       char *err, size_t errlen);

/* The name of a link kind as in configs and messages ("serial", "can"...). */
const char *fwup_link_kind_name(uint32_t kind);

#endif
