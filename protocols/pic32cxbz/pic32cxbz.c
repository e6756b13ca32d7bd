/*
 * Microchip PIC32CX-BZ serial DFU (the bootloader's "programming executive"
 * command set, as driven by Microchip's progctrl.py) as a sans-I/O engine.
 *
 * Wire format: every field is a 32-bit little-endian word; word 0 is
 * (cmd << 16) | operand. There is no length field and no sync byte: the
 * device ends a frame when the line goes quiet, so every command is handed
 * to the host as ONE unit (one burst) and the engine never sends the next
 * one before the reply to the last has arrived. A reply is one word,
 * (cmd << 16) | status, status PASS 0, FAIL 2, NACK 3 (EXEC_VERSION puts the
 * bootloader's version in the low half instead).
 *
 * Replies are parsed as a byte stream: a 4-byte sliding window is matched
 * against the expected command in the high half, so leading garbage, a
 * partial word and stale answers to earlier pings (whose high half is 0x07)
 * are skipped without ever flushing the receive side.
 *
 * The image is written as given: each slot starts with a 0x200-byte signed
 * header that the image must already contain (the bootloader validates it
 * on the next boot); nothing is synthesised here. Bytes between segments and
 * after the end up to a multiple of 4 are sent as 0xFF (erased flash).
 *
 * Timer-triggered DFU: after a reset the bootloader listens for a short
 * window (400-15000 ms) and then starts the application; any command
 * restarts its window. So the engine pings (EXEC_VERSION) every
 * ping_interval ms until an answer comes, then goes straight on: only the
 * first ping has to land inside the window.
 */
#include <fwupgw/protocol.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc16.h"
#include "common/engine.h"
#include "common/options.h"
#include "pic32cxbz.h"

#define CMD_CHIP_ERASE   0x04
#define CMD_PAGE_ERASE   0x05
#define CMD_EXEC_VERSION 0x07
#define CMD_GET_DEVICEID 0x0A
#define CMD_PGM_CLUSTER  0x11 /* PGM_CLUSTER_VERIFY */
#define CMD_RESET        0x12

#define ST_PASS 0
#define ST_FAIL 2
#define ST_NACK 3

#define METHOD_CHECKSUM 1
#define METHOD_CRC      2

#define CLUSTER   4096u
#define PAGE      4096u
#define SLOT_SIZE (512u * 1024u)
#define SLOT0     0x01000000u
#define SLOT1     0x01080000u

/* After the first ping answer, wait this long before the next command so a
 * ping still leaving the host is framed on its own by the device (whose
 * inter-byte gap is a few ms); late ping answers are skipped by the parser. */
#define SETTLE_MS 5
/* trigger=gpio|none: pings tried, and how long each waits. */
#define PROBE_TRIES 5
#define PROBE_MS    200
/* The engine's one timer: pings, the settle time, a command's answer. */
#define T_WAIT 0
/* Extra reply time per erased page. */
#define ERASE_MS_PER_PAGE 25
/* After a silent timeout: how long a late answer is still taken before the
 * command goes again. Timeout + this must stay below the shortest boot
 * window (400 ms): a timer-triggered bootloader that hears nothing for its
 * window leaves for the application, and retries go nowhere. */
#define RESYNC_MS 50

enum trigger { TRIG_TIMER, TRIG_GPIO, TRIG_NONE };

struct pic_opts {
    unsigned slot;
    int crc;
    enum trigger trigger;
    uint32_t window;
    uint32_t ping_interval;
    int reset;
    int chip_erase;
    unsigned retries;
    uint32_t timeout;
    struct fwup_line line; /* for answers: the baud option, else the link's */
    struct fwup_line wire; /* for commands leaving: the link's, else the option's */
};

enum pic_state {
    PS_INIT,
    PS_PING,   /* timer trigger: pinging until the bootloader answers */
    PS_PROBE,  /* gpio/none trigger: a few pings with a timeout each */
    PS_SETTLE, /* answered; letting the line go quiet */
    PS_DEVID,
    PS_ERASE,
    PS_WRITE,
    PS_RESET,
    PS_FINISHED,
};

enum pic_wait { W_ANSWER, W_RESYNC };

struct fwup_engine {
    const struct fwup_host_ops *ops;
    void *host;
    const struct fwup_image *image;
    struct pic_opts o;

