/* Batch manifest parser: valid manifests, image path resolution, schema
 * version refusal and every error with its exact position. */
#include "manifest.h"

#include "yamlutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHA_LO "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SHA_UP "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"

/* All problems as "FILE:LINE:COL: message" lines, in the order found. */
static void all_errors(const struct fwup_manifest_diags *d, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < d->n && used < len; i++) {
        fwup_manifest_diag_format(d, i, out + used, len - used);
        used += strlen(out + used);
        used += (size_t)snprintf(out + used, len - used, "\n");
    }
}

static struct fwup_manifest *parse_ok(const char *text, const char *base)
{
    struct fwup_manifest *m = (void *)1;
    struct fwup_manifest_diags d;
    char err[2048];
    int rc = fwup_manifest_parse("m.yaml", text, strlen(text), base, &m, &d);
    all_errors(&d, err, sizeof err);
    ck_assert_msg(rc == 0, "unexpected error: %s", err);
    ck_assert_uint_eq(d.n, 0);
    ck_assert_ptr_nonnull(m);
    fwup_manifest_diags_free(&d);
    return m;
}

START_TEST(test_full)
{
    struct fwup_manifest *m =
        parse_ok("manifest: 1\n"
                 "name: spring-rollout\n"
                 "targets:\n"
                 "  - device: sensor-01\n"
                 "    image: images/sensor.hex\n"
                 "    sha256: " SHA_UP "\n"
                 "    version: \"2.1.0\"\n"
                 "    format: ihex\n"
                 "    address: 0x08000000\n"
                 "  - tags: [line-a, sensors]\n"
                 "    image: /abs/fw.bin\n"
                 "    sha256: '" SHA_LO "'\n"
                 "    version: 2.10\n"
                 "    address: 4096\n"
                 "  - {device: d3, image: x.dfu, sha256: " SHA_LO ", version: 7, format: auto}\n",
                 "/srv/rollout");
    ck_assert_int_eq(m->schema, 1);
    ck_assert_str_eq(m->name, "spring-rollout");
    ck_assert_uint_eq(m->ntargets, 3);

    const struct fwup_manifest_target *t = &m->targets[0];
    ck_assert_str_eq(t->device, "sensor-01");
    ck_assert_uint_eq(t->ntags, 0);
    ck_assert_ptr_null(t->tags);
    ck_assert_str_eq(t->image_path, "/srv/rollout/images/sensor.hex");
    ck_assert_str_eq(t->sha256, SHA_LO);
    ck_assert_str_eq(t->version, "2.1.0");
    ck_assert_str_eq(t->format, "ihex");
    ck_assert_int_eq(t->has_address, 1);
    ck_assert_uint_eq(t->address, 0x08000000);
    ck_assert_int_eq(t->line, 4);
    ck_assert_int_eq(t->col, 5);

    t = &m->targets[1];
    ck_assert_ptr_null(t->device);
    ck_assert_uint_eq(t->ntags, 2);
    ck_assert_str_eq(t->tags[0], "line-a");
    ck_assert_str_eq(t->tags[1], "sensors");
    ck_assert_str_eq(t->image_path, "/abs/fw.bin");
    ck_assert_str_eq(t->sha256, SHA_LO);
    ck_assert_str_eq(t->version, "2.10"); /* as written, not 2.1 */
    ck_assert_ptr_null(t->format);
    ck_assert_int_eq(t->has_address, 1);
    ck_assert_uint_eq(t->address, 4096);
    ck_assert_int_eq(t->line, 10);

    t = &m->targets[2];
    ck_assert_str_eq(t->device, "d3");
    ck_assert_str_eq(t->image_path, "/srv/rollout/x.dfu");
    ck_assert_str_eq(t->version, "7");
    ck_assert_str_eq(t->format, "auto");
    ck_assert_int_eq(t->has_address, 0);
    ck_assert_int_eq(t->line, 15);
    ck_assert_int_eq(t->col, 5);
    fwup_manifest_free(m);
}
END_TEST

