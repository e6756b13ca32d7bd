/*
 * Image format front end: names, detection, dispatch, range checks, and the
 * segment builder every parser feeds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "image_internal.h"

static const struct {
    const char *name;
    enum fwup_image_format format;
} format_names[] = {
    {"auto", FWUP_IMAGE_AUTO},
    {"bin", FWUP_IMAGE_BIN},
    {"ihex", FWUP_IMAGE_IHEX},
    {"srec", FWUP_IMAGE_SREC},
    {"elf", FWUP_IMAGE_ELF},
    {"dfu", FWUP_IMAGE_DFU},
    {"dfuse", FWUP_IMAGE_DFUSE},
    /* aliases people type; canonical names come first so name() finds them */
    {"raw", FWUP_IMAGE_BIN},
    {"hex", FWUP_IMAGE_IHEX},
    {"s19", FWUP_IMAGE_SREC},
    {"mot", FWUP_IMAGE_SREC},
};

int fwup_image_format_from_name(const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++)
        if (strcmp(name, format_names[i].name) == 0)
            return (int)format_names[i].format;
    return -1;
}

/* The canonical names are the first FWUP_IMAGE_NFORMATS entries. */
#define FWUP_IMAGE_NFORMATS 7

int fwup_image_format_canonical(const char *name)
{
    for (size_t i = 0; name && i < FWUP_IMAGE_NFORMATS; i++)
        if (strcmp(name, format_names[i].name) == 0)
            return (int)format_names[i].format;
    return -1;
}

char *fwup_image_format_join(char *buf, size_t n, const char *sep, const char *last)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < FWUP_IMAGE_NFORMATS && used < n; i++) {
        const char *s = i == 0 ? "" : i + 1 == FWUP_IMAGE_NFORMATS ? last : sep;
        int w = snprintf(buf + used, n - used, "%s%s", s, format_names[i].name);
        used += w > 0 ? (size_t)w : 0;
    }
    return buf;
}

const char *fwup_image_format_name(enum fwup_image_format format)
{
    for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++)
        if (format_names[i].format == format)
            return format_names[i].name;
    return format == FWUP_IMAGE_TEXT ? "text" : "unknown";
}

uint32_t fwup_dfu_crc(const uint8_t *data, size_t len)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    /* zlib takes uInt lengths; feed large buffers in slices */
    while (len > 0) {
        uInt n = len > 0x40000000u ? 0x40000000u : (uInt)len;
        crc = crc32(crc, data, n);
        data += n;
        len -= n;
    }
    return ~(uint32_t)crc;
}

