/*
 * Batch manifest parser. Self-contained on purpose (libyaml only): fwupctl
 * must not link daemon code, and the few tree helpers below are cheaper to
 * repeat than to share.
 */
#include "manifest.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_ID   64
#define MAX_FILE (16u << 20)

struct mf_doc {
    const char *name;
    yaml_document_t doc;
    int loaded;
    char *err;
    size_t errlen;
};

/* ---- YAML tree helpers --------------------------------------------------- */

static void put_err(struct mf_doc *d, int line, int col, const char *msg)
{
    if (d->err && d->errlen)
        snprintf(d->err, d->errlen, "%s:%d:%d: %s", d->name, line, col, msg);
}

__attribute__((format(printf, 3, 4))) static int fail(struct mf_doc *d, const yaml_node_t *n,
                                                      const char *fmt, ...)
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

static int parser_error(struct mf_doc *d, const yaml_parser_t *p, const char *text, size_t len)
{
    char msg[512];
    const char *problem = p->problem ? p->problem : "invalid YAML";
    int line = 1, col = 1;

    if (p->error == YAML_MEMORY_ERROR) {
        put_err(d, 1, 1, "out of memory");
    } else if (p->error == YAML_READER_ERROR) {
        /* Reader errors (bad UTF-8...) carry a byte offset, not a mark. */
        for (size_t i = 0; i < p->problem_offset && i < len; i++) {
            if (text[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        if (p->problem_value != -1)
            snprintf(msg, sizeof msg, "%s (byte 0x%02X)", problem, (unsigned)p->problem_value);
        else
            snprintf(msg, sizeof msg, "%s", problem);
        put_err(d, line, col, msg);
    } else {
        if (p->context)
            snprintf(msg, sizeof msg, "%s (%s at line %d column %d)", problem, p->context,
                     (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
        else
            snprintf(msg, sizeof msg, "%s", problem);
        put_err(d, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1, msg);
    }
    return -1;
}

static int load_doc(struct mf_doc *d, const char *text, size_t len)
{
    yaml_parser_t p;
    int rc = 0;

    if (!yaml_parser_initialize(&p)) {
        put_err(d, 1, 1, "out of memory");
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (!yaml_parser_load(&p, &d->doc)) {
        rc = parser_error(d, &p, text, len);
    } else {
        d->loaded = 1;
        if (yaml_document_get_root_node(&d->doc)) {
            yaml_document_t extra;
            if (!yaml_parser_load(&p, &extra)) {
                rc = parser_error(d, &p, text, len);
            } else {
                if (yaml_document_get_root_node(&extra)) {
                    put_err(d, (int)extra.start_mark.line + 1, (int)extra.start_mark.column + 1,
                            "only one YAML document is allowed");
                    rc = -1;
                }
                yaml_document_delete(&extra);
            }
        }
    }
    yaml_parser_delete(&p);
    return rc;
}

static yaml_node_t *node(struct mf_doc *d, int i)
{
    return yaml_document_get_node(&d->doc, i);
}

static int scalar_is(const yaml_node_t *n, const char *s)
{
    size_t l = strlen(s);
    return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length == l &&
           memcmp(n->data.scalar.value, s, l) == 0;
}

static int is_null(const yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    return n->data.scalar.length == 0 || scalar_is(n, "~") || scalar_is(n, "null") ||
           scalar_is(n, "Null") || scalar_is(n, "NULL");
}

static const char *kind(const yaml_node_t *n)
{
    if (!n)
        return "nothing";
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE)
        return "a list";
    return is_null(n) ? "null" : "a scalar";
}

/* Mapping with scalar, unique keys, all in the NULL-terminated `allowed`. */
static int check_map(struct mf_doc *d, const yaml_node_t *n, const char *what,
                     const char *const *allowed)
{
    if (!n || n->type != YAML_MAPPING_NODE)
        return fail(d, n, "%s must be a mapping, not %s", what, kind(n));
    const yaml_node_pair_t *start = n->data.mapping.pairs.start;
    for (const yaml_node_pair_t *pr = start; pr < n->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = node(d, pr->key);
        if (!k || k->type != YAML_SCALAR_NODE)
            return fail(d, k, "keys in %s must be scalars, not %s", what, kind(k));
        const char *ks = (const char *)k->data.scalar.value;
        int known = 0;
        char list[200] = "";
        for (const char *const *a = allowed; *a; a++) {
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s%s", a == allowed ? "" : ", ", *a);
            if (scalar_is(k, *a))
                known = 1;
        }
        if (!known)
            return fail(d, k, "unknown key '%s' in %s (allowed: %s)", ks, what, list);
        for (const yaml_node_pair_t *q = start; q < pr; q++) {
            const yaml_node_t *k2 = node(d, q->key);
            if (scalar_is(k2, ks))
                return fail(d, k, "duplicate key '%s' in %s (first at line %d)", ks, what,
                            (int)k2->start_mark.line + 1);
        }
    }
    return 0;
}

/* Value of `key` (its key node in *knode if asked), or NULL. */
static yaml_node_t *get(struct mf_doc *d, const yaml_node_t *map, const char *key,
                        yaml_node_t **knode)
{
    for (const yaml_node_pair_t *pr = map->data.mapping.pairs.start;
         pr < map->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = node(d, pr->key);
        if (scalar_is(k, key)) {
            if (knode)
                *knode = k;
            return node(d, pr->value);
        }
    }
    return NULL;
}

static int get_scalar(struct mf_doc *d, const yaml_node_t *n, const char *key, const char **out)
{
    if (!n || n->type != YAML_SCALAR_NODE)
        return fail(d, n, "'%s' must be a scalar, not %s", key, kind(n));
    if (is_null(n))
        return fail(d, n, "'%s' needs a value", key);
    if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
        return fail(d, n, "'%s' contains a NUL character", key);
    if (n->data.scalar.length == 0)
        return fail(d, n, "'%s' must not be empty", key);
    *out = (const char *)n->data.scalar.value;
    return 0;
}

static int dup_scalar(struct mf_doc *d, const yaml_node_t *n, const char *key, char **out)
{
    const char *s;
    if (get_scalar(d, n, key, &s) < 0)
        return -1;
    if (!(*out = strdup(s)))
        return fail(d, n, "out of memory");
    return 0;
}

/* Same rule as device ids and tags in the daemon config. */
static int get_id(struct mf_doc *d, const yaml_node_t *n, const char *key, char **out)
{
    if (dup_scalar(d, n, key, out) < 0)
        return -1;
    size_t len = strlen(*out);
    int ok = len >= 1 && len <= MAX_ID;
    for (const char *c = *out; ok && *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '.' && *c != '_' && *c != '-')
            ok = 0;
    if (!ok)
        return fail(d, n, "'%s' must be 1 to %d characters of A-Z a-z 0-9 . _ -, not '%s'", key,
                    MAX_ID, *out);
    return 0;
}

static int pos_line(const yaml_node_t *n)
{
    return (int)n->start_mark.line + 1;
}

/* ---- manifest schema ---------------------------------------------------- */

static char *resolve(const char *base_dir, const char *p)
{
    if (p[0] == '/' || !base_dir || !*base_dir || !strcmp(base_dir, "."))
        return strdup(p);
    size_t bl = strlen(base_dir);
    int slash = base_dir[bl - 1] != '/';
    char *r = malloc(bl + (size_t)slash + strlen(p) + 1);
    if (r)
        sprintf(r, "%s%s%s", base_dir, slash ? "/" : "", p);
    return r;
}

static int parse_tags(struct mf_doc *d, const yaml_node_t *n, struct fwup_manifest_target *t)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(d, n, "'tags' must be a list of tags, not %s", kind(n));
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (!cnt)
        return fail(d, n, "'tags' must name at least one tag");
    if (!(t->tags = calloc(cnt, sizeof *t->tags)))
        return fail(d, n, "out of memory");
    for (size_t i = 0; i < cnt; i++) {
        const yaml_node_t *e = node(d, n->data.sequence.items.start[i]);
        t->ntags = i + 1;
        if (get_id(d, e, "tag", &t->tags[i]) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(t->tags[j], t->tags[i]))
                return fail(d, e, "duplicate tag '%s'", t->tags[i]);
    }
    return 0;
}

static int parse_target(struct mf_doc *d, const yaml_node_t *n, const char *base_dir,
                        struct fwup_manifest *m, struct fwup_manifest_target *t)
{
    static const char *const keys[] = {"device",  "tags",   "image",   "sha256",
                                       "version", "format", "address", NULL};
    static const char *const formats[] = {"auto", "bin", "ihex", "srec", "dfu", "dfuse", NULL};
    yaml_node_t *v, *kdev = NULL, *ktags = NULL, *vdev, *vtags;
    const char *s;

    t->line = pos_line(n);
    t->col = (int)n->start_mark.column + 1;
    if (check_map(d, n, "a target", keys) < 0)
        return -1;

    vdev = get(d, n, "device", &kdev);
    vtags = get(d, n, "tags", &ktags);
    if (vdev && vtags) {
        /* Point at whichever came second: that is the one to delete. */
        const yaml_node_t *later = kdev->start_mark.index > ktags->start_mark.index ? kdev : ktags;
        return fail(d, later, "a target takes 'device' or 'tags', not both");
    }
    if (!vdev && !vtags)
        return fail(d, n, "target needs 'device' or 'tags' to say where the image goes");
    if (vdev) {
        if (get_id(d, vdev, "device", &t->device) < 0)
            return -1;
        /* The daemon refuses a device targeted twice; say where here. */
        for (struct fwup_manifest_target *o = m->targets; o < t; o++)
            if (o->device && !strcmp(o->device, t->device))
                return fail(d, vdev, "device '%s' is targeted twice (first at line %d)", t->device,
                            o->line);
    } else if (parse_tags(d, vtags, t) < 0) {
        return -1;
    }

    if (!(v = get(d, n, "image", NULL)))
        return fail(d, n, "target is missing required key 'image'");
    if (get_scalar(d, v, "image", &s) < 0)
        return -1;
    if (!(t->image_path = resolve(base_dir, s)))
        return fail(d, v, "out of memory");

    if (!(v = get(d, n, "sha256", NULL)))
        return fail(d, n, "target is missing required key 'sha256'");
    if (get_scalar(d, v, "sha256", &s) < 0)
        return -1;
    size_t len = strlen(s);
    if (len != 64)
        return fail(d, v, "'sha256' must be 64 hex digits, not %zu characters", len);
    for (size_t i = 0; i < 64; i++) {
        if (!isxdigit((unsigned char)s[i]))
            return fail(d, v, "'sha256' has a non-hex character '%c' at offset %zu", s[i], i);
        t->sha256[i] = (char)tolower((unsigned char)s[i]);
    }
    t->sha256[64] = '\0';

    if (!(v = get(d, n, "version", NULL)))
        return fail(d, n, "target is missing required key 'version'");
    if (dup_scalar(d, v, "version", &t->version) < 0)
        return -1;

    if ((v = get(d, n, "format", NULL))) {
        int ok = 0;
        if (get_scalar(d, v, "format", &s) < 0)
            return -1;
        for (const char *const *f = formats; *f; f++)
            if (!strcmp(s, *f))
                ok = 1;
        if (!ok)
            return fail(d, v,
                        "'format' must be one of auto | bin | ihex | srec | dfu | dfuse, "
                        "not '%s'",
                        s);
        if (!(t->format = strdup(s)))
            return fail(d, v, "out of memory");
    }

    if ((v = get(d, n, "address", NULL))) {
        uint64_t a = 0;
        int base = 10, ok;
        if (get_scalar(d, v, "address", &s) < 0)
            return -1;
        const char *p = s;
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
            base = 16;
            p += 2;
        }
        ok = *p != '\0';
        for (; ok && *p; p++) {
            int dg = isdigit((unsigned char)*p)    ? *p - '0'
                     : isxdigit((unsigned char)*p) ? tolower((unsigned char)*p) - 'a' + 10
                                                   : 99;
            if (dg >= base || (a = a * (uint64_t)base + (uint64_t)dg) > UINT32_MAX)
                ok = 0;
        }
        if (!ok)
            return fail(d, v, "'address' must be a 32-bit address (decimal or 0x hex), not '%s'",
                        s);
        t->has_address = 1;
        t->address = (uint32_t)a;
    }
    return 0;
}

static int parse_root(struct mf_doc *d, const yaml_node_t *root, const char *base_dir,
                      struct fwup_manifest *m)
{
    static const char *const keys[] = {"manifest", "name", "targets", NULL};
    const yaml_node_t *v;
    const char *s;

    if (!root)
        return fail(d, NULL, "empty manifest (it needs 'manifest: %d' and 'targets')",
                    FWUP_MANIFEST_SCHEMA);
    if (root->type != YAML_MAPPING_NODE)
        return fail(d, root, "a manifest must be a mapping, not %s", kind(root));

    /* The version comes first so a newer manifest is refused as such, not
     * for the keys its schema added. */
    if (!(v = get(d, root, "manifest", NULL)))
        return fail(d, root, "missing required key 'manifest' (the schema version, %d)",
                    FWUP_MANIFEST_SCHEMA);
    if (get_scalar(d, v, "manifest", &s) < 0)
        return -1;
    long ver = 0;
    int ok = isdigit((unsigned char)*s);
    for (const char *p = s; ok && *p; p++) {
        if (!isdigit((unsigned char)*p) || ver > 1000000)
            ok = 0;
        else
            ver = ver * 10 + (*p - '0');
    }
    if (!ok)
        return fail(d, v, "'manifest' must be the schema version number (%d), not '%s'",
                    FWUP_MANIFEST_SCHEMA, s);
    if (ver > FWUP_MANIFEST_SCHEMA)
        return fail(d, v,
                    "manifest schema version %ld is newer than this fwupctl supports (%d); "
                    "upgrade fwupctl",
                    ver, FWUP_MANIFEST_SCHEMA);
    if (ver < 1)
        return fail(d, v, "manifest schema version must be 1 to %d, not %ld", FWUP_MANIFEST_SCHEMA,
                    ver);
    m->schema = (int)ver;

    if (check_map(d, root, "a manifest", keys) < 0)
        return -1;
    if ((v = get(d, root, "name", NULL)) && dup_scalar(d, v, "name", &m->name) < 0)
        return -1;

    if (!(v = get(d, root, "targets", NULL)))
        return fail(d, root, "missing required key 'targets'");
    if (v->type != YAML_SEQUENCE_NODE)
        return fail(d, v, "'targets' must be a list, not %s", kind(v));
    size_t cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (!cnt)
        return fail(d, v, "'targets' is empty: a manifest needs at least one target");
    if (!(m->targets = calloc(cnt, sizeof *m->targets)))
        return fail(d, v, "out of memory");
    for (size_t i = 0; i < cnt; i++) {
        m->ntargets = i + 1;
        if (parse_target(d, node(d, v->data.sequence.items.start[i]), base_dir, m, &m->targets[i]) <
            0)
            return -1;
    }
    return 0;
}

/* ---- public API ---------------------------------------------------------- */

int fwup_manifest_parse(const char *name, const char *text, size_t len, const char *base_dir,
                        struct fwup_manifest **out, char *err, size_t errlen)
{
    struct mf_doc d = {.name = name ? name : "<manifest>", .err = err, .errlen = errlen};
    struct fwup_manifest *m = NULL;
    int rc = -1;

    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (load_doc(&d, text, len) < 0)
        goto done;
    if (!(m = calloc(1, sizeof *m))) {
        fail(&d, NULL, "out of memory");
        goto done;
    }
    yaml_node_t *root = yaml_document_get_root_node(&d.doc);
    if (parse_root(&d, is_null(root) ? NULL : root, base_dir, m) < 0)
        goto done;
    *out = m;
    m = NULL;
    rc = 0;
done:
    fwup_manifest_free(m);
    if (d.loaded)
        yaml_document_delete(&d.doc);
    return rc;
}

static int read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *b = NULL;
    size_t n = 0, cap = 0;
    int e = 0;

    if (!f) {
        e = errno;
        goto fail;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_FILE) {
                fclose(f);
                free(b);
                if (err && errlen)
                    snprintf(err, errlen, "%s: file too large (over %u bytes)", path, MAX_FILE);
                return -1;
            }
            size_t ncap = cap ? cap * 2 : 4096;
            char *nb = realloc(b, ncap + 1);
            if (!nb) {
                e = ENOMEM;
                fclose(f);
                goto fail;
            }
            b = nb;
            cap = ncap;
        }
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) {
                e = errno;
                fclose(f);
                goto fail;
            }
            break;
        }
    }
    fclose(f);
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
fail:
    free(b);
    if (err && errlen)
        snprintf(err, errlen, "%s: %s", path, strerror(e));
    return -1;
}

int fwup_manifest_load(const char *path, struct fwup_manifest **out, char *err, size_t errlen)
{
    char *buf, *dir;
    size_t len;
    int rc;

    *out = NULL;
    if (read_file(path, &buf, &len, err, errlen) < 0)
        return -1;
    /* Images sit next to the manifest, wherever it is run from. */
    const char *slash = strrchr(path, '/');
    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (!dir) {
        free(buf);
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
        return -1;
    }
    rc = fwup_manifest_parse(path, buf, len, dir, out, err, errlen);
    free(dir);
    free(buf);
    return rc;
}

void fwup_manifest_free(struct fwup_manifest *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->ntargets; i++) {
        struct fwup_manifest_target *t = &m->targets[i];
        free(t->device);
        for (size_t j = 0; j < t->ntags; j++)
            free(t->tags[j]);
        free(t->tags);
        free(t->image_path);
        free(t->version);
        free(t->format);
    }
    free(m->targets);
    free(m->name);
    free(m);
}