    uint32_t slot_base;
    int64_t reloc;     /* added to segment addresses (raw image at 0 -> slot) */
    uint32_t base;     /* device address of flat offset 0 (4-aligned) */
    uint32_t lead;     /* 0xFF bytes before the image's first byte (alignment) */
    uint64_t img_len;  /* image bytes from its first to its last byte */
    uint32_t flat_len; /* lead + img_len rounded up to 4 */
    uint32_t erase_lo; /* page-aligned erase range */
    uint32_t npages;

    enum pic_state state;
    enum pic_wait wait;
    uint32_t elapsed; /* ms spent pinging (timer firings x interval) */
    unsigned probes;
    unsigned version;

    uint8_t expect; /* command whose answer is awaited; 0: none */
    uint8_t win[4];
    size_t wn;
    int want_extra; /* GET_DEVICEID: one more word follows the answer */
    uint8_t extra[4];
    size_t en;

    uint32_t offset; /* flat offset of the cluster in flight */
    uint32_t clen;
    unsigned failures;
    uint32_t cur_timeout;
    uint32_t tag;   /* of the command in flight */
    int tx_pending; /* it has not left the UART yet */

    uint8_t frame[16 + CLUSTER];
    size_t frame_len;
};

static const struct fwup_option_desc pic_options[] = {
    {"slot", FWUP_OPT_INT, "1", NULL, 0, 1,
     "flash slot: 0 at 0x01000000, 1 at 0x01080000 (512 KiB each); the image includes the "
     "slot's 0x200-byte signed header"},
    {"verify", FWUP_OPT_ENUM, "crc", "checksum|crc", 0, 0,
     "PGM_CLUSTER_VERIFY check: CRC-16/CCITT-FALSE or the 32-bit byte sum"},
    {"trigger", FWUP_OPT_ENUM, "timer", "timer|gpio|none", 0, 0,
     "timer: keep pinging until the bootloader's window opens; gpio/none: it is already in DFU "
     "mode, a few pings must answer"},
    {"window", FWUP_OPT_INT, "30000", NULL, 10, 3600000,
     "ms to keep pinging for a timer-triggered bootloader (reset the device meanwhile)"},
    {"ping_interval", FWUP_OPT_INT, "10", NULL, 1, 10,
     "ms between pings; at most 10 so that even a 400 ms window gets dozens of tries"},
    {"reset", FWUP_OPT_BOOL, "true", NULL, 0, 0, "send RESET after programming"},
    {"erase", FWUP_OPT_ENUM, "pages", "pages|chip", 0, 0,
     "erase the 4 KiB pages the image covers, or the whole chip"},
    {"retries", FWUP_OPT_INT, "3", NULL, 1, 100,
     "tries per command (FAIL, NACK or no answer) before giving up"},
    {"timeout", FWUP_OPT_INT, "300", NULL, 20, 600000,
     "ms to wait for an answer once a command has left the UART (erase: +25 ms a page); with "
     "trigger=timer keep it + 50 below the bootloader's window"},
    {"baud", FWUP_OPT_INT, NULL, NULL, 300, 4000000,
     "line speed the answer's time on the wire is reckoned at (default: the link's; not "
     "needed since commands are timed from when they have left the UART)"},
};

#define NOPTIONS (sizeof(pic_options) / sizeof(pic_options[0]))

/* ---- checksums ---- */

uint16_t fwup_pic32_crc16(const uint8_t *data, size_t len)
{
    return fwup_crc16_ccitt(FWUP_CRC16_CCITT_FALSE_INIT, data, len);
}

uint32_t fwup_pic32_sum32(const uint8_t *data, size_t len)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += data[i];
    return sum;
}

/* ---- options ---- */

