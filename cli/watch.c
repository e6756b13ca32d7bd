/*
 * Live job progress: `fwupctl watch`, and the tail of `queue --wait` and
 * `apply --wait`.
 *
 * Order matters to avoid a race: subscribe first, then fetch the current
 * state (jobs.get / batches.get / jobs.list), then follow events. Events
 * that arrive while the snapshot is fetched are queued by the client and
 * replayed afterwards; any older than what we already know (by the job's
 * "updated" time) are dropped, so a finished job never goes back to
 * "running" on screen.
 *
 * Output modes:
 *  - live (a terminal, see fwup_term_mode): one line per job redrawn in
 *    place (cursor up, clear line) at most every 100 ms; finished jobs keep
 *    their final line.
 *  - plain (not a terminal, TERM=dumb, NO_COLOR): a line per state change,
 *    at most one progress line per job per second; no escape sequences.
 *  - --json: one event per line, always {"type": "state" | "progress",
 *    "job": Job, "rate": bytes/s}, with the same throttling of progress;
 *    the fetched state comes first as type "state" with rate 0.
 * SIGINT/SIGTERM restore the cursor, then the process dies of the signal;
 * for --wait (o->detach_hint), SIGINT first says how to find the jobs again.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "clock.h"
#include "fwupctl.h"
#include "output.h"

#define REDRAW_MS         100
#define PROGRESS_EVERY_MS 1000

struct tracked {
    struct fwup_job_view v;
    struct fwup_rate est;
    double rate;              /* shown bytes/s, 0 = unknown */
    int64_t last_progress_ms; /* monotonic time of the last progress line */
    char last_key[640];       /* what the last state line said */
};

struct watch {
    const struct fwupctl_ctx *ctx;
    const struct fwupctl_watch_opts *o;
    struct fwup_client *c;
    struct tracked *jobs;
    size_t n, cap;
    bool follow_all;
    bool tty;
    bool dirty;
    unsigned drawn; /* lines on screen from the previous draw */
    int64_t last_draw;
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static struct tracked *find(struct watch *w, int64_t id)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->jobs[i].v.id == id)
            return &w->jobs[i];
    return NULL;
}

/* Keeps jobs sorted by id so the screen order is stable. */
static struct tracked *add(struct watch *w, int64_t id)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        struct tracked *j = realloc(w->jobs, cap * sizeof(*j));
        if (!j)
            abort();
        w->jobs = j;
        w->cap = cap;
    }
    size_t pos = w->n;
    while (pos > 0 && w->jobs[pos - 1].v.id > id)
        pos--;
    memmove(&w->jobs[pos + 1], &w->jobs[pos], (w->n - pos) * sizeof(*w->jobs));
    w->n++;
    struct tracked *t = &w->jobs[pos];
    memset(t, 0, sizeof(*t));
    t->v.id = id;
    t->last_progress_ms = -PROGRESS_EVERY_MS;
    return t;
}

static bool wanted(const struct watch *w, const struct fwup_job_view *v)
{
    if (w->follow_all)
        return true;
    return w->o->batch > 0 && v->batch == w->o->batch;
}

static void state_key(char *buf, size_t len, const struct fwup_job_view *v)
{
    snprintf(buf, len, "%s|%s|%d|%d|%s|%s", v->state, v->phase, v->attempt, v->cancel_requested,
             v->error, v->waiting);
}

/* Feeds one Job object (from the snapshot or an event) into the view. */
static void update(struct watch *w, const json_t *job, const json_t *event, bool snapshot)
{
    struct fwup_job_view v;
    if (fwup_job_view_from_json(&v, job) < 0)
        return;
    struct tracked *t = find(w, v.id);
    if (!t) {
        if (!snapshot && !wanted(w, &v))
            return;
        t = add(w, v.id);
    } else if (v.updated < t->v.updated) {
        return; /* older than what we know: queued before the snapshot */
    }
    const char *type = event ? json_string_value(json_object_get(event, "type")) : "state";
    bool progress = type && !strcmp(type, "progress");

    /* Prefer the daemon's rate; otherwise estimate from the job's own
     * timestamps, which do not depend on when we happen to read. */
    double ev_rate = event ? json_number_value(json_object_get(event, "rate")) : 0;
    double est =
        fwup_rate_update(&t->est, v.updated > 0 ? v.updated : fwup_clock_mono_ms(), v.done);
    t->v = v;
    if (strcmp(v.state, "running"))
        t->rate = 0;
    else if (ev_rate > 0)
        t->rate = ev_rate;
    else if (est > 0)
        t->rate = est;

    char key[sizeof(t->last_key)];
    state_key(key, sizeof(key), &v);
    bool changed = strcmp(key, t->last_key) != 0;
    if (changed)
        memcpy(t->last_key, key, sizeof(key));

    if (w->tty) {
        w->dirty = true;
        return;
    }
    int64_t now = fwup_clock_mono_ms();
    bool print_progress = !changed && progress && !strcmp(v.state, "running") &&
                          now - t->last_progress_ms >= PROGRESS_EVERY_MS;
    if (!changed && !print_progress)
        return;
    if (print_progress || (changed && progress))
        t->last_progress_ms = now;
    if (w->ctx->json) {
        /* One shape for every line, whether fetched or pushed. */
        json_t *e = json_pack("{s:s, s:O, s:f}", "type", progress ? "progress" : "state", "job",
                              job, "rate", ev_rate > 0 ? ev_rate : 0.0);
        fwup_json_print(stdout, e);
        json_decref(e);
    } else {
        char line[1024];
        if (changed)
            fwup_fmt_state_line(line, sizeof(line), &v);
        else
            fwup_fmt_progress_line(line, sizeof(line), &v, t->rate);
        printf("%s\n", line);
    }
    fflush(stdout);
}

