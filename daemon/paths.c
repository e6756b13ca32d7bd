#include "paths.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Directory of the running executable, or "" if unknown. */
static const char *exe_dir(void)
{
    static char dir[PATH_MAX];
    static int done;
    if (!done) {
        done = 1;
        ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
        dir[n > 0 ? n : 0] = '\0';
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            dir[0] = '\0';
    }
    return dir;
}

/* The real path of exe_dir()/rel/leaf in buf if it is a directory
 * (want_dir) or a regular file; NULL if not, or if rel is empty (that
 * place cannot be found this way). */
static const char *beside_exe(char buf[PATH_MAX], const char *rel, const char *leaf, int want_dir)
{
    char path[PATH_MAX];
    struct stat st;
    if (!*rel || !*exe_dir() ||
        snprintf(path, sizeof(path), "%s/%s%s", exe_dir(), rel, leaf) >= (int)sizeof(path) ||
        !realpath(path, buf) || stat(buf, &st) < 0 ||
        (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)))
        return NULL;
    return buf;
}

const char *fwupd_default_plugin_dir(void)
{
    static char buf[PATH_MAX];
    const char *d = beside_exe(buf, FWUP_EXE_TO_PKGLIBDIR, "/protocols", 1);
    if (!d)
        d = beside_exe(buf, FWUP_EXE_TO_BUILD_PLUGINS, "", 1);
    return d ? d : FWUP_DEFAULT_PLUGIN_DIR;
}

const char *fwupd_default_config(void)
{
    static char buf[PATH_MAX];
    char file[PATH_MAX];
    /* Written at install time for the prefix actually installed to. */
    const char *f = beside_exe(file, FWUP_EXE_TO_PKGLIBDIR, "/default-config", 0);
    FILE *fp = f ? fopen(f, "r") : NULL;
    if (fp) {
        int ok = fgets(buf, sizeof(buf), fp) && buf[0] == '/';
        fclose(fp);
        buf[strcspn(buf, "\n")] = '\0';
        if (ok)
            return buf;
    }
    return FWUP_DEFAULT_CONFIG;
}