START_TEST(test_minimal)
{
    struct fwup_manifest *m = parse_ok(
        "manifest: 1\ntargets:\n- {device: a, image: i.bin, sha256: " SHA_LO ", version: v1}\n",
        NULL);
    ck_assert_ptr_null(m->name);
    ck_assert_uint_eq(m->ntargets, 1);
    ck_assert_str_eq(m->targets[0].image_path, "i.bin");
    ck_assert_ptr_null(m->targets[0].format);
    ck_assert_int_eq(m->targets[0].has_address, 0);
    fwup_manifest_free(m);
}
END_TEST

START_TEST(test_resolution)
{
    static const struct {
        const char *base, *image, *want;
    } cases[] = {
        {NULL, "a/b.hex", "a/b.hex"},          {"", "a/b.hex", "a/b.hex"},
        {".", "a/b.hex", "a/b.hex"},           {"dir", "b.hex", "dir/b.hex"},
        {"dir/", "b.hex", "dir/b.hex"},        {"/", "b.hex", "/b.hex"},
        {"/x/y", "../b.hex", "/x/y/../b.hex"}, {"/x/y", "/abs/b.hex", "/abs/b.hex"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "manifest: 1\ntargets:\n- {device: a, image: '%s', sha256: " SHA_LO
                 ", version: v}\n",
                 cases[i].image);
        struct fwup_manifest *m = parse_ok(text, cases[i].base);
        ck_assert_str_eq(m->targets[0].image_path, cases[i].want);
        fwup_manifest_free(m);
    }
}
END_TEST

/* Loading from a file resolves images next to the manifest. */
START_TEST(test_load)
{
    char dir[] = "/tmp/fwup-mf-XXXXXX", sub[64], path[96], want[128], err[512];
    struct fwup_manifest *m;
    struct fwup_manifest_diags d;
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(sub, sizeof sub, "%s/batch", dir);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    snprintf(path, sizeof path, "%s/m.yaml", sub);

    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("manifest: 1\nname: t\ntargets:\n"
          "  - {device: a, image: fw/a.bin, sha256: " SHA_LO ", version: '1'}\n",
          f);
    fclose(f);
    ck_assert_int_eq(fwup_manifest_load(path, &m, &d), 0);
    ck_assert_uint_eq(d.n, 0);
    fwup_manifest_diags_free(&d);
    snprintf(want, sizeof want, "%s/fw/a.bin", sub);
    ck_assert_str_eq(m->targets[0].image_path, want);
    fwup_manifest_free(m);

    /* Errors carry the real file name. */
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("manifest: 1\ntargets: []\n", f);
    fclose(f);
    ck_assert_int_eq(fwup_manifest_load(path, &m, &d), -1);
    ck_assert_ptr_null(m);
    all_errors(&d, err, sizeof err);
    fwup_manifest_diags_free(&d);
    snprintf(want, sizeof want, "%s:2:10: 'targets' is empty", path);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got %s", err);

    /* A bare file name resolves relative to the working directory. */
    char cwd[4096];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(sub), 0);
    f = fopen("m.yaml", "w");
    ck_assert_ptr_nonnull(f);
    fputs("manifest: 1\ntargets:\n  - {device: a, image: a.bin, sha256: " SHA_LO
          ", version: '1'}\n",
          f);
    fclose(f);
    int rc = fwup_manifest_load("m.yaml", &m, &d);
    ck_assert_int_eq(chdir(cwd), 0);
    all_errors(&d, err, sizeof err);
    fwup_manifest_diags_free(&d);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq(m->targets[0].image_path, "a.bin");
    fwup_manifest_free(m);

    unlink(path);
    rmdir(sub);
    rmdir(dir);
}
END_TEST

START_TEST(test_load_missing)
{
    struct fwup_manifest *m = (void *)1;
    struct fwup_manifest_diags d;
    char err[256];
    ck_assert_int_eq(fwup_manifest_load("/nonexistent-fwupgw/m.yaml", &m, &d), -1);
    ck_assert_ptr_null(m);
    all_errors(&d, err, sizeof err);
    fwup_manifest_diags_free(&d);
    ck_assert_str_eq(err, "/nonexistent-fwupgw/m.yaml: No such file or directory\n");
}
END_TEST

