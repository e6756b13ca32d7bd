/*
 * Protocol plugins: every *.so in the plugin directory that exports
 * FWUP_PROTOCOL_SYMBOL with our ABI version. Built-in protocols ship as such
 * plugins too, so there is one loading path.
 */
#ifndef FWUPGW_PLUGINS_H
#define FWUPGW_PLUGINS_H

#include <stddef.h>

#include "fwupgw/protocol.h"

struct fwup_plugins;

/* Loads every plugin in `dir`. A plugin outside ABI FWUP_PROTOCOL_ABI_MIN
 * .. FWUP_PROTOCOL_ABI_VERSION (one of ABI 1 or 2, found by its old symbol,
 * is told to rebuild), with a descriptor shorter than this ABI's, a missing
 * symbol or a duplicate name is refused with an error log and skipped; an
 * unreadable directory is an error. */
int fwup_plugins_load(const char *dir, struct fwup_plugins **out, char *err, size_t errlen);
void fwup_plugins_free(struct fwup_plugins *p);

const struct fwup_protocol *fwup_plugins_find(const struct fwup_plugins *p, const char *name);
size_t fwup_plugins_count(const struct fwup_plugins *p);
const struct fwup_protocol *fwup_plugins_at(const struct fwup_plugins *p, size_t i);

/*
 * Check one option value against a protocol's schema. Returns 0, or -1 with a
 * reason (unknown option and the list of known ones, bad type, out of range).
 */
int fwup_protocol_check_option(const struct fwup_protocol *proto, const char *name,
                               const char *value, char *err, size_t errlen);

#endif
