/*
 * Serial links: a termios port (raw, baud, framing, flow control), non-
 * blocking, driven by a uv_poll_t on the daemon's loop. A unit is a byte
 * string; units go out in order and are never split from the engine's
 * point of view (a short write only delays the rest). Completions, also in
 * submit order, come from the loop, never from inside submit or control:
 *
 *   NOTIFY   the kernel took every byte of the unit
 *   ON_WIRE  and the port's output queue (TIOCOUTQ) holds none of them,
 *            and no sooner than the line rate lets them out. The queue is
 *            polled on a timer set to the time the queued bytes take at the
 *            line rate, capped so that a faster drain is seen soon: no busy
 *            loop. The line-rate floor matters twice: a UART's FIFO still
 *            holds bytes when the kernel's queue is empty, and a pty has no
 *            output queue at all (TIOCOUTQ is always 0) while the device
 *            behind it may well read at the configured rate
 *   BREAK    (control) after the bytes before it are on the wire, like
 *            tcsendbreak(), but without blocking the loop
 */
#include "link_impl.h"

#include "baud.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

/* A unit or break waiting for its completion. `end` is the stream offset
 * just past its bytes: it is written when `written` reaches it. */
struct pending {
    uint32_t tag;
    uint8_t on_wire; /* wait for the output queue to drain */
    uint8_t brk;     /* a break of `brk_ms` once drained */
    uint8_t breaking;
    uint32_t brk_ms;
    uint64_t end;
    uint64_t deadline_ms; /* loop time; 0: none (breaks) */
    uint64_t break_end_ms;
};

struct serial_link {
    struct fwup_link base;
    struct fwup_serial_info serial;
    uv_loop_t *loop;
    uv_poll_t poll;
    uv_timer_t tick; /* completions, drain polls, timeouts, break ends */
    int handles;     /* open libuv handles: freed when 0 after close */
    int fd;
    int events; /* currently requested UV_READABLE | UV_WRITABLE */
    int failed, down_reported, closing;
    char why[256];
    unsigned bits_per_char;
    uint8_t *out; /* bytes not yet written: out[out_off .. out_len) */
    size_t out_len, out_off, out_cap;
    uint64_t queued, written; /* stream offsets */
    /* Loop time (µs) at which the line, at its nominal rate, has sent
     * every byte written so far. */
    uint64_t line_free_us;
    struct pending *pend; /* pend[pend_head .. pend_n) */
    size_t pend_head, pend_n, pend_cap;
};

/* How long `bytes` characters take at the line rate, rounded up. */
static uint64_t wire_ms(const struct serial_link *s, uint64_t bytes)
{
    return (bytes * s->bits_per_char * 1000 + s->serial.baud - 1) / s->serial.baud;
}

static uint64_t wire_us(const struct serial_link *s, uint64_t bytes)
{
    return (bytes * s->bits_per_char * 1000000 + s->serial.baud - 1) / s->serial.baud;
}

/* Character size and parity of a c_cflag (PARODD means nothing without
 * PARENB, and a pty keeps it while dropping PARENB). */
static tcflag_t framing_of(tcflag_t c)
{
    return (c & CSIZE) | (c & PARENB ? c & (PARENB | PARODD) : 0);
}

static int configure(int fd, const struct fwup_cfg_link *link, const char *parity_from, char *err,
                     size_t errlen)
{
    struct termios t;
    speed_t speed = fwup_baud_speed(link->baud);

    if (!speed) {
        snprintf(err, errlen, "%s: unsupported baud rate %u", link->path, link->baud);
        return FWUP_LINK_EPERM;
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
        if (parity_from)
            snprintf(from, sizeof(from),
                     " (parity %s, implied by protocol %s; set parity: none on the link to "
                     "override)",
                     pnames[link->parity], parity_from);
        else if (link->parity != FWUP_PARITY_NONE)
            snprintf(from, sizeof(from), " (parity %s, set on the link)", pnames[link->parity]);
        snprintf(err, errlen, "%s: cannot set %u%c%u on %s%s: %s", link->name,
                 link->data_bits ? link->data_bits : 8, pletters[link->parity],
                 link->stop_bits == 2 ? 2u : 1u, link->path, from, why);
        /* The port will not take it on a later try either; only a config
         * change helps. */
        return FWUP_LINK_EPERM;
    }
    /* No input flush here: a receiver's start byte ('C', NAK) that arrived
     * before the port was opened is often all it says for seconds. Engines
     * that need a clean slate call flush_rx. */
    return 0;
}