static int parse_options(const struct fwup_job_params *p, struct pic_opts *o, char *err,
                         size_t errlen)
{
    struct fwup_opts r;
    int64_t slot, window, ping, retries, timeout, baud = 0;
    int verify, trigger, erase;
    if (fwup_opts_init(&r, "pic32cx-bz", pic_options, NOPTIONS, p, err, errlen) < 0 ||
        fwup_opt_int(&r, "slot", &slot) != 0 || (verify = fwup_opt_enum(&r, "verify")) < 0 ||
        (trigger = fwup_opt_enum(&r, "trigger")) < 0 || fwup_opt_int(&r, "window", &window) != 0 ||
        fwup_opt_int(&r, "ping_interval", &ping) != 0 ||
        fwup_opt_bool(&r, "reset", &o->reset) != 0 || (erase = fwup_opt_enum(&r, "erase")) < 0 ||
        fwup_opt_int(&r, "retries", &retries) != 0 || fwup_opt_int(&r, "timeout", &timeout) != 0 ||
        fwup_opt_int(&r, "baud", &baud) < 0)
        return -1;
    /* enum values follow the order of the choices */
    o->slot = (unsigned)slot;
    o->crc = verify == 1;
    o->trigger = (enum trigger)trigger;
    o->window = (uint32_t)window;
    o->ping_interval = (uint32_t)ping;
    o->chip_erase = erase == 1;
    o->retries = (unsigned)retries;
    o->timeout = (uint32_t)timeout;
    o->line = fwup_line_of(p, baud, 115200);
    o->wire = fwup_line_of(p, 0, (uint32_t)baud);
    return 0;
}

/* ---- image placement ---- */

struct layout {
    uint32_t slot_base;
    int64_t reloc;
    uint64_t lo, hi; /* device addresses after relocation */
};

/*
 * The image must lie inside the chosen slot. An image addressed from 0 on a
 * device with no configured flash base is a raw binary: it is placed at the
 * slot base.
 */
static int layout_image(const struct fwup_job_params *p, const struct pic_opts *o, struct layout *l,
                        char *err, size_t errlen)
{
    uint64_t lo, len;
    if (fwup_image_extent(p->image, &lo, &len) < 0) {
        snprintf(err, errlen, "pic32cx-bz: empty image");
        return -1;
    }
    uint64_t hi = lo + len;
    l->slot_base = o->slot ? SLOT1 : SLOT0;
    l->reloc = 0;
    if (p->flash_base == 0 && hi <= SLOT_SIZE)
        l->reloc = l->slot_base;
    l->lo = lo + (uint64_t)l->reloc;
    l->hi = hi + (uint64_t)l->reloc;
    if (l->lo < l->slot_base || l->hi > (uint64_t)l->slot_base + SLOT_SIZE) {
        snprintf(err, errlen,
                 "pic32cx-bz: image 0x%08llx..0x%08llx lies outside slot %u "
                 "(0x%08x..0x%08x)",
                 (unsigned long long)l->lo, (unsigned long long)l->hi, o->slot, l->slot_base,
                 l->slot_base + SLOT_SIZE);
        return -1;
    }
    return 0;
}

static int pic_check_image(const struct fwup_job_params *params, char *err, size_t errlen)
{
    struct pic_opts o;
    struct layout l;
    if (parse_options(params, &o, err, errlen) < 0)
        return -1;
    return layout_image(params, &o, &l, err, errlen);
}

/* Copy flat bytes [off, off+len) into dst; gaps and the tail are 0xFF. The
 * image's addresses are the device's less the relocation. */
static void fill_flat(struct fwup_engine *e, uint8_t *dst, uint32_t off, size_t len)
{
    fwup_image_copy(e->image, (uint64_t)((int64_t)e->base + off - e->reloc), len, 0xff, dst);
}

/* ---- host helpers ---- */

static void finish(struct fwup_engine *e, enum fwup_result r, const char *msg)
{
    if (e->state == PS_FINISHED)
        return;
    e->ops->timer(e->host, T_WAIT, 0);
    e->state = PS_FINISHED;
    e->ops->finish(e->host, r, msg);
}

/* The shared logger bound to this engine's host. */
#define logf_(e, ...) fwup_logf((e)->ops, (e)->host, __VA_ARGS__)

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static const char *phase_name(const struct fwup_engine *e)
{
    switch (e->state) {
    case PS_DEVID:
        return "connect";
    case PS_ERASE:
        return "erase";
    case PS_WRITE:
        return "write";
    case PS_RESET:
        return "finish";
    default:
        return "waiting for bootloader";
    }
}

/*
 * Queue e->frame as one burst and wait for the answer to `cmd`: `timeout`
 * plus the answer word's line time, from when the frame has left the UART
 * (a 4 KiB cluster spends 357 ms on a 115200 8N1 line, 2.1 s at 19200).
 */
