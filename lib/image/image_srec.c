/*
 * Motorola S-record. S0 header (ignored), S1/S2/S3 data with 16/24/32-bit
 * addresses, S5/S6 record counts (checked against the data records seen so
 * far), S7/S8/S9 termination (start address ignored). Reading stops at the
 * termination record; a file without one is treated as truncated.
 */
#include <stdio.h>

#include "image_internal.h"

#define SREC_MAX_BYTES (1 + 255) /* count byte + what it counts */

int fwup_img_parse_srec(const uint8_t *data, size_t len, struct fwup_img_builder *b)
{
    /* address bytes per record type; 0 = not a valid type */
    static const unsigned addr_len[10] = {2, 2, 3, 4, 0, 2, 3, 4, 3, 2};
    size_t pos = 0, lineno = 0, ndata = 0;
    const uint8_t *line;
    size_t linelen;
    int done = 0;
    uint8_t rec[SREC_MAX_BYTES];

    while (!done && fwup_img_next_line(data, len, &pos, &line, &linelen)) {
        lineno++;
        if (linelen == 0)
            continue;
        if (line[0] != 'S')
            return fwup_img_error(b->err, b->errlen, "line %zu: record does not start with 'S'",
                                  lineno);
        if (linelen < 2 || line[1] < '0' || line[1] > '9')
            return fwup_img_error(b->err, b->errlen, "line %zu: bad record type", lineno);
        unsigned type = (unsigned)(line[1] - '0');
        if (addr_len[type] == 0)
            return fwup_img_error(b->err, b->errlen, "line %zu: unknown record type S%u", lineno,
                                  type);
        size_t ndig = linelen - 2;
        if (ndig > 2 * SREC_MAX_BYTES)
            return fwup_img_error(b->err, b->errlen, "line %zu: record too long (%zu characters)",
                                  lineno, linelen);
        size_t bad;
        if (fwup_img_unhex(line + 2, ndig, rec, &bad) < 0) {
            if (fwup_img_hexval(line[2 + bad]) < 0)
                return fwup_img_error(b->err, b->errlen, "line %zu: bad hex digit at column %zu",
                                      lineno, bad + 3);
            return fwup_img_error(b->err, b->errlen, "line %zu: odd number of hex digits", lineno);
        }
        size_t n = ndig / 2;
        unsigned alen = addr_len[type];
        if (n < 1)
            return fwup_img_error(b->err, b->errlen, "line %zu: short record (no byte count)",
                                  lineno);
        unsigned count = rec[0];
        if (n != count + 1u)
            return fwup_img_error(b->err, b->errlen,
                                  "line %zu: %s record: byte count %u, line has %zu bytes after it",
                                  lineno, n < count + 1u ? "short" : "long", count, n - 1);
        if (count < alen + 1)
            return fwup_img_error(
                b->err, b->errlen,
                "line %zu: short record: S%u needs at least %u bytes, count is %u", lineno, type,
                alen + 1, count);
        uint8_t sum = 0;
        for (size_t i = 0; i < count; i++)
            sum += rec[i];
        uint8_t want = (uint8_t)~sum;
        if (rec[count] != want)
            return fwup_img_error(
                b->err, b->errlen,
                "line %zu: checksum mismatch: record says 0x%02X, computed 0x%02X", lineno,
                rec[count], want);

        uint32_t addr = 0;
        for (unsigned i = 0; i < alen; i++)
            addr = addr << 8 | rec[1 + i];
        const uint8_t *payload = rec + 1 + alen;
        size_t plen = count - alen - 1;
        switch (type) {
        case 1:
        case 2:
        case 3:
            if (fwup_img_add(b, addr, payload, plen, 0, lineno) < 0)
                return -1;
            ndata++;
            break;
        case 5:
        case 6:
            if (plen != 0)
                return fwup_img_error(b->err, b->errlen, "line %zu: S%u record carries data",
                                      lineno, type);
            if (addr != ndata)
                return fwup_img_error(b->err, b->errlen,
                                      "line %zu: record count says %lu, file has %zu data records",
                                      lineno, (unsigned long)addr, ndata);
            break;
        case 7:
        case 8:
        case 9:
            done = 1;
            break;
        default: /* S0 header */
            break;
        }
    }
    if (!done)
        return fwup_img_error(b->err, b->errlen, "line %zu: missing S7/S8/S9 termination record",
                              lineno ? lineno : 1);
    return 0;
}
