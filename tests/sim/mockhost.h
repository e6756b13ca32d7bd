/*
 * A host for engine unit tests that drive the engine event by event (no
 * line, no clock, no host core): it records the bytes of the units
 * submitted, the last unit's tag and timeout, the last timer armed, flushes
 * and how the job finished, and counts host calls made after finish(). It
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
    unsigned units;        /* submitted */
    uint32_t tag;          /* of the last unit */
    uint32_t unit_flags;   /* of the last unit */
    uint32_t unit_timeout; /* of the last unit, ms */
    uint32_t wire_tag;     /* of the last unit that completes on the wire */
    uint32_t timer;        /* the last timer() */
    int flushes;
    int finished;
    enum fwup_result result;
    char msg[256];
    int calls_after_finish;
};

/* The ops to pass to create() with a zeroed struct mockhost as the host. */
extern const struct fwup_host_ops mockhost_ops;

/* Deliver one event to `e` of `proto` (struct_size filled in). */
void mockhost_event(const struct fwup_protocol *proto, struct fwup_engine *e, struct fwup_event ev);
/* Shorthands for the events the tests deliver most. */
void mockhost_start(const struct fwup_protocol *proto, struct fwup_engine *e);
void mockhost_rx(const struct fwup_protocol *proto, struct fwup_engine *e, const void *data,
                 size_t len);
void mockhost_timer(const struct fwup_protocol *proto, struct fwup_engine *e, unsigned id);
void mockhost_cancel(const struct fwup_protocol *proto, struct fwup_engine *e);
void mockhost_complete(const struct fwup_protocol *proto, struct fwup_engine *e, uint32_t tag,
                       enum fwup_status status);

#endif
