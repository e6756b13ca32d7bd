/*
 * fwupsim: serve simulated devices (simdev.h models) behind pseudo-terminals
 * so real host tools (fwupsend, the daemon, lrzsz) can talk to them.
 *
 * One poll loop with a monotonic clock drives every device. Each direction of
 * each line is a queue of bytes stamped with the time they finish arriving,
 * so a paced line (--baud) delivers bytes to the model, and to the host, no
 * faster than the wire would. fwupsim keeps every slave open for its whole
 * life: a host closing its end then never turns the master into EIO, and
 * the last bytes a device sends are not lost.
 */
#include "simdev.h"
#include "simtty.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEVICES 64
/* Bytes a device may have queued towards a host that is not reading. */
#define MAX_UP_BACKLOG (256 * 1024)
/* On a paced line, hand arrived bytes to the model at least this often. */
#define DELIVER_BATCH_NS 5000000ull

struct bq {
    uint8_t *b;
    uint64_t *t; /* time the byte has fully arrived at the far end */
    size_t head, len, cap;
};

struct line_cfg {
    unsigned baud, bits;
    uint64_t byte_ns, turnaround_ns, delay_ns;
    double drop, corrupt;
    uint64_t silent_after; /* 0: never */
    uint64_t complete_delay_ns;
};

struct dev {
    int index;
    int master, slave;
    char ptsname[64];
    struct simdev *sd;
    const struct simdev_class *cls;
    struct bq down;              /* host -> device */
    struct bq up;                /* device -> host */
    uint64_t down_free, up_free; /* when each direction's wire is next idle */
    uint64_t timer_at;           /* 0: disarmed */
    uint64_t rx_count;           /* bytes delivered to the model */
    unsigned seen_completions;
    uint8_t *before; /* content() when the last transfer began (see save_content) */
    size_t before_len;
    int aborted_logged;
    uint64_t hup_until; /* master hung up: retry reading after this */
};

static struct {
    const char *dir;
    struct line_cfg line;
    uint64_t rng;
    struct dev devs[MAX_DEVICES];
    int ndevs;
    FILE *events;
} g;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

#define die(...) simtty_die(2, "fwupsim", __VA_ARGS__)

