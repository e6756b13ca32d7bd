#include "fs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int mkdirs_n(const char *path, size_t n, unsigned mode)
{
    char tmp[PATH_MAX];
    if (n == 0) {
        errno = ENOENT;
        return -1;
    }
    if (n >= sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(tmp, path, n);
    tmp[n] = '\0';
    for (char *p = tmp + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        struct stat st;
        /* an existing ancestor we may not write to (EACCES, EROFS) is fine */
        if (mkdir(tmp, mode) < 0 && errno != EEXIST &&
            !(stat(tmp, &st) == 0 && S_ISDIR(st.st_mode)))
            return -1;
        *p = saved;
        if (!saved)
            return 0;
    }
}

int fwup_mkdirs(const char *path, unsigned mode)
{
    return mkdirs_n(path, strlen(path), mode);
}

int fwup_mkdirs_parent(const char *path, unsigned mode)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return 0;
    return mkdirs_n(path, (size_t)(slash - path), mode);
}
