/*
 * STM32 ROM UART bootloader host (ST AN3155) as a sans-I/O engine.
 *
 * Links to real chips must use even parity (`parity: even`, 8E1): the ROM
 * autobauds on 0x7F and checks parity on every byte, so an 8N1 line draws
 * no answer at all. Pseudo-terminals cannot carry parity, so simulated
 * devices run 8N1; the engine is the same either way.
 *
 * A job: sync (0x7F), Get, Get Version, Get ID; flash geometry from the
 * product ID (stm32_devices.h, or the flash_size/page_size options); a
 * 4-byte Read of the flash base, whose NACK means read-out protection;
 * erase of only the pages or sectors the image touches (Extended Erase 0x44
 * or Erase 0x43, whichever Get lists); 256-byte Write Memory blocks aligned
 * to 256-byte windows, each read back right away (verify=block) or all at
 * the end (verify=after); Go.
 *
 * Every command is a transaction of steps (bytes to send, then an ACK or a
 * reply to collect). A NACK restarts the transaction; a timeout first
 * resynchronises the bootloader's command parser by sending the invalid
 * command FF 00 until it answers NACK (as stm32flash does), since the
 * device may be halfway through a frame, then restarts it.
 *
 * Each step's bytes go out as one unit completed on the wire, and the wait
 * for its answer starts at that completion, so the timeouts hold at any
 * line speed.
 */
#include <fwupgw/protocol.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/engine.h"
#include "common/options.h"
#include "stm32_devices.h"

#define ACK  0x79
#define NACK 0x1F
#define BUSY 0x76
#define SYNC 0x7F

#define CMD_GET       0x00
#define CMD_GVR       0x01
#define CMD_GID       0x02
#define CMD_READ      0x11
#define CMD_GO        0x21
#define CMD_WRITE     0x31
#define CMD_ERASE     0x43
#define CMD_EXT_ERASE 0x44
#define CMD_RUNPROT   0x92

#define BLOCK 256
/* Pages per erase command: the legacy count is one byte (0xFF means
 * global), and some parts (STM32L1) take at most 512 per Extended Erase. */
#define LEGACY_ERASE_MAX 255
#define EXT_ERASE_MAX    128
/* Resync: one FF 00 pair every RESYNC_MS until a NACK; enough pairs to
 * complete the longest frame a device can be waiting for. */
#define RESYNC_PAIRS 140
#define RESYNC_MS    100
/* A probe Read NACKed this many times in a row means read-out protection. */
#define PROBE_TRIES 2
/* Readout Unprotect resets the chip: let the ROM come back before syncing. */
#define RESET_MS 200
/* The engine's one timer: a step's answer, a resync pair, the reset. */
#define T_WAIT 0

enum erase_mode { ERASE_PAGES, ERASE_MASS, ERASE_NONE };
enum verify_mode { VERIFY_BLOCK, VERIFY_AFTER, VERIFY_NONE };

struct st_opts {
    enum erase_mode erase;
    enum verify_mode verify;
    int go, unprotect;
    int have_go_address, have_flash_base;
    uint32_t go_address, flash_base, flash_size, page_size;
    unsigned retries, sync_retries;
    uint32_t sync_timeout, cmd_timeout, write_timeout, page_erase_timeout, mass_erase_timeout;
};

enum rx_kind {
    RX_ACK,     /* one ACK (NACK fails the step) */
    RX_SYNC,    /* ACK, or NACK meaning "already synced" */
    RX_BYTES,   /* `want` raw bytes */
    RX_LENBLOB, /* N, then N+1 bytes */
};

struct step {
    uint16_t off, len; /* bytes of e->tx to send first */
    uint8_t kind;
    uint16_t want;
    uint32_t timeout;
};

enum op {
    OP_NONE,
    OP_SYNC,
    OP_GET,
    OP_GVR,
    OP_GID,
    OP_PROBE,
    OP_UNPROTECT,
    OP_RESET_WAIT,
    OP_ERASE,
    OP_WRITE,
    OP_READ,
    OP_GO,
    OP_RESYNC,
};

struct blk {
    uint32_t addr, len, image_bytes;
    uint8_t data[BLOCK];
};

struct fwup_engine {
    const struct fwup_host_ops *ops;
    void *host;
    const struct fwup_image *image;
    struct st_opts o;
    struct fwup_line line; /* the link's speed and framing */
    int finished;

    /* device */
    uint16_t pid;
    uint8_t bl_version;
    uint8_t cmds[32];
    size_t ncmds;
    uint8_t erase_cmd; /* 0x43, 0x44, or 0 if none */
    struct stm32_chip chip;
    int unprotected;

    /* current transaction */
    enum op op, resync_for;
    const char *phase; /* for progress and error messages */
    const char *what;  /* the command, for error messages */
    uint32_t where;    /* its address, for error messages */
    uint8_t tx[2 + 2 * EXT_ERASE_MAX + 8 + BLOCK];
    struct step steps[5];
    unsigned nsteps, cur;
    uint8_t rx[BLOCK + 8];
    size_t rxlen, want;
    int waiting, tx_pending; /* an answer is awaited; its step's bytes are leaving */
    uint32_t tag;            /* of the unit in flight */
    uint32_t cur_timeout;
    unsigned nacks, timeouts, sync_tries, resync_pairs, probe_nacks;