/* splitmix64: small, seedable, good enough for fault injection. */
static uint64_t rng_next(void)
{
    uint64_t z = (g.rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int rng_chance(double rate)
{
    if (rate <= 0)
        return 0;
    return (double)(rng_next() >> 11) * 0x1.0p-53 < rate;
}

static void bq_reserve(struct bq *q, size_t extra)
{
    if (q->len + extra <= q->cap)
        return;
    size_t ncap = q->cap ? q->cap : 4096;
    while (ncap < q->len + extra)
        ncap *= 2;
    uint8_t *nb = malloc(ncap);
    uint64_t *nt = malloc(ncap * sizeof(*nt));
    if (!nb || !nt)
        die("out of memory");
    for (size_t i = 0; i < q->len; i++) {
        nb[i] = q->b[(q->head + i) % q->cap];
        nt[i] = q->t[(q->head + i) % q->cap];
    }
    free(q->b);
    free(q->t);
    q->b = nb;
    q->t = nt;
    q->cap = ncap;
    q->head = 0;
}

static void bq_push(struct bq *q, uint8_t byte, uint64_t t)
{
    bq_reserve(q, 1);
    size_t at = (q->head + q->len) % q->cap;
    q->b[at] = byte;
    q->t[at] = t;
    q->len++;
}

static uint64_t bq_peek_t(const struct bq *q, size_t i)
{
    return q->t[(q->head + i) % q->cap];
}

/* Pop up to max bytes that have arrived by `now` into out. */
static size_t bq_pop_due(struct bq *q, uint64_t now, uint8_t *out, size_t max)
{
    size_t n = 0;
    while (n < max && q->len > 0 && q->t[q->head] <= now) {
        out[n++] = q->b[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
    }
    return n;
}

/* Put back, at the front, bytes a short write could not take. */
static void bq_unpop(struct bq *q, const uint8_t *data, size_t n, uint64_t t)
{
    bq_reserve(q, n);
    for (size_t i = n; i-- > 0;) {
        q->head = (q->head + q->cap - 1) % q->cap;
        q->b[q->head] = data[i];
        q->t[q->head] = t;
        q->len++;
    }
}

static int silent(const struct dev *d)
{
    return g.line.silent_after && d->rx_count >= g.line.silent_after;
}

/* ---- the model's view: simdev_io ---- */

static void dev_send(void *ctx, const uint8_t *data, size_t len)
{
    struct dev *d = ctx;
    if (silent(d))
        return;
    uint64_t now = simtty_now_ns();
    /* A reply on an idle line leaves after the device's turnaround; bytes
     * queued behind earlier output follow back to back. */
    uint64_t start = now + g.line.turnaround_ns;
    if (d->up_free > start)
        start = d->up_free;
    for (size_t i = 0; i < len; i++) {
        start += g.line.byte_ns;
        uint8_t b = data[i];
        if (rng_chance(g.line.drop))
            continue;
        if (rng_chance(g.line.corrupt))
            b ^= (uint8_t)(1u << (rng_next() % 8));
        bq_push(&d->up, b, start + g.line.delay_ns);
    }
    d->up_free = start;
    if (d->up.len > MAX_UP_BACKLOG) {
        /* Nobody reads this line: lose the oldest bytes, as a UART would. */
        uint8_t scratch[4096];
        while (d->up.len > MAX_UP_BACKLOG / 2)
            bq_pop_due(&d->up, UINT64_MAX, scratch, sizeof(scratch));
    }
}

static void dev_timer(void *ctx, uint32_t ms)
{
    struct dev *d = ctx;
    d->timer_at = ms ? simtty_now_ns() + (uint64_t)ms * 1000000u : 0;
}

static const struct simdev_io dev_io = {.send = dev_send, .timer = dev_timer};

/* ---- results ---- */

static void log_event(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(g.events, fmt, ap);
    va_end(ap);
    fputc('\n', g.events);
    fflush(g.events);
}

/* Write len bytes to DIR/devI.SUFFIX through a temporary file. */
static int save_file(const struct dev *d, const char *suffix, const uint8_t *data, size_t len)
{
    char tmp[PATH_MAX], final[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s/dev%d.%s.tmp", g.dir, d->index, suffix);
    snprintf(final, sizeof(final), "%s/dev%d.%s", g.dir, d->index, suffix);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || (len && simtty_write_all(fd, data, len) < 0) || close(fd) < 0 ||
        rename(tmp, final) < 0) {
        fprintf(stderr, "fwupsim: dev%d: cannot write %s: %s\n", d->index, final, strerror(errno));
        return -1;
    }
    return 0;
}

/* What the storage held before this transfer: at power-on, then what the
 * previous transfer left. Checks compare devI.bin with devI.before outside
 * the pages the image touched. */
static void remember_content(struct dev *d)
{
    size_t len = 0;
    const uint8_t *data = d->cls->content(d->sd, &len);
    free(d->before);
    d->before = len ? malloc(len) : NULL;
    d->before_len = d->before ? len : 0;
    if (d->before)
        memcpy(d->before, data, len);
}

static void save_content(struct dev *d)
{
    size_t len = 0;
    const uint8_t *data = d->cls->content(d->sd, &len);
    if (save_file(d, "before", d->before, d->before_len) < 0 || save_file(d, "bin", data, len) < 0)
        return;
    log_event("dev%d complete %zu bytes", d->index, len);
}

/* Delay what the device has queued towards the host, and all it sends
 * after, by ns: the device holds the image while its last ACK is pending,
 * a window in which the host cannot know the transfer completed. */
static void hold_up(struct dev *d, uint64_t ns)
{
    if (!ns)
        return;
    for (size_t i = 0; i < d->up.len; i++)
        d->up.t[(d->up.head + i) % d->up.cap] += ns;
    uint64_t now = simtty_now_ns();
    d->up_free = (d->up_free > now ? d->up_free : now) + ns;
}

/* After every model event: publish a finished transfer and power the device
 * up again so the next job finds it waiting. */
static void check_state(struct dev *d)
{
    enum simdev_state st = d->cls->state(d->sd);
    unsigned c = d->cls->completions(d->sd);
    if (c != d->seen_completions) {
        d->seen_completions = c;
        if (st == SIMDEV_COMPLETE) {
            save_content(d);
            remember_content(d);
            hold_up(d, g.line.complete_delay_ns);
            d->aborted_logged = 0;
            d->cls->start(d->sd);
            return;
        }
    }
    if (st == SIMDEV_ABORTED && !d->aborted_logged) {
        d->aborted_logged = 1;
        log_event("dev%d aborted", d->index);
        d->cls->start(d->sd);
        if (d->cls->state(d->sd) != SIMDEV_ABORTED)
            d->aborted_logged = 0;
    }
}

/* ---- I/O ---- */

static void read_master(struct dev *d, uint64_t now)
{
    uint8_t buf[4096];
    for (;;) {
        ssize_t n = read(d->master, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            /* EIO: no slave open (cannot happen while we hold ours, but be
             * robust). Keep serving; look again shortly. */
            d->hup_until = now + 100000000u;
            return;
        }
        for (ssize_t i = 0; i < n; i++) {
            uint64_t start = d->down_free > now ? d->down_free : now;
            start += g.line.byte_ns;
            d->down_free = start;
            bq_push(&d->down, buf[i], start + g.line.delay_ns);
        }
    }
}

static void deliver_down(struct dev *d, uint64_t now)
{
    uint8_t buf[4096];
    size_t n;
    while ((n = bq_pop_due(&d->down, now, buf, sizeof(buf))) > 0) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (silent(d))
                break;
            if (rng_chance(g.line.drop))
                continue;
            uint8_t b = buf[i];
            if (rng_chance(g.line.corrupt))
                b ^= (uint8_t)(1u << (rng_next() % 8));
            buf[k++] = b;
            d->rx_count++;
        }
        if (k) {
            d->cls->on_rx(d->sd, buf, k);
            check_state(d);
        }
    }
}

static void flush_up(struct dev *d, uint64_t now)
{
    uint8_t buf[4096];
    size_t n;
    while ((n = bq_pop_due(&d->up, now, buf, sizeof(buf))) > 0) {
        ssize_t w = write(d->master, buf, n);
        if (w < 0 && errno == EINTR)
            w = 0;
        if (w < 0 && errno != EAGAIN) {
            return; /* drop: the line is broken; keep serving */
        }
        if (w < 0)
            w = 0;
        if ((size_t)w < n) {
            bq_unpop(&d->up, buf + w, n - (size_t)w, now);
            return;
        }
    }
}

/* Earliest moment something on this device needs attention. */
static uint64_t next_deadline(const struct dev *d)
{
    uint64_t t = UINT64_MAX;
    if (d->timer_at && d->timer_at < t)
        t = d->timer_at;
    if (d->up.len && bq_peek_t(&d->up, 0) < t)
        t = bq_peek_t(&d->up, 0);
    if (d->down.len) {
        /* Batch delivery on paced lines, but never hold back the last
         * queued byte: its arrival time is what the reply timing hangs on. */
        uint64_t first = bq_peek_t(&d->down, 0);
        uint64_t last = bq_peek_t(&d->down, d->down.len - 1);
        uint64_t due = first + DELIVER_BATCH_NS < last ? first + DELIVER_BATCH_NS : last;
        if (due < t)
            t = due;
    }
    if (d->hup_until && d->hup_until < t)
        t = d->hup_until;
    return t;
}

/* ---- setup ---- */

static void write_file_atomic(const char *name, const char *content)
{
    char tmp[PATH_MAX], final[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", g.dir, name);
    snprintf(final, sizeof(final), "%s/%s", g.dir, name);
    FILE *f = fopen(tmp, "w");
    if (!f || fputs(content, f) < 0 || fclose(f) != 0 || rename(tmp, final) < 0)
        die("cannot write %s: %s", final, strerror(errno));
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fwupsim --dir DIR --count N --model NAME [options]\n"
            "\n"
            "Serve N simulated devices behind pseudo-terminals DIR/dev0..devN-1.\n"
            "When a device completes a transfer its content goes to DIR/devI.bin, what\n"
            "it held before to DIR/devI.before, and \"devI complete N bytes\" to\n"
            "DIR/events.log (\"devI aborted\" on abort); DIR/devI.page holds the\n"
            "model's erase page size (0: it stores a received file, not flash).\n"
            "the device then restarts. DIR/ready appears once all links exist.\n"
            "\n"
            "  --dir DIR              output directory (created if missing)\n"
            "  --count N              number of devices (1..%d)\n"
            "  --model NAME           device model, e.g. xmodem\n"
            "  --options \"k=v,...\"    model options for every device\n"
            "  --device-options I:\"k=v,...\"  extra options for device I (repeatable)\n"
            "  --device-model I:NAME  device I runs model NAME instead (repeatable)\n"
            "  --baud B               pace both directions at B baud\n"
            "  --bits N               bits per byte on the wire (default 10, 8N1)\n"
            "  --turnaround-us U      device reply latency (default 0)\n"
            "  --delay-us U           extra one-way latency, both directions\n"
            "  --drop R               drop each byte with probability R\n"
            "  --corrupt R            flip one bit of each byte with probability R\n"
            "  --silent-after-bytes N the device goes deaf and mute after receiving N bytes\n"
            "  --complete-delay-us U  a device that completes a transfer holds back its\n"
            "                         last reply (the ACK of EOT) for U more microseconds\n"
            "  --seed S               fault PRNG seed (default 1)\n"
            "  --help\n",
            MAX_DEVICES);
}

static unsigned long long parse_num(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end)
        die("bad %s: %s", what, s);
    return v;
}

