/*
 * Image format parsers: valid inputs of every format, every malformed kind,
 * the DFU suffix vector from protocols.md, detection, range checks, limits,
 * and a deterministic mutation loop. Inputs are generated here, with
 * checksums and CRCs computed independently of the code under test.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "../fuzz/image_oracle.h"

/* ---- growable byte buffer ---- */

struct buf {
    uint8_t *p;
    size_t len, cap;
};

static void buf_put(struct buf *b, const void *data, size_t n)
{
    if (n == 0)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        ck_assert_ptr_nonnull(b->p);
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(struct buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    ck_assert(n >= 0 && (size_t)n < sizeof(tmp));
    buf_put(b, tmp, (size_t)n);
}

static void buf_u8(struct buf *b, uint8_t v)
{
    buf_put(b, &v, 1);
}

static void buf_le16(struct buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    buf_put(b, x, 2);
}

static void buf_le32(struct buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    buf_put(b, x, 4);
}

static void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* Deterministic test pattern so segment contents can be checked. */
static uint8_t pat(uint32_t addr)
{
    return (uint8_t)(addr * 7u + (addr >> 8) * 13u + 0x5A);
}

/* ---- Intel HEX writer ---- */

static void ihex_rec(struct buf *b, unsigned type, unsigned addr16, const uint8_t *d, size_t n,
                     const char *eol)
{
    unsigned sum = (unsigned)n + (addr16 >> 8) + (addr16 & 0xFF) + type;
    buf_printf(b, ":%02X%04X%02X", (unsigned)n, addr16 & 0xFFFF, type);
    for (size_t i = 0; i < n; i++) {
        buf_printf(b, "%02X", d[i]);
        sum += d[i];
    }
    buf_printf(b, "%02X%s", (0x100 - (sum & 0xFF)) & 0xFF, eol);
}

/* Data records of `n` pattern bytes at absolute address `addr` under the
 * current upper address `upper` (addr - upper must fit 16 bits + n). */
static void ihex_data(struct buf *b, uint32_t upper, uint32_t addr, size_t n, size_t per_rec,
                      const char *eol)
{
    uint8_t d[255];
    while (n > 0) {
        size_t k = n < per_rec ? n : per_rec;
        for (size_t i = 0; i < k; i++)
            d[i] = pat(addr + (uint32_t)i);
        ihex_rec(b, 0, addr - upper, d, k, eol);
        addr += (uint32_t)k;
        n -= k;
    }
}

static void ihex_ela(struct buf *b, uint16_t hi, const char *eol)
{
    uint8_t d[2] = {(uint8_t)(hi >> 8), (uint8_t)hi};
    ihex_rec(b, 4, 0, d, 2, eol);
}

static void ihex_esa(struct buf *b, uint16_t seg, const char *eol)
{
    uint8_t d[2] = {(uint8_t)(seg >> 8), (uint8_t)seg};
    ihex_rec(b, 2, 0, d, 2, eol);
}

/* A sparse I32HEX file using 02, 03, 04 and 05 records:
 *   0x00012000..+40 (segment 0x1000 + 0x2000)
 *   0x08000000..+100, 0x08000200..+20, 0x0801FFF0..+32 (crosses 64K, via 04)
 */
static void make_sparse_hex(struct buf *b, const char *eol)
{
    uint8_t start[4] = {0x08, 0x00, 0x01, 0x23};
    ihex_rec(b, 3, 0, start, 4, eol);
    ihex_esa(b, 0x1000, eol);
    ihex_data(b, 0x10000, 0x12000, 40, 16, eol);
    ihex_ela(b, 0x0800, eol);
    ihex_data(b, 0x08000000, 0x08000000, 100, 32, eol);
    ihex_data(b, 0x08000000, 0x08000200, 20, 16, eol);
    ihex_ela(b, 0x0801, eol);
    ihex_data(b, 0x08010000, 0x0801FFF0, 16, 16, eol);
    ihex_ela(b, 0x0802, eol);
    ihex_data(b, 0x08020000, 0x08020000, 16, 16, eol);
    ihex_rec(b, 5, 0, start, 4, eol);
    ihex_rec(b, 1, 0, NULL, 0, eol);
}

/* ---- S-record writer ---- */

static void srec_rec(struct buf *b, unsigned type, uint32_t addr, const uint8_t *d, size_t n)
{
    static const unsigned alen_of[10] = {2, 2, 3, 4, 0, 2, 3, 4, 3, 2};
    unsigned alen = alen_of[type];
    unsigned count = alen + (unsigned)n + 1;
    unsigned sum = count;
    buf_printf(b, "S%u%02X", type, count);
    for (unsigned i = alen; i-- > 0;) {
        unsigned x = (addr >> (8 * i)) & 0xFF;
        buf_printf(b, "%02X", x);
        sum += x;
    }
    for (size_t i = 0; i < n; i++) {
        buf_printf(b, "%02X", d[i]);
        sum += d[i];
    }
    buf_printf(b, "%02X\n", ~sum & 0xFF);
}

static size_t srec_data(struct buf *b, unsigned type, uint32_t addr, size_t n, size_t per_rec)
{
    uint8_t d[250];
    size_t recs = 0;
    while (n > 0) {
        size_t k = n < per_rec ? n : per_rec;
        for (size_t i = 0; i < k; i++)
            d[i] = pat(addr + (uint32_t)i);
        srec_rec(b, type, addr, d, k);
        addr += (uint32_t)k;
        n -= k;
        recs++;
    }
    return recs;
}

/* S0, S1 at 0x1000 (48), S2 at 0x123400 (20), S3 at 0x08000000 (70) and
 * 0x08000100 (10), S5 with the count, S7. */
static void make_sparse_srec(struct buf *b)
{
    srec_rec(b, 0, 0, (const uint8_t *)"HDR", 3);
    size_t n = srec_data(b, 1, 0x1000, 48, 16);
    n += srec_data(b, 2, 0x123400, 20, 16);
    n += srec_data(b, 3, 0x08000000, 70, 32);
    n += srec_data(b, 3, 0x08000100, 10, 32);
    srec_rec(b, 5, (uint32_t)n, NULL, 0);
    srec_rec(b, 7, 0x08000000, NULL, 0);
}

/* ---- DFU suffix / DfuSe writer (bitwise CRC, independent of zlib) ---- */

static uint32_t ref_crc(const uint8_t *d, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= d[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & -(c & 1u));
    }
    return c; /* no final XOR */
}

static void add_suffix(struct buf *b, uint16_t dev, uint16_t pid, uint16_t vid, uint16_t bcd)
{
    buf_le16(b, dev);
    buf_le16(b, pid);
    buf_le16(b, vid);
    buf_le16(b, bcd);
    buf_put(b, "UFD", 3);
    buf_u8(b, 16);
    buf_le32(b, ref_crc(b->p, b->len));
}

/* Recompute the CRC of a suffixed buffer after it was changed. */
static void reseal(uint8_t *p, size_t len)
{
    uint32_t c = ref_crc(p, len - 4);
    p[len - 4] = (uint8_t)c;
    p[len - 3] = (uint8_t)(c >> 8);
    p[len - 2] = (uint8_t)(c >> 16);
    p[len - 1] = (uint8_t)(c >> 24);
}

struct elem {
    uint32_t addr, size;
};
struct target {
    uint8_t alt;
    const char *name;
    const struct elem *elems;
    size_t nelems;
};

static void put_le32_at(struct buf *b, size_t at, uint32_t v)
{
    b->p[at] = (uint8_t)v;
    b->p[at + 1] = (uint8_t)(v >> 8);
    b->p[at + 2] = (uint8_t)(v >> 16);
    b->p[at + 3] = (uint8_t)(v >> 24);
}

/* Body only (prefix + targets), sizes filled in; caller adds the suffix. */
static void make_dfuse_body(struct buf *b, const struct target *t, size_t nt)
{
    buf_put(b, "DfuSe\x01", 6);
    buf_le32(b, 0); /* patched below */
    buf_u8(b, (uint8_t)nt);
    for (size_t i = 0; i < nt; i++) {
        buf_put(b, "Target", 6);
        buf_u8(b, t[i].alt);
        buf_le32(b, t[i].name ? 1 : 0);
        char name[255] = {0};
        if (t[i].name)
            snprintf(name, sizeof(name), "%s", t[i].name);
        buf_put(b, name, sizeof(name));
        size_t size_at = b->len;
        buf_le32(b, 0);
        buf_le32(b, (uint32_t)t[i].nelems);
        size_t start = b->len;
        for (size_t e = 0; e < t[i].nelems; e++) {
            buf_le32(b, t[i].elems[e].addr);
            buf_le32(b, t[i].elems[e].size);
            for (uint32_t k = 0; k < t[i].elems[e].size; k++)
                buf_u8(b, pat(t[i].elems[e].addr + k));
        }
        put_le32_at(b, size_at, (uint32_t)(b->len - start));
    }
    put_le32_at(b, 6, (uint32_t)b->len);
}

static const struct elem flash_elems[] = {{0x08000000, 300}, {0x0800012C, 20}, {0x08004000, 64}};
static const struct elem ob_elems[] = {{0x1FFFC000, 16}};
static const struct target two_targets[] = {
    {0, "Internal Flash", flash_elems, 3},
    {1, "Option Bytes", ob_elems, 1},
};

static void make_dfuse(struct buf *b)
{
    make_dfuse_body(b, two_targets, 2);
    add_suffix(b, 0xFFFF, 0xDF11, 0x0483, 0x011A);
}

/* ---- assertions ---- */

