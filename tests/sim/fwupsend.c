/*
 * fwupsend: run one protocol engine over one tty, nothing else. A minimal
 * poll()-driven host for interop tests and benchmarks; the daemon is the
 * real host. The whole image is one segment at --address.
 */
#include "simtty.h"

#include <fwupgw/protocol.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#define MAX_OPTIONS 32
/* After on_cancel, how long the engine gets to finish by itself. */
#define CANCEL_GRACE_NS 5000000000ull

static struct {
    int fd;  /* read side */
    int wfd; /* write side: the same as fd unless --fd-out */
    int quiet;
    uint8_t *txq;
    size_t txlen, txcap;
    int tx_done_pending; /* queue drained inside an entry point */
    uint64_t timer_at;   /* 0: disarmed */
    int finished;
    enum fwup_result result;
    char msg[512];
    int link_gone;
    uint64_t tx_bytes, rx_bytes;
} h;

static volatile sig_atomic_t g_cancel;

static void on_signal(int sig)
{
    (void)sig;
    g_cancel = 1;
}

#define fatal(...) simtty_die(1, "fwupsend", __VA_ARGS__)

/* Push as much of the queue into the tty as it takes; never blocks. */
static void tx_pump(void)
{
    while (h.txlen > 0 && !h.link_gone) {
        ssize_t n = write(h.wfd, h.txq, h.txlen);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            h.link_gone = 1;
            return;
        }
        memmove(h.txq, h.txq + n, h.txlen - (size_t)n);
        h.txlen -= (size_t)n;
        h.tx_bytes += (uint64_t)n;
        if (h.txlen == 0)
            h.tx_done_pending = 1;
    }
}

static int host_send(void *host, const uint8_t *data, size_t len)
{
    (void)host;
    if (h.link_gone)
        return -1;
    if (h.txlen + len > h.txcap) {
        size_t ncap = h.txcap ? h.txcap : 4096;
        while (ncap < h.txlen + len)
            ncap *= 2;
        uint8_t *q = realloc(h.txq, ncap);
        if (!q)
            return -1;
        h.txq = q;
        h.txcap = ncap;
    }
    memcpy(h.txq + h.txlen, data, len);
    h.txlen += len;
    h.tx_done_pending = 0;
    tx_pump();
    return h.link_gone ? -1 : 0;
}

static void host_timer(void *host, uint32_t ms)
{
    (void)host;
    h.timer_at = ms ? simtty_now_ns() + (uint64_t)ms * 1000000u : 0;
}

static void host_flush_rx(void *host)
{
    (void)host;
    /* Bytes are handed to the engine as soon as they are read, so the only
     * undelivered input is what the kernel still holds. */
    tcflush(h.fd, TCIFLUSH);
    uint8_t buf[4096];
    while (read(h.fd, buf, sizeof(buf)) > 0)
        ;
}

static void host_progress(void *host, const char *phase, uint64_t done, uint64_t total)
{
    (void)host;
    if (!h.quiet)
        fprintf(stderr, "\r%s %llu/%llu", phase, (unsigned long long)done,
                (unsigned long long)total);
}

static void host_log(void *host, enum fwup_log_prio prio, const char *msg)
{
    (void)host;
    if (!h.quiet || prio <= FWUP_LOG_WARNING)
        fprintf(stderr, "fwupsend: [%d] %s\n", (int)prio, msg);
}

static void host_finish(void *host, enum fwup_result result, const char *msg)
{
    (void)host;
    h.finished = 1;
    h.result = result;
    snprintf(h.msg, sizeof(h.msg), "%s", msg ? msg : "");
    h.timer_at = 0;
}

static const struct fwup_host_ops host_ops = {
    .send = host_send,
    .timer = host_timer,
    .flush_rx = host_flush_rx,
    .progress = host_progress,
    .log = host_log,
    .finish = host_finish,
};

