#include "engine.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void fwup_logf(const struct fwup_host_ops *ops, void *host, enum fwup_log_prio prio,
               const char *fmt, ...)
{
    char buf[240];
    va_list ap;
    if (!ops->log)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    ops->log(host, prio, buf);
}

int fwup_send_bytes(const struct fwup_host_ops *ops, void *host, const uint8_t *data, size_t len,
                    uint32_t tag, uint32_t flags, uint32_t timeout_ms)
{
    struct fwup_unit u = {
        .struct_size = sizeof(u),
        .kind = FWUP_UNIT_BYTES,
        .tag = tag,
        .flags = flags,
        .timeout_ms = timeout_ms,
        .data = data,
        .len = len,
    };
    return ops->submit(host, &u);
}

void fwup_flush_rx(const struct fwup_host_ops *ops, void *host)
{
    struct fwup_control c = {.struct_size = sizeof(c), .op = FWUP_CTL_FLUSH_RX};
    if (ops->control)
        ops->control(host, &c);
}

const struct fwup_serial_info *fwup_serial_of(const struct fwup_job_params *p)
{
    const struct fwup_link_info *k =
        p && FWUP_HAS_FIELD(p, struct fwup_job_params, link) ? p->link : NULL;
    if (!k || !FWUP_HAS_FIELD(k, struct fwup_link_info, serial) || k->kind != FWUP_LINK_SERIAL)
        return NULL;
    const struct fwup_serial_info *s = k->serial;
    return s && FWUP_HAS_FIELD(s, struct fwup_serial_info, flow) ? s : NULL;
}

struct fwup_line fwup_line_of(const struct fwup_job_params *p, int64_t baud_option,
                              uint32_t fallback_baud)
{
    struct fwup_line l = {fallback_baud, 10};
    const struct fwup_serial_info *s = fwup_serial_of(p);
    if (s && s->baud) {
        l.baud = s->baud;
        l.bits = 1u + (s->data_bits ? s->data_bits : 8) +
                 (s->parity == 'E' || s->parity == 'O' ? 1 : 0) + (s->stop_bits == 2 ? 2 : 1);
    }
    if (baud_option > 0)
        l.baud = (uint32_t)baud_option;
    return l;
}

uint32_t fwup_line_ms(const struct fwup_line *l, uint64_t bytes)
{
    if (!l->baud)
        return 0;
    return (uint32_t)((bytes * l->bits * 1000 + l->baud - 1) / l->baud);
}

uint32_t fwup_line_tx_timeout(const struct fwup_line *l, uint64_t bytes, uint32_t slack_ms)
{
    if (!l->baud)
        return 0;
    uint64_t ms = 2 * (uint64_t)fwup_line_ms(l, bytes) + slack_ms;
    return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

void fwup_serial_dispatch(const struct fwup_serial_handlers *h, struct fwup_engine *e,
                          const struct fwup_event *ev)
{
    switch (ev->type) {
    case FWUP_EV_START:
        h->start(e);
        break;
    case FWUP_EV_RX:
        if (ev->unit_kind == FWUP_UNIT_BYTES)
            h->rx(e, ev->data, ev->len);
        break;
    case FWUP_EV_COMPLETE:
        if (ev->status == FWUP_STATUS_LINK_GONE)
            h->link_lost(e);
        else
            h->complete(e, ev->tag, ev->status);
        break;
    case FWUP_EV_TIMER:
        h->timer(e, ev->timer_id);
        break;
    case FWUP_EV_CANCEL:
        h->cancel(e);
        break;
    case FWUP_EV_LINK_DOWN:
        h->link_lost(e);
        break;
    default:
        break;
    }
}

void *fwup_engine_alloc(size_t size, const char *who, char *err, size_t errlen)
{
    void *e = calloc(1, size);
    if (!e)
        snprintf(err, errlen, "%s: out of memory", who);
    return e;
}
