/*
 * Interop with lrzsz, the reference XMODEM implementation on Debian.
 *
 * LRZSZ_SUITE_RX: our engine (fwupsend + the xmodem plugin) sends into
 * lrzsz's `rx` over a socketpair; the file rx stores must be the image
 * followed by 0x1A padding only.
 * LRZSZ_SUITE_SX: lrzsz's `sx` sends into a fwupsim XMODEM device; the
 * content fwupsim publishes must start with the file.
 */
#include "simtty.h"
#include "tmproot.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const size_t sizes[] = {1, 1000, 4096, 70001};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static char tmpdir[64];
static pid_t sim_pid; /* a fwupsim to stop if a test fails half-way */

static void setup(void)
{
    tmproot_subdir(tmpdir);
}

static void teardown(void)
{
    if (sim_pid > 0) {
        kill(sim_pid, SIGKILL);
        waitpid(sim_pid, NULL, 0);
        sim_pid = 0;
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static const char *env_or_fail(const char *name)
{
    const char *v = getenv(name);
    ck_assert_msg(v && *v, "%s is not set (run through ctest)", name);
    return v;
}

/* Deterministic, size-dependent content, so no two cases send the same. */
static uint8_t *make_image(const char *path, size_t n)
{
    uint8_t *img = simtty_random_bytes(n, 0x12345678u ^ (uint32_t)n);
    ck_assert_ptr_nonnull(img);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(simtty_write_all(fd, img, n), 0);
    close(fd);
    return img;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    ck_assert_ptr_nonnull(buf);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        ck_assert_int_gt(r, 0);
        got += (size_t)r;
    }
    close(fd);
    *len = got;
    return buf;
}

/* An XMODEM receiver stores whole blocks: image, then 0x1A up to the block. */
static void check_received(const char *path, const uint8_t *img, size_t n)
{
    size_t len;
    uint8_t *got = slurp(path, &len);
    ck_assert_msg(len >= n, "%s: %zu bytes, want at least %zu", path, len, n);
    ck_assert_msg(len % 128 == 0, "%s: %zu bytes is not whole blocks", path, len);
    ck_assert_msg(len < n + 1024, "%s: %zu bytes is too much padding for %zu", path, len, n);
    ck_assert_msg(memcmp(got, img, n) == 0, "%s: content differs from the image", path);
    for (size_t i = n; i < len; i++)
        ck_assert_msg(got[i] == 0x1A, "%s: padding byte %zu is 0x%02x", path, i, got[i]);
    free(got);
}

/* fork+exec in `dir` (if not NULL) with stdin on `in`, stdout on `out` (if
 * >= 0), `pass3` and `pass4` as fds 3 and 4 (if >= 0) and stderr appended
 * to `errlog`. */
static pid_t spawn(char *const argv[], const char *dir, int in, int out, int pass3, int pass4,
                   const char *errlog)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* Park the descriptors above the ones we assign, so dup2 order does
         * not matter. */
        int fds[4] = {in, out, pass3, pass4};
        for (int i = 0; i < 4; i++)
            if (fds[i] >= 0)
                fds[i] = fcntl(fds[i], F_DUPFD, 10);
        for (int i = 0; i < 4; i++)
            if (fds[i] >= 0)
                dup2(fds[i], i < 2 ? i : i + 1);
        int e = open(errlog, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (e >= 0)
            dup2(e, 2);
        if (dir && chdir(dir) != 0) {
            fprintf(stderr, "chdir %s: %s\n", dir, strerror(errno));
            _exit(127);
        }
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

/* Exit status of pid, or -1 after killing it when it overstays. */
static int wait_for(pid_t pid, int seconds)
{
    for (int i = 0; i < seconds * 100; i++) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static void dump_log(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof(line), f))
        fprintf(stderr, "  %s", line);
    fclose(f);
}

#ifdef LRZSZ_SUITE_RX

/* Case index -> (receiver mode, block size, image size). */
static void rx_case(int i, int *crc, int *block1k, size_t *n)
{
    *n = sizes[i % NSIZES];
    *block1k = (i / NSIZES) % 2;
    *crc = i / (2 * NSIZES) == 0;
}

START_TEST(fwupsend_into_rx)
{
    int crc, block1k;
    size_t n;
    rx_case(_i, &crc, &block1k, &n);
    char img_path[128], out_path[128], errlog[128];
    snprintf(img_path, sizeof(img_path), "%s/image.bin", tmpdir);
    snprintf(out_path, sizeof(out_path), "%s/received.bin", tmpdir);
    snprintf(errlog, sizeof(errlog), "%s/stderr.log", tmpdir);
    uint8_t *img = make_image(img_path, n);

    /* rx and the sender share a socketpair, not a pty. rx flushes its input
     * (TCIFLUSH) right after writing each ACK; on a pty, which has no line
     * time, a sender that answers within microseconds can see its next
     * block discarded by that flush and then waits out rx's timeout, a race
     * a real UART's byte time closes. On a socket the flush is a no-op, as
     * is the TCIOFLUSH rx does on exit that would eat its last ACK. The
     * sender's own tty handling is covered by the daemon's tests. */
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);

    /* rx runs restricted (its default): it refuses an absolute output path
     * outside the UUCP public directory and any "../", so it gets a name
     * relative to its own working directory. */
    char *rx_argv[] = {"rx", crc ? "-c" : "received.bin", crc ? "received.bin" : NULL, NULL};
    pid_t rx = spawn(rx_argv, tmpdir, sv[1], sv[1], -1, -1, errlog);
    char *send_argv[] = {(char *)env_or_fail("FWUPSEND"),
                         "--plugin",
                         (char *)env_or_fail("FWUP_XMODEM_PLUGIN"),
                         "--fd",
                         "3",
                         "--quiet",
                         "--option",
                         block1k ? "block=1k" : "block=128",
                         "--option",
                         "mode=auto",
                         img_path,
                         NULL};
    pid_t snd = spawn(send_argv, NULL, -1, -1, sv[0], -1, errlog);
    close(sv[0]);
    close(sv[1]);
    int snd_rc = wait_for(snd, 90);
    int rx_rc = wait_for(rx, 30);
    if (snd_rc != 0 || rx_rc != 0)
        dump_log(errlog);
    ck_assert_msg(snd_rc == 0, "fwupsend exit %d (rx %s, %s blocks, %zu bytes)", snd_rc,
                  crc ? "-c" : "checksum", block1k ? "1k" : "128", n);
    ck_assert_msg(rx_rc == 0, "rx exit %d", rx_rc);
    check_received(out_path, img, n);
    free(img);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("lrzsz_rx");
    TCase *tc = tcase_create("fwupsend_into_rx");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 150);
    tcase_add_loop_test(tc, fwupsend_into_rx, 0, (int)(4 * NSIZES));
    suite_add_tcase(s, tc);
    return s;
}

