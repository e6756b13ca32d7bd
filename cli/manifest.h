/*
 * Batch manifests for `fwupctl apply`: a YAML file naming images and the
 * devices (or tag selections) they go to. Parsing is strict and every error
 * reads "FILE:LINE:COL: message". The schema is versioned by the top-level
 * `manifest:` key so later additions (waves, signatures) can be refused
 * clearly by an older fwupctl instead of being ignored.
 */
#ifndef FWUPGW_MANIFEST_H
#define FWUPGW_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

/* Highest `manifest:` schema version this parser understands. */
#define FWUP_MANIFEST_SCHEMA 1

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
};

struct fwup_manifest {
    int schema;
    char *name; /* batch name, NULL if not given */
    struct fwup_manifest_target *targets;
    size_t ntargets;
};

/* Read and parse a manifest file; relative image paths are resolved against
 * its directory. Returns 0, or -1 with "FILE:LINE:COL: message" (or
 * "FILE: strerror") in err. */
int fwup_manifest_load(const char *path, struct fwup_manifest **out, char *err, size_t errlen);
/* Same from memory; `name` stands in for the file name in messages and
 * `base_dir` (NULL or "." : leave relative) for its directory. */
int fwup_manifest_parse(const char *name, const char *text, size_t len, const char *base_dir,
                        struct fwup_manifest **out, char *err, size_t errlen);
void fwup_manifest_free(struct fwup_manifest *m);

#endif