static void on_poll(uv_poll_t *h, int status, int events);
static void on_tick(uv_timer_t *t);

static void update_events(struct serial_link *s)
{
    int want = UV_READABLE;
    if (s->out_off < s->out_len)
        want |= UV_WRITABLE;
    if (want != s->events && !s->failed && !s->closing) {
        s->events = want;
        uv_poll_start(&s->poll, want, on_poll);
    }
}

/* The port failed: stop it; the tick reports it (never from inside
 * submit): pending units complete LINK_GONE, then on_down. */
static void fail(struct serial_link *s, const char *what, int e)
{
    if (s->failed || s->closing)
        return;
    s->failed = 1;
    uv_poll_stop(&s->poll);
    snprintf(s->why, sizeof(s->why), "serial %s: %s", what, e ? strerror(e) : "hang-up");
    uv_timer_start(&s->tick, on_tick, 0, 0);
}

/* Offset up to which bytes may be written: not past a pending break. */
static uint64_t write_limit(const struct serial_link *s)
{
    for (size_t i = s->pend_head; i < s->pend_n; i++)
        if (s->pend[i].brk)
            return s->pend[i].end;
    return s->queued;
}

/* Write as much pending output as the port takes. */
static int flush_out(struct serial_link *s)
{
    uint64_t limit = write_limit(s);
    while (s->out_off < s->out_len && s->written < limit) {
        size_t want = s->out_len - s->out_off;
        if (want > limit - s->written)
            want = (size_t)(limit - s->written);
        ssize_t n = write(s->fd, s->out + s->out_off, want);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return 0;
            fail(s, "write", errno);
            return -1;
        }
        s->out_off += (size_t)n;
        s->written += (uint64_t)n;
        uint64_t now_us = uv_now(s->loop) * 1000;
        s->line_free_us =
            (s->line_free_us > now_us ? s->line_free_us : now_us) + wire_us(s, (uint64_t)n);
    }
    if (s->out_off == s->out_len)
        s->out_off = s->out_len = 0;
    return 0;
}

/* The longest wait between two output-queue polls: a pty (its reader) or
 * an adapter may drain faster than the nominal line rate. */
#define DRAIN_POLL_MAX_MS 20

/* Bytes still in the kernel's output queue; 0 if the port cannot say. */
static uint64_t outq(const struct serial_link *s)
{
    int n = 0;
    return ioctl(s->fd, TIOCOUTQ, &n) == 0 && n > 0 ? (uint64_t)n : 0;
}

/*
 * Completes what is done, head first, and sets the tick for what is not.
 * Returns with the link possibly closed by a callback: callers return too.
 */