static double parse_rate(const char *s, const char *what)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || v < 0 || v > 1)
        die("bad %s (want 0..1): %s", what, s);
    return v;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"count", required_argument, NULL, 'n'},
        {"model", required_argument, NULL, 'm'},
        {"options", required_argument, NULL, 'o'},
        {"device-options", required_argument, NULL, 'O'},
        {"device-model", required_argument, NULL, 'M'},
        {"baud", required_argument, NULL, 'b'},
        {"bits", required_argument, NULL, 'B'},
        {"turnaround-us", required_argument, NULL, 't'},
        {"delay-us", required_argument, NULL, 'D'},
        {"drop", required_argument, NULL, 'x'},
        {"corrupt", required_argument, NULL, 'c'},
        {"silent-after-bytes", required_argument, NULL, 's'},
        {"complete-delay-us", required_argument, NULL, 'C'},
        {"seed", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model = NULL, *options = "";
    const char *devopts[MAX_DEVICES] = {0};
    const char *devmodel[MAX_DEVICES] = {0};
    long count = 0;
    unsigned long long turnaround_us = 0, delay_us = 0, complete_delay_us = 0;
    g.line.bits = 10;
    g.rng = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            g.dir = optarg;
            break;
        case 'n':
            count = (long)parse_num(optarg, "--count");
            break;
        case 'm':
            model = optarg;
            break;
        case 'o':
            options = optarg;
            break;
        case 'O': {
            char *end;
            long i = strtol(optarg, &end, 10);
            if (end == optarg || *end != ':' || i < 0 || i >= MAX_DEVICES)
                die("bad --device-options (want I:k=v,...): %s", optarg);
            devopts[i] = end + 1;
            break;
        }
        case 'M': {
            char *end;
            long i = strtol(optarg, &end, 10);
            if (end == optarg || *end != ':' || i < 0 || i >= MAX_DEVICES || !end[1])
                die("bad --device-model (want I:NAME): %s", optarg);
            devmodel[i] = end + 1;
            break;
        }
        case 'b':
            g.line.baud = (unsigned)parse_num(optarg, "--baud");
            break;
        case 'B':
            g.line.bits = (unsigned)parse_num(optarg, "--bits");
            break;
        case 't':
            turnaround_us = parse_num(optarg, "--turnaround-us");
            break;
        case 'D':
            delay_us = parse_num(optarg, "--delay-us");
            break;
        case 'x':
            g.line.drop = parse_rate(optarg, "--drop");
            break;
        case 'c':
            g.line.corrupt = parse_rate(optarg, "--corrupt");
            break;
        case 's':
            g.line.silent_after = parse_num(optarg, "--silent-after-bytes");
            break;
        case 'C':
            complete_delay_us = parse_num(optarg, "--complete-delay-us");
            break;
        case 'S':
            g.rng = parse_num(optarg, "--seed");
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || !g.dir || !model || count < 1 || count > MAX_DEVICES) {
        usage(stderr);
        return 2;
    }
    const struct simdev_class *cls = simdev_find(model);
    if (!cls)
        die("unknown model: %s", model);
    if (g.line.baud) {
        if (!g.line.bits)
            die("--bits must be positive");
        g.line.byte_ns = 1000000000ull * g.line.bits / g.line.baud;
    }
    g.line.turnaround_ns = turnaround_us * 1000u;
    g.line.delay_ns = delay_us * 1000u;
    g.line.complete_delay_ns = complete_delay_us * 1000u;

    /* Timers of a few tens of microseconds matter on a paced line. */
    prctl(PR_SET_TIMERSLACK, 1000ul, 0, 0, 0);

    if (mkdir(g.dir, 0755) < 0 && errno != EEXIST)
        die("cannot create %s: %s", g.dir, strerror(errno));
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/ready", g.dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/events.log", g.dir);
    g.events = fopen(path, "a");
    if (!g.events)
        die("cannot open %s: %s", path, strerror(errno));

    sigset_t block, orig;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &orig);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    g.ndevs = (int)count;
    for (int i = 0; i < g.ndevs; i++) {
        struct dev *d = &g.devs[i];
        d->index = i;
        /* A device with a model of its own takes only its own options: the
         * shared --options are written for the shared model. */
        const char *shared = options;
        d->cls = cls;
        if (devmodel[i]) {
            if (!(d->cls = simdev_find(devmodel[i])))
                die("dev%d: unknown model: %s", i, devmodel[i]);
            shared = "";
        }
        if (simtty_open_pty(&d->master, &d->slave, d->ptsname, sizeof(d->ptsname)) < 0)
            die("cannot create a pseudo-terminal: %s", strerror(errno));
        char opts[1024];
        snprintf(opts, sizeof(opts), "%s%s%s", shared, (*shared && devopts[i]) ? "," : "",
                 devopts[i] ? devopts[i] : "");
        char err[256] = "";
        d->sd = d->cls->create(opts, &dev_io, d, err, sizeof(err));
        if (!d->sd)
            die("dev%d: %s", i, err[0] ? err : "cannot create the model");
        remember_content(d);
        char page[32];
        snprintf(page, sizeof(page), "%u\n", d->cls->erase_page ? d->cls->erase_page(d->sd) : 0);
        snprintf(path, sizeof(path), "dev%d.page", i);
        write_file_atomic(path, page);
        snprintf(path, sizeof(path), "%s/dev%d", g.dir, i);
        unlink(path);
        if (symlink(d->ptsname, path) < 0)
            die("cannot link %s: %s", path, strerror(errno));
    }
    char pid[32];
    snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    write_file_atomic("fwupsim.pid", pid);
    for (int i = 0; i < g.ndevs; i++) {
        g.devs[i].cls->start(g.devs[i].sd);
        check_state(&g.devs[i]);
    }
    write_file_atomic("ready", "ready\n");

    struct pollfd pfds[MAX_DEVICES];
    while (!g_stop) {
        uint64_t now = simtty_now_ns();
        uint64_t deadline = UINT64_MAX;
        for (int i = 0; i < g.ndevs; i++) {
            struct dev *d = &g.devs[i];
            pfds[i].fd = d->master;
            pfds[i].events = (d->hup_until && d->hup_until > now) ? 0 : POLLIN;
            if (d->up.len && bq_peek_t(&d->up, 0) <= now)
                pfds[i].events |= POLLOUT;
            uint64_t t = next_deadline(d);
            if (t < deadline)
                deadline = t;
        }
        struct timespec ts, *tsp = NULL;
        if (deadline != UINT64_MAX) {
            uint64_t wait = deadline > now ? deadline - now : 0;
            ts.tv_sec = (time_t)(wait / 1000000000u);
            ts.tv_nsec = (long)(wait % 1000000000u);
            tsp = &ts;
        }
        int r = ppoll(pfds, (nfds_t)g.ndevs, tsp, &orig);
        if (r < 0 && errno != EINTR)
            die("poll: %s", strerror(errno));
        now = simtty_now_ns();
        for (int i = 0; i < g.ndevs; i++) {
            struct dev *d = &g.devs[i];
            if (d->hup_until && d->hup_until <= now)
                d->hup_until = 0;
            if (r > 0 && (pfds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                read_master(d, now);
            deliver_down(d, now);
            if (d->timer_at && d->timer_at <= now) {
                d->timer_at = 0;
                d->cls->on_timer(d->sd);
                check_state(d);
            }
            flush_up(d, now);
        }
    }

    for (int i = 0; i < g.ndevs; i++) {
        struct dev *d = &g.devs[i];
        d->cls->destroy(d->sd);
        free(d->before);
        close(d->master);
        close(d->slave);
        free(d->down.b);
        free(d->down.t);
        free(d->up.b);
        free(d->up.t);
    }
    fclose(g.events);
    snprintf(path, sizeof(path), "%s/ready", g.dir);
    unlink(path);
    return 0;
}
