/*
 * XMODEM / XMODEM-1K / YMODEM (single file) sender as a sans-I/O engine.
 *
 * The image is sent as one flat file: the bytes from the lowest segment
 * address to the end of the highest segment, with gaps filled with 0xFF (the
 * erase value of NOR flash, so writing the gap leaves it as erased) and the
 * last block padded with the `pad` option (0x1A, CP/M's EOF, by default).
 * Only the current block is held in memory; it is rebuilt from the segments.
 * Every block, EOT and YMODEM block 0 goes out as one unit completed on the
 * wire: the answer's timeout starts when its last byte has left the UART,
 * however slow the line (a 1K block takes 8.6 s at 1200 baud).
 *
 * Progress reports count flattened bytes (gap fill included, final padding
 * excluded) out of the flattened length.
 */
#include <fwupgw/protocol.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc16.h"
#include "common/engine.h"
#include "common/options.h"

#define SOH       0x01
#define STX       0x02
#define EOT       0x04
#define ACK       0x06
#define BS        0x08
#define NAK       0x15
#define CAN       0x18
#define CRC_START 'C'

/* The engine's one timer: the receiver's answer, the resync window and the
 * guard, the start byte. */
#define T_WAIT 0

/* sx -k's rule: once this little is left, 128-byte blocks waste less than a padded 1K block. */
#define SMALL_TAIL 896

enum xm_mode { MODE_AUTO, MODE_CRC, MODE_CHECKSUM };

/*
 * After a timeout the receiver has usually timed out as well and its NAK
 * may be on the way. Resending blindly would put two copies of the block in
 * flight; both get answered and the second ACK would be taken for the next
 * block, which desynchronises the transfer. So a timeout is followed by a
 * RESYNC window (stale input flushed, a NAK in it triggers the one resend),
 * and a resend made when the window expires by a short GUARD during which
 * NAKs are ignored: they predate the new copy, which an lrzsz-like receiver
 * cannot NAK before purging the line for a second.
 */
enum xm_wait { W_ANSWER, W_RESYNC, W_GUARD };

/*
 * A receiver that waits for a sender repeats its start byte ('C', or NAK
 * once it has fallen back to checksum mode) every second or so, and all of
 * them are still queued when the job begins. Only the latest one says what
 * the receiver wants now: the mode comes from it and the rest, with anything
 * still queued, is dropped before block 1 leaves. One more may already be
 * on its way as block 1 goes out, so a NAK of the first block is not
 * answered at once: it opens the resync window, in which the receiver's ACK
 * (the NAK was stale) or its next request (it was real) settles the matter,
 * and the window's end resends block 1 under a guard, as after a timeout.
 */

enum xm_state {
    XS_INIT,
    XS_CONNECT,  /* waiting for the receiver's 'C' or NAK */
    XS_HDR,      /* YMODEM block 0 sent, waiting for its ACK */
    XS_HDR_C,    /* block 0 ACKed, waiting for the 'C' that asks for data */
    XS_DATA,     /* data block sent, waiting for ACK/NAK */
    XS_EOT,      /* EOT sent, waiting for ACK */
    XS_END_C,    /* YMODEM: waiting for 'C' before the empty block 0 */
    XS_END,      /* YMODEM: empty block 0 sent, waiting for ACK */
    XS_FINISHED, /* finish() called: no more host calls */
};

struct xm_opts {
    enum xm_mode mode;
    int block1k;
    int ymodem;
    uint8_t pad;
    unsigned retries;
    uint32_t start_timeout;
    uint32_t block_timeout;
    uint32_t eot_retry;
};

struct fwup_engine {
    const struct fwup_host_ops *ops;
    void *host;
    const struct fwup_image *image;
    struct xm_opts o;
    struct fwup_line line; /* the link's speed and framing */
    char filename[96];

    uint64_t base;     /* absolute address of flat offset 0 */
    uint64_t flat_len; /* flattened length */