static void check_invariants(const struct fwup_parsed_image *img)
{
    uint64_t total = 0;
    ck_assert_ptr_eq(img->view.segments, img->segments);
    ck_assert_uint_eq(img->view.struct_size, sizeof(struct fwup_image));
    ck_assert_uint_eq(img->view.segment_size, sizeof(struct fwup_segment));
    ck_assert_uint_gt(img->view.nsegments, 0);
    /* the ids of a DFU suffix reach the engines, and only with one */
    ck_assert_uint_eq(img->view.flags, img->has_suffix ? FWUP_IMAGE_DFU_SUFFIX : 0);
    ck_assert_uint_eq(img->view.dfu_vid, img->has_suffix ? img->suffix.id_vendor : 0);
    ck_assert_uint_eq(img->view.dfu_pid, img->has_suffix ? img->suffix.id_product : 0);
    ck_assert_uint_eq(img->view.dfu_bcd_device, img->has_suffix ? img->suffix.bcd_device : 0);
    for (size_t i = 0; i < img->view.nsegments; i++) {
        const struct fwup_segment *s = fwup_image_segment(&img->view, i);
        ck_assert_ptr_eq(s, &img->segments[i]);
        /* only DfuSe elements belong to a target (alternate setting) */
        if (img->format == FWUP_IMAGE_DFUSE)
            ck_assert_int_ge(s->alt, 0);
        else
            ck_assert_int_eq(s->alt, -1);
        ck_assert_uint_gt(s->len, 0);
        ck_assert_ptr_nonnull(s->data);
        ck_assert((uint64_t)s->address + s->len <= 0x100000000ull);
        if (i > 0)
            ck_assert((uint64_t)img->segments[i - 1].address + img->segments[i - 1].len <=
                      s->address);
        total += s->len;
    }
    ck_assert_uint_eq(total, img->view.total);
    ck_assert(total <= FWUP_IMAGE_MAX_TOTAL);
}

static void check_segment(const struct fwup_parsed_image *img, size_t i, uint32_t addr,
                          uint32_t len)
{
    ck_assert_uint_lt(i, img->view.nsegments);
    const struct fwup_segment *s = &img->segments[i];
    ck_assert_msg(s->address == addr && s->len == len,
                  "segment %zu is 0x%08X+%u, expected 0x%08X+%u", i, s->address, s->len, addr, len);
    for (uint32_t k = 0; k < len; k++)
        ck_assert_msg(s->data[k] == pat(addr + k), "segment %zu byte %u wrong", i, k);
}

static void parse_ok(const void *data, size_t len, enum fwup_image_format fmt, uint32_t base,
                     struct fwup_parsed_image *img)
{
    char err[256] = "";
    int rc = fwup_image_parse(data, len, fmt, base, img, err, sizeof(err));
    ck_assert_msg(rc == 0, "parse failed: %s", err);
    check_invariants(img);
}

/* Expect failure with every given substring in the message. */
static void parse_err(const void *data, size_t len, enum fwup_image_format fmt, ...)
{
    char err[256] = "";
    struct fwup_parsed_image img;
    memset(&img, 0xA5, sizeof(img));
    int rc = fwup_image_parse(data, len, fmt, 0, &img, err, sizeof(err));
    ck_assert_msg(rc == -1, "parse unexpectedly succeeded");
    ck_assert_ptr_null(img.segments);
    ck_assert_ptr_null(img.storage);
    va_list ap;
    va_start(ap, fmt);
    const char *want;
    while ((want = va_arg(ap, const char *)) != NULL)
        ck_assert_msg(strstr(err, want) != NULL, "error \"%s\" lacks \"%s\"", err, want);
    va_end(ap);
    fwup_image_free(&img);
}

/* A table row: refused with `want` in the message, or (want NULL) parsed
 * into *img for the caller to check and free. Returns whether it parsed. */
static int parse_row(const void *data, size_t len, enum fwup_image_format fmt, uint32_t base,
                     const char *want, struct fwup_parsed_image *img)
{
    if (want) {
        parse_err(data, len, fmt, want, (const char *)NULL);
        return 0;
    }
    parse_ok(data, len, fmt, base, img);
    return 1;
}

static void parse_err_str(const char *text, enum fwup_image_format fmt, const char *w1,
                          const char *w2)
{
    parse_err(text, strlen(text), fmt, w1, w2, (const char *)NULL);
}

/* ---- names, CRC, vector ---- */

START_TEST(test_names)
{
    static const enum fwup_image_format all[] = {FWUP_IMAGE_AUTO, FWUP_IMAGE_BIN, FWUP_IMAGE_IHEX,
                                                 FWUP_IMAGE_SREC, FWUP_IMAGE_DFU, FWUP_IMAGE_DFUSE,
                                                 FWUP_IMAGE_ELF};
    static const char *names[] = {"auto", "bin", "ihex", "srec", "dfu", "dfuse", "elf"};
    for (size_t i = 0; i < 7; i++) {
        ck_assert_str_eq(fwup_image_format_name(all[i]), names[i]);
        ck_assert_int_eq(fwup_image_format_from_name(names[i]), (int)all[i]);
    }
    ck_assert_int_eq(fwup_image_format_from_name("hex"), FWUP_IMAGE_IHEX);
    /* a detection result, not something to ask for */
    ck_assert_str_eq(fwup_image_format_name(FWUP_IMAGE_TEXT), "text");
    ck_assert_int_eq(fwup_image_format_from_name("text"), -1);
    ck_assert_int_eq(fwup_image_format_from_name(""), -1);
    ck_assert_int_eq(fwup_image_format_from_name(NULL), -1);
}
END_TEST

START_TEST(test_crc)
{
    /* CRC-32 check value 0xCBF43926 is after the final XOR; the DFU flavour
     * omits it. */
    ck_assert_uint_eq(fwup_dfu_crc((const uint8_t *)"123456789", 9), 0x340BC6D9u);
    ck_assert_uint_eq(fwup_dfu_crc(NULL, 0), 0xFFFFFFFFu);
    uint8_t d[1000];
    for (size_t i = 0; i < sizeof(d); i++)
        d[i] = pat((uint32_t)i);
    ck_assert_uint_eq(fwup_dfu_crc(d, sizeof(d)), ref_crc(d, sizeof(d)));
}
END_TEST

START_TEST(test_dfu_vector)
{
    static const uint8_t vec[] = {'1',  '2',  '3',  '4',  '5',  '6',  '7',  '8',  '9',
                                  0x00, 0x22, 0x11, 0xdf, 0x83, 0x04, 0x00, 0x01, 0x55,
                                  0x46, 0x44, 0x10, 0x52, 0xca, 0xeb, 0xcb};
    /* our writer agrees with the published vector */
    struct buf b = {0};
    buf_put(&b, "123456789", 9);
    add_suffix(&b, 0x2200, 0xdf11, 0x0483, 0x0100);
    ck_assert_uint_eq(b.len, sizeof(vec));
    ck_assert_mem_eq(b.p, vec, sizeof(vec));
    buf_free(&b);

    ck_assert_int_eq(fwup_image_detect(vec, sizeof(vec)), FWUP_IMAGE_DFU);
    struct fwup_parsed_image img;
    parse_ok(vec, sizeof(vec), FWUP_IMAGE_AUTO, 0x08000000, &img);
    ck_assert_int_eq(img.format, FWUP_IMAGE_DFU);
    ck_assert_int_eq(img.has_suffix, 1);
    ck_assert_uint_eq(img.suffix.bcd_device, 0x2200);
    ck_assert_uint_eq(img.suffix.id_product, 0xdf11);
    ck_assert_uint_eq(img.suffix.id_vendor, 0x0483);
    ck_assert_uint_eq(img.suffix.bcd_dfu, 0x0100);
    ck_assert_uint_eq(img.suffix.crc, 0xcbebca52u);
    ck_assert_uint_eq(img.view.nsegments, 1);
    ck_assert_uint_eq(img.segments[0].address, 0x08000000);
    ck_assert_uint_eq(img.segments[0].len, 9);
    ck_assert_mem_eq(img.segments[0].data, "123456789", 9);
    ck_assert_int_eq(img.segments[0].alt, -1);
    ck_assert_uint_eq(img.view.flags, FWUP_IMAGE_DFU_SUFFIX);
    ck_assert_uint_eq(img.view.dfu_vid, 0x0483);
    ck_assert_uint_eq(img.view.dfu_pid, 0xdf11);
    ck_assert_uint_eq(img.view.dfu_bcd_device, 0x2200);
    fwup_image_free(&img);
    ck_assert_ptr_null(img.segments);
    fwup_image_free(&img); /* idempotent */
}
END_TEST

/* ---- Intel HEX ---- */

static void check_sparse_hex(const struct fwup_parsed_image *img)
{
    ck_assert_int_eq(img->format, FWUP_IMAGE_IHEX);
    ck_assert_uint_eq(img->view.nsegments, 4);
    check_segment(img, 0, 0x12000, 40);
    check_segment(img, 1, 0x08000000, 100);
    check_segment(img, 2, 0x08000200, 20);
    check_segment(img, 3, 0x0801FFF0, 32); /* 0x0801FFF0 + 0x08020000 joined */
    ck_assert_uint_eq(img->view.total, 192);
    ck_assert_int_eq(img->has_suffix, 0);
}

START_TEST(test_ihex_valid)
{
    const char *eols[] = {"\n", "\r\n"};
    for (int i = 0; i < 2; i++) {
        struct buf b = {0};
        make_sparse_hex(&b, eols[i]);
        ck_assert_int_eq(fwup_image_detect(b.p, b.len), FWUP_IMAGE_IHEX);
        struct fwup_parsed_image img;
        parse_ok(b.p, b.len, FWUP_IMAGE_AUTO, 0, &img);
        check_sparse_hex(&img);
        fwup_image_free(&img);
        parse_ok(b.p, b.len, FWUP_IMAGE_IHEX, 0xDEAD0000, &img); /* base ignored */
        check_sparse_hex(&img);
        fwup_image_free(&img);
        buf_free(&b);
    }
}
END_TEST

START_TEST(test_ihex_lenient)
{
    /* lowercase digits, blank lines, trailing blanks, no final newline, and
     * junk after the EOF record (ignored) */
    struct buf b = {0};
    buf_printf(&b, "\n  \r\n");
    struct buf h = {0};
    ihex_data(&h, 0, 0x100, 8, 8, " \r\n\n");
    for (size_t i = 0; i < h.len; i++)
        if (h.p[i] >= 'A' && h.p[i] <= 'F')
            h.p[i] = (uint8_t)(h.p[i] - 'A' + 'a');
    buf_put(&b, h.p, h.len);
    buf_printf(&b, ":00000001FF\nthis is not hex at all");
    struct fwup_parsed_image img;
    parse_ok(b.p, b.len, FWUP_IMAGE_IHEX, 0, &img);
    ck_assert_uint_eq(img.view.nsegments, 1);
    check_segment(&img, 0, 0x100, 8);
    fwup_image_free(&img);
    buf_free(&b);
    buf_free(&h);
}
END_TEST

