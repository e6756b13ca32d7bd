/*
 * Small helpers over libyaml's document API for strict, schema-driven config
 * parsing: every error names the file and the 1-based line:col of the node
 * at fault, so a user can jump straight to it.
 */
#ifndef FWUPGW_YAMLUTIL_H
#define FWUPGW_YAMLUTIL_H

#include <stddef.h>
#include <yaml.h>

#include "defaults.h"

/* Optional sink for every error (yu_parse_each), for a caller that goes on
 * after one and reports all problems in one pass. msg has no position. */
typedef void yu_report_fn(void *ctx, int line, int col, const char *msg);

/* Bounds on what yu_parse accepts, each refused with NAME:LINE:COL: a
 * config or manifest is written by hand, so these leave ample room while
 * keeping a parse (on the daemon's loop, for a reload) to milliseconds. */
#define YU_MAX_DOC   (1u << 20) /* bytes */
#define YU_MAX_DEPTH 32         /* nested mappings and lists */

struct yu_doc {
    const char *name; /* file name used in messages */
    yaml_document_t doc;
    int loaded;
    char *err;
    size_t errlen;
    yu_report_fn *report;
    void *report_ctx;
};

/* Parse exactly one YAML document from text. An empty stream is a valid
 * document without a root. Returns 0, or -1 with the message in err. The
 * caller must yu_free() in both cases. */
int yu_parse(struct yu_doc *d, const char *name, const char *text, size_t len, char *err,
             size_t errlen);
void yu_free(struct yu_doc *d);
/* yu_parse that hands every error, now and later (yu_fail...), to report
 * instead of an error buffer. */
int yu_parse_each(struct yu_doc *d, const char *name, const char *text, size_t len,
                  yu_report_fn *report, void *ctx);

/* Root node, or NULL for an empty document (also a lone null scalar). */
yaml_node_t *yu_root(struct yu_doc *d);
yaml_node_t *yu_node(struct yu_doc *d, int index);

/* Format "NAME:LINE:COL: message" for node n (NULL: 1:1). Returns -1. */
int yu_fail(struct yu_doc *d, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Plain "", "~", "null": an omitted value. */
int yu_is_null(const yaml_node_t *n);
const char *yu_kind(const yaml_node_t *n);

/* Check that n is a mapping whose keys are scalars, unique and all listed in
 * the NULL-terminated `allowed`. `what` names the mapping in messages. */
int yu_check_map(struct yu_doc *d, const yaml_node_t *n, const char *what,
                 const char *const *allowed);
/* Value for key in a mapping checked by yu_check_map, or NULL. */
yaml_node_t *yu_get(struct yu_doc *d, const yaml_node_t *map, const char *key);
/* Same, also giving the key's own node in *knode (for messages that point
 * at a key rather than its value). */
yaml_node_t *yu_get_key(struct yu_doc *d, const yaml_node_t *map, const char *key,
                        yaml_node_t **knode);

/* 1-based position of n, as used in messages. */
int yu_line(const yaml_node_t *n);
int yu_col(const yaml_node_t *n);

/* Non-null scalar value of `key`, or -1 with an error naming key. */
int yu_scalar(struct yu_doc *d, const yaml_node_t *n, const char *key, const char **out);
/* Same, duplicated into *out (freeing what was there). */
int yu_strdup(struct yu_doc *d, const yaml_node_t *n, const char *key, char **out);
/* yu_scalar that also refuses a quoted empty string (""). */
int yu_text(struct yu_doc *d, const yaml_node_t *n, const char *key, const char **out);

/* Identifiers (device ids, tags) are 1 to YU_MAX_ID characters of
 * A-Z a-z 0-9 . _ - so they are safe in file names, URLs and shell words. */
#define YU_MAX_ID FWUP_ID_MAX
int yu_valid_id(const char *s);
/* yu_strdup of an identifier, or -1 with an error naming key. */
int yu_id(struct yu_doc *d, const yaml_node_t *n, const char *key, char **out);

/* Read a whole file; "PATH: strerror" on failure. Caller frees *buf, which
 * is NUL-terminated. */
int yu_read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen);

#endif
