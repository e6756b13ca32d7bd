/*
 * Batch manifest parser. The YAML tree helpers (strict maps, scalars,
 * FILE:LINE:COL errors) are the daemon config's, from lib/yaml; the format
 * names are the image parsers' (lib/image).
 */
#include "manifest.h"
#include "image.h"
#include "sha256hex.h"
#include "yamlutil.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Manifest values may not be quoted empty strings either. */
static int dup_scalar(struct yu_doc *d, const yaml_node_t *n, const char *key, char **out)
{
    const char *s;
    if (yu_text(d, n, key, &s) < 0)
        return -1;
    return yu_strdup(d, n, key, out);
}

/* Same rule as device ids and tags in the daemon config, but "" gets the
 * clearer "must not be empty". */
static int get_id(struct yu_doc *d, const yaml_node_t *n, const char *key, char **out)
{
    const char *s;
    if (yu_text(d, n, key, &s) < 0)
        return -1;
    return yu_id(d, n, key, out);
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

static int parse_tags(struct yu_doc *d, const yaml_node_t *n, struct fwup_manifest_target *t)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return yu_fail(d, n, "'tags' must be a list of tags, not %s", yu_kind(n));
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (!cnt)
        return yu_fail(d, n, "'tags' must name at least one tag");
    if (!(t->tags = calloc(cnt, sizeof *t->tags)))
        return yu_fail(d, n, "out of memory");
    for (size_t i = 0; i < cnt; i++) {
        const yaml_node_t *e = yu_node(d, n->data.sequence.items.start[i]);
        t->ntags = i + 1;
        if (get_id(d, e, "tag", &t->tags[i]) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(t->tags[j], t->tags[i]))
                return yu_fail(d, e, "duplicate tag '%s'", t->tags[i]);
    }
    return 0;
}

static void mark(struct fwup_manifest_target *t, enum fwup_manifest_field f, const yaml_node_t *v)
{
    t->at[f].line = yu_line(v);
    t->at[f].col = yu_col(v);
}

static int parse_sha256(struct yu_doc *d, const yaml_node_t *v, struct fwup_manifest_target *t)
{
    const char *s;
    if (yu_text(d, v, "sha256", &s) < 0)
        return -1;
    size_t len = strlen(s), bad;
    if (len != FWUP_SHA256_HEX_LEN)
        return yu_fail(d, v, "'sha256' must be 64 hex digits, not %zu characters", len);
    if (fwup_sha256_hex_check(s, &bad) < 0)
        return yu_fail(d, v, "'sha256' has a non-hex character '%c' at offset %zu", s[bad], bad);
    fwup_sha256_hex_lower(s, t->sha256);
    return 0;
}

static int parse_format(struct yu_doc *d, const yaml_node_t *v, struct fwup_manifest_target *t)
{
    const char *s;
    char names[128];
    if (yu_text(d, v, "format", &s) < 0)
        return -1;
    if (fwup_image_format_canonical(s) >= 0)
        return (t->format = strdup(s)) ? 0 : yu_fail(d, v, "out of memory");
    return yu_fail(d, v, "'format' must be one of %s, not '%s'",
                   fwup_image_format_join(names, sizeof names, " | ", " | "), s);
}

static int parse_address(struct yu_doc *d, const yaml_node_t *v, struct fwup_manifest_target *t)
{
    uint64_t a = 0;
    int base = 10, ok;
    const char *s;
    if (yu_text(d, v, "address", &s) < 0)
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
        return yu_fail(d, v, "'address' must be a 32-bit address (decimal or 0x hex), not '%s'", s);
    t->has_address = 1;
    t->address = (uint32_t)a;
    return 0;
}