static void service(struct serial_link *s)
{
    struct fwup_link *l = &s->base;
    while (s->pend_head < s->pend_n) {
        struct pending *p = &s->pend[s->pend_head];
        uint64_t now = uv_now(s->loop);
        enum fwup_status st = FWUP_STATUS_OK;
        uint64_t wait = 0;
        if (s->failed) {
            st = FWUP_STATUS_LINK_GONE;
        } else if (p->breaking) {
            if (now < p->break_end_ms) {
                wait = p->break_end_ms - now;
            } else if (ioctl(s->fd, TIOCCBRK) < 0) {
                fail(s, "break", errno);
                continue;
            }
        } else if (s->written < p->end) {
            wait = UINT64_MAX; /* the poll callback calls again */
        } else if (p->on_wire || p->brk) {
            /* Its bytes have left once what is queued is no more than
             * what was written after them (nothing, before a break). */
            uint64_t q = outq(s), after = s->written - p->end;
            /* At the nominal rate its last byte leaves before the bytes
             * written after it. */
            uint64_t left_us = s->line_free_us - wire_us(s, after), now_us = now * 1000;
            if (now_us < left_us)
                wait = (left_us - now_us + 999) / 1000;
            else if (q > after)
                wait = wire_ms(s, q - after) < DRAIN_POLL_MAX_MS ? wire_ms(s, q - after)
                                                                 : DRAIN_POLL_MAX_MS;
            else if (p->brk) {
                if (ioctl(s->fd, TIOCSBRK) < 0) {
                    fail(s, "break", errno);
                    continue;
                }
                p->breaking = 1;
                p->break_end_ms = now + p->brk_ms;
                continue;
            }
        }
        if (wait && p->deadline_ms && now >= p->deadline_ms)
            st = FWUP_STATUS_TIMEOUT, wait = 0;
        if (wait) {
            if (p->deadline_ms && p->deadline_ms - now < wait)
                wait = p->deadline_ms - now;
            if (wait != UINT64_MAX)
                uv_timer_start(&s->tick, on_tick, wait, 0);
            else
                uv_timer_stop(&s->tick);
            return;
        }
        struct pending done = *p;
        if (++s->pend_head == s->pend_n)
            s->pend_head = s->pend_n = 0;
        if (done.brk && !s->failed && flush_out(s) == 0)
            update_events(s); /* bytes held behind the break may go now */
        l->cb.on_complete(l->ctx, done.tag, st, NULL, 0);
        if (s->closing)
            return;
    }
    uv_timer_stop(&s->tick);
    if (s->failed && !s->down_reported) {
        s->down_reported = 1;
        l->cb.on_down(l->ctx, s->why);
    }
}