static void send_frame(struct fwup_engine *e, uint8_t cmd, uint32_t timeout)
{
    e->expect = cmd;
    e->wn = 0;
    e->en = 0;
    e->want_extra = 0;
    e->wait = W_ANSWER;
    e->cur_timeout = timeout + fwup_line_ms(&e->o.line, 4);
    e->tx_pending = 1;
    e->ops->timer(e->host, T_WAIT, 0);
    if (fwup_send_bytes(e->ops, e->host, e->frame, e->frame_len, ++e->tag, FWUP_SUBMIT_ON_WIRE,
                        fwup_line_tx_timeout(&e->o.wire, e->frame_len, timeout)) < 0)
        finish(e, FWUP_RESULT_TRANSIENT, "pic32cx-bz: link lost");
}

static void build_word_cmd(struct fwup_engine *e, uint8_t cmd, uint16_t operand)
{
    put32(e->frame, (uint32_t)cmd << 16 | operand);
    e->frame_len = 4;
}

static void send_ping(struct fwup_engine *e)
{
    static const uint8_t ping[4] = {0x01, 0x00, CMD_EXEC_VERSION, 0x00};
    e->expect = CMD_EXEC_VERSION;
    if (fwup_send_bytes(e->ops, e->host, ping, sizeof(ping), 0, 0, 0) < 0)
        finish(e, FWUP_RESULT_TRANSIENT, "pic32cx-bz: link lost");
}

/* ---- steps ---- */

static void build_cluster(struct fwup_engine *e)
{
    uint32_t left = e->flat_len - e->offset;
    e->clen = left < CLUSTER ? left : CLUSTER;
    uint8_t *payload = e->frame + 16;
    fill_flat(e, payload, e->offset, e->clen);
    uint32_t check =
        e->o.crc ? fwup_pic32_crc16(payload, e->clen) : fwup_pic32_sum32(payload, e->clen);
    put32(e->frame, (uint32_t)CMD_PGM_CLUSTER << 16 | (e->o.crc ? METHOD_CRC : METHOD_CHECKSUM));
    put32(e->frame + 4, e->base + e->offset);
    put32(e->frame + 8, e->clen);
    put32(e->frame + 12, check);
    e->frame_len = 16 + e->clen;
}

static uint64_t image_done(const struct fwup_engine *e, uint32_t flat_off)
{
    uint64_t d = flat_off > e->lead ? flat_off - e->lead : 0;
    return d < e->img_len ? d : e->img_len;
}

static void start_cluster(struct fwup_engine *e)
{
    e->failures = 0;
    build_cluster(e);
    send_frame(e, CMD_PGM_CLUSTER, e->o.timeout);
}

static void start_write(struct fwup_engine *e)
{
    e->state = PS_WRITE;
    e->offset = 0;
    e->ops->progress(e->host, "write", 0, e->img_len);
    start_cluster(e);
}

static uint32_t erase_timeout(const struct fwup_engine *e)
{
    /* chip erase: count both slots' pages */
    uint32_t pages = e->o.chip_erase ? 2 * SLOT_SIZE / PAGE : e->npages;
    return e->o.timeout + pages * ERASE_MS_PER_PAGE;
}

static void send_erase(struct fwup_engine *e)
{
    if (e->o.chip_erase) {
        build_word_cmd(e, CMD_CHIP_ERASE, 0);
        send_frame(e, CMD_CHIP_ERASE, erase_timeout(e));
    } else {
        build_word_cmd(e, CMD_PAGE_ERASE, (uint16_t)e->npages);
        put32(e->frame + 4, e->erase_lo);
        e->frame_len = 8;
        send_frame(e, CMD_PAGE_ERASE, erase_timeout(e));
    }
}

static void start_erase(struct fwup_engine *e)
{
    e->state = PS_ERASE;
    e->failures = 0;
    e->ops->progress(e->host, "erase", 0, e->img_len);
    send_erase(e);
}

static void send_devid(struct fwup_engine *e)
{
    build_word_cmd(e, CMD_GET_DEVICEID, 1);
    send_frame(e, CMD_GET_DEVICEID, e->o.timeout);
}

static void start_devid(struct fwup_engine *e)
{
    e->state = PS_DEVID;
    e->failures = 0;
    send_devid(e);
}