/* Where the image goes: 'device' or 'tags'. */
static int parse_where(struct yu_doc *d, const yaml_node_t *n, struct fwup_manifest *m,
                       struct fwup_manifest_target *t)
{
    yaml_node_t *kdev = NULL, *ktags = NULL;
    yaml_node_t *vdev = yu_get_key(d, n, "device", &kdev);
    yaml_node_t *vtags = yu_get_key(d, n, "tags", &ktags);
    if (vdev && vtags) {
        /* Point at whichever came second: that is the one to delete. */
        const yaml_node_t *later = kdev->start_mark.index > ktags->start_mark.index ? kdev : ktags;
        return yu_fail(d, later, "a target takes 'device' or 'tags', not both");
    }
    if (!vdev && !vtags)
        return yu_fail(d, n, "target needs 'device' or 'tags' to say where the image goes");
    mark(t, FWUP_MF_DEVICE, vdev ? vdev : vtags);
    if (!vdev)
        return parse_tags(d, vtags, t);
    if (get_id(d, vdev, "device", &t->device) < 0)
        return -1;
    /* The daemon refuses a device targeted twice; say where here. */
    for (struct fwup_manifest_target *o = m->targets; o < t; o++)
        if (o->device && !strcmp(o->device, t->device))
            return yu_fail(d, vdev, "device '%s' is targeted twice (first at line %d)", t->device,
                           o->line);
    return 0;
}

/* The value of `key` in target n, its position noted; a missing required
 * key (bad non-NULL) is reported. */
static const yaml_node_t *value(struct yu_doc *d, const yaml_node_t *n, const char *key,
                                struct fwup_manifest_target *t, enum fwup_manifest_field f,
                                int *bad)
{
    const yaml_node_t *v = yu_get(d, n, key);
    if (v) {
        mark(t, f, v);
    } else if (bad) {
        yu_fail(d, n, "target is missing required key '%s'", key);
        *bad = 1;
    }
    return v;
}

static int parse_image(struct yu_doc *d, const yaml_node_t *v, const char *base_dir,
                       struct fwup_manifest_target *t)
{
    const char *s;
    if (yu_text(d, v, "image", &s) < 0)
        return -1;
    if (!(t->image_path = resolve(base_dir, s)))
        return yu_fail(d, v, "out of memory");
    return 0;
}

/* Parses what it can of a target and reports every problem in it; returns
 * -1 if there was one. */
static int parse_target(struct yu_doc *d, const yaml_node_t *n, const char *base_dir,
                        struct fwup_manifest *m, struct fwup_manifest_target *t)
{
    static const char *const keys[] = {"device",  "tags",   "image",   "sha256",
                                       "version", "format", "address", NULL};
    const yaml_node_t *v;
    int bad = 0;

    t->line = yu_line(n);
    t->col = yu_col(n);
    mark(t, FWUP_MF_ENTRY, n);
    t->bad = 1;
    if (yu_check_map(d, n, "a target", keys) < 0) {
        if (n->type != YAML_MAPPING_NODE)
            return -1;
        bad = 1; /* an unknown or doubled key: the rest can still be checked */
    }
    if (parse_where(d, n, m, t) < 0)
        bad = 1;
    if ((v = value(d, n, "image", t, FWUP_MF_IMAGE, &bad)) && parse_image(d, v, base_dir, t) < 0)
        bad = 1;
    if ((v = value(d, n, "sha256", t, FWUP_MF_SHA256, &bad)) && parse_sha256(d, v, t) < 0)
        bad = 1;
    if ((v = value(d, n, "version", t, FWUP_MF_VERSION, &bad)) &&
        dup_scalar(d, v, "version", &t->version) < 0)
        bad = 1;
    if ((v = value(d, n, "format", t, FWUP_MF_FORMAT, NULL)) && parse_format(d, v, t) < 0)
        bad = 1;
    if ((v = value(d, n, "address", t, FWUP_MF_ADDRESS, NULL)) && parse_address(d, v, t) < 0)
        bad = 1;
    t->bad = bad;
    return bad ? -1 : 0;
}

/* Returns -1 when the document is no manifest to go on with (the caller
 * then drops it); problems in targets only mark them. */
