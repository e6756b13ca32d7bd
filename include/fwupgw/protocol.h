/*
 * fwupgw protocol plugin ABI.
 *
 * A protocol plugin is a shared object that exports one symbol,
 * FWUP_PROTOCOL_SYMBOL, of type `const struct fwup_protocol`. The daemon
 * dlopen()s every *.so in its plugin directory at start-up and refuses a
 * plugin whose abi_version is outside [FWUP_PROTOCOL_ABI_MIN,
 * FWUP_PROTOCOL_ABI_VERSION].
 *
 * An engine is a sans-I/O state machine: it never opens files, touches
 * sockets, sleeps or reads the clock. The host (the daemon, or a test
 * harness) feeds it events through the fwup_protocol entry points and the
 * engine answers through the fwup_host_ops table: send bytes, arm its one
 * timer, report progress, finish. Every host call is non-blocking and may be
 * made from inside an entry point. After the engine calls finish() the host
 * delivers no further events and destroys it.
 *
 * All entry points run on the host's single event-loop thread.
 */
#ifndef FWUPGW_PROTOCOL_H
#define FWUPGW_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bump on any change to the structures or entry points below. A plugin
 * built for a newer ABI than its host's is refused, so it may rely on what
 * its ABI added (ABI 2: fwup_job_params.link); a host may keep loading older
 * plugins as long as what they see of the structures is unchanged. */
#define FWUP_PROTOCOL_ABI_VERSION 2
/* ABI 1 plugins see the same descriptor, host ops and fwup_job_params
 * prefix; they just never read `link`. */
#define FWUP_PROTOCOL_ABI_MIN     1
#define FWUP_PROTOCOL_SYMBOL      fwup_protocol_v1
#define FWUP_PROTOCOL_SYMBOL_NAME "fwup_protocol_v1"

#if defined(__GNUC__)
#define FWUP_PROTOCOL_EXPORT __attribute__((visibility("default")))
#else
#define FWUP_PROTOCOL_EXPORT
#endif

/* Link kinds a protocol can run over (bit mask in fwup_protocol.transports). */
enum fwup_transport {
    FWUP_TRANSPORT_SERIAL = 1u << 0, /* byte stream: UART, pty */
    FWUP_TRANSPORT_CAN = 1u << 1,    /* raw CAN frames */
    FWUP_TRANSPORT_ISOTP = 1u << 2,  /* ISO-TP PDUs */
    FWUP_TRANSPORT_USB = 1u << 3,    /* USB control transfers */
};

/* How a job ended. The host maps these onto job states and retry policy. */
enum fwup_result {
    FWUP_RESULT_OK = 0,
    FWUP_RESULT_TRANSIENT = 1, /* worth retrying: timeout, line noise, busy device */
    FWUP_RESULT_PERMANENT = 2, /* retrying cannot help: refused image, protected chip */
    FWUP_RESULT_CANCELLED = 3, /* the host asked via on_cancel and the engine aborted */
};

/* Log priorities, as syslog's. */
enum fwup_log_prio {
    FWUP_LOG_ERR = 3,
    FWUP_LOG_WARNING = 4,
    FWUP_LOG_NOTICE = 5,
    FWUP_LOG_INFO = 6,
    FWUP_LOG_DEBUG = 7,
};

/* One contiguous run of image bytes at a device address. */
struct fwup_segment {
    uint32_t address;
    uint32_t len;
    const uint8_t *data;
};

/*
 * A parsed firmware image, segments sorted by address and non-overlapping.
 * Valid for the whole life of the engine.
 */
struct fwup_image {
    const struct fwup_segment *segments;
    size_t nsegments;
    uint64_t total; /* sum of segment lengths */
};

/* Protocol option schema, used by the daemon to validate device configs. */
enum fwup_option_type {
    FWUP_OPT_STRING,
    FWUP_OPT_INT,  /* decimal or 0x hex, range [min, max] */
    FWUP_OPT_BOOL, /* true/false/yes/no/1/0 */
    FWUP_OPT_ENUM, /* one of the '|' separated words in choices */
};

struct fwup_option_desc {
    const char *name;
    enum fwup_option_type type;
    const char *default_value; /* NULL: no default (engine decides or requires it) */
    const char *choices;       /* FWUP_OPT_ENUM only, e.g. "auto|crc|checksum" */
    int64_t min, max;          /* FWUP_OPT_INT only */
    const char *help;
};

