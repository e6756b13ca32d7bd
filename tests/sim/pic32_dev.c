/*
 * Simulated Microchip PIC32CX-BZ serial DFU bootloader (class "pic32").
 *
 * Flash: slot 0 at 0x01000000 and slot 1 at 0x01080000, 512 KiB each,
 * erased = 0xFF, erased in 4 KiB pages; programming can only clear bits
 * (new = old & data), so writing over unerased flash fails its verify as on
 * real NOR flash.
 *
 * Framing: no length field, no sync byte. A frame ends when the line has
 * been quiet for gap_ms (2 ms: 23 byte times at 115200, well above the
 * back-to-back byte spacing of a single send and well below the 10 ms
 * between a host's pings). fwupsim hands bytes to models in batches up to
 * 5 ms apart, so a frame still shorter than its own header announces (a
 * 4 KiB cluster takes 357 ms to arrive) is given frame_timeout_ms of
 * silence before it is judged. A frame whose length does not match its
 * command (e.g. two commands sent back to back) is answered NACK; fewer
 * than 4 bytes are dropped as noise.
 *
 * Boot window: start() is a reset. The bootloader listens for window ms
 * (timer trigger), then "jumps to the application" and ignores the line
 * until the next reset. Every frame restarts the window. trigger=gpio
 * stays in DFU mode. RESET answers PASS, completes the transfer and goes
 * to the application.
 *
 * Status choices (the device's firmware is not public in detail): a payload
 * whose checksum does not match, or a malformed frame, is NACK (3); a
 * cluster that does not read back as sent, or an erase/blank-check range
 * outside the slots, is FAIL (2).
 *
 * Options (comma separated key=value):
 *   window=ms           boot window, 400-15000 (600)
 *   trigger=timer|gpio  gpio: DFU mode until RESET, no window (timer)
 *   reset_after_ms=N    a reset (button, or the daemon's GPIO) N ms after
 *                       start(); a window at start() that sees no frame is
 *                       followed by the application until then (0: none)
 *   app_first=0|1       start() finds the application running: no window
 *                       until reset_after_ms (never, without it)
 *   gap_ms=N            inter-byte gap that ends a frame (2)
 *   frame_timeout_ms=N  silence tolerated inside a short frame (50)
 *   version=N           EXEC_VERSION answer (1)
 *   devid=N             GET_DEVICEID answer (0x1bc20053, made up)
 *   fail_cluster=N      answer FAIL to the Nth PGM_CLUSTER_VERIFY, once
 *   silent_after=N      answer N frames, then nothing
 *   corrupt_verify=0|1  every programmed cluster reads back one bit wrong
 *   blank=0|1           both slots start erased (default: each holds old
 *                       firmware, simdev_old_firmware)
 *
 * The CRC and sum here are written independently of the engine's.
 */
#include "simdev.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD_CHIP_ERASE   0x04
#define CMD_PAGE_ERASE   0x05
#define CMD_BLANK_CHECK  0x06
#define CMD_EXEC_VERSION 0x07
#define CMD_GET_DEVICEID 0x0A
#define CMD_PGM_CLUSTER  0x11
#define CMD_RESET        0x12

#define ST_PASS 0
#define ST_FAIL 2
#define ST_NACK 3

#define CLUSTER   4096u
#define PAGE      4096u
#define SLOT_SIZE (512u * 1024u)
#define FLASH_LO  0x01000000u
#define FLASH_HI  (FLASH_LO + 2 * SLOT_SIZE)
#define FRAME_CAP (16 + CLUSTER)

enum mode { M_OFF, M_APP, M_LISTEN };

struct simdev {
    struct simdev_head head; /* must stay first, see simdev.h */

    uint32_t window, reset_after, gap, frame_timeout, version, devid;
    int gpio, app_first, corrupt_verify, blank;
    uint32_t fail_cluster;
    long silent_after; /* -1: never */

    enum mode mode;
    int reset_pending, busy, silent, fail_done;
    unsigned long answered, clusters;

