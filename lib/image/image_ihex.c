/*
 * Intel HEX (I8HEX/I16HEX/I32HEX). Record types 00 data, 01 EOF, 02 extended
 * segment address, 03 start segment, 04 extended linear address, 05 start
 * linear; start addresses are ignored (the device decides where to boot).
 * Addresses are base + offset without 64 KiB wrap-around, as objcopy and
 * srec_cat write them. Anything after the EOF record is ignored, like
 * python-intelhex does; a file without one is treated as truncated.
 */
#include <stdio.h>

#include "image_internal.h"

#define IHEX_MAX_BYTES (1 + 2 + 1 + 255 + 1) /* count, address, type, data, sum */

int fwup_img_parse_ihex(const uint8_t *data, size_t len, struct fwup_img_builder *b)
{
    size_t pos = 0, lineno = 0;
    const uint8_t *line;
    size_t linelen;
    uint64_t base = 0;
    int eof = 0;
    uint8_t rec[IHEX_MAX_BYTES];

    while (!eof && fwup_img_next_line(data, len, &pos, &line, &linelen)) {
        lineno++;
        if (linelen == 0)
            continue;
        if (line[0] != ':')
            return fwup_img_error(b->err, b->errlen, "line %zu: record does not start with ':'",
                                  lineno);
        size_t ndig = linelen - 1;
        if (ndig > 2 * IHEX_MAX_BYTES)
            return fwup_img_error(b->err, b->errlen, "line %zu: record too long (%zu characters)",
                                  lineno, linelen);
        size_t bad;
        if (fwup_img_unhex(line + 1, ndig, rec, &bad) < 0) {
            if (fwup_img_hexval(line[1 + bad]) < 0)
                return fwup_img_error(b->err, b->errlen, "line %zu: bad hex digit at column %zu",
                                      lineno, bad + 2);
            return fwup_img_error(b->err, b->errlen, "line %zu: odd number of hex digits", lineno);
        }
        size_t n = ndig / 2;
        if (n < 5)
            return fwup_img_error(b->err, b->errlen, "line %zu: short record (%zu bytes)", lineno,
                                  n);
        unsigned count = rec[0];
        if (n != count + 5u)
            return fwup_img_error(b->err, b->errlen,
                                  "line %zu: %s record: byte count %u needs %u bytes, line has %zu",
                                  lineno, n < count + 5u ? "short" : "long", count, count + 5u, n);
        uint8_t sum = 0;
        for (size_t i = 0; i + 1 < n; i++)
            sum += rec[i];
        uint8_t want = (uint8_t)(0x100 - sum);
        if (rec[n - 1] != want)
            return fwup_img_error(
                b->err, b->errlen,
                "line %zu: checksum mismatch: record says 0x%02X, computed 0x%02X", lineno,
                rec[n - 1], want);

        unsigned type = rec[3];
        unsigned offset = (unsigned)rec[1] << 8 | rec[2];
        const uint8_t *payload = rec + 4;
        static const int want_count[6] = {-1, 0, 2, 4, 2, 4};
        if (type > 5)
            return fwup_img_error(b->err, b->errlen, "line %zu: unknown record type 0x%02X", lineno,
                                  type);
        if (want_count[type] >= 0 && count != (unsigned)want_count[type])
            return fwup_img_error(b->err, b->errlen,
                                  "line %zu: record type 0x%02X needs %d data bytes, has %u",
                                  lineno, type, want_count[type], count);
        switch (type) {
        case 0x00:
            if (fwup_img_add(b, base + offset, payload, count, 0, lineno) < 0)
                return -1;
            break;
        case 0x01:
            eof = 1;
            break;
        case 0x02:
            base = (uint64_t)((unsigned)payload[0] << 8 | payload[1]) << 4;
            break;
        case 0x04:
            base = (uint64_t)((unsigned)payload[0] << 8 | payload[1]) << 16;
            break;
        default: /* 03, 05: start address, not ours to use */
            break;
        }
    }
    if (!eof)
        return fwup_img_error(b->err, b->errlen, "line %zu: missing end-of-file record",
                              lineno ? lineno : 1);
    return 0;
}
