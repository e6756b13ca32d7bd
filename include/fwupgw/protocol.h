/*
 * fwupgw protocol plugin ABI, version 3 (typed links).
 *
 * A protocol plugin is a shared object that exports one symbol,
 * FWUP_PROTOCOL_SYMBOL, of type `const struct fwup_protocol`. The daemon
 * dlopen()s every *.so in its plugin directory at start-up and refuses a
 * plugin whose abi_version is outside [FWUP_PROTOCOL_ABI_MIN,
 * FWUP_PROTOCOL_ABI_VERSION], saying why. Plugins of ABI 1 and 2 (symbol
 * fwup_protocol_v1: byte streams only) are refused with a request to
 * rebuild: their entry points cannot be mapped onto typed units.
 *
 * An engine is a sans-I/O state machine: it never opens files, touches
 * sockets, sleeps or reads the clock. The host (the daemon, or a test
 * harness) delivers events through one entry point, on_event(), and the
 * engine answers through the fwup_host_ops table: submit a unit on the link
 * (link.h: bytes, a CAN frame, an ISO-TP PDU, a USB control transfer),
 * control the link, arm its timers, report progress, finish. Every host call
 * is non-blocking and may be made from inside on_event(); what it causes
 * arrives later as another event, never re-entrantly. After the engine calls
 * finish() the host delivers no further events and destroys it.
 *
 * Growth: every structure passed across this interface starts with
 * struct_size and grows only by appending fields, so a host may add events,
 * ops or fields without a version bump; a reader checks FWUP_HAS_FIELD
 * before looking at a field the writer may not have. Event types and ops an
 * engine does not know are ignored by it; a NULL op is "not supported".
 *
 * All entry points run on the host's single event-loop thread.
 */
#ifndef FWUPGW_PROTOCOL_H
#define FWUPGW_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "fwupgw/link.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bump only for a change that is not an append (see "Growth" above). */
#define FWUP_PROTOCOL_ABI_VERSION 3
#define FWUP_PROTOCOL_ABI_MIN     3
/* The symbol is stable from ABI 3 on; ABI 1 and 2 exported the old one. */
#define FWUP_PROTOCOL_SYMBOL          fwup_protocol
#define FWUP_PROTOCOL_SYMBOL_NAME     "fwup_protocol"
#define FWUP_PROTOCOL_OLD_SYMBOL_NAME "fwup_protocol_v1"

#if defined(__GNUC__)
#define FWUP_PROTOCOL_EXPORT __attribute__((visibility("default")))
#else
#define FWUP_PROTOCOL_EXPORT
#endif

/* Link kinds a protocol can run over (bit mask in fwup_protocol.transports;
 * the same bit values as ABI 1 and 2). */
enum fwup_transport {
    FWUP_TRANSPORT_SERIAL = FWUP_TRANSPORT_BIT(FWUP_LINK_SERIAL), /* byte stream */
    FWUP_TRANSPORT_CAN = FWUP_TRANSPORT_BIT(FWUP_LINK_CAN),       /* raw CAN frames */
    FWUP_TRANSPORT_ISOTP = FWUP_TRANSPORT_BIT(FWUP_LINK_ISOTP),   /* ISO-TP PDUs */
    FWUP_TRANSPORT_USB = FWUP_TRANSPORT_BIT(FWUP_LINK_USB),       /* USB control transfers */
};

/* How a job ended. The host maps these onto job states and retry policy. */
enum fwup_result {
    FWUP_RESULT_OK = 0,
    FWUP_RESULT_TRANSIENT = 1, /* worth retrying: timeout, line noise, busy device */
    FWUP_RESULT_PERMANENT = 2, /* retrying cannot help: refused image, protected chip */
    FWUP_RESULT_CANCELLED = 3, /* the host sent FWUP_EV_CANCEL and the engine aborted */
};

/* Log priorities, as syslog's. */
enum fwup_log_prio {
    FWUP_LOG_ERR = 3,
    FWUP_LOG_WARNING = 4,
    FWUP_LOG_NOTICE = 5,
    FWUP_LOG_INFO = 6,
    FWUP_LOG_DEBUG = 7,
};

/* ---- the image ------------------------------------------------------------ */

/* One contiguous run of image bytes at a device address. */
struct fwup_segment {
    uint32_t address;
    uint32_t len;
    const uint8_t *data;
    int32_t alt; /* DfuSe: the target (alternate setting) it belongs to; -1: none */
};

