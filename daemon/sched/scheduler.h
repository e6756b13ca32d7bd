/*
 * The scheduler: decides which queued job runs next (each run claims its
 * resource, claims.h: a serial port, CAN ids or a whole bus, a USB port;
 * runs whose resources do not clash go in parallel up to
 * max_concurrent_jobs; retry back-off), commits each state change to the
 * store before acting on it, and turns run outcomes into job states
 * (retry, fail, succeed, cancel).
 */
#ifndef FWUPGW_SCHEDULER_H
#define FWUPGW_SCHEDULER_H

#include "core.h"
#include "jobrun.h"

/* How the scheduler starts and stops runs: jobrun.c's fwup_run_* unless a
 * test sets its own, to finish runs on command. */
struct fwup_run_ops {
    int (*start)(const struct fwup_run_params *p, struct fwup_run **out, char *err, size_t errlen);
    void (*cancel)(struct fwup_run *r);
    void (*free)(struct fwup_run *r); /* NULL is a no-op */
};

/* A job changed: type is "state" (state or phase) or "progress". */
typedef void (*fwup_sched_notify_fn)(void *ctx, const struct fwup_job *job, const char *type,
                                     double rate);

int fwup_sched_new(struct fwupd *d, fwup_sched_notify_fn notify, void *ctx,
                   struct fwup_sched **out);
void fwup_sched_free(struct fwup_sched *s);
/* Set before the first kick; ops must outlive s. */
void fwup_sched_set_run_ops(struct fwup_sched *s, const struct fwup_run_ops *ops);

/* Something was queued or a link freed up: look for work soon. */
void fwup_sched_kick(struct fwup_sched *s);
/* The store already has cancel_requested; abort the job's run if it has one. */
void fwup_sched_cancel(struct fwup_sched *s, int64_t job_id);
/* The same, and the job ends cancelled with reason as its error (NULL: the
 * run's own message) even if the run fails first. */
void fwup_sched_cancel_because(struct fwup_sched *s, int64_t job_id, const char *reason);
/* Id of the job running on a device, 0 if none. */
int64_t fwup_sched_device_job(const struct fwup_sched *s, const char *device);
/* Why a queued job that could run waited at the last scan (its resource
 * is held, e.g. "bus can0: in use with overlapping CAN ids by job 12"), or
 * NULL. A scan that changes it notifies a "state" event for the job. */
const char *fwup_sched_waiting(const struct fwup_sched *s, int64_t job_id);
/* Replace stored progress with the live figures if the job is running here. */
void fwup_sched_overlay(const struct fwup_sched *s, struct fwup_job *job);
size_t fwup_sched_running(const struct fwup_sched *s);
/* After a store write: rc < 0 (the store's error says why) marks the
 * daemon degraded, a success clears that once no outcome is waiting. */
void fwup_sched_store_wrote(struct fwup_sched *s, int rc);
/* Why the daemon is degraded (the store refuses writes, outcomes wait for
 * it), NULL when it is not. */
const char *fwup_sched_degraded(const struct fwup_sched *s);
/* Interrupt every run (it stays queued); calls done once all are stopped. */
void fwup_sched_shutdown(struct fwup_sched *s, void (*done)(void *ctx), void *ctx);

#endif
