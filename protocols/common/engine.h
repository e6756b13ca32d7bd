/*
 * Host-side helpers shared by the protocol engines: byte units and link
 * control through the host's ops, logging, line timing from the link the
 * host opened, and the allocation of an engine's state.
 */
#ifndef FWUPGW_PROTOCOLS_COMMON_ENGINE_H
#define FWUPGW_PROTOCOLS_COMMON_ENGINE_H

#include <fwupgw/protocol.h>

#include <stddef.h>
#include <stdint.h>

#include "image.h"

/* printf-style message to ops->log (which is optional); long messages are
 * cut at 239 bytes. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
void fwup_logf(const struct fwup_host_ops *ops, void *host, enum fwup_log_prio prio,
               const char *fmt, ...);

/* Submit `len` bytes as one FWUP_UNIT_BYTES unit with the given tag, flags
 * (enum fwup_submit_flags) and timeout (0: the host's default). 0, or -1 if
 * the host refused it (link gone). */
int fwup_send_bytes(const struct fwup_host_ops *ops, void *host, const uint8_t *data, size_t len,
                    uint32_t tag, uint32_t flags, uint32_t timeout_ms);

/* Drop input received but not yet delivered (FWUP_CTL_FLUSH_RX), where the
 * host supports it. */
void fwup_flush_rx(const struct fwup_host_ops *ops, void *host);

/* The serial link of a job's params, or NULL (another kind of link, or a
 * host that does not tell). */
const struct fwup_serial_info *fwup_serial_of(const struct fwup_job_params *p);

/* Line timing of a job's link: the speed and bits per character (start,
 * data, parity, stop) the host opened it with. An engine's own speed option,
 * if given (> 0), overrides the speed; a host that does not tell (no serial
 * link info) leaves `fallback_baud` at 8N1, 0 meaning unknown. */
struct fwup_line {
    uint32_t baud, bits;
};
struct fwup_line fwup_line_of(const struct fwup_job_params *p, int64_t baud_option,
                              uint32_t fallback_baud);

/* Milliseconds `bytes` characters spend on the line, rounded up; 0 if the
 * speed is unknown. */
uint32_t fwup_line_ms(const struct fwup_line *l, uint64_t bytes);

/* The timeout of an on-the-wire unit of `bytes`: twice their line time
 * (room for flow control holding the line) plus `slack_ms`; 0, the host's
 * default, if the speed is unknown. */
uint32_t fwup_line_tx_timeout(const struct fwup_line *l, uint64_t bytes, uint32_t slack_ms);

/* An engine on a byte stream, by the events it handles. */
struct fwup_serial_handlers {
    void (*start)(struct fwup_engine *e);
    void (*rx)(struct fwup_engine *e, const uint8_t *data, size_t len);
    /* A unit sent with FWUP_SUBMIT_NOTIFY or _ON_WIRE completed, other than
     * with LINK_GONE. */
    void (*complete)(struct fwup_engine *e, uint32_t tag, uint32_t status);
    void (*timer)(struct fwup_engine *e, unsigned id);
    void (*cancel)(struct fwup_engine *e);
    /* The link went away (a LINK_GONE completion or FWUP_EV_LINK_DOWN):
     * the engine finishes TRANSIENT. */
    void (*link_lost)(struct fwup_engine *e);
};

/* Hands one event to the handler for it; events of other kinds (CAN, link
 * up, bus state) are ignored. The caller drops events after finish. */
void fwup_serial_dispatch(const struct fwup_serial_handlers *h, struct fwup_engine *e,
                          const struct fwup_event *ev);

/* Zeroed engine state of `size` bytes, or NULL with "<who>: out of memory"
 * in err. */
void *fwup_engine_alloc(size_t size, const char *who, char *err, size_t errlen);

#endif
