/* lib/util: mkdir -p on a real file system, SHA-256 hex digests at their
 * edges, the system clocks. */
#include "baud.h"
#include "clock.h"
#include "fs.h"
#include "sha256hex.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char top[] = "/tmp/fwup-util-XXXXXX";

static void setup(void)
{
    ck_assert_ptr_nonnull(mkdtemp(top));
}

static void teardown(void)
{
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
    ck_assert_int_eq(system(cmd), 0);
    strcpy(top, "/tmp/fwup-util-XXXXXX");
}

static int is_dir(const char *p, unsigned mode)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == mode;
}

START_TEST(test_mkdirs)
{
    char p[256], q[256];
    umask(022);
    snprintf(p, sizeof(p), "%s/a/b/c", top);
    ck_assert_int_eq(fwup_mkdirs(p, 0750), 0);
    ck_assert(is_dir(p, 0750));
    snprintf(q, sizeof(q), "%s/a", top);
    ck_assert(is_dir(q, 0750));
    /* again, and with a trailing slash: nothing to do */
    ck_assert_int_eq(fwup_mkdirs(p, 0700), 0);
    ck_assert(is_dir(p, 0750));
    snprintf(q, sizeof(q), "%s/a/b/c/", top);
    ck_assert_int_eq(fwup_mkdirs(q, 0700), 0);
    /* a file in the way */
    snprintf(q, sizeof(q), "%s/f", top);
    fclose(fopen(q, "w"));
    snprintf(p, sizeof(p), "%s/f/x", top);
    errno = 0;
    ck_assert_int_eq(fwup_mkdirs(p, 0750), -1);
    ck_assert_int_eq(errno, ENOTDIR);
    ck_assert_int_eq(fwup_mkdirs("", 0750), -1);

    /* the parents of a socket path, not the socket itself */
    snprintf(p, sizeof(p), "%s/run/fwupgw/fwupgw.sock", top);
    ck_assert_int_eq(fwup_mkdirs_parent(p, 0755), 0);
    snprintf(q, sizeof(q), "%s/run/fwupgw", top);
    ck_assert(is_dir(q, 0755));
    ck_assert_int_eq(access(p, F_OK), -1);
    ck_assert_int_eq(fwup_mkdirs_parent("fwupgw.sock", 0755), 0);
    ck_assert_int_eq(fwup_mkdirs_parent("/fwupgw.sock", 0755), 0);
    /* an existing ancestor nobody may write to is fine */
    ck_assert_int_eq(fwup_mkdirs_parent("/proc/self/x", 0755), 0);
}
END_TEST

START_TEST(test_sha256_hex)
{
    const char *ok = "0123456789abcdefABCDEF0123456789abcdef0123456789abcdef0123456789";
    char out[FWUP_SHA256_HEX_LEN + 1], s[80];
    size_t bad = 99;
    ck_assert_uint_eq(strlen(ok), 64);
    ck_assert_int_eq(fwup_sha256_hex_check(ok, &bad), 0);
    fwup_sha256_hex_lower(ok, out);
    ck_assert_str_eq(out, "0123456789abcdefabcdef0123456789abcdef0123456789abcdef0123456789");
    /* 63 and 65 digits: the length is what is wrong */
    snprintf(s, sizeof(s), "%.63s", ok);
    ck_assert_int_eq(fwup_sha256_hex_check(s, &bad), -1);
    ck_assert_uint_eq(bad, 63);
    snprintf(s, sizeof(s), "%s0", ok);
    ck_assert_int_eq(fwup_sha256_hex_check(s, &bad), -1);
    ck_assert_uint_eq(bad, 65);
    ck_assert_int_eq(fwup_sha256_hex_check("", &bad), -1);
    ck_assert_uint_eq(bad, 0);
    /* the first character that is not a hex digit, first or last */
    snprintf(s, sizeof(s), "%s", ok);
    s[63] = 'g';
    ck_assert_int_eq(fwup_sha256_hex_check(s, &bad), -1);
    ck_assert_uint_eq(bad, 63);
    s[0] = ' ';
    ck_assert_int_eq(fwup_sha256_hex_check(s, &bad), -1);
    ck_assert_uint_eq(bad, 0);
}
END_TEST

START_TEST(test_clock)
{
    int64_t w = fwup_clock_wall_ms(), m1 = fwup_clock_mono_ms();
    ck_assert_int_ge(w / 1000, (int64_t)time(NULL) - 1);
    ck_assert_int_le(w / 1000, (int64_t)time(NULL));
    uint64_t ns = fwup_clock_mono_ns();
    int64_t m2 = fwup_clock_mono_ms();
    ck_assert_int_le(m1, m2);
    ck_assert_int_le(m1, (int64_t)(ns / 1000000));
    ck_assert_int_le((int64_t)(ns / 1000000), m2);
}
END_TEST

/* Every standard rate from 50 to 4000000 baud, nothing else. */
START_TEST(test_baud)
{
    ck_assert_uint_eq(fwup_baud_speed(50), B50);
    ck_assert_uint_eq(fwup_baud_speed(115200), B115200);
    ck_assert_uint_eq(fwup_baud_speed(1152000), B1152000);
    ck_assert_uint_eq(fwup_baud_speed(4000000), B4000000);
    ck_assert_uint_eq(fwup_baud_speed(0), B0);
    ck_assert_uint_eq(fwup_baud_speed(49), B0);
    ck_assert_uint_eq(fwup_baud_speed(115201), B0);
    ck_assert_uint_eq(fwup_baud_speed(4000001), B0);
    ck_assert_uint_eq(fwup_baud_speed(4294967296ul + 9600), B0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("util");
    TCase *t = tcase_create("util");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_mkdirs);
    tcase_add_test(t, test_sha256_hex);
    tcase_add_test(t, test_clock);
    tcase_add_test(t, test_baud);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
