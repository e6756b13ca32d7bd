/*
 * fwupgw link types, shared by protocol plugins and hosts (ABI 3).
 *
 * A link is what carries an engine's traffic. Its kind fixes the unit the
 * engine exchanges with the host, and a unit is never split or merged:
 *
 *   serial  byte strings            (UART, pty)
 *   can     one CAN or CAN FD frame (SocketCAN CAN_RAW)
 *   isotp   one ISO-TP PDU          (the kernel's CAN_ISOTP does segmentation)
 *   usb     one control transfer    (setup packet + OUT data or IN length)
 *
 * Structures the host fills and the plugin reads (link info) and those the
 * plugin fills and the host reads (link requirements) start with their
 * struct_size and grow only by appending: a reader looks at a field only if
 * FWUP_HAS_FIELD says the writer knew it. The small inline helpers below are
 * the one definition of the wire rules both sides must agree on (CAN length
 * codes, the USB setup packet, the DFU functional descriptor).
 */
#ifndef FWUPGW_LINK_H
#define FWUPGW_LINK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Whether a structure written by the other side (its struct_size first)
 * contains `field`. */
#define FWUP_HAS_FIELD(ptr, type, field)                                                           \
    ((ptr)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

enum fwup_link_kind {
    FWUP_LINK_NONE = 0,
    FWUP_LINK_SERIAL = 1,
    FWUP_LINK_CAN = 2,
    FWUP_LINK_ISOTP = 3,
    FWUP_LINK_USB = 4,
};

/* Bit of a link kind in fwup_protocol.transports. */
#define FWUP_TRANSPORT_BIT(kind) (1u << ((kind)-1))

/* ---- CAN ------------------------------------------------------------------ */

/* Identifier flags, as Linux's can_id: an extended (29-bit) id carries
 * FWUP_CAN_EFF; a remote frame FWUP_CAN_RTR (classic CAN only). */
#define FWUP_CAN_EFF       0x80000000u
#define FWUP_CAN_RTR       0x40000000u
#define FWUP_CAN_SFF_MASK  0x000007FFu
#define FWUP_CAN_EFF_MASK  0x1FFFFFFFu
#define FWUP_CAN_MAX_LEN   8
#define FWUP_CANFD_MAX_LEN 64

enum fwup_can_flags {
    FWUP_CAN_FD = 1u << 0,  /* a CAN FD frame (FDF) */
    FWUP_CAN_BRS = 1u << 1, /* FD: data phase at the data bitrate */
    FWUP_CAN_ESI = 1u << 2, /* FD: the sender is error-passive (receive only) */
};

struct fwup_can_frame {
    uint32_t id;   /* 11 or 29 bits, with FWUP_CAN_EFF / FWUP_CAN_RTR */
    uint8_t len;   /* payload bytes: 0..8, or an FD length 0..8,12,16,20,24,32,48,64 */
    uint8_t flags; /* enum fwup_can_flags */
    uint8_t reserved[2];
    uint8_t data[FWUP_CANFD_MAX_LEN];
};

/* Payload length of a data length code (classic: 0..8; FD: up to 64). */
static inline uint8_t fwup_can_dlc_to_len(uint8_t dlc, int fd)
{
    static const uint8_t fd_len[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64};
    dlc &= 0x0F;
    return fd ? fd_len[dlc] : (uint8_t)(dlc > 8 ? 8 : dlc);
}

/* Smallest data length code whose payload holds `len` bytes (FD frames are
 * padded up to it); 0xFF if len does not fit a frame of that kind. */
static inline uint8_t fwup_can_len_to_dlc(size_t len, int fd)
{
    if (len <= 8)
        return (uint8_t)len;
    if (!fd || len > FWUP_CANFD_MAX_LEN)
        return 0xFF;
    for (uint8_t dlc = 9; dlc < 16; dlc++)
        if (fwup_can_dlc_to_len(dlc, 1) >= len)
            return dlc;
    return 0xFF;
}

/* NULL if the frame can go on a bus, else why not. An FD length that is
 * not a DLC's exact payload is refused: the host never pads silently. */
static inline const char *fwup_can_frame_invalid(const struct fwup_can_frame *f)
{
    int fd = (f->flags & FWUP_CAN_FD) != 0;
    if (f->id & FWUP_CAN_EFF) {
        if (f->id & ~(FWUP_CAN_EFF | FWUP_CAN_RTR | FWUP_CAN_EFF_MASK))
            return "extended id wider than 29 bits";
    } else if (f->id & ~(FWUP_CAN_RTR | FWUP_CAN_SFF_MASK)) {
        return "standard id wider than 11 bits (set FWUP_CAN_EFF for a 29-bit id)";
    }
    if (f->flags & ~(FWUP_CAN_FD | FWUP_CAN_BRS | FWUP_CAN_ESI))
        return "unknown frame flags";
    if (!fd && (f->flags & (FWUP_CAN_BRS | FWUP_CAN_ESI)))
        return "bit rate switch or ESI on a classic CAN frame";
    if (fd && (f->id & FWUP_CAN_RTR))
        return "CAN FD has no remote frames";
    uint8_t dlc = fwup_can_len_to_dlc(f->len, fd);
    if (dlc == 0xFF)
        return fd ? "longer than 64 bytes" : "longer than 8 bytes (classic CAN)";
    if (fwup_can_dlc_to_len(dlc, fd) != f->len)
        return "not a CAN FD payload length (0-8, 12, 16, 20, 24, 32, 48, 64)";
    return NULL;
}

/* A receive filter, as Linux's struct can_filter: a frame matches when
 * (frame id & mask) == (id & mask), flags included in both. */
struct fwup_can_filter {
    uint32_t id;
    uint32_t mask;
};

static inline int fwup_can_filter_match(const struct fwup_can_filter *flt, uint32_t id)
{
    return (id & flt->mask) == (flt->id & flt->mask);
}

/* ---- USB ------------------------------------------------------------------ */

#define FWUP_USB_DIR_IN      0x80u /* bmRequestType: device to host */
#define FWUP_USB_TYPE_CLASS  0x20u
#define FWUP_USB_RECIP_IFACE 0x01u
#define FWUP_USB_SETUP_SIZE  8

/* A control transfer's setup packet in host byte order; packed to the wire
 * (little-endian words) by fwup_usb_setup_pack. */
struct fwup_usb_setup {
    uint8_t bmRequestType;
    uint8_t bRequest;
    uint16_t wValue;
    uint16_t wIndex;
    uint16_t wLength; /* OUT: bytes of data sent; IN: most bytes accepted */
};

static inline void fwup_usb_setup_pack(const struct fwup_usb_setup *s,
                                       uint8_t out[FWUP_USB_SETUP_SIZE])
{
    out[0] = s->bmRequestType;
    out[1] = s->bRequest;
    out[2] = (uint8_t)s->wValue, out[3] = (uint8_t)(s->wValue >> 8);
    out[4] = (uint8_t)s->wIndex, out[5] = (uint8_t)(s->wIndex >> 8);
    out[6] = (uint8_t)s->wLength, out[7] = (uint8_t)(s->wLength >> 8);
}

static inline void fwup_usb_setup_unpack(const uint8_t in[FWUP_USB_SETUP_SIZE],
                                         struct fwup_usb_setup *s)
{
    s->bmRequestType = in[0];
    s->bRequest = in[1];
    s->wValue = (uint16_t)(in[2] | in[3] << 8);
    s->wIndex = (uint16_t)(in[4] | in[5] << 8);
    s->wLength = (uint16_t)(in[6] | in[7] << 8);
}

/* DFU functional descriptor (DFU 1.1 §4.1.3, type 0x21). */
#define FWUP_DFU_FUNCTIONAL_TYPE 0x21
enum fwup_dfu_attributes {
    FWUP_DFU_CAN_DNLOAD = 1u << 0,
    FWUP_DFU_CAN_UPLOAD = 1u << 1,
    FWUP_DFU_MANIFESTATION_TOLERANT = 1u << 2,
    FWUP_DFU_WILL_DETACH = 1u << 3,
};

struct fwup_dfu_functional {
    uint8_t bmAttributes;
    uint16_t wDetachTimeOut; /* ms */
    uint16_t wTransferSize;  /* bytes per DNLOAD/UPLOAD */
    uint16_t bcdDFUVersion;  /* 0x0100, 0x0110; 0x011A for DfuSe; 0 if absent (DFU 1.0) */
};

/* Parses the descriptor from its raw bytes: 0, or -1 if it is not one.
 * DFU 1.0 devices send 7 bytes (no bcdDFUVersion). */
static inline int fwup_dfu_functional_parse(const uint8_t *d, size_t len,
                                            struct fwup_dfu_functional *out)
{
    if (len < 7 || d[0] < 7 || d[0] > len || d[1] != FWUP_DFU_FUNCTIONAL_TYPE)
        return -1;
    out->bmAttributes = d[2];
    out->wDetachTimeOut = (uint16_t)(d[3] | d[4] << 8);
    out->wTransferSize = (uint16_t)(d[5] | d[6] << 8);
    out->bcdDFUVersion = d[0] >= 9 ? (uint16_t)(d[7] | d[8] << 8) : 0;
    return 0;
}

/* One alternate setting of the interface a USB link uses. */
struct fwup_usb_alt {
    uint8_t alt;
    const char *name; /* iInterface string (DfuSe: the memory layout), "" if none */
};

/* ---- link info: what the host opened (given at create and at link-up) ----- */

struct fwup_serial_info {
    uint32_t struct_size;
    uint32_t baud;
    uint8_t data_bits; /* 5..8 */
    char parity;       /* 'N', 'E' or 'O' */
    uint8_t stop_bits; /* 1 or 2 */
    uint8_t flow;      /* enum fwup_flow_control */
};

enum fwup_flow_control {
    FWUP_FLOW_CONTROL_NONE,
    FWUP_FLOW_CONTROL_RTSCTS,
    FWUP_FLOW_CONTROL_XONXOFF
};

struct fwup_can_info {
    uint32_t struct_size;
    const char *ifname;
    uint32_t bitrate;      /* 0: unknown (vcan, or set outside the daemon) */
    uint32_t data_bitrate; /* CAN FD data phase; 0 when not FD */
    uint8_t fd;            /* the socket carries CAN FD frames (MTU 72) */
};

struct fwup_isotp_info {
    uint32_t struct_size;
    const char *ifname;
    uint32_t tx_id, rx_id; /* with FWUP_CAN_EFF for 29-bit ids */
    uint32_t func_id;      /* functional (broadcast) request id; 0: none */
    uint8_t tx_dl;         /* link-layer frame length: 8, or 64 on CAN FD */
    int16_t padding;       /* pad byte, or -1 for no padding */
    uint8_t block_size;    /* our flow control: frames per block, 0: all */
    uint32_t stmin_us;     /* our flow control: minimum gap between frames */
    uint32_t max_pdu;      /* largest PDU the host moves (kernel limit) */
};

struct fwup_usb_info {
    uint32_t struct_size;
    uint16_t vid, pid, bcd_device;
    uint8_t interface;          /* the interface the link uses */
    uint8_t interface_protocol; /* DFU: 1 runtime, 2 DFU mode */
    uint8_t alt;                /* its current alternate setting */
    const struct fwup_usb_alt *alts;
    size_t nalts;
    uint8_t has_dfu; /* dfu is valid */
    struct fwup_dfu_functional dfu;
    const char *port_path; /* "1-1.4": stable across re-enumeration */
    const char *serial;    /* iSerialNumber, "" if none */
};

/* Exactly one of the kind pointers is set; the others are NULL. */
struct fwup_link_info {
    uint32_t struct_size;
    uint32_t kind;    /* enum fwup_link_kind */
    const char *name; /* the link's name in the config */
    const struct fwup_serial_info *serial;
    const struct fwup_can_info *can;
    const struct fwup_isotp_info *isotp;
    const struct fwup_usb_info *usb;
};

/* ---- link requirements: what the plugin needs before the link opens ------- */

#define FWUP_LINK_REQ_MAX_FILTERS 16

/* The host zeroes this, sets struct_size and the defaults noted below and
 * lets the plugin's link_req() fill it in. */
struct fwup_link_req {
    uint32_t struct_size;
    /* serial: character framing wanted when the link's config does not set
     * parity, "8N1" or "8E1"; "" (default): the link's own. A link's
     * explicit parity always wins (ptys carry none). */
    char framing[4];
    /* can, isotp: the ids the device answers on; the scheduler runs jobs on
     * one bus at once only when their ids differ, and the host installs
     * them as kernel filters. */
    uint32_t nfilters;
    struct fwup_can_filter filters[FWUP_LINK_REQ_MAX_FILTERS];
    /* can: the protocol needs the whole bus (e.g. every STM32 ROM loader
     * answers on the same ids), so nothing else runs on it meanwhile. */
    uint8_t exclusive_bus;
    /* can: the engine sends CAN FD frames. */
    uint8_t fd;
    /* usb: the alternate setting to select before start: by name (if not
     * NULL) or number; usb_alt -1 (default): leave it as it is. */
    int16_t usb_alt;
    const char *usb_alt_name;
};

#ifdef __cplusplus
}
#endif
#endif /* FWUPGW_LINK_H */
