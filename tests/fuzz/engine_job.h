/*
 * What the engine harness (fuzz_engine.c) and its seed recorder
 * (record_engine.c) share: a few jobs per protocol (options, image address,
 * link facts) and the encoding of the events fed to the engine.
 *
 * Input: byte 0 picks the job variant (modulo their number); then events,
 * each an op byte (modulo FZ_NOPS); FZ_RX is followed by a length byte and
 * that many bytes from the device (fewer at the end of the input).
 */
#ifndef FWUPGW_FUZZ_ENGINE_JOB_H
#define FWUPGW_FUZZ_ENGINE_JOB_H

#include <stddef.h>
#include <stdint.h>

#include <fwupgw/protocol.h>

enum fz_op {
    FZ_RX = 0,     /* bytes from the device */
    FZ_TIMER,      /* the engine's armed timer due first fires (if any) */
    FZ_TX_DONE,    /* the oldest unit awaiting completion completes OK */
    FZ_CANCEL,     /* the user cancels the job (once) */
    FZ_LINK_GONE,  /* the adapter is unplugged: pending units complete LINK_GONE,
                    * then LINK_DOWN, and submit() fails from then on */
    FZ_TX_TIMEOUT, /* the oldest unit awaiting completion times out */
    FZ_NOPS
};

#define FZ_MAX_OPTIONS 8

struct fz_variant {
    const char *opts[2 * FZ_MAX_OPTIONS + 1]; /* name, value, ..., NULL */
    uint32_t address;                         /* of the image's one segment */
    int no_link;                              /* a host that gives no link facts */
    const char *dev_options;                  /* the recorder's simulated device */
};

struct fz_job {
    const struct fz_variant *v;
    struct fwup_segment seg;
    struct fwup_image img;
    struct fwup_option opt[FZ_MAX_OPTIONS];
    struct fwup_serial_info serial;
    struct fwup_link_info link;
    struct fwup_job_params params;
    uint8_t *data;
};

#define FZ_IMAGE_LEN 300 /* a few XMODEM blocks and STM32 writes, two pages */

size_t fz_nvariants(const struct fwup_protocol *p);
/* The job of variant i (modulo their number). Returns 0, or -1 if the
 * protocol has no variants or memory ran out. */
int fz_job_init(struct fz_job *j, const struct fwup_protocol *p, unsigned i);
void fz_job_free(struct fz_job *j);
/* The simulated device model the protocol's devices run ("xmodem", ...). */
const char *fz_device_model(const struct fwup_protocol *p);

#endif
