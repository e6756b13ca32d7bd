/*
 * Unit tests for the image files in the state directory: real files, real
 * symlinks, a real descriptor limit. Each test works in its own directory
 * under one mkdtemp root that main() removes at the end.
 */
#include "blobstore.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_root[256];

/* Fresh directory per test (tests run in forked children). */
static void new_dir(char *dir, size_t len)
{
    snprintf(dir, len, "%s/tXXXXXX", g_root);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* A fresh directory, and the path of a file "img" in it (not created). */
static void img_path(char dir[PATH_MAX], char path[PATH_MAX + 8])
{
    new_dir(dir, PATH_MAX);
    snprintf(path, PATH_MAX + 8, "%s/img", dir);
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* The file holds exactly data. */
static void assert_content(const char *path, const void *data, size_t len)
{
    uint8_t *got;
    size_t n;
    char err[512];
    ck_assert_msg(fwup_read_file(path, len, &got, &n, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(n, len);
    ck_assert_msg(memcmp(got, data, len) == 0, "%s: content differs", path);
    free(got);
}

static void put_ok(const char *state, const uint8_t *data, size_t len, char *path, size_t plen)
{
    char sha[65], err[512] = "";
    fwup_sha256_hex(data, len, sha);
    ck_assert_msg(fwup_blob_put(state, data, len, sha, path, plen, err, sizeof err) == 0, "%s",
                  err);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 31 + seed);
}

START_TEST(test_errno_classes)
{
    static const int transient[] = {EMFILE, ENFILE, ENOMEM, EIO, EAGAIN, ENOSPC};
    static const int permanent[] = {0, ENOENT, EACCES, EISDIR, EFBIG, EINVAL, ELOOP};
    for (size_t i = 0; i < sizeof transient / sizeof *transient; i++)
        ck_assert_msg(fwup_errno_transient(transient[i]), "%s", strerror(transient[i]));
    for (size_t i = 0; i < sizeof permanent / sizeof *permanent; i++)
        ck_assert_msg(!fwup_errno_transient(permanent[i]), "%s", strerror(permanent[i]));
}
END_TEST

/* Reading path (at most max bytes) fails with errno e and a message that
 * names the path and contains want. */
static void read_fails(const char *path, size_t max, int e, const char *want)
{
    uint8_t *got = NULL;
    size_t n = 0;
    char err[512] = "";
    errno = 0;
    ck_assert_int_eq(fwup_read_file(path, max, &got, &n, err, sizeof err), -1);
    ck_assert_msg(errno == e, "%s: errno %s, expected %s", path, strerror(errno), strerror(e));
    ck_assert_msg(strstr(err, path) && strstr(err, want), "message: %s", err);
}

/* Out of descriptors, reading an image says so (errno and text, with the
 * path) instead of looking like a missing file; with one free it works. */
START_TEST(test_read_out_of_descriptors)
{
    char dir[PATH_MAX], path[PATH_MAX + 8];
    uint8_t data[100];
    img_path(dir, path);
    fill(data, sizeof data, 1);
    write_file(path, data, sizeof data);

    struct rlimit rl = {.rlim_cur = 64, .rlim_max = 64};
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    int last = -1;
    for (int fd; (fd = open("/dev/null", O_RDONLY)) >= 0;)
        last = fd;
    ck_assert_int_eq(errno, EMFILE);
    ck_assert_int_ge(last, 0);

    read_fails(path, 1 << 20, EMFILE, strerror(EMFILE));
    ck_assert_msg(fwup_errno_transient(EMFILE), "EMFILE not transient");
    close(last);
    assert_content(path, data, sizeof data);
}
END_TEST

START_TEST(test_read_errors_keep_errno)
{
    char dir[PATH_MAX], path[PATH_MAX + 8];
    uint8_t data[100];
    img_path(dir, path);
    read_fails(path, 1 << 20, ENOENT, strerror(ENOENT));

    fill(data, sizeof data, 2);
    write_file(path, data, sizeof data);
    /* One byte over the limit: refused; exactly at it: read. */
    read_fails(path, sizeof data - 1, EFBIG, "larger");
    assert_content(path, data, sizeof data);
    read_fails(dir, 1 << 20, EINVAL, "regular file");
}
END_TEST

/* Another user's symlink at the temporary name the writer tries first is
 * neither followed nor removed: the target keeps its content, the image is
 * stored whole under its own name, no temporary file stays. */
START_TEST(test_put_ignores_planted_symlink)
{
    char state[PATH_MAX], images[PATH_MAX + 8], target[PATH_MAX + 8], link[PATH_MAX + 128];
    char path[PATH_MAX + 80], sha[65], err[512];
    uint8_t data[3000];
    const char victim[] = "root-owned content\n";
    new_dir(state, sizeof state);
    snprintf(images, sizeof images, "%s/images", state);
    ck_assert_int_eq(fwup_state_dir_prepare(state, err, sizeof err), 0);
    snprintf(target, sizeof target, "%s/victim", state);
    write_file(target, victim, sizeof victim - 1);

    fill(data, sizeof data, 3);
    fwup_sha256_hex(data, sizeof data, sha);
    snprintf(link, sizeof link, "%s/.tmp.%s.%ld", images, sha, (long)getpid());
    ck_assert_int_eq(symlink(target, link), 0);

    put_ok(state, data, sizeof data, path, sizeof path);
    assert_content(target, victim, sizeof victim - 1);
    assert_content(path, data, sizeof data);
    struct stat st;
    ck_assert_int_eq(lstat(link, &st), 0);
    ck_assert_msg(S_ISLNK(st.st_mode), "the planted symlink was replaced");
    /* Only the planted link is left besides the image. */
    ck_assert_int_eq(fwup_blob_clean_temps(state), 0);
}
END_TEST

/* A stored image whose bytes changed (same size) is rewritten on the next
 * put, atomically (a new file renamed over it); an intact one is left as
 * it is, not rewritten. */
START_TEST(test_put_repairs_corrupt_blob)
{
    char state[PATH_MAX], path[PATH_MAX + 80];
    uint8_t data[70000], bad[sizeof data];
    struct stat before, after;
    new_dir(state, sizeof state);
    fill(data, sizeof data, 4);

    put_ok(state, data, sizeof data, path, sizeof path);
    ck_assert_int_eq(stat(path, &before), 0);
    put_ok(state, data, sizeof data, path, sizeof path);
    ck_assert_int_eq(stat(path, &after), 0);
    ck_assert_msg(before.st_ino == after.st_ino, "an intact image was rewritten");

    memcpy(bad, data, sizeof bad);
    bad[sizeof bad / 2] ^= 0x01;
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, bad + sizeof bad / 2, 1, sizeof bad / 2), 1);
    close(fd);
    assert_content(path, bad, sizeof bad);

    put_ok(state, data, sizeof data, path, sizeof path);
    assert_content(path, data, sizeof data);
    ck_assert_int_eq(stat(path, &after), 0);
    ck_assert_msg(before.st_ino != after.st_ino, "repaired in place, not replaced");
    ck_assert_int_eq(fwup_blob_clean_temps(state), 0);
}
END_TEST

static void assert_refused(const char *dir, const char *want1, const char *want2)
{
    char err[1024] = "";
    ck_assert_int_eq(fwup_state_dir_prepare(dir, err, sizeof err), -1);
    ck_assert_msg(strstr(err, want1) && strstr(err, want2), "message: %s", err);
}

START_TEST(test_state_dir_permissions)
{
    char base[PATH_MAX], state[PATH_MAX + 8], images[PATH_MAX + 16], other[PATH_MAX + 16];
    char err[1024] = "";
    struct stat st;
    new_dir(base, sizeof base);
    snprintf(state, sizeof state, "%s/state", base);
    snprintf(images, sizeof images, "%s/images", state);

    /* Missing: created, ours, 0750 at most. */
    ck_assert_msg(fwup_state_dir_prepare(state, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(lstat(images, &st), 0);
    ck_assert_msg(S_ISDIR(st.st_mode) && !(st.st_mode & 022), "images mode %o", st.st_mode);
    /* Group or others may read and search: still fine. */
    ck_assert_int_eq(chmod(state, 0755), 0);
    ck_assert_int_eq(chmod(images, 0755), 0);
    ck_assert_msg(fwup_state_dir_prepare(state, err, sizeof err) == 0, "%s", err);

    ck_assert_int_eq(chmod(state, 01777), 0);
    assert_refused(state, state, "chmod go-w");
    ck_assert_int_eq(chmod(state, 0770), 0);
    assert_refused(state, state, "writable by other users");
    ck_assert_int_eq(chmod(state, 0750), 0);
    ck_assert_int_eq(chmod(images, 0757), 0);
    assert_refused(state, images, "chmod go-w");
    ck_assert_int_eq(chmod(images, 0750), 0);

    /* images/ as a symlink to a directory elsewhere. */
    snprintf(other, sizeof other, "%s/elsewhere", base);
    ck_assert_int_eq(mkdir(other, 0750), 0);
    ck_assert_int_eq(rmdir(images), 0);
    ck_assert_int_eq(symlink(other, images), 0);
    assert_refused(state, images, "symlink");
    ck_assert_int_eq(unlink(images), 0);
    ck_assert_msg(fwup_state_dir_prepare(state, err, sizeof err) == 0, "%s", err);

    /* Not the daemon's own. As root: a directory given to nobody; as anyone
     * else: the root directory, which root owns. */
    if (geteuid() == 0) {
        ck_assert_int_eq(chown(state, 65534, (gid_t)-1), 0);
        assert_refused(state, state, "chown 0 ");
    } else {
        assert_refused("/", "owned by uid 0", "chown");
    }
}
END_TEST

/* Start-up cleaning removes the writer's temporary files and nothing else:
 * not images, not look-alike names, not directories, not symlinks (whose
 * targets stay untouched). */
START_TEST(test_clean_temps)
{
    char state[PATH_MAX], p[PATH_MAX + 300], target[PATH_MAX + 8], blob[PATH_MAX + 80];
    char err[512];
    uint8_t data[500];
    const char *hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    static const char *const removed[] = {".tmp.%s.123", ".tmp.%s.4567.1", ".tmp.%s.1.15"};
    static const char *const kept[] = {".tmp.%s",       ".tmp.%s.",   ".tmp.%s.12x",
                                       ".tmp.%s.1.2.3", ".tmp.%sa.1", ".tmp.%.63s.1",
                                       "x.tmp.%s.1",    ".tmp.%s.1.", ".tmp.%s.1.x"};
    new_dir(state, sizeof state);
    ck_assert_int_eq(fwup_state_dir_prepare(state, err, sizeof err), 0);
    fill(data, sizeof data, 5);
    put_ok(state, data, sizeof data, blob, sizeof blob);
    for (size_t i = 0; i < sizeof removed / sizeof *removed; i++) {
        char name[200];
        snprintf(name, sizeof name, removed[i], hex);
        snprintf(p, sizeof p, "%s/images/%s", state, name);
        write_file(p, data, 10);
    }
    for (size_t i = 0; i < sizeof kept / sizeof *kept; i++) {
        char name[200];
        snprintf(name, sizeof name, kept[i], hex);
        snprintf(p, sizeof p, "%s/images/%s", state, name);
        write_file(p, data, 10);
    }
    /* Upper-case hex is not a name the writer makes. */
    snprintf(p, sizeof p, "%s/images/.tmp.%s.9", state,
             "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef");
    write_file(p, data, 10);
    snprintf(target, sizeof target, "%s/victim", state);
    write_file(target, "keep", 4);
    snprintf(p, sizeof p, "%s/images/.tmp.%s.77", state, hex);
    ck_assert_int_eq(symlink(target, p), 0);
    snprintf(p, sizeof p, "%s/images/.tmp.%s.78", state, hex);
    ck_assert_int_eq(mkdir(p, 0750), 0);

    ck_assert_int_eq(fwup_blob_clean_temps(state), 3);
    for (size_t i = 0; i < sizeof removed / sizeof *removed; i++) {
        char name[200];
        snprintf(name, sizeof name, removed[i], hex);
        snprintf(p, sizeof p, "%s/images/%s", state, name);
        ck_assert_msg(access(p, F_OK) != 0, "%s stayed", name);
    }
    for (size_t i = 0; i < sizeof kept / sizeof *kept; i++) {
        char name[200];
        snprintf(name, sizeof name, kept[i], hex);
        snprintf(p, sizeof p, "%s/images/%s", state, name);
        ck_assert_msg(access(p, F_OK) == 0, "%s was removed", name);
    }
    struct stat st;
    snprintf(p, sizeof p, "%s/images/.tmp.%s.77", state, hex);
    ck_assert_int_eq(lstat(p, &st), 0);
    assert_content(target, "keep", 4);
    snprintf(p, sizeof p, "%s/images/.tmp.%s.78", state, hex);
    ck_assert_int_eq(lstat(p, &st), 0);
    assert_content(blob, data, sizeof data);
    ck_assert_int_eq(fwup_blob_clean_temps(state), 0);
}
END_TEST

static Suite *blobstore_suite(void)
{
    Suite *s = suite_create("blobstore");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_errno_classes);
    tcase_add_test(tc, test_read_out_of_descriptors);
    tcase_add_test(tc, test_read_errors_keep_errno);
    tcase_add_test(tc, test_put_ignores_planted_symlink);
    tcase_add_test(tc, test_put_repairs_corrupt_blob);
    tcase_add_test(tc, test_state_dir_permissions);
    tcase_add_test(tc, test_clean_temps);
    suite_add_tcase(s, tc);
    return s;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

int main(void)
{
    snprintf(g_root, sizeof g_root, "/tmp/fwup-blob-XXXXXX");
    if (mkdtemp(g_root) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    SRunner *sr = srunner_create(blobstore_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    nftw(g_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return failed == 0 ? 0 : 1;
}
