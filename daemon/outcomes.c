#include "outcomes.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* More slots than runs can be active or waiting for the store at once. */
#define NSLOTS     1024
#define SLOT_SIZE  32
#define FILE_SIZE  (NSLOTS * SLOT_SIZE)
#define SLOT_MAGIC 0x314f5746u /* "FWO1" */

struct slot {
    uint32_t magic;
    uint32_t kind;
    int64_t job_id;
    int32_t attempt;
    uint32_t pad;
    uint64_t check; /* a torn write reads as no record */
};
_Static_assert(sizeof(struct slot) == SLOT_SIZE, "slot layout");

struct fwup_outcomes {
    int fd;
    struct slot rec[NSLOTS]; /* as on disk; job_id 0: a free slot */
};

static uint64_t slot_check(const struct slot *s)
{
    const unsigned char *p = (const unsigned char *)s;
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < offsetof(struct slot, check); i++)
        h = (h ^ p[i]) * 0x100000001b3u;
    return h;
}

static int slot_valid(const struct slot *s)
{
    return s->magic == SLOT_MAGIC && s->job_id > 0 && s->check == slot_check(s) &&
           (s->kind == FWUP_OUTCOME_TRANSFERRED || s->kind == FWUP_OUTCOME_SUCCEEDED);
}

static int write_slot(struct fwup_outcomes *o, size_t i, const struct slot *s)
{
    if (pwrite(o->fd, s, sizeof(*s), (off_t)(i * SLOT_SIZE)) != (ssize_t)sizeof(*s)) {
        if (errno == 0)
            errno = EIO;
        return -1;
    }
    return fdatasync(o->fd);
}

/* Every byte of the file written, so that its blocks are allocated. */
static int write_all_zero(struct fwup_outcomes *o)
{
    static const unsigned char zero[FILE_SIZE];
    if (pwrite(o->fd, zero, sizeof(zero), 0) != (ssize_t)sizeof(zero)) {
        if (errno == 0)
            errno = ENOSPC;
        return -1;
    }
    return fsync(o->fd);
}

int fwup_outcomes_open(const char *state_dir, struct fwup_outcomes **out, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/outcomes", state_dir);
    struct fwup_outcomes *o = calloc(1, sizeof(*o));
    if (!o) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    o->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    struct stat st;
    if (o->fd < 0 || fstat(o->fd, &st) < 0)
        goto fail;
    ssize_t got = pread(o->fd, o->rec, sizeof(o->rec), 0);
    if (got < 0)
        goto fail;
    for (size_t i = 0; i < NSLOTS; i++)
        if ((size_t)got < (i + 1) * SLOT_SIZE || !slot_valid(&o->rec[i]))
            memset(&o->rec[i], 0, sizeof(o->rec[i]));
    /* A new or short file: allocate it whole now, while there is space,
     * keeping any records a short file held. */
    if (st.st_size < FILE_SIZE) {
        if (pwrite(o->fd, o->rec, sizeof(o->rec), 0) != (ssize_t)sizeof(o->rec) || fsync(o->fd) < 0)
            goto fail;
    }
    *out = o;
    return 0;
fail:
    snprintf(err, errlen, "%s: %s", path, strerror(errno ? errno : EIO));
    if (o->fd >= 0)
        close(o->fd);
    free(o);
    return -1;
}

void fwup_outcomes_close(struct fwup_outcomes *o)
{
    if (!o)
        return;
    close(o->fd);
    free(o);
}

static long find_slot(const struct fwup_outcomes *o, int64_t job_id)
{
    for (size_t i = 0; i < NSLOTS; i++)
        if (o->rec[i].job_id == job_id)
            return (long)i;
    return -1;
}

int fwup_outcomes_set(struct fwup_outcomes *o, int64_t job_id, int attempt,
                      enum fwup_outcome_kind kind)
{
    if (!o)
        return 0;
    long i = find_slot(o, job_id);
    if (i < 0 && (i = find_slot(o, 0)) < 0) {
        errno = ENOSPC;
        return -1;
    }
    struct slot s = {
        .magic = SLOT_MAGIC, .kind = (uint32_t)kind, .job_id = job_id, .attempt = attempt};
    s.check = slot_check(&s);
    if (write_slot(o, (size_t)i, &s) < 0)
        return -1;
    o->rec[i] = s;
    return 0;
}

int fwup_outcomes_clear(struct fwup_outcomes *o, int64_t job_id)
{
    long i = o ? find_slot(o, job_id) : -1;
    if (i < 0)
        return 0;
    static const struct slot none;
    if (write_slot(o, (size_t)i, &none) < 0)
        return -1;
    o->rec[i] = none;
    return 0;
}

int fwup_outcomes_recover(struct fwup_outcomes *o, struct fwup_store *st, int64_t now,
                          int *finished)
{
    int n = 0, any = 0;
    for (size_t i = 0; i < NSLOTS; i++) {
        const struct slot *s = &o->rec[i];
        if (!s->job_id)
            continue;
        any = 1;
        struct fwup_job job;
        int rc = fwup_store_get_job(st, s->job_id, &job);
        if (rc < 0)
            return -1;
        if (rc != 0 || job.state != FWUP_JOB_RUNNING || job.attempt != s->attempt)
            continue; /* the store has moved on: the record is stale */
        char msg[512];
        enum fwup_job_state to = FWUP_JOB_SUCCEEDED;
        if (s->kind == FWUP_OUTCOME_SUCCEEDED) {
            snprintf(msg, sizeof(msg), "%s", FWUP_OUTCOME_NOTE_SUCCEEDED);
        } else {
            snprintf(msg, sizeof(msg), FWUP_OUTCOME_NOTE_TRANSFERRED, s->attempt);
            to = FWUP_JOB_FAILED;
        }
        if (fwup_store_job_finish(st, s->job_id, to, msg, now) < 0)
            return -1;
        n++;
    }
    if (any && write_all_zero(o) == 0)
        memset(o->rec, 0, sizeof(o->rec));
    if (finished)
        *finished = n;
    return 0;
}
