/*
 * Job builder shared by the engine unit tests: an image of deterministic
 * random bytes (simtty_random_bytes), its segments, an option list and the
 * fwup_job_params that point at them, in one struct the test owns. Failures
 * are reported with Check's ck_assert, so only Check tests link this.
 */
#ifndef FWUPGW_TESTJOB_H
#define FWUPGW_TESTJOB_H

#include <stddef.h>
#include <stdint.h>

#include <fwupgw/protocol.h>

#include "simdev.h"

#define TESTJOB_MAX_SEGMENTS 4
#define TESTJOB_MAX_OPTIONS  8

struct testjob {
    /* Tests may rewrite seg[] and img to build sparse or odd images from
     * the bytes they already have; testjob_free only frees owned[]. */
    struct fwup_segment seg[TESTJOB_MAX_SEGMENTS];
    struct fwup_image img;
    struct fwup_option opt[TESTJOB_MAX_OPTIONS];
    struct fwup_job_params params;
    uint8_t *data; /* first segment's bytes */
    size_t len;    /* and their count */
    uint8_t *owned[TESTJOB_MAX_SEGMENTS];
    /* seg[img.nsegments], while there is room, overlaps the first segment
     * with these other bytes: an engine that reads one segment past the
     * count writes or compares them, and the flash checks see it. */
    uint8_t poison[64];
    /* the link of testjob_serial_link */
    struct fwup_serial_info serial;
    struct fwup_link_info link;
};

/* A job for `device_id` with one segment of `len` random bytes from `seed`
 * at `addr`, then options as "name", "value" pairs ending with NULL. */
void testjob_init(struct testjob *j, const char *device_id, uint32_t addr, size_t len,
                  uint32_t seed, ...)
#if defined(__GNUC__)
    __attribute__((sentinel)) /* a missing NULL would read past the pairs */
#endif
    ;

/* Appends a segment of `len` random bytes from `seed` at `addr`. */
void testjob_add_segment(struct testjob *j, uint32_t addr, size_t len, uint32_t seed);

/* Points params.link at a serial link of `baud` bits/s, 8 data bits,
 * `parity` ('N', 'E' or 'O') and 1 stop bit. */
void testjob_serial_link(struct testjob *j, uint32_t baud, char parity);

void testjob_free(struct testjob *j);

/* The device model called `name`; it must exist. */
const struct simdev_class *testjob_device(const char *name);

#endif