    uint8_t frame[FRAME_CAP];
    size_t n; /* bytes in the current frame (may exceed FRAME_CAP) */

    uint8_t flash[2 * SLOT_SIZE];
    int last_slot;
};
_Static_assert(offsetof(struct simdev, head) == 0,
               "simdev.c reads the head through the device pointer");

/* ---- options ---- */

static int parse_u(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 0);
    if (errno || end == v || *end || x < min || x > max)
        return -1;
    *out = x;
    return 0;
}

static int set_option(struct simdev *d, const char *k, const char *v)
{
    uint64_t x;
    if (strcmp(k, "trigger") == 0) {
        if (strcmp(v, "timer") == 0)
            d->gpio = 0;
        else if (strcmp(v, "gpio") == 0)
            d->gpio = 1;
        else
            return -1;
        return 0;
    }
    static const struct {
        const char *name;
        uint64_t min, max;
    } nums[] = {
        {"window", 400, 15000},
        {"reset_after_ms", 0, 3600000},
        {"app_first", 0, 1},
        {"gap_ms", 1, 1000},
        {"frame_timeout_ms", 1, 10000},
        {"version", 0, 0xffff},
        {"devid", 0, 0xffffffffu},
        {"fail_cluster", 0, 1u << 30},
        {"silent_after", 0, 1u << 30},
        {"corrupt_verify", 0, 1},
        {"blank", 0, 1},
    };
    size_t i;
    for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
        if (strcmp(k, nums[i].name) == 0)
            break;
    if (i == sizeof(nums) / sizeof(nums[0]) || parse_u(v, nums[i].min, nums[i].max, &x) < 0)
        return -1;
    switch (i) {
    case 0:
        d->window = (uint32_t)x;
        break;
    case 1:
        d->reset_after = (uint32_t)x;
        break;
    case 2:
        d->app_first = (int)x;
        break;
    case 3:
        d->gap = (uint32_t)x;
        break;
    case 4:
        d->frame_timeout = (uint32_t)x;
        break;
    case 5:
        d->version = (uint32_t)x;
        break;
    case 6:
        d->devid = (uint32_t)x;
        break;
    case 7:
        d->fail_cluster = (uint32_t)x;
        break;
    case 8:
        d->silent_after = (long)x;
        break;
    case 9:
        d->corrupt_verify = (int)x;
        break;
    default:
        d->blank = (int)x;
        break;
    }
    return 0;
}

static int parse_options(struct simdev *d, const char *options, char *err, size_t errlen)
{
    char buf[512];
    if (!options)
        return 0;
    if (strlen(options) >= sizeof(buf)) {
        snprintf(err, errlen, "pic32: options too long");
        return -1;
    }
    strcpy(buf, options);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        if (!eq || set_option(d, (*eq = '\0', t), eq + 1) < 0) {
            snprintf(err, errlen, "pic32: bad option '%s'", t);
            return -1;
        }
    }
    if (!d->app_first && !d->gpio && d->reset_after && d->reset_after <= d->window) {
        snprintf(err, errlen, "pic32: reset_after_ms must exceed window (or set app_first=1)");
        return -1;
    }
    return 0;
}

/* ---- helpers ---- */

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void reply(struct simdev *d, unsigned cmd, unsigned status)
{
    uint8_t w[4];
    put32(w, (uint32_t)cmd << 16 | (status & 0xffff));
    simdev_send(&d->head, w, 4);
}

static uint16_t crc16_ccitt_false(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xffff;
    while (n--) {
        crc ^= (uint32_t)*p++ << 8;
        for (int i = 0; i < 8; i++) {
            crc <<= 1;
            if (crc & 0x10000)
                crc ^= 0x1021;
        }
    }
    return (uint16_t)crc;
}

/* [addr, addr+len) inside the two slots? */
static int in_flash(uint32_t addr, uint32_t len)
{
    return addr >= FLASH_LO && (uint64_t)addr + len <= FLASH_HI;
}

