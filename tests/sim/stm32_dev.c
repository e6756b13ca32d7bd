/*
 * Simulated STM32 ROM UART bootloader (ST AN3155) with a flash model.
 *
 * After power-on it waits for 0x7F (autobaud) and ACKs it; then it parses
 * command pairs. A lone byte followed by anything but its complement draws
 * NACK, so a second 0x7F to a synced device is answered NACK, as on a real
 * chip. Flash programming only clears bits: a Write that would need a 0 bit
 * to become 1 is NACKed (0xFF bytes program nothing). Erase sets 0xFF.
 * Read-out protection NACKs Read, Write, Erase and Go; Readout Unprotect
 * mass-erases, clears it and resets (the host must sync again). Go records
 * its address, counts a completion and resets.
 *
 * Options (comma separated key=value):
 *   pid=0x410           product ID; geometry from stm32_devices.h
 *   flash_size=B,page_size=B  geometry for a PID not in the table
 *   ext_erase=0|1       offer Extended Erase 0x44 instead of Erase 0x43
 *                       (default: 0x43 on F1 parts, 0x44 elsewhere)
 *   rdp=0|1             read-out protected
 *   fill=0xNN           initial flash content (default: old firmware,
 *                       simdev_old_firmware; fill=0xFF starts erased)
 *   nack_every=N        NACK every Nth command (at its command pair)
 *   nack_write=N        NACK the first N Write Memory commands (at their pair)
 *   silent_after=N      answer N commands, then nothing at all
 *   erase_ms=MS         busy time per erased page (ACK via the timer)
 *   mass_erase_ms=MS    busy time of a mass erase / Readout Unprotect
 *   corrupt_write=N     the Nth Write stores its first byte with bit 0 flipped
 */
#include "simdev.h"

#include "../../protocols/stm32uart/stm32_devices.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACK  0x79
#define NACK 0x1F

enum mstate {
    M_OFF,
    M_UNSYNCED, /* waiting for 0x7F */
    M_CMD,      /* waiting for a command pair */
    M_COLLECT,  /* collecting the bytes of a command stage */
    M_BUSY,     /* erasing: the ACK comes from the timer */
    M_DEAF,     /* silent_after reached */
};

enum stage {
    S_READ_ADDR,
    S_READ_LEN,
    S_WRITE_ADDR,
    S_WRITE_LEN,
    S_WRITE_DATA,
    S_ERASE_N,
    S_ERASE_GLOBAL,
    S_ERASE_PAGES,
    S_XERASE_N,
    S_XERASE_SPECIAL,
    S_XERASE_PAGES,
    S_GO_ADDR,
};

struct simdev {
    struct simdev_head head; /* must stay first, see simdev.h */

    /* options */
    struct stm32_chip chip;
    int ext_erase, rdp;
    int fill; /* -1: old firmware */
    unsigned nack_every, nack_write, corrupt_write;
    long silent_after; /* -1: never */
    uint32_t erase_ms, mass_erase_ms;

    /* memory */
    uint8_t *flash, *ram;
    uint32_t ram_size;

    /* parser */
    enum mstate st;
    uint8_t cmd1;
    int have_cmd1;
    enum stage stage;
    uint8_t buf[600];
    size_t have, need;
    uint32_t addr;
    unsigned wlen;
    int reset_after_busy;

    unsigned commands, writes;
    uint32_t go_address;
};
_Static_assert(offsetof(struct simdev, head) == 0,
               "simdev.c reads the head through the device pointer");

