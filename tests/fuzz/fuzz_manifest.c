/*
 * Manifest harness (cli/manifest.c over libyaml). Every problem is a
 * diagnostic; success means none. A manifest that comes back is consistent:
 * each good target has exactly one of device / tags, its image and a
 * 64-hex-digit sha256, and every diagnostic formats with the file's name.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "fuzz_util.h"

static void fail(const char *what)
{
    fuzz_fail("manifest", what);
}

static void check_target(const struct fwup_manifest_target *t)
{
    if (t->bad)
        return;
    if (!t->device == !t->ntags)
        fail("a good target without exactly one of device / tags");
    for (size_t i = 0; i < t->ntags; i++)
        if (!t->tags[i])
            fail("missing tag");
    if (!t->image_path || strlen(t->sha256) != 64 || strspn(t->sha256, "0123456789abcdef") != 64)
        fail("a good target without image or lowercase sha256");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    char *text = fuzz_text(data, len);
    if (!text)
        return 0;
    struct fwup_manifest *m = NULL;
    struct fwup_manifest_diags d;
    int rc = fwup_manifest_parse("m.yaml", text, len, "/srv/rollout", &m, &d);
    if ((rc == 0) != (d.n == 0) || (rc == 0 && !m))
        fail("result disagrees with the diagnostics");
    if (m)
        for (size_t i = 0; i < m->ntargets; i++)
            check_target(&m->targets[i]);
    fwup_manifest_diags_sort(&d);
    for (size_t i = 0; i < d.n; i++) {
        char line[512];
        fwup_manifest_diag_format(&d, i, line, sizeof(line));
        if (strncmp(line, "m.yaml", 6) != 0)
            fail("diagnostic without the file's name");
        if (m && d.v[i].target >= (long)m->ntargets)
            fail("diagnostic about a target that does not exist");
    }
    fwup_manifest_diags_free(&d);
    fwup_manifest_free(m);
    free(text);
    return 0;
}
