#include "image.h"

#include <string.h>

static uint64_t seg_end(const struct fwup_segment *s)
{
    return (uint64_t)s->address + s->len;
}

void fwup_image_walk_init(struct fwup_image_walk *w, const struct fwup_image *img, uint64_t lo,
                          uint64_t hi)
{
    *w = (struct fwup_image_walk){img, lo, hi, 0};
    if (!img || !img->segments)
        return;
    /* The first segment at or after lo, by binary search on the sorted
     * addresses; then back over those that may reach into the window (the
     * one straddling lo, and empty ones in front of it). */
    size_t a = 0, b = img->nsegments;
    while (a < b) {
        size_t m = a + (b - a) / 2;
        if (fwup_image_segment(img, m)->address < lo)
            a = m + 1;
        else
            b = m;
    }
    while (a > 0) {
        const struct fwup_segment *s = fwup_image_segment(img, a - 1);
        if (s->len != 0 && seg_end(s) <= lo)
            break;
        a--;
    }
    w->next = a;
}

int fwup_image_walk_next(struct fwup_image_walk *w, struct fwup_image_run *run)
{
    const struct fwup_image *img = w->img;
    while (img && img->segments && w->next < img->nsegments) {
        const struct fwup_segment *s = fwup_image_segment(img, w->next);
        if (s->address >= w->hi)
            break;
        w->next++;
        uint64_t a = s->address > w->lo ? s->address : w->lo;
        uint64_t z = seg_end(s) < w->hi ? seg_end(s) : w->hi;
        if (a < z && s->data) {
            *run = (struct fwup_image_run){a, (size_t)(z - a), s->data + (a - s->address)};
            return 1;
        }
    }
    return 0;
}

uint64_t fwup_image_copy(const struct fwup_image *img, uint64_t addr, size_t len, uint8_t fill,
                         uint8_t *out)
{
    struct fwup_image_walk w;
    struct fwup_image_run r;
    uint64_t copied = 0;
    memset(out, fill, len);
    fwup_image_walk_init(&w, img, addr, addr + len);
    while (fwup_image_walk_next(&w, &r)) {
        memcpy(out + (r.addr - addr), r.data, r.len);
        copied += r.len;
    }
    return copied;
}

int fwup_image_span(const struct fwup_image *img, uint64_t lo, uint64_t hi, uint64_t *first,
                    uint64_t *end)
{
    struct fwup_image_walk w;
    struct fwup_image_run r;
    int found = 0;
    fwup_image_walk_init(&w, img, lo, hi);
    while (fwup_image_walk_next(&w, &r)) {
        if (!found)
            *first = r.addr;
        *end = r.addr + r.len;
        found = 1;
    }
    return found ? 0 : -1;
}

int fwup_image_extent(const struct fwup_image *img, uint64_t *base, uint64_t *len)
{
    uint64_t lo, hi;
    if (fwup_image_span(img, 0, FWUP_IMAGE_END, &lo, &hi) < 0)
        return -1;
    *base = lo;
    *len = hi - lo;
    return 0;
}
