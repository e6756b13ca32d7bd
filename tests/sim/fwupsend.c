/*
 * fwupsend: run one protocol engine over one tty, nothing else. A minimal
 * poll()-driven backend of the host core (lib/host) for interop tests and
 * benchmarks; the daemon is the real host. The whole image is one segment
 * at --address.
 */
#include "simtty.h"

#include "host.h"

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
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#define MAX_OPTIONS 32
/* After the link is lost, how long the engine gets to finish by itself. */
#define LINK_LOST_GRACE_US 1000000u

/* A unit whose completion the engine asked for: done when the tx stream
 * has passed `end` (and, on the wire, the tty's output queue is empty). */
struct notify {
    uint32_t id;
    uint64_t end;
    int on_wire;
};

static struct {
    int fd;  /* read side */
    int wfd; /* write side: the same as fd unless --fd-out */
    int quiet;
    struct fwup_host *host;
    uint8_t *txq;
    size_t txlen, txcap;
    struct notify *nq;
    size_t nnq, capnq;
    uint64_t wake_at_us;  /* FWUP_HOST_NEVER: none */
    uint64_t drain_at_us; /* next look at the output queue; 0: none */
    uint32_t baud;
    int finished;
    enum fwup_result result;
    char msg[512];
    int link_gone;
    uint64_t tx_bytes, rx_bytes, queued_bytes;
} h;

static volatile sig_atomic_t g_cancel;

static void on_signal(int sig)
{
    (void)sig;
    g_cancel = 1;
}

#define fatal(...) simtty_die(1, "fwupsend", __VA_ARGS__)

static uint64_t now_us(void)
{
    return simtty_now_ns() / 1000u;
}

/* Bytes still in the tty's output queue (0 if it cannot tell: a pipe). */
static int outq_bytes(void)
{
    int n = 0;
    return ioctl(h.wfd, TIOCOUTQ, &n) == 0 && n > 0 ? n : 0;
}

/* Completes the units the tx stream has passed, in order, one at a time
 * (a completion may submit more). */
static void complete_sent(void)
{
    h.drain_at_us = 0;
    while (h.nnq && h.nq[0].end <= h.tx_bytes && !h.finished) {
        int outq = h.nq[0].on_wire ? outq_bytes() : 0;
        if (outq > 0) {
            /* Look again when it should have left: its line time if the
             * speed is known, else soon. */
            uint64_t us = h.baud ? (uint64_t)outq * 10u * 1000000u / h.baud : 1000u;
            h.drain_at_us = now_us() + (us ? us : 1u);
            return;
        }
        uint32_t id = h.nq[0].id;
        memmove(h.nq, h.nq + 1, --h.nnq * sizeof(*h.nq));
        fwup_host_complete(h.host, id, FWUP_STATUS_OK, NULL, 0);
    }
}

static void link_lost(const char *why)
{
    if (h.link_gone)
        return;
    h.link_gone = 1;
    h.nnq = 0;
    fwup_host_link_down(h.host, why);
}

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
            link_lost(n < 0 ? strerror(errno) : "write returned 0");
            return;
        }
        memmove(h.txq, h.txq + n, h.txlen - (size_t)n);
        h.txlen -= (size_t)n;
        h.tx_bytes += (uint64_t)n;
    }
}

/* ---- the host core's backend ---- */

static uint64_t b_now_us(void *ctx)
{
    (void)ctx;
    return now_us();
}

static void b_wake_at(void *ctx, uint64_t t_us)
{
    (void)ctx;
    h.wake_at_us = t_us;
}

static int b_submit(void *ctx, const struct fwup_unit *u)
{
    (void)ctx;
    if (h.link_gone)
        return -1;
    if (h.txlen + u->len > h.txcap) {
        size_t ncap = h.txcap ? h.txcap : 4096;
        while (ncap < h.txlen + u->len)
            ncap *= 2;
        uint8_t *q = realloc(h.txq, ncap);
        if (!q)
            return -1;
        h.txq = q;
        h.txcap = ncap;
    }
    if ((u->flags & FWUP_SUBMIT_NOTIFY) && h.nnq == h.capnq) {
        size_t ncap = h.capnq ? h.capnq * 2 : 16;
        struct notify *q = realloc(h.nq, ncap * sizeof(*q));
        if (!q)
            return -1;
        h.nq = q;
        h.capnq = ncap;
    }
    memcpy(h.txq + h.txlen, u->data, u->len);
    h.txlen += u->len;
    h.queued_bytes += u->len;
    if (u->flags & FWUP_SUBMIT_NOTIFY)
        h.nq[h.nnq++] =
            (struct notify){u->tag, h.queued_bytes, (u->flags & FWUP_SUBMIT_ON_WIRE) != 0};
    tx_pump();
    return h.link_gone ? -1 : 0;
}