static void term_size(unsigned *cols, unsigned *rows)
{
    struct winsize ws;
    *cols = 80;
    *rows = 24;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) {
        if (ws.ws_col > 0)
            *cols = ws.ws_col;
        if (ws.ws_row > 0)
            *rows = ws.ws_row;
    }
}

/* Redraws the block of job lines in place. Lines are cut to the terminal
 * width and the block to its height so the cursor-up count stays exact. */
static void draw(struct watch *w)
{
    unsigned cols, rows;
    term_size(&cols, &rows);
    size_t max_lines = rows > 2 ? rows - 1 : 1;
    size_t show = w->n, more = 0;
    if (show > max_lines) {
        show = max_lines - 1;
        more = w->n - show;
    }
    size_t cap = (show + 2) * (cols * 4 + 16) + 32, o = 0;
    char *out = malloc(cap);
    if (!out)
        abort();
    if (w->drawn > 0)
        o += (size_t)snprintf(out + o, cap - o, "\r\033[%uA", w->drawn);
    for (size_t i = 0; i < show; i++) {
        char line[1024];
        fwup_fmt_live_line(line, sizeof(line), &w->jobs[i].v, w->jobs[i].rate, cols - 1);
        o += (size_t)snprintf(out + o, cap - o, "\033[2K%s\n", line);
    }
    if (more)
        o += (size_t)snprintf(out + o, cap - o, "\033[2K(%zu more jobs)\n", more);
    o += (size_t)snprintf(out + o, cap - o, "\033[J");
    fwrite(out, 1, o, stdout);
    fflush(stdout);
    free(out);
    w->drawn = (unsigned)(show + (more ? 1 : 0));
    w->dirty = false;
    w->last_draw = fwup_clock_mono_ms();
}

static bool all_done(const struct watch *w)
{
    for (size_t i = 0; i < w->n; i++)
        if (!fwup_job_state_final(w->jobs[i].v.state))
            return false;
    return true;
}

/* 0 if every followed job succeeded, else 4 (reported on stderr). */
static int outcome(const struct watch *w)
{
    size_t bad = 0;
    const struct tracked *first = NULL;
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->jobs[i].v.state, "succeeded")) {
            if (!first)
                first = &w->jobs[i];
            bad++;
        }
    if (!bad)
        return FWUPCTL_EXIT_OK;
    char line[1024];
    if (bad == 1)
        fwupctl_errc(FWUPCTL_E_JOB_FAILED, "%s",
                     fwup_fmt_state_line(line, sizeof(line), &first->v));
    else
        fwupctl_errc(FWUPCTL_E_JOB_FAILED, "%zu of %zu jobs did not succeed (first: %s)", bad, w->n,
                     fwup_fmt_state_line(line, sizeof(line), &first->v));
    return FWUPCTL_EXIT_JOB_FAILED;
}

/* A call during set-up; EINTR means a signal asked us to stop. */
static int call(struct watch *w, const char *method, json_t *params, json_t **res)
{
    int rc = fwup_client_call(w->c, method, params, NULL, 0, res);
    if (rc == FWUP_CLIENT_EINTR)
        return -1;
    return rc == FWUP_CLIENT_OK ? FWUPCTL_EXIT_OK : fwupctl_client_fail(w->c, rc);
}