START_TEST(test_ihex_unordered)
{
    /* records in descending order still merge into one segment, and a gap
     * stays a gap */
    struct buf b = {0};
    ihex_data(&b, 0, 0x40, 16, 16, "\n");
    ihex_data(&b, 0, 0x30, 16, 16, "\n");
    ihex_data(&b, 0, 0x20, 16, 16, "\n");
    ihex_data(&b, 0, 0x00, 16, 16, "\n");
    ihex_rec(&b, 1, 0, NULL, 0, "\n");
    struct fwup_parsed_image img;
    parse_ok(b.p, b.len, FWUP_IMAGE_IHEX, 0, &img);
    ck_assert_uint_eq(img.view.nsegments, 2);
    check_segment(&img, 0, 0x00, 16);
    check_segment(&img, 1, 0x20, 48);
    fwup_image_free(&img);
    buf_free(&b);
}
END_TEST

/* Data records without data (HEX type 00 of no bytes, S1 of an address
 * only) add no segment and no address wherever they lie: before the data,
 * inside it, at its end, far past it. */
START_TEST(test_empty_records)
{
    const uint16_t where[] = {0x0000, 0x0108, 0x0110, 0xFFFF};
    for (int fmt = 0; fmt < 2; fmt++) {
        struct buf b = {0};
        for (size_t i = 0; i < 4; i++) {
            if (fmt == 0)
                ihex_rec(&b, 0, where[i], NULL, 0, "\n");
            else
                srec_rec(&b, 1, where[i], NULL, 0);
            if (i == 0 || i == 1) { /* 0x100-0x107, then 0x108-0x10F */
                if (fmt == 0)
                    ihex_data(&b, 0, 0x100 + 8 * (uint32_t)i, 8, 8, "\n");
                else
                    srec_data(&b, 1, 0x100 + 8 * (uint32_t)i, 8, 8);
            }
        }
        if (fmt == 0)
            ihex_rec(&b, 1, 0, NULL, 0, "\n");
        else
            srec_rec(&b, 9, 0, NULL, 0);
        struct fwup_parsed_image img;
        parse_ok(b.p, b.len, fmt == 0 ? FWUP_IMAGE_IHEX : FWUP_IMAGE_SREC, 0, &img);
        ck_assert_uint_eq(img.view.nsegments, 1);
        check_segment(&img, 0, 0x100, 16);
        ck_assert_uint_eq(img.view.total, 16);
        fwup_image_free(&img);
        buf_free(&b);
    }
}
END_TEST

START_TEST(test_ihex_errors)
{
    /* line 3 has a bad checksum (0xEA would be right) */
    parse_err_str(":0400000001020304F2\n"
                  ":0400040005060708DE\n"
                  ":040008000102030400\n"
                  ":00000001FF\n",
                  FWUP_IMAGE_IHEX, "line 3:", "checksum");
    parse_err_str(":0400000001020304F2\n:0400040005G60708DE\n:00000001FF\n", FWUP_IMAGE_IHEX,
                  "line 2:", "hex digit");
    parse_err_str(":0400000001020304F2\n:04000400050607DA\n:00000001FF\n", FWUP_IMAGE_IHEX,
                  "line 2:", "short record");
    parse_err_str(":040000\n", FWUP_IMAGE_IHEX, "line 1:", "short record");
    parse_err_str(":0400000001020304F2\n:00000006FA\n:00000001FF\n", FWUP_IMAGE_IHEX,
                  "line 2:", "unknown record type 0x06");
    parse_err_str(":0400000001020304F2\n:0400040005060708DE\n", FWUP_IMAGE_IHEX,
                  "line 2:", "missing end-of-file");
    parse_err_str("", FWUP_IMAGE_IHEX, "missing end-of-file", NULL);
    parse_err_str(":0400000001020304F2\n0400040005060708DE\n:00000001FF\n", FWUP_IMAGE_IHEX,
                  "line 2:", "':'");
    parse_err_str(":0400000001020304F\n:00000001FF\n", FWUP_IMAGE_IHEX, "line 1:", "odd");
    parse_err_str(":020000040800F2\n:0100000401FA\n:00000001FF\n", FWUP_IMAGE_IHEX,
                  "line 2:", "type 0x04");
    parse_err_str(":00000001FF\n", FWUP_IMAGE_IHEX, "no data", NULL);
}
END_TEST

/* A record of raw bytes (count byte first) and a correct checksum: two's
 * complement for Intel HEX, ones' complement for S-records. */
static void rec_raw(struct buf *b, const char *lead, const uint8_t *r, size_t n, int ones)
{
    unsigned sum = 0;
    buf_printf(b, "%s", lead);
    for (size_t i = 0; i < n; i++) {
        buf_printf(b, "%02X", r[i]);
        sum += r[i];
    }
    buf_printf(b, "%02X\n", (ones ? ~sum : 0x100 - (sum & 0xFF)) & 0xFF);
}

/* A data record whose byte count disagrees with its length by one either
 * way is refused as short or long; only an exact match is data. */