    /* erase */
    uint32_t *pages;
    size_t npages, page_pos, chunk;

    /* write / verify */
    uint64_t cursor;
    int verify_pass;
    struct blk b;
    uint64_t done;
};

static const struct fwup_option_desc st_options[] = {
    {"erase", FWUP_OPT_ENUM, "pages", "pages|mass|none", 0, 0,
     "pages: erase only the pages/sectors the image touches; mass: whole flash; none: no erase"},
    {"verify", FWUP_OPT_ENUM, "block", "block|after|none", 0, 0,
     "read each block back right after writing it, or everything after the write"},
    {"go", FWUP_OPT_BOOL, "yes", NULL, 0, 0, "start the application with Go when done"},
    {"go_address", FWUP_OPT_INT, NULL, NULL, 0, 0xffffffffLL, "Go address (default: flash base)"},
    {"unprotect", FWUP_OPT_BOOL, "no", NULL, 0, 0,
     "on a read-out protected chip, issue Readout Unprotect (mass-erases the chip) and go on"},
    {"flash_base", FWUP_OPT_INT, NULL, NULL, 0, 0xffffffffLL,
     "flash base with flash_size/page_size (default 0x08000000)"},
    {"flash_size", FWUP_OPT_INT, NULL, NULL, 1, 0x10000000,
     "flash bytes, for product IDs not in the device table (with page_size)"},
    {"page_size", FWUP_OPT_INT, NULL, NULL, 4, 0x100000,
     "uniform erase page bytes (with flash_size)"},
    {"retries", FWUP_OPT_INT, "3", NULL, 0, 100, "NACKs or timeouts tolerated per command"},
    {"sync_retries", FWUP_OPT_INT, "5", NULL, 1, 100, "0x7F sync bytes before a full resync"},
    {"sync_timeout", FWUP_OPT_INT, "500", NULL, 10, 60000, "ms to wait for the answer to 0x7F"},
    {"cmd_timeout", FWUP_OPT_INT, "1000", NULL, 10, 600000, "ms to wait for an ACK or reply"},
    {"write_timeout", FWUP_OPT_INT, "1000", NULL, 10, 600000, "ms for a block write's ACK"},
    {"page_erase_timeout", FWUP_OPT_INT, "5000", NULL, 10, 600000, "ms per page erased"},
    {"mass_erase_timeout", FWUP_OPT_INT, "35000", NULL, 10, 3600000,
     "ms for mass erase and Readout Unprotect"},
};

#define NOPTIONS (sizeof(st_options) / sizeof(st_options[0]))

/* ---- options ---- */

static int parse_options(const struct fwup_job_params *p, struct st_opts *o, char *err,
                         size_t errlen)
{
    struct fwup_opts r;
    int64_t v[11];
    int erase, verify;
    /* Every option but these four has a default in st_options. */
    static const char *const ints[] = {"retries",           "sync_retries",  "sync_timeout",
                                       "cmd_timeout",       "write_timeout", "page_erase_timeout",
                                       "mass_erase_timeout"};
    memset(o, 0, sizeof(*o));
    if (fwup_opts_init(&r, "stm32-uart", st_options, NOPTIONS, p, err, errlen) < 0 ||
        (erase = fwup_opt_enum(&r, "erase")) < 0 || (verify = fwup_opt_enum(&r, "verify")) < 0 ||
        fwup_opt_bool(&r, "go", &o->go) != 0 || fwup_opt_bool(&r, "unprotect", &o->unprotect) != 0)
        return -1;
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        if (fwup_opt_int(&r, ints[i], &v[i]) != 0)
            return -1;
    /* Enum values follow the order of the choices. */
    o->erase = (enum erase_mode)erase;
    o->verify = (enum verify_mode)verify;
    o->retries = (unsigned)v[0];
    o->sync_retries = (unsigned)v[1];
    o->sync_timeout = (uint32_t)v[2];
    o->cmd_timeout = (uint32_t)v[3];
    o->write_timeout = (uint32_t)v[4];
    o->page_erase_timeout = (uint32_t)v[5];
    o->mass_erase_timeout = (uint32_t)v[6];
    /* The address options have no default: 1 from fwup_opt_int = not given. */
    int go = fwup_opt_int(&r, "go_address", &v[7]), base = fwup_opt_int(&r, "flash_base", &v[8]);
    int size = fwup_opt_int(&r, "flash_size", &v[9]), page = fwup_opt_int(&r, "page_size", &v[10]);
    if (go < 0 || base < 0 || size < 0 || page < 0)
        return -1;
    o->have_go_address = go == 0;
    o->go_address = go == 0 ? (uint32_t)v[7] : 0;
    o->have_flash_base = base == 0;
    o->flash_base = base == 0 ? (uint32_t)v[8] : STM32_FLASH;
    o->flash_size = size == 0 ? (uint32_t)v[9] : 0;
    o->page_size = page == 0 ? (uint32_t)v[10] : 0;
    if ((o->flash_size != 0) != (o->page_size != 0)) {
        snprintf(err, errlen, "stm32-uart: flash_size and page_size go together");
        return -1;
    }
    /* Alone it would be silently ignored: the chip table has the base. */
    if (o->have_flash_base && !o->flash_size) {
        snprintf(err, errlen, "stm32-uart: flash_base goes with flash_size and page_size");
        return -1;
    }
    if (o->page_size && o->flash_size % o->page_size) {
        snprintf(err, errlen, "stm32-uart: flash_size %u is not a multiple of page_size %u",
                 o->flash_size, o->page_size);
        return -1;
    }
    if (o->page_size && o->flash_size / o->page_size > 65535) {
        snprintf(err, errlen, "stm32-uart: more than 65535 pages of %u bytes", o->page_size);
        return -1;
    }
    return 0;
}

