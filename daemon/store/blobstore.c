#include "blobstore.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fs.h"
#include "store.h"

void fwup_sha256_hex(const uint8_t *data, size_t len, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, len);
    sodium_bin2hex(out, 65, h, sizeof(h));
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

/* 1 if path holds exactly len bytes hashing to sha_hex. */
static int blob_intact(const char *path, size_t len, const char *sha_hex)
{
    struct stat st;
    uint8_t *data;
    size_t n;
    char err[16], sha[65];
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == len &&
             fwup_read_fd(fd, len, &data, &n, err, sizeof(err)) == 0;
    close(fd);
    if (!ok)
        return 0;
    fwup_sha256_hex(data, n, sha);
    free(data);
    return n == len && strcmp(sha, sha_hex) == 0;
}

/* Exclusive create, never through a symlink: a name that exists (a crash's
 * leftover, or something planted) is skipped for the next one. */
static int open_temp(const char *dir, const char *sha_hex, char *tmp, size_t tmplen)
{
    for (int n = 0; n < 16; n++) {
        int len = n ? snprintf(tmp, tmplen, "%s/.tmp.%s.%ld.%d", dir, sha_hex, (long)getpid(), n)
                    : snprintf(tmp, tmplen, "%s/.tmp.%s.%ld", dir, sha_hex, (long)getpid());
        if (len < 0 || (size_t)len >= tmplen) {
            errno = ENAMETOOLONG;
            return -1;
        }
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

/* The longest state_dir the config takes leaves room for images/<sha256>. */
_Static_assert(FWUP_STATE_DIR_MAX + sizeof("/images/") + 64 <=
                   sizeof(((struct fwup_image_row *)0)->path),
               "FWUP_STATE_DIR_MAX does not fit the store's image path");

int fwup_blob_put(const char *state_dir, const uint8_t *data, size_t len, const char *sha_hex,
                  char *path_out, size_t path_len, char *err, size_t errlen)
{
    char dir[PATH_MAX], tmp[PATH_MAX + 32];
    int e;

    snprintf(dir, sizeof(dir), "%s/images", state_dir);
    int plen = snprintf(path_out, path_len, "%s/%s", dir, sha_hex);
    if (plen < 0 || (size_t)plen >= path_len) {
        snprintf(err, errlen, "%s: path too long", dir);
        errno = ENAMETOOLONG;
        return -1;
    }
    /* Same name, same content, unless the file was damaged since. */
    if (blob_intact(path_out, len, sha_hex))
        return 0;
    if (fwup_mkdirs(dir, 0750) < 0) {
        e = errno;
        snprintf(err, errlen, "%s: %s", dir, strerror(e));
        errno = e;
        return -1;
    }
    int fd = open_temp(dir, sha_hex, tmp, sizeof(tmp));
    if (fd < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        e = errno;
        snprintf(err, errlen, "%s: %s", tmp, strerror(e));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        errno = e;
        return -1;
    }
    close(fd);
    /* Atomic: a reader sees the old (corrupt) file or the new one whole. */
    if (rename(tmp, path_out) < 0) {
        e = errno;
        snprintf(err, errlen, "%s: %s", path_out, strerror(e));
        unlink(tmp);
        errno = e;
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
        errno = EINVAL;
        return -1;
    }
    uint8_t *buf = malloc(cap);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        errno = ENOMEM;
        return -1;
    }
    /* Read from the start whatever the sender's file offset is. */
    off_t off = 0;
    for (;;) {
        if (n == cap) {
            if (cap > max) {
                snprintf(err, errlen, "image larger than %zu bytes", max);
                free(buf);
                errno = EFBIG;
                return -1;
            }
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                snprintf(err, errlen, "out of memory");
                free(buf);
                errno = ENOMEM;
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
            int e = errno;
            snprintf(err, errlen, "cannot read image: %s", strerror(e));
            free(buf);
            errno = e;
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            snprintf(err, errlen, "image larger than %zu bytes", max);
            free(buf);
            errno = EFBIG;
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
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        errno = e;
        return -1;
    }
    char why[256];
    int rc = fwup_read_fd(fd, max, data, len, why, sizeof(why));
    int e = errno;
    if (rc < 0)
        snprintf(err, errlen, "%s: %s", path, why);
    close(fd);
    errno = e;
    return rc;
}

int fwup_errno_transient(int e)
{
    switch (e) {
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case ENOBUFS:
    case EIO:
    case EAGAIN:
    case EINTR:
    case ENOSPC:
    case EDQUOT:
        return 1;
    default:
        return 0;
    }
}

/* One directory of the state: a real directory (no symlink when nofollow),
 * ours, writable by nobody else. */
static int check_private_dir(const char *path, int nofollow, char *err, size_t errlen)
{
    struct stat st;
    uid_t me = geteuid();
    if ((nofollow ? lstat(path, &st) : stat(path, &st)) < 0) {
        snprintf(err, errlen, "state directory %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "state directory %s is not a directory%s", path,
                 S_ISLNK(st.st_mode) ? " (a symlink): remove it" : "");
        return -1;
    }
    if (st.st_uid != me) {
        snprintf(err, errlen,
                 "state directory %s is owned by uid %ld, not by the daemon's uid %ld: "
                 "chown %ld %s",
                 path, (long)st.st_uid, (long)me, (long)me, path);
        return -1;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(err, errlen,
                 "state directory %s is writable by other users (mode %04o): chmod go-w %s", path,
                 (unsigned)(st.st_mode & 07777), path);
        return -1;
    }
    return 0;
}

int fwup_state_dir_prepare(const char *dir, char *err, size_t errlen)
{
    char images[PATH_MAX];
    if (snprintf(images, sizeof(images), "%s/images", dir) >= (int)sizeof(images)) {
        snprintf(err, errlen, "state directory %s: path too long", dir);
        return -1;
    }
    if (fwup_mkdirs(dir, 0750) < 0) {
        snprintf(err, errlen, "state directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if (check_private_dir(dir, 0, err, errlen) < 0)
        return -1;
    if (mkdir(images, 0750) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "state directory %s: %s", images, strerror(errno));
        return -1;
    }
    return check_private_dir(images, 1, err, errlen);
}

/* ".tmp." 64 hex "." pid ["." n]: the names open_temp makes. */
static int is_temp_name(const char *s)
{
    if (strncmp(s, ".tmp.", 5) != 0)
        return 0;
    s += 5;
    for (int i = 0; i < 64; i++, s++)
        if (!isxdigit((unsigned char)*s) || isupper((unsigned char)*s))
            return 0;
    for (int part = 0; part < 2 && *s == '.'; part++) {
        if (!isdigit((unsigned char)*++s))
            return 0;
        while (isdigit((unsigned char)*s))
            s++;
        if (!*s)
            return 1;
    }
    return 0;
}

int fwup_blob_clean_temps(const char *state_dir)
{
    char images[PATH_MAX];
    int removed = 0;
    snprintf(images, sizeof(images), "%s/images", state_dir);
    int dfd = open(images, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return 0;
    }
    for (struct dirent *de; (de = readdir(d));) {
        struct stat st;
        if (is_temp_name(de->d_name) && fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(st.st_mode) && unlinkat(dfd, de->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}