#endif /* LRZSZ_SUITE_RX */

#ifdef LRZSZ_SUITE_SX

static char simdir[128];

static void start_sim(const char *const *extra)
{
    snprintf(simdir, sizeof(simdir), "%s/sim", tmpdir);
    char errlog[160];
    snprintf(errlog, sizeof(errlog), "%s/fwupsim.log", tmpdir);
    char *argv[32];
    int k = 0;
    argv[k++] = (char *)env_or_fail("FWUPSIM");
    argv[k++] = "--dir";
    argv[k++] = simdir;
    argv[k++] = "--count";
    argv[k++] = "1";
    argv[k++] = "--model";
    argv[k++] = "xmodem";
    for (; extra && *extra && k < 30; extra++)
        argv[k++] = (char *)*extra;
    argv[k] = NULL;
    sim_pid = spawn(argv, NULL, -1, -1, -1, -1, errlog);
    char ready[192];
    snprintf(ready, sizeof(ready), "%s/ready", simdir);
    for (int i = 0; i < 1000 && access(ready, F_OK) != 0; i++)
        usleep(10000);
    ck_assert_msg(access(ready, F_OK) == 0, "fwupsim did not get ready");
}

static void stop_sim(void)
{
    kill(sim_pid, SIGTERM);
    int rc = wait_for(sim_pid, 10);
    sim_pid = 0;
    ck_assert_msg(rc == 0, "fwupsim exit %d after SIGTERM", rc);
}

