/*
 * The daemon's core for unit tests (test_sched.c, test_api.c): a virtual
 * clock the test moves, a real config, a real SQLite store file, real
 * plugins, the real scheduler, and fake runs behind its run ops that the
 * test finishes itself. Everything lives in a temporary directory.
 */
#ifndef FWUPGW_TEST_VCORE_H
#define FWUPGW_TEST_VCORE_H

#include <stddef.h>
#include <stdint.h>

#include "scheduler.h"

/* Where the virtual wall clock starts; the monotonic one starts at 0. */
#define VC_T0 1764000000000LL

/* A fake run: what the scheduler started it with, whether it was told to
 * cancel. */
struct fwup_run {
    struct fwup_run_params p;
    struct fwup_link_req req;
    int cancelled;
    struct fwup_run *next;
};

extern struct fwupd vc_d;
extern int64_t vc_wall; /* the virtual wall clock, ms since the epoch */
extern char vc_dir[];   /* the test's directory */
extern struct fwup_run *vc_runs;
extern int vc_fail_next_start; /* the next run start fails with "port vanished" */

/* Makes vc_dir and resets the clock and the runs. */
void vc_mkdir(void);
/* Writes vc_dir/name. */
void vc_write_file(const char *name, const void *data, size_t len);
/* Parses config_text, opens the store (vc_dir/state.db), the outcome
 * record, the plugins in plugin_dir, and the scheduler with the fake runs;
 * notify gets the scheduler's job events. */
void vc_start(const char *config_text, const char *plugin_dir, fwup_sched_notify_fn notify,
              void *ctx);
/* Shuts the scheduler down (the runs left must have been told to cancel:
 * they then end cancelled), closes everything and removes vc_dir. */
void vc_stop(void);

/* Lets the scheduler look for work, as a queued job or a freed port does. */
void vc_step(void);
struct fwup_run *vc_run_of(const char *device);
size_t vc_nruns(void);
/* The run on device ends with res. */
void vc_finish(const char *device, enum fwup_result res, const char *msg);
/* The job as stored. */
struct fwup_job vc_job(int64_t id);

#define ck_running(dev) ck_assert_msg(vc_run_of(dev) != NULL, "%s should run", dev)
#define ck_idle(dev)    ck_assert_msg(vc_run_of(dev) == NULL, "%s should not run", dev)

#endif