    enum xm_state state;
    int crc;           /* 1: CRC-16 trailer, 0: 8-bit checksum */
    int first_block;   /* the first block (data, or YMODEM block 0) is unacknowledged */
    uint64_t offset;   /* flat offset of the current data block */
    size_t blk_len;    /* 128 or 1024 */
    uint32_t seqno;    /* 1-based, unwrapped; the wire carries seqno & 0xff */
    unsigned failures; /* NAKs and timeouts on the current block / EOT */
    unsigned cans;     /* consecutive CAN bytes received */
    uint32_t cur_timeout;
    uint32_t tag;      /* of the unit in flight */
    int tx_pending;    /* sent, not yet on the wire */
    enum xm_wait wait; /* what the timer is counting */

    uint8_t frame[3 + 1024 + 2];
    size_t frame_len;
};

static const struct fwup_option_desc xm_options[] = {
    {"mode", FWUP_OPT_ENUM, "auto", "auto|crc|checksum", 0, 0,
     "auto follows the receiver's start byte: 'C' selects CRC-16, NAK the 8-bit checksum"},
    {"block", FWUP_OPT_ENUM, "1k", "1k|128", 0, 0,
     "block size; 1K blocks are only used in CRC mode"},
    {"ymodem", FWUP_OPT_BOOL, "false", NULL, 0, 0,
     "send a YMODEM batch: block 0 with \"<device>.bin\" and the size, the data, an empty block 0"},
    {"pad", FWUP_OPT_INT, "0x1a", NULL, 0, 255, "fill byte of the last block"},
    {"retries", FWUP_OPT_INT, "10", NULL, 1, 1000,
     "NAKs/timeouts tolerated on one block before cancelling"},
    {"start_timeout", FWUP_OPT_INT, "60000", NULL, 100, 3600000,
     "ms to wait for the receiver's first 'C' or NAK"},
    {"block_timeout", FWUP_OPT_INT, "10000", NULL, 100, 600000,
     "ms to wait for ACK/NAK after a block has been sent"},
    {"eot_retry", FWUP_OPT_INT, "2000", NULL, 100, 600000,
     "ms before re-sending EOT (lrzsz rx ACKs EOT only after 1 s of silence)"},
};

#define NOPTIONS (sizeof(xm_options) / sizeof(xm_options[0]))

/* ---- options ---- */

static int parse_options(const struct fwup_job_params *p, struct xm_opts *o, char *err,
                         size_t errlen)
{
    struct fwup_opts r;
    int64_t pad, retries, start, blk, eot;
    int mode, block1k;
    if (fwup_opts_init(&r, "xmodem", xm_options, NOPTIONS, p, err, errlen) < 0)
        return -1;
    /* "1K" and "1024" are accepted as block sizes besides the schema's words */
    const char *b = fwup_opt_value(&r, "block");
    if (b && (strcmp(b, "1K") == 0 || strcmp(b, "1024") == 0))
        block1k = 1;
    else if ((block1k = fwup_opt_enum(&r, "block")) < 0)
        return -1;
    else
        block1k = block1k == 0;
    if ((mode = fwup_opt_enum(&r, "mode")) < 0 || fwup_opt_bool(&r, "ymodem", &o->ymodem) != 0 ||
        fwup_opt_int(&r, "pad", &pad) != 0 || fwup_opt_int(&r, "retries", &retries) != 0 ||
        fwup_opt_int(&r, "start_timeout", &start) != 0 ||
        fwup_opt_int(&r, "block_timeout", &blk) != 0 || fwup_opt_int(&r, "eot_retry", &eot) != 0)
        return -1;
    o->mode = (enum xm_mode)mode; /* the order of the choices */
    o->block1k = block1k;
    o->pad = (uint8_t)pad;
    o->retries = (unsigned)retries;
    o->start_timeout = (uint32_t)start;
    o->block_timeout = (uint32_t)blk;
    o->eot_retry = (uint32_t)eot;
    return 0;
}

/* ---- image flattening ---- */

static int xm_check_image(const struct fwup_job_params *params, char *err, size_t errlen)
{
    struct xm_opts o;
    uint64_t base, len;
    if (parse_options(params, &o, err, errlen) < 0)
        return -1;
    if (fwup_image_extent(params->image, &base, &len) < 0) {
        snprintf(err, errlen, "xmodem: empty image");
        return -1;
    }
    if (params->flash_size != 0 && len > params->flash_size) {
        snprintf(err, errlen,
                 "xmodem: flattened image is %llu bytes (0x%llx..0x%llx), flash holds %u",
                 (unsigned long long)len, (unsigned long long)base,
                 (unsigned long long)(base + len), params->flash_size);
        return -1;
    }
    return 0;
}