static void start_reset(struct fwup_engine *e)
{
    e->state = PS_RESET;
    e->failures = 0;
    e->ops->progress(e->host, "finish", e->img_len, e->img_len);
    if (!e->o.reset) {
        finish(e, FWUP_RESULT_OK, NULL);
        return;
    }
    build_word_cmd(e, CMD_RESET, 1);
    send_frame(e, CMD_RESET, e->o.timeout);
}

static void resend(struct fwup_engine *e)
{
    switch (e->state) {
    case PS_DEVID:
        send_devid(e);
        break;
    case PS_ERASE:
        send_erase(e);
        break;
    case PS_WRITE:
        send_frame(e, CMD_PGM_CLUSTER, e->o.timeout);
        break;
    default:
        break;
    }
}

static const char *cmd_name(uint8_t cmd)
{
    switch (cmd) {
    case CMD_GET_DEVICEID:
        return "GET_DEVICEID";
    case CMD_PAGE_ERASE:
        return "PAGE_ERASE";
    case CMD_CHIP_ERASE:
        return "CHIP_ERASE";
    case CMD_PGM_CLUSTER:
        return "PGM_CLUSTER_VERIFY";
    case CMD_RESET:
        return "RESET";
    default:
        return "command";
    }
}

static uint32_t cur_address(const struct fwup_engine *e)
{
    switch (e->state) {
    case PS_ERASE:
        return e->o.chip_erase ? 0 : e->erase_lo;
    case PS_WRITE:
        return e->base + e->offset;
    default:
        return 0;
    }
}

/*
 * A FAIL, NACK or silence on the command in flight. FAIL means the device
 * did the work and it did not verify (or erase failed): after the last try
 * that is PERMANENT. NACK (a malformed or damaged frame) and silence are the
 * line's fault: TRANSIENT.
 */
static void failed(struct fwup_engine *e, int status, int silent)
{
    char msg[200];
    e->failures++;
    if (e->failures < e->o.retries) {
        logf_(e, FWUP_LOG_DEBUG, "pic32cx-bz: %s at 0x%08x: %s, try %u", cmd_name(e->expect),
              cur_address(e),
              silent              ? "no answer"
              : status == ST_FAIL ? "FAIL"
                                  : "NACK",
              e->failures + 1);
        if (silent) {
            e->wait = W_RESYNC;
            e->ops->timer(e->host, T_WAIT, RESYNC_MS);
        } else {
            resend(e);
        }
        return;
    }
    if (silent) {
        snprintf(msg, sizeof(msg),
                 "pic32cx-bz: no answer to %s at 0x%08x in phase %s (%u tries, %u ms each)",
                 cmd_name(e->expect), cur_address(e), phase_name(e), e->failures, e->cur_timeout);
        finish(e, FWUP_RESULT_TRANSIENT, msg);
    } else if (status == ST_FAIL && e->state == PS_WRITE) {
        snprintf(msg, sizeof(msg),
                 "pic32cx-bz: verify failed at 0x%08x (%u bytes) after %u tries: the flash does "
                 "not read back what was written",
                 cur_address(e), e->clen, e->failures);
        finish(e, FWUP_RESULT_PERMANENT, msg);
    } else if (status == ST_FAIL) {
        snprintf(msg, sizeof(msg), "pic32cx-bz: %s at 0x%08x failed (%u tries)",
                 cmd_name(e->expect), cur_address(e), e->failures);
        finish(e, FWUP_RESULT_PERMANENT, msg);
    } else {
        snprintf(msg, sizeof(msg), "pic32cx-bz: device refused %s at 0x%08x (status %d, %u tries)",
                 cmd_name(e->expect), cur_address(e), status, e->failures);
        finish(e, FWUP_RESULT_TRANSIENT, msg);
    }
}

static void bootloader_found(struct fwup_engine *e, unsigned version)
{
    e->version = version;
    logf_(e, FWUP_LOG_INFO, "pic32cx-bz: bootloader answered (version %u)%s", version,
          e->state == PS_PING ? "" : " to a probe");
    e->state = PS_SETTLE;
    e->expect = 0;
    e->ops->timer(e->host, T_WAIT, SETTLE_MS);
}