enum fwup_image_flags {
    FWUP_IMAGE_DFU_SUFFIX = 1u << 0, /* dfu_vid/pid/bcd_device come from a DFU suffix */
};

/*
 * A parsed firmware image, segments sorted by address and non-overlapping
 * (within one alt). Valid for the whole life of the engine. Segments are
 * segment_size bytes apart so they too can grow: index them with
 * fwup_image_segment().
 */
struct fwup_image {
    uint32_t struct_size;
    uint32_t segment_size;
    const struct fwup_segment *segments;
    size_t nsegments;
    uint64_t total; /* sum of segment lengths */
    uint32_t flags; /* enum fwup_image_flags */
    /* DFU suffix ids; 0xFFFF means "any", as in the suffix itself. */
    uint16_t dfu_vid, dfu_pid, dfu_bcd_device;
};

static inline const struct fwup_segment *fwup_image_segment(const struct fwup_image *img, size_t i)
{
    return (const struct fwup_segment *)((const char *)img->segments + i * img->segment_size);
}

/* ---- options -------------------------------------------------------------- */

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

/* What the engine is asked to do. */
struct fwup_job_params {
    uint32_t struct_size;
    const char *device_id;
    const struct fwup_image *image;
    const struct fwup_option *options; /* only options present in the config */
    size_t noptions;
    uint32_t flash_base; /* the device's declared flash range, 0/0 if unknown */
    uint32_t flash_size;
    /* The link as configured (check_image, link_req) or as opened (create).
     * NULL only from hosts that know nothing of a link. */
    const struct fwup_link_info *link;
};

/* ---- what the engine asks of its host ------------------------------------- */

enum fwup_unit_kind {
    FWUP_UNIT_BYTES = 1,       /* serial: data/len */
    FWUP_UNIT_CAN = 2,         /* can: frame */
    FWUP_UNIT_PDU = 3,         /* isotp: data/len, one PDU */
    FWUP_UNIT_USB_CONTROL = 4, /* usb: setup, OUT data/len or IN wLength */
};

enum fwup_submit_flags {
    /* Deliver FWUP_EV_COMPLETE for this unit (USB control transfers always
     * complete: they carry a status and IN data). */
    FWUP_SUBMIT_NOTIFY = 1u << 0,
    /* serial: complete when the bytes have left the UART (output queue
     * drained), not when the kernel took them; implies NOTIFY. */
    FWUP_SUBMIT_ON_WIRE = 1u << 1,
};

/* One unit on the link. The host copies what it needs before submit()
 * returns, never splits or merges units, and keeps their order. */
struct fwup_unit {
    uint32_t struct_size;
    uint32_t kind;       /* enum fwup_unit_kind, matching the link's kind */
    uint32_t tag;        /* the engine's, echoed in the completion */
    uint32_t flags;      /* enum fwup_submit_flags */
    uint32_t timeout_ms; /* completion with FWUP_STATUS_TIMEOUT after this; 0: host default */
    const uint8_t *data; /* BYTES, PDU, USB OUT data */
    size_t len;          /* USB: must equal setup.wLength for OUT */
    const struct fwup_can_frame *frame; /* CAN */
    struct fwup_usb_setup setup;        /* USB_CONTROL; IN when bmRequestType has DIR_IN */
};

enum fwup_status {
    FWUP_STATUS_OK = 0,
    FWUP_STATUS_STALL = 1,     /* USB: the device stalled the request */
    FWUP_STATUS_TIMEOUT = 2,   /* the unit did not complete within its timeout */
    FWUP_STATUS_LINK_GONE = 3, /* the link went down with the unit pending */
    FWUP_STATUS_ERROR = 4,     /* any other I/O error (see the log) */
};

enum fwup_control_op {
    FWUP_CTL_FLUSH_RX = 1,    /* drop input received but not yet delivered */
    FWUP_CTL_BREAK = 2,       /* serial: send BREAK for `arg` ms */
    FWUP_CTL_SET_FILTERS = 3, /* can/isotp: replace the receive filters */
    FWUP_CTL_USB_SET_ALT = 4, /* usb: SET_INTERFACE to alt `arg` */
    FWUP_CTL_USB_RESET = 5,   /* usb: port reset; the device usually re-enumerates */
    /* The link is about to go away and come back (e.g. after a DFU detach):
     * the host keeps its claim, watches for the device at the same place
     * (USB port path) for `timeout_ms` and delivers FWUP_EV_LINK_UP with
     * the new link info, or FWUP_EV_LINK_DOWN when the time is up. */
    FWUP_CTL_EXPECT_REATTACH = 6,
};

