/*
 * Simulated devices for tests, benchmarks and the demo. A device model is a
 * sans-I/O state machine like the protocol engines: it gets bytes and timer
 * expiries and answers through simdev_io. The same model runs in-process
 * against an engine on a virtual clock (simlink.h) and behind a real
 * pseudo-terminal in fwupsim.
 */
#ifndef FWUPGW_SIMDEV_H
#define FWUPGW_SIMDEV_H

#include <stddef.h>
#include <stdint.h>

struct simdev;

struct simdev_io {
    /* Put bytes on the line towards the host. */
    void (*send)(void *ctx, const uint8_t *data, size_t len);
    /* Arm the device's single timer (ms == 0 disarms). */
    void (*timer)(void *ctx, uint32_t ms);
};

enum simdev_state {
    SIMDEV_IDLE = 0, /* waiting for a host */
    SIMDEV_BUSY,     /* a transfer is in progress */
    SIMDEV_COMPLETE, /* the last transfer completed; content() holds it */
    SIMDEV_ABORTED,  /* the host cancelled, or the device gave up */
};

/*
 * What every model keeps about itself in the same shape: how to reach the
 * host, and the two observations the harnesses read. Each model's own
 * struct simdev embeds it as its FIRST member, so a struct simdev pointer
 * converted to struct simdev_head points at the head (C11 6.7.2.1: a
 * pointer to a structure, suitably converted, points to its initial
 * member). That is what lets simdev.c allocate devices and answer state()
 * and completions() without knowing any model's layout.
 */
struct simdev_head {
    const struct simdev_io *io;
    void *ctx;
    enum simdev_state status;
    unsigned completions; /* transfers completed since create */
};

struct simdev_class {
    const char *name; /* "xmodem", ... */
    /* `options` is "key=value,key=value" (may be NULL or ""); unknown keys
     * are an error written to err. */
    struct simdev *(*create)(const char *options, const struct simdev_io *io, void *ctx, char *err,
                             size_t errlen);
    void (*destroy)(struct simdev *dev);
    /* Called once the host side is ready (like a power-on). */
    void (*start)(struct simdev *dev);
    void (*on_rx)(struct simdev *dev, const uint8_t *data, size_t len);
    void (*on_timer)(struct simdev *dev);
    /* Models that embed struct simdev_head use simdev_head_state and
     * simdev_head_completions; a model with another layout (e.g. one
     * wrapping a second device) supplies its own. */
    enum simdev_state (*state)(const struct simdev *dev);
    /* Bytes the device stored from the last completed transfer (XMODEM:
     * the received file including padding). */
    const uint8_t *(*content)(const struct simdev *dev, size_t *len);
    /* Transfers completed since create. */
    unsigned (*completions)(const struct simdev *dev);
    /* Erase page size at the start of content() (flash models); NULL or 0:
     * content() is a received file, not flash. */
    uint32_t (*erase_page)(const struct simdev *dev);
};

/* Registry of built-in device models; NULL if unknown. */
const struct simdev_class *simdev_find(const char *name);

/* Allocate a zeroed model of `size` bytes (sizeof its struct simdev, which
 * begins with struct simdev_head) with the head filled in and the status
 * SIMDEV_IDLE. NULL with "out of memory" in err on failure. */
void *simdev_alloc(size_t size, const struct simdev_io *io, void *ctx, char *err, size_t errlen);

/* state() and completions() for models that embed struct simdev_head. */
enum simdev_state simdev_head_state(const struct simdev *dev);
unsigned simdev_head_completions(const struct simdev *dev);

/*
 * Flash models start with "old firmware" unless told to start erased: a
 * pattern of the offset that is never 0xFF and differs from page to page,
 * so a page the host failed to erase, erased without cause, or wrote in the
 * wrong place shows in the content.
 */
static inline uint8_t simdev_old_byte(size_t off)
{
    return (uint8_t)((off * 31 + (off >> 10) * 7 + 0x5a) % 255);
}
void simdev_old_firmware(uint8_t *p, size_t len);

/*
 * What a page-erasing host leaves, for checks: in `want` (`len` bytes of
 * storage, filled by the caller with the starting content), set to 0xFF every
 * `page`-aligned page that [off, off + n) touches (page 0: all of it). The
 * caller then copies the image over it.
 */
void simdev_erase_span(uint8_t *want, size_t len, size_t off, size_t n, size_t page);

/* The model's way to the host through its head. */
static inline void simdev_send(const struct simdev_head *h, const uint8_t *data, size_t len)
{
    h->io->send(h->ctx, data, len);
}

static inline void simdev_timer(const struct simdev_head *h, uint32_t ms)
{
    h->io->timer(h->ctx, ms);
}

#endif