/* Every image byte inside [base, base+size)? Else say where it is not. */
static int check_range(const struct fwup_image *img, uint64_t base, uint64_t size, const char *what,
                       char *err, size_t errlen)
{
    uint64_t lo, hi;
    if (fwup_image_span(img, 0, base, &lo, &hi) == 0 ||
        fwup_image_span(img, base + size, FWUP_IMAGE_END, &lo, &hi) == 0) {
        snprintf(err, errlen,
                 "stm32-uart: image bytes at 0x%08llx..0x%08llx are outside the %s "
                 "0x%08llx..0x%08llx",
                 (unsigned long long)lo, (unsigned long long)(hi - 1), what,
                 (unsigned long long)base, (unsigned long long)(base + size - 1));
        return -1;
    }
    return 0;
}

static int st_check_image(const struct fwup_job_params *params, char *err, size_t errlen)
{
    struct st_opts o;
    if (parse_options(params, &o, err, errlen) < 0)
        return -1;
    if (!params->image || params->image->nsegments == 0 || params->image->total == 0) {
        snprintf(err, errlen, "stm32-uart: empty image");
        return -1;
    }
    if (params->flash_size && check_range(params->image, params->flash_base, params->flash_size,
                                          "declared flash", err, errlen) < 0)
        return -1;
    if (o.flash_size && check_range(params->image, o.flash_base, o.flash_size,
                                    "flash given by the options", err, errlen) < 0)
        return -1;
    return 0;
}

/* ---- host helpers ---- */

static void finish(struct fwup_engine *e, enum fwup_result r, const char *msg)
{
    if (e->finished)
        return;
    e->ops->timer(e->host, T_WAIT, 0);
    e->finished = 1;
    e->waiting = 0;
    e->ops->finish(e->host, r, msg);
}

/* The shared logger bound to this engine's host. */
#define logf_(e, ...) fwup_logf((e)->ops, (e)->host, __VA_ARGS__)

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
fail(struct fwup_engine *e, enum fwup_result r, const char *fmt, ...);

