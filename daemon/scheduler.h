/*
 * The scheduler: decides which queued job runs next (one job per link, many
 * links in parallel up to max_concurrent_jobs, retry back-off), commits each
 * state change to the store before acting on it, and turns run outcomes into
 * job states (retry, fail, succeed, cancel).
 */
#ifndef FWUPGW_SCHEDULER_H
#define FWUPGW_SCHEDULER_H

#include "core.h"

/* A job changed: type is "state" (state or phase) or "progress". */
typedef void (*fwup_sched_notify_fn)(void *ctx, const struct fwup_job *job, const char *type,
                                     double rate);

int fwup_sched_new(struct fwupd *d, fwup_sched_notify_fn notify, void *ctx,
                   struct fwup_sched **out);
void fwup_sched_free(struct fwup_sched *s);

/* Something was queued or a link freed up: look for work soon. */
void fwup_sched_kick(struct fwup_sched *s);
/* The store already has cancel_requested; abort the job's run if it has one. */
void fwup_sched_cancel(struct fwup_sched *s, int64_t job_id);
/* The same, and the job ends cancelled with reason as its error (NULL: the
 * run's own message) even if the run fails first. */
void fwup_sched_cancel_because(struct fwup_sched *s, int64_t job_id, const char *reason);
/* Id of the job running on a device, 0 if none. */
int64_t fwup_sched_device_job(const struct fwup_sched *s, const char *device);
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