/* A newer schema is refused by version, before its new keys are looked at. */
START_TEST(test_newer_schema)
{
    static const char text[] = "manifest: 2\n"
                               "waves: [{size: 10}]\n"
                               "targets: []\n";
    struct fwup_manifest *m;
    struct fwup_manifest_diags d;
    char err[512];
    ck_assert_int_eq(fwup_manifest_parse("m.yaml", text, strlen(text), NULL, &m, &d), -1);
    ck_assert_ptr_null(m);
    all_errors(&d, err, sizeof err);
    fwup_manifest_diags_free(&d);
    /* Only that: its other keys may be valid in version 2. */
    ck_assert_str_eq(err, "m.yaml:1:11: manifest schema version 2 is newer than this fwupctl "
                          "supports (1); upgrade fwupctl\n");
}
END_TEST

#define T(extra) "manifest: 1\ntargets:\n  - device: a\n    image: i.bin\n" extra
#define SHA      "    sha256: " SHA_LO "\n"
#define VER      "    version: '1'\n"

static const struct err_case {
    const char *text, *where, *message;
} err_cases[] = {
    /* document level */
    {"", "m.yaml:1:1: ", "empty manifest (it needs 'manifest: 1' and 'targets')"},
    {"# nothing\n", "m.yaml:1:1: ", "empty manifest"},
    {"- a\n", "m.yaml:1:1: ", "a manifest must be a mapping, not a list"},
    {"name: x\ntargets: []\n",
     "m.yaml:1:1: ", "missing required key 'manifest' (the schema version, 1)"},
    {"manifest: one\n",
     "m.yaml:1:11: ", "'manifest' must be the schema version number (1), not 'one'"},
    {"manifest: 1.5\n", "m.yaml:1:11: ", "not '1.5'"},
    {"manifest: -1\n", "m.yaml:1:11: ", "not '-1'"},
    {"manifest: 0\n", "m.yaml:1:11: ", "manifest schema version must be 1 to 1, not 0"},
    {"manifest: 99999999999\n", "m.yaml:1:11: ", "not '99999999999'"},
    {"manifest: [1]\n", "m.yaml:1:11: ", "'manifest' must be a scalar, not a list"},
    {"manifest: 1\nwaves: []\n",
     "m.yaml:2:1: ", "unknown key 'waves' in a manifest (allowed: manifest, name, targets)"},
    {"manifest: 1\nname: a\nname: b\n",
     "m.yaml:3:1: ", "duplicate key 'name' in a manifest (first at line 2)"},
    {"manifest: 1\nname: [a]\n", "m.yaml:2:7: ", "'name' must be a scalar, not a list"},
    {"manifest: 1\nname: x\n", "m.yaml:1:1: ", "missing required key 'targets'"},
    {"manifest: 1\ntargets:\n", "m.yaml:2:9: ", "'targets' must be a list, not null"},
    {"manifest: 1\ntargets: {device: a}\n",
     "m.yaml:2:10: ", "'targets' must be a list, not a mapping"},
    {"manifest: 1\ntargets: []\n",
     "m.yaml:2:10: ", "'targets' is empty: a manifest needs at least one target"},
    {"manifest: 1\ntargets:\n  - sensor-01\n",
     "m.yaml:3:5: ", "a target must be a mapping, not a scalar"},
    /* YAML syntax */
    {"manifest: 1\ntargets:\n  - device: a\n   image: b\n",
     "m.yaml:4:4: ", "did not find expected '-' indicator"},
    {"manifest: 1\ntargets: [\n", "m.yaml:3:1: ", "did not find expected node content"},
    {"manifest: 1\n---\nmanifest: 1\n", "m.yaml:2:1: ", "only one YAML document is allowed"},
    /* target keys */
    {T(SHA VER "    signature: abc\n"), "m.yaml:7:5: ",
     "unknown key 'signature' in a target (allowed: device, tags, image, sha256, version, "
     "format, address)"},
    {T(SHA VER "    image: j.bin\n"),
     "m.yaml:7:5: ", "duplicate key 'image' in a target (first at line 4)"},
    {T(SHA VER "    tags: [x]\n"), "m.yaml:7:5: ", "a target takes 'device' or 'tags', not both"},
    {"manifest: 1\ntargets:\n  - tags: [x]\n    image: i\n    device: a\n",
     "m.yaml:5:5: ", "a target takes 'device' or 'tags', not both"},
    {"manifest: 1\ntargets:\n  - image: i.bin\n" SHA VER,
     "m.yaml:3:5: ", "target needs 'device' or 'tags'"},
    {"manifest: 1\ntargets:\n  - device: 'a b'\n",
     "m.yaml:3:13: ", "'device' must be 1 to 64 characters of A-Z a-z 0-9 . _ -, not 'a b'"},
    {"manifest: 1\ntargets:\n  - device: [a]\n",
     "m.yaml:3:13: ", "'device' must be a scalar, not a list"},
    {"manifest: 1\ntargets:\n  - tags: []\n", "m.yaml:3:11: ", "'tags' must name at least one tag"},
    {"manifest: 1\ntargets:\n  - tags: line-a\n",
     "m.yaml:3:11: ", "'tags' must be a list of tags, not a scalar"},
    {"manifest: 1\ntargets:\n  - tags: [ok, 'no!']\n",
     "m.yaml:3:16: ", "'tag' must be 1 to 64 characters of A-Z a-z 0-9 . _ -, not 'no!'"},
    {"manifest: 1\ntargets:\n  - tags: [x, y, x]\n", "m.yaml:3:18: ", "duplicate tag 'x'"},
    {"manifest: 1\ntargets:\n  - device: a\n" SHA VER,
     "m.yaml:3:5: ", "target is missing required key 'image'"},
    {"manifest: 1\ntargets:\n  - device: a\n    image: ''\n",
     "m.yaml:4:12: ", "'image' must not be empty"},
    {"manifest: 1\ntargets:\n  - device: a\n    image: {path: x}\n",
     "m.yaml:4:12: ", "'image' must be a scalar, not a mapping"},
    {T(VER), "m.yaml:3:5: ", "target is missing required key 'sha256'"},
    {T("    sha256: 0123\n" VER),
     "m.yaml:5:13: ", "'sha256' must be 64 hex digits, not 4 characters"},
    {T("    sha256: " SHA_LO "0\n" VER),
     "m.yaml:5:13: ", "'sha256' must be 64 hex digits, not 65 characters"},
    {T("    sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg\n" VER),
     "m.yaml:5:13: ", "'sha256' has a non-hex character 'g' at offset 63"},
    {T("    sha256: ~\n" VER), "m.yaml:5:13: ", "'sha256' needs a value"},
    {T(SHA), "m.yaml:3:5: ", "target is missing required key 'version'"},
    {T(SHA "    version:\n"), "m.yaml:6:13: ", "'version' needs a value"},
    {T(SHA "    version: [2, 1]\n"), "m.yaml:6:14: ", "'version' must be a scalar, not a list"},
    {T(SHA VER "    format: coff\n"), "m.yaml:7:13: ",
     "'format' must be one of auto | bin | ihex | srec | elf | dfu | dfuse, not 'coff'"},
    {T(SHA VER "    address: 0x100000000\n"),
     "m.yaml:7:14: ", "'address' must be a 32-bit address (decimal or 0x hex), not '0x100000000'"},
    {T(SHA VER "    address: 4294967296\n"), "m.yaml:7:14: ", "not '4294967296'"},
    {T(SHA VER "    address: 0x\n"), "m.yaml:7:14: ", "not '0x'"},
    {T(SHA VER "    address: 12k\n"), "m.yaml:7:14: ", "not '12k'"},
    {T(SHA VER "    address: -4\n"), "m.yaml:7:14: ", "not '-4'"},
    {T(SHA VER) "  - {device: a, image: j, sha256: " SHA_LO ", version: 2}\n",
     "m.yaml:7:14: ", "device 'a' is targeted twice (first at line 3)"},
};