static int parse_root(struct yu_doc *d, const yaml_node_t *root, const char *base_dir,
                      struct fwup_manifest *m, long *cur)
{
    static const char *const keys[] = {"manifest", "name", "targets", NULL};
    const yaml_node_t *v;
    const char *s;

    if (!root)
        return yu_fail(d, NULL, "empty manifest (it needs 'manifest: %d' and 'targets')",
                       FWUP_MANIFEST_SCHEMA);
    if (root->type != YAML_MAPPING_NODE)
        return yu_fail(d, root, "a manifest must be a mapping, not %s", yu_kind(root));

    /* The version comes first so a newer manifest is refused as such, not
     * for the keys its schema added. */
    if (!(v = yu_get(d, root, "manifest")))
        return yu_fail(d, root, "missing required key 'manifest' (the schema version, %d)",
                       FWUP_MANIFEST_SCHEMA);
    if (yu_text(d, v, "manifest", &s) < 0)
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
        return yu_fail(d, v, "'manifest' must be the schema version number (%d), not '%s'",
                       FWUP_MANIFEST_SCHEMA, s);
    if (ver > FWUP_MANIFEST_SCHEMA)
        return yu_fail(d, v,
                       "manifest schema version %ld is newer than this fwupctl supports (%d); "
                       "upgrade fwupctl",
                       ver, FWUP_MANIFEST_SCHEMA);
    if (ver < 1)
        return yu_fail(d, v, "manifest schema version must be 1 to %d, not %ld",
                       FWUP_MANIFEST_SCHEMA, ver);
    m->schema = (int)ver;

    /* Problems here are reported and the targets still checked. */
    yu_check_map(d, root, "a manifest", keys);
    if ((v = yu_get(d, root, "name")))
        dup_scalar(d, v, "name", &m->name);

    if (!(v = yu_get(d, root, "targets")))
        return yu_fail(d, root, "missing required key 'targets'");
    if (v->type != YAML_SEQUENCE_NODE)
        return yu_fail(d, v, "'targets' must be a list, not %s", yu_kind(v));
    size_t cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (!cnt)
        return yu_fail(d, v, "'targets' is empty: a manifest needs at least one target");
    if (!(m->targets = calloc(cnt, sizeof *m->targets)))
        return yu_fail(d, v, "out of memory");
    for (size_t i = 0; i < cnt; i++) {
        m->ntargets = i + 1;
        *cur = (long)i;
        parse_target(d, yu_node(d, v->data.sequence.items.start[i]), base_dir, m, &m->targets[i]);
    }
    *cur = -1;
    return 0;
}

/* ---- problems ------------------------------------------------------------ */

void fwup_manifest_diag_add(struct fwup_manifest_diags *d, long target, int line, int col, int code,
                            const char *fmt, ...)
{
    struct fwup_manifest_diag *nv = realloc(d->v, (d->n + 1) * sizeof *nv);
    va_list ap;
    if (!nv)
        abort(); /* fwupctl has no way on without memory */
    d->v = nv;
    nv += d->n;
    nv->target = target;
    nv->line = line;
    nv->col = col;
    nv->code = code;
    va_start(ap, fmt);
    if (vasprintf(&nv->msg, fmt, ap) < 0)
        abort();
    va_end(ap);
    d->n++;
}

void fwup_manifest_diag_at(struct fwup_manifest_diags *d, const struct fwup_manifest *m, size_t t,
                           enum fwup_manifest_field field, int code, const char *fmt, ...)
{
    const struct fwup_manifest_target *tg = &m->targets[t];
    struct fwup_manifest_pos at = tg->at[field].line ? tg->at[field] : tg->at[FWUP_MF_ENTRY];
    char *msg;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        abort();
    va_end(ap);
    fwup_manifest_diag_add(d, (long)t, at.line, at.col, code, "%s", msg);
    free(msg);
}