static void put(struct simdev *d, uint8_t b)
{
    simdev_send(&d->head, &b, 1);
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

static int parse_options(struct simdev *d, const char *options, char *err, size_t errlen)
{
    char buf[1024];
    uint64_t pid = 0x410, flash_size = 0, page_size = 0, x;
    int ext = -1;
    if (options && strlen(options) >= sizeof(buf)) {
        snprintf(err, errlen, "stm32 device: options too long");
        return -1;
    }
    snprintf(buf, sizeof(buf), "%s", options ? options : "");
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        if (!eq || parse_u(eq + 1, UINT32_MAX, &x) < 0) {
            snprintf(err, errlen, "stm32 device: bad option %s", t);
            return -1;
        }
        *eq = '\0';
        if (strcmp(t, "pid") == 0 && x <= 0xffff)
            pid = x;
        else if (strcmp(t, "flash_size") == 0 && x > 0 && x <= 0x1000000)
            flash_size = x;
        else if (strcmp(t, "page_size") == 0 && x >= 4)
            page_size = x;
        else if (strcmp(t, "ext_erase") == 0 && x <= 1)
            ext = (int)x;
        else if (strcmp(t, "rdp") == 0 && x <= 1)
            d->rdp = (int)x;
        else if (strcmp(t, "fill") == 0 && x <= 0xff)
            d->fill = (int)x;
        else if (strcmp(t, "nack_every") == 0)
            d->nack_every = (unsigned)x;
        else if (strcmp(t, "nack_write") == 0)
            d->nack_write = (unsigned)x;
        else if (strcmp(t, "silent_after") == 0)
            d->silent_after = (long)x;
        else if (strcmp(t, "erase_ms") == 0)
            d->erase_ms = (uint32_t)x;
        else if (strcmp(t, "mass_erase_ms") == 0)
            d->mass_erase_ms = (uint32_t)x;
        else if (strcmp(t, "corrupt_write") == 0)
            d->corrupt_write = (unsigned)x;
        else {
            snprintf(err, errlen, "stm32 device: bad option %s=%s", t, eq + 1);
            return -1;
        }
    }
    const struct stm32_chip *c = stm32_chip_find((uint16_t)pid);
    if (flash_size || page_size) {
        if (!flash_size || !page_size || flash_size % page_size || flash_size / page_size > 65535) {
            snprintf(err, errlen, "stm32 device: bad flash_size/page_size");
            return -1;
        }
        memset(&d->chip, 0, sizeof(d->chip));
        d->chip.name = "custom";
        d->chip.flash_base = STM32_FLASH;
        d->chip.flash_size = (uint32_t)flash_size;
        d->chip.ram_start = 0x20000000;
        d->chip.ram_end = 0x20002000;
        d->chip.nruns = 1;
        d->chip.runs[0].count = (uint16_t)(flash_size / page_size);
        d->chip.runs[0].size = (uint32_t)page_size;
    } else if (c) {
        d->chip = *c;
    } else {
        snprintf(err, errlen,
                 "stm32 device: PID 0x%03x not in the table: give flash_size and "
                 "page_size",
                 (unsigned)pid);
        return -1;
    }
    d->chip.pid = (uint16_t)pid;
    d->ext_erase = ext >= 0 ? ext : !d->chip.legacy_erase;
    return 0;
}

/* ---- memory ---- */

static int in_flash(const struct simdev *d, uint32_t a, uint32_t n)
{
    return a >= d->chip.flash_base &&
           (uint64_t)a + n <= (uint64_t)d->chip.flash_base + d->chip.flash_size;
}

static int in_ram(const struct simdev *d, uint32_t a, uint32_t n)
{
    return a >= d->chip.ram_start && (uint64_t)a + n <= (uint64_t)d->chip.ram_start + d->ram_size;
}

static int erase_page(struct simdev *d, uint32_t idx)
{
    uint32_t start, size;
    if (stm32_chip_page_at(&d->chip, idx, &start, &size) < 0)
        return -1;
    memset(d->flash + start, 0xff, size);
    return 0;
}

static void mass_erase(struct simdev *d)
{
    memset(d->flash, 0xff, d->chip.flash_size);
}

/* ---- parser ---- */

static void reset(struct simdev *d)
{
    d->st = M_UNSYNCED;
    d->have_cmd1 = 0;
    simdev_timer(&d->head, 0);
}

static void to_cmd(struct simdev *d)
{
    d->st = M_CMD;
    d->have_cmd1 = 0;
}

static void collect(struct simdev *d, enum stage s, size_t need)
{
    d->st = M_COLLECT;
    d->stage = s;
    d->have = 0;
    d->need = need;
}

static void nack(struct simdev *d)
{
    put(d, NACK);
    to_cmd(d);
}

/* ACK after `ms` of (simulated) flash work; `then_reset` for 0x92. */
static void ack_later(struct simdev *d, uint32_t ms, int then_reset)
{
    if (ms == 0) {
        put(d, ACK);
        if (then_reset)
            reset(d);
        else
            to_cmd(d);
        return;
    }
    d->st = M_BUSY;
    d->reset_after_busy = then_reset;
    simdev_timer(&d->head, ms);
}