/* Copy flat bytes [off, off+len) into dst: gaps 0xFF, beyond the end `pad`. */
static void fill_flat(struct fwup_engine *e, uint8_t *dst, uint64_t off, size_t len)
{
    size_t in = 0;
    if (off < e->flat_len)
        in = (size_t)(e->flat_len - off < len ? e->flat_len - off : len);
    fwup_image_copy(e->image, e->base + off, in, 0xff, dst);
    memset(dst + in, e->o.pad, len - in);
}

/* ---- framing ---- */

static void frame_trailer(struct fwup_engine *e, size_t data_len)
{
    uint8_t *d = e->frame + 3;
    if (e->crc) {
        uint16_t c = fwup_crc16_ccitt(FWUP_CRC16_XMODEM_INIT, d, data_len);
        d[data_len] = (uint8_t)(c >> 8);
        d[data_len + 1] = (uint8_t)c;
        e->frame_len = 3 + data_len + 2;
    } else {
        uint8_t sum = 0;
        for (size_t i = 0; i < data_len; i++)
            sum = (uint8_t)(sum + d[i]);
        d[data_len] = sum;
        e->frame_len = 3 + data_len + 1;
    }
}

static void build_data_block(struct fwup_engine *e)
{
    uint64_t left = e->flat_len - e->offset;
    e->blk_len = (e->crc && e->o.block1k && left > SMALL_TAIL) ? 1024 : 128;
    e->frame[0] = e->blk_len == 1024 ? STX : SOH;
    e->frame[1] = (uint8_t)e->seqno;
    e->frame[2] = (uint8_t)~e->seqno;
    fill_flat(e, e->frame + 3, e->offset, e->blk_len);
    frame_trailer(e, e->blk_len);
}

/* YMODEM block 0: "name\0size\0" (empty name = end of batch), NUL filled. */
static void build_block0(struct fwup_engine *e, int end_of_batch)
{
    e->frame[0] = SOH;
    e->frame[1] = 0x00;
    e->frame[2] = 0xff;
    memset(e->frame + 3, 0, 128);
    if (!end_of_batch) {
        size_t n = strlen(e->filename);
        memcpy(e->frame + 3, e->filename, n);
        snprintf((char *)e->frame + 3 + n + 1, 128 - n - 1, "%llu",
                 (unsigned long long)e->flat_len);
    }
    frame_trailer(e, 128);
}

/* ---- host helpers ---- */

static void finish(struct fwup_engine *e, enum fwup_result r, const char *msg)
{
    if (e->state == XS_FINISHED)
        return;
    e->ops->timer(e->host, T_WAIT, 0);
    e->state = XS_FINISHED;
    e->ops->finish(e->host, r, msg);
}

/* The shared logger bound to this engine's host. */
#define logf_(e, ...) fwup_logf((e)->ops, (e)->host, __VA_ARGS__)

/* Send a unit that completes on the wire; its answer's timeout (the
 * receiver's time plus its one byte on the line) starts at the completion. */
static void send_and_wait(struct fwup_engine *e, const uint8_t *d, size_t n, uint32_t timeout)
{
    e->cur_timeout = timeout + fwup_line_ms(&e->line, 1);
    e->tx_pending = 1;
    e->wait = W_ANSWER;
    e->ops->timer(e->host, T_WAIT, 0);
    if (fwup_send_bytes(e->ops, e->host, d, n, ++e->tag, FWUP_SUBMIT_ON_WIRE,
                        fwup_line_tx_timeout(&e->line, n, timeout)) < 0)
        finish(e, FWUP_RESULT_TRANSIENT, "xmodem: link lost");
}

/* CAN x8 then BS x8, as sz does: the backspaces erase the CANs if the other
 * end turns out to be a shell. */
