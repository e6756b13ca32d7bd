/*
 * Shared by the image parsers, not part of the public API. Every format feeds
 * records into a builder; the builder sorts them, rejects overlaps, merges
 * adjacent runs into segments and hands the result to a fwup_parsed_image.
 */
#ifndef FWUPGW_IMAGE_INTERNAL_H
#define FWUPGW_IMAGE_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "image.h"

struct fwup_img_chunk {
    uint64_t addr;
    uint32_t len;
    uint8_t alt;
    size_t off;   /* into builder buf */
    size_t where; /* line number or byte offset of the first record */
};

struct fwup_img_builder {
    struct fwup_img_chunk *chunks;
    size_t nchunks, capchunks;
    uint8_t *buf; /* record data in arrival order */
    size_t buflen, bufcap;
    uint64_t total;
    int by_line; /* `where` is a line number (text) rather than a byte offset */
    char *err;
    size_t errlen;
};

void fwup_img_builder_init(struct fwup_img_builder *b, int by_line, char *err, size_t errlen);
void fwup_img_builder_free(struct fwup_img_builder *b);

/* Copy `len` bytes destined for `addr` (64-bit so callers can add without
 * wrapping; anything past 0xFFFFFFFF is refused here). Returns 0 or -1. */
int fwup_img_add(struct fwup_img_builder *b, uint64_t addr, const uint8_t *data, size_t len,
                 uint8_t alt, size_t where);

/* Sort, check overlaps, merge, and fill `out` (segments, storage, view);
 * segments carry their chunks' alt if with_alt, else -1. An image with no
 * data is an error. The builder is consumed. */
int fwup_img_finish(struct fwup_img_builder *b, struct fwup_parsed_image *out, int with_alt);

/* snprintf into err if err is non-NULL; always returns -1. */
int fwup_img_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Text helpers. next_line: returns 1 with the next line (without its
 * newline, CR or surrounding blanks) and advances *pos; 0 at end of input. */
int fwup_img_next_line(const uint8_t *data, size_t len, size_t *pos, const uint8_t **line,
                       size_t *linelen);
/* Value of one hex digit, or -1. */
int fwup_img_hexval(uint8_t c);
/* Decode `ndigits` hex digits into out (ndigits/2 bytes). Returns 0, or -1
 * with *bad the index of the first non-hex character (or of the dangling
 * digit when ndigits is odd, *bad == ndigits - 1 and every digit valid). */
int fwup_img_unhex(const uint8_t *digits, size_t ndigits, uint8_t *out, size_t *bad);

/* Per-format parsers: they only fill the builder (and suffix fields of out). */
int fwup_img_parse_bin(const uint8_t *data, size_t len, uint32_t base, struct fwup_img_builder *b);
int fwup_img_parse_ihex(const uint8_t *data, size_t len, struct fwup_img_builder *b);
int fwup_img_parse_srec(const uint8_t *data, size_t len, struct fwup_img_builder *b);
int fwup_img_parse_elf(const uint8_t *data, size_t len, struct fwup_img_builder *b);
int fwup_img_parse_dfu(const uint8_t *data, size_t len, uint32_t base, struct fwup_img_builder *b,
                       struct fwup_parsed_image *out);
int fwup_img_parse_dfuse(const uint8_t *data, size_t len, struct fwup_img_builder *b,
                         struct fwup_parsed_image *out);

/* Validate a DFU suffix (signature, bLength, CRC) and decode it. Returns the
 * suffix length (bLength, >= 16) or -1 with a reason in err (may be NULL). */
int fwup_img_read_suffix(const uint8_t *data, size_t len, struct fwup_dfu_suffix *sfx, char *err,
                         size_t errlen);

#endif
