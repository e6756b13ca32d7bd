/*
 * The host side of the plugin ABI (protocol.h), once, for every host: the
 * daemon's job runner, the simulator harness and fwupsend.
 *
 * The core creates the engine, gives it the fwup_host_ops table, and owns
 * everything the ABI promises the engine: START before anything else, no
 * event delivered from inside another (what a host call causes is queued and
 * delivered after the current event returns), FWUP_MAX_TIMERS timers folded
 * onto one wake-up, units checked against the link and tracked by tag until
 * they complete or time out, LINK_GONE completions before LINK_DOWN, cancel
 * with a grace period, and nothing after finish. Engine misuse (a call after
 * finish, a second finish, progress going backwards or beyond total, a unit
 * the link cannot carry) is refused, logged and counted.
 *
 * It does no I/O and reads no clock itself: a backend supplies the time, a
 * wake-up at one deadline, the link (submit, control) and receives progress,
 * logs and the outcome; it reports what the link does through the
 * fwup_host_* calls below. The model is libuv's requests and completions and
 * nghttp2's session driven by its owner.
 */
#ifndef FWUPGW_HOST_H
#define FWUPGW_HOST_H

#include <stddef.h>
#include <stdint.h>

#include <fwupgw/protocol.h>

#include "defaults.h"

#define FWUP_HOST_NEVER UINT64_MAX
/* The engine's time to abort after FWUP_EV_CANCEL before the host ends the
 * job itself. */
#define FWUP_HOST_CANCEL_GRACE_MS FWUP_DEFAULT_CANCEL_GRACE_MS
/* A unit whose timeout_ms is 0 times out this long after it should have
 * left the link (after its line time on a serial link of known speed). */
#define FWUP_HOST_UNIT_TIMEOUT_MS 5000

struct fwup_host;

struct fwup_host_backend {
    /* Monotonic time in microseconds (virtual in simulations). */
    uint64_t (*now_us)(void *ctx);
    /* Call fwup_host_wake() at t_us or later, replacing any earlier request
     * (a one-shot timer: the call to fwup_host_wake() uses it up);
     * FWUP_HOST_NEVER: nothing is due. */
    void (*wake_at)(void *ctx, uint64_t t_us);
    /* Queue a unit on the link, as fwup_host_ops.submit, already checked
     * against the link. unit->tag is the host's id for fwup_host_complete(),
     * not the engine's. Copy what is needed before returning. */
    int (*submit)(void *ctx, const struct fwup_unit *unit);
    /* As fwup_host_ops.control; ctl->tag is the host's id as for submit.
     * May be NULL: no control op is supported. */
    int (*control)(void *ctx, const struct fwup_control *ctl);
    /* May be NULL. */
    void (*progress)(void *ctx, const char *phase, uint64_t done, uint64_t total);
    void (*log)(void *ctx, enum fwup_log_prio prio, const char *msg);
    /* The job is over: the engine finished, or the host ended it (cancel
     * grace, fwup_host_abort). Exactly once, possibly from inside any
     * fwup_host_* call; fwup_host_free() may be called from here. */
    void (*finish)(void *ctx, enum fwup_result result, const char *msg);
};

struct fwup_host_config {
    const struct fwup_protocol *proto;
    /* Copied, with struct_size set and link replaced by `link`; what it
     * points to (image, options) must outlive the host. */
    const struct fwup_job_params *params;
    /* The link as opened; valid until fwup_host_link_up() replaces it. */
    const struct fwup_link_info *link;
    uint32_t cancel_grace_ms; /* 0: FWUP_HOST_CANCEL_GRACE_MS */
    uint32_t unit_timeout_ms; /* 0: FWUP_HOST_UNIT_TIMEOUT_MS */
    const struct fwup_host_backend *backend;
    void *ctx;
};

/* Creates the engine (which may already arm timers or submit units) but
 * does not start it. NULL with a reason in err. */
struct fwup_host *fwup_host_new(const struct fwup_host_config *cfg, char *err, size_t errlen);
/* Destroys the engine. No backend call is made afterwards; safe from inside
 * a backend callback (the host goes once the outermost call returns). */
void fwup_host_free(struct fwup_host *h);

/*
 * What the backend reports. Each may be called at any time, also from
 * inside a backend callback: the event is then queued (its data copied) and
 * delivered after the current one. Nothing is delivered before START or
 * after the job is over; input received before START is dropped.
 */
void fwup_host_start(struct fwup_host *h);
/* Fires whatever is due by now_us(): unit timeouts, timers, cancel grace. */
void fwup_host_wake(struct fwup_host *h);
void fwup_host_rx(struct fwup_host *h, uint32_t unit_kind, const uint8_t *data, size_t len,
                  const struct fwup_can_frame *frame);
/* Unit or control `id` (the tag the backend was given) is done; ids not
 * pending (never notified, timed out, cancelled by a link-down) are ignored. */
void fwup_host_complete(struct fwup_host *h, uint32_t id, enum fwup_status status,
                        const uint8_t *data, size_t len);
/* Pending units complete with LINK_GONE, then FWUP_EV_LINK_DOWN; submit
 * returns -1 until fwup_host_link_up(). */
void fwup_host_link_down(struct fwup_host *h, const char *why);
void fwup_host_link_up(struct fwup_host *h, const struct fwup_link_info *info);
void fwup_host_bus_state(struct fwup_host *h, enum fwup_bus_state state);
/* FWUP_EV_CANCEL; the job ends CANCELLED after the grace period if the
 * engine has not finished by then (before START: at once). A failure after
 * a cancel (the engine's or fwup_host_abort's) is reported as CANCELLED. */
void fwup_host_cancel(struct fwup_host *h);
/* Ends the job from outside (a watchdog, a broken link) with this outcome. */
void fwup_host_abort(struct fwup_host *h, enum fwup_result result, const char *msg);

enum fwup_host_state {
    FWUP_HOST_CREATED,
    FWUP_HOST_RUNNING,
    FWUP_HOST_FINISHED, /* the engine called finish() */
    FWUP_HOST_ENDED,    /* the host ended it: cancel grace, fwup_host_abort */
};
enum fwup_host_state fwup_host_state(const struct fwup_host *h);
/* Engine misuse refused so far. */
unsigned fwup_host_protocol_errors(const struct fwup_host *h);
/* Units and controls awaiting completion. */
size_t fwup_host_pending(const struct fwup_host *h);

/* The unit kind a link of this kind carries; 0 for none. */
uint32_t fwup_host_unit_kind(uint32_t link_kind);

#endif
