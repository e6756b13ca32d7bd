#include "serial.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

struct fwup_serial {
    uv_poll_t poll;
    int fd;
    int events; /* currently requested UV_READABLE | UV_WRITABLE */
    int failed;
    int closing;
    uint8_t *out; /* pending output: out[out_off .. out_len) */
    size_t out_len, out_off, out_cap;
    int tx_done_pending; /* report on_tx_done at the next writable poll */
    struct fwup_serial_callbacks cb;
    void *ctx;
};

static const struct {
    unsigned baud;
    speed_t speed;
} speeds[] = {
    {50, B50},           {75, B75},           {110, B110},         {134, B134},
    {150, B150},         {200, B200},         {300, B300},         {600, B600},
    {1200, B1200},       {1800, B1800},       {2400, B2400},       {4800, B4800},
    {9600, B9600},       {19200, B19200},     {38400, B38400},     {57600, B57600},
    {115200, B115200},   {230400, B230400},   {460800, B460800},   {500000, B500000},
    {576000, B576000},   {921600, B921600},   {1000000, B1000000}, {1152000, B1152000},
    {1500000, B1500000}, {2000000, B2000000}, {2500000, B2500000}, {3000000, B3000000},
    {3500000, B3500000}, {4000000, B4000000},
};

unsigned fwup_serial_speed(unsigned baud)
{
    for (size_t i = 0; i < sizeof(speeds) / sizeof(speeds[0]); i++)
        if (speeds[i].baud == baud)
            return speeds[i].speed;
    return 0;
}

/* Character size and parity of a c_cflag (PARODD means nothing without
 * PARENB, and a pty keeps it while dropping PARENB). */
static tcflag_t framing_of(tcflag_t c)
{
    return (c & CSIZE) | (c & PARENB ? c & (PARENB | PARODD) : 0);
}