static int count_lines(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[256];
    int c = 0;
    while (fgets(line, sizeof(line), f))
        if (strstr(line, needle))
            c++;
    fclose(f);
    return c;
}

/* Run sx on dev0 and wait until fwupsim has published `want` completions. */
static void run_sx(int onek, const char *file, int want)
{
    char dev[192], errlog[160], events[192];
    snprintf(dev, sizeof(dev), "%s/dev0", simdir);
    snprintf(errlog, sizeof(errlog), "%s/sx.log", tmpdir);
    snprintf(events, sizeof(events), "%s/events.log", simdir);
    int fd = open(dev, O_RDWR | O_NOCTTY);
    ck_assert_msg(fd >= 0, "%s: %s", dev, strerror(errno));
    char *argv[] = {"sx", onek ? "-k" : (char *)file, onek ? (char *)file : NULL, NULL};
    pid_t sx = spawn(argv, NULL, fd, fd, -1, -1, errlog);
    close(fd);
    int rc = wait_for(sx, 60);
    if (rc != 0)
        dump_log(errlog);
    ck_assert_msg(rc == 0, "sx exit %d", rc);
    for (int i = 0; i < 500 && count_lines(events, "dev0 complete") < want; i++)
        usleep(10000);
    ck_assert_int_eq(count_lines(events, "dev0 complete"), want);
    ck_assert_int_eq(count_lines(events, "aborted"), 0);
}

/* Case index -> (sx -k or plain sx, device in CRC or checksum mode, size). */
START_TEST(sx_into_fwupsim)
{
    int kind = _i / (int)NSIZES; /* 0: sx -k, 1: sx, 2: sx into a checksum device */
    size_t n = sizes[_i % (int)NSIZES];
    char img_path[128], bin[192];
    snprintf(img_path, sizeof(img_path), "%s/image.bin", tmpdir);
    uint8_t *img = make_image(img_path, n);
    const char *checksum[] = {"--options", "mode=checksum", NULL};
    start_sim(kind == 2 ? checksum : NULL);
    run_sx(kind == 0, img_path, 1);
    snprintf(bin, sizeof(bin), "%s/dev0.bin", simdir);
    check_received(bin, img, n);
    stop_sim();
    free(img);
}
END_TEST

/* A host closing the pty must not stop fwupsim, and the device restarts
 * after a completed transfer: two senders in a row on one device, on a
 * paced line, both land. */
START_TEST(sx_twice_paced)
{
    char a_path[128], b_path[128], bin[192];
    snprintf(a_path, sizeof(a_path), "%s/a.bin", tmpdir);
    snprintf(b_path, sizeof(b_path), "%s/b.bin", tmpdir);
    uint8_t *a = make_image(a_path, 3000);
    uint8_t *b = make_image(b_path, 2500);
    const char *extra[] = {"--baud", "115200", "--turnaround-us", "1000", NULL};
    start_sim(extra);
    snprintf(bin, sizeof(bin), "%s/dev0.bin", simdir);
    run_sx(1, a_path, 1);
    check_received(bin, a, 3000);
    run_sx(0, b_path, 2);
    check_received(bin, b, 2500);
    stop_sim();
    free(a);
    free(b);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("lrzsz_sx");
    TCase *tc = tcase_create("sx_into_fwupsim");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, sx_into_fwupsim, 0, (int)(3 * NSIZES));
    tcase_add_test(tc, sx_twice_paced);
    suite_add_tcase(s, tc);
    return s;
}

#endif /* LRZSZ_SUITE_SX */

int main(void)
{
    tmproot_make("fwup-lrzsz");
    SRunner *sr = srunner_create(make_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (tmproot_remove() < 0)
        failed++;
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