static void fail(struct fwup_engine *e, enum fwup_result r, const char *fmt, ...)
{
    char buf[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    finish(e, r, buf);
}

static void progress(struct fwup_engine *e, const char *phase, uint64_t done)
{
    e->phase = phase;
    e->ops->progress(e->host, phase, done, e->image->total);
}

/* Send bytes whose answer is then awaited for `ms`, counted from when they
 * have left the UART. */
static int send_and_arm(struct fwup_engine *e, const uint8_t *d, size_t n, uint32_t ms)
{
    e->cur_timeout = ms;
    e->tx_pending = 1;
    e->ops->timer(e->host, T_WAIT, 0);
    if (fwup_send_bytes(e->ops, e->host, d, n, ++e->tag, FWUP_SUBMIT_ON_WIRE,
                        fwup_line_tx_timeout(&e->line, n, ms)) < 0) {
        fail(e, FWUP_RESULT_TRANSIENT, "stm32-uart: link lost during %s", e->phase);
        return -1;
    }
    return 0;
}

static void arm(struct fwup_engine *e, uint32_t ms)
{
    e->cur_timeout = ms;
    e->tx_pending = 0;
    e->ops->timer(e->host, T_WAIT, ms);
}

static void flush_rx(struct fwup_engine *e)
{
    fwup_flush_rx(e->ops, e->host);
}

/* ---- transactions ---- */

static void put_addr(uint8_t *p, uint32_t a)
{
    p[0] = (uint8_t)(a >> 24);
    p[1] = (uint8_t)(a >> 16);
    p[2] = (uint8_t)(a >> 8);
    p[3] = (uint8_t)a;
    p[4] = p[0] ^ p[1] ^ p[2] ^ p[3];
}

/* Start building a transaction: the command pair and its ACK. */
static void tr_begin(struct fwup_engine *e, enum op op, const char *what, uint32_t where)
{
    e->op = op;
    e->what = what;
    e->where = where;
    e->nsteps = 0;
    e->nacks = 0;
    e->timeouts = 0;
}

/* Append a step: `len` bytes (copied into tx) then the reply of `kind`. */
static void tr_step(struct fwup_engine *e, const uint8_t *data, size_t len, enum rx_kind kind,
                    size_t want, uint32_t timeout)
{
    struct step *s = &e->steps[e->nsteps];
    uint16_t off = 0;
    if (e->nsteps > 0)
        off = (uint16_t)(e->steps[e->nsteps - 1].off + e->steps[e->nsteps - 1].len);
    if (len)
        memcpy(e->tx + off, data, len);
    *s = (struct step){off, (uint16_t)len, (uint8_t)kind, (uint16_t)want, timeout};
    e->nsteps++;
}

static void tr_cmd(struct fwup_engine *e, uint8_t cmd)
{
    uint8_t pair[2] = {cmd, (uint8_t)(cmd ^ 0xff)};
    tr_step(e, pair, 2, RX_ACK, 0, e->o.cmd_timeout);
}

static void send_step(struct fwup_engine *e)
{
    const struct step *s = &e->steps[e->cur];
    if (s->kind == RX_BYTES || s->kind == RX_LENBLOB) {
        e->rxlen = 0; /* (an ACK step keeps the reply before it) */
        e->want = s->kind == RX_BYTES ? s->want : 1;
    }
    e->waiting = 1;
    /* the wait allows for a known-length reply on the wire */
    uint32_t ms = s->timeout + fwup_line_ms(&e->line, s->kind == RX_BYTES ? s->want : 1);
    if (s->len)
        send_and_arm(e, e->tx + s->off, s->len, ms);
    else
        arm(e, ms);
}

static void tr_run(struct fwup_engine *e)
{
    e->cur = 0;
    send_step(e);
}

static void op_done(struct fwup_engine *e);
static void start_resync(struct fwup_engine *e);

static int is_data_op(enum op op)
{
    return op == OP_ERASE || op == OP_WRITE || op == OP_GO;
}

static void protected_chip(struct fwup_engine *e);

/* The device said NACK to a step of the current transaction. */
static void on_nack(struct fwup_engine *e)
{
    e->waiting = 0;
    e->ops->timer(e->host, T_WAIT, 0);
    if (e->op == OP_PROBE) {
        if (++e->probe_nacks >= PROBE_TRIES) {
            protected_chip(e);
            return;
        }
        tr_run(e);
        return;
    }
    if (++e->nacks > e->o.retries) {
        fail(e, is_data_op(e->op) ? FWUP_RESULT_PERMANENT : FWUP_RESULT_TRANSIENT,
             "stm32-uart: %s: device refused %s at 0x%08x (NACK %u times)%s", e->phase, e->what,
             e->where, e->nacks, is_data_op(e->op) ? ": write-protected or invalid address?" : "");
        return;
    }
    logf_(e, FWUP_LOG_DEBUG, "stm32-uart: NACK on %s at 0x%08x, retrying", e->what, e->where);
    flush_rx(e);
    tr_run(e);
}

static void step_done(struct fwup_engine *e)
{
    e->waiting = 0;
    if (++e->cur < e->nsteps) {
        send_step(e);
        return;
    }
    e->ops->timer(e->host, T_WAIT, 0);
    op_done(e);
}

/* No (sensible) answer to a step: resync, then run the transaction again. */
static void lost_step(struct fwup_engine *e)
{
    if (++e->timeouts > e->o.retries) {
        fail(e, FWUP_RESULT_TRANSIENT,
             "stm32-uart: device silent during %s at 0x%08x (%s, %u timeouts)", e->phase, e->where,
             e->what, e->timeouts);
        return;
    }
    logf_(e, FWUP_LOG_DEBUG, "stm32-uart: no answer to %s at 0x%08x, resyncing", e->what, e->where);
    start_resync(e);
}

static void on_byte(struct fwup_engine *e, uint8_t c)
{
    if (e->op == OP_RESYNC) {
        if (c == NACK) {
            /* The parser is back at a command boundary. */
            e->waiting = 0;
            e->ops->timer(e->host, T_WAIT, 0);
            e->op = e->resync_for;
            if (e->op == OP_SYNC) {
                op_done(e);
            } else {
                flush_rx(e);
                tr_run(e);
            }
        }
        return;
    }
    if (!e->waiting)
        return; /* nothing asked: noise, or the tail of a reply we gave up on */
    const struct step *s = &e->steps[e->cur];
    switch (s->kind) {
    case RX_SYNC:
        if (c == ACK || c == NACK) {
            if (c == NACK)
                logf_(e, FWUP_LOG_INFO, "stm32-uart: NACK to 0x7F: bootloader already synced");
            step_done(e);
        }
        break;
    case RX_ACK:
        if (c == ACK)
            step_done(e);
        else if (c == NACK)
            on_nack(e);
        else if (c != BUSY) {
            logf_(e, FWUP_LOG_DEBUG, "stm32-uart: 0x%02x instead of ACK on %s", c, e->what);
            e->waiting = 0;
            e->ops->timer(e->host, T_WAIT, 0);
            lost_step(e);
        }
        break;
    case RX_BYTES:
    case RX_LENBLOB:
        e->rx[e->rxlen++] = c;
        if (s->kind == RX_LENBLOB && e->rxlen == 1)
            e->want = (size_t)c + 2;
        if (e->rxlen == e->want)
            step_done(e);
        break;
    default:
        break;
    }
}

/* ---- connect ---- */

static void start_sync(struct fwup_engine *e)
{
    static const uint8_t sync = SYNC;
    tr_begin(e, OP_SYNC, "sync (0x7F)", 0);
    tr_step(e, &sync, 1, RX_SYNC, 0, e->o.sync_timeout);
    e->sync_tries = 0;
    tr_run(e);
}

static void start_resync(struct fwup_engine *e)
{
    static const uint8_t pair[2] = {0xff, 0x00};
    if (e->op != OP_RESYNC) {
        e->resync_for = e->op;
        e->op = OP_RESYNC;
        e->resync_pairs = 0;
        flush_rx(e);
    }
    if (++e->resync_pairs > RESYNC_PAIRS) {
        fail(e, FWUP_RESULT_TRANSIENT, "stm32-uart: device silent during %s at 0x%08x (%s)",
             e->phase, e->where, e->what);
        return;
    }
    e->waiting = 1;
    send_and_arm(e, pair, 2, RESYNC_MS);
}

static void start_simple(struct fwup_engine *e, enum op op, uint8_t cmd, const char *what)
{
    tr_begin(e, op, what, 0);
    tr_cmd(e, cmd);
    if (op == OP_GVR)
        tr_step(e, NULL, 0, RX_BYTES, 3, e->o.cmd_timeout);
    else
        tr_step(e, NULL, 0, RX_LENBLOB, 0, e->o.cmd_timeout);
    tr_step(e, NULL, 0, RX_ACK, 0, e->o.cmd_timeout);
    tr_run(e);
}

static void start_read(struct fwup_engine *e, enum op op, uint32_t addr, uint32_t len)
{
    uint8_t a[5], n[2] = {(uint8_t)(len - 1), (uint8_t) ~(len - 1)};
    put_addr(a, addr);
    tr_begin(e, op, op == OP_PROBE ? "read (protection probe)" : "read", addr);
    tr_cmd(e, CMD_READ);
    tr_step(e, a, 5, RX_ACK, 0, e->o.cmd_timeout);
    tr_step(e, n, 2, RX_ACK, 0, e->o.cmd_timeout);
    tr_step(e, NULL, 0, RX_BYTES, len, 2 * e->o.cmd_timeout);
    tr_run(e);
}

static int has_cmd(const struct fwup_engine *e, uint8_t c)
{
    for (size_t i = 0; i < e->ncmds; i++)
        if (e->cmds[i] == c)
            return 1;
    return 0;
}

static void protected_chip(struct fwup_engine *e)
{
    if (!e->o.unprotect || e->unprotected) {
        fail(e, FWUP_RESULT_PERMANENT,
             e->unprotected ? "stm32-uart: chip still read-out protected after Readout Unprotect"
                            : "stm32-uart: chip is read-out protected (Read Memory NACKed); "
                              "option unprotect=yes mass-erases it and removes the protection");
        return;
    }
    if (!has_cmd(e, CMD_RUNPROT)) {
        fail(e, FWUP_RESULT_PERMANENT,
             "stm32-uart: chip is read-out protected and its bootloader has no Readout Unprotect");
        return;
    }
    logf_(e, FWUP_LOG_NOTICE,
          "stm32-uart: chip is read-out protected: Readout Unprotect "
          "(mass erase, reset)");
    e->unprotected = 1;
    tr_begin(e, OP_UNPROTECT, "Readout Unprotect", e->chip.flash_base);
    tr_cmd(e, CMD_RUNPROT);
    tr_step(e, NULL, 0, RX_ACK, 0, e->o.mass_erase_timeout);
    tr_run(e);
}

/* Geometry from the options or the table; the image must fit it. */
static int resolve_chip(struct fwup_engine *e)
{
    char err[240];
    const struct stm32_chip *c = stm32_chip_find(e->pid);
    if (e->o.flash_size) {
        memset(&e->chip, 0, sizeof(e->chip));
        e->chip.pid = e->pid;
        e->chip.name = c ? c->name : "unlisted STM32";
        e->chip.flash_base = e->o.flash_base;
        e->chip.flash_size = e->o.flash_size;
        e->chip.nruns = 1;
        e->chip.runs[0].count = (uint16_t)(e->o.flash_size / e->o.page_size);
        e->chip.runs[0].size = e->o.page_size;
    } else if (c) {
        e->chip = *c;
    } else {
        fail(e, FWUP_RESULT_PERMANENT,
             "stm32-uart: unknown STM32 product ID 0x%03x: give its geometry with the options "
             "flash_size and page_size",
             e->pid);
        return -1;
    }
    if (check_range(e->image, e->chip.flash_base, e->chip.flash_size, "chip's flash", err,
                    sizeof(err)) < 0) {
        fail(e, FWUP_RESULT_PERMANENT, "%s (PID 0x%03x, %s)", err, e->pid, e->chip.name);
        return -1;
    }
    return 0;
}

static void after_id(struct fwup_engine *e)
{
    if (resolve_chip(e) < 0)
        return;
    logf_(e, FWUP_LOG_INFO, "stm32-uart: PID 0x%03x %s, bootloader %u.%u, flash %u KiB at 0x%08x",
          e->pid, e->chip.name, e->bl_version >> 4, e->bl_version & 15, e->chip.flash_size / 1024,
          e->chip.flash_base);
    e->erase_cmd = has_cmd(e, CMD_EXT_ERASE) ? CMD_EXT_ERASE
                   : has_cmd(e, CMD_ERASE)   ? CMD_ERASE
                                             : 0;
    const char *missing = !has_cmd(e, CMD_WRITE)                      ? "Write Memory"
                          : !has_cmd(e, CMD_READ)                     ? "Read Memory"
                          : e->o.erase != ERASE_NONE && !e->erase_cmd ? "Erase"
                          : e->o.go && !has_cmd(e, CMD_GO)            ? "Go"
                                                                      : NULL;
    if (missing) {
        fail(e, FWUP_RESULT_PERMANENT, "stm32-uart: bootloader does not offer %s", missing);
        return;
    }
    e->probe_nacks = 0;
    start_read(e, OP_PROBE, e->chip.flash_base, 4);
}

/* ---- erase ---- */

static int add_page(struct fwup_engine *e, uint32_t idx)
{
    /* Segments are sorted, so pages come in order: only the last can repeat. */
    if (e->npages && e->pages[e->npages - 1] >= idx)
        return 0;
    uint32_t *p = realloc(e->pages, (e->npages + 1) * sizeof(*p));
    if (!p)
        return -1;
    e->pages = p;
    e->pages[e->npages++] = idx;
    return 0;
}

static int plan_pages(struct fwup_engine *e)
{
    const struct stm32_chip *c = &e->chip;
    struct fwup_image_walk w;
    struct fwup_image_run run;
    fwup_image_walk_init(&w, e->image, 0, FWUP_IMAGE_END);
    while (fwup_image_walk_next(&w, &run)) {
        uint32_t off = (uint32_t)run.addr - c->flash_base, end = off + (uint32_t)run.len;
        while (off < end) {
            uint32_t idx, start, size;
            if (stm32_chip_page_of(c, off, &idx, &start, &size) < 0)
                return -1;
            if (add_page(e, idx) < 0)
                return -1;
            off = start + size;
        }
    }
    return 0;
}

static void start_write_phase(struct fwup_engine *e);

static void erase_next(struct fwup_engine *e)
{
    uint8_t buf[2 + 2 * EXT_ERASE_MAX + 1], cs = 0;
    size_t n = 0;
    if (e->page_pos >= e->npages) {
        start_write_phase(e);
        return;
    }
    size_t left = e->npages - e->page_pos;
    int ext = e->erase_cmd == CMD_EXT_ERASE;
    size_t k = left < (ext ? EXT_ERASE_MAX : LEGACY_ERASE_MAX)
                   ? left
                   : (ext ? EXT_ERASE_MAX : LEGACY_ERASE_MAX);
    uint32_t first = e->pages[e->page_pos], start = 0, size = 0;
    stm32_chip_page_at(&e->chip, first, &start, &size);
    if (ext) {
        buf[n++] = (uint8_t)((k - 1) >> 8);
        buf[n++] = (uint8_t)(k - 1);
        for (size_t i = 0; i < k; i++) {
            buf[n++] = (uint8_t)(e->pages[e->page_pos + i] >> 8);
            buf[n++] = (uint8_t)e->pages[e->page_pos + i];
        }
    } else {
        buf[n++] = (uint8_t)(k - 1);
        for (size_t i = 0; i < k; i++) {
            if (e->pages[e->page_pos + i] > 0xff) {
                fail(e, FWUP_RESULT_PERMANENT,
                     "stm32-uart: page %u is beyond what legacy Erase (0x43) can address",
                     e->pages[e->page_pos + i]);
                return;
            }
            buf[n++] = (uint8_t)e->pages[e->page_pos + i];
        }
    }
    for (size_t i = 0; i < n; i++)
        cs ^= buf[i];
    buf[n++] = cs;
    e->chunk = k;
    uint64_t t = (uint64_t)k * e->o.page_erase_timeout;
    tr_begin(e, OP_ERASE, "erase", e->chip.flash_base + start);
    tr_cmd(e, e->erase_cmd);
    tr_step(e, buf, n, RX_ACK, 0, t > 3600000 ? 3600000 : (uint32_t)t);
    tr_run(e);
}

static void start_erase_phase(struct fwup_engine *e)
{
    progress(e, "erase", 0);
    if (e->o.erase == ERASE_NONE) {
        start_write_phase(e);
        return;
    }
    if (e->o.erase == ERASE_MASS) {
        static const uint8_t ext_mass[3] = {0xff, 0xff, 0x00}, mass[2] = {0xff, 0x00};
        logf_(e, FWUP_LOG_INFO, "stm32-uart: mass erase");
        e->page_pos = e->npages = 0;
        tr_begin(e, OP_ERASE, "mass erase", e->chip.flash_base);
        tr_cmd(e, e->erase_cmd);
        if (e->erase_cmd == CMD_EXT_ERASE)
            tr_step(e, ext_mass, 3, RX_ACK, 0, e->o.mass_erase_timeout);
        else
            tr_step(e, mass, 2, RX_ACK, 0, e->o.mass_erase_timeout);
        tr_run(e);
        return;
    }
    free(e->pages);
    e->pages = NULL;
    e->npages = e->page_pos = 0;
    if (plan_pages(e) < 0) {
        fail(e, FWUP_RESULT_PERMANENT, "stm32-uart: cannot plan the erase (out of memory?)");
        return;
    }
    logf_(e, FWUP_LOG_INFO, "stm32-uart: erasing %zu page(s) with %s", e->npages,
          e->erase_cmd == CMD_EXT_ERASE ? "Extended Erase" : "Erase");
    erase_next(e);
}

/* ---- write / verify ---- */

/*
 * The next block at or after `from`: the 256-byte window holding the first
 * image byte there, trimmed to the image bytes in it and widened to 4-byte
 * alignment. Gaps and padding are 0xFF, which programs nothing.
 */
static int next_block(struct fwup_engine *e, uint64_t from, struct blk *b)
{
    struct fwup_image_walk w;
    struct fwup_image_run run;
    uint64_t first, hi;
    fwup_image_walk_init(&w, e->image, from, FWUP_IMAGE_END);
    if (!fwup_image_walk_next(&w, &run))
        return 0;
    first = run.addr;
    fwup_image_span(e->image, first, (first & ~(uint64_t)(BLOCK - 1)) + BLOCK, &first, &hi);
    uint64_t lo = first & ~(uint64_t)3;
    hi = (hi + 3) & ~(uint64_t)3;
    b->addr = (uint32_t)lo;
    b->len = (uint32_t)(hi - lo);
    b->image_bytes = (uint32_t)fwup_image_copy(e->image, lo, b->len, 0xff, b->data);
    return 1;
}

/* Compare a read-back block with the image bytes in it (not the fill). */
static int check_readback(struct fwup_engine *e)
{
    struct fwup_image_walk w;
    struct fwup_image_run run;
    fwup_image_walk_init(&w, e->image, e->b.addr, (uint64_t)e->b.addr + e->b.len);
    while (fwup_image_walk_next(&w, &run)) {
        const uint8_t *got = e->rx + (run.addr - e->b.addr);
        for (size_t i = 0; i < run.len; i++) {
            if (run.data[i] != got[i]) {
                fail(e, FWUP_RESULT_PERMANENT,
                     "stm32-uart: verify failed at 0x%08llx: wrote 0x%02x, read back 0x%02x",
                     (unsigned long long)(run.addr + i), run.data[i], got[i]);
                return -1;
            }
        }
    }
    return 0;
}

static void start_block_write(struct fwup_engine *e)
{
    uint8_t a[5], buf[BLOCK + 2], cs;
    put_addr(a, e->b.addr);
    buf[0] = (uint8_t)(e->b.len - 1);
    cs = buf[0];
    for (uint32_t i = 0; i < e->b.len; i++) {
        buf[1 + i] = e->b.data[i];
        cs ^= e->b.data[i];
    }
    buf[1 + e->b.len] = cs;
    tr_begin(e, OP_WRITE, "write", e->b.addr);
    tr_cmd(e, CMD_WRITE);
    tr_step(e, a, 5, RX_ACK, 0, e->o.cmd_timeout);
    tr_step(e, buf, e->b.len + 2, RX_ACK, 0, e->o.write_timeout);
    tr_run(e);
}

static void start_finish_phase(struct fwup_engine *e);

static void write_next(struct fwup_engine *e)
{
    if (next_block(e, e->cursor, &e->b)) {
        if (e->verify_pass)
            start_read(e, OP_READ, e->b.addr, e->b.len);
        else
            start_block_write(e);
        return;
    }
    if (!e->verify_pass && e->o.verify == VERIFY_AFTER) {
        e->verify_pass = 1;
        e->cursor = 0;
        e->done = 0;
        progress(e, "verify", 0);
        write_next(e);
        return;
    }
    start_finish_phase(e);
}

static void block_done(struct fwup_engine *e)
{
    e->done += e->b.image_bytes;
    e->cursor = (uint64_t)e->b.addr + e->b.len;
    progress(e, e->verify_pass ? "verify" : "write", e->done);
    write_next(e);
}

static void start_write_phase(struct fwup_engine *e)
{
    e->cursor = 0;
    e->done = 0;
    e->verify_pass = 0;
    progress(e, "write", 0);
    write_next(e);
}

static void start_finish_phase(struct fwup_engine *e)
{
    progress(e, "finish", e->image->total);
    if (!e->o.go) {
        finish(e, FWUP_RESULT_OK, NULL);
        return;
    }
    uint32_t addr = e->o.have_go_address ? e->o.go_address : e->chip.flash_base;
    uint8_t a[5];
    put_addr(a, addr);
    tr_begin(e, OP_GO, "Go", addr);
    tr_cmd(e, CMD_GO);
    tr_step(e, a, 5, RX_ACK, 0, e->o.cmd_timeout);
    tr_run(e);
}

/* ---- dispatch ---- */

static void op_done(struct fwup_engine *e)
{
    switch (e->op) {
    case OP_SYNC:
        start_simple(e, OP_GET, CMD_GET, "Get");
        break;
    case OP_GET: {
        size_t n = e->rxlen; /* rx: N, version, N command codes */
        e->bl_version = e->rx[1];
        e->ncmds = 0;
        for (size_t i = 2; i < n && e->ncmds < sizeof(e->cmds); i++)
            e->cmds[e->ncmds++] = e->rx[i];
        start_simple(e, OP_GVR, CMD_GVR, "Get Version");
        break;
    }
    case OP_GVR:
        logf_(e, FWUP_LOG_DEBUG, "stm32-uart: Get Version 0x%02x, option bytes 0x%02x 0x%02x",
              e->rx[0], e->rx[1], e->rx[2]);
        start_simple(e, OP_GID, CMD_GID, "Get ID");
        break;
    case OP_GID:
        if (e->rxlen < 3) {
            fail(e, FWUP_RESULT_PERMANENT, "stm32-uart: Get ID returned no product ID");
            break;
        }
        e->pid = (uint16_t)((e->rx[1] << 8) | e->rx[2]);
        after_id(e);
        break;
    case OP_PROBE:
        start_erase_phase(e);
        break;
    case OP_UNPROTECT:
        /* Both ACKs seen: the chip has mass-erased and is resetting. */
        e->op = OP_RESET_WAIT;
        e->waiting = 0;
        arm(e, RESET_MS);
        break;
    case OP_ERASE:
        if (e->npages == 0) { /* mass erase */
            start_write_phase(e);
            break;
        }
        e->page_pos += e->chunk;
        erase_next(e);
        break;
    case OP_WRITE:
        if (e->o.verify == VERIFY_BLOCK)
            start_read(e, OP_READ, e->b.addr, e->b.len);
        else
            block_done(e);
        break;
    case OP_READ:
        if (check_readback(e) == 0)
            block_done(e);
        break;
    case OP_GO:
        logf_(e, FWUP_LOG_INFO, "stm32-uart: Go 0x%08x", e->where);
        finish(e, FWUP_RESULT_OK, NULL);
        break;
    default:
        break;
    }
}

/* ---- entry points ---- */

static struct fwup_engine *st_create(const struct fwup_job_params *params,
                                     const struct fwup_host_ops *ops, void *host, char *err,
                                     size_t errlen)
{
    if (st_check_image(params, err, errlen) < 0)
        return NULL;
    struct fwup_engine *e = fwup_engine_alloc(sizeof(*e), "stm32-uart", err, errlen);
    if (!e)
        return NULL;
    parse_options(params, &e->o, err, errlen);
    e->line = fwup_line_of(params, 0, 0);
    e->ops = ops;
    e->host = host;
    e->image = params->image;
    e->phase = "connect";
    e->op = OP_NONE;
    return e;
}

static void st_destroy(struct fwup_engine *e)
{
    if (!e)
        return;
    free(e->pages);
    free(e);
}

static void st_on_start(struct fwup_engine *e)
{
    if (e->op != OP_NONE)
        return;
    progress(e, "connect", 0);
    start_sync(e);
}

static void st_on_rx(struct fwup_engine *e, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len && !e->finished; i++)
        on_byte(e, data[i]);
}