static int snapshot(struct watch *w)
{
    const struct fwupctl_watch_opts *o = w->o;
    json_t *res;
    int rc;
    for (size_t i = 0; i < o->njobs; i++) {
        rc = call(w, "jobs.get", json_pack("{s:I}", "job", (json_int_t)o->jobs[i]), &res);
        if (rc)
            return rc;
        update(w, json_object_get(res, "job"), NULL, true);
        json_decref(res);
    }
    if (o->batch > 0) {
        rc = call(w, "batches.get", json_pack("{s:I}", "batch", (json_int_t)o->batch), &res);
        if (rc)
            return rc;
        size_t i;
        json_t *j;
        json_array_foreach(json_object_get(json_object_get(res, "batch"), "jobs"), i, j)
            update(w, j, NULL, true);
        json_decref(res);
    }
    if (w->follow_all) {
        rc = call(w, "jobs.list", json_pack("{s:i}", "limit", 100), &res);
        if (rc)
            return rc;
        /* Newest first: walk backwards so lines appear oldest first. */
        json_t *jobs = json_object_get(res, "jobs");
        for (size_t i = json_array_size(jobs); i-- > 0;) {
            json_t *j = json_array_get(jobs, i);
            const char *st = json_string_value(json_object_get(j, "state"));
            if (st && !fwup_job_state_final(st))
                update(w, j, NULL, true);
        }
        json_decref(res);
    }
    return FWUPCTL_EXIT_OK;
}

static int run(struct watch *w)
{
    int rc;
    if (!w->o->subscribed) {
        json_t *res;
        rc = call(w, "events.subscribe", NULL, &res);
        if (rc)
            return rc;
        json_decref(res);
    }
    rc = snapshot(w);
    if (rc)
        return rc;
    if (w->tty)
        draw(w);
    for (;;) {
        if (w->o->exit_when_done && all_done(w))
            break;
        int timeout = -1;
        if (w->tty && w->dirty) {
            int64_t left = w->last_draw + REDRAW_MS - fwup_clock_mono_ms();
            timeout = left > 0 ? (int)left : 0;
        }
        json_t *ev;
        rc = fwup_client_next_event(w->c, timeout, &ev);
        if (rc == FWUP_CLIENT_TIMEOUT) {
            if (w->tty && w->dirty)
                draw(w);
            continue;
        }
        if (rc == FWUP_CLIENT_EINTR)
            return -1;
        if (rc != FWUP_CLIENT_OK) {
            if (w->tty)
                draw(w);
            return fwupctl_client_fail(w->c, rc);
        }
        update(w, json_object_get(ev, "job"), ev, false);
        json_decref(ev);
        if (w->tty && w->dirty && fwup_clock_mono_ms() - w->last_draw >= REDRAW_MS)
            draw(w);
    }
    if (w->tty)
        draw(w);
    return outcome(w);
}

/* Ctrl-C ends the waiting, not the jobs: say which keep running and how to
 * follow or cancel them. */
static void detach_notice(const struct watch *w)
{
    char ids[512] = "";
    size_t o = 0, n = 0;
    int64_t first = 0;
    for (size_t i = 0; i < w->n && o < sizeof(ids); i++) {
        if (fwup_job_state_final(w->jobs[i].v.state))
            continue;
        if (!n++)
            first = w->jobs[i].v.id;
        o += (size_t)snprintf(ids + o, sizeof(ids) - o, " %" PRId64, w->jobs[i].v.id);
    }
    /* Interrupted before the first snapshot: the jobs we were asked for. */
    for (size_t i = 0; w->n == 0 && i < w->o->njobs && o < sizeof(ids); i++) {
        if (!n++)
            first = w->o->jobs[i];
        o += (size_t)snprintf(ids + o, sizeof(ids) - o, " %" PRId64, w->o->jobs[i]);
    }
    char follow[sizeof(ids) + 32];
    if (w->o->batch > 0)
        snprintf(follow, sizeof(follow), "fwupctl watch --batch %" PRId64, w->o->batch);
    else
        snprintf(follow, sizeof(follow), "fwupctl watch%s", ids);
    if (n == 0)
        fwupctl_errc(FWUPCTL_E_INTERRUPTED, "stopped waiting; no job was left running");
    else if (n == 1)
        fwupctl_errc(FWUPCTL_E_INTERRUPTED,
                     "stopped waiting; job %" PRId64 " keeps running: '%s' follows it, "
                     "'fwupctl cancel %" PRId64 "' cancels it",
                     first, follow, first);
    else
        fwupctl_errc(FWUPCTL_E_INTERRUPTED,
                     "stopped waiting; jobs%s keep running: '%s' follows them, "
                     "'fwupctl cancel JOB' cancels one",
                     ids, follow);
}