static uint8_t xor_of(const uint8_t *p, size_t n)
{
    uint8_t x = 0;
    for (size_t i = 0; i < n; i++)
        x ^= p[i];
    return x;
}

static int addr_frame(struct simdev *d)
{
    if (xor_of(d->buf, 4) != d->buf[4])
        return -1;
    d->addr = (uint32_t)d->buf[0] << 24 | (uint32_t)d->buf[1] << 16 | (uint32_t)d->buf[2] << 8 |
              d->buf[3];
    return 0;
}

static void do_write(struct simdev *d)
{
    uint32_t n = d->wlen;
    const uint8_t *data = d->buf + 1;
    if (xor_of(d->buf, n + 1) != d->buf[n + 1]) {
        nack(d);
        return;
    }
    d->writes++;
    if (in_ram(d, d->addr, n)) {
        memcpy(d->ram + (d->addr - d->chip.ram_start), data, n);
        put(d, ACK);
        to_cmd(d);
        return;
    }
    if (!in_flash(d, d->addr, n)) {
        nack(d);
        return;
    }
    uint8_t *f = d->flash + (d->addr - d->chip.flash_base);
    for (uint32_t i = 0; i < n; i++) {
        if ((f[i] & data[i]) != data[i]) { /* would need a 0 -> 1 */
            nack(d);
            return;
        }
    }
    for (uint32_t i = 0; i < n; i++)
        f[i] &= data[i];
    if (d->corrupt_write && d->writes == d->corrupt_write)
        f[0] ^= 0x01;
    put(d, ACK);
    to_cmd(d);
}

static void stage_done(struct simdev *d)
{
    uint8_t *b = d->buf;
    switch (d->stage) {
    case S_READ_ADDR:
        if (addr_frame(d) < 0 || !(in_flash(d, d->addr, 1) || in_ram(d, d->addr, 1))) {
            nack(d);
            return;
        }
        put(d, ACK);
        collect(d, S_READ_LEN, 2);
        return;
    case S_READ_LEN: {
        uint32_t n = (uint32_t)b[0] + 1;
        if ((uint8_t)(b[0] ^ b[1]) != 0xff) {
            nack(d);
            return;
        }
        const uint8_t *src = NULL;
        if (in_flash(d, d->addr, n))
            src = d->flash + (d->addr - d->chip.flash_base);
        else if (in_ram(d, d->addr, n))
            src = d->ram + (d->addr - d->chip.ram_start);
        if (!src) {
            nack(d);
            return;
        }
        put(d, ACK);
        simdev_send(&d->head, src, n);
        to_cmd(d);
        return;
    }
    case S_WRITE_ADDR:
        if (addr_frame(d) < 0 || (d->addr & 3) ||
            !(in_flash(d, d->addr, 1) || in_ram(d, d->addr, 1))) {
            nack(d);
            return;
        }
        put(d, ACK);
        collect(d, S_WRITE_LEN, 1);
        return;
    case S_WRITE_LEN:
        d->wlen = (unsigned)b[0] + 1;
        d->need = d->wlen + 2; /* N, data, checksum: keep collecting */
        d->stage = S_WRITE_DATA;
        return;
    case S_WRITE_DATA:
        do_write(d);
        return;
    case S_ERASE_N:
        if (b[0] == 0xff)
            collect(d, S_ERASE_GLOBAL, 1);
        else {
            d->need = (size_t)b[0] + 3; /* N, pages, checksum */
            d->stage = S_ERASE_PAGES;
        }
        return;
    case S_ERASE_GLOBAL:
        if (b[0] != 0x00) {
            nack(d);
            return;
        }
        mass_erase(d);
        ack_later(d, d->mass_erase_ms, 0);
        return;
    case S_ERASE_PAGES: {
        size_t n = (size_t)b[0] + 1;
        if (xor_of(b, n + 1) != b[n + 1]) {
            nack(d);
            return;
        }
        for (size_t i = 0; i < n; i++) {
            if (erase_page(d, b[1 + i]) < 0) {
                nack(d);
                return;
            }
        }
        ack_later(d, (uint32_t)n * d->erase_ms, 0);
        return;
    }
    case S_XERASE_N: {
        unsigned n = (unsigned)b[0] << 8 | b[1];
        if (n >= 0xfff0) {
            d->need = 3;
            d->stage = S_XERASE_SPECIAL;
        } else if (n + 1 > 256) {
            nack(d);
        } else {
            d->need = 2 + 2 * ((size_t)n + 1) + 1;
            d->stage = S_XERASE_PAGES;
        }
        return;
    }
    case S_XERASE_SPECIAL: {
        unsigned n = (unsigned)b[0] << 8 | b[1];
        uint32_t total = stm32_chip_npages(&d->chip);
        if ((uint8_t)(b[0] ^ b[1]) != b[2] || n < 0xfffd) {
            nack(d);
            return;
        }
        if (n == 0xffff) {
            mass_erase(d);
        } else { /* bank 1 / bank 2: the lower / upper half of the pages */
            uint32_t from = n == 0xfffe ? 0 : total / 2, to = n == 0xfffe ? total / 2 : total;
            for (uint32_t i = from; i < to; i++)
                erase_page(d, i);
        }
        ack_later(d, d->mass_erase_ms, 0);
        return;
    }
    case S_XERASE_PAGES: {
        size_t n = ((size_t)b[0] << 8 | b[1]) + 1;
        if (xor_of(b, 2 + 2 * n) != b[2 + 2 * n]) {
            nack(d);
            return;
        }
        for (size_t i = 0; i < n; i++) {
            if (erase_page(d, (uint32_t)b[2 + 2 * i] << 8 | b[3 + 2 * i]) < 0) {
                nack(d);
                return;
            }
        }
        ack_later(d, (uint32_t)n * d->erase_ms, 0);
        return;
    }
    case S_GO_ADDR:
        if (addr_frame(d) < 0 || !(in_flash(d, d->addr, 4) || in_ram(d, d->addr, 4))) {
            nack(d);
            return;
        }
        put(d, ACK);
        d->go_address = d->addr;
        d->head.completions++;
        d->head.status = SIMDEV_COMPLETE;
        reset(d); /* the application runs; the next job starts from reset */
        return;
    }
}

