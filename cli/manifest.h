/*
 * Batch manifests for `fwupctl apply`: a YAML file naming images and the
 * devices (or tag selections) they go to. Parsing is strict and goes on past
 * a problem to report all of them at once, each as "FILE:LINE:COL: message".
 * The schema is versioned by the top-level `manifest:` key so later
 * additions (waves, signatures) can be refused clearly by an older fwupctl
 * instead of being ignored.
 */
#ifndef FWUPGW_MANIFEST_H
#define FWUPGW_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

/* Highest `manifest:` schema version this parser understands. */
#define FWUP_MANIFEST_SCHEMA 1

/* Where a target's values are, for messages about them. */
enum fwup_manifest_field {
    FWUP_MF_ENTRY,  /* the target as a whole */
    FWUP_MF_DEVICE, /* 'device' or 'tags' */
    FWUP_MF_IMAGE,
    FWUP_MF_SHA256,
    FWUP_MF_VERSION,
    FWUP_MF_FORMAT,
    FWUP_MF_ADDRESS,
    FWUP_MF_NFIELDS
};

struct fwup_manifest_pos {
    int line, col; /* 1-based; 0 when the key is absent */
};

struct fwup_manifest_target {
    char *device; /* exactly one of device / tags is set */
    char **tags;  /* every device carrying all of these */
    size_t ntags;
    char *image_path; /* resolved against the manifest's directory */
    char sha256[65];  /* 64 lowercase hex digits */
    char *version;    /* as written, even if YAML would read a number */
    char *format;     /* auto|bin|ihex|srec|elf|dfu|dfuse, NULL if not given */
    int has_address;
    uint32_t address;
    int line, col; /* 1-based position of the target entry */
    struct fwup_manifest_pos at[FWUP_MF_NFIELDS];
    int bad; /* a problem was found in it: not to be sent */
};

struct fwup_manifest {
    int schema;
    char *name; /* batch name, NULL if not given */
    struct fwup_manifest_target *targets;
    size_t ntargets;
};

/* Every problem found in a manifest, in one pass: by the parser, with the
 * image files, and by the daemon against its devices. */
struct fwup_manifest_diag {
    long target;   /* index in targets, -1 for the document itself */
    int line, col; /* 1-based; line 0: the file as a whole */
    int code;      /* 0, or the daemon's error code (fwupgw/sockapi.h) */
    char *msg;     /* without the position */
};

struct fwup_manifest_diags {
    char *file; /* the manifest's name in messages */
    struct fwup_manifest_diag *v;
    size_t n;
};

void fwup_manifest_diag_add(struct fwup_manifest_diags *d, long target, int line, int col, int code,
                            const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* A problem with one of target t's values: at that value, else the entry. */
void fwup_manifest_diag_at(struct fwup_manifest_diags *d, const struct fwup_manifest *m, size_t t,
                           enum fwup_manifest_field field, int code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Orders problems by target, then as found; document-level ones first. */
void fwup_manifest_diags_sort(struct fwup_manifest_diags *d);
/* "FILE:LINE:COL: message" (or "FILE: message") of problem i. */
void fwup_manifest_diag_format(const struct fwup_manifest_diags *d, size_t i, char *out,
                               size_t len);
void fwup_manifest_diags_free(struct fwup_manifest_diags *d);

/* The field a socket API target key ("device", "tags", "image", ...) is
 * about; FWUP_MF_ENTRY for anything else. */
enum fwup_manifest_field fwup_manifest_field_named(const char *key);

/* Read and parse a manifest file; relative image paths are resolved against
 * its directory. Every problem goes to diags (initialised here). Returns 0
 * if there is none, else -1; *out is then still the manifest, with the
 * targets that have problems marked bad, unless the file is no manifest
 * at all (unreadable, not YAML, no targets list, another schema): NULL. */
int fwup_manifest_load(const char *path, struct fwup_manifest **out,
                       struct fwup_manifest_diags *diags);
/* Same from memory; `name` stands in for the file name in messages and
 * `base_dir` (NULL or "." : leave relative) for its directory. */
int fwup_manifest_parse(const char *name, const char *text, size_t len, const char *base_dir,
                        struct fwup_manifest **out, struct fwup_manifest_diags *diags);
void fwup_manifest_free(struct fwup_manifest *m);

#endif
