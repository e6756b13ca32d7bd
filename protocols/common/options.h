/*
 * Protocol options read against a plugin's option schema (struct
 * fwup_option_desc), shared by the engines and the daemon's config validator
 * so that both accept exactly the same spellings.
 *
 * Engines use a reader over their job parameters:
 *
 *     struct fwup_opts r;
 *     if (fwup_opts_init(&r, "xmodem", descs, n, params, err, errlen) < 0 ||
 *         fwup_opt_int(&r, "pad", &v) < 0)
 *         return -1;
 *
 * The value of an option is the last one given in the job's parameters, else
 * the descriptor's default_value. Failures leave "<who>: bad option
 * NAME=VALUE" in the reader's err buffer.
 */
#ifndef FWUPGW_PROTOCOLS_COMMON_OPTIONS_H
#define FWUPGW_PROTOCOLS_COMMON_OPTIONS_H

#include <fwupgw/protocol.h>

#include <stddef.h>
#include <stdint.h>

struct fwup_opts {
    const char *who; /* error prefix, the protocol's name */
    const struct fwup_option_desc *descs;
    size_t ndescs;
    const struct fwup_job_params *params;
    char *err;
    size_t errlen;
};

/* Set up a reader. Fails (-1) if a given option has no name, no value or a
 * name the schema does not know. */
int fwup_opts_init(struct fwup_opts *r, const char *who, const struct fwup_option_desc *descs,
                   size_t ndescs, const struct fwup_job_params *params, char *err, size_t errlen);

/* The option's value as given, else its default; NULL if neither. */
const char *fwup_opt_value(const struct fwup_opts *r, const char *name);

/* Read an option: 0 with *out set, 1 if it has neither a value nor a default
 * (*out untouched), -1 if the value is invalid (or the name unknown). */
int fwup_opt_int(const struct fwup_opts *r, const char *name, int64_t *out);
int fwup_opt_bool(const struct fwup_opts *r, const char *name, int *out);

/* Index of the option's value among the descriptor's choices, or -1 (also
 * when it has neither a value nor a default). */
int fwup_opt_enum(const struct fwup_opts *r, const char *name);

/* Validate one value against its descriptor; -1 with a message in err. */
int fwup_opt_check(const struct fwup_option_desc *d, const char *value, char *err, size_t errlen);

#endif