/* Bytes a frame needs, judged from what has arrived so far. */
static size_t expected_len(const struct simdev *d)
{
    if (d->n < 4)
        return 4;
    switch (d->frame[2] | d->frame[3] << 8) {
    case CMD_PAGE_ERASE:
        return 8;
    case CMD_BLANK_CHECK:
        return 12;
    case CMD_PGM_CLUSTER: {
        if (d->n < 12)
            return 16;
        uint32_t len = get32(d->frame + 8);
        return len <= CLUSTER ? 16 + len : 16;
    }
    default:
        return 4;
    }
}

static void boot(struct simdev *d)
{
    d->mode = M_LISTEN;
    d->n = 0;
    d->busy = 0;
    simdev_timer(&d->head, d->gpio ? 0 : d->window);
}

/* ---- commands ---- */

static void do_program(struct simdev *d)
{
    const uint8_t *f = d->frame;
    unsigned method = f[0] | f[1] << 8;
    uint32_t addr = get32(f + 4), len = get32(f + 8), check = get32(f + 12);
    const uint8_t *data = f + 16;
    if ((method != 1 && method != 2) || len == 0 || len > CLUSTER || len % 4 || addr % 4 ||
        d->n != 16 + len) {
        reply(d, CMD_PGM_CLUSTER, ST_NACK);
        return;
    }
    uint32_t got = 0;
    if (method == 2) {
        got = crc16_ccitt_false(data, len);
    } else {
        for (uint32_t i = 0; i < len; i++)
            got += data[i];
    }
    if (got != check) {
        reply(d, CMD_PGM_CLUSTER, ST_NACK);
        return;
    }
    d->clusters++;
    if (d->fail_cluster && d->clusters == d->fail_cluster && !d->fail_done) {
        d->fail_done = 1;
        reply(d, CMD_PGM_CLUSTER, ST_FAIL);
        return;
    }
    if (!in_flash(addr, len) ||
        (addr - FLASH_LO) / SLOT_SIZE != (addr + len - 1 - FLASH_LO) / SLOT_SIZE) {
        reply(d, CMD_PGM_CLUSTER, ST_FAIL);
        return;
    }
    uint8_t *mem = d->flash + (addr - FLASH_LO);
    for (uint32_t i = 0; i < len; i++)
        mem[i] &= data[i];
    if (d->corrupt_verify)
        mem[len / 2] ^= 0x01;
    d->last_slot = (int)((addr - FLASH_LO) / SLOT_SIZE);
    reply(d, CMD_PGM_CLUSTER, memcmp(mem, data, len) == 0 ? ST_PASS : ST_FAIL);
}

static void do_frame(struct simdev *d)
{
    const uint8_t *f = d->frame;
    if (d->n < 4)
        return; /* noise: not even a command word */
    if (d->silent_after >= 0 && d->answered >= (unsigned long)d->silent_after) {
        d->silent = 1;
        return;
    }
    d->answered++;
    d->busy = 1;
    d->head.status = SIMDEV_BUSY;
    unsigned cmd = f[2] | f[3] << 8;
    if (d->n != expected_len(d) && cmd != CMD_PGM_CLUSTER) {
        reply(d, cmd, ST_NACK);
        return;
    }
    switch (cmd) {
    case CMD_EXEC_VERSION:
        reply(d, cmd, d->version);
        break;
    case CMD_GET_DEVICEID: {
        uint8_t w[8];
        put32(w, (uint32_t)cmd << 16 | ST_PASS);
        put32(w + 4, d->devid);
        simdev_send(&d->head, w, 8);
        break;
    }
    case CMD_CHIP_ERASE:
        memset(d->flash, 0xff, sizeof(d->flash));
        reply(d, cmd, ST_PASS);
        break;
    case CMD_PAGE_ERASE: {
        uint32_t count = f[0] | f[1] << 8, addr = get32(f + 4);
        if (count == 0 || addr % PAGE || !in_flash(addr, count * PAGE)) {
            reply(d, cmd, ST_FAIL);
            break;
        }
        memset(d->flash + (addr - FLASH_LO), 0xff, (size_t)count * PAGE);
        reply(d, cmd, ST_PASS);
        break;
    }
    case CMD_BLANK_CHECK: {
        uint32_t addr = get32(f + 4), len = get32(f + 8);
        int blank = in_flash(addr, len);
        for (uint32_t i = 0; blank && i < len; i++)
            blank = d->flash[addr - FLASH_LO + i] == 0xff;
        reply(d, cmd, blank ? ST_PASS : ST_FAIL);
        break;
    }
    case CMD_PGM_CLUSTER:
        do_program(d);
        break;
    case CMD_RESET:
        reply(d, cmd, ST_PASS);
        d->head.status = SIMDEV_COMPLETE;
        d->head.completions++;
        d->mode = M_APP;
        d->reset_pending = 0;
        simdev_timer(&d->head, 0);
        break;
    default:
        reply(d, cmd, ST_NACK);
        break;
    }
}

