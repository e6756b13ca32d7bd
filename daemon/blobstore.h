/*
 * Content-addressed image files under STATE_DIR/images/: each verified image
 * is stored once, as STATE_DIR/images/<sha256>, written to a temporary file,
 * fsync'd and renamed so a crash never leaves a half-written image under its
 * final name.
 */
#ifndef FWUPGW_BLOBSTORE_H
#define FWUPGW_BLOBSTORE_H

#include <stddef.h>
#include <stdint.h>

/* Lowercase hex SHA-256 of data (out: 65 bytes). */
void fwup_sha256_hex(const uint8_t *data, size_t len, char out[65]);

/* Store data as DIR/images/<sha_hex>; path_out receives the path. */
int fwup_blob_put(const char *state_dir, const uint8_t *data, size_t len, const char *sha_hex,
                  char *path_out, size_t path_len, char *err, size_t errlen);

/* Read a whole file or descriptor (at most max bytes; more is an error). */
int fwup_read_file(const char *path, size_t max, uint8_t **data, size_t *len, char *err,
                   size_t errlen);
int fwup_read_fd(int fd, size_t max, uint8_t **data, size_t *len, char *err, size_t errlen);

/* mkdir -p with mode for missing components. */
int fwup_mkdirs(const char *path, unsigned mode);

#endif