static void command(struct simdev *d, uint8_t c)
{
    static const uint8_t get_legacy[] = {0x00, 0x01, 0x02, 0x11, 0x21, 0x31,
                                         0x43, 0x63, 0x73, 0x82, 0x92};
    static const uint8_t get_ext[] = {0x00, 0x01, 0x02, 0x11, 0x21, 0x31,
                                      0x44, 0x63, 0x73, 0x82, 0x92};
    uint8_t version = d->ext_erase ? 0x31 : 0x22;

    d->commands++;
    if (d->silent_after >= 0 && d->commands > (unsigned long)d->silent_after) {
        d->st = M_DEAF;
        return;
    }
    if (d->nack_every && d->commands % d->nack_every == 0) {
        nack(d);
        return;
    }
    if (c == 0x31 && d->nack_write) {
        d->nack_write--;
        nack(d);
        return;
    }
    if (d->head.status != SIMDEV_COMPLETE)
        d->head.status = SIMDEV_BUSY;
    int protected_cmd = c == 0x11 || c == 0x31 || c == 0x43 || c == 0x44 || c == 0x21;
    if (d->rdp && protected_cmd) {
        nack(d);
        return;
    }
    switch (c) {
    case 0x00: {
        uint8_t r[2 + sizeof(get_ext) + 1];
        r[0] = ACK;
        r[1] = (uint8_t)sizeof(get_ext); /* bytes that follow, minus one */
        r[2] = version;
        memcpy(r + 3, d->ext_erase ? get_ext : get_legacy, sizeof(get_ext));
        simdev_send(&d->head, r, 3 + sizeof(get_ext));
        put(d, ACK);
        to_cmd(d);
        return;
    }
    case 0x01: {
        uint8_t r[5] = {ACK, version, 0x00, 0x00, ACK};
        simdev_send(&d->head, r, sizeof(r));
        to_cmd(d);
        return;
    }
    case 0x02: {
        uint8_t r[5] = {ACK, 0x01, (uint8_t)(d->chip.pid >> 8), (uint8_t)d->chip.pid, ACK};
        simdev_send(&d->head, r, sizeof(r));
        to_cmd(d);
        return;
    }
    case 0x11:
        put(d, ACK);
        collect(d, S_READ_ADDR, 5);
        return;
    case 0x21:
        put(d, ACK);
        collect(d, S_GO_ADDR, 5);
        return;
    case 0x31:
        put(d, ACK);
        collect(d, S_WRITE_ADDR, 5);
        return;
    case 0x43:
    case 0x44:
        if ((c == 0x44) != (d->ext_erase != 0)) {
            nack(d);
            return;
        }
        put(d, ACK);
        if (c == 0x43)
            collect(d, S_ERASE_N, 1);
        else
            collect(d, S_XERASE_N, 2);
        return;
    case 0x73: /* Write Unprotect: nothing is write-protected here */
        put(d, ACK);
        put(d, ACK);
        reset(d);
        return;
    case 0x82: /* Readout Protect */
        put(d, ACK);
        d->rdp = 1;
        put(d, ACK);
        reset(d);
        return;
    case 0x92: /* Readout Unprotect: mass erase, then reset */
        put(d, ACK);
        mass_erase(d);
        d->rdp = 0;
        ack_later(d, d->mass_erase_ms, 1);
        return;
    default:
        nack(d);
        return;
    }
}