struct fwup_control {
    uint32_t struct_size;
    uint32_t op;  /* enum fwup_control_op */
    uint32_t tag; /* for an asynchronous op's FWUP_EV_COMPLETE */
    uint32_t arg;
    uint32_t timeout_ms;
    const struct fwup_can_filter *filters; /* SET_FILTERS */
    size_t nfilters;
};

/* Timers per engine: ids 0 .. FWUP_MAX_TIMERS-1, each armed independently. */
#define FWUP_MAX_TIMERS 8

/*
 * What the engine may ask of its host. `host` is the opaque pointer given to
 * create(). Nothing here blocks; results arrive later as events.
 */
struct fwup_host_ops {
    uint32_t struct_size;
    /* Queue one unit on the link. 0; -1 if the link is down or the unit is
     * malformed or of the wrong kind (reason logged). An engine that gets -1
     * with the link gone finishes with FWUP_RESULT_TRANSIENT. */
    int (*submit)(void *host, const struct fwup_unit *unit);
    /* 0 done; 1 pending (FWUP_EV_COMPLETE with its tag follows); -1 not
     * supported on this link, or failed (reason logged). */
    int (*control)(void *host, const struct fwup_control *ctl);
    /* Arm timer `id` to fire after `ms` milliseconds, replacing it if armed;
     * ms == 0 disarms it. */
    void (*timer)(void *host, unsigned id, uint32_t ms);
    /* Report the current phase ("connect", "erase", "transfer", "verify",
     * "finish"...) and bytes of the image acknowledged by the device. */
    void (*progress)(void *host, const char *phase, uint64_t done, uint64_t total);
    void (*log)(void *host, enum fwup_log_prio prio, const char *msg);
    /* The job is over. `msg` says why for anything but OK. The engine must
     * make no further host calls after this one. */
    void (*finish)(void *host, enum fwup_result result, const char *msg);
};

/* ---- what the host tells the engine --------------------------------------- */

enum fwup_event_type {
    FWUP_EV_START = 1,     /* once, first */
    FWUP_EV_RX = 2,        /* unit_kind + data/len (bytes, PDU) or frame (CAN) */
    FWUP_EV_COMPLETE = 3,  /* tag, status; USB IN: data/len is what arrived */
    FWUP_EV_TIMER = 4,     /* timer_id */
    FWUP_EV_CANCEL = 5,    /* abort cleanly, then finish(CANCELLED) */
    FWUP_EV_LINK_DOWN = 6, /* pending units have completed with LINK_GONE */
    FWUP_EV_LINK_UP = 7,   /* link: the link as it came back (new VID:PID...) */
    FWUP_EV_BUS_STATE = 8, /* bus_state changed */
};

enum fwup_bus_state {
    FWUP_BUS_ACTIVE = 0,
    FWUP_BUS_WARNING = 1,
    FWUP_BUS_PASSIVE = 2,
    FWUP_BUS_OFF = 3,
};

struct fwup_event {
    uint32_t struct_size;
    uint32_t type;    /* enum fwup_event_type */
    uint64_t time_us; /* the host's monotonic clock (virtual in simulations) */
    uint32_t unit_kind;
    const uint8_t *data;
    size_t len;
    const struct fwup_can_frame *frame;
    uint32_t tag;
    uint32_t status; /* enum fwup_status */
    uint32_t timer_id;
    const struct fwup_link_info *link;
    uint32_t bus_state; /* enum fwup_bus_state */
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

    /* Check an image against the options and flash range before any byte is
     * sent. Returns 0, or -1 with a reason in err. May be NULL. */
    int (*check_image)(const struct fwup_job_params *params, char *err, size_t errlen);

    /* What the link must provide (framing, CAN ids, exclusive bus, USB alt)
     * for a job with these params; called before the link is claimed and
     * opened. Returns 0, or -1 with a reason in err. May be NULL: no needs. */
    int (*link_req)(const struct fwup_job_params *params, struct fwup_link_req *req, char *err,
                    size_t errlen);

    /* Create an engine for one job. Returns NULL with a reason in err. */
    struct fwup_engine *(*create)(const struct fwup_job_params *params,
                                  const struct fwup_host_ops *ops, void *host, char *err,
                                  size_t errlen);
    void (*destroy)(struct fwup_engine *engine);

    /* Every event, FWUP_EV_START first. */
    void (*on_event)(struct fwup_engine *engine, const struct fwup_event *ev);
};

#ifdef __cplusplus
}
#endif
#endif /* FWUPGW_PROTOCOL_H */