static void on_answer(struct fwup_engine *e, uint16_t status)
{
    switch (e->state) {
    case PS_PING:
    case PS_PROBE:
        bootloader_found(e, status);
        return;
    case PS_DEVID:
        if (status == ST_PASS) {
            e->want_extra = 1; /* the id word follows */
            return;
        }
        failed(e, status, 0);
        return;
    case PS_ERASE:
        if (status != ST_PASS) {
            failed(e, status, 0);
            return;
        }
        e->expect = 0;
        start_write(e);
        return;
    case PS_WRITE:
        if (status != ST_PASS) {
            failed(e, status, 0);
            return;
        }
        e->offset += e->clen;
        e->ops->progress(e->host, "write", image_done(e, e->offset), e->img_len);
        if (e->offset >= e->flat_len)
            start_reset(e);
        else
            start_cluster(e);
        return;
    case PS_RESET:
        if (status != ST_PASS)
            logf_(e, FWUP_LOG_WARNING, "pic32cx-bz: RESET answered with status %u", status);
        finish(e, FWUP_RESULT_OK, NULL);
        return;
    default:
        return;
    }
}

static void on_byte(struct fwup_engine *e, uint8_t b)
{
    if (e->want_extra) {
        e->extra[e->en++] = b;
        if (e->en == 4) {
            uint32_t id = (uint32_t)e->extra[0] | (uint32_t)e->extra[1] << 8 |
                          (uint32_t)e->extra[2] << 16 | (uint32_t)e->extra[3] << 24;
            e->want_extra = 0;
            e->expect = 0;
            logf_(e, FWUP_LOG_INFO, "pic32cx-bz: device id 0x%08x", id);
            start_erase(e);
        }
        return;
    }
    if (e->expect == 0)
        return; /* nothing asked: late ping answers, noise */
    if (e->wn == 4) {
        memmove(e->win, e->win + 1, 3);
        e->wn = 3;
    }
    e->win[e->wn++] = b;
    if (e->wn == 4 && e->win[3] == 0 && e->win[2] == e->expect) {
        uint16_t status = (uint16_t)(e->win[0] | e->win[1] << 8);
        e->wn = 0;
        if (e->wait == W_RESYNC && status == ST_NACK && e->state != PS_PING &&
            e->state != PS_PROBE) {
            /* the device dropping the torn copy: the try is already counted */
            resend(e);
            return;
        }
        e->wait = W_ANSWER;
        on_answer(e, status);
    }
}

/* ---- entry points ---- */

static struct fwup_engine *pic_create(const struct fwup_job_params *params,
                                      const struct fwup_host_ops *ops, void *host, char *err,
                                      size_t errlen)
{
    struct pic_opts o;
    struct layout l;
    if (parse_options(params, &o, err, errlen) < 0 || layout_image(params, &o, &l, err, errlen) < 0)
        return NULL;
    struct fwup_engine *e = fwup_engine_alloc(sizeof(*e), "pic32cx-bz", err, errlen);
    if (!e)
        return NULL;
    e->ops = ops;
    e->host = host;
    e->image = params->image;
    e->o = o;
    e->slot_base = l.slot_base;
    e->reloc = l.reloc;
    e->base = (uint32_t)l.lo & ~3u;
    e->lead = (uint32_t)l.lo - e->base;
    e->img_len = l.hi - l.lo;
    e->flat_len = (uint32_t)((e->lead + e->img_len + 3) & ~(uint64_t)3);
    e->erase_lo = e->base & ~(PAGE - 1);
    e->npages = (uint32_t)((l.hi - e->erase_lo + PAGE - 1) / PAGE);
    e->state = PS_INIT;
    return e;
}

static void pic_destroy(struct fwup_engine *e)
{
    free(e);
}

/* The command in flight drew no answer in time (or never left the UART). */
static void no_answer(struct fwup_engine *e)
{
    if (e->state == PS_RESET) {
        /* Some bootloaders reset before they answer. */
        logf_(e, FWUP_LOG_WARNING, "pic32cx-bz: no answer to RESET; assuming it reset");
        finish(e, FWUP_RESULT_OK, NULL);
    } else {
        failed(e, -1, 1);
    }
}