static void on_byte(struct simdev *d, uint8_t c)
{
    switch (d->st) {
    case M_UNSYNCED:
        if (c == 0x7f) {
            put(d, ACK);
            to_cmd(d);
            if (d->head.status == SIMDEV_IDLE)
                d->head.status = SIMDEV_BUSY;
        }
        return; /* anything else: autobaud sees no 0x7F */
    case M_CMD:
        if (!d->have_cmd1) {
            d->cmd1 = c;
            d->have_cmd1 = 1;
            return;
        }
        d->have_cmd1 = 0;
        if ((uint8_t)(d->cmd1 ^ c) != 0xff) {
            put(d, NACK);
            return;
        }
        command(d, d->cmd1);
        return;
    case M_COLLECT:
        d->buf[d->have++] = c;
        if (d->have == d->need)
            stage_done(d);
        return;
    default:
        return; /* busy or deaf: the byte is lost */
    }
}

/* ---- simdev_class ---- */

static struct simdev *dev_create(const char *options, const struct simdev_io *io, void *ctx,
                                 char *err, size_t errlen)
{
    struct simdev *d = simdev_alloc(sizeof(*d), io, ctx, err, errlen);
    if (!d)
        return NULL;
    d->fill = -1;
    d->silent_after = -1;
    if (parse_options(d, options, err, errlen) < 0) {
        free(d);
        return NULL;
    }
    d->ram_size = d->chip.ram_end > d->chip.ram_start ? d->chip.ram_end - d->chip.ram_start : 0;
    d->flash = malloc(d->chip.flash_size);
    d->ram = calloc(1, d->ram_size ? d->ram_size : 1);
    if (!d->flash || !d->ram) {
        free(d->flash);
        free(d->ram);
        free(d);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (d->fill < 0)
        simdev_old_firmware(d->flash, d->chip.flash_size);
    else
        memset(d->flash, d->fill, d->chip.flash_size);
    d->st = M_OFF;
    return d;
}

static void dev_destroy(struct simdev *d)
{
    if (!d)
        return;
    free(d->flash);
    free(d->ram);
    free(d);
}

/* Power-on reset: the flash keeps its content; the bootloader waits for 0x7F. */
static void dev_start(struct simdev *d)
{
    d->head.status = SIMDEV_IDLE;
    if (d->silent_after == 0) {
        d->st = M_DEAF;
        return;
    }
    reset(d);
}

static void dev_on_rx(struct simdev *d, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        on_byte(d, data[i]);
}

static void dev_on_timer(struct simdev *d)
{
    if (d->st != M_BUSY)
        return;
    put(d, ACK);
    if (d->reset_after_busy)
        reset(d);
    else
        to_cmd(d);
}

/* The whole flash, base to end. */
static const uint8_t *dev_content(const struct simdev *d, size_t *len)
{
    *len = d->chip.flash_size;
    return d->flash;
}

static uint32_t dev_erase_page(const struct simdev *d)
{
    uint32_t start, size;
    return stm32_chip_page_at(&d->chip, 0, &start, &size) < 0 ? 0 : size;
}

const struct simdev_class simdev_stm32 = {
    .name = "stm32",
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
