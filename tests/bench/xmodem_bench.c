/*
 * XMODEM benchmark (not a test: the figures depend on the machine).
 *
 * 1. XMODEM-1K into lrzsz `rx -c` over pseudo-terminals, once with fwupsend
 *    (xmodem plugin) and once with lrzsz `sx -k`, wired identically: the
 *    sender owns pty S, rx sits on a socketpair, and this program relays
 *    S <-> socket counting the bytes each way. A socket, not a pty, for rx:
 *    rx flushes its input right after each ACK (and both ways on exit),
 *    which on a zero-latency pty can discard a fast sender's next block
 *    (a race a real UART's byte time closes); on a socket the flush is a
 *    no-op, so neither sender is penalised for answering quickly.
 * 2. fwupsend into a fwupsim XMODEM device on a paced 115200 8N1 line with
 *    1 ms device turnaround, as a fraction of the XMODEM-1K ceiling.
 *
 * usage: xmodem_bench FWUPSEND FWUPSIM PLUGIN [PTY_KIB [PACED_KIB]]
 */
#include "simtty.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CEILING_1K_115200 11300.0 /* protocols.md: XMODEM-1K CRC, 1 ms turnaround */

static char tmpdir[64];

static void fail(const char *what)
{
    fprintf(stderr, "xmodem_bench: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void write_image(const char *path, size_t n)
{
    uint8_t *img = simtty_random_bytes(n, 0x9e3779b9u);
    if (!img)
        fail("malloc");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || simtty_write_all(fd, img, n) < 0 || close(fd) < 0)
        fail(path);
    free(img);
}

/* 1 if file `got` starts with the first n bytes of file `want`. */
static int same_prefix(const char *want, const char *got, size_t n)
{
    FILE *a = fopen(want, "rb"), *b = fopen(got, "rb");
    int ok = a && b;
    for (size_t i = 0; ok && i < n; i++)
        ok = fgetc(a) == fgetc(b);
    if (a)
        fclose(a);
    if (b)
        fclose(b);
    return ok;
}

/* fork+exec in `dir` (if not NULL) with the given stdin, stdout, stderr. */
static pid_t spawn(char *const argv[], const char *dir, int in, int out, int err)
{
    pid_t pid = fork();
    if (pid < 0)
        fail("fork");
    if (pid == 0) {
        if (in >= 0)
            dup2(in, 0);
        if (out >= 0)
            dup2(out, 1);
        if (err >= 0)
            dup2(err, 2);
        if (dir && chdir(dir) != 0)
            _exit(127);
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static int relay_write(int fd, const uint8_t *buf, size_t n)
{
    return simtty_write_all(fd, buf, n);
}

struct pty_run {
    double seconds;      /* sender start to sender exit */
    double data_seconds; /* sender start to its last byte (EOT): no rx EOT wait */
    uint64_t down, up;   /* sender->rx, rx->sender */
    int ok;
};

/* Run rx -c on a socketpair, the sender on pty S, relay until both exit. */
static struct pty_run run_pty(const char *who, char *const *sender_argv, int sender_on_tty,
                              const char *img, size_t n)
{
    struct pty_run r = {0};
    int ms, ss, sv[2];
    char sname[64];
    if (simtty_open_pty(&ms, &ss, sname, sizeof(sname)) < 0)
        fail("pty");
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        fail("socketpair");
    /* Our end is polled; rx expects a blocking descriptor. */
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    char out[128], log[128];
    snprintf(out, sizeof(out), "%s/%s.out", tmpdir, who);
    snprintf(log, sizeof(log), "%s/%s.log", tmpdir, who);
    int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    unlink(out);
    /* rx runs restricted and refuses absolute paths: a name in its cwd. */
    char *rx_argv[] = {"rx", "-c", out + strlen(tmpdir) + 1, NULL};
    pid_t rx = spawn(rx_argv, tmpdir, sv[1], sv[1], logfd);
    close(sv[1]);

    /* The sender gets pty S by path (fwupsend) or as stdin/stdout (sx). */
    char *argv[32];
    int k = 0;
    for (; sender_argv[k] && k < 28; k++)
        argv[k] = sender_argv[k];
    if (sender_on_tty) {
        argv[k++] = "--tty";
        argv[k++] = sname;
    }
    argv[k++] = (char *)img;
    argv[k] = NULL;
    int sfd = open(sname, O_RDWR | O_NOCTTY);
    if (sfd < 0)
        fail(sname);
    uint64_t t0 = simtty_now_ns();
    pid_t snd = spawn(argv, NULL, sender_on_tty ? -1 : sfd, sender_on_tty ? logfd : sfd, logfd);
    close(sfd);

    int snd_rc = -1, rx_rc = -1;
    uint64_t t1 = 0, t_last_down = t0;
    uint8_t buf[8192];
    while (snd_rc < 0 || rx_rc < 0) {
        struct pollfd pfd[2] = {{.fd = ms, .events = POLLIN}, {.fd = sv[0], .events = POLLIN}};
        poll(pfd, 2, 5);
        ssize_t got;
        if ((got = read(ms, buf, sizeof(buf))) > 0) {
            r.down += (uint64_t)got;
            t_last_down = simtty_now_ns();
            relay_write(sv[0], buf, (size_t)got);
        }
        if ((got = read(sv[0], buf, sizeof(buf))) > 0) {
            r.up += (uint64_t)got;
            relay_write(ms, buf, (size_t)got);
        }
        int st;
        if (snd_rc < 0 && waitpid(snd, &st, WNOHANG) == snd) {
            t1 = simtty_now_ns();
            snd_rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
        }
        if (rx_rc < 0 && waitpid(rx, &st, WNOHANG) == rx)
            rx_rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
        if (simtty_now_ns() - t0 > 300000000000ull) {
            kill(snd, SIGKILL);
            kill(rx, SIGKILL);
        }
    }
    r.seconds = (double)(t1 - t0) / 1e9;
    r.data_seconds = (double)(t_last_down - t0) / 1e9;
    r.ok = snd_rc == 0 && rx_rc == 0 && same_prefix(img, out, n);
    if (!r.ok)
        fprintf(stderr, "xmodem_bench: %s run failed (sender %d, rx %d), see %s\n", who, snd_rc,
                rx_rc, log);
    int fds[] = {ms, ss, sv[0], logfd};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        close(fds[i]);
    return r;
}

/* Spawn a sender, wait for it and for the device's copy to match the image;
 * seconds from spawn to exit, or -1 on failure. */
static double paced_send(char *const *argv, int tty_fd, int out, int logfd, const char *img,
                         const char *bin, size_t n)
{
    uint64_t t0 = simtty_now_ns();
    pid_t snd = spawn(argv, NULL, tty_fd, tty_fd >= 0 ? tty_fd : out, logfd);
    if (out >= 0)
        close(out);
    int st;
    waitpid(snd, &st, 0);
    double secs = (double)(simtty_now_ns() - t0) / 1e9;
    for (int i = 0; i < 200 && !same_prefix(img, bin, n); i++)
        usleep(10000);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 && same_prefix(img, bin, n) ? secs : -1;
}

/* fwupsend, then sx -k, into one fwupsim XMODEM device on a paced line. */
static int run_paced(const char *fwupsend, const char *fwupsim, const char *plugin, size_t n)
{
    char dir[128], img[128], ready[160], dev[160], bin[160], log[128];
    snprintf(dir, sizeof(dir), "%s/sim", tmpdir);
    snprintf(img, sizeof(img), "%s/paced.bin", tmpdir);
    snprintf(ready, sizeof(ready), "%s/ready", dir);
    snprintf(dev, sizeof(dev), "%s/dev0", dir);
    snprintf(bin, sizeof(bin), "%s/dev0.bin", dir);
    snprintf(log, sizeof(log), "%s/paced.log", tmpdir);
    write_image(img, n);
    int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char *sim_argv[] = {(char *)fwupsim, "--dir",  dir,      "--count", "1",  "--model",
                        "xmodem",        "--baud", "115200", "--bits",  "10", "--turnaround-us",
                        "1000",          NULL};
    pid_t sim = spawn(sim_argv, NULL, -1, -1, logfd);
    for (int i = 0; i < 1000 && access(ready, F_OK) != 0; i++)
        usleep(10000);
    int pipefd[2];
    if (pipe(pipefd) < 0)
        fail("pipe");
    char *send_argv[] = {
        (char *)fwupsend, "--plugin", (char *)plugin, "--tty",    dev,       "--baud", "115200",
        "--option",       "block=1k", "--option",     "mode=crc", "--quiet", img,      NULL};
    double ours = paced_send(send_argv, -1, pipefd[1], logfd, img, bin, n);
    char line[256] = "";
    ssize_t got = read(pipefd[0], line, sizeof(line) - 1);
    line[got > 0 ? got : 0] = '\0';
    close(pipefd[0]);

    /* The device restarts after a completed transfer; the same image again
     * from lrzsz, which sets the tty up itself. */
    double theirs = -1;
    int tty = open(dev, O_RDWR | O_NOCTTY);
    if (ours > 0 && tty >= 0) {
        /* Empty the device's copy so only sx's transfer can refill it. */
        if (truncate(bin, 0) < 0)
            fail(bin);
        char *sx_argv[] = {"sx", "-k", "-q", img, NULL};
        theirs = paced_send(sx_argv, tty, -1, logfd, img, bin, n);
    }
    if (tty >= 0)
        close(tty);
    kill(sim, SIGTERM);
    waitpid(sim, NULL, 0);
    close(logfd);
    const char *g = strstr(line, "goodput=");
    double goodput = g ? strtod(g + 8, NULL) : 0;
    printf("\n== into fwupsim, 115200 8N1, 1 ms turnaround, %zu bytes ==\n", n);
    printf("fwupsend: %s", line[0] ? line : "(no summary)\n");
    printf("fraction of the XMODEM-1K ceiling (%.0f B/s): %.3f (target >= 0.97)\n",
           CEILING_1K_115200, goodput / CEILING_1K_115200);
    printf("spawn to exit: fwupsend %.3f s, sx -k %.3f s; sx time / ours: %.3f (target >= 1.0)\n",
           ours, theirs, ours > 0 ? theirs / ours : 0);
    int ok = ours > 0 && theirs > 0;
    if (!ok)
        fprintf(stderr, "xmodem_bench: paced run failed, see %s\n", log);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: xmodem_bench FWUPSEND FWUPSIM PLUGIN [PTY_KIB [PACED_KIB]]\n");
        return 2;
    }
    const char *fwupsend = argv[1], *fwupsim = argv[2], *plugin = argv[3];
    size_t pty_n = (argc > 4 ? strtoul(argv[4], NULL, 0) : 16384) * 1024;
    size_t paced_n = (argc > 5 ? strtoul(argv[5], NULL, 0) : 64) * 1024;
    signal(SIGPIPE, SIG_IGN);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/fwup-bench-XXXXXX");
    if (!mkdtemp(tmpdir))
        fail("mkdtemp");
    char img[128];
    snprintf(img, sizeof(img), "%s/image.bin", tmpdir);
    write_image(img, pty_n);

    char *ours[] = {(char *)fwupsend, "--plugin", (char *)plugin, "--option", "block=1k",
                    "--quiet",        NULL};
    char *theirs[] = {"sx", "-k", "-q", NULL};
    struct pty_run a = run_pty("fwupsend", ours, 1, img, pty_n);
    struct pty_run b = run_pty("sx", theirs, 0, img, pty_n);
    double kib = (double)pty_n / 1024.0;
    printf("== XMODEM-1K into lrzsz rx -c over ptys, %zu bytes ==\n", pty_n);
    printf("%-9s %9s %12s %10s %12s %11s %9s\n", "sender", "seconds", "goodput B/s", "data s",
           "data B/s", "down B/KiB", "up B/KiB");
    struct pty_run *runs[] = {&a, &b};
    const char *names[] = {"fwupsend", "sx -k"};
    for (int i = 0; i < 2; i++)
        printf("%-9s %9.3f %12.0f %10.3f %12.0f %11.1f %9.2f\n", names[i], runs[i]->seconds,
               (double)pty_n / runs[i]->seconds, runs[i]->data_seconds,
               (double)pty_n / runs[i]->data_seconds, (double)runs[i]->down / kib,
               (double)runs[i]->up / kib);
    printf("goodput ratio fwupsend/sx: %.3f overall, %.3f data phase (target >= 1.0)\n",
           b.seconds / a.seconds, b.data_seconds / a.data_seconds);
    printf("(overall includes rx's 1 s of line silence before it ACKs EOT; the data\n"
           " phase ends with the sender's last byte)\n");

    int ok = a.ok && b.ok && run_paced(fwupsend, fwupsim, plugin, paced_n);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (ok && system(cmd) != 0)
        fprintf(stderr, "xmodem_bench: cannot remove %s\n", tmpdir);
    return ok ? 0 : 1;
}
