#include "blobstore.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void fwup_sha256_hex(const uint8_t *data, size_t len, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, len);
    sodium_bin2hex(out, 65, h, sizeof(h));
}

int fwup_mkdirs(const char *path, unsigned mode)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
        return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, mode) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int fwup_blob_put(const char *state_dir, const uint8_t *data, size_t len, const char *sha_hex,
                  char *path_out, size_t path_len, char *err, size_t errlen)
{
    char dir[PATH_MAX], tmp[PATH_MAX + 32];
    struct stat st;

    snprintf(dir, sizeof(dir), "%s/images", state_dir);
    snprintf(path_out, path_len, "%s/%s", dir, sha_hex);
    /* Same content, same name: an existing file of the right size is it. */
    if (stat(path_out, &st) == 0 && (size_t)st.st_size == len)
        return 0;
    if (fwup_mkdirs(dir, 0750) < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(tmp, sizeof(tmp), "%s/.tmp.%s.%ld", dir, sha_hex, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (rename(tmp, path_out) < 0) {
        snprintf(err, errlen, "%s: %s", path_out, strerror(errno));
        unlink(tmp);
        return -1;
    }
    /* The rename itself must be durable before a job refers to the file. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int fwup_read_fd(int fd, size_t max, uint8_t **data, size_t *len, char *err, size_t errlen)
{
    size_t cap = 65536, n = 0;
    struct stat st;
    /* Only regular files: a pipe or socket that never reaches EOF would
     * block the daemon's loop. */
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "image must be passed as a regular file");
        return -1;
    }
    uint8_t *buf = malloc(cap);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* Read from the start whatever the sender's file offset is. */
    off_t off = 0;
    for (;;) {
        if (n == cap) {
            if (cap > max) {
                snprintf(err, errlen, "image larger than %zu bytes", max);
                free(buf);
                return -1;
            }
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                snprintf(err, errlen, "out of memory");
                free(buf);
                return -1;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = pread(fd, buf + n, cap - n, off);
        if (r > 0)
            off += r;
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "cannot read image: %s", strerror(errno));
            free(buf);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            snprintf(err, errlen, "image larger than %zu bytes", max);
            free(buf);
            return -1;
        }
    }
    *data = buf;
    *len = n;
    return 0;
}

int fwup_read_file(const char *path, size_t max, uint8_t **data, size_t *len, char *err,
                   size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int rc = fwup_read_fd(fd, max, data, len, err, errlen);
    close(fd);
    return rc;
}
