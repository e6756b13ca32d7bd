/*
 * Files carrying a DFU suffix (DFU 1.1 appendix B): a raw payload followed
 * by bcdDevice, idProduct, idVendor, bcdDFU, "UFD", bLength, dwCRC. ST's
 * DfuSe container (UM0391) puts targets and elements between a prefix and
 * that same suffix. Every size field is checked against the bytes actually
 * present before anything is read, so lying or truncated files fail with the
 * byte offset of the field that lied.
 */
#include <stdio.h>
#include <string.h>

#include "image_internal.h"

#define SUFFIX_LEN        16
#define DFUSE_PREFIX_LEN  11
#define DFUSE_TARGET_LEN  274 /* "Target" alt named name[255] size nElements */
#define DFUSE_ELEMENT_LEN 8
#define DFUSE_BCD_DFU     0x011A

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int fwup_img_read_suffix(const uint8_t *data, size_t len, struct fwup_dfu_suffix *sfx, char *err,
                         size_t errlen)
{
    if (!data || len < SUFFIX_LEN)
        return fwup_img_error(err, errlen, "offset 0: file too short for a DFU suffix (%zu bytes)",
                              len);
    const uint8_t *s = data + len - SUFFIX_LEN;
    if (memcmp(s + 8, "UFD", 3) != 0)
        return fwup_img_error(err, errlen, "offset %zu: bad DFU suffix signature (no \"UFD\")",
                              len - 8);
    unsigned blen = s[11];
    if (blen < SUFFIX_LEN || blen > len)
        return fwup_img_error(err, errlen, "offset %zu: bad DFU suffix length %u", len - 5, blen);
    uint32_t stored = le32(s + 12), computed = fwup_dfu_crc(data, len - 4);
    if (stored != computed)
        return fwup_img_error(
            err, errlen, "offset %zu: DFU suffix CRC mismatch: expected 0x%08X, file has 0x%08X",
            len - 4, computed, stored);
    sfx->bcd_device = le16(s);
    sfx->id_product = le16(s + 2);
    sfx->id_vendor = le16(s + 4);
    sfx->bcd_dfu = le16(s + 6);
    sfx->crc = stored;
    return (int)blen;
}

int fwup_img_parse_dfu(const uint8_t *data, size_t len, uint32_t base, struct fwup_img_builder *b,
                       struct fwup_parsed_image *out)
{
    int blen = fwup_img_read_suffix(data, len, &out->suffix, b->err, b->errlen);
    if (blen < 0)
        return -1;
    out->has_suffix = 1;
    if (len == (size_t)blen)
        return fwup_img_error(b->err, b->errlen, "empty image before the DFU suffix");
    return fwup_img_add(b, base, data, len - (size_t)blen, 0, 0);
}

int fwup_img_parse_dfuse(const uint8_t *data, size_t len, struct fwup_img_builder *b,
                         struct fwup_parsed_image *out)
{
    int blen = fwup_img_read_suffix(data, len, &out->suffix, b->err, b->errlen);
    if (blen < 0)
        return -1;
    out->has_suffix = 1;
    if (out->suffix.bcd_dfu != DFUSE_BCD_DFU)
        return fwup_img_error(b->err, b->errlen,
                              "offset %zu: DfuSe suffix has bcdDFU 0x%04X, expected 0x%04X",
                              len - 10, out->suffix.bcd_dfu, DFUSE_BCD_DFU);
    size_t body = len - (size_t)blen; /* bytes before the suffix */

    if (body < DFUSE_PREFIX_LEN)
        return fwup_img_error(b->err, b->errlen, "offset 0: truncated DfuSe prefix (%zu bytes)",
                              body);
    if (memcmp(data, "DfuSe", 5) != 0)
        return fwup_img_error(b->err, b->errlen, "offset 0: bad DfuSe signature");
    if (data[5] != 0x01)
        return fwup_img_error(b->err, b->errlen, "offset 5: unsupported DfuSe version %u", data[5]);
    /* UM0391 calls this "total DFU file length": dfuse-pack counts the
     * suffix, other writers (fwupd) don't. Take either, nothing else. */
    uint32_t image_size = le32(data + 6);
    if (image_size != body && image_size != len)
        return fwup_img_error(b->err, b->errlen,
                              "offset 6: DfuSe image size %lu matches neither the file (%zu bytes) "
                              "nor the part before the suffix (%zu)",
                              (unsigned long)image_size, len, body);
    unsigned ntargets = data[10];
    size_t off = DFUSE_PREFIX_LEN;

    for (unsigned t = 0; t < ntargets; t++) {
        if (body - off < DFUSE_TARGET_LEN)
            return fwup_img_error(b->err, b->errlen,
                                  "offset %zu: target %u: truncated target prefix (%zu bytes left)",
                                  off, t, body - off);
        if (memcmp(data + off, "Target", 6) != 0)
            return fwup_img_error(b->err, b->errlen, "offset %zu: target %u: bad signature", off,
                                  t);
        uint8_t alt = data[off + 6];
        uint32_t tsize = le32(data + off + 266);
        uint32_t nelem = le32(data + off + 270);
        size_t tsize_at = off + 266;
        off += DFUSE_TARGET_LEN;
        if (tsize > body - off)
            return fwup_img_error(b->err, b->errlen,
                                  "offset %zu: target %u: size %lu runs past the end of the image "
                                  "(%zu bytes left)",
                                  tsize_at, t, (unsigned long)tsize, body - off);
        size_t tend = off + tsize;
        /* nelem is untrusted too: every element eats >= 8 bytes, so the
         * loop ends at the target boundary whatever it claims. */
        for (uint32_t e = 0; e < nelem; e++) {
            if (tend - off < DFUSE_ELEMENT_LEN)
                return fwup_img_error(b->err, b->errlen,
                                      "offset %zu: target %u element %lu: header runs past the "
                                      "target end (%zu bytes left, %lu elements claimed)",
                                      off, t, (unsigned long)e, tend - off, (unsigned long)nelem);
            uint32_t addr = le32(data + off);
            uint32_t esize = le32(data + off + 4);
            size_t elem_at = off;
            off += DFUSE_ELEMENT_LEN;
            if (esize > tend - off)
                return fwup_img_error(b->err, b->errlen,
                                      "offset %zu: target %u element %lu: size %lu runs past the "
                                      "target end (%zu bytes left)",
                                      elem_at + 4, t, (unsigned long)e, (unsigned long)esize,
                                      tend - off);
            if (fwup_img_add(b, addr, data + off, esize, alt, elem_at) < 0)
                return -1;
            off += esize;
        }
        if (off != tend)
            return fwup_img_error(b->err, b->errlen,
                                  "offset %zu: target %u: %zu bytes after its last element", off, t,
                                  tend - off);
    }
    if (off != body)
        return fwup_img_error(b->err, b->errlen,
                              "offset %zu: %zu unexpected bytes after the last target", off,
                              body - off);
    return 0;
}
