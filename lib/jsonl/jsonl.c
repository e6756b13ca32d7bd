/*
 * JSON-lines framing (jsonl.h).
 */
#include "jsonl.h"

#include <stdlib.h>
#include <string.h>

void fwup_linebuf_init(struct fwup_linebuf *lb, size_t max)
{
    memset(lb, 0, sizeof(*lb));
    lb->max = max;
}

void fwup_linebuf_free(struct fwup_linebuf *lb)
{
    free(lb->buf);
    lb->buf = NULL;
    lb->base += lb->len;
    lb->len = lb->cap = lb->start = lb->scan = 0;
}

/* Everything returned: start over at the front. */
static void rewind_if_empty(struct fwup_linebuf *lb)
{
    if (lb->start == lb->len) {
        lb->base += lb->len;
        lb->start = lb->len = lb->scan = 0;
    }
}

/* Moves the pending bytes to the front. */
static void compact(struct fwup_linebuf *lb)
{
    if (lb->start == 0)
        return;
    memmove(lb->buf, lb->buf + lb->start, lb->len - lb->start);
    lb->base += lb->start;
    lb->len -= lb->start;
    lb->start = 0;
}

static int grow(struct fwup_linebuf *lb, size_t cap)
{
    char *b = realloc(lb->buf, cap);
    if (!b)
        return -1;
    lb->buf = b;
    lb->cap = cap;
    return 0;
}

int fwup_linebuf_feed(struct fwup_linebuf *lb, const void *data, size_t n)
{
    rewind_if_empty(lb);
    /* +1: next() writes a NUL over the '\n' */
    if (lb->len + n + 1 > lb->cap)
        compact(lb);
    if (lb->len + n + 1 > lb->cap) {
        size_t cap = lb->cap ? lb->cap : 4096;
        while (cap < lb->len + n + 1)
            cap *= 2;
        if (grow(lb, cap) < 0)
            return -1;
    }
    memcpy(lb->buf + lb->len, data, n);
    lb->len += n;
    return 0;
}

size_t fwup_linebuf_space_cap(const struct fwup_linebuf *lb, size_t min)
{
    size_t pending = lb->len - lb->start;
    return lb->cap - pending >= min ? lb->cap : pending + min;
}

char *fwup_linebuf_space(struct fwup_linebuf *lb, size_t min, size_t *room)
{
    rewind_if_empty(lb);
    compact(lb);
    size_t cap = fwup_linebuf_space_cap(lb, min);
    if (cap != lb->cap && grow(lb, cap) < 0)
        return NULL;
    *room = lb->cap - lb->len;
    return lb->buf + lb->len;
}

void fwup_linebuf_commit(struct fwup_linebuf *lb, size_t n)
{
    lb->len += n;
}

int fwup_linebuf_next(struct fwup_linebuf *lb, char **line, size_t *len)
{
    size_t pending = lb->len - lb->start;
    size_t cr = lb->crlf ? 1 : 0;
    if (pending == 0)
        return 0;
    char *from = lb->buf + lb->start + lb->scan;
    char *nl = memchr(from, '\n', pending - lb->scan);
    if (!nl) {
        lb->scan = pending;
        /* the '\r' of a CRLF may still come */
        return pending > lb->max + cr ? -1 : 0;
    }
    char *s = lb->buf + lb->start;
    size_t l = (size_t)(nl - s);
    if (cr && l > 0 && s[l - 1] == '\r')
        l--;
    if (l > lb->max)
        return -1;
    s[l] = '\0';
    *line = s;
    *len = l;
    lb->start = (size_t)(nl - lb->buf) + 1;
    lb->scan = 0;
    return 1;
}

uint64_t fwup_linebuf_offset(const struct fwup_linebuf *lb)
{
    return lb->base + lb->start;
}

uint64_t fwup_linebuf_end(const struct fwup_linebuf *lb)
{
    return lb->base + lb->len;
}

void fwup_linebuf_trim(struct fwup_linebuf *lb, size_t keep)
{
    rewind_if_empty(lb);
    if (lb->len == 0 && lb->cap > keep) {
        free(lb->buf);
        lb->buf = NULL;
        lb->cap = 0;
    }
}

char *fwup_jsonl_encode(const json_t *msg, size_t *len)
{
    char *s = json_dumps(msg, JSON_COMPACT);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *line = realloc(s, n + 2);
    if (!line) {
        free(s);
        return NULL;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    *len = n + 1;
    return line;
}
