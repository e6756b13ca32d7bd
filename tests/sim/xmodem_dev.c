/*
 * Simulated XMODEM / XMODEM-1K / YMODEM receiver, modelled on lrzsz's rx/rb:
 * start byte every start_interval ('C', falling back to NAK after three
 * tries), purge-then-NAK on a damaged block, ACK-and-discard of a repeated
 * block, CAN on a block out of sequence, optional "ACK EOT only after line
 * silence". Fault options make it misbehave on purpose.
 *
 * Options (comma separated key=value):
 *   mode=crc|checksum   start byte 'C' or NAK (default crc)
 *   crc_only=0|1        never fall back from 'C' to NAK
 *   accept_1k=1|0       accept STX (1024-byte) blocks
 *   start_interval=ms   start byte repeat period (3000)
 *   block_timeout=ms    NAK after this much silence between blocks (10000)
 *   char_timeout=ms     silence inside a block, and purge time before a NAK (1000)
 *   eot_silence=ms      ACK EOT only after this much silence (0: at once)
 *   max_errors=N        consecutive errors before giving up with CAN (10)
 *   nak_blocks=a/b/..   NAK these block numbers (1-based, unwrapped) once each
 *   cancel_at=N         send CAN when block N arrives
 *   silent_after=N      stop answering after ACKing N blocks (0: never starts)
 *   max_size=bytes      CAN once a block would start at or past this offset
 *                       (XMODEM cannot tell padding from data), or when a
 *                       YMODEM header announces more
 *   expect_name=NAME    YMODEM: CAN unless block 0 carries this file name
 *
 * The CRC here is a bitwise implementation on purpose: it is an independent
 * check of the engine's table-driven one.
 */
#include "simdev.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SOH 0x01
#define STX 0x02
#define EOT 0x04
#define ACK 0x06
#define BS  0x08
#define NAK 0x15
#define CAN 0x18

#define MAX_NAK_BLOCKS 32

enum phase {
    P_OFF,      /* before start() */
    P_START,    /* sending start bytes, nothing received yet */
    P_HEADER,   /* waiting for SOH/STX/EOT */
    P_BLOCK,    /* collecting a block */
    P_PURGE,    /* damaged block: wait for silence, then NAK */
    P_EOT,      /* EOT seen, waiting for eot_silence */
    P_COMPLETE, /* done; still ACKs a repeated EOT / end-of-batch block */
    P_ABORTED,
    P_SILENT, /* playing dead */
};

struct simdev {
    struct simdev_head head; /* must stay first, see simdev.h */

    /* options */
    int opt_crc, crc_only, accept_1k;
    uint32_t start_interval, block_timeout, char_timeout, eot_silence;
    unsigned max_errors;
    uint32_t nak_blocks[MAX_NAK_BLOCKS];
    uint8_t nak_done[MAX_NAK_BLOCKS];
    size_t n_nak;
    uint32_t cancel_at;
    long silent_after; /* -1: never */
    uint64_t max_size; /* 0: unlimited */
    char expect_name[128];
    int have_expect_name;

    /* transfer */
    enum phase phase;
    int crc;
    unsigned start_tries;
    unsigned errors;
    unsigned cans;
    uint32_t expected; /* next block number, 1-based unwrapped */
    uint64_t blocks_acked;
    int ymodem;     /* block 0 seen */
    int ybatch_end; /* EOT ACKed, waiting for the empty block 0 */
    uint64_t ysize; /* size announced in block 0 */
    uint8_t blk[3 + 1024 + 2];
    size_t blk_pos, blk_need;

    uint8_t *rx;
    size_t rx_len, rx_cap;
    uint8_t *content;
    size_t content_len;
};
_Static_assert(offsetof(struct simdev, head) == 0,
               "simdev.c reads the head through the device pointer");

