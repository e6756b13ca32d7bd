#include "yamlutil.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_err(struct yu_doc *d, int line, int col, const char *msg)
{
    if (d->report)
        d->report(d->report_ctx, line, col, msg);
    if (!d->err || !d->errlen)
        return;
    snprintf(d->err, d->errlen, "%s:%d:%d: %s", d->name, line, col, msg);
}

int yu_fail(struct yu_doc *d, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n)
        put_err(d, (int)n->start_mark.line + 1, (int)n->start_mark.column + 1, msg);
    else
        put_err(d, 1, 1, msg);
    return -1;
}

/* Reader errors (bad UTF-8...) come with a byte offset instead of a mark. */
static void offset_pos(const char *text, size_t len, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static int parser_error(struct yu_doc *d, const yaml_parser_t *p, const char *text, size_t len)
{
    char msg[512];
    const char *problem = p->problem ? p->problem : "invalid YAML";
    int line, col;

    switch (p->error) {
    case YAML_MEMORY_ERROR:
        put_err(d, 1, 1, "out of memory");
        return -1;
    case YAML_READER_ERROR:
        offset_pos(text, len, p->problem_offset, &line, &col);
        if (p->problem_value != -1)
            snprintf(msg, sizeof msg, "%s (byte 0x%02X)", problem, (unsigned)p->problem_value);
        else
            snprintf(msg, sizeof msg, "%s", problem);
        put_err(d, line, col, msg);
        return -1;
    default:
        line = (int)p->problem_mark.line + 1;
        col = (int)p->problem_mark.column + 1;
        if (p->context)
            snprintf(msg, sizeof msg, "%s (%s at line %d column %d)", problem, p->context,
                     (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
        else
            snprintf(msg, sizeof msg, "%s", problem);
        put_err(d, line, col, msg);
        return -1;
    }
}

static int parse_doc(struct yu_doc *d, const char *text, size_t len);

int yu_parse(struct yu_doc *d, const char *name, const char *text, size_t len, char *err,
             size_t errlen)
{
    memset(d, 0, sizeof *d);
    d->name = name ? name : "<input>";
    d->err = err;
    d->errlen = errlen;
    if (err && errlen)
        err[0] = '\0';
    return parse_doc(d, text, len);
}

int yu_parse_each(struct yu_doc *d, const char *name, const char *text, size_t len,
                  yu_report_fn *report, void *ctx)
{
    memset(d, 0, sizeof *d);
    d->name = name ? name : "<input>";
    d->report = report;
    d->report_ctx = ctx;
    return parse_doc(d, text, len);
}

/* libyaml's scanner walks its stack of possible simple keys, one per open
 * flow collection, for every token: a deeply nested document costs time
 * quadratic in its depth (200 KB of '[' took 40 s). The events are read
 * first, and the depth is checked as each collection opens, so nothing
 * deeper than YU_MAX_DEPTH is ever scanned past its first level too many. A
 * syntax error is left for the loader, which reports it. */
static int check_depth(struct yu_doc *d, const char *text, size_t len)
{
    yaml_parser_t p;
    yaml_event_t ev;
    int depth = 0, rc = 0;

    if (!yaml_parser_initialize(&p)) {
        put_err(d, 1, 1, "out of memory");
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    for (;;) {
        if (!yaml_parser_parse(&p, &ev))
            break;
        yaml_event_type_t t = ev.type;
        if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
            if (++depth > YU_MAX_DEPTH) {
                char msg[96];
                snprintf(msg, sizeof msg, "nested deeper than %d levels", YU_MAX_DEPTH);
                put_err(d, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1, msg);
                rc = -1;
            }
        } else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        yaml_event_delete(&ev);
        if (rc < 0 || t == YAML_STREAM_END_EVENT)
            break;
    }
    yaml_parser_delete(&p);
    return rc;
}

static int parse_doc(struct yu_doc *d, const char *text, size_t len)
{
    yaml_parser_t p;
    int rc = 0;

    if (len > YU_MAX_DOC) {
        char msg[96];
        snprintf(msg, sizeof msg, "larger than %u bytes (%zu)", YU_MAX_DOC, len);
        put_err(d, 1, 1, msg);
        return -1;
    }
    if (check_depth(d, text, len) < 0)
        return -1;
    if (!yaml_parser_initialize(&p)) {
        put_err(d, 1, 1, "out of memory");
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (!yaml_parser_load(&p, &d->doc)) {
        rc = parser_error(d, &p, text, len);
        goto out;
    }
    d->loaded = 1;

    /* A second document would be silently ignored otherwise. */
    if (yaml_document_get_root_node(&d->doc)) {
        yaml_document_t extra;
        if (!yaml_parser_load(&p, &extra)) {
            rc = parser_error(d, &p, text, len);
            goto out;
        }
        yaml_node_t *r = yaml_document_get_root_node(&extra);
        if (r) {
            put_err(d, (int)extra.start_mark.line + 1, (int)extra.start_mark.column + 1,
                    "only one YAML document is allowed");
            rc = -1;
        }
        yaml_document_delete(&extra);
    }
out:
    yaml_parser_delete(&p);
    return rc;
}

void yu_free(struct yu_doc *d)
{
    if (d->loaded)
        yaml_document_delete(&d->doc);
    d->loaded = 0;
}

yaml_node_t *yu_node(struct yu_doc *d, int index)
{
    return yaml_document_get_node(&d->doc, index);
}

yaml_node_t *yu_root(struct yu_doc *d)
{
    if (!d->loaded)
        return NULL;
    yaml_node_t *r = yaml_document_get_root_node(&d->doc);
    if (r && yu_is_null(r))
        return NULL;
    return r;
}

static int scalar_is(const yaml_node_t *n, const char *s)
{
    size_t l = strlen(s);
    return n->type == YAML_SCALAR_NODE && n->data.scalar.length == l &&
           memcmp(n->data.scalar.value, s, l) == 0;
}

int yu_is_null(const yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    return n->data.scalar.length == 0 || scalar_is(n, "~") || scalar_is(n, "null") ||
           scalar_is(n, "Null") || scalar_is(n, "NULL");
}

const char *yu_kind(const yaml_node_t *n)
{
    if (!n)
        return "nothing";
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_SCALAR_NODE:
        return yu_is_null(n) ? "null" : "a scalar";
    default:
        return "nothing";
    }
}

int yu_check_map(struct yu_doc *d, const yaml_node_t *n, const char *what,
                 const char *const *allowed)
{
    if (!n || n->type != YAML_MAPPING_NODE)
        return yu_fail(d, n, "%s must be a mapping, not %s", what, yu_kind(n));

    const yaml_node_pair_t *start = n->data.mapping.pairs.start;
    const yaml_node_pair_t *top = n->data.mapping.pairs.top;
    for (const yaml_node_pair_t *pr = start; pr < top; pr++) {
        const yaml_node_t *k = yu_node(d, pr->key);
        if (!k || k->type != YAML_SCALAR_NODE)
            return yu_fail(d, k, "keys in %s must be scalars, not %s", what, yu_kind(k));
        const char *ks = (const char *)k->data.scalar.value;

        int known = 0;
        for (const char *const *a = allowed; *a; a++)
            if (scalar_is(k, *a))
                known = 1;
        if (!known) {
            char list[400] = "";
            size_t used = 0;
            for (const char *const *a = allowed; *a && used < sizeof list; a++) {
                int w =
                    snprintf(list + used, sizeof list - used, "%s%s", a == allowed ? "" : ", ", *a);
                if (w < 0)
                    break;
                used += (size_t)w;
            }
            return yu_fail(d, k, "unknown key '%s' in %s (allowed: %s)", ks, what, list);
        }
        for (const yaml_node_pair_t *q = start; q < pr; q++) {
            const yaml_node_t *k2 = yu_node(d, q->key);
            if (scalar_is(k2, ks))
                return yu_fail(d, k, "duplicate key '%s' in %s (first at line %d)", ks, what,
                               (int)k2->start_mark.line + 1);
        }
    }
    return 0;
}

yaml_node_t *yu_get_key(struct yu_doc *d, const yaml_node_t *map, const char *key,
                        yaml_node_t **knode)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (const yaml_node_pair_t *pr = map->data.mapping.pairs.start;
         pr < map->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yu_node(d, pr->key);
        if (k && scalar_is(k, key)) {
            if (knode)
                *knode = k;
            return yu_node(d, pr->value);
        }
    }
    return NULL;
}

yaml_node_t *yu_get(struct yu_doc *d, const yaml_node_t *map, const char *key)
{
    return yu_get_key(d, map, key, NULL);
}

int yu_line(const yaml_node_t *n)
{
    return (int)n->start_mark.line + 1;
}

int yu_col(const yaml_node_t *n)
{
    return (int)n->start_mark.column + 1;
}

int yu_scalar(struct yu_doc *d, const yaml_node_t *n, const char *key, const char **out)
{
    if (!n || n->type != YAML_SCALAR_NODE)
        return yu_fail(d, n, "'%s' must be a scalar, not %s", key, yu_kind(n));
    if (yu_is_null(n))
        return yu_fail(d, n, "'%s' needs a value", key);
    if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
        return yu_fail(d, n, "'%s' contains a NUL character", key);
    *out = (const char *)n->data.scalar.value;
    return 0;
}

int yu_strdup(struct yu_doc *d, const yaml_node_t *n, const char *key, char **out)
{
    const char *s;
    if (yu_scalar(d, n, key, &s) < 0)
        return -1;
    char *c = strdup(s);
    if (!c)
        return yu_fail(d, n, "out of memory");
    free(*out);
    *out = c;
    return 0;
}

int yu_text(struct yu_doc *d, const yaml_node_t *n, const char *key, const char **out)
{
    if (yu_scalar(d, n, key, out) < 0)
        return -1;
    if (!**out)
        return yu_fail(d, n, "'%s' must not be empty", key);
    return 0;
}

int yu_valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > YU_MAX_ID)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
            return 0;
    return 1;
}

