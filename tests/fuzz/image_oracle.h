/*
 * What a refusal from an image parser may say about sizes. A decimal number
 * in the message is a line, column, offset or byte count the parser measured
 * (at most about the file's size), or a field it quotes from the file. Text
 * formats only have 8-bit counts to quote, 32-bit containers 32-bit fields;
 * anything larger is an unsigned wrap-around (a "4294967295 bytes" record),
 * not a reason. ELF64 quotes 64-bit fields, so it has no bound here.
 */
#ifndef FWUPGW_IMAGE_ORACLE_H
#define FWUPGW_IMAGE_ORACLE_H

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "image.h"

/* The first impossible number in `err` (copied into `bad`), or 0. */
static inline int image_oracle_bad_number(const char *err, size_t len, enum fwup_image_format fmt,
                                          unsigned long long *bad)
{
    unsigned long long bound;
    if (fmt == FWUP_IMAGE_ELF)
        return 0;
    if (fmt == FWUP_IMAGE_IHEX || fmt == FWUP_IMAGE_SREC)
        bound = 2ull * len + 260; /* a count byte's record is 260 bytes */
    else
        bound = UINT32_MAX;
    for (const char *p = err; *p; p++) {
        /* a decimal token: not part of 0x..., S1, or a hex run */
        if (!isdigit((unsigned char)*p) || (p > err && isalnum((unsigned char)p[-1])))
            continue;
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (isalnum((unsigned char)*end)) { /* 0x..., or digits and letters */
            p = end;
            continue;
        }
        if (v > bound) {
            *bad = v;
            return 1;
        }
        p = end - 1;
    }
    return 0;
}

#endif