int fwupctl_watch(const struct fwupctl_ctx *ctx, struct fwup_client *c,
                  const struct fwupctl_watch_opts *o)
{
    struct watch w = {
        .ctx = ctx,
        .o = o,
        .c = c,
        .follow_all = o->njobs == 0 && o->batch <= 0,
        .tty = !ctx->json && fwup_term_mode(isatty(STDOUT_FILENO), getenv("TERM"),
                                            getenv("NO_COLOR")) == FWUP_TERM_LIVE,
    };

    /* SIGINT/SIGTERM stay blocked except inside ppoll(), so the flag is
     * always seen before we block again. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigprocmask(SIG_BLOCK, &block, &old);
    sigset_t wait_mask = old;
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGTERM);
    c->wait_mask = &wait_mask;
    c->stop = &stop_signal;
    c->timeout_ms = ctx->timeout_ms;

    if (w.tty) {
        fputs("\033[?25l", stdout); /* hide the cursor while redrawing */
        fflush(stdout);
    }
    int rc = run(&w);
    if (w.tty) {
        fputs("\033[?25h", stdout);
        fflush(stdout);
    }
    if (rc < 0 && stop_signal == SIGINT && o->detach_hint)
        detach_notice(&w);
    free(w.jobs);
    c->wait_mask = NULL;
    c->stop = NULL;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (rc < 0 && stop_signal) {
        /* Die of the signal so the shell sees what happened. */
        int sig = stop_signal;
        signal(sig, SIG_DFL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        raise(sig);
        sigdelset(&old, sig);
        sigprocmask(SIG_SETMASK, &old, NULL);
        return 128 + sig;
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return rc < 0 ? FWUPCTL_EXIT_ERROR : rc;
}

static void help(void)
{
    printf("Usage: fwupctl watch [JOB...] [--batch B] [--exit-when-done]\n"
           "\n"
           "Follow jobs live. Without JOB or --batch: every queued or running job and\n"
           "any job queued later. On a terminal each job has a line that is redrawn\n"
           "in place: progress bar, percent, bytes, rate, ETA and state/phase.\n"
           "Otherwise one line per state change, e.g. \"job 12 dev3 running transfer\",\n"
           "and at most one progress line per job per second, e.g.\n"
           "\"job 12 dev3 transfer 45%% 20480/40960 B 11.2 kB/s eta 2s\"; the same\n"
           "without a terminal, with TERM=dumb or with NO_COLOR set. With --json: one\n"
           "event per line, {\"type\":\"state\"|\"progress\",\"job\":{...},\"rate\":N}\n"
           "(the current state first, as type \"state\").\n"
           "\n"
           "  --batch B          follow the jobs of batch B\n"
           "  --exit-when-done   exit once every followed job has finished: 0 if all\n"
           "                     succeeded, 4 otherwise (without JOB/--batch: once no\n"
           "                     job is queued or running)\n"
           "\n"
           "Ctrl-C restores the terminal and ends the program.\n");
}

int fwupctl_cmd_watch(const struct fwupctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"batch", required_argument, NULL, 'b'},
        {"exit-when-done", no_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int64_t batch = 0;
    bool exit_when_done = false;
    int opt, rc;
    while ((opt = fwupctl_getopt("watch", argc, argv, ":h", opts, help, &rc)) != -1) {
        switch (opt) {
        case 'b':
            if (fwupctl_parse_job_id(optarg, &batch) < 0)
                return fwupctl_usage("watch", "bad batch id '%s'", optarg);
            break;
        case 'x':
            exit_when_done = true;
            break;
        case FWUPCTL_OPT_EXIT:
            return rc;
        }
    }
    size_t njobs = (size_t)(argc - optind);
    int64_t *jobs = calloc(njobs ? njobs : 1, sizeof(*jobs));
    if (!jobs)
        abort();
    for (size_t i = 0; i < njobs; i++) {
        if (fwupctl_parse_job_id(argv[optind + (int)i], &jobs[i]) < 0) {
            free(jobs);
            return fwupctl_usage("watch", "bad job id '%s'", argv[optind + (int)i]);
        }
    }
    struct fwup_client c;
    rc = fwupctl_connect(ctx, &c);
    if (rc) {
        free(jobs);
        return rc;
    }
    struct fwupctl_watch_opts o = {
        .jobs = jobs, .njobs = njobs, .batch = batch, .exit_when_done = exit_when_done};
    rc = fwupctl_watch(ctx, &c, &o);
    fwup_client_close(&c);
    free(jobs);
    return rc;
}