static void send_cancel(struct fwup_engine *e)
{
    uint8_t seq[16];
    memset(seq, CAN, 8);
    memset(seq + 8, BS, 8);
    fwup_send_bytes(e->ops, e->host, seq, sizeof(seq), 0, 0, 0);
}

static void give_up(struct fwup_engine *e, const char *what)
{
    char msg[160];
    if (e->state == XS_EOT)
        snprintf(msg, sizeof(msg), "xmodem: EOT not acknowledged after %u tries (%s)", e->failures,
                 what);
    else if (e->state == XS_DATA)
        snprintf(msg, sizeof(msg), "xmodem: block %u (offset %llu) failed %u times (last: %s)",
                 e->seqno, (unsigned long long)e->offset, e->failures, what);
    else
        snprintf(msg, sizeof(msg), "xmodem: YMODEM block 0 failed %u times (last: %s)", e->failures,
                 what);
    send_cancel(e);
    finish(e, FWUP_RESULT_TRANSIENT, msg);
}

static void send_current(struct fwup_engine *e)
{
    if (e->state == XS_EOT) {
        static const uint8_t eot = EOT;
        send_and_wait(e, &eot, 1, e->o.eot_retry);
    } else {
        send_and_wait(e, e->frame, e->frame_len, e->o.block_timeout);
    }
}

static uint32_t resync_ms(const struct fwup_engine *e)
{
    uint32_t ms = e->o.block_timeout / 10;
    return ms < 50 ? 50 : ms > 1000 ? 1000 : ms;
}

/* A NAK or a timeout on the thing in flight; `resync`: the answer may be
 * stale or on its way, so listen before resending. */
static void failed(struct fwup_engine *e, const char *what, int resync)
{
    e->failures++;
    if (e->failures >= e->o.retries) {
        give_up(e, what);
        return;
    }
    resync = resync && e->state != XS_EOT;
    logf_(e, FWUP_LOG_DEBUG, "xmodem: %s on %s %u, resending%s", what,
          e->state == XS_EOT ? "EOT" : "block", e->state == XS_EOT ? e->failures : e->seqno,
          resync ? " after a resync window" : "");
    if (resync) {
        /* (a duplicated EOT is harmless: no resync for it) */
        fwup_flush_rx(e->ops, e->host);
        e->wait = W_RESYNC;
        e->ops->timer(e->host, T_WAIT, resync_ms(e));
        return;
    }
    send_current(e);
}

static void start_data_block(struct fwup_engine *e)
{
    e->state = XS_DATA;
    e->failures = 0;
    build_data_block(e);
    send_current(e);
}

static void start_eot(struct fwup_engine *e)
{
    e->state = XS_EOT;
    e->failures = 0;
    e->ops->progress(e->host, "finish", e->flat_len, e->flat_len);
    send_current(e);
}

/* The receiver's latest start byte selected a mode; `stale` earlier ones
 * were queued before it. */
static void begin(struct fwup_engine *e, int crc, unsigned stale)
{
    e->crc = crc;
    e->failures = 0;
    if (stale)
        logf_(e, FWUP_LOG_INFO, "xmodem: receiver ready, %s mode (%u earlier start bytes dropped)",
              crc ? "CRC-16" : "checksum", stale);
    else
        logf_(e, FWUP_LOG_INFO, "xmodem: receiver ready, %s mode", crc ? "CRC-16" : "checksum");
    /* Bytes still queued are older than block 1: none can answer it. */
    fwup_flush_rx(e->ops, e->host);
    e->first_block = 1;
    if (e->o.ymodem) {
        e->state = XS_HDR;
        build_block0(e, 0);
        send_current(e);
        return;
    }
    e->ops->progress(e->host, "transfer", 0, e->flat_len);
    start_data_block(e);
}

