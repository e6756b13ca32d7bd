/*
 * A host for engine unit tests that drive the engine call by call (no line,
 * no clock): it records the bytes sent, the last timer armed, flushes and
 * how the job finished, and counts host calls made after finish(). It
 * asserts with Check, so only Check tests link it (fwup_testjob).
 */
#ifndef FWUPGW_MOCKHOST_H
#define FWUPGW_MOCKHOST_H

#include <stddef.h>
#include <stdint.h>

#include <fwupgw/protocol.h>

struct mockhost {
    uint8_t sent[8192];
    size_t nsent;
    uint32_t timer; /* the last timer() */
    int flushes;
    int finished;
    enum fwup_result result;
    char msg[256];
    int calls_after_finish;
};

/* The ops to pass to create() with a zeroed struct mockhost as the host. */
extern const struct fwup_host_ops mockhost_ops;

#endif
