/*
 * Runs control-line sequences on the daemon's loop (ctrlrun.h). Kept apart
 * from the parser (ctrlseq.c) so the config library needs no libuv.
 */
#include "ctrlrun.h"

#include <stdlib.h>

struct fwup_seq_run {
    uv_timer_t timer;
    const struct fwup_ctrl_seq *seq;
    const struct fwup_line_ops *ops;
    void *ops_ctx;
    void (*done)(void *ctx, const char *err);
    void *ctx;
    size_t next;
    int in_break, aborted;
    char err[256];
};

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

static void finish(struct fwup_seq_run *r, const char *err)
{
    r->aborted = 1; /* closing: a later fwup_seq_abort is a no-op */
    r->done(r->ctx, err);
    uv_close((uv_handle_t *)&r->timer, on_closed);
}

/* Execute steps until one has to wait; every wait goes through the timer,
 * including the first step, so done() never runs inside fwup_seq_start. */
static void step(uv_timer_t *t)
{
    struct fwup_seq_run *r = t->data;
    if (r->in_break) {
        r->in_break = 0;
        if (r->ops->brk(r->ops_ctx, 0, r->err, sizeof(r->err)) < 0) {
            finish(r, r->err);
            return;
        }
    }
    while (r->next < r->seq->n) {
        const struct fwup_step *s = &r->seq->steps[r->next++];
        switch (s->kind) {
        case FWUP_STEP_SET:
            if (r->ops->set(r->ops_ctx, s->line, s->value, r->err, sizeof(r->err)) < 0) {
                finish(r, r->err);
                return;
            }
            break;
        case FWUP_STEP_DELAY:
            uv_timer_start(&r->timer, step, s->ms, 0);
            return;
        case FWUP_STEP_BREAK:
            if (r->ops->brk(r->ops_ctx, 1, r->err, sizeof(r->err)) < 0) {
                finish(r, r->err);
                return;
            }
            r->in_break = 1;
            uv_timer_start(&r->timer, step, s->ms, 0);
            return;
        }
    }
    finish(r, NULL);
}

struct fwup_seq_run *fwup_seq_start(uv_loop_t *loop, const struct fwup_ctrl_seq *seq,
                                    const struct fwup_line_ops *ops, void *ops_ctx,
                                    void (*done)(void *ctx, const char *err), void *ctx)
{
    struct fwup_seq_run *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->seq = seq;
    r->ops = ops;
    r->ops_ctx = ops_ctx;
    r->done = done;
    r->ctx = ctx;
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, step, 0, 0);
    return r;
}

void fwup_seq_abort(struct fwup_seq_run *r)
{
    if (!r || r->aborted)
        return;
    r->aborted = 1;
    uv_timer_stop(&r->timer);
    if (r->in_break)
        r->ops->brk(r->ops_ctx, 0, r->err, sizeof(r->err));
    uv_close((uv_handle_t *)&r->timer, on_closed);
}