/* ---- class entry points ---- */

static struct simdev *dev_create(const char *options, const struct simdev_io *io, void *ctx,
                                 char *err, size_t errlen)
{
    struct simdev *d = simdev_alloc(sizeof(*d), io, ctx, err, errlen);
    if (!d)
        return NULL;
    d->window = 600;
    d->gap = 2;
    d->frame_timeout = 50;
    d->version = 1;
    d->devid = 0x1bc20053;
    d->silent_after = -1;
    d->last_slot = 1;
    if (parse_options(d, options, err, errlen) < 0) {
        free(d);
        return NULL;
    }
    if (d->blank) {
        memset(d->flash, 0xff, sizeof(d->flash));
    } else {
        simdev_old_firmware(d->flash, SLOT_SIZE);
        simdev_old_firmware(d->flash + SLOT_SIZE, SLOT_SIZE);
    }
    return d;
}

static void dev_destroy(struct simdev *d)
{
    free(d);
}

static void dev_start(struct simdev *d)
{
    d->head.status = SIMDEV_IDLE;
    d->silent = 0;
    d->n = 0;
    d->reset_pending = d->reset_after > 0;
    if (d->app_first) {
        d->mode = M_APP;
        simdev_timer(&d->head, d->reset_after);
        return;
    }
    boot(d);
}

static void dev_on_rx(struct simdev *d, const uint8_t *data, size_t len)
{
    if (d->mode != M_LISTEN || d->silent || len == 0)
        return;
    for (size_t i = 0; i < len; i++, d->n++)
        if (d->n < FRAME_CAP)
            d->frame[d->n] = data[i];
    simdev_timer(&d->head, d->n < expected_len(d) ? d->frame_timeout : d->gap);
}

static void dev_on_timer(struct simdev *d)
{
    if (d->mode == M_APP) {
        if (d->reset_pending) {
            d->reset_pending = 0;
            boot(d);
        }
        return;
    }
    if (d->mode != M_LISTEN)
        return;
    if (d->n > 0) {
        /* the line went quiet: end of frame */
        do_frame(d);
        d->n = 0;
        if (d->mode == M_LISTEN)
            simdev_timer(&d->head, d->gpio ? 0 : d->window);
        return;
    }
    /* the window closed: off to the application */
    d->mode = M_APP;
    if (d->busy) {
        d->head.status = SIMDEV_ABORTED;
        d->reset_pending = 0;
    }
    if (d->reset_pending)
        simdev_timer(&d->head, d->reset_after - d->window);
}

static const uint8_t *dev_content(const struct simdev *d, size_t *len)
{
    /* the whole slot: what the host must not touch is checked too */
    int s = d->last_slot;
    *len = SLOT_SIZE;
    return d->flash + (size_t)s * SLOT_SIZE;
}

static uint32_t dev_erase_page(const struct simdev *d)
{
    (void)d;
    return PAGE;
}

const struct simdev_class simdev_pic32 = {
    .name = "pic32",
    .create = dev_create,
    .destroy = dev_destroy,
    .start = dev_start,
    .on_rx = dev_on_rx,
    .on_timer = dev_on_timer,
    .state = simdev_head_state,
    .content = dev_content,
    .completions = simdev_head_completions,
    .erase_page = dev_erase_page,
};
