/*
 * Daemon config harness (daemon/config/config.c over libyaml). A config loads whole
 * and valid or not at all, with "NAME:LINE:COL: message"; what loads must
 * hold together: every device's link exists, ids are unique, every step of
 * a control sequence names one of the device's own lines or rts/dtr.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz_util.h"

static void fail(const char *what)
{
    fuzz_fail("config", what);
}

static void check_seq(const struct fwup_cfg_device *d, const struct fwup_ctrl_seq *s)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct fwup_step *st = &s->steps[i];
        if (st->kind != FWUP_STEP_SET)
            continue;
        if (!st->line || st->value < 0 || st->value > 1)
            fail("a SET step without its line or with a value other than 0/1");
        int own = 0;
        for (size_t k = 0; k < d->nlines; k++)
            own |= st->line == &d->lines[k];
        /* rts and dtr need no definition: they are the built-in lines */
        if (!own && st->line != &fwup_line_rts && st->line != &fwup_line_dtr)
            fail("a step on a GPIO line the device does not define");
    }
}

static void check(const struct fwup_config *cfg)
{
    if (!cfg->socket_path || !cfg->state_dir)
        fail("defaults missing");
    for (size_t i = 0; i < cfg->nlinks; i++) {
        const struct fwup_cfg_link *l = &cfg->links[i];
        if (!l->name || fwup_config_find_link(cfg, l->name) != l)
            fail("link name missing or not unique");
        /* What each kind opens: a device node, a network interface. */
        if (l->type == FWUP_LINK_SERIAL && !l->path)
            fail("serial link without a path");
        if (l->type == FWUP_LINK_CAN && !l->can.interface)
            fail("can link without an interface");
        if (l->type != FWUP_LINK_SERIAL && l->type != FWUP_LINK_CAN && l->type != FWUP_LINK_USB)
            fail("link of no known kind");
    }
    for (size_t i = 0; i < cfg->ndevices; i++) {
        const struct fwup_cfg_device *d = &cfg->devices[i];
        if (!d->id || !d->protocol || fwup_config_find_device(cfg, d->id) != d)
            fail("device id missing or not unique");
        if (!d->link || !fwup_config_find_link(cfg, d->link))
            fail("device on a link the config does not define");
        for (size_t t = 0; t < d->ntags; t++)
            if (!fwup_cfg_device_has_tag(d, d->tags[t]))
                fail("tag lookup");
        for (size_t o = 0; o < d->noptions; o++)
            if (!d->options[o].name || !d->options[o].value)
                fail("option without name or value");
        check_seq(d, &d->entry);
        check_seq(d, &d->exit);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    /* NUL-terminated like a file read by fwup_config_load */
    char *text = fuzz_text(data, len);
    if (!text)
        return 0;
    struct fwup_config *cfg = NULL;
    char err[512] = "";
    if (fwup_config_parse("f.yaml", text, len, &cfg, err, sizeof(err)) == 0) {
        if (!cfg)
            fail("success without a config");
        check(cfg);
        fwup_config_free(cfg);
    } else if (cfg || strncmp(err, "f.yaml:", 7) != 0) {
        fail("refusal without the file's name, or with a config");
    }
    free(text);
    return 0;
}