static void pic_on_start(struct fwup_engine *e)
{
    if (e->state != PS_INIT)
        return;
    e->ops->progress(e->host, "waiting for bootloader", 0, e->img_len);
    logf_(e, FWUP_LOG_INFO, "pic32cx-bz: slot %u at 0x%08x, %llu bytes at 0x%08x, %u pages",
          e->o.slot, e->slot_base, (unsigned long long)e->img_len, e->base + e->lead, e->npages);
    if (e->o.trigger == TRIG_TIMER) {
        e->state = PS_PING;
        e->elapsed = 0;
        send_ping(e);
        if (e->state != PS_FINISHED)
            e->ops->timer(e->host, T_WAIT, e->o.ping_interval);
    } else {
        e->state = PS_PROBE;
        e->probes = 1;
        send_ping(e);
        if (e->state != PS_FINISHED)
            e->ops->timer(e->host, T_WAIT, PROBE_MS);
    }
}

static void pic_on_rx(struct fwup_engine *e, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len && e->state != PS_FINISHED; i++)
        on_byte(e, data[i]);
}

static void pic_on_timer(struct fwup_engine *e, unsigned id)
{
    char msg[160];
    if (id != T_WAIT)
        return;
    switch (e->state) {
    case PS_PING:
        e->elapsed += e->o.ping_interval;
        if (e->elapsed >= e->o.window) {
            snprintf(msg, sizeof(msg),
                     "pic32cx-bz: bootloader did not answer within %u ms (timer trigger: reset "
                     "the device while it is being pinged)",
                     e->o.window);
            finish(e, FWUP_RESULT_TRANSIENT, msg);
            return;
        }
        send_ping(e);
        if (e->state != PS_FINISHED)
            e->ops->timer(e->host, T_WAIT, e->o.ping_interval);
        break;
    case PS_PROBE:
        if (e->probes >= PROBE_TRIES) {
            snprintf(msg, sizeof(msg),
                     "pic32cx-bz: bootloader did not answer %u pings (trigger=%s: is the device "
                     "in DFU mode?)",
                     e->probes, e->o.trigger == TRIG_GPIO ? "gpio" : "none");
            finish(e, FWUP_RESULT_TRANSIENT, msg);
            return;
        }
        e->probes++;
        send_ping(e);
        if (e->state != PS_FINISHED)
            e->ops->timer(e->host, T_WAIT, PROBE_MS);
        break;
    case PS_SETTLE:
        start_devid(e);
        break;
    case PS_DEVID:
    case PS_ERASE:
    case PS_WRITE:
    case PS_RESET:
        if (e->wait == W_RESYNC)
            resend(e);
        else
            no_answer(e);
        break;
    default:
        break;
    }
}

/* The command has left the UART, or could not: the wait for its answer
 * starts now. */
static void pic_on_complete(struct fwup_engine *e, uint32_t tag, uint32_t status)
{
    if (tag != e->tag || !e->tx_pending)
        return;
    e->tx_pending = 0;
    if (e->expect == 0 || e->wait != W_ANSWER)
        return; /* answered already */
    if (status != FWUP_STATUS_OK)
        no_answer(e);
    else
        e->ops->timer(e->host, T_WAIT, e->cur_timeout);
}

static void pic_on_cancel(struct fwup_engine *e)
{
    /* Nothing to tell the device: it keeps what it has and its window
     * timer sends it back to the application. */
    finish(e, FWUP_RESULT_CANCELLED, "pic32cx-bz: cancelled");
}

static void pic_link_lost(struct fwup_engine *e)
{
    finish(e, FWUP_RESULT_TRANSIENT, "pic32cx-bz: link lost");
}

static void pic_on_event(struct fwup_engine *e, const struct fwup_event *ev)
{
    static const struct fwup_serial_handlers h = {pic_on_start, pic_on_rx,     pic_on_complete,
                                                  pic_on_timer, pic_on_cancel, pic_link_lost};
    if (e->state != PS_FINISHED)
        fwup_serial_dispatch(&h, e, ev);
}

FWUP_PROTOCOL_EXPORT const struct fwup_protocol FWUP_PROTOCOL_SYMBOL = {
    .abi_version = FWUP_PROTOCOL_ABI_VERSION,
    .struct_size = sizeof(struct fwup_protocol),
    .name = "pic32cx-bz",
    .description = "Microchip PIC32CX-BZ serial DFU (timer or GPIO triggered bootloader)",
    .transports = FWUP_TRANSPORT_SERIAL,
    .options = pic_options,
    .noptions = NOPTIONS,
    .check_image = pic_check_image,
    .create = pic_create,
    .destroy = pic_destroy,
    .on_event = pic_on_event,
};