static void on_tick(uv_timer_t *t)
{
    service(t->data);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct serial_link *s = h->data;
    struct fwup_link *l = &s->base;
    /* On a hang-up the last bytes (a final ACK) may still be readable:
     * deliver them before reporting the failure. */
    if (status < 0)
        events = UV_READABLE;
    if (events & UV_READABLE) {
        uint8_t buf[4096];
        for (;;) {
            ssize_t n = read(s->fd, buf, sizeof(buf));
            if (n > 0) {
                l->cb.on_rx(l->ctx, FWUP_UNIT_BYTES, buf, (size_t)n, NULL);
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
    if ((events & UV_WRITABLE) && flush_out(s) < 0)
        return;
    update_events(s);
    service(s);
}

static int push_pending(struct serial_link *s, const struct pending *p)
{
    if (s->pend_n == s->pend_cap && s->pend_head) {
        memmove(s->pend, s->pend + s->pend_head, (s->pend_n - s->pend_head) * sizeof(*s->pend));
        s->pend_n -= s->pend_head;
        s->pend_head = 0;
    }
    if (s->pend_n == s->pend_cap) {
        size_t cap = s->pend_cap ? 2 * s->pend_cap : 16;
        struct pending *n = realloc(s->pend, cap * sizeof(*n));
        if (!n)
            return -1;
        s->pend = n;
        s->pend_cap = cap;
    }
    s->pend[s->pend_n++] = *p;
    return 0;
}

/* The host's default for a unit's timeout_ms of 0: twice the wire time of
 * everything queued up to its end plus a margin for the kernel and USB
 * adapters; with flow control the device may hold us off for a while. */
#define DEFAULT_MARGIN_MS      2000
#define DEFAULT_FLOW_MARGIN_MS 30000

static int serial_submit(struct fwup_link *l, const struct fwup_unit *u)
{
    struct serial_link *s = (struct serial_link *)l;
    if (s->failed || s->closing || !FWUP_HAS_FIELD(u, struct fwup_unit, len) ||
        u->kind != FWUP_UNIT_BYTES || (u->len && !u->data))
        return -1;
    if (s->out_len + u->len > s->out_cap) {
        size_t cap = s->out_cap ? s->out_cap : 4096;
        while (cap < s->out_len + u->len)
            cap *= 2;
        uint8_t *n = realloc(s->out, cap);
        if (!n)
            return -1;
        s->out = n;
        s->out_cap = cap;
    }
    if (u->flags & (FWUP_SUBMIT_NOTIFY | FWUP_SUBMIT_ON_WIRE)) {
        uint64_t ms = u->timeout_ms;
        if (!ms)
            ms = 2 * wire_ms(s, s->queued + u->len - s->written) + DEFAULT_MARGIN_MS +
                 (s->serial.flow != FWUP_FLOW_CONTROL_NONE ? DEFAULT_FLOW_MARGIN_MS : 0);
        struct pending p = {.tag = u->tag,
                            .on_wire = (u->flags & FWUP_SUBMIT_ON_WIRE) != 0,
                            .end = s->queued + u->len,
                            .deadline_ms = uv_now(s->loop) + ms};
        if (push_pending(s, &p) < 0)
            return -1;
        uv_timer_start(&s->tick, on_tick, 0, 0);
    }
    if (u->len)
        memcpy(s->out + s->out_len, u->data, u->len);
    s->out_len += u->len;
    s->queued += u->len;
    if (flush_out(s) < 0)
        return -1;
    update_events(s);
    return 0;
}

static int serial_control(struct fwup_link *l, const struct fwup_control *c)
{
    struct serial_link *s = (struct serial_link *)l;
    if (s->failed || s->closing || !FWUP_HAS_FIELD(c, struct fwup_control, arg))
        return -1;
    switch (c->op) {
    case FWUP_CTL_FLUSH_RX:
        /* Input is delivered as soon as it is read: only the kernel holds any. */
        return tcflush(s->fd, TCIFLUSH) == 0 ? 0 : -1;
    case FWUP_CTL_BREAK: {
        struct pending p = {.tag = c->tag, .brk = 1, .brk_ms = c->arg, .end = s->queued};
        if (push_pending(s, &p) < 0)
            return -1;
        uv_timer_start(&s->tick, on_tick, 0, 0);
        return 1;
    }
    default:
        return -1;
    }
}

static int serial_fd(const struct fwup_link *l)
{
    return ((const struct serial_link *)l)->fd;
}

static void on_closed(uv_handle_t *h)
{
    struct serial_link *s = h->data;
    if (--s->handles)
        return;
    /* close() waits for unsent output (up to closing_wait, 30 s) when flow
     * control holds it back: never on the loop. */
    if (s->failed || s->out_off < s->out_len)
        tcflush(s->fd, TCOFLUSH);
    close(s->fd);
    free(s->out);
    free(s->pend);
    free(s);
}

static void serial_close(struct fwup_link *l)
{
    struct serial_link *s = (struct serial_link *)l;
    if (s->closing)
        return;
    s->closing = 1;
    /* Give queued bytes (e.g. a final CAN CAN) one last chance to leave;
     * a break in progress ends here. */
    if (!s->failed) {
        for (size_t i = s->pend_head; i < s->pend_n; i++)
            if (s->pend[i].breaking)
                ioctl(s->fd, TIOCCBRK);
        s->pend_head = s->pend_n = 0;
        flush_out(s);
    }
    uv_close((uv_handle_t *)&s->poll, on_closed);
    uv_close((uv_handle_t *)&s->tick, on_closed);
}

static const struct fwup_link_ops serial_ops = {serial_submit, serial_control, serial_fd,
                                                serial_close};

/* The framing a protocol asks for ("8E1"), applied when the link leaves
 * parity open; a link's explicit parity always wins. */
static int apply_framing(struct fwup_cfg_link *link, const struct fwup_link_req *req,
                         const char *proto, char *err, size_t errlen)
{
    if (!req || !FWUP_HAS_FIELD(req, struct fwup_link_req, framing) || !req->framing[0] ||
        link->parity_set)
        return 0;
    const char *f = req->framing, *p = strchr("NEO", f[1]);
    if (f[0] < '5' || f[0] > '8' || !f[1] || !p || (f[2] != '1' && f[2] != '2') || f[3]) {
        snprintf(err, errlen, "%s: protocol %s asks for framing '%.4s', not like 8N1 or 8E1",
                 link->name, proto, f);
        return FWUP_LINK_EPERM;
    }
    link->parity = (enum fwup_parity)(p - "NEO");
    return 0;
}

int fwup_serial_link_open(uv_loop_t *loop, const struct fwup_cfg_link *cfg,
                          const struct fwup_cfg_device *dev, const struct fwup_link_req *req,
                          struct fwup_link **out, char *err, size_t errlen)
{
    struct fwup_cfg_link link = *cfg;
    const char *proto = dev && dev->protocol ? dev->protocol : "?";
    int rc = apply_framing(&link, req, proto, err, errlen);
    if (rc < 0)
        return rc;
    /* Named in a framing error only when it chose a parity. */
    const char *parity_from = !cfg->parity_set && link.parity != FWUP_PARITY_NONE ? proto : NULL;
    int fd = open(link.path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", link.path, strerror(errno));
        return -1;
    }
    /* Exclusive: a second opener (another link naming the same port, a
     * modem manager) gets EBUSY instead of stealing bytes. */
    if (ioctl(fd, TIOCEXCL) < 0) {
        snprintf(err, errlen, "%s: cannot lock port: %s", link.path, strerror(errno));
        close(fd);
        return -1;
    }
    if ((rc = configure(fd, &link, parity_from, err, errlen)) < 0) {
        close(fd);
        return rc;
    }
    struct serial_link *s = calloc(1, sizeof(*s));
    if (!s || uv_poll_init(loop, &s->poll, fd) < 0) {
        snprintf(err, errlen, "%s: cannot watch port", link.path);
        free(s);
        close(fd);
        return -1;
    }
    static const char parities[] = {
        [FWUP_PARITY_NONE] = 'N', [FWUP_PARITY_EVEN] = 'E', [FWUP_PARITY_ODD] = 'O'};
    static const uint8_t flows[] = {[FWUP_FLOW_NONE] = FWUP_FLOW_CONTROL_NONE,
                                    [FWUP_FLOW_RTSCTS] = FWUP_FLOW_CONTROL_RTSCTS,
                                    [FWUP_FLOW_XONXOFF] = FWUP_FLOW_CONTROL_XONXOFF};
    s->serial = (struct fwup_serial_info){
        .struct_size = sizeof(s->serial),
        .baud = link.baud,
        .data_bits = (uint8_t)(link.data_bits ? link.data_bits : 8),
        .parity = parities[link.parity],
        .stop_bits = (uint8_t)(link.stop_bits == 2 ? 2 : 1),
        .flow = flows[link.flow],
    };
    s->bits_per_char =
        1u + s->serial.data_bits + (link.parity != FWUP_PARITY_NONE) + s->serial.stop_bits;
    s->base.ops = &serial_ops;
    s->base.info = (struct fwup_link_info){.struct_size = sizeof(s->base.info),
                                           .kind = FWUP_LINK_SERIAL,
                                           .name = cfg->name,
                                           .serial = &s->serial};
    s->loop = loop;
    s->fd = fd;
    s->poll.data = s;
    uv_timer_init(loop, &s->tick);
    s->tick.data = s;
    s->handles = 2;
    s->events = UV_READABLE;
    uv_poll_start(&s->poll, UV_READABLE, on_poll);
    *out = &s->base;
    return 0;
}
