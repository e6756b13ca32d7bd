/*
 * Resource claims: what a running job holds so that no other job disturbs
 * it. The scheduler claims resources, not link names:
 *
 *   serial  the port (by path): one job at a time
 *   can     a bus (by interface) and the CAN ids the device answers on;
 *           jobs share a bus when their ids cannot match the same frame,
 *           an exclusive protocol holds the whole bus, and a bus may cap
 *           its concurrent jobs
 *   isotp   the same bus, with the device's rx id as its one id
 *   usb     the port path: held across re-enumeration, since VID:PID and
 *           the device address change when a DFU device detaches
 *
 * Pure bookkeeping, no I/O, so it is unit-tested on its own. Keys are
 * compared as given: the caller canonicalises paths (realpath for ttys).
 */
#ifndef FWUPGW_CLAIMS_H
#define FWUPGW_CLAIMS_H

#include <stddef.h>
#include <stdint.h>

#include <fwupgw/link.h>

struct fwup_claims;

enum fwup_claim_kind {
    FWUP_CLAIM_PORT = 1, /* one holder per key: serial path, USB port path */
    FWUP_CLAIM_BUS = 2,  /* shared by id sets: CAN and ISO-TP on one interface */
};

struct fwup_claim_req {
    enum fwup_claim_kind kind;
    const char *key; /* port path, or bus interface */
    /* BUS: the ids the job listens on; none means "the whole bus". */
    const struct fwup_can_filter *filters;
    size_t nfilters;
    int exclusive;    /* BUS: nothing else on the bus while this runs */
    unsigned bus_cap; /* BUS: most jobs at once on this bus; 0: no cap */
};

struct fwup_claims *fwup_claims_new(void);
void fwup_claims_free(struct fwup_claims *c);

/*
 * Claims the resources for `owner` (a job id, unique among holders).
 * Returns 0 when claimed, 1 when busy with the reason in why (e.g. "bus
 * can0 is held by job 12 (exclusive)"), -1 on a malformed request or no
 * memory (reason in why). An owner holds at most one claim.
 */
int fwup_claims_take(struct fwup_claims *c, const struct fwup_claim_req *req, uint64_t owner,
                     char *why, size_t whylen);

/* Whether no BUS claim on `key` can be taken now, whatever its ids: a
 * holder has the whole bus, or `bus_cap` (0: none) jobs run on it. 1 with
 * the reason in why, else 0. Lets a caller skip the work of finding a
 * job's ids while the bus is closed to it anyway. */
int fwup_claims_bus_closed(const struct fwup_claims *c, const char *key, unsigned bus_cap,
                           char *why, size_t whylen);

/* Releases what `owner` holds; nothing if it holds nothing. */
void fwup_claims_release(struct fwup_claims *c, uint64_t owner);

/* Jobs holding a claim on `key` (a port or a bus). */
unsigned fwup_claims_count(const struct fwup_claims *c, const char *key);

/* Whether two filter sets can match one frame id. An empty set matches
 * every id. */
int fwup_filters_overlap(const struct fwup_can_filter *a, size_t na,
                         const struct fwup_can_filter *b, size_t nb);

#endif
