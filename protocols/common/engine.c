#include "engine.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int fwup_image_extent(const struct fwup_image *img, uint64_t *base, uint64_t *len)
{
    if (!img || img->nsegments == 0 || !img->segments)
        return -1;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t i = 0; i < img->nsegments; i++) {
        const struct fwup_segment *s = &img->segments[i];
        if (s->len == 0)
            continue;
        if (s->address < lo)
            lo = s->address;
        if ((uint64_t)s->address + s->len > hi)
            hi = (uint64_t)s->address + s->len;
    }
    if (hi == 0)
        return -1;
    *base = lo;
    *len = hi - lo;
    return 0;
}

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

struct fwup_line fwup_line_of(const struct fwup_job_params *p, int64_t baud_option,
                              uint32_t fallback_baud)
{
    struct fwup_line l = {fallback_baud, 10};
    const struct fwup_link_params *k = p->link;
    if (k && k->baud) {
        l.baud = k->baud;
        l.bits = 1u + (k->data_bits ? k->data_bits : 8) +
                 (k->parity == 'E' || k->parity == 'O' ? 1 : 0) + (k->stop_bits == 2 ? 2 : 1);
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

void *fwup_engine_alloc(size_t size, const char *who, char *err, size_t errlen)
{
    void *e = calloc(1, size);
    if (!e)
        snprintf(err, errlen, "%s: out of memory", who);
    return e;
}