/* Each case's problem is among those reported, at its position. */
START_TEST(test_errors)
{
    const struct err_case *c = &err_cases[_i];
    struct fwup_manifest *m = (void *)1;
    struct fwup_manifest_diags d;
    char err[4096], one[1024];
    int found = 0;
    int rc = fwup_manifest_parse("m.yaml", c->text, strlen(c->text), "/base", &m, &d);
    all_errors(&d, err, sizeof err);
    ck_assert_msg(rc == -1, "case %d parsed but should fail with %s%s", _i, c->where, c->message);
    for (size_t i = 0; i < d.n; i++) {
        fwup_manifest_diag_format(&d, i, one, sizeof one);
        found |= strncmp(one, c->where, strlen(c->where)) == 0 &&
                 strstr(one + strlen(c->where), c->message) != NULL;
    }
    ck_assert_msg(found, "case %d: expected %s%s, got:\n%s", _i, c->where, c->message, err);
    fwup_manifest_free(m);
    fwup_manifest_diags_free(&d);
}
END_TEST

/* One pass reports every problem of every target, keeps the good targets
 * usable and says which are bad; problems found later (images, daemon)
 * land at the value they are about and sort in with their target's. */
START_TEST(test_one_pass)
{
    static const char text[] =
        "manifest: 1\n"
        "name: [x]\n"
        "targets:\n"
        "  - device: a\n"
        "    image: a.bin\n"
        "    sha256: " SHA_LO "\n"
        "    version: '1'\n"
        "  - device: 'b c'\n"
        "    image: ''\n"
        "    sha256: 0123\n"
        "    version: '1'\n"
        "    format: coff\n"
        "  - tags: [x, x]\n"
        "    address: 12k\n"
        "    colour: red\n"
        "  - {device: a, image: b.bin, sha256: " SHA_LO ", version: 2}\n"
        "  - {tags: [t0], image: c.bin, sha256: " SHA_UP ", version: 3, address: 0x100}\n";
    struct fwup_manifest *m;
    struct fwup_manifest_diags d;
    char err[4096];
    ck_assert_int_eq(fwup_manifest_parse("m.yaml", text, strlen(text), "/base", &m, &d), -1);
    all_errors(&d, err, sizeof err);
    ck_assert_str_eq(err,
                     "m.yaml:2:7: 'name' must be a scalar, not a list\n"
                     "m.yaml:8:13: 'device' must be 1 to 64 characters of A-Z a-z 0-9 . _ -, "
                     "not 'b c'\n"
                     "m.yaml:9:12: 'image' must not be empty\n"
                     "m.yaml:10:13: 'sha256' must be 64 hex digits, not 4 characters\n"
                     "m.yaml:12:13: 'format' must be one of auto | bin | ihex | srec | elf | dfu "
                     "| dfuse, not 'coff'\n"
                     "m.yaml:15:5: unknown key 'colour' in a target (allowed: device, tags, "
                     "image, sha256, version, format, address)\n"
                     "m.yaml:13:15: duplicate tag 'x'\n"
                     "m.yaml:13:5: target is missing required key 'image'\n"
                     "m.yaml:13:5: target is missing required key 'sha256'\n"
                     "m.yaml:13:5: target is missing required key 'version'\n"
                     "m.yaml:14:14: 'address' must be a 32-bit address (decimal or 0x hex), not "
                     "'12k'\n"
                     "m.yaml:16:14: device 'a' is targeted twice (first at line 4)\n");
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m->ntargets, 5);
    static const int bad[] = {0, 1, 1, 1, 0};
    for (size_t i = 0; i < 5; i++)
        ck_assert_msg(m->targets[i].bad == bad[i], "target %zu bad=%d", i, m->targets[i].bad);
    /* The good ones are whole. */
    ck_assert_str_eq(m->targets[0].image_path, "/base/a.bin");
    ck_assert_str_eq(m->targets[4].tags[0], "t0");
    ck_assert_str_eq(m->targets[4].sha256, SHA_LO);
    ck_assert_uint_eq(m->targets[4].address, 0x100);

    /* Later problems: at the value, or the entry when the key is absent. */
    fwup_manifest_diag_at(&d, m, 4, fwup_manifest_field_named("tags"), 2, "no device");
    fwup_manifest_diag_at(&d, m, 0, fwup_manifest_field_named("sha256"), 4, "other bytes");
    fwup_manifest_diag_at(&d, m, 0, fwup_manifest_field_named("format"), 3, "no format");
    fwup_manifest_diag_at(&d, m, 4, fwup_manifest_field_named("address"), 3, "outside");
    fwup_manifest_diag_at(&d, m, 4, fwup_manifest_field_named("nonsense"), 3, "entry");
    ck_assert_int_eq(d.v[d.n - 1].code, 3);
    fwup_manifest_diags_sort(&d);
    all_errors(&d, err, sizeof err);
    ck_assert_int_eq(strncmp(err, "m.yaml:2:7: ", 12), 0); /* the document's first */
    ck_assert_ptr_nonnull(strstr(err, "'name' must be a scalar, not a list\n"
                                      "m.yaml:6:13: other bytes\n"
                                      "m.yaml:4:5: no format\n"
                                      "m.yaml:8:13: 'device' must be"));
    ck_assert_ptr_nonnull(strstr(err, "(first at line 4)\n"
                                      "m.yaml:17:12: no device\n"
                                      "m.yaml:17:127: outside\n"
                                      "m.yaml:17:5: entry\n"));
    fwup_manifest_diags_free(&d);
    fwup_manifest_free(m);
}
END_TEST

