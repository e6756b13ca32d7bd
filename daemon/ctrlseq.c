#include "ctrlseq.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

const struct fwup_ctrl_line fwup_line_rts = {.name = "rts", .kind = FWUP_LINE_RTS};
const struct fwup_ctrl_line fwup_line_dtr = {.name = "dtr", .kind = FWUP_LINE_DTR};

static const struct fwup_ctrl_line *find_line(const char *name, size_t len,
                                              const struct fwup_ctrl_line *lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(lines[i].name) == len && strncmp(lines[i].name, name, len) == 0)
            return &lines[i];
    if (len == 3 && strncmp(name, "rts", 3) == 0)
        return &fwup_line_rts;
    if (len == 3 && strncmp(name, "dtr", 3) == 0)
        return &fwup_line_dtr;
    return NULL;
}

int fwup_ctrl_parse_step(const char *text, const struct fwup_ctrl_line *lines, size_t nlines,
                         struct fwup_step *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *eq = strchr(text, '=');
    if (eq) {
        size_t len = (size_t)(eq - text);
        while (len && text[len - 1] == ' ')
            len--;
        const char *v = eq + 1;
        while (*v == ' ')
            v++;
        out->kind = FWUP_STEP_SET;
        out->line = find_line(text, len, lines, nlines);
        if (!out->line) {
            snprintf(err, errlen,
                     "step '%s': no control line '%.*s' (rts, dtr or one of the "
                     "device's control_lines)",
                     text, (int)len, text);
            return -1;
        }
        if ((v[0] != '0' && v[0] != '1') || v[1]) {
            snprintf(err, errlen, "step '%s': a line is set to 0 or 1", text);
            return -1;
        }
        out->value = v[0] == '1';
        return 0;
    }
    const char *arg = NULL;
    if (strncmp(text, "delay ", 6) == 0) {
        out->kind = FWUP_STEP_DELAY;
        arg = text + 6;
    } else if (strncmp(text, "break ", 6) == 0) {
        out->kind = FWUP_STEP_BREAK;
        arg = text + 6;
    } else {
        snprintf(err, errlen,
                 "step '%s': expected LINE=0|1, 'delay DURATION' or "
                 "'break DURATION'",
                 text);
        return -1;
    }
    while (*arg == ' ')
        arg++;
    if (fwup_parse_duration_ms(arg, &out->ms) < 0 || out->ms > 60000) {
        snprintf(err, errlen, "step '%s': duration must be like 10ms or 1s (at most 60 s)", text);
        return -1;
    }
    return 0;
}

/* --- the runner ----------------------------------------------------------- */

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