int yu_id(struct yu_doc *d, const yaml_node_t *n, const char *key, char **out)
{
    if (yu_strdup(d, n, key, out) < 0)
        return -1;
    if (!yu_valid_id(*out))
        return yu_fail(d, n, "'%s' must be 1 to %d characters of A-Z a-z 0-9 . _ -, not '%s'", key,
                       YU_MAX_ID, *out);
    return 0;
}

int yu_read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *b = NULL;
    size_t n = 0, cap = 0;

    if (!f)
        goto fail_errno;
    for (;;) {
        if (n == cap) {
            /* one byte past the limit tells a file over it from one at it */
            if (cap > YU_MAX_DOC) {
                fclose(f);
                free(b);
                if (err && errlen)
                    snprintf(err, errlen, "%s:1:1: larger than %u bytes", path, YU_MAX_DOC);
                return -1;
            }
            size_t ncap = cap ? cap * 2 : 4096;
            if (ncap > YU_MAX_DOC + 1)
                ncap = YU_MAX_DOC + 1;
            char *nb = realloc(b, ncap + 1);
            if (!nb) {
                errno = ENOMEM;
                goto fail_close;
            }
            b = nb;
            cap = ncap;
        }
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f))
                goto fail_close;
            break;
        }
    }
    fclose(f);
    if (!b && !(b = malloc(1))) {
        errno = ENOMEM;
        goto fail_errno;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;

fail_close : {
    int e = errno;
    fclose(f);
    errno = e;
}
fail_errno:
    free(b);
    if (err && errlen)
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
}