void fwup_manifest_diags_sort(struct fwup_manifest_diags *d)
{
    /* Insertion sort: stable, and a manifest's problems are few. */
    for (size_t i = 1; i < d->n; i++) {
        struct fwup_manifest_diag x = d->v[i];
        size_t j = i;
        for (; j > 0 && d->v[j - 1].target > x.target; j--)
            d->v[j] = d->v[j - 1];
        d->v[j] = x;
    }
}

void fwup_manifest_diag_format(const struct fwup_manifest_diags *d, size_t i, char *out, size_t len)
{
    const struct fwup_manifest_diag *g = &d->v[i];
    if (g->line)
        snprintf(out, len, "%s:%d:%d: %s", d->file, g->line, g->col, g->msg);
    else
        snprintf(out, len, "%s: %s", d->file, g->msg);
}

void fwup_manifest_diags_free(struct fwup_manifest_diags *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].msg);
    free(d->v);
    free(d->file);
    memset(d, 0, sizeof *d);
}

enum fwup_manifest_field fwup_manifest_field_named(const char *key)
{
    static const char *const names[FWUP_MF_NFIELDS] = {
        [FWUP_MF_DEVICE] = "device",   [FWUP_MF_IMAGE] = "image",   [FWUP_MF_SHA256] = "sha256",
        [FWUP_MF_VERSION] = "version", [FWUP_MF_FORMAT] = "format", [FWUP_MF_ADDRESS] = "address",
    };
    if (key && !strcmp(key, "tags"))
        return FWUP_MF_DEVICE;
    for (int f = FWUP_MF_DEVICE; key && f < FWUP_MF_NFIELDS; f++)
        if (!strcmp(key, names[f]))
            return (enum fwup_manifest_field)f;
    return FWUP_MF_ENTRY;
}

/* ---- public API ---------------------------------------------------------- */

struct collect {
    struct fwup_manifest_diags *diags;
    long target; /* being parsed, -1 for the document */
};

static void collect(void *ctx, int line, int col, const char *msg)
{
    struct collect *c = ctx;
    fwup_manifest_diag_add(c->diags, c->target, line, col, 0, "%s", msg);
}

static void diags_init(struct fwup_manifest_diags *diags, const char *name)
{
    memset(diags, 0, sizeof *diags);
    if (!(diags->file = strdup(name)))
        abort();
}

int fwup_manifest_parse(const char *name, const char *text, size_t len, const char *base_dir,
                        struct fwup_manifest **out, struct fwup_manifest_diags *diags)
{
    struct yu_doc d;
    struct fwup_manifest *m = NULL;
    struct collect c = {diags, -1};

    *out = NULL;
    name = name ? name : "<manifest>";
    diags_init(diags, name);
    if (yu_parse_each(&d, name, text, len, collect, &c) == 0) {
        if (!(m = calloc(1, sizeof *m)))
            yu_fail(&d, NULL, "out of memory");
        else if (parse_root(&d, yu_root(&d), base_dir, m, &c.target) < 0) {
            fwup_manifest_free(m);
            m = NULL;
        }
    }
    *out = m;
    yu_free(&d);
    return diags->n ? -1 : 0;
}

int fwup_manifest_load(const char *path, struct fwup_manifest **out,
                       struct fwup_manifest_diags *diags)
{
    char *buf, *dir, err[512];
    size_t len;
    int rc;

    *out = NULL;
    if (yu_read_file(path, &buf, &len, err, sizeof err) < 0) {
        diags_init(diags, path);
        /* err is "PATH: reason"; the path is the diag's file already. */
        size_t pl = strlen(path);
        fwup_manifest_diag_add(diags, -1, 0, 0, 0, "%s",
                               strncmp(err, path, pl) == 0 && err[pl] == ':' ? err + pl + 2 : err);
        return -1;
    }
    /* Images sit next to the manifest, wherever it is run from. */
    const char *slash = strrchr(path, '/');
    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (!dir)
        abort();
    rc = fwup_manifest_parse(path, buf, len, dir, out, diags);
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
