/*
 * Content-addressed image files under STATE_DIR/images/: each verified image
 * is stored once, as STATE_DIR/images/<sha256>, written to a temporary file
 * (.tmp.<sha256>.<pid>[.<n>], created exclusively, never through a symlink),
 * fsync'd and renamed so a crash never leaves a half-written image under its
 * final name. The daemon runs as root: the state directory must be its own
 * and writable by nobody else (fwup_state_dir_prepare).
 */
#ifndef FWUPGW_BLOBSTORE_H
#define FWUPGW_BLOBSTORE_H

#include <stddef.h>
#include <stdint.h>

/* Lowercase hex SHA-256 of data (out: 65 bytes). */
void fwup_sha256_hex(const uint8_t *data, size_t len, char out[65]);

/* Store data as DIR/images/<sha_hex>; path_out receives the path. A file
 * already there is kept only if its content still hashes to its name; a
 * corrupt one is replaced atomically. -1 with errno set and a message. */
int fwup_blob_put(const char *state_dir, const uint8_t *data, size_t len, const char *sha_hex,
                  char *path_out, size_t path_len, char *err, size_t errlen);

/* Read a whole file or descriptor (at most max bytes; more is an error).
 * -1 with errno set (EFBIG: too large, EINVAL: not a regular file) and a
 * message naming the path and the system's error. */
int fwup_read_file(const char *path, size_t max, uint8_t **data, size_t *len, char *err,
                   size_t errlen);
int fwup_read_fd(int fd, size_t max, uint8_t **data, size_t *len, char *err, size_t errlen);

/* A shortage that passes (descriptors, memory, I/O, space): the same
 * operation may succeed if tried again later. */
int fwup_errno_transient(int e);

/* Create DIR and DIR/images if missing, then refuse (-1, message naming the
 * path and the fix) unless both are directories owned by the effective uid
 * that neither group nor others can write: another user could otherwise
 * plant files or symlinks where the daemon writes. */
int fwup_state_dir_prepare(const char *dir, char *err, size_t errlen);

/* Remove temporary files a crash left in DIR/images: regular files named
 * like fwup_blob_put's own, nothing else, no symlink followed. Returns how
 * many were removed. */
int fwup_blob_clean_temps(const char *state_dir);

#endif
