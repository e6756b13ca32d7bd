/*
 * Interop: the reference host stm32flash (Debian) against the simulated
 * STM32 bootloader served by fwupsim on a pty, and our engine (fwupsend)
 * written image read back by stm32flash. Validates the device model with a
 * host we did not write, and our engine's output with it.
 *
 * Env: FWUPSIM, FWUPSEND, FWUP_STM32_PLUGIN (set by tests/stm32uart.cmake).
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FLASH_LEN (128 * 1024) /* PID 0x410 */

static char dir[64];
static pid_t sim_pid;

static const char *env(const char *name)
{
    const char *v = getenv(name);
    ck_assert_msg(v && *v, "%s not set", name);
    return v;
}

static void path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
}

static void write_file(const char *p, const uint8_t *d, size_t n)
{
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(d, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static uint8_t *read_file(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = malloc(4 * FLASH_LEN);
    ck_assert_ptr_nonnull(buf);
    *n = fread(buf, 1, 4 * FLASH_LEN, f);
    fclose(f);
    return buf;
}

static uint8_t *image(size_t n, uint32_t seed)
{
    uint8_t *p = simtty_random_bytes(n, seed);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Run argv to completion (at most `secs`); its output goes to DIR/log. */
static int run(char *const argv[], int secs)
{
    char log[128];
    path(log, sizeof(log), "log");
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    for (int i = 0; i < secs * 100; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

static void start_sim(const char *options)
{
    tmproot_subdir(dir);
    char simdir[128], ready[160];
    path(simdir, sizeof(simdir), "sim");
    snprintf(ready, sizeof(ready), "%s/ready", simdir);
    sim_pid = fork();
    ck_assert_int_ge(sim_pid, 0);
    if (sim_pid == 0) {
        execl(env("FWUPSIM"), "fwupsim", "--dir", simdir, "--count", "1", "--model", "stm32",
              "--options", options, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500 && access(ready, F_OK) != 0; i++)
        usleep(10000);
    ck_assert_int_eq(access(ready, F_OK), 0);
}

static void stop_sim(void)
{
    char cmd[128];
    kill(sim_pid, SIGTERM);
    waitpid(sim_pid, NULL, 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* The flash fwupsim published after the Go: image at the base, erased
 * (0xFF) to the end of its last 1 KiB page, the 0x00 fill after that. */
static void check_published(const uint8_t *img, size_t n)
{
    char bin[160];
    size_t len = 0;
    uint8_t *got = NULL;
    path(bin, sizeof(bin), "sim/dev0.bin");
    for (int i = 0; i < 200 && !(got = read_file(bin, &len)); i++)
        usleep(10000);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(len, FLASH_LEN);
    ck_assert_int_eq(memcmp(got, img, n), 0);
    size_t page_end = (n + 1023) / 1024 * 1024;
    for (size_t i = n; i < page_end; i++)
        ck_assert_uint_eq(got[i], 0xff);
    for (size_t i = page_end; i < len; i++)
        ck_assert_uint_eq(got[i], 0x00);
    free(got);
}

static void stm32flash_write(const char *options)
{
    char img_path[128], dev[128];
    size_t n = 5000;
    uint8_t *img = image(n, 0x1234567);
    start_sim(options);
    path(img_path, sizeof(img_path), "img.bin");
    path(dev, sizeof(dev), "sim/dev0");
    write_file(img_path, img, n);
    char *argv[] = {"stm32flash", "-b", "115200", "-m",         "8n1", "-w",
                    img_path,     "-v", "-g",     "0x08000000", dev,   NULL};
    ck_assert_int_eq(run(argv, 60), 0);
    check_published(img, n);
    free(img);
    stop_sim();
}

START_TEST(test_stm32flash_legacy_erase)
{
    stm32flash_write("pid=0x410,fill=0x00,ext_erase=0");
}
END_TEST

START_TEST(test_stm32flash_extended_erase)
{
    stm32flash_write("pid=0x410,fill=0x00,ext_erase=1");
}
END_TEST

/* Our engine writes (and starts) the image; stm32flash reads it back. */
START_TEST(test_fwupsend_then_stm32flash_read)
{
    char img_path[128], back[128], dev[128];
    size_t n = 3000;
    uint8_t *img = image(n, 0xabcdef);
    start_sim("pid=0x410,fill=0x00");
    path(img_path, sizeof(img_path), "img.bin");
    path(back, sizeof(back), "back.bin");
    path(dev, sizeof(dev), "sim/dev0");
    write_file(img_path, img, n);
    char *send[] = {(char *)env("FWUPSEND"),
                    "--plugin",
                    (char *)env("FWUP_STM32_PLUGIN"),
                    "--tty",
                    dev,
                    "--address",
                    "0x08000000",
                    "--quiet",
                    img_path,
                    NULL};
    ck_assert_int_eq(run(send, 60), 0);
    check_published(img, n);
    char *rd[] = {"stm32flash", "-b", "115200",          "-m", "8n1", "-r",
                  back,         "-S", "0x08000000:4096", dev,  NULL};
    ck_assert_int_eq(run(rd, 60), 0);
    size_t len = 0;
    uint8_t *got = read_file(back, &len);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(len, 4096);
    ck_assert_int_eq(memcmp(got, img, n), 0);
    for (size_t i = n; i < len; i++) /* erased to the page end, then the fill */
        ck_assert_uint_eq(got[i], i < 3072 ? 0xff : 0x00);
    free(got);
    free(img);
    stop_sim();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stm32flash");
    TCase *t = tcase_create("interop");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_stm32flash_legacy_erase);
    tcase_add_test(t, test_stm32flash_extended_erase);
    tcase_add_test(t, test_fwupsend_then_stm32flash_read);
    suite_add_tcase(s, t);
    tmproot_make("fwup-stm32");
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (tmproot_remove() < 0)
        failed++;
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