int fwup_img_error(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Where the first character of a text format would be: after an optional
 * UTF-8 byte order mark and blanks. */
static size_t text_start(const uint8_t *data, size_t len)
{
    size_t i = len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
        i++;
    return i;
}

/* Length of the well-formed UTF-8 sequence of a non-ASCII character at p
 * (n bytes left in the file), 0 if there is none. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
    size_t want = p[0] >= 0xC2 && p[0] <= 0xDF   ? 2
                  : p[0] >= 0xE0 && p[0] <= 0xEF ? 3
                  : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4
                                                 : 0;
    if (want == 0 || want > n)
        return 0;
    for (size_t k = 1; k < want; k++)
        if ((p[k] & 0xC0) != 0x80)
            return 0;
    return want;
}

#define TEXT_WINDOW  4096
#define TEXT_PERCENT 95

/* Text bytes in the first TEXT_WINDOW bytes, or -1 if there is a NUL. */
static long text_bytes(const uint8_t *data, size_t len, size_t *window)
{
    size_t n = len < TEXT_WINDOW ? len : TEXT_WINDOW, good = 0;
    *window = n;
    for (size_t i = 0; i < n;) {
        uint8_t c = data[i];
        size_t k;
        if (c == 0)
            return -1;
        if ((c >= 0x20 && c <= 0x7E) || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
            good++;
            i++;
        } else if (c >= 0x80 && (k = utf8_seq(data + i, len - i)) > 0) {
            /* a character across the window's end counts for its part inside */
            good += k < n - i ? k : n - i;
            i += k;
        } else {
            i++;
        }
    }
    return (long)good;
}

static int looks_like_text(const uint8_t *data, size_t len)
{
    size_t n;
    long good = text_bytes(data, len, &n);
    return n > 0 && good >= 0 && (uint64_t)good * 100 >= (uint64_t)n * TEXT_PERCENT;
}

static int hex2(const uint8_t *p)
{
    return fwup_img_hexval(p[0]) >= 0 && fwup_img_hexval(p[1]) >= 0;
}

static int has_dfu_signature(const uint8_t *data, size_t len)
{
    return len >= 8 && memcmp(data + len - 8, "UFD", 3) == 0;
}

enum fwup_image_format fwup_image_detect(const uint8_t *data, size_t len)
{
    if (!data || len == 0)
        return FWUP_IMAGE_BIN;
    if (len >= 5 && memcmp(data, "DfuSe", 5) == 0)
        return FWUP_IMAGE_DFUSE;
    if (has_dfu_signature(data, len))
        /* bcdDFU 0x011A marks a DfuSe container even if its prefix is damaged:
         * flashing the container itself as a plain DFU payload would be wrong */
        return len >= 10 && data[len - 10] == 0x1A && data[len - 9] == 0x01 ? FWUP_IMAGE_DFUSE
                                                                            : FWUP_IMAGE_DFU;
    if (len >= 4 && memcmp(data, "\177ELF", 4) == 0)
        return FWUP_IMAGE_ELF;
    /* The record's byte count (two hex digits) is part of the signature: a
     * raw binary starts with ':' once in 256, with ':' and two hex digits
     * once in 30000. */
    size_t i = text_start(data, len);
    if (i + 2 < len && data[i] == ':' && hex2(data + i + 1))
        return FWUP_IMAGE_IHEX;
    if (i + 3 < len && data[i] == 'S' && data[i + 1] >= '0' && data[i + 1] <= '9' &&
        hex2(data + i + 2))
        return FWUP_IMAGE_SREC;
    if (looks_like_text(data, len))
        return FWUP_IMAGE_TEXT;
    return FWUP_IMAGE_BIN;
}

/* Why detection chose `format`, for messages. */
static const char *detect_reason(enum fwup_image_format format)
{
    switch (format) {
    case FWUP_IMAGE_DFUSE:
        return "a DfuSe prefix or DfuSe suffix";
    case FWUP_IMAGE_DFU:
        return "the \"UFD\" DFU suffix signature";
    case FWUP_IMAGE_ELF:
        return "the ELF magic";
    case FWUP_IMAGE_IHEX:
        return "a leading ':' and byte count";
    case FWUP_IMAGE_SREC:
        return "a leading S-record type and byte count";
    default:
        return "its content";
    }
}

#define RAW_HINT "--format bin sends the file as raw bytes"

int fwup_image_parse(const uint8_t *data, size_t len, enum fwup_image_format format, uint32_t base,
                     struct fwup_parsed_image *out, char *err, size_t errlen)
{
    if (err && errlen > 0)
        err[0] = '\0';
    if (!out)
        return fwup_img_error(err, errlen, "no output image");
    memset(out, 0, sizeof(*out));
    if (!data && len > 0)
        return fwup_img_error(err, errlen, "no input data");
    if (len > FWUP_IMAGE_MAX_FILE)
        return fwup_img_error(err, errlen, "image file too large (%zu bytes, limit %u)", len,
                              FWUP_IMAGE_MAX_FILE);
    int detected = format == FWUP_IMAGE_AUTO;
    if (detected) {
        format = fwup_image_detect(data, len);
        if (format == FWUP_IMAGE_TEXT) {
            size_t n;
            long good = text_bytes(data, len, &n);
            return fwup_img_error(err, errlen,
                                  "looks like text, not a firmware image (%zu bytes, no NUL, "
                                  "%ld%% printable); " RAW_HINT,
                                  len, good * 100 / (long)n);
        }
    }

    struct fwup_img_builder b;
    int text = format == FWUP_IMAGE_IHEX || format == FWUP_IMAGE_SREC;
    if (text) {
        /* a byte order mark is not part of the first record */
        size_t skip = len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
        data += skip;
        len -= skip;
    }
    fwup_img_builder_init(&b, text, err, errlen);
    int rc;
    switch (format) {
    case FWUP_IMAGE_BIN:
        rc = fwup_img_parse_bin(data, len, base, &b);
        break;
    case FWUP_IMAGE_IHEX:
        rc = fwup_img_parse_ihex(data, len, &b);
        break;
    case FWUP_IMAGE_SREC:
        rc = fwup_img_parse_srec(data, len, &b);
        break;
    case FWUP_IMAGE_DFU:
        rc = fwup_img_parse_dfu(data, len, base, &b, out);
        break;
    case FWUP_IMAGE_DFUSE:
        rc = fwup_img_parse_dfuse(data, len, &b, out);
        break;
    case FWUP_IMAGE_ELF:
        rc = fwup_img_parse_elf(data, len, &b);
        break;
    default:
        rc = fwup_img_error(err, errlen, "unknown image format %d", (int)format);
        break;
    }
    if (rc == 0)
        rc = fwup_img_finish(&b, out, format == FWUP_IMAGE_DFUSE);
    fwup_img_builder_free(&b);
    if (rc != 0) {
        fwup_image_free(out);
        if (detected && format != FWUP_IMAGE_BIN && err && errlen > 0) {
            /* say why it was not simply taken as raw, and how to insist */
            size_t used = strlen(err);
            snprintf(err + used, errlen - used, " (%s, detected from %s; " RAW_HINT ")",
                     fwup_image_format_name(format), detect_reason(format));
        }
        return -1;
    }
    out->format = format;
    if (out->has_suffix) {
        /* engines of DFU links match these against the device */
        out->view.flags |= FWUP_IMAGE_DFU_SUFFIX;
        out->view.dfu_vid = out->suffix.id_vendor;
        out->view.dfu_pid = out->suffix.id_product;
        out->view.dfu_bcd_device = out->suffix.bcd_device;
    }
    return 0;
}

void fwup_image_free(struct fwup_parsed_image *img)
{
    if (!img)
        return;
    free(img->segments);
    free(img->storage);
    memset(img, 0, sizeof(*img));
}

int fwup_image_check_range(const struct fwup_image *img, uint32_t flash_base, uint32_t flash_size,
                           char *err, size_t errlen)
{
    if (!img)
        return fwup_img_error(err, errlen, "no image");
    if (flash_size == 0)
        return 0;
    /* 64-bit so a flash region ending exactly at 4 GiB still works */
    uint64_t lo = flash_base, hi = (uint64_t)flash_base + flash_size;
    for (size_t i = 0; i < img->nsegments; i++) {
        const struct fwup_segment *s = fwup_image_segment(img, i);
        uint64_t start = s->address, end = (uint64_t)s->address + s->len;
        if (s->len == 0)
            continue;
        if (start < lo || end > hi)
            return fwup_img_error(err, errlen,
                                  "segment 0x%08llX-0x%08llX lies outside flash 0x%08llX-0x%08llX",
                                  (unsigned long long)start, (unsigned long long)(end - 1),
                                  (unsigned long long)lo, (unsigned long long)(hi - 1));
    }
    return 0;
}

/* ---- segment builder ---- */

void fwup_img_builder_init(struct fwup_img_builder *b, int by_line, char *err, size_t errlen)
{
    memset(b, 0, sizeof(*b));
    b->by_line = by_line;
    b->err = err;
    b->errlen = errlen;
}

void fwup_img_builder_free(struct fwup_img_builder *b)
{
    free(b->chunks);
    free(b->buf);
    b->chunks = NULL;
    b->buf = NULL;
    b->nchunks = b->capchunks = b->buflen = b->bufcap = 0;
}

static const char *where_word(const struct fwup_img_builder *b)
{
    return b->by_line ? "line" : "offset";
}

int fwup_img_add(struct fwup_img_builder *b, uint64_t addr, const uint8_t *data, size_t len,
                 uint8_t alt, size_t where)
{
    if (len == 0)
        return 0;
    if (addr > 0xFFFFFFFFull || len > 0x100000000ull - addr)
        return fwup_img_error(b->err, b->errlen,
                              "%s %zu: %zu bytes at 0x%08llX run past the 32-bit address space",
                              where_word(b), where, len, (unsigned long long)addr);
    if (b->total + len > FWUP_IMAGE_MAX_TOTAL)
        return fwup_img_error(b->err, b->errlen, "%s %zu: image data exceeds %u bytes",
                              where_word(b), where, FWUP_IMAGE_MAX_TOTAL);
    if (b->buflen + len > b->bufcap) {
        size_t cap = b->bufcap ? b->bufcap : 4096;
        while (cap < b->buflen + len)
            cap *= 2;
        uint8_t *nb = realloc(b->buf, cap);
        if (!nb)
            return fwup_img_error(b->err, b->errlen, "out of memory");
        b->buf = nb;
        b->bufcap = cap;
    }
    memcpy(b->buf + b->buflen, data, len);

    /* Consecutive records (the usual case) grow the last chunk, so a normal
     * file ends up as a handful of chunks rather than one per record. */
    struct fwup_img_chunk *last = b->nchunks ? &b->chunks[b->nchunks - 1] : NULL;
    if (last && last->alt == alt && last->addr + last->len == addr &&
        last->off + last->len == b->buflen && (uint64_t)last->len + len <= 0xFFFFFFFFull) {
        last->len += (uint32_t)len;
    } else {
        if (b->nchunks == b->capchunks) {
            size_t cap = b->capchunks ? b->capchunks * 2 : 16;
            struct fwup_img_chunk *nc = realloc(b->chunks, cap * sizeof(*nc));
            if (!nc)
                return fwup_img_error(b->err, b->errlen, "out of memory");
            b->chunks = nc;
            b->capchunks = cap;
        }
        b->chunks[b->nchunks++] = (struct fwup_img_chunk){
            .addr = addr, .len = (uint32_t)len, .alt = alt, .off = b->buflen, .where = where};
    }
    b->buflen += len;
    b->total += len;
    return 0;
}

static int chunk_cmp(const void *pa, const void *pb)
{
    const struct fwup_img_chunk *a = pa, *b = pb;
    if (a->addr != b->addr)
        return a->addr < b->addr ? -1 : 1;
    if (a->where != b->where)
        return a->where < b->where ? -1 : 1;
    return 0;
}

int fwup_img_finish(struct fwup_img_builder *b, struct fwup_parsed_image *out, int with_alt)
{
    if (b->nchunks == 0)
        return fwup_img_error(b->err, b->errlen, "image contains no data");

    int in_order = 1;
    for (size_t i = 1; i < b->nchunks && in_order; i++)
        if (b->chunks[i].addr < b->chunks[i - 1].addr)
            in_order = 0;
    if (!in_order)
        qsort(b->chunks, b->nchunks, sizeof(b->chunks[0]), chunk_cmp);

    for (size_t i = 1; i < b->nchunks; i++) {
        const struct fwup_img_chunk *p = &b->chunks[i - 1], *c = &b->chunks[i];
        if (p->addr + p->len > c->addr)
            return fwup_img_error(
                b->err, b->errlen,
                "%s %zu: data at 0x%08llX-0x%08llX overlaps data at 0x%08llX-0x%08llX (%s %zu)",
                where_word(b), c->where, (unsigned long long)c->addr,
                (unsigned long long)(c->addr + c->len - 1), (unsigned long long)p->addr,
                (unsigned long long)(p->addr + p->len - 1), where_word(b), p->where);
    }

    /* Count merged segments: adjacent chunks of the same alt join up. */
    size_t nseg = 1;
    for (size_t i = 1; i < b->nchunks; i++) {
        const struct fwup_img_chunk *p = &b->chunks[i - 1], *c = &b->chunks[i];
        if (p->addr + p->len != c->addr || p->alt != c->alt)
            nseg++;
    }
    struct fwup_segment *segs = calloc(nseg, sizeof(*segs));
    uint8_t *storage;
    if (in_order) {
        /* Arrival order is address order, so buf already is the sorted
         * concatenation: hand it over instead of copying. */
        storage = b->buf;
    } else {
        storage = malloc(b->buflen);
    }
    if (!segs || !storage) {
        free(segs);
        if (storage != b->buf)
            free(storage);
        return fwup_img_error(b->err, b->errlen, "out of memory");
    }
    if (in_order)
        b->buf = NULL;

    size_t s = 0, pos = 0;
    for (size_t i = 0; i < b->nchunks; i++) {
        const struct fwup_img_chunk *c = &b->chunks[i];
        if (!in_order)
            memcpy(storage + pos, b->buf + c->off, c->len);
        if (i > 0 && b->chunks[i - 1].addr + b->chunks[i - 1].len == c->addr &&
            b->chunks[i - 1].alt == c->alt) {
            segs[s - 1].len += c->len;
        } else {
            segs[s].address = (uint32_t)c->addr;
            segs[s].len = c->len;
            segs[s].data = storage + pos;
            segs[s].alt = with_alt ? c->alt : -1;
            s++;
        }
        pos += c->len;
    }

    out->segments = segs;
    out->storage = storage;
    out->view.struct_size = sizeof(out->view);
    out->view.segment_size = sizeof(*segs);
    out->view.segments = segs;
    out->view.nsegments = nseg;
    out->view.total = b->total;
    return 0;
}

/* ---- text helpers ---- */

int fwup_img_next_line(const uint8_t *data, size_t len, size_t *pos, const uint8_t **line,
                       size_t *linelen)
{
    size_t i = *pos;
    if (i >= len)
        return 0;
    size_t start = i;
    while (i < len && data[i] != '\n')
        i++;
    size_t end = i;
    *pos = i < len ? i + 1 : i;
    while (start < end && (data[start] == ' ' || data[start] == '\t'))
        start++;
    while (end > start && (data[end - 1] == ' ' || data[end - 1] == '\t' || data[end - 1] == '\r'))
        end--;
    *line = data + start;
    *linelen = end - start;
    return 1;
}

int fwup_img_hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int fwup_img_unhex(const uint8_t *digits, size_t ndigits, uint8_t *out, size_t *bad)
{
    for (size_t i = 0; i < ndigits; i++) {
        if (fwup_img_hexval(digits[i]) < 0) {
            *bad = i;
            return -1;
        }
    }
    if (ndigits % 2) {
        *bad = ndigits - 1;
        return -1;
    }
    for (size_t i = 0; i < ndigits / 2; i++)
        out[i] =
            (uint8_t)(fwup_img_hexval(digits[2 * i]) << 4 | fwup_img_hexval(digits[2 * i + 1]));
    return 0;
}
