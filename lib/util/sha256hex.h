/*
 * SHA-256 digests as people and the socket API write them: 64 hex digits.
 */
#ifndef FWUPGW_SHA256HEX_H
#define FWUPGW_SHA256HEX_H

#include <stddef.h>

#define FWUP_SHA256_HEX_LEN 64

/* 0 if s is 64 hex digits of either case; else -1, with *bad the offset of
 * the first character that is not a hex digit, or the length of s when
 * only the length is wrong. */
int fwup_sha256_hex_check(const char *s, size_t *bad);
/* A checked digest, lower-cased (as digests are stored and compared). */
void fwup_sha256_hex_lower(const char *s, char out[FWUP_SHA256_HEX_LEN + 1]);

#endif
