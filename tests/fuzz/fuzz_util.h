/* Helpers the fuzz harnesses share. */
#ifndef FWUPGW_FUZZ_UTIL_H
#define FWUPGW_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A broken invariant: abort, so libFuzzer keeps the input. */
static inline void fuzz_fail(const char *area, const char *what)
{
    fprintf(stderr, "%s invariant broken: %s\n", area, what);
    abort();
}

/* The input NUL-terminated, as a file read whole is; NULL if out of
 * memory. */
static inline char *fuzz_text(const uint8_t *data, size_t len)
{
    char *text = malloc(len + 1);
    if (text) {
        memcpy(text, data, len);
        text[len] = '\0';
    }
    return text;
}

#endif
