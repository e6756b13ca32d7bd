#include "sha256hex.h"

#include <ctype.h>
#include <string.h>

int fwup_sha256_hex_check(const char *s, size_t *bad)
{
    size_t i = 0;
    for (; s[i] && i < FWUP_SHA256_HEX_LEN; i++)
        if (!isxdigit((unsigned char)s[i])) {
            *bad = i;
            return -1;
        }
    if (i == FWUP_SHA256_HEX_LEN && !s[i])
        return 0;
    *bad = strlen(s);
    return -1;
}

void fwup_sha256_hex_lower(const char *s, char out[FWUP_SHA256_HEX_LEN + 1])
{
    for (size_t i = 0; i < FWUP_SHA256_HEX_LEN; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[FWUP_SHA256_HEX_LEN] = '\0';
}
