/*
 * Small helpers over libyaml's document API for strict, schema-driven config
 * parsing: every error names the file and the 1-based line:col of the node
 * at fault, so a user can jump straight to it.
 */
#ifndef FWUPGW_YAMLUTIL_H
#define FWUPGW_YAMLUTIL_H

#include <stddef.h>
#include <yaml.h>

struct yu_doc {
    const char *name; /* file name used in messages */
    yaml_document_t doc;
    int loaded;
    char *err;
    size_t errlen;
};

/* Parse exactly one YAML document from text. An empty stream is a valid
 * document without a root. Returns 0, or -1 with the message in err. The
 * caller must yu_free() in both cases. */
int yu_parse(struct yu_doc *d, const char *name, const char *text, size_t len, char *err,
             size_t errlen);
void yu_free(struct yu_doc *d);

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

/* Non-null scalar value of `key`, or -1 with an error naming key. */
int yu_scalar(struct yu_doc *d, const yaml_node_t *n, const char *key, const char **out);
/* Same, duplicated into *out (freeing what was there). */
int yu_strdup(struct yu_doc *d, const yaml_node_t *n, const char *key, char **out);

/* Read a whole file; "PATH: strerror" on failure. Caller frees *buf, which
 * is NUL-terminated. */
int yu_read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen);

#endif
