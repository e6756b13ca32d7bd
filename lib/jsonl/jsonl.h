/*
 * JSON lines, the control socket's framing (docs/socket-api.md): one JSON
 * value per '\n'-terminated line, both ways. The daemon's server and
 * fwupctl's client split what they receive with the same line buffer and
 * encode what they send the same way.
 */
#ifndef FWUPGW_JSONL_H
#define FWUPGW_JSONL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Splits a byte stream into lines of any length up to max. It counts the
 * stream's bytes, so that what arrived with a byte (descriptors passed
 * with SCM_RIGHTS) can be matched to the line that byte belongs to. */
struct fwup_linebuf {
    char *buf;
    size_t len; /* bytes held */
    size_t cap;
    size_t start;  /* first byte not yet returned as a line */
    size_t scan;   /* bytes before this (from start) hold no '\n' */
    size_t max;    /* longest line accepted, excluding the '\n' */
    int crlf;      /* drop a '\r' before the '\n' (not counted in max) */
    uint64_t base; /* stream offset of buf[0] */
};

void fwup_linebuf_init(struct fwup_linebuf *lb, size_t max);
void fwup_linebuf_free(struct fwup_linebuf *lb);
/* Appends bytes; invalidates lines returned earlier. 0, or -1 out of memory. */
int fwup_linebuf_feed(struct fwup_linebuf *lb, const void *data, size_t n);
/* For receiving in place: the capacity fwup_linebuf_space would leave. */
size_t fwup_linebuf_space_cap(const struct fwup_linebuf *lb, size_t min);
/* At least `min` free bytes after the pending ones (moved to the front,
 * invalidating lines returned earlier; the buffer grows to just what that
 * needs): their start, and in *room how many there are; NULL out of memory.
 * fwup_linebuf_commit then adds the n bytes written there. */
char *fwup_linebuf_space(struct fwup_linebuf *lb, size_t min, size_t *room);
void fwup_linebuf_commit(struct fwup_linebuf *lb, size_t n);
/* Takes the next complete line: 1 and *line (NUL-terminated, no '\n', valid
 * until the next feed or space) / *len; 0 if no complete line is buffered;
 * -1 if the next line, complete or not, is already longer than max (it
 * stays in the buffer). */
int fwup_linebuf_next(struct fwup_linebuf *lb, char **line, size_t *len);
/* Stream offset of the first byte not yet returned as a line (after a line,
 * its '\n' is at this offset minus one), and of the end of what is held. */
uint64_t fwup_linebuf_offset(const struct fwup_linebuf *lb);
uint64_t fwup_linebuf_end(const struct fwup_linebuf *lb);
/* Once every byte held was returned as a line: frees a buffer larger than
 * `keep` bytes (an idle peer does not keep a long line's buffer). */
void fwup_linebuf_trim(struct fwup_linebuf *lb, size_t keep);

/* One compact JSON line: the text, '\n' and a NUL, malloc'd, and its length
 * without the NUL in *len; NULL if msg cannot be encoded. */
char *fwup_jsonl_encode(const json_t *msg, size_t *len);

#endif