/* No answer in time, or the step's bytes could not leave the UART. */
static void timed_out(struct fwup_engine *e)
{
    if (e->op == OP_RESYNC) {
        start_resync(e);
        return;
    }
    e->waiting = 0;
    if (e->op == OP_SYNC) {
        /* A second 0x7F also completes a command pair the synced parser
         * may be holding, which then answers NACK. */
        if (++e->sync_tries < e->o.sync_retries) {
            flush_rx(e);
            send_step(e);
        } else {
            start_resync(e);
        }
        return;
    }
    lost_step(e);
}

static void st_on_timer(struct fwup_engine *e, unsigned id)
{
    if (id != T_WAIT)
        return;
    if (e->op == OP_RESET_WAIT) {
        start_sync(e);
        return;
    }
    if (e->waiting)
        timed_out(e);
}

/* The step's bytes have left the UART: the wait for the answer starts. */
static void st_on_complete(struct fwup_engine *e, uint32_t tag, uint32_t status)
{
    if (tag != e->tag || !e->tx_pending)
        return; /* an abandoned step's */
    e->tx_pending = 0;
    if (!e->waiting)
        return;
    if (status != FWUP_STATUS_OK)
        timed_out(e);
    else
        e->ops->timer(e->host, T_WAIT, e->cur_timeout);
}

