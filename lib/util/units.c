/*
 * Numbers with units as people write them in configs and step lists.
 */
#include "units.h"

#include <ctype.h>
#include <string.h>

/* Digits of `base` only: no sign, no spaces, no prefix. */
int fwup_parse_digits(const char *s, int base, uint64_t limit, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        int dgt;
        if (*s >= '0' && *s <= '9')
            dgt = *s - '0';
        else if (*s >= 'a' && *s <= 'f')
            dgt = *s - 'a' + 10;
        else if (*s >= 'A' && *s <= 'F')
            dgt = *s - 'A' + 10;
        else
            return -1;
        if (dgt >= base)
            return -1;
        if (v > (limit - (uint64_t)dgt) / (uint64_t)base)
            return -1;
        v = v * (uint64_t)base + (uint64_t)dgt;
    }
    *out = v;
    return 0;
}

int fwup_parse_duration_ms(const char *s, uint32_t *out)
{
    uint64_t ip = 0, frac = 0, scale = 1, mult;
    const char *p = s;

    if (!s || !isdigit((unsigned char)*p))
        return -1;
    for (; isdigit((unsigned char)*p); p++) {
        ip = ip * 10 + (uint64_t)(*p - '0');
        if (ip > UINT32_MAX)
            return -1;
    }
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        for (int n = 0; isdigit((unsigned char)*p); p++, n++) {
            if (n == 9) /* below a nanosecond: certainly a typo */
                return -1;
            frac = frac * 10 + (uint64_t)(*p - '0');
            scale *= 10;
        }
    }
    if (!strcmp(p, "") || !strcmp(p, "ms"))
        mult = 1;
    else if (!strcmp(p, "s"))
        mult = 1000;
    else if (!strcmp(p, "m"))
        mult = 60 * 1000;
    else if (!strcmp(p, "h"))
        mult = 60 * 60 * 1000;
    else
        return -1;
    /* Milliseconds are the resolution: "1.5ms" is refused, not rounded. */
    if ((frac * mult) % scale)
        return -1;
    uint64_t v = ip * mult + frac * mult / scale;
    if (v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int fwup_parse_size(const char *s, uint32_t *out)
{
    char buf[32];
    uint64_t v, mult = 1;
    size_t n;
    int base = 10;

    if (!s || (n = strlen(s)) == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n + 1);
    switch (buf[n - 1]) {
    case 'K':
    case 'k':
        mult = 1u << 10;
        break;
    case 'M':
    case 'm':
        mult = 1u << 20;
        break;
    case 'G':
    case 'g':
        mult = 1u << 30;
        break;
    }
    if (mult != 1)
        buf[--n] = '\0';
    char *digits = buf;
    if (buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X')) {
        base = 16;
        digits += 2;
    }
    if (fwup_parse_digits(digits, base, UINT32_MAX, &v) < 0 || v > UINT32_MAX / mult)
        return -1;
    *out = (uint32_t)(v * mult);
    return 0;
}
