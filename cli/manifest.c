/*
 * Batch manifest parser. The YAML tree helpers (strict maps, scalars,
 * FILE:LINE:COL errors) are the daemon config's, from the small fwup_yaml
 * library: fwupctl links that and nothing else of the daemon.
 */
#include "manifest.h"
#include "yamlutil.h"

#include <ctype.h>
#include <errno.h>
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

static int parse_target(struct yu_doc *d, const yaml_node_t *n, const char *base_dir,
                        struct fwup_manifest *m, struct fwup_manifest_target *t)
{
    static const char *const keys[] = {"device",  "tags",   "image",   "sha256",
                                       "version", "format", "address", NULL};
    static const char *const formats[] = {"auto", "bin", "ihex",  "srec",
                                          "elf",  "dfu", "dfuse", NULL};
    yaml_node_t *v, *kdev = NULL, *ktags = NULL, *vdev, *vtags;
    const char *s;

    t->line = yu_line(n);
    t->col = yu_col(n);
    if (yu_check_map(d, n, "a target", keys) < 0)
        return -1;

    vdev = yu_get_key(d, n, "device", &kdev);
    vtags = yu_get_key(d, n, "tags", &ktags);
    if (vdev && vtags) {
        /* Point at whichever came second: that is the one to delete. */
        const yaml_node_t *later = kdev->start_mark.index > ktags->start_mark.index ? kdev : ktags;
        return yu_fail(d, later, "a target takes 'device' or 'tags', not both");
    }
    if (!vdev && !vtags)
        return yu_fail(d, n, "target needs 'device' or 'tags' to say where the image goes");
    if (vdev) {
        if (get_id(d, vdev, "device", &t->device) < 0)
            return -1;
        /* The daemon refuses a device targeted twice; say where here. */
        for (struct fwup_manifest_target *o = m->targets; o < t; o++)
            if (o->device && !strcmp(o->device, t->device))
                return yu_fail(d, vdev, "device '%s' is targeted twice (first at line %d)",
                               t->device, o->line);
    } else if (parse_tags(d, vtags, t) < 0) {
        return -1;
    }

    if (!(v = yu_get(d, n, "image")))
        return yu_fail(d, n, "target is missing required key 'image'");
    if (yu_text(d, v, "image", &s) < 0)
        return -1;
    if (!(t->image_path = resolve(base_dir, s)))
        return yu_fail(d, v, "out of memory");

    if (!(v = yu_get(d, n, "sha256")))
        return yu_fail(d, n, "target is missing required key 'sha256'");
    if (yu_text(d, v, "sha256", &s) < 0)
        return -1;
    size_t len = strlen(s);
    if (len != 64)
        return yu_fail(d, v, "'sha256' must be 64 hex digits, not %zu characters", len);
    for (size_t i = 0; i < 64; i++) {
        if (!isxdigit((unsigned char)s[i]))
            return yu_fail(d, v, "'sha256' has a non-hex character '%c' at offset %zu", s[i], i);
        t->sha256[i] = (char)tolower((unsigned char)s[i]);
    }
    t->sha256[64] = '\0';

    if (!(v = yu_get(d, n, "version")))
        return yu_fail(d, n, "target is missing required key 'version'");
    if (dup_scalar(d, v, "version", &t->version) < 0)
        return -1;

    if ((v = yu_get(d, n, "format"))) {
        int ok = 0;
        if (yu_text(d, v, "format", &s) < 0)
            return -1;
        for (const char *const *f = formats; *f; f++)
            if (!strcmp(s, *f))
                ok = 1;
        if (!ok)
            return yu_fail(d, v,
                           "'format' must be one of auto | bin | ihex | srec | elf | dfu | dfuse, "
                           "not '%s'",
                           s);
        if (!(t->format = strdup(s)))
            return yu_fail(d, v, "out of memory");
    }

    if ((v = yu_get(d, n, "address"))) {
        uint64_t a = 0;
        int base = 10, ok;
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
            return yu_fail(d, v, "'address' must be a 32-bit address (decimal or 0x hex), not '%s'",
                           s);
        t->has_address = 1;
        t->address = (uint32_t)a;
    }
    return 0;
}

static int parse_root(struct yu_doc *d, const yaml_node_t *root, const char *base_dir,
                      struct fwup_manifest *m)
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

    if (yu_check_map(d, root, "a manifest", keys) < 0)
        return -1;
    if ((v = yu_get(d, root, "name")) && dup_scalar(d, v, "name", &m->name) < 0)
        return -1;

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
        if (parse_target(d, yu_node(d, v->data.sequence.items.start[i]), base_dir, m,
                         &m->targets[i]) < 0)
            return -1;
    }
    return 0;
}

/* ---- public API ---------------------------------------------------------- */

int fwup_manifest_parse(const char *name, const char *text, size_t len, const char *base_dir,
                        struct fwup_manifest **out, char *err, size_t errlen)
{
    struct yu_doc d;
    struct fwup_manifest *m = NULL;
    int rc = -1;

    *out = NULL;
    if (yu_parse(&d, name ? name : "<manifest>", text, len, err, errlen) < 0)
        goto done;
    if (!(m = calloc(1, sizeof *m))) {
        yu_fail(&d, NULL, "out of memory");
        goto done;
    }
    if (parse_root(&d, yu_root(&d), base_dir, m) < 0)
        goto done;
    *out = m;
    m = NULL;
    rc = 0;
done:
    fwup_manifest_free(m);
    yu_free(&d);
    return rc;
}

int fwup_manifest_load(const char *path, struct fwup_manifest **out, char *err, size_t errlen)
{
    char *buf, *dir;
    size_t len;
    int rc;

    *out = NULL;
    if (yu_read_file(path, &buf, &len, err, errlen) < 0)
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
