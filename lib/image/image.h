/*
 * Firmware image formats: raw binary, Intel HEX, Motorola S-record, ELF
 * executables, files with a DFU suffix and ST DfuSe containers, all parsed
 * into one sparse
 * representation (sorted, non-overlapping segments). Parsers work on bytes
 * in memory; they never open files.
 */
#ifndef FWUPGW_IMAGE_H
#define FWUPGW_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "fwupgw/protocol.h"

enum fwup_image_format {
    FWUP_IMAGE_AUTO = 0, /* detect from content */
    FWUP_IMAGE_BIN,
    FWUP_IMAGE_IHEX,
    FWUP_IMAGE_SREC,
    FWUP_IMAGE_DFU,   /* raw payload + 16-byte DFU suffix (CRC-32 checked) */
    FWUP_IMAGE_DFUSE, /* ST DfuSe container (prefix, targets, suffix) */
    FWUP_IMAGE_ELF,   /* PT_LOAD segments at their physical addresses */
    FWUP_IMAGE_TEXT,  /* detection only: text that is no image format */
};

/* Largest image file accepted from a client, and largest parsed span. */
#define FWUP_IMAGE_MAX_FILE  (64u * 1024 * 1024)
#define FWUP_IMAGE_MAX_TOTAL (32u * 1024 * 1024)

/* DFU suffix fields (present for FWUP_IMAGE_DFU and FWUP_IMAGE_DFUSE). */
struct fwup_dfu_suffix {
    uint16_t bcd_device, id_product, id_vendor, bcd_dfu; /* 0xFFFF = wildcard */
    uint32_t crc;
};

/* `view` is what engines get, with all the parsers know: each segment's
 * alt (a DfuSe element's target, else -1), and with a DFU suffix
 * FWUP_IMAGE_DFU_SUFFIX and its VID/PID/bcdDevice. */
struct fwup_parsed_image {
    enum fwup_image_format format; /* the detected/confirmed format */
    struct fwup_image view;        /* points into this struct */
    struct fwup_segment *segments; /* owned; view.segments == segments */
    uint8_t *storage;              /* owned backing store of segment data */
    int has_suffix;
    struct fwup_dfu_suffix suffix;
};

/* "bin", "ihex", "srec", "elf", "dfu", "dfuse", "auto"; -1 for an unknown
 * name ("text" is a detection result, not a format one can ask for). */
int fwup_image_format_from_name(const char *name);
const char *fwup_image_format_name(enum fwup_image_format format);
/* The format a documented name stands for ("auto", "bin", "ihex", "srec",
 * "elf", "dfu", "dfuse": what fwupctl and manifests accept); -1 for any other
 * name, the parser's aliases included. */
int fwup_image_format_canonical(const char *name);
/* Those names in that order, joined by `sep` (the last two by `last`), into
 * buf (cut to n - 1 characters). Returns buf. */
char *fwup_image_format_join(char *buf, size_t n, const char *sep, const char *last);

/*
 * What the content looks like, from its signature alone (whether it then
 * passes its format's checks is the parser's business), first match wins:
 *   DFUSE  starts with "DfuSe", or has a DFU suffix signature with bcdDFU
 *          0x011A (the DfuSe container's)
 *   DFU    "UFD" at 8 bytes from the end (the DFU suffix signature)
 *   ELF    starts with \x7fELF
 *   IHEX   ':' and two hex digits, after an optional UTF-8 BOM and blanks
 *   SREC   'S', a digit and two hex digits, after the same
 *   TEXT   the first 4 KiB (or the whole file if shorter) contain no NUL
 *          byte and at least 95 % of them are printable ASCII (0x20-0x7E),
 *          TAB, LF, CR, FF or part of a well-formed UTF-8 sequence
 *   BIN    anything else
 */
enum fwup_image_format fwup_image_detect(const uint8_t *data, size_t len);

/*
 * Parse `len` bytes in `format`. FWUP_IMAGE_AUTO parses as what the content
 * looks like (fwup_image_detect) and never falls back to raw binary: a file
 * that looks like a format but fails its checks, or looks like text, is
 * refused with the reason and a hint that --format bin takes it as raw
 * bytes. `base` is where a raw binary (or the payload of a DFU-suffixed
 * file) starts in the device's address space. Returns 0, or -1 with a
 * one-line reason in err naming the line (text formats) or byte offset of
 * the fault.
 */
int fwup_image_parse(const uint8_t *data, size_t len, enum fwup_image_format format, uint32_t base,
                     struct fwup_parsed_image *out, char *err, size_t errlen);
void fwup_image_free(struct fwup_parsed_image *img);

/*
 * Check that every segment lies inside [flash_base, flash_base + flash_size).
 * flash_size == 0 means "unknown" and accepts anything. Returns 0 or -1 with
 * a reason naming the offending address range.
 */
int fwup_image_check_range(const struct fwup_image *img, uint32_t flash_base, uint32_t flash_size,
                           char *err, size_t errlen);

/* CRC-32 as used by DFU suffixes: reflected 0xEDB88320, init ~0, no final
 * XOR, i.e. ~crc32(0, data, len) with zlib. */
uint32_t fwup_dfu_crc(const uint8_t *data, size_t len);

#endif