static void on_ack(struct fwup_engine *e)
{
    switch (e->state) {
    case XS_HDR:
        e->first_block = 0;
        e->state = XS_HDR_C;
        e->failures = 0;
        e->ops->timer(e->host, T_WAIT, e->o.block_timeout);
        break;
    case XS_DATA: {
        e->first_block = 0;
        e->offset += e->blk_len;
        e->seqno++;
        uint64_t done = e->offset < e->flat_len ? e->offset : e->flat_len;
        e->ops->progress(e->host, "transfer", done, e->flat_len);
        if (e->offset >= e->flat_len)
            start_eot(e);
        else
            start_data_block(e);
        break;
    }
    case XS_EOT:
        if (e->o.ymodem) {
            e->state = XS_END_C;
            e->failures = 0;
            e->ops->timer(e->host, T_WAIT, e->o.block_timeout);
        } else {
            finish(e, FWUP_RESULT_OK, NULL);
        }
        break;
    case XS_END:
        finish(e, FWUP_RESULT_OK, NULL);
        break;
    default:
        break; /* stray ACK */
    }
}

static void on_byte(struct fwup_engine *e, uint8_t b)
{
    if (b == CAN) {
        if (++e->cans >= 2)
            finish(e, FWUP_RESULT_TRANSIENT, "xmodem: receiver cancelled");
        return;
    }
    e->cans = 0;

    switch (e->state) {
    case XS_HDR_C:
        if (b == CRC_START || b == NAK) {
            e->ops->progress(e->host, "transfer", 0, e->flat_len);
            e->first_block = 1;
            start_data_block(e);
        }
        break;
    case XS_END_C:
        if (b == CRC_START || b == NAK) {
            e->state = XS_END;
            e->failures = 0;
            build_block0(e, 1);
            send_current(e);
        }
        break;
    case XS_HDR:
    case XS_DATA:
    case XS_EOT:
    case XS_END:
        if (b == ACK) {
            e->wait = W_ANSWER;
            on_ack(e);
        } else if (b == NAK && e->wait == W_RESYNC) {
            send_current(e); /* the answer the resync window waited for */
        } else if (b == NAK && e->wait == W_ANSWER) {
            failed(e, "NAK", e->first_block);
        }
        /* A 'C' while the first block is in flight is the receiver's start
         * byte repeating itself: answering it would duplicate the block. */
        break;
    default:
        break;
    }
}

/* ---- entry points ---- */

static struct fwup_engine *xm_create(const struct fwup_job_params *params,
                                     const struct fwup_host_ops *ops, void *host, char *err,
                                     size_t errlen)
{
    if (xm_check_image(params, err, errlen) < 0)
        return NULL;
    struct fwup_engine *e = fwup_engine_alloc(sizeof(*e), "xmodem", err, errlen);
    if (!e)
        return NULL;
    parse_options(params, &e->o, err, errlen);
    e->line = fwup_line_of(params, 0, 0);
    e->ops = ops;
    e->host = host;
    e->image = params->image;
    fwup_image_extent(params->image, &e->base, &e->flat_len);
    /* The name has to fit block 0 with the size; '/' would make rb create
     * directories. */
    snprintf(e->filename, sizeof(e->filename), "%.80s.bin",
             params->device_id && *params->device_id ? params->device_id : "firmware");
    for (char *p = e->filename; *p; p++)
        if (*p == '/' || *p == ' ')
            *p = '_';
    e->seqno = 1;
    e->state = XS_INIT;
    return e;
}

static void xm_destroy(struct fwup_engine *e)
{
    free(e);
}

static void xm_on_start(struct fwup_engine *e)
{
    if (e->state != XS_INIT)
        return;
    e->state = XS_CONNECT;
    e->ops->progress(e->host, "connect", 0, e->flat_len);
    e->ops->timer(e->host, T_WAIT, e->o.start_timeout);
}

/* Waiting for the receiver: what arrived together is read to its end and
 * the latest word wins, a start byte or CAN CAN (a receiver that gave up on
 * an earlier sender and started over cancels nothing). Anything else is
 * line noise or a banner. */
static void connect_rx(struct fwup_engine *e, const uint8_t *data, size_t len)
{
    unsigned starts = 0;
    int crc = 0, cancelled = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = data[i];
        if (b == CAN) {
            cancelled |= ++e->cans >= 2;
            continue;
        }
        e->cans = 0;
        if ((b == CRC_START && e->o.mode != MODE_CHECKSUM) || (b == NAK && e->o.mode != MODE_CRC)) {
            starts++;
            crc = b == CRC_START;
            cancelled = 0;
        }
    }
    if (cancelled)
        finish(e, FWUP_RESULT_TRANSIENT, "xmodem: receiver cancelled");
    else if (starts)
        begin(e, crc, starts - 1);
}

