/*
 * Walking a firmware image (struct fwup_image) by address window: the one
 * place where engines intersect segments with the range they are sending,
 * erasing or checking. Segments are sorted by address and do not overlap;
 * zero-length segments are allowed and carry no byte.
 */
#ifndef FWUPGW_PROTOCOLS_COMMON_IMAGE_H
#define FWUPGW_PROTOCOLS_COMMON_IMAGE_H

#include <fwupgw/protocol.h>

#include <stddef.h>
#include <stdint.h>

/* End of every window: past any 32-bit address. */
#define FWUP_IMAGE_END ((uint64_t)1 << 32)

/* Image bytes of one segment inside a window. */
struct fwup_image_run {
    uint64_t addr;
    size_t len;
    const uint8_t *data;
};

/* An iterator over the runs of image bytes in [lo, hi), in address order. */
struct fwup_image_walk {
    const struct fwup_image *img;
    uint64_t lo, hi;
    size_t next; /* index of the next segment to look at */
};

void fwup_image_walk_init(struct fwup_image_walk *w, const struct fwup_image *img, uint64_t lo,
                          uint64_t hi);

/* 1 with the next non-empty run in *run, 0 when there is none left. */
int fwup_image_walk_next(struct fwup_image_walk *w, struct fwup_image_run *run);

/* Fill out[0, len) with the image bytes at [addr, addr+len) and `fill`
 * where no segment has one. Returns the number of image bytes copied. */
uint64_t fwup_image_copy(const struct fwup_image *img, uint64_t addr, size_t len, uint8_t fill,
                         uint8_t *out);

/* The address of the first image byte in [lo, hi) and the end of the last
 * one there: 0, or -1 if the window holds no image byte. */
int fwup_image_span(const struct fwup_image *img, uint64_t lo, uint64_t hi, uint64_t *first,
                    uint64_t *end);

/* Lowest address of the non-empty segments and the flattened length from
 * there to the end of the highest one (gaps included). -1 if the image has
 * no byte to write. */
int fwup_image_extent(const struct fwup_image *img, uint64_t *base, uint64_t *len);

#endif