static uint8_t *read_image(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fatal("%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0)
        fatal("%s: %s", path, strerror(errno));
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        fatal("out of memory");
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0)
            fatal("%s: short read", path);
        got += (size_t)r;
    }
    close(fd);
    *len = n;
    return buf;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: fwupsend --plugin PATH.so (--tty PATH | --fd N) [options] IMAGE.bin\n"
                 "\n"
                 "Send a raw image with one protocol engine over one tty.\n"
                 "Prints \"bytes=N seconds=S goodput=B/s\" on success.\n"
                 "\n"
                 "  --plugin PATH   protocol plugin (.so)\n"
                 "  --tty PATH      serial device or pty to open\n"
                 "  --fd N          use inherited descriptor N instead of --tty\n"
                 "  --fd-out M      with --fd: write to descriptor M, read from N\n"
                 "  --baud B        line speed (default: leave as is)\n"
                 "  --option k=v    engine option (repeatable)\n"
                 "  --address A     device address of the image (default 0)\n"
                 "  --flush         discard pending input before starting\n"
                 "  --quiet         no progress or info logs\n"
                 "  --help\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"plugin", required_argument, NULL, 'p'},
        {"tty", required_argument, NULL, 't'},
        {"fd", required_argument, NULL, 'f'},
        {"fd-out", required_argument, NULL, 'w'},
        {"baud", required_argument, NULL, 'b'},
        {"option", required_argument, NULL, 'o'},
        {"address", required_argument, NULL, 'a'},
        {"flush", no_argument, NULL, 'F'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *plugin = NULL, *tty = NULL;
    int fd = -1, wfd = -1, flush = 0;
    unsigned baud = 0;
    uint32_t address = 0;
    struct fwup_option opts[MAX_OPTIONS];
    size_t nopts = 0;
    int c;
    while ((c = getopt_long(argc, argv, "hq", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            plugin = optarg;
            break;
        case 't':
            tty = optarg;
            break;
        case 'f':
            fd = atoi(optarg);
            break;
        case 'w':
            wfd = atoi(optarg);
            break;
        case 'b':
            baud = (unsigned)strtoul(optarg, NULL, 0);
            break;
        case 'a':
            address = (uint32_t)strtoul(optarg, NULL, 0);
            break;
        case 'F':
            flush = 1;
            break;
        case 'q':
            h.quiet = 1;
            break;
        case 'o': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg || nopts == MAX_OPTIONS)
                fatal("bad --option (want key=value): %s", optarg);
            *eq = '\0';
            opts[nopts].name = optarg;
            opts[nopts].value = eq + 1;
            nopts++;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!plugin || (!tty && fd < 0) || (tty && fd >= 0) || (wfd >= 0 && fd < 0) ||
        optind != argc - 1) {
        usage(stderr);
        return 2;
    }

    void *so = dlopen(plugin, RTLD_NOW | RTLD_LOCAL);
    if (!so)
        fatal("%s", dlerror());
    const struct fwup_protocol *proto = dlsym(so, FWUP_PROTOCOL_SYMBOL_NAME);
    if (!proto)
        fatal("%s: no %s symbol", plugin, FWUP_PROTOCOL_SYMBOL_NAME);
    if (proto->abi_version != FWUP_PROTOCOL_ABI_VERSION ||
        proto->struct_size < sizeof(struct fwup_protocol))
        fatal("%s: ABI version %u, want %u", plugin, proto->abi_version, FWUP_PROTOCOL_ABI_VERSION);

    size_t imglen;
    uint8_t *img = read_image(argv[optind], &imglen);
    struct fwup_segment seg = {.address = address, .len = (uint32_t)imglen, .data = img};
    struct fwup_image image = {.segments = &seg, .nsegments = 1, .total = imglen};
    /* simtty_make_raw sets 8N1; without --baud the speed is not ours to tell. */
    struct fwup_link_params link = {baud, 8, 'N', 1, FWUP_FLOW_CONTROL_NONE};
    struct fwup_job_params params = {
        .device_id = tty ? tty : "fd",
        .image = &image,
        .options = opts,
        .noptions = nopts,
        .link = baud ? &link : NULL,
    };
    char err[256] = "";
    if (proto->check_image && proto->check_image(&params, err, sizeof(err)) < 0)
        fatal("image refused: %s", err);

    if (tty) {
        fd = open(tty, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            fatal("%s: %s", tty, strerror(errno));
        wfd = fd;
    } else {
        if (wfd < 0)
            wfd = fd;
        int fds[2] = {fd, wfd};
        for (int i = 0; i < 2; i++) {
            int fl = fcntl(fds[i], F_GETFL);
            if (fl < 0 || fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) < 0)
                fatal("fd %d: %s", fds[i], strerror(errno));
            if (isatty(fds[i]) && simtty_make_raw(fds[i], baud) < 0)
                fatal("cannot set up the tty: %s", strerror(errno));
        }
    }
    h.fd = fd;
    h.wfd = wfd;
    if (tty && simtty_make_raw(fd, baud) < 0)
        fatal("cannot set up the tty: %s", strerror(errno));
    if (flush)
        tcflush(fd, TCIFLUSH);

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct fwup_engine *eng = proto->create(&params, &host_ops, NULL, err, sizeof(err));
    if (!eng)
        fatal("cannot start the engine: %s", err);

    uint64_t t0 = simtty_now_ns();
    uint64_t cancel_deadline = 0;
    const char *giveup = "engine did not finish after cancel";
    int cancelled = 0;
    proto->on_start(eng);
    while (!h.finished) {
        if (h.tx_done_pending) {
            h.tx_done_pending = 0;
            proto->on_tx_done(eng);
            continue;
        }
        if (h.link_gone) {
            /* The engine learns from send() returning -1; give it a chance
             * to react, then stop waiting. */
            if (!cancel_deadline) {
                cancel_deadline = simtty_now_ns() + 1000000000ull;
                giveup = "link lost";
            }
        }
        if (g_cancel && !cancelled) {
            cancelled = 1;
            cancel_deadline = simtty_now_ns() + CANCEL_GRACE_NS;
            proto->on_cancel(eng);
            continue;
        }
        uint64_t now = simtty_now_ns();
        if (cancel_deadline && now >= cancel_deadline) {
            host_finish(NULL, cancelled ? FWUP_RESULT_CANCELLED : FWUP_RESULT_TRANSIENT, giveup);
            break;
        }
        if (h.timer_at && now >= h.timer_at) {
            h.timer_at = 0;
            proto->on_timer(eng);
            continue;
        }
        uint64_t deadline = h.timer_at;
        if (cancel_deadline && (!deadline || cancel_deadline < deadline))
            deadline = cancel_deadline;
        int timeout = -1;
        if (deadline) {
            /* Round up: waking early would only spin. */
            uint64_t wait = deadline > now ? deadline - now : 0;
            timeout = (int)((wait + 999999) / 1000000);
        }
        struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN}, {.fd = wfd}};
        if (h.txlen && !h.link_gone)
            pfd[1].events = POLLOUT;
        int r = poll(pfd, 2, timeout);
        if (r < 0 && errno != EINTR)
            fatal("poll: %s", strerror(errno));
        if (r <= 0)
            continue;
        if (pfd[1].revents & (POLLOUT | POLLERR))
            tx_pump();
        if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            uint8_t buf[4096];
            ssize_t n = read(fd, buf, sizeof(buf));
            if (n > 0) {
                h.rx_bytes += (uint64_t)n;
                proto->on_rx(eng, buf, (size_t)n);
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                /* EIO from a pty whose other side went away. */
                h.link_gone = 1;
            }
        }
    }
    double secs = (double)(simtty_now_ns() - t0) / 1e9;
    /* Let the last bytes (e.g. a final CAN) reach the line. */
    tx_pump();
    if (isatty(wfd))
        tcdrain(wfd);
    proto->destroy(eng);
    if (!h.quiet)
        fprintf(stderr, "\n");

    int rc = 0;
    if (h.result == FWUP_RESULT_OK) {
        printf("bytes=%zu seconds=%.6f goodput=%.0f B/s\n", imglen, secs,
               secs > 0 ? (double)imglen / secs : 0.0);
    } else {
        fprintf(stderr, "fwupsend: transfer failed (%s): %s\n",
                h.result == FWUP_RESULT_TRANSIENT   ? "transient"
                : h.result == FWUP_RESULT_PERMANENT ? "permanent"
                                                    : "cancelled",
                h.msg);
        rc = 1;
    }
    if (!h.quiet)
        fprintf(stderr, "fwupsend: wire tx=%llu rx=%llu bytes\n", (unsigned long long)h.tx_bytes,
                (unsigned long long)h.rx_bytes);
    if (tty)
        close(fd);
    free(img);
    free(h.txq);
    dlclose(so);
    return rc;
}
