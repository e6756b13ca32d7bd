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

void *fwup_engine_alloc(size_t size, const char *who, char *err, size_t errlen)
{
    void *e = calloc(1, size);
    if (!e)
        snprintf(err, errlen, "%s: out of memory", who);
    return e;
}