static uint16_t crc16_bitwise(const uint8_t *d, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(d[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

static void put(struct simdev *d, uint8_t b)
{
    simdev_send(&d->head, &b, 1);
}

static void arm(struct simdev *d, uint32_t ms)
{
    simdev_timer(&d->head, ms);
}

/* ---- options ---- */

static int parse_u(const char *v, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 0);
    if (errno || end == v || *end || x > max || *v == '-')
        return -1;
    *out = x;
    return 0;
}

static int set_option(struct simdev *d, const char *k, const char *v, char *err, size_t errlen)
{
    uint64_t x = 0;
    if (strcmp(k, "mode") == 0) {
        if (strcmp(v, "crc") == 0)
            d->opt_crc = 1;
        else if (strcmp(v, "checksum") == 0)
            d->opt_crc = 0;
        else
            goto bad;
        return 0;
    }
    if (strcmp(k, "expect_name") == 0) {
        snprintf(d->expect_name, sizeof(d->expect_name), "%s", v);
        d->have_expect_name = 1;
        return 0;
    }
    if (strcmp(k, "nak_blocks") == 0) {
        char tmp[256];
        snprintf(tmp, sizeof(tmp), "%s", v);
        for (char *save = NULL, *t = strtok_r(tmp, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
            if (d->n_nak == MAX_NAK_BLOCKS || parse_u(t, UINT32_MAX, &x) < 0 || x == 0)
                goto bad;
            d->nak_blocks[d->n_nak++] = (uint32_t)x;
        }
        return 0;
    }
    if (parse_u(v, UINT32_MAX, &x) < 0)
        goto bad;
    if (strcmp(k, "crc_only") == 0 && x <= 1)
        d->crc_only = (int)x;
    else if (strcmp(k, "accept_1k") == 0 && x <= 1)
        d->accept_1k = (int)x;
    else if (strcmp(k, "start_interval") == 0 && x > 0)
        d->start_interval = (uint32_t)x;
    else if (strcmp(k, "block_timeout") == 0 && x > 0)
        d->block_timeout = (uint32_t)x;
    else if (strcmp(k, "char_timeout") == 0 && x > 0)
        d->char_timeout = (uint32_t)x;
    else if (strcmp(k, "eot_silence") == 0)
        d->eot_silence = (uint32_t)x;
    else if (strcmp(k, "max_errors") == 0 && x > 0)
        d->max_errors = (unsigned)x;
    else if (strcmp(k, "cancel_at") == 0)
        d->cancel_at = (uint32_t)x;
    else if (strcmp(k, "silent_after") == 0)
        d->silent_after = (long)x;
    else if (strcmp(k, "max_size") == 0)
        d->max_size = x;
    else
        goto bad;
    return 0;
bad:
    snprintf(err, errlen, "xmodem device: bad option %s=%s", k, v);
    return -1;
}

static int parse_options(struct simdev *d, const char *options, char *err, size_t errlen)
{
    char buf[1024];
    if (!options || !*options)
        return 0;
    if (strlen(options) >= sizeof(buf)) {
        snprintf(err, errlen, "xmodem device: options too long");
        return -1;
    }
    memcpy(buf, options, strlen(options) + 1);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        if (!eq) {
            snprintf(err, errlen, "xmodem device: option without value: %s", t);
            return -1;
        }
        *eq = '\0';
        if (set_option(d, t, eq + 1, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* ---- receiver ---- */

static void cancel(struct simdev *d)
{
    static const uint8_t seq[] = {CAN, CAN, CAN, CAN, CAN, CAN, CAN, CAN,
                                  BS,  BS,  BS,  BS,  BS,  BS,  BS,  BS};
    simdev_send(&d->head, seq, sizeof(seq));
    d->phase = P_ABORTED;
    d->head.status = SIMDEV_ABORTED;
    arm(d, 0);
}

static void go_silent(struct simdev *d)
{
    d->phase = P_SILENT;
    arm(d, 0);
}

static void wait_header(struct simdev *d)
{
    d->phase = P_HEADER;
    arm(d, d->block_timeout);
}

/* A damaged or unexpected frame: like rx, swallow the rest of it (wait for
 * silence) so the NAK does not race with bytes still arriving. */
static void purge(struct simdev *d)
{
    if (d->head.status == SIMDEV_COMPLETE) { /* only listening for repeats */
        d->phase = P_COMPLETE;
        arm(d, 0);
        return;
    }
    if (++d->errors >= d->max_errors) {
        cancel(d);
        return;
    }
    d->phase = P_PURGE;
    arm(d, d->char_timeout);
}

static void complete(struct simdev *d)
{
    free(d->content);
    d->content = d->rx;
    d->content_len = d->rx_len;
    if (d->ymodem && d->ysize <= d->content_len)
        d->content_len = (size_t)d->ysize; /* rb truncates to the announced size */
    d->rx = NULL;
    d->rx_len = d->rx_cap = 0;
    d->head.completions++;
    d->phase = P_COMPLETE;
    d->head.status = SIMDEV_COMPLETE;
    arm(d, 0);
}

static void ack_eot(struct simdev *d)
{
    put(d, ACK);
    if (d->ymodem) {
        d->ybatch_end = 1;
        put(d, 'C');
        wait_header(d);
    } else {
        complete(d);
    }
}

static int append(struct simdev *d, const uint8_t *data, size_t n)
{
    if (d->rx_len + n > d->rx_cap) {
        size_t cap = d->rx_cap ? d->rx_cap * 2 : 4096;
        while (cap < d->rx_len + n)
            cap *= 2;
        uint8_t *p = realloc(d->rx, cap);
        if (!p)
            return -1;
        d->rx = p;
        d->rx_cap = cap;
    }
    memcpy(d->rx + d->rx_len, data, n);
    d->rx_len += n;
    return 0;
}

static int take_nak(struct simdev *d, uint32_t blockno)
{
    for (size_t i = 0; i < d->n_nak; i++) {
        if (d->nak_blocks[i] == blockno && !d->nak_done[i]) {
            d->nak_done[i] = 1;
            return 1;
        }
    }
    return 0;
}

/* YMODEM block 0: "name\0size ...". */
static void header_block(struct simdev *d, const uint8_t *data, size_t len)
{
    if (data[0] == '\0') { /* empty batch */
        put(d, ACK);
        wait_header(d);
        return;
    }
    const char *name = (const char *)data;
    size_t nlen = strnlen(name, len);
    if (nlen >= len - 1 || (d->have_expect_name && strcmp(name, d->expect_name) != 0)) {
        cancel(d);
        return;
    }
    d->ysize = strtoull(name + nlen + 1, NULL, 10);
    if (d->max_size && d->ysize > d->max_size) {
        cancel(d);
        return;
    }
    d->ymodem = 1;
    put(d, ACK);
    put(d, 'C');
    wait_header(d);
}

static void handle_block(struct simdev *d)
{
    const uint8_t *b = d->blk;
    size_t len = b[0] == STX ? 1024 : 128;
    const uint8_t *data = b + 3;
    int ok;

    if ((uint8_t)(b[1] ^ b[2]) != 0xff) {
        purge(d);
        return;
    }
    if (d->crc) {
        uint16_t c = crc16_bitwise(data, len);
        ok = data[len] == (uint8_t)(c >> 8) && data[len + 1] == (uint8_t)c;
    } else {
        uint8_t sum = 0;
        for (size_t i = 0; i < len; i++)
            sum = (uint8_t)(sum + data[i]);
        ok = data[len] == sum;
    }
    if (!ok) {
        purge(d);
        return;
    }
    d->errors = 0;

    if (d->head.status == SIMDEV_COMPLETE) {
        /* The end-of-batch block again: our ACK was lost. */
        if (b[1] == 0)
            put(d, ACK);
        d->phase = P_COMPLETE;
        arm(d, 0);
        return;
    }
    if (d->ybatch_end) {
        if (b[1] == 0) {
            put(d, ACK);
            complete(d);
        } else {
            cancel(d);
        }
        return;
    }
    if (b[1] == 0 && d->expected == 1) {
        header_block(d, data, len);
        return;
    }
    if (b[1] == (uint8_t)d->expected) {
        if (take_nak(d, d->expected)) {
            put(d, NAK);
            wait_header(d);
            return;
        }
        if (d->cancel_at && d->expected == d->cancel_at) {
            cancel(d);
            return;
        }
        if (d->max_size && d->rx_len >= d->max_size) {
            cancel(d);
            return;
        }
        if (append(d, data, len) < 0) {
            cancel(d);
            return;
        }
        d->expected++;
        d->blocks_acked++;
        put(d, ACK);
        if (d->silent_after >= 0 && d->blocks_acked >= (uint64_t)d->silent_after)
            go_silent(d);
        else
            wait_header(d);
        return;
    }
    if (b[1] == (uint8_t)(d->expected - 1)) {
        put(d, ACK); /* our ACK was lost: the sender repeated the block */
        wait_header(d);
        return;
    }
    cancel(d); /* lost sync: XMODEM cannot recover */
}

static void start_block(struct simdev *d, uint8_t first, size_t need)
{
    d->blk[0] = first;
    d->blk_pos = 1;
    d->blk_need = need;
    d->phase = P_BLOCK;
    if (d->head.status == SIMDEV_IDLE)
        d->head.status = SIMDEV_BUSY;
    arm(d, d->char_timeout);
}

static void on_byte(struct simdev *d, uint8_t c)
{
    switch (d->phase) {
    case P_BLOCK:
        d->blk[d->blk_pos++] = c;
        if (d->blk_pos == d->blk_need)
            handle_block(d);
        else
            arm(d, d->char_timeout);
        return;
    case P_PURGE:
        arm(d, d->char_timeout);
        return;
    case P_EOT:
        /* lrzsz: an EOT counts only if the line stays quiet after it;
         * otherwise it was a block number (4) whose SOH was lost. */
        if (c == EOT)
            arm(d, d->eot_silence);
        else
            purge(d);
        return;
    case P_START:
    case P_HEADER:
    case P_COMPLETE:
        break;
    default:
        return;
    }

    if (c == CAN) {
        if (++d->cans >= 2 && d->phase != P_COMPLETE) {
            d->phase = P_ABORTED;
            d->head.status = SIMDEV_ABORTED;
            arm(d, 0);
        }
        return;
    }
    d->cans = 0;

    size_t trailer = d->crc ? 2 : 1;
    if (c == SOH) {
        start_block(d, c, 3 + 128 + trailer);
    } else if (c == STX && d->accept_1k && d->crc) {
        start_block(d, c, 3 + 1024 + trailer);
    } else if (c == EOT && d->phase == P_COMPLETE) {
        put(d, ACK); /* our ACK of the EOT was lost */
    } else if (c == EOT && d->phase == P_HEADER && d->ybatch_end) {
        put(d, ACK); /* repeated EOT: our ACK was lost */
        put(d, 'C');
        arm(d, d->block_timeout);
    } else if (c == EOT && d->phase == P_HEADER) {
        if (d->eot_silence) {
            d->phase = P_EOT;
            arm(d, d->eot_silence);
        } else {
            ack_eot(d);
        }
    } else if (d->phase == P_HEADER) {
        purge(d);
    }
    /* P_START / P_COMPLETE: ignore noise */
}

static void send_start(struct simdev *d)
{
    put(d, d->crc ? 'C' : NAK);
    arm(d, d->start_interval);
}

static void dev_start(struct simdev *d)
{
    free(d->rx);
    d->rx = NULL;
    d->rx_len = d->rx_cap = 0;
    memset(d->nak_done, 0, sizeof(d->nak_done));
    d->crc = d->opt_crc;
    d->start_tries = 0;
    d->errors = 0;
    d->cans = 0;
    d->expected = 1;
    d->blocks_acked = 0;
    d->ymodem = d->ybatch_end = 0;
    d->ysize = 0;
    d->head.status = SIMDEV_IDLE;
    if (d->silent_after == 0) {
        go_silent(d);
        return;
    }
    d->phase = P_START;
    send_start(d);
}

static void dev_on_rx(struct simdev *d, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        on_byte(d, data[i]);
}

static void dev_on_timer(struct simdev *d)
{
    switch (d->phase) {
    case P_START:
        /* rx: three 'C's, then assume a checksum-only sender. */
        if (d->crc && !d->crc_only && ++d->start_tries >= 3)
            d->crc = 0;
        send_start(d);
        break;
    case P_HEADER:
        if (++d->errors >= d->max_errors) {
            cancel(d);
            break;
        }
        put(d, NAK);
        arm(d, d->block_timeout);
        break;
    case P_BLOCK: /* the block stalled: a byte was lost; the line is already silent */
        if (d->head.status == SIMDEV_COMPLETE) {
            d->phase = P_COMPLETE;
            break;
        }
        if (++d->errors >= d->max_errors) {
            cancel(d);
            break;
        }
        put(d, NAK);
        wait_header(d);
        break;
    case P_PURGE:
        put(d, NAK);
        wait_header(d);
        break;
    case P_EOT:
        ack_eot(d);
        break;
    default:
        break;
    }
}

static struct simdev *dev_create(const char *options, const struct simdev_io *io, void *ctx,
                                 char *err, size_t errlen)
{
    struct simdev *d = simdev_alloc(sizeof(*d), io, ctx, err, errlen);
    if (!d)
        return NULL;
    d->opt_crc = 1;
    d->accept_1k = 1;
    d->start_interval = 3000;
    d->block_timeout = 10000;
    d->char_timeout = 1000;
    d->max_errors = 10;
    d->silent_after = -1;
    if (parse_options(d, options, err, errlen) < 0) {
        free(d);
        return NULL;
    }
    d->phase = P_OFF;
    return d;
}

static void dev_destroy(struct simdev *d)
{
    if (!d)
        return;
    free(d->rx);
    free(d->content);
    free(d);
}

static const uint8_t *dev_content(const struct simdev *d, size_t *len)
{
    *len = d->content_len;
    return d->content;
}

const struct simdev_class simdev_xmodem = {
    .name = "xmodem",
    .create = dev_create,
    .destroy = dev_destroy,
    .start = dev_start,
    .on_rx = dev_on_rx,
    .on_timer = dev_on_timer,
    .state = simdev_head_state,
    .content = dev_content,
    .completions = simdev_head_completions,
};
