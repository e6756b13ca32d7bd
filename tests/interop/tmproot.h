/*
 * One temporary root per interop test binary, made and removed by main() in
 * Check's parent process. Each test's own directory lives under it, so a
 * test that fails (Check's forked child exits at the failed assertion,
 * skipping its teardown) or times out (its process group is killed) leaves
 * nothing behind. Honours TMPDIR.
 */
#ifndef FWUP_INTEROP_TMPROOT_H
#define FWUP_INTEROP_TMPROOT_H

#include <stdio.h>
#include <stdlib.h>

static char tmproot[48]; /* with "/tXXXXXX", fits the tests' 64-byte paths */

/* mkdtemp() of "$TMPDIR/NAME-XXXXXX"; exits on failure (before any test). */
static void tmproot_make(const char *name)
{
    const char *t = getenv("TMPDIR");
    if ((size_t)snprintf(tmproot, sizeof(tmproot), "%s/%s-XXXXXX", t && *t ? t : "/tmp", name) >=
            sizeof(tmproot) ||
        !mkdtemp(tmproot)) {
        fprintf(stderr, "cannot create a temporary directory under %s\n", t ? t : "/tmp");
        exit(EXIT_FAILURE);
    }
}

/* A fresh directory under the root into buf (a Check assertion on failure). */
#define tmproot_subdir(buf)                                                                        \
    do {                                                                                           \
        snprintf((buf), sizeof(buf), "%s/tXXXXXX", tmproot);                                       \
        ck_assert_ptr_nonnull(mkdtemp(buf));                                                       \
    } while (0)

static int tmproot_remove(void)
{
    char cmd[sizeof(tmproot) + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmproot);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot remove %s\n", tmproot);
        return -1;
    }
    return 0;
}

#endif