static void st_on_cancel(struct fwup_engine *e)
{
    fail(e, FWUP_RESULT_CANCELLED, "stm32-uart: cancelled during %s", e->phase);
}

static void st_link_lost(struct fwup_engine *e)
{
    fail(e, FWUP_RESULT_TRANSIENT, "stm32-uart: link lost during %s", e->phase);
}

static void st_on_event(struct fwup_engine *e, const struct fwup_event *ev)
{
    static const struct fwup_serial_handlers h = {st_on_start, st_on_rx,     st_on_complete,
                                                  st_on_timer, st_on_cancel, st_link_lost};
    if (!e->finished)
        fwup_serial_dispatch(&h, e, ev);
}

/* AN3155: the ROM checks even parity on every byte. */
static int st_link_req(const struct fwup_job_params *params, struct fwup_link_req *req, char *err,
                       size_t errlen)
{
    (void)params;
    (void)err;
    (void)errlen;
    memcpy(req->framing, "8E1", sizeof(req->framing));
    return 0;
}

FWUP_PROTOCOL_EXPORT const struct fwup_protocol FWUP_PROTOCOL_SYMBOL = {
    .abi_version = FWUP_PROTOCOL_ABI_VERSION,
    .struct_size = sizeof(struct fwup_protocol),
    .name = "stm32-uart",
    .description = "STM32 ROM UART bootloader (AN3155): erase, write, verify, Go",
    .transports = FWUP_TRANSPORT_SERIAL,
    .options = st_options,
    .noptions = NOPTIONS,
    .check_image = st_check_image,
    .link_req = st_link_req,
    .create = st_create,
    .destroy = st_destroy,
    .on_event = st_on_event,
};