static void xm_on_rx(struct fwup_engine *e, const uint8_t *data, size_t len)
{
    if (e->state == XS_CONNECT) {
        connect_rx(e, data, len);
        return;
    }
    for (size_t i = 0; i < len && e->state != XS_FINISHED; i++)
        on_byte(e, data[i]);
}

static void xm_on_timer(struct fwup_engine *e, unsigned id)
{
    char msg[128];
    if (id != T_WAIT)
        return;
    switch (e->state) {
    case XS_CONNECT:
        snprintf(msg, sizeof(msg), "xmodem: no start byte ('C' or NAK) from receiver in %u ms",
                 e->o.start_timeout);
        finish(e, FWUP_RESULT_TRANSIENT, msg);
        break;
    case XS_HDR_C:
    case XS_END_C:
        /* The receiver re-sends 'C' on its own; we only bound the wait. */
        if (++e->failures >= e->o.retries) {
            send_cancel(e);
            finish(e, FWUP_RESULT_TRANSIENT, "xmodem: YMODEM receiver did not ask for more");
        } else {
            e->ops->timer(e->host, T_WAIT, e->o.block_timeout);
        }
        break;
    case XS_HDR:
    case XS_DATA:
    case XS_EOT:
    case XS_END:
        if (e->wait == W_RESYNC) {
            send_current(e);
            if (e->state != XS_FINISHED) {
                e->wait = W_GUARD;
                e->ops->timer(e->host, T_WAIT, resync_ms(e) / 2);
            }
        } else if (e->wait == W_GUARD) {
            /* the answer's timeout starts once the copy is on the wire */
            e->wait = W_ANSWER;
            if (!e->tx_pending)
                e->ops->timer(e->host, T_WAIT, e->cur_timeout);
        } else {
            failed(e, "timeout", 1);
        }
        break;
    default:
        break;
    }
}

/* The unit in flight has left the UART, or could not. */
static void xm_on_complete(struct fwup_engine *e, uint32_t tag, uint32_t status)
{
    if (tag != e->tag || !e->tx_pending)
        return; /* an earlier copy's */
    switch (e->state) {
    case XS_HDR:
    case XS_DATA:
    case XS_EOT:
    case XS_END:
        e->tx_pending = 0;
        if (status != FWUP_STATUS_OK)
            failed(e, "transmit timeout", 1);
        else if (e->wait == W_ANSWER)
            e->ops->timer(e->host, T_WAIT, e->cur_timeout);
        break;
    default:
        e->tx_pending = 0;
        break;
    }
}

static void xm_on_cancel(struct fwup_engine *e)
{
    if (e->state == XS_FINISHED)
        return;
    send_cancel(e);
    finish(e, FWUP_RESULT_CANCELLED, "xmodem: cancelled");
}

static void xm_link_lost(struct fwup_engine *e)
{
    finish(e, FWUP_RESULT_TRANSIENT, "xmodem: link lost");
}

static void xm_on_event(struct fwup_engine *e, const struct fwup_event *ev)
{
    static const struct fwup_serial_handlers h = {xm_on_start, xm_on_rx,     xm_on_complete,
                                                  xm_on_timer, xm_on_cancel, xm_link_lost};
    if (e->state != XS_FINISHED)
        fwup_serial_dispatch(&h, e, ev);
}

FWUP_PROTOCOL_EXPORT const struct fwup_protocol FWUP_PROTOCOL_SYMBOL = {
    .abi_version = FWUP_PROTOCOL_ABI_VERSION,
    .struct_size = sizeof(struct fwup_protocol),
    .name = "xmodem",
    .description = "XMODEM (checksum/CRC), XMODEM-1K and single-file YMODEM sender",
    .transports = FWUP_TRANSPORT_SERIAL,
    .options = xm_options,
    .noptions = NOPTIONS,
    .check_image = xm_check_image,
    .create = xm_create,
    .destroy = xm_destroy,
    .on_event = xm_on_event,
};