static int configure(int fd, const struct fwup_cfg_link *link, char *err, size_t errlen)
{
    struct termios t;
    speed_t speed = fwup_serial_speed(link->baud);

    if (!speed) {
        snprintf(err, errlen, "%s: unsupported baud rate %u", link->path, link->baud);
        return FWUP_SERIAL_EPERM;
    }
    if (tcgetattr(fd, &t) < 0) {
        snprintf(err, errlen, "%s: not a serial port: %s", link->path, strerror(errno));
        return -1;
    }
    cfmakeraw(&t);
    t.c_cflag &= ~(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
    /* HUPCL off: closing the port must not drop DTR, which on many boards
     * is wired to reset. */
    t.c_cflag &= ~HUPCL;
    t.c_cflag |= CREAD | CLOCAL;
    switch (link->data_bits ? link->data_bits : 8) {
    case 5:
        t.c_cflag |= CS5;
        break;
    case 6:
        t.c_cflag |= CS6;
        break;
    case 7:
        t.c_cflag |= CS7;
        break;
    default:
        t.c_cflag |= CS8;
        break;
    }
    if (link->parity == FWUP_PARITY_EVEN)
        t.c_cflag |= PARENB;
    else if (link->parity == FWUP_PARITY_ODD)
        t.c_cflag |= PARENB | PARODD;
    if (link->stop_bits == 2)
        t.c_cflag |= CSTOPB;
    t.c_iflag &= ~(IXON | IXOFF | IXANY);
    if (link->flow == FWUP_FLOW_RTSCTS)
        t.c_cflag |= CRTSCTS;
    else if (link->flow == FWUP_FLOW_XONXOFF)
        t.c_iflag |= IXON | IXOFF;
    /* VMIN 1: a non-blocking read with no data then fails with EAGAIN,
     * so 0 really means hang-up (with VMIN 0 it would mean "no data"). */
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    cfsetispeed(&t, speed);
    cfsetospeed(&t, speed);
    /* tcsetattr succeeds if any change took; a pseudo-terminal, for one,
     * drops PARENB (or refuses it with EINVAL, depending on the kernel). */
    struct termios got;
    const char *why = NULL;
    if (tcsetattr(fd, TCSANOW, &t) < 0)
        why = strerror(errno);
    else if (tcgetattr(fd, &got) < 0)
        why = strerror(errno);
    else if (framing_of(got.c_cflag) != framing_of(t.c_cflag))
        why = "the port does not keep that framing";
    if (why) {
        /* Say where an unwanted framing came from and how to change it. */
        static const char *const pnames[] = {"none", "even", "odd"};
        static const char pletters[] = "NEO";
        char from[160] = "";
        if (link->parity_from)
            snprintf(from, sizeof(from),
                     " (parity %s, implied by protocol %s; set parity: none on the link to "
                     "override)",
                     pnames[link->parity], link->parity_from);
        else if (link->parity != FWUP_PARITY_NONE)
            snprintf(from, sizeof(from), " (parity %s, set on the link)", pnames[link->parity]);
        snprintf(err, errlen, "%s: cannot set %u%c%u on %s%s: %s", link->name,
                 link->data_bits ? link->data_bits : 8, pletters[link->parity],
                 link->stop_bits == 2 ? 2u : 1u, link->path, from, why);
        /* The port will not take it on a later try either; only a config
         * change helps. */
        return FWUP_SERIAL_EPERM;
    }
    /* No input flush here: a receiver's start byte ('C', NAK) that arrived
     * before the port was opened is often all it says for seconds. Engines
     * that need a clean slate call flush_rx. */
    return 0;
}

static void on_poll(uv_poll_t *h, int status, int events);

static void fail(struct fwup_serial *s, const char *what, int e)
{
    char msg[256];
    if (s->failed || s->closing)
        return;
    s->failed = 1;
    uv_poll_stop(&s->poll);
    snprintf(msg, sizeof(msg), "serial %s: %s", what, e ? strerror(e) : "hang-up");
    s->cb.on_error(s->ctx, msg);
}

static void update_events(struct fwup_serial *s)
{
    int want = UV_READABLE;
    if (s->out_off < s->out_len || s->tx_done_pending)
        want |= UV_WRITABLE;
    if (want != s->events && !s->failed && !s->closing) {
        s->events = want;
        uv_poll_start(&s->poll, want, on_poll);
    }
}

/* Write as much pending output as the port takes. */
static int flush_out(struct fwup_serial *s)
{
    while (s->out_off < s->out_len) {
        ssize_t n = write(s->fd, s->out + s->out_off, s->out_len - s->out_off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return 0;
            fail(s, "write", errno);
            return -1;
        }
        s->out_off += (size_t)n;
    }
    s->out_off = s->out_len = 0;
    return 0;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct fwup_serial *s = h->data;
    /* On a hang-up the last bytes (a final ACK) may still be readable:
     * deliver them before reporting the failure. */
    if (status < 0)
        events = UV_READABLE;
    if (events & UV_READABLE) {
        uint8_t buf[4096];
        for (;;) {
            ssize_t n = read(s->fd, buf, sizeof(buf));
            if (n > 0) {
                s->cb.on_data(s->ctx, buf, (size_t)n);
                if (s->failed || s->closing)
                    return;
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN && status == 0)
                break;
            /* A failed poll on a tty is a hang-up (peer closed, adapter gone). */
            fail(s, status < 0 ? "port" : "read", status < 0 || n == 0 ? 0 : errno);
            return;
        }
    }
    if (events & UV_WRITABLE) {
        if (flush_out(s) < 0)
            return;
        if (s->out_len == 0 && s->tx_done_pending) {
            s->tx_done_pending = 0;
            update_events(s);
            if (s->cb.on_tx_done)
                s->cb.on_tx_done(s->ctx);
            return;
        }
    }
    update_events(s);
}

int fwup_serial_open(uv_loop_t *loop, const struct fwup_cfg_link *link,
                     const struct fwup_serial_callbacks *cb, void *ctx, struct fwup_serial **out,
                     char *err, size_t errlen)
{
    int fd = open(link->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", link->path, strerror(errno));
        return -1;
    }
    /* Exclusive: a second opener (another link naming the same port, a
     * modem manager) gets EBUSY instead of stealing bytes. */
    if (ioctl(fd, TIOCEXCL) < 0) {
        snprintf(err, errlen, "%s: cannot lock port: %s", link->path, strerror(errno));
        close(fd);
        return -1;
    }
    int rc = configure(fd, link, err, errlen);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    struct fwup_serial *s = calloc(1, sizeof(*s));
    if (!s || uv_poll_init(loop, &s->poll, fd) < 0) {
        snprintf(err, errlen, "%s: cannot watch port", link->path);
        free(s);
        close(fd);
        return -1;
    }
    s->fd = fd;
    s->cb = *cb;
    s->ctx = ctx;
    s->poll.data = s;
    s->events = UV_READABLE;
    uv_poll_start(&s->poll, UV_READABLE, on_poll);
    *out = s;
    return 0;
}

int fwup_serial_write(struct fwup_serial *s, const uint8_t *data, size_t len)
{
    if (s->failed || s->closing)
        return -1;
    if (s->out_len + len > s->out_cap) {
        size_t cap = s->out_cap ? s->out_cap : 4096;
        while (cap < s->out_len + len)
            cap *= 2;
        uint8_t *n = realloc(s->out, cap);
        if (!n)
            return -1;
        s->out = n;
        s->out_cap = cap;
    }
    memcpy(s->out + s->out_len, data, len);
    s->out_len += len;
    if (flush_out(s) < 0)
        return -1;
    /* Completion is reported from the poll callback, so the engine never
     * sees on_tx_done re-entrantly inside its own send(). */
    s->tx_done_pending = 1;
    update_events(s);
    return 0;
}

int fwup_serial_fd(const struct fwup_serial *s)
{
    return s->fd;
}

void fwup_serial_flush_rx(struct fwup_serial *s)
{
    if (!s->failed)
        tcflush(s->fd, TCIFLUSH);
}

static void on_closed(uv_handle_t *h)
{
    struct fwup_serial *s = h->data;
    /* close() waits for unsent output (up to closing_wait, 30 s) when flow
     * control holds it back: never on the loop. */
    if (s->failed || s->out_off < s->out_len)
        tcflush(s->fd, TCOFLUSH);
    close(s->fd);
    free(s->out);
    free(s);
}

void fwup_serial_close(struct fwup_serial *s)
{
    if (!s || s->closing)
        return;
    s->closing = 1;
    /* Give queued bytes (e.g. a final CAN CAN) one last chance to leave. */
    if (!s->failed)
        flush_out(s);
    uv_close((uv_handle_t *)&s->poll, on_closed);
}
