/*
 * The control socket's methods (docs/socket-api.md): requests from
 * server.c, answered from the store and the scheduler; job events pushed to
 * subscribers.
 */
#ifndef FWUPGW_API_H
#define FWUPGW_API_H

#include "core.h"
#include "server.h"

struct fwup_api;

struct fwup_api *fwup_api_new(struct fwupd *d);
void fwup_api_free(struct fwup_api *api);
extern const struct fwup_server_callbacks fwup_api_server_callbacks;

/* Scheduler notification hook (fwup_sched_notify_fn). */
void fwup_api_job_event(void *api, const struct fwup_job *job, const char *type, double rate);

#endif