START_TEST(test_ihex_record_length)
{
    static const struct {
        unsigned count, have;
        const char *want; /* NULL: accepted */
    } cases[] = {
        {4, 4, NULL},
        {4, 3, "line 1: short record: byte count 4 needs 9 bytes, line has 8"},
        {4, 5, "line 1: long record: byte count 4 needs 9 bytes, line has 10"},
        {1, 1, NULL},
        {1, 0, "line 1: short record: byte count 1 needs 6 bytes, line has 5"},
        {0, 1, "line 1: long record: byte count 0 needs 5 bytes, line has 6"},
        {16, 17, "line 1: long record: byte count 16 needs 21 bytes, line has 22"},
        {255, 255, NULL},
        {255, 254, "line 1: short record: byte count 255 needs 260 bytes, line has 259"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t r[4 + 256] = {(uint8_t)cases[i].count, 0x00, 0x10, 0x00};
        for (unsigned k = 0; k < cases[i].have; k++)
            r[4 + k] = pat(0x10 + k);
        struct buf b = {0};
        rec_raw(&b, ":", r, 4 + cases[i].have, 0);
        buf_printf(&b, ":00000001FF\n");
        struct fwup_parsed_image img;
        if (parse_row(b.p, b.len, FWUP_IMAGE_IHEX, 0, cases[i].want, &img)) {
            check_segment(&img, 0, 0x10, cases[i].count);
            fwup_image_free(&img);
        }
        buf_free(&b);
    }
}
END_TEST

START_TEST(test_ihex_checksum_value)
{
    /* the message names both the stored and the computed checksum */
    parse_err_str(":0400000001020304F3\n:00000001FF\n", FWUP_IMAGE_IHEX, "0xF3", "0xF2");
}
END_TEST

START_TEST(test_ihex_overlap)
{
    struct buf b = {0};
    ihex_ela(&b, 0x0800, "\n");                          /* line 1 */
    ihex_data(&b, 0x08000000, 0x08000000, 32, 16, "\n"); /* lines 2-3 */
    ihex_data(&b, 0x08000000, 0x08000100, 16, 16, "\n"); /* line 4 */
    ihex_data(&b, 0x08000000, 0x08000018, 4, 16, "\n");  /* line 5: overlaps 2-3 */
    ihex_rec(&b, 1, 0, NULL, 0, "\n");
    parse_err(b.p, b.len, FWUP_IMAGE_IHEX, "line 5:", "0x08000018", "0x08000000", "overlap",
              (const char *)NULL);
    buf_free(&b);

    /* the same address twice */
    parse_err_str(":0400000001020304F2\n:0400000001020304F2\n:00000001FF\n", FWUP_IMAGE_IHEX,
                  "overlap", "0x00000000");
}
END_TEST

START_TEST(test_ihex_overflow)
{
    struct buf b = {0};
    ihex_ela(&b, 0xFFFF, "\n");
    ihex_data(&b, 0xFFFF0000, 0xFFFFFFF0, 16, 16, "\n"); /* ends exactly at 4 GiB: fine */
    ihex_rec(&b, 1, 0, NULL, 0, "\n");
    struct fwup_parsed_image img;
    parse_ok(b.p, b.len, FWUP_IMAGE_IHEX, 0, &img);
    check_segment(&img, 0, 0xFFFFFFF0, 16);
    fwup_image_free(&img);
    buf_free(&b);

    ihex_ela(&b, 0xFFFF, "\n");
    uint8_t d[32] = {0};
    ihex_rec(&b, 0, 0xFFF0, d, 32, "\n");
    ihex_rec(&b, 1, 0, NULL, 0, "\n");
    parse_err(b.p, b.len, FWUP_IMAGE_IHEX, "line 2:", "0xFFFFFFF0", "32-bit", (const char *)NULL);
    buf_free(&b);
}
END_TEST

/* ---- S-record ---- */

START_TEST(test_srec_valid)
{
    struct buf b = {0};
    make_sparse_srec(&b);
    ck_assert_int_eq(fwup_image_detect(b.p, b.len), FWUP_IMAGE_SREC);
    struct fwup_parsed_image img;
    parse_ok(b.p, b.len, FWUP_IMAGE_AUTO, 0, &img);
    ck_assert_int_eq(img.format, FWUP_IMAGE_SREC);
    ck_assert_uint_eq(img.view.nsegments, 4);
    check_segment(&img, 0, 0x1000, 48);
    check_segment(&img, 1, 0x123400, 20);
    check_segment(&img, 2, 0x08000000, 70);
    check_segment(&img, 3, 0x08000100, 10);
    fwup_image_free(&img);
    buf_free(&b);

    /* S2 with S6 + S8, then S2 without a count record + S9 */
    const unsigned terms[] = {8, 9};
    for (int i = 0; i < 2; i++) {
        size_t n = srec_data(&b, 2, 0x20000, 40, 16);
        if (i == 0)
            srec_rec(&b, 6, (uint32_t)n, NULL, 0);
        srec_rec(&b, terms[i], 0, NULL, 0);
        parse_ok(b.p, b.len, FWUP_IMAGE_SREC, 0, &img);
        ck_assert_uint_eq(img.view.nsegments, 1);
        check_segment(&img, 0, 0x20000, 40);
        fwup_image_free(&img);
        buf_free(&b);
    }
}
END_TEST

START_TEST(test_srec_errors)
{
    /* S1 with 4 bytes at 0x0000 sums to 0x11: checksum 0xEE; at 0x0004: 0xEA */
    parse_err_str("S00600004844521B\nS107000001020304EE\nS107000401020304EB\nS9030000FC\n",
                  FWUP_IMAGE_SREC, "line 3:", "checksum");
    parse_err_str("S00600004844521B\nS107000001020304EE\nS10700040102030XEA\nS9030000FC\n",
                  FWUP_IMAGE_SREC, "line 3:", "hex digit");
    parse_err_str("S107000001020304EE\nS10700040102EA\nS9030000FC\n", FWUP_IMAGE_SREC,
                  "line 2:", "short record");
    parse_err_str("S107000001020304EE\nS102FD\nS9030000FC\n", FWUP_IMAGE_SREC, "line 2:", "short");
    parse_err_str("S107000001020304EE\nS407000001020304EE\nS9030000FC\n", FWUP_IMAGE_SREC,
                  "line 2:", "unknown record type S4");
    parse_err_str("S107000001020304EE\nS107000401020304EA\n", FWUP_IMAGE_SREC,
                  "line 2:", "termination");
    parse_err_str("S107000001020304EE\nS5030002FA\nS9030000FC\n", FWUP_IMAGE_SREC,
                  "line 2:", "count says 2");
    parse_err_str("S107000001020304EE\nX107000401020304EA\nS9030000FC\n", FWUP_IMAGE_SREC,
                  "line 2:", "'S'");
    parse_err_str("S107000001020304EE\nSX07000401020304EA\nS9030000FC\n", FWUP_IMAGE_SREC,
                  "line 2:", "record type");
    parse_err_str("S9030000FC\n", FWUP_IMAGE_SREC, "no data", NULL);
}
END_TEST

/* A byte count too small to hold the address and the checksum is refused
 * as such for every record type (it must not wrap the payload length), and
 * a count off by one from the line either way is short or long. */
START_TEST(test_srec_record_length)
{
    static const struct {
        const char *lead;
        uint8_t r[8];
        size_t n;
        const char *want; /* NULL: accepted */
    } cases[] = {
        {"S1", {0x02, 0x00}, 2, "line 1: short record: S1 needs at least 3 bytes, count is 2"},
        {"S1", {0x01}, 1, "line 1: short record: S1 needs at least 3 bytes, count is 1"},
        {"S1", {0x00}, 0, "line 1: short record (no byte count)"},
        {"S2",
         {0x03, 0x00, 0x00},
         3,
         "line 1: short record: S2 needs at least 4 bytes, count is 3"},
        {"S3", {0x04, 0x00, 0x00, 0x00}, 4, "line 1: short record: S3 needs at least 5 bytes"},
        {"S9", {0x02, 0x00}, 2, "line 1: short record: S9 needs at least 3 bytes, count is 2"},
        {"S5", {0x02, 0x00}, 2, "line 1: short record: S5 needs at least 3 bytes, count is 2"},
        {"S1", {0x05, 0x00, 0x10, 0xAB, 0xCD}, 5, NULL},
        {"S1", {0x05, 0x00, 0x10, 0xAB}, 4, "line 1: short record: byte count 5, line has 4"},
        {"S1",
         {0x05, 0x00, 0x10, 0xAB, 0xCD, 0xEF},
         6,
         "line 1: long record: byte count 5, line has 6"},
        {"S3", {0x06, 0x00, 0x00, 0x00, 0x10, 0xAB}, 6, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf b = {0};
        if (cases[i].n)
            rec_raw(&b, cases[i].lead, cases[i].r, cases[i].n, 1);
        else
            buf_printf(&b, "%s\n", cases[i].lead);
        buf_printf(&b, "S9030000FC\n");
        struct fwup_parsed_image img;
        if (parse_row(b.p, b.len, FWUP_IMAGE_SREC, 0, cases[i].want, &img)) {
            unsigned want_len = cases[i].r[0] - (cases[i].lead[1] == '3' ? 5u : 3u);
            ck_assert_uint_eq(img.view.nsegments, 1);
            ck_assert_uint_eq(img.segments[0].address, 0x10);
            ck_assert_uint_eq(img.segments[0].len, want_len);
            ck_assert_int_eq(
                memcmp(img.segments[0].data, cases[i].r + cases[i].n - want_len, want_len), 0);
            fwup_image_free(&img);
        }
        buf_free(&b);
    }
    /* the record from the field report, verbatim */
    parse_err_str("S10200FD\nS9030000FC\n", FWUP_IMAGE_SREC,
                  "line 1:", "S1 needs at least 3 bytes, count is 2");

    /* The longest record a count byte describes (255 bytes after it) is
     * taken; a line one byte longer is refused as too long, whatever its
     * count says. */
    uint8_t d[252];
    for (size_t k = 0; k < sizeof d; k++)
        d[k] = (uint8_t)(k * 13 + 1);
    struct buf b = {0};
    srec_rec(&b, 1, 0x100, d, sizeof d);
    srec_rec(&b, 9, 0, NULL, 0);
    struct fwup_parsed_image img;
    ck_assert(parse_row(b.p, b.len, FWUP_IMAGE_SREC, 0, NULL, &img));
    ck_assert_uint_eq(img.view.nsegments, 1);
    ck_assert_uint_eq(img.segments[0].len, sizeof d);
    ck_assert_int_eq(memcmp(img.segments[0].data, d, sizeof d), 0);
    fwup_image_free(&img);
    buf_free(&b);
    char line[2 + 2 * 257 + 2] = "S1";
    memset(line + 2, 'F', 2 * 257);
    line[2 + 2 * 257] = '\n';
    line[2 + 2 * 257 + 1] = 0;
    parse_err_str(line, FWUP_IMAGE_SREC, "line 1:", "record too long (516 characters)");
}
END_TEST

START_TEST(test_srec_checks_computed)
{
    /* sanity: the hand-written lines above are valid when not broken */
    struct fwup_parsed_image img;
    const char *ok =
        "S00600004844521B\nS107000001020304EE\nS107000401020304EA\nS5030002FA\nS9030000FC\n";
    parse_ok(ok, strlen(ok), FWUP_IMAGE_SREC, 0, &img);
    ck_assert_uint_eq(img.view.nsegments, 1); /* the two records are adjacent */
    ck_assert_uint_eq(img.view.total, 8);
    ck_assert_mem_eq(img.segments[0].data, "\x01\x02\x03\x04\x01\x02\x03\x04", 8);
    fwup_image_free(&img);
    parse_err_str("S107000001020304EF\nS9030000FC\n", FWUP_IMAGE_SREC, "0xEF", "0xEE");
}
END_TEST

START_TEST(test_srec_overlap_overflow)
{
    struct buf b = {0};
    srec_data(&b, 3, 0x08000000, 64, 32);
    srec_data(&b, 1, 0x2000, 8, 16);
    srec_data(&b, 3, 0x0800003F, 2, 32); /* line 4 overlaps line 2 */
    srec_rec(&b, 7, 0, NULL, 0);
    parse_err(b.p, b.len, FWUP_IMAGE_SREC, "line 4:", "0x0800003F", "0x08000000", "(line 1)",
              (const char *)NULL);
    buf_free(&b);

    uint8_t d[16] = {0};
    srec_rec(&b, 3, 0xFFFFFFF8, d, 16);
    srec_rec(&b, 7, 0, NULL, 0);
    parse_err(b.p, b.len, FWUP_IMAGE_SREC, "line 1:", "32-bit", (const char *)NULL);
    buf_free(&b);
}
END_TEST

/* ---- raw binary ---- */

START_TEST(test_bin)
{
    uint8_t d[300];
    for (uint32_t i = 0; i < sizeof(d); i++)
        d[i] = pat(0x08004000 + i);
    struct fwup_parsed_image img;
    parse_ok(d, sizeof(d), FWUP_IMAGE_BIN, 0x08004000, &img);
    ck_assert_int_eq(img.format, FWUP_IMAGE_BIN);
    ck_assert_uint_eq(img.view.nsegments, 1);
    check_segment(&img, 0, 0x08004000, 300);
    ck_assert_ptr_ne(img.segments[0].data, d); /* owned copy */
    fwup_image_free(&img);

    parse_err(d, 0, FWUP_IMAGE_BIN, "empty", (const char *)NULL);
    parse_err(d, 0, FWUP_IMAGE_AUTO, "empty", (const char *)NULL);
    char err[128];
    ck_assert_int_eq(fwup_image_parse(d, 17, FWUP_IMAGE_BIN, 0xFFFFFFF0, &img, err, sizeof(err)),
                     -1);
    ck_assert_ptr_nonnull(strstr(err, "32-bit"));
    ck_assert_int_eq(fwup_image_parse(d, 16, FWUP_IMAGE_BIN, 0xFFFFFFF0, &img, err, sizeof(err)),
                     0);
    fwup_image_free(&img);
}
END_TEST

/* ---- DFU suffix ---- */

START_TEST(test_dfu)
{
    struct buf b = {0};
    for (uint32_t i = 0; i < 1000; i++)
        buf_u8(&b, pat(0x100 + i));
    add_suffix(&b, 0x0200, 0x7d02, 0x1209, 0x0100);
    struct fwup_parsed_image img;
    parse_ok(b.p, b.len, FWUP_IMAGE_DFU, 0x100, &img);
    ck_assert_int_eq(img.format, FWUP_IMAGE_DFU);
    check_segment(&img, 0, 0x100, 1000);
    ck_assert_uint_eq(img.suffix.id_vendor, 0x1209);
    ck_assert_uint_eq(img.suffix.id_product, 0x7d02);
    fwup_image_free(&img);

    /* one flipped payload bit: CRC error naming both values */
    uint32_t good = ref_crc(b.p, b.len - 4);
    b.p[10] ^= 0x01;
    uint32_t bad = ref_crc(b.p, b.len - 4);
    char s_good[16], s_bad[16];
    snprintf(s_good, sizeof(s_good), "0x%08X", good);
    snprintf(s_bad, sizeof(s_bad), "0x%08X", bad);
    parse_err(b.p, b.len, FWUP_IMAGE_DFU, "CRC", s_good, s_bad, (const char *)NULL);
    /* still looks like DFU, so auto refuses it rather than sending it raw */
    ck_assert_int_eq(fwup_image_detect(b.p, b.len), FWUP_IMAGE_DFU);
    parse_err(b.p, b.len, FWUP_IMAGE_AUTO, "CRC", s_good, s_bad, "--format bin",
              (const char *)NULL);
    b.p[10] ^= 0x01;

    /* bad signature, even with a matching CRC */
    b.p[b.len - 8] = 'X';
    reseal(b.p, b.len);
    parse_err(b.p, b.len, FWUP_IMAGE_DFU, "UFD", (const char *)NULL);
    ck_assert_int_eq(fwup_image_detect(b.p, b.len), FWUP_IMAGE_BIN);
    b.p[b.len - 8] = 'U';

    /* bLength below 16 */
    b.p[b.len - 5] = 15;
    reseal(b.p, b.len);
    parse_err(b.p, b.len, FWUP_IMAGE_DFU, "length", (const char *)NULL);
    buf_free(&b);

    /* too short, and a suffix with nothing before it */
    parse_err("UFD", 3, FWUP_IMAGE_DFU, "too short", (const char *)NULL);
    add_suffix(&b, 0, 0, 0, 0x0100);
    parse_err(b.p, b.len, FWUP_IMAGE_DFU, "empty", (const char *)NULL);
    buf_free(&b);
}
END_TEST

/* bLength around the file's own size: a suffix may fill all but one byte,
 * filling the whole file leaves no image, and longer is refused. */
START_TEST(test_dfu_suffix_length)
{
    static const struct {
        unsigned blen;
        size_t body; /* accepted: bytes before the suffix */
        const char *want;
    } cases[] = {
        {16, 14, NULL},
        {29, 1, NULL},
        {30, 0, "empty image before the DFU suffix"},
        {31, 0, "bad DFU suffix length 31"},
        {255, 0, "bad DFU suffix length 255"},
        {15, 0, "bad DFU suffix length 15"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf b = {0};
        for (uint32_t k = 0; k < 14; k++)
            buf_u8(&b, pat(0x100 + k));
        add_suffix(&b, 0x0200, 0x7d02, 0x1209, 0x0100);
        ck_assert_uint_eq(b.len, 30);
        b.p[b.len - 5] = (uint8_t)cases[i].blen;
        reseal(b.p, b.len);
        struct fwup_parsed_image img;
        if (parse_row(b.p, b.len, FWUP_IMAGE_DFU, 0x100, cases[i].want, &img)) {
            check_segment(&img, 0, 0x100, cases[i].body);
            fwup_image_free(&img);
        }
        buf_free(&b);
    }
}
END_TEST

/* ---- DfuSe ---- */

START_TEST(test_dfuse_valid)
{
    struct buf b = {0};
    make_dfuse(&b);
    ck_assert_int_eq(fwup_image_detect(b.p, b.len), FWUP_IMAGE_DFUSE);
    struct fwup_parsed_image img;
    parse_ok(b.p, b.len, FWUP_IMAGE_AUTO, 0, &img);
    ck_assert_int_eq(img.format, FWUP_IMAGE_DFUSE);
    ck_assert_int_eq(img.has_suffix, 1);
    ck_assert_uint_eq(img.suffix.bcd_dfu, 0x011A);
    ck_assert_uint_eq(img.suffix.id_product, 0xDF11);
    ck_assert_uint_eq(img.view.nsegments, 3);
    check_segment(&img, 0, 0x08000000, 320); /* elements 0 and 1 are adjacent */
    check_segment(&img, 1, 0x08004000, 64);
    check_segment(&img, 2, 0x1FFFC000, 16);
    /* each element keeps its target's alt; 0xFFFF (any) ids pass as they are */
    ck_assert_int_eq(img.segments[0].alt, 0);
    ck_assert_int_eq(img.segments[1].alt, 0);
    ck_assert_int_eq(img.segments[2].alt, 1);
    ck_assert_uint_eq(img.view.flags, FWUP_IMAGE_DFU_SUFFIX);
    ck_assert_uint_eq(img.view.dfu_vid, 0x0483);
    ck_assert_uint_eq(img.view.dfu_pid, 0xDF11);
    ck_assert_uint_eq(img.view.dfu_bcd_device, 0xFFFF);
    fwup_image_free(&img);

    /* dfuse-pack (shipped with dfu-util) counts the suffix in the image size */
    put_le32_at(&b, 6, (uint32_t)b.len);
    reseal(b.p, b.len);
    parse_ok(b.p, b.len, FWUP_IMAGE_DFUSE, 0, &img);
    ck_assert_uint_eq(img.view.nsegments, 3);
    fwup_image_free(&img);
    buf_free(&b);

    /* adjacent data in different alts stays two segments; targets may come
     * in any address order; alt 255 is an alt, not "none" */
    static const struct elem e1[] = {{0x100, 16}}, e0[] = {{0xF0, 16}}, e2[] = {{0x200, 8}};
    static const struct target t[] = {{3, NULL, e1, 1}, {2, "x", e0, 1}, {255, NULL, e2, 1}};
    make_dfuse_body(&b, t, 3);
    add_suffix(&b, 0, 0, 0, 0x011A);
    parse_ok(b.p, b.len, FWUP_IMAGE_DFUSE, 0, &img);
    ck_assert_uint_eq(img.view.nsegments, 3);
    check_segment(&img, 0, 0xF0, 16);
    check_segment(&img, 1, 0x100, 16);
    check_segment(&img, 2, 0x200, 8);
    ck_assert_int_eq(img.segments[0].alt, 2);
    ck_assert_int_eq(img.segments[1].alt, 3);
    ck_assert_int_eq(img.segments[2].alt, 255);
    ck_assert_uint_eq(img.view.dfu_vid, 0);
    fwup_image_free(&img);
    buf_free(&b);
}
END_TEST

/* Offsets inside make_dfuse()'s layout. */
#define T0         11
#define T0_SIZE    (T0 + 266)
#define T0_NELEM   (T0 + 270)
#define T0_E0      (T0 + 274)
#define T0_E0_SIZE (T0_E0 + 4)

static void dfuse_lie(size_t at, uint32_t v, const char *w1, const char *w2)
{
    struct buf b = {0};
    make_dfuse(&b);
    put_le32_at(&b, at, v);
    reseal(b.p, b.len);
    parse_err(b.p, b.len, FWUP_IMAGE_DFUSE, w1, w2, (const char *)NULL);
    buf_free(&b);
}

START_TEST(test_dfuse_lying_sizes)
{
    char at[32];
    dfuse_lie(6, 0x7FFFFFFF, "offset 6:", "image size");
    dfuse_lie(6, 100, "offset 6:", "image size");
    snprintf(at, sizeof(at), "offset %d:", T0_SIZE);
    dfuse_lie(T0_SIZE, 0xFFFFFFF0u, at, "size 4294967280");
    dfuse_lie(T0_SIZE, 0x7FFFFFFF, at, "runs past");
    /* a target size that is too small cuts an element in half */
    dfuse_lie(T0_SIZE, 8 + 300 + 8 + 4, "element 1", "runs past");
    snprintf(at, sizeof(at), "offset %d:", T0_E0_SIZE);
    dfuse_lie(T0_E0_SIZE, 0xFFFFFFFFu, at, "runs past");
    dfuse_lie(T0_E0_SIZE, 401, at, "runs past"); /* target holds 400 after the header */
    dfuse_lie(T0_NELEM, 4, "element 3", "header");
    dfuse_lie(T0_NELEM, 0xFFFFFFFFu, "element 3", "header");
    dfuse_lie(T0_NELEM, 2, "target 0", "after its last element");
}
END_TEST

START_TEST(test_dfuse_truncated)
{
    struct buf b = {0};
    make_dfuse(&b);
    size_t body = b.len - 16;
    /* every shorter body with a freshly computed suffix fails cleanly */
    for (size_t cut = 0; cut < body; cut++) {
        struct buf t = {0};
        buf_put(&t, b.p, cut);
        add_suffix(&t, 0, 0, 0, 0x011A);
        char err[256] = "";
        struct fwup_parsed_image img;
        ck_assert_int_eq(fwup_image_parse(t.p, t.len, FWUP_IMAGE_DFUSE, 0, &img, err, sizeof(err)),
                         -1);
        ck_assert_msg(strstr(err, "offset ") != NULL, "cut %zu: \"%s\"", cut, err);
        buf_free(&t);
    }
    /* and with the prefix size patched to match, the target check catches it */
    struct buf t = {0};
    buf_put(&t, b.p, body - 5);
    put_le32_at(&t, 6, (uint32_t)t.len);
    add_suffix(&t, 0, 0, 0, 0x011A);
    parse_err(t.p, t.len, FWUP_IMAGE_DFUSE, "target 1", "runs past", (const char *)NULL);
    buf_free(&t);
    /* plain truncation of the file breaks the suffix */
    parse_err(b.p, b.len - 1, FWUP_IMAGE_DFUSE, "bad DFU suffix signature", (const char *)NULL);
    parse_err(b.p, 5, FWUP_IMAGE_DFUSE, "too short for a DFU suffix (5 bytes)", (const char *)NULL);
    buf_free(&b);
}
END_TEST

START_TEST(test_dfuse_other_errors)
{
    struct buf b = {0};
    make_dfuse(&b);
    b.p[T0] = 't'; /* "target" */
    reseal(b.p, b.len);
    parse_err(b.p, b.len, FWUP_IMAGE_DFUSE, "offset 11:", "signature", (const char *)NULL);
    b.p[T0] = 'T';
    b.p[5] = 2;
    reseal(b.p, b.len);
    parse_err(b.p, b.len, FWUP_IMAGE_DFUSE, "version", (const char *)NULL);
    b.p[5] = 1;
    b.p[b.len - 10] = 0x00; /* bcdDFU 0x0100 */
    b.p[b.len - 9] = 0x01;
    reseal(b.p, b.len);
    parse_err(b.p, b.len, FWUP_IMAGE_DFUSE, "bcdDFU", (const char *)NULL);
    buf_free(&b);

    /* bad CRC */
    make_dfuse(&b);
    b.p[T0_E0 + 20] ^= 0xFF;
    parse_err(b.p, b.len, FWUP_IMAGE_DFUSE, "CRC", (const char *)NULL);
    buf_free(&b);

    /* overlapping elements across targets */
    static const struct elem e0[] = {{0x1000, 32}}, e1[] = {{0x1010, 4}};
    static const struct target t[] = {{0, NULL, e0, 1}, {1, NULL, e1, 1}};
    make_dfuse_body(&b, t, 2);
    add_suffix(&b, 0, 0, 0, 0x011A);
    parse_err(b.p, b.len, FWUP_IMAGE_DFUSE, "overlap", "0x00001010", "0x00001000",
              (const char *)NULL);
    buf_free(&b);

    /* trailing bytes after the last target (sizes kept consistent) */
    make_dfuse_body(&b, t, 1);
    buf_put(&b, "junk", 4);
    put_le32_at(&b, 6, (uint32_t)b.len);
    add_suffix(&b, 0, 0, 0, 0x011A);
    parse_err(b.p, b.len, FWUP_IMAGE_DFUSE, "unexpected bytes", (const char *)NULL);
    buf_free(&b);

    /* no targets at all */
    make_dfuse_body(&b, t, 0);
    add_suffix(&b, 0, 0, 0, 0x011A);
    parse_err(b.p, b.len, FWUP_IMAGE_DFUSE, "no data", (const char *)NULL);
    buf_free(&b);

    /* element past 4 GiB */
    static const struct elem e2[] = {{0xFFFFFFF0u, 17}};
    static const struct target t2[] = {{0, NULL, e2, 1}};
    make_dfuse_body(&b, t2, 1);
    add_suffix(&b, 0, 0, 0, 0x011A);
    parse_err(b.p, b.len, FWUP_IMAGE_DFUSE, "32-bit", (const char *)NULL);
    buf_free(&b);
}
END_TEST

/* ---- detect ---- */

START_TEST(test_detect)
{
    struct buf b = {0};
    make_sparse_hex(&b, "\r\n");
    ck_assert_int_eq(fwup_image_detect(b.p, b.len), FWUP_IMAGE_IHEX);
    buf_free(&b);
    make_sparse_srec(&b);
    ck_assert_int_eq(fwup_image_detect(b.p, b.len), FWUP_IMAGE_SREC);
    buf_free(&b);
    make_dfuse(&b);
    ck_assert_int_eq(fwup_image_detect(b.p, b.len), FWUP_IMAGE_DFUSE);
    buf_free(&b);

#define DETECT(s, f) ck_assert_int_eq(fwup_image_detect((const uint8_t *)(s), strlen(s)), (f))
    DETECT("  \n\r\n:00000001FF\r\n", FWUP_IMAGE_IHEX);
    DETECT(":00000001FF", FWUP_IMAGE_IHEX);
    DETECT("S9030000FC\n", FWUP_IMAGE_SREC);
    DETECT("\nS00600004844521B\n", FWUP_IMAGE_SREC);
    DETECT("\xEF\xBB\xBF:00000001FF\n", FWUP_IMAGE_IHEX);
    DETECT(" \tS00600004844521B\n", FWUP_IMAGE_SREC);
    /* the signature decides, not whether the rest holds up */
    DETECT(":0Ahello\n", FWUP_IMAGE_IHEX);
    DETECT(":00", FWUP_IMAGE_IHEX);
    DETECT("S903 hello\n", FWUP_IMAGE_SREC);
    DETECT(":hello\n", FWUP_IMAGE_TEXT); /* no byte count: refused as text instead */
    DETECT("S9 hello\n", FWUP_IMAGE_TEXT);
    DETECT(":0", FWUP_IMAGE_TEXT);
    DETECT("S90", FWUP_IMAGE_TEXT);
    DETECT("\177ELF", FWUP_IMAGE_ELF);
    DETECT("DfuSe", FWUP_IMAGE_DFUSE);
    DETECT("UFD12345", FWUP_IMAGE_DFU); /* "UFD", bLength, dwCRC end the file */
    DETECT("SA030000FC\n", FWUP_IMAGE_TEXT);
    DETECT("Some text\n", FWUP_IMAGE_TEXT);
    DETECT("DfuS", FWUP_IMAGE_TEXT);
    DETECT("\177EL", FWUP_IMAGE_BIN);
    DETECT("UFD1234", FWUP_IMAGE_TEXT); /* the signature sits 8 bytes from the end */
    DETECT("", FWUP_IMAGE_BIN);
#undef DETECT
    uint8_t bin[64];
    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = pat((uint32_t)i);
    ck_assert_int_eq(fwup_image_detect(bin, sizeof(bin)), FWUP_IMAGE_BIN);
    ck_assert_int_eq(fwup_image_detect(NULL, 0), FWUP_IMAGE_BIN);

    struct fwup_parsed_image img;
    parse_ok(bin, sizeof(bin), FWUP_IMAGE_AUTO, 0x2000, &img);
    ck_assert_int_eq(img.format, FWUP_IMAGE_BIN);
    fwup_image_free(&img);

    /* a raw binary that happens to start like a HEX record is refused under
     * AUTO with the way out; --format bin takes it */
    memcpy(bin, ":1A", 3);
    parse_err(bin, sizeof(bin), FWUP_IMAGE_AUTO, "ihex", "--format bin", (const char *)NULL);
    parse_ok(bin, sizeof(bin), FWUP_IMAGE_BIN, 0x2000, &img);
    fwup_image_free(&img);
    /* one that merely starts with ':' is still raw */
    bin[1] = 0x00;
    parse_ok(bin, sizeof(bin), FWUP_IMAGE_AUTO, 0x2000, &img);
    ck_assert_int_eq(img.format, FWUP_IMAGE_BIN);
    fwup_image_free(&img);
}
END_TEST

/* ---- auto never guesses raw for something else ---- */

START_TEST(test_auto_refuses)
{
    struct fwup_parsed_image img;
    struct buf b = {0};

    /* a DFU file with one corrupted byte: refused, not queued raw with its
     * suffix; --format bin still takes the whole file */
    for (uint32_t i = 0; i < 40 * 1024; i++)
        buf_u8(&b, pat(i));
    add_suffix(&b, 0x0200, 0x7d02, 0x1209, 0x0100);
    b.p[1234] ^= 0x40;
    parse_err(b.p, b.len, FWUP_IMAGE_AUTO, "DFU suffix CRC mismatch", "dfu", "UFD", "--format bin",
              (const char *)NULL);
    parse_ok(b.p, b.len, FWUP_IMAGE_BIN, 0, &img);
    ck_assert_uint_eq(img.view.total, b.len);
    fwup_image_free(&img);
    buf_free(&b);

    /* a DfuSe container whose prefix got damaged is not a plain DFU file */
    make_dfuse(&b);
    b.p[0] = 'X';
    reseal(b.p, b.len);
    ck_assert_int_eq(fwup_image_detect(b.p, b.len), FWUP_IMAGE_DFUSE);
    parse_err(b.p, b.len, FWUP_IMAGE_AUTO, "DfuSe signature", "--format bin", (const char *)NULL);
    buf_free(&b);

    /* a 12-byte text file */
    parse_err("hello world\n", 12, FWUP_IMAGE_AUTO, "text", "12 bytes", "--format bin",
              (const char *)NULL);
    parse_ok("hello world\n", 12, FWUP_IMAGE_BIN, 0, &img);
    fwup_image_free(&img);

    /* HEX and S-record that fail their checks keep their line numbers */
    parse_err_str(":0400000001020304F3\n:00000001FF\n", FWUP_IMAGE_AUTO, "line 1: checksum",
                  "ihex");
    parse_err_str("S107000001020304EF\nS9030000FC\n", FWUP_IMAGE_AUTO, "line 1: checksum", "srec");
    parse_err_str("\x7f"
                  "ELF\x01\x01\x01",
                  FWUP_IMAGE_AUTO, "truncated ELF header", "--format bin");

    /* a binary that by chance ends like a DFU suffix or starts like an
     * S-record: refused with the way out, taken with --format bin */
    uint8_t bin[256];
    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = pat((uint32_t)i);
    memcpy(bin + sizeof(bin) - 8, "UFD", 3);
    parse_err(bin, sizeof(bin), FWUP_IMAGE_AUTO, "--format bin", (const char *)NULL);
    parse_ok(bin, sizeof(bin), FWUP_IMAGE_BIN, 0, &img);
    fwup_image_free(&img);
    bin[sizeof(bin) - 8] = 0;
    memcpy(bin, "S315", 4);
    parse_err(bin, sizeof(bin), FWUP_IMAGE_AUTO, "srec", "--format bin", (const char *)NULL);
    bin[0] = 0;
    parse_ok(bin, sizeof(bin), FWUP_IMAGE_AUTO, 0x100, &img); /* looks like nothing else */
    ck_assert_int_eq(img.format, FWUP_IMAGE_BIN);
    ck_assert_uint_eq(img.view.nsegments, 1);
    ck_assert_uint_eq(img.segments[0].address, 0x100);
    ck_assert_mem_eq(img.segments[0].data, bin, sizeof(bin));
    fwup_image_free(&img);

    /* a byte order mark before a valid HEX file is fine */
    make_sparse_hex(&b, "\n");
    struct buf bom = {0};
    buf_put(&bom, "\xEF\xBB\xBF", 3);
    buf_put(&bom, b.p, b.len);
    parse_ok(bom.p, bom.len, FWUP_IMAGE_AUTO, 0, &img);
    ck_assert_int_eq(img.format, FWUP_IMAGE_IHEX);
    check_sparse_hex(&img);
    fwup_image_free(&img);
    buf_free(&bom);
    buf_free(&b);
}
END_TEST

/* The text rule at its edges: 95 % of the first 4 KiB, no NUL. */
START_TEST(test_text_rule)
{
    uint8_t d[5000];
    memset(d, 'a', sizeof(d));
    memset(d, 0x01, 5); /* 95 of 100 printable */
    ck_assert_int_eq(fwup_image_detect(d, 100), FWUP_IMAGE_TEXT);
    d[5] = 0x01; /* 94 of 100 */
    ck_assert_int_eq(fwup_image_detect(d, 100), FWUP_IMAGE_BIN);
    memset(d, 'a', sizeof(d));
    d[50] = 0; /* one NUL decides */
    ck_assert_int_eq(fwup_image_detect(d, 100), FWUP_IMAGE_BIN);
    d[50] = 'a';
    d[4096] = 0; /* past the window: not looked at */
    ck_assert_int_eq(fwup_image_detect(d, sizeof(d)), FWUP_IMAGE_TEXT);
    d[4095] = 0;
    ck_assert_int_eq(fwup_image_detect(d, sizeof(d)), FWUP_IMAGE_BIN);

    /* UTF-8 counts as text, Latin-1 does not */
    const char *utf8 = "Gr\xC3\xBC\xC3\x9F"
                       "e \xE2\x86\x92 w\xC3\xB6rld \xF0\x9F\x98\x80\n";
    ck_assert_int_eq(fwup_image_detect((const uint8_t *)utf8, strlen(utf8)), FWUP_IMAGE_TEXT);
    const char *latin1 = "Gr\xFC\xDF\xE9 \xE0 \xE9t\xE9\n";
    ck_assert_int_eq(fwup_image_detect((const uint8_t *)latin1, strlen(latin1)), FWUP_IMAGE_BIN);
    /* a sequence the file cuts short is not UTF-8 */
    ck_assert_int_eq(fwup_image_detect((const uint8_t *)"\xC3", 1), FWUP_IMAGE_BIN);
    ck_assert_int_eq(fwup_image_detect((const uint8_t *)"abcdefghijklmnopqrs\xE2\x86", 21),
                     FWUP_IMAGE_BIN); /* 19 of 21 */
    ck_assert_int_eq(fwup_image_detect((const uint8_t *)"abcdefghijklmnopqrs\xE2\x86\x92", 22),
                     FWUP_IMAGE_TEXT);
    /* a UTF-8 character cut by the end of the window still counts */
    memset(d, 'a', sizeof(d));
    memcpy(d + 4094, "\xE2\x86\x92", 3);
    ck_assert_int_eq(fwup_image_detect(d, sizeof(d)), FWUP_IMAGE_TEXT);
    /* 0xFF padding, as erased flash reads, is binary */
    memset(d, 0xFF, sizeof(d));
    ck_assert_int_eq(fwup_image_detect(d, sizeof(d)), FWUP_IMAGE_BIN);
}
END_TEST

/* ---- ELF writer ---- */

struct phdr {
    uint32_t type;
    uint64_t vaddr, paddr, filesz, memsz;
    uint64_t offset; /* 0: place the data after the headers */
};

static void buf_un(struct buf *b, uint64_t v, unsigned n, int big)
{
    for (unsigned i = 0; i < n; i++)
        buf_u8(b, (uint8_t)(v >> 8 * (big ? n - 1 - i : i)));
}

/* An ELF executable whose PT_LOAD data is pat(paddr + k). */
static void make_elf(struct buf *b, int is64, int big, const struct phdr *ph, size_t nph)
{
    unsigned ehsize = is64 ? 64 : 52, phsize = is64 ? 56 : 32, w = is64 ? 8 : 4;
    buf_put(b,
            "\x7f"
            "ELF",
            4);
    buf_u8(b, is64 ? 2 : 1);
    buf_u8(b, big ? 2 : 1);
    buf_u8(b, 1);
    buf_put(b, "\0\0\0\0\0\0\0\0\0", 9);
    buf_un(b, 2, 2, big);          /* ET_EXEC */
    buf_un(b, 40, 2, big);         /* EM_ARM */
    buf_un(b, 1, 4, big);          /* version */
    buf_un(b, 0x08000101, w, big); /* entry */
    buf_un(b, ehsize, w, big);     /* phoff */
    buf_un(b, 0, w, big);          /* shoff */
    buf_un(b, 0x05000000, 4, big); /* flags */
    buf_un(b, ehsize, 2, big);
    buf_un(b, phsize, 2, big);
    buf_un(b, nph, 2, big);
    buf_un(b, is64 ? 64 : 40, 2, big); /* shentsize */
    buf_un(b, 0, 2, big);
    buf_un(b, 0, 2, big);
    ck_assert_uint_eq(b->len, ehsize);
    uint64_t data = ehsize + (uint64_t)nph * phsize;
    for (size_t i = 0; i < nph; i++) {
        uint64_t off = ph[i].offset ? ph[i].offset : data;
        buf_un(b, ph[i].type, 4, big);
        if (is64)
            buf_un(b, 5, 4, big); /* p_flags */
        buf_un(b, off, w, big);
        buf_un(b, ph[i].vaddr, w, big);
        buf_un(b, ph[i].paddr, w, big);
        buf_un(b, ph[i].filesz, w, big);
        buf_un(b, ph[i].memsz, w, big);
        if (!is64)
            buf_un(b, 5, 4, big);
        buf_un(b, 4, w, big); /* p_align */
        if (!ph[i].offset)
            data += ph[i].filesz;
    }
    for (size_t i = 0; i < nph; i++)
        if (!ph[i].offset)
            for (uint64_t k = 0; k < ph[i].filesz; k++)
                buf_u8(b, pat((uint32_t)(ph[i].paddr + k)));
}

/* .text in flash; .data runs from RAM but loads from flash right after
 * .text; .bss only in RAM; a note; data + bss at a second flash address. */
static const struct phdr typical[] = {
    {1, 0x08000000, 0x08000000, 200, 200, 0}, {1, 0x20000000, 0x080000C8, 24, 24, 0},
    {1, 0x20000018, 0x20000018, 0, 512, 0},   {4, 0, 0, 16, 16, 0},
    {1, 0x08001000, 0x08001000, 8, 40, 0},
};

START_TEST(test_elf_valid)
{
    for (int is64 = 0; is64 <= 1; is64++) {
        for (int big = 0; big <= 1; big++) {
            struct buf b = {0};
            make_elf(&b, is64, big, typical, 5);
            ck_assert_int_eq(fwup_image_detect(b.p, b.len), FWUP_IMAGE_ELF);
            struct fwup_parsed_image img;
            parse_ok(b.p, b.len, FWUP_IMAGE_AUTO, 0xDEAD0000, &img); /* base ignored */
            ck_assert_int_eq(img.format, FWUP_IMAGE_ELF);
            ck_assert_uint_eq(img.view.nsegments, 2);
            check_segment(&img, 0, 0x08000000, 224); /* .text and .data's LMA */
            check_segment(&img, 1, 0x08001000, 8);   /* file bytes only */
            ck_assert_uint_eq(img.view.total, 232);
            fwup_image_free(&img);
            buf_free(&b);
        }
    }
}
END_TEST

START_TEST(test_elf_errors)
{
    struct buf b = {0};
    const struct phdr one[] = {{1, 0x1000, 0x1000, 16, 16, 0}};
#define ELF_ERR(is64, big, ph, n, mutate, ...)                                                     \
    do {                                                                                           \
        make_elf(&b, is64, big, ph, n);                                                            \
        mutate;                                                                                    \
        parse_err(b.p, b.len, FWUP_IMAGE_ELF, __VA_ARGS__, (const char *)NULL);                    \
        buf_free(&b);                                                                              \
    } while (0)
    ELF_ERR(0, 0, one, 1, b.len = 51, "truncated ELF header");
    ELF_ERR(1, 0, one, 1, b.len = 63, "truncated ELF header");
    ELF_ERR(0, 0, one, 1, b.p[4] = 3, "offset 4:", "class");
    ELF_ERR(0, 0, one, 1, b.p[5] = 0, "offset 5:", "encoding");
    ELF_ERR(0, 0, one, 1, b.p[6] = 2, "offset 6:", "version");
    ELF_ERR(0, 0, one, 1, b.p[16] = 1, "ELF type 1", "ET_EXEC"); /* ET_REL: objcopy -I binary */
    ELF_ERR(0, 0, one, 1, (b.p[44] = 0, b.p[45] = 0), "no program headers");
    ELF_ERR(0, 0, one, 1, (b.p[44] = 0xFF, b.p[45] = 0xFF), "extended");
    ELF_ERR(0, 0, one, 1, b.p[42] = 31, "program header size 31");
    ELF_ERR(0, 0, one, 1, b.p[44] = 3, "program header table", "past the end");
    ELF_ERR(0, 0, one, 1, b.len -= 1, "program header 0", "past the end");
    /* p_offset near 2^32 / 2^64: no wrap-around */
    ELF_ERR(0, 0, one, 1, put_le32_at(&b, 52 + 4, 0xFFFFFFF8u), "past the end");
    ELF_ERR(1, 0, one, 1, memset(b.p + 64 + 8, 0xFF, 8), "past the end");
    ELF_ERR(1, 0, one, 1, memset(b.p + 32, 0xFF, 8), "program header table");
    ELF_ERR(1, 1, one, 1, memset(b.p + 64 + 32, 0xFF, 16), "past the end"); /* sizes */
    ELF_ERR(0, 0, one, 1, put_le32_at(&b, 52 + 20, 8), "file size 16 exceeds its memory size 8");
    /* segments that overlap, or leave the 32-bit address space */
    const struct phdr overlap[] = {{1, 0x1000, 0x1000, 16, 16, 0}, {1, 0x2000, 0x100F, 4, 4, 0}};
    ELF_ERR(0, 0, overlap, 2, (void)0, "overlaps", "0x0000100F", "0x00001000");
    const struct phdr high[] = {{1, 0, 0x100000000ull, 4, 4, 0}};
    ELF_ERR(1, 0, high, 1, (void)0, "32-bit");
    const struct phdr top[] = {{1, 0, 0xFFFFFFF8u, 16, 16, 0}};
    ELF_ERR(0, 0, top, 1, (void)0, "32-bit");
    const struct phdr bss_only[] = {{1, 0x20000000, 0x20000000, 0, 64, 0}, {6, 0, 0, 8, 8, 0}};
    ELF_ERR(0, 0, bss_only, 2, (void)0, "no data");
#undef ELF_ERR
    parse_err("\x7f"
              "ELF",
              4, FWUP_IMAGE_ELF, "truncated ELF header", (const char *)NULL);
    parse_err("ELF\x7f", 4, FWUP_IMAGE_ELF, "magic", (const char *)NULL);
}
END_TEST

/* ---- range check ---- */

START_TEST(test_check_range)
{
    static const uint8_t d[64];
    struct fwup_segment segs[2] = {{0x08000000, 32, d, -1}, {0x08001000, 64, d, -1}};
    struct fwup_image img = {.struct_size = sizeof img,
                             .segment_size = sizeof segs[0],
                             .segments = segs,
                             .nsegments = 2,
                             .total = 96};
    char err[200];

    ck_assert_int_eq(fwup_image_check_range(&img, 0x08000000, 0x2000, err, sizeof(err)), 0);
    ck_assert_int_eq(fwup_image_check_range(&img, 0x08000000, 0x1040, err, sizeof(err)), 0);
    ck_assert_int_eq(fwup_image_check_range(&img, 0, 0, err, sizeof(err)), 0); /* unknown */
    /* straddling the end */
    ck_assert_int_eq(fwup_image_check_range(&img, 0x08000000, 0x103F, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "0x08001000-0x0800103F"));
    /* straddling the start */
    ck_assert_int_eq(fwup_image_check_range(&img, 0x08000010, 0x10000, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "0x08000000-0x0800001F"));
    /* entirely outside */
    ck_assert_int_eq(fwup_image_check_range(&img, 0x00000000, 0x100000, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "0x08000000"));
    ck_assert_int_eq(fwup_image_check_range(&img, 0x08002000, 0x100000, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "0x08000000"));

    /* flash that ends exactly at 4 GiB */
    struct fwup_segment top = {0xFFFFFF00u, 256, d, -1};
    struct fwup_image timg = {.struct_size = sizeof timg,
                              .segment_size = sizeof top,
                              .segments = &top,
                              .nsegments = 1,
                              .total = 256};
    ck_assert_int_eq(fwup_image_check_range(&timg, 0xFFFF0000u, 0x10000, err, sizeof(err)), 0);
    ck_assert_int_eq(fwup_image_check_range(&timg, 0xFFFF0000u, 0xFFFF, err, sizeof(err)), -1);

    /* segments of a grown struct are segment_size apart, not sizeof apart */
    struct {
        struct fwup_segment s;
        uint64_t appended;
    } grown[2] = {{{0x08000000, 32, d, -1}, ~0ull}, {{0x08001000, 64, d, -1}, ~0ull}};
    struct fwup_image gimg = {.struct_size = sizeof gimg,
                              .segment_size = sizeof grown[0],
                              .segments = &grown[0].s,
                              .nsegments = 2,
                              .total = 96};
    ck_assert_int_eq(fwup_image_check_range(&gimg, 0x08000000, 0x1040, err, sizeof(err)), 0);
    ck_assert_int_eq(fwup_image_check_range(&gimg, 0x08000000, 0x103F, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "0x08001000-0x0800103F"));
}
END_TEST

/* ---- limits ---- */

START_TEST(test_limits)
{
    /* calloc'd pages are never touched when the size check comes first */
    size_t big = (size_t)FWUP_IMAGE_MAX_FILE + 1;
    uint8_t *p = calloc(1, big);
    ck_assert_ptr_nonnull(p);
    const enum fwup_image_format fmts[] = {FWUP_IMAGE_AUTO, FWUP_IMAGE_BIN, FWUP_IMAGE_IHEX,
                                           FWUP_IMAGE_DFU, FWUP_IMAGE_DFUSE};
    for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++)
        parse_err(p, big, fmts[i], "too large", (const char *)NULL);

    /* within the file limit but over the data limit */
    parse_err(p, (size_t)FWUP_IMAGE_MAX_TOTAL + 1, FWUP_IMAGE_BIN, "exceeds", (const char *)NULL);
    struct fwup_parsed_image img;
    parse_ok(p, FWUP_IMAGE_MAX_TOTAL, FWUP_IMAGE_BIN, 0, &img);
    ck_assert_uint_eq(img.view.total, FWUP_IMAGE_MAX_TOTAL);
    fwup_image_free(&img);
    free(p);

    /* DfuSe with two elements adding up past the limit */
    static const struct elem e[] = {{0x0, FWUP_IMAGE_MAX_TOTAL / 2},
                                    {0x10000000, FWUP_IMAGE_MAX_TOTAL / 2 + 1}};
    static const struct target t[] = {{0, NULL, e, 2}};
    struct buf b = {0};
    make_dfuse_body(&b, t, 1);
    add_suffix(&b, 0, 0, 0, 0x011A);
    parse_err(b.p, b.len, FWUP_IMAGE_DFUSE, "exceeds", (const char *)NULL);
    buf_free(&b);
}
END_TEST

/* ---- mutation loop ---- */

static uint64_t rng_state;

static uint32_t rng(void)
{
    /* xorshift64*: deterministic, so a failure reproduces */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static size_t fuzz_one(const uint8_t *data, size_t len, enum fwup_image_format fmt)
{
    char err[256];
    struct fwup_parsed_image img;
    memset(err, 'x', sizeof(err));
    int rc = fwup_image_parse(data, len, fmt, 0x1000, &img, err, sizeof(err));
    if (rc == 0) {
        check_invariants(&img);
        /* touch every byte so ASan sees any bad pointer */
        unsigned sum = 0;
        for (size_t i = 0; i < img.view.nsegments; i++)
            for (uint32_t k = 0; k < img.segments[i].len; k++)
                sum += img.segments[i].data[k];
        (void)sum;
        fwup_image_free(&img);
        return 1;
    }
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL,
                  "failure without a message");
    unsigned long long bad;
    enum fwup_image_format as = fmt == FWUP_IMAGE_AUTO ? fwup_image_detect(data, len) : fmt;
    ck_assert_msg(!image_oracle_bad_number(err, len, as, &bad), "impossible number %llu in \"%s\"",
                  bad, err);
    ck_assert_ptr_null(img.segments);
    return 0;
}

static void fuzz_input(const uint8_t *orig, size_t len, enum fwup_image_format fmt, int has_crc)
{
    uint8_t *m = malloc(len);
    ck_assert_ptr_nonnull(m);
    size_t ok = 0, runs = 0;
    /* every position, a few values each */
    for (size_t pos = 0; pos < len; pos++) {
        for (int k = 0; k < 4; k++) {
            memcpy(m, orig, len);
            static const uint8_t special[] = {0x00, 0xFF, '\n', ':', 'S', '0', 'F', 0x80};
            m[pos] = (k == 0) ? special[rng() % sizeof(special)] : (uint8_t)rng();
            if (has_crc && (k & 1))
                reseal(m, len); /* get past the CRC into the structure */
            ok += fuzz_one(m, len, fmt);
            ok += fuzz_one(m, len, FWUP_IMAGE_AUTO);
            runs += 2;
        }
    }
    /* multi-byte mutations and truncations */
    for (int it = 0; it < 3000; it++) {
        memcpy(m, orig, len);
        int n = 1 + (int)(rng() % 4);
        for (int j = 0; j < n; j++)
            m[rng() % len] = (uint8_t)rng();
        size_t l = (it % 3 == 0) ? rng() % (len + 1) : len;
        if (has_crc && l >= 16 && (it & 1))
            reseal(m, l);
        ok += fuzz_one(m, l, fmt);
        runs++;
    }
    /* the unmodified input must still parse: the loop is not vacuous */
    ck_assert_uint_eq(fuzz_one(orig, len, fmt), 1);
    ck_assert_uint_lt(ok, runs);
    free(m);
}

START_TEST(test_fuzz)
{
    rng_state = 0x9E3779B97F4A7C15ull;
    struct buf b = {0};
    make_sparse_hex(&b, "\r\n");
    fuzz_input(b.p, b.len, FWUP_IMAGE_IHEX, 0);
    buf_free(&b);
    make_sparse_srec(&b);
    fuzz_input(b.p, b.len, FWUP_IMAGE_SREC, 0);
    buf_free(&b);
    /* a smaller DfuSe so every byte gets its turn quickly */
    static const struct elem e0[] = {{0x08000000, 24}, {0x08000018, 8}, {0x08000100, 8}};
    static const struct elem e1[] = {{0x1FFFC000, 8}};
    static const struct target t[] = {{0, "a", e0, 3}, {1, NULL, e1, 1}};
    make_dfuse_body(&b, t, 2);
    add_suffix(&b, 0x1234, 0xdf11, 0x0483, 0x011A);
    fuzz_input(b.p, b.len, FWUP_IMAGE_DFUSE, 1);
    buf_free(&b);
    buf_put(&b, "0123456789abcdef", 16);
    add_suffix(&b, 0x1234, 0xdf11, 0x0483, 0x0100);
    fuzz_input(b.p, b.len, FWUP_IMAGE_DFU, 1);
    buf_free(&b);
    make_elf(&b, 0, 0, typical, 5);
    fuzz_input(b.p, b.len, FWUP_IMAGE_ELF, 0);
    buf_free(&b);
    make_elf(&b, 1, 1, typical, 5);
    fuzz_input(b.p, b.len, FWUP_IMAGE_ELF, 0);
    buf_free(&b);
}
END_TEST

static Suite *image_suite(void)
{
    Suite *s = suite_create("image");
    TCase *tc = tcase_create("formats");
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_crc);
    tcase_add_test(tc, test_dfu_vector);
    tcase_add_test(tc, test_ihex_valid);
    tcase_add_test(tc, test_ihex_lenient);
    tcase_add_test(tc, test_ihex_unordered);
    tcase_add_test(tc, test_empty_records);
    tcase_add_test(tc, test_ihex_errors);
    tcase_add_test(tc, test_ihex_record_length);
    tcase_add_test(tc, test_ihex_checksum_value);
    tcase_add_test(tc, test_ihex_overlap);
    tcase_add_test(tc, test_ihex_overflow);
    tcase_add_test(tc, test_srec_valid);
    tcase_add_test(tc, test_srec_errors);
    tcase_add_test(tc, test_srec_record_length);
    tcase_add_test(tc, test_srec_checks_computed);
    tcase_add_test(tc, test_srec_overlap_overflow);
    tcase_add_test(tc, test_bin);
    tcase_add_test(tc, test_dfu);
    tcase_add_test(tc, test_dfu_suffix_length);
    tcase_add_test(tc, test_dfuse_valid);
    tcase_add_test(tc, test_dfuse_lying_sizes);
    tcase_add_test(tc, test_dfuse_truncated);
    tcase_add_test(tc, test_dfuse_other_errors);
    tcase_add_test(tc, test_detect);
    tcase_add_test(tc, test_auto_refuses);
    tcase_add_test(tc, test_text_rule);
    tcase_add_test(tc, test_elf_valid);
    tcase_add_test(tc, test_elf_errors);
    tcase_add_test(tc, test_check_range);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_fuzz);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(image_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