/* The manifest parser shares the config's bounds (yamlutil.h): depth at
 * the limit is a schema matter, one more is refused where it starts. */
START_TEST(test_yaml_bounds)
{
    char text[256], err[2048];
    struct fwup_manifest *m = NULL;
    struct fwup_manifest_diags d;
    for (int extra = 0; extra <= 1; extra++) {
        /* the top level, then one level per '[' */
        int lists = YU_MAX_DEPTH - 1 + extra;
        int w = snprintf(text, sizeof text, "targets: ");
        memset(text + w, '[', (size_t)lists);
        memset(text + w + lists, ']', (size_t)lists);
        strcpy(text + w + 2 * lists, "\n");
        ck_assert_int_ne(fwup_manifest_parse("m.yaml", text, strlen(text), "/tmp", &m, &d), 0);
        all_errors(&d, err, sizeof err);
        if (extra)
            ck_assert_str_eq(err, "m.yaml:1:41: nested deeper than 32 levels\n");
        else
            ck_assert_msg(strstr(err, "nested") == NULL, "%s", err);
        fwup_manifest_diags_free(&d);
    }
    size_t n = YU_MAX_DOC + 1;
    char *big = malloc(n);
    memset(big, '#', n);
    big[n - 1] = '\n';
    ck_assert_int_ne(fwup_manifest_parse("m.yaml", big, n, "/tmp", &m, &d), 0);
    all_errors(&d, err, sizeof err);
    ck_assert_str_eq(err, "m.yaml:1:1: larger than 1048576 bytes (1048577)\n");
    fwup_manifest_diags_free(&d);
    free(big);
}
END_TEST

static Suite *manifest_suite(void)
{
    Suite *s = suite_create("manifest");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_full);
    tcase_add_test(tc, test_minimal);
    tcase_add_test(tc, test_resolution);
    tcase_add_test(tc, test_newer_schema);
    tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof err_cases / sizeof err_cases[0]));
    tcase_add_test(tc, test_one_pass);
    tcase_add_test(tc, test_yaml_bounds);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_add_test(tc, test_load);
    tcase_add_test(tc, test_load_missing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(manifest_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
