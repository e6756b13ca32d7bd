/*
 * What must survive a full disk: STATE_DIR/outcomes, a small file written
 * whole at start-up, keeps one record per run that the store may be unable
 * to take, namely that the run's transfer completed or that the run
 * succeeded. Later writes overwrite its blocks in place, which needs no free
 * space, so a daemon killed while the disk is full still knows after a
 * restart not to flash such a device again. The store stays the source of
 * truth: a record counts only for a job the store shows running in the same
 * attempt, and is cleared once the store holds the outcome.
 */
#ifndef FWUPGW_OUTCOMES_H
#define FWUPGW_OUTCOMES_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct fwup_outcomes;

enum fwup_outcome_kind {
    FWUP_OUTCOME_TRANSFERRED = 1, /* the device acknowledged the last byte */
    FWUP_OUTCOME_SUCCEEDED = 2,   /* the engine reported success */
};

/* Creates or opens STATE_DIR/outcomes; -1 with a message. */
int fwup_outcomes_open(const char *state_dir, struct fwup_outcomes **out, char *err, size_t errlen);
void fwup_outcomes_close(struct fwup_outcomes *o);

/* Record (durably, before returning 0) kind for attempt of job_id,
 * replacing the job's earlier record. -1 with errno set. */
int fwup_outcomes_set(struct fwup_outcomes *o, int64_t job_id, int attempt,
                      enum fwup_outcome_kind kind);
/* Forget job_id's record (the store has the outcome now). */
int fwup_outcomes_clear(struct fwup_outcomes *o, int64_t job_id);

/* Start-up, before fwup_store_recover: every record whose job the store
 * still shows running in that attempt is finished there, so the recovery
 * does not run it again: succeeded (with a note saying so), or failed for
 * good when only the transfer is known to have completed. Then all records
 * are cleared. *finished counts those jobs. -1 on a store error (records
 * kept for the next start). */
int fwup_outcomes_recover(struct fwup_outcomes *o, struct fwup_store *st, int64_t now,
                          int *finished);

/* The messages the recovery records. */
#define FWUP_OUTCOME_NOTE_SUCCEEDED                                                                \
    "completed before a daemon restart; outcome recorded after the restart"
#define FWUP_OUTCOME_NOTE_TRANSFERRED                                                              \
    "needs attention: the device received the whole image in attempt %d, but the daemon "          \
    "stopped before its outcome was known; not flashed again (check the device, and queue the "    \
    "image again to flash it anew)"

#endif