static int b_control(void *ctx, const struct fwup_control *c)
{
    (void)ctx;
    if (c->op != FWUP_CTL_FLUSH_RX)
        return -1;
    /* Bytes are handed to the engine as soon as they are read, so the only
     * undelivered input is what the kernel still holds. */
    tcflush(h.fd, TCIFLUSH);
    uint8_t buf[4096];
    while (read(h.fd, buf, sizeof(buf)) > 0)
        ;
    return 0;
}

static void b_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    (void)ctx;
    if (!h.quiet)
        fprintf(stderr, "\r%s %llu/%llu", phase, (unsigned long long)done,
                (unsigned long long)total);
}

static void b_log(void *ctx, enum fwup_log_prio prio, const char *msg)
{
    (void)ctx;
    if (!h.quiet || prio <= FWUP_LOG_WARNING)
        fprintf(stderr, "fwupsend: [%d] %s\n", (int)prio, msg);
}

static void b_finish(void *ctx, enum fwup_result result, const char *msg)
{
    (void)ctx;
    h.finished = 1;
    h.result = result;
    snprintf(h.msg, sizeof(h.msg), "%s", msg);
}

static const struct fwup_host_backend backend = {
    .now_us = b_now_us,
    .wake_at = b_wake_at,
    .submit = b_submit,
    .control = b_control,
    .progress = b_progress,
    .log = b_log,
    .finish = b_finish,
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
    struct fwup_segment seg = {.address = address, .len = (uint32_t)imglen, .data = img, .alt = -1};
    struct fwup_image image = {.struct_size = sizeof(image),
                               .segment_size = sizeof(seg),
                               .segments = &seg,
                               .nsegments = 1,
                               .total = imglen};
    /* simtty_make_raw sets 8N1; without --baud the speed is not ours to
     * tell (0: unknown). */
    struct fwup_serial_info serial = {sizeof(serial), baud, 8, 'N', 1, FWUP_FLOW_CONTROL_NONE};
    struct fwup_link_info link = {.struct_size = sizeof(link),
                                  .kind = FWUP_LINK_SERIAL,
                                  .name = tty ? tty : "fd",
                                  .serial = &serial};
    struct fwup_job_params params = {
        .struct_size = sizeof(params),
        .device_id = tty ? tty : "fd",
        .image = &image,
        .options = opts,
        .noptions = nopts,
        .link = &link,
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
    h.baud = baud;
    h.wake_at_us = FWUP_HOST_NEVER;
    if (tty && simtty_make_raw(fd, baud) < 0)
        fatal("cannot set up the tty: %s", strerror(errno));
    if (flush)
        tcflush(fd, TCIFLUSH);

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct fwup_host_config hc = {
        .proto = proto, .params = &params, .link = &link, .backend = &backend};
    h.host = fwup_host_new(&hc, err, sizeof(err));
    if (!h.host)
        fatal("cannot start the engine: %s", err);

    uint64_t t0 = simtty_now_ns();
    uint64_t lost_deadline = 0;
    int cancelled = 0;
    fwup_host_start(h.host);
    while (!h.finished) {
        uint64_t now = now_us();
        if (h.link_gone && !lost_deadline)
            lost_deadline = now + LINK_LOST_GRACE_US;
        if (lost_deadline && now >= lost_deadline) {
            /* The engine was told (LINK_DOWN) and did not finish. */
            fwup_host_abort(h.host, FWUP_RESULT_TRANSIENT, "link lost");
            break;
        }
        if (g_cancel && !cancelled) {
            cancelled = 1;
            fwup_host_cancel(h.host);
            continue;
        }
        if (h.nnq && h.nq[0].end <= h.tx_bytes && (!h.drain_at_us || now >= h.drain_at_us)) {
            complete_sent();
            continue;
        }
        if (now >= h.wake_at_us) {
            h.wake_at_us = FWUP_HOST_NEVER;
            fwup_host_wake(h.host);
            continue;
        }
        uint64_t deadline = h.wake_at_us;
        if (h.drain_at_us && h.drain_at_us < deadline)
            deadline = h.drain_at_us;
        if (lost_deadline && lost_deadline < deadline)
            deadline = lost_deadline;
        int timeout = -1;
        if (deadline != FWUP_HOST_NEVER) {
            /* Round up: waking early would only spin. */
            uint64_t wait = deadline > now ? deadline - now : 0;
            timeout = (int)((wait + 999) / 1000);
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
                fwup_host_rx(h.host, FWUP_UNIT_BYTES, buf, (size_t)n, NULL);
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                /* EIO from a pty whose other side went away. */
                link_lost(n < 0 ? strerror(errno) : "end of file");
            }
        }
    }
    double secs = (double)(simtty_now_ns() - t0) / 1e9;
    /* Let the last bytes (e.g. a final CAN) reach the line. */
    tx_pump();
    if (isatty(wfd))
        tcdrain(wfd);
    fwup_host_free(h.host);
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
    free(h.nq);
    dlclose(so);
    return rc;
}
