#include "options.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Decimal, 0x hex (or 0 octal, as strtoll reads it), nothing trailing. */
static int parse_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (errno || end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "1", "on"};
    static const char *const no[] = {"false", "no", "0", "off"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* Index of `word` in the '|' separated `choices`, or -1. */
static int word_index(const char *word, const char *choices)
{
    size_t wl = strlen(word);
    int i = 0;
    for (const char *c = choices; c && *c; i++) {
        const char *bar = strchr(c, '|');
        size_t cl = bar ? (size_t)(bar - c) : strlen(c);
        if (cl == wl && strncmp(c, word, wl) == 0)
            return i;
        c = bar ? bar + 1 : c + cl;
    }
    return -1;
}

int fwup_opt_check(const struct fwup_option_desc *d, const char *value, char *err, size_t errlen)
{
    int64_t v;
    int b;
    switch (d->type) {
    case FWUP_OPT_STRING:
        return 0;
    case FWUP_OPT_INT:
        if (parse_int(value, &v) < 0) {
            snprintf(err, errlen, "option '%s' must be an integer, not '%s'", d->name, value);
            return -1;
        }
        if (v < d->min || v > d->max) {
            snprintf(err, errlen, "option '%s' = %" PRId64 " is outside %" PRId64 "..%" PRId64,
                     d->name, v, d->min, d->max);
            return -1;
        }
        return 0;
    case FWUP_OPT_BOOL:
        if (parse_bool(value, &b) == 0)
            return 0;
        snprintf(err, errlen, "option '%s' must be true or false, not '%s'", d->name, value);
        return -1;
    case FWUP_OPT_ENUM:
        if (word_index(value, d->choices) >= 0)
            return 0;
        snprintf(err, errlen, "option '%s' must be one of %s, not '%s'", d->name, d->choices,
                 value);
        return -1;
    }
    return 0;
}

static const struct fwup_option_desc *find(const struct fwup_opts *r, const char *name)
{
    for (size_t i = 0; i < r->ndescs; i++)
        if (strcmp(r->descs[i].name, name) == 0)
            return &r->descs[i];
    return NULL;
}

static int bad(const struct fwup_opts *r, const char *name, const char *value)
{
    snprintf(r->err, r->errlen, "%s: bad option %s=%s", r->who, name ? name : "(null)",
             value ? value : "(null)");
    return -1;
}

int fwup_opts_init(struct fwup_opts *r, const char *who, const struct fwup_option_desc *descs,
                   size_t ndescs, const struct fwup_job_params *params, char *err, size_t errlen)
{
    *r = (struct fwup_opts){who, descs, ndescs, params, err, errlen};
    for (size_t i = 0; i < params->noptions; i++) {
        const struct fwup_option *o = &params->options[i];
        if (!o->name || !o->value || !find(r, o->name))
            return bad(r, o->name, o->value);
    }
    return 0;
}

const char *fwup_opt_value(const struct fwup_opts *r, const char *name)
{
    /* the last one given wins, as a later config line overrides an earlier one */
    for (size_t i = r->params->noptions; i-- > 0;)
        if (strcmp(r->params->options[i].name, name) == 0)
            return r->params->options[i].value;
    const struct fwup_option_desc *d = find(r, name);
    return d ? d->default_value : NULL;
}

int fwup_opt_int(const struct fwup_opts *r, const char *name, int64_t *out)
{
    const struct fwup_option_desc *d = find(r, name);
    const char *s = fwup_opt_value(r, name);
    int64_t v;
    if (!d)
        return bad(r, name, s);
    if (!s)
        return 1;
    if (parse_int(s, &v) < 0 || v < d->min || v > d->max)
        return bad(r, name, s);
    *out = v;
    return 0;
}

int fwup_opt_bool(const struct fwup_opts *r, const char *name, int *out)
{
    const char *s = fwup_opt_value(r, name);
    if (!find(r, name))
        return bad(r, name, s);
    if (!s)
        return 1;
    return parse_bool(s, out) < 0 ? bad(r, name, s) : 0;
}

int fwup_opt_enum(const struct fwup_opts *r, const char *name)
{
    const struct fwup_option_desc *d = find(r, name);
    const char *s = fwup_opt_value(r, name);
    int i = d && s ? word_index(s, d->choices) : -1;
    return i < 0 ? bad(r, name, s) : i;
}