/* A validated key/value option as given in the device's config. */
struct fwup_option {
    const char *name;
    const char *value;
};

enum fwup_flow_control {
    FWUP_FLOW_CONTROL_NONE,
    FWUP_FLOW_CONTROL_RTSCTS,
    FWUP_FLOW_CONTROL_XONXOFF
};

/* The serial framing the host opened the link with (since ABI 2). Engines
 * take line timing from here; an option of their own only overrides it. */
struct fwup_link_params {
    uint32_t baud;     /* 0: unknown (not a serial link, or a host that cannot tell) */
    uint8_t data_bits; /* 5..8 */
    char parity;       /* 'N', 'E' or 'O' */
    uint8_t stop_bits; /* 1 or 2 */
    uint8_t flow;      /* enum fwup_flow_control */
};

/* What the engine is asked to do. */
struct fwup_job_params {
    const char *device_id;
    const struct fwup_image *image;
    const struct fwup_option *options; /* only options present in the config */
    size_t noptions;
    uint32_t flash_base; /* the device's declared flash range, 0/0 if unknown */
    uint32_t flash_size;
    /* ABI 2. NULL if the host knows nothing of the link (test harnesses). */
    const struct fwup_link_params *link;
};

/*
 * What the engine may ask of its host. `host` is the opaque pointer given to
 * create(). Nothing here blocks; results arrive later as events.
 */
struct fwup_host_ops {
    /* Queue bytes on the link. Returns 0, or -1 if the link is gone (the
     * engine should then finish with FWUP_RESULT_TRANSIENT). */
    int (*send)(void *host, const uint8_t *data, size_t len);
    /* Arm the engine's single timer to fire on_timer after `ms`
     * milliseconds, replacing any armed one; ms == 0 disarms it. */
    void (*timer)(void *host, uint32_t ms);
    /* Drop bytes received but not yet delivered (e.g. before a resync). */
    void (*flush_rx)(void *host);
    /* Report the current phase ("connect", "erase", "transfer", "verify",
     * "finish"...) and bytes of the image acknowledged by the device. */
    void (*progress)(void *host, const char *phase, uint64_t done, uint64_t total);
    void (*log)(void *host, enum fwup_log_prio prio, const char *msg);
    /* The job is over. `msg` says why for anything but OK. The engine must
     * make no further host calls after this one. */
    void (*finish)(void *host, enum fwup_result result, const char *msg);
};

struct fwup_engine; /* opaque, owned by the plugin */

struct fwup_protocol {
    uint32_t abi_version; /* FWUP_PROTOCOL_ABI_VERSION */
    uint32_t struct_size; /* sizeof(struct fwup_protocol) */
    const char *name;     /* as used in configs, e.g. "xmodem" */
    const char *description;
    uint32_t transports; /* mask of enum fwup_transport */
    const struct fwup_option_desc *options;
    size_t noptions;

    /*
     * Check an image against the options and flash range before any byte is
     * sent. Returns 0, or -1 with a reason in err. May be NULL.
     */
    int (*check_image)(const struct fwup_job_params *params, char *err, size_t errlen);

    /* Create an engine for one job. Returns NULL with a reason in err. */
    struct fwup_engine *(*create)(const struct fwup_job_params *params,
                                  const struct fwup_host_ops *ops, void *host, char *err,
                                  size_t errlen);
    void (*destroy)(struct fwup_engine *engine);

    /* Event entry points. on_start comes once, first. */
    void (*on_start)(struct fwup_engine *engine);
    void (*on_rx)(struct fwup_engine *engine, const uint8_t *data, size_t len);
    void (*on_timer)(struct fwup_engine *engine);
    /* Everything queued with send() has left the host's buffers. */
    void (*on_tx_done)(struct fwup_engine *engine);
    /* Abort cleanly (e.g. XMODEM's CAN CAN), then finish(CANCELLED). The
     * host stops waiting after its own grace period. */
    void (*on_cancel)(struct fwup_engine *engine);

    /* Character framing the protocol's devices use on a serial link whose
     * config does not set parity: "8N1" (or NULL) or "8E1" (e.g. the STM32
     * ROM bootloader). A link's explicit parity always wins (ptys carry
     * none). */
    const char *serial_framing;
};

#ifdef __cplusplus
}
#endif
#endif /* FWUPGW_PROTOCOL_H */
