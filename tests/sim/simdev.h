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
    enum simdev_state (*state)(const struct simdev *dev);
    /* Bytes the device stored from the last completed transfer (XMODEM:
     * the received file including padding). */
    const uint8_t *(*content)(const struct simdev *dev, size_t *len);
    /* Transfers completed since create. */
    unsigned (*completions)(const struct simdev *dev);
};

/* Registry of built-in device models; NULL if unknown. */
const struct simdev_class *simdev_find(const char *name);

#endif
