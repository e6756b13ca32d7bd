/*
 * Protocol engine harness: bytes from a device are outside input too. The
 * engine of the protocol linked in (its fwup_protocol table, as the daemon
 * sees it) runs one job on a small image against a host stub, and the fuzz
 * input is the stream of events (engine_job.h): device bytes in chunks of
 * any size, timer firings, unit completions (done or timed out), a cancel,
 * a link that goes away. Events are delivered one at a time, never from
 * inside another, as the ABI promises.
 *
 * The engine must never crash, never call the host after finish() nor
 * finish twice, keep progress within its total and monotonic within a
 * phase, submit only byte units, and at the end either have finished or
 * still be waiting. Then the device falls silent: completing its units and
 * firing its timers for as long as it arms them must end the job (no engine
 * retries forever).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_job.h"

/* Timer firings a silent device may take before the engine gives up: far
 * above what the variants' retry counts and windows need. */
#define MAX_SILENT_TIMERS 200000
/* Units awaiting completion the stub keeps track of. */
#define MAX_PENDING 64

extern const struct fwup_protocol FWUP_PROTOCOL_SYMBOL;
#define P (&FWUP_PROTOCOL_SYMBOL)

struct host {
    int finished, link_gone;
    uint32_t timer_ms[FWUP_MAX_TIMERS]; /* armed: > 0 */
    uint32_t pending[MAX_PENDING];      /* tags, oldest first */
    size_t npending;
    char phase[32];
    uint64_t done;
    int progressed;
};

static void fail(const char *what)
{
    fprintf(stderr, "%s engine broke its contract: %s\n", P->name, what);
    abort();
}

static void check_live(struct host *h)
{
    if (h->finished)
        fail("host call after finish()");
}

static int h_submit(void *host, const struct fwup_unit *u)
{
    struct host *h = host;
    check_live(h);
    if (!u || u->struct_size < sizeof(*u) || u->kind != FWUP_UNIT_BYTES)
        fail("a unit that is not bytes on a serial link");
    if (u->len && !u->data)
        fail("submit of NULL");
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < u->len; i++) /* the bytes must be readable */
        sink ^= u->data[i];
    (void)sink;
    if (h->link_gone)
        return -1;
    if (u->flags & (FWUP_SUBMIT_NOTIFY | FWUP_SUBMIT_ON_WIRE)) {
        if (h->npending == MAX_PENDING)
            fail("too many units awaiting completion");
        h->pending[h->npending++] = u->tag;
    }
    return 0;
}

static int h_control(void *host, const struct fwup_control *c)
{
    check_live(host);
    if (!c || c->op != FWUP_CTL_FLUSH_RX)
        fail("a control other than FLUSH_RX");
    return 0;
}

static void h_timer(void *host, unsigned id, uint32_t ms)
{
    struct host *h = host;
    check_live(h);
    if (id >= FWUP_MAX_TIMERS)
        fail("timer id out of range");
    h->timer_ms[id] = ms;
}

static void h_progress(void *host, const char *phase, uint64_t done, uint64_t total)
{
    struct host *h = host;
    check_live(h);
    if (!phase || done > total)
        fail("progress without a phase or beyond its total");
    if (h->progressed && strcmp(h->phase, phase) == 0 && done < h->done)
        fail("progress going backwards within a phase");
    snprintf(h->phase, sizeof(h->phase), "%s", phase);
    h->done = done;
    h->progressed = 1;
}

static void h_log(void *host, enum fwup_log_prio prio, const char *msg)
{
    (void)prio;
    check_live(host);
    if (!msg || !memchr(msg, '\0', 4096))
        fail("log message not a string");
}

static void h_finish(void *host, enum fwup_result result, const char *msg)
{
    struct host *h = host;
    check_live(h);
    if (result > FWUP_RESULT_CANCELLED)
        fail("unknown result");
    if (result != FWUP_RESULT_OK && (!msg || !msg[0]))
        fail("failure without a reason");
    h->finished = 1;
}

static const struct fwup_host_ops ops = {sizeof(ops), h_submit, h_control, h_timer,
                                         h_progress,  h_log,    h_finish};

static struct fz_job jobs[16];
static size_t njobs;

static void init_jobs(void)
{
    njobs = fz_nvariants(P);
    if (njobs == 0 || njobs > sizeof(jobs) / sizeof(jobs[0]))
        fail("no job variants for this protocol");
    for (size_t i = 0; i < njobs; i++) {
        char err[256] = "";
        if (fz_job_init(&jobs[i], P, (unsigned)i) < 0 ||
            (P->check_image && P->check_image(&jobs[i].params, err, sizeof(err)) < 0)) {
            fprintf(stderr, "variant %zu: %s\n", i, err);
            fail("a job variant is refused: the harness is wrong");
        }
    }
}

static void deliver(struct fwup_engine *e, struct host *h, struct fwup_event ev)
{
    if (h->finished)
        return;
    ev.struct_size = sizeof(ev);
    P->on_event(e, &ev);
}

/* The armed timer due first (the shortest, then the lowest id); 0 if none. */
static int fire_timer(struct fwup_engine *e, struct host *h)
{
    unsigned id = FWUP_MAX_TIMERS;
    for (unsigned i = 0; i < FWUP_MAX_TIMERS; i++)
        if (h->timer_ms[i] && (id == FWUP_MAX_TIMERS || h->timer_ms[i] < h->timer_ms[id]))
            id = i;
    if (id == FWUP_MAX_TIMERS)
        return 0;
    h->timer_ms[id] = 0; /* one-shot */
    deliver(e, h, (struct fwup_event){.type = FWUP_EV_TIMER, .timer_id = id});
    return 1;
}

/* The oldest unit awaiting completion completes; 0 if there is none. */
static int complete(struct fwup_engine *e, struct host *h, enum fwup_status status)
{
    if (h->npending == 0)
        return 0;
    uint32_t tag = h->pending[0];
    memmove(h->pending, h->pending + 1, --h->npending * sizeof(h->pending[0]));
    deliver(e, h, (struct fwup_event){.type = FWUP_EV_COMPLETE, .tag = tag, .status = status});
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (!njobs)
        init_jobs();
    if (len == 0)
        return 0;
    struct host h = {0};
    char err[256] = "";
    struct fwup_engine *e = P->create(&jobs[data[0] % njobs].params, &ops, &h, err, sizeof(err));
    if (!e) {
        fprintf(stderr, "%s\n", err);
        fail("create refused a job its check_image accepted");
    }
    deliver(e, &h, (struct fwup_event){.type = FWUP_EV_START});
    int cancelled = 0;
    for (size_t i = 1; i < len && !h.finished;) {
        switch (data[i++] % FZ_NOPS) {
        case FZ_RX: {
            size_t n = i < len ? data[i++] : 0;
            if (n > len - i)
                n = len - i;
            /* a copy of exactly n bytes, so ASan sees a read past them */
            uint8_t *chunk = malloc(n ? n : 1);
            if (!chunk)
                fail("out of memory");
            memcpy(chunk, data + i, n);
            i += n;
            if (n)
                deliver(
                    e, &h,
                    (struct fwup_event){
                        .type = FWUP_EV_RX, .unit_kind = FWUP_UNIT_BYTES, .data = chunk, .len = n});
            free(chunk);
            break;
        }
        case FZ_TIMER:
            fire_timer(e, &h);
            break;
        case FZ_TX_DONE:
            complete(e, &h, FWUP_STATUS_OK);
            break;
        case FZ_TX_TIMEOUT:
            complete(e, &h, FWUP_STATUS_TIMEOUT);
            break;
        case FZ_CANCEL:
            if (!cancelled) {
                cancelled = 1;
                deliver(e, &h, (struct fwup_event){.type = FWUP_EV_CANCEL});
            }
            break;
        case FZ_LINK_GONE:
            if (!h.link_gone) {
                h.link_gone = 1;
                while (complete(e, &h, FWUP_STATUS_LINK_GONE))
                    ;
                deliver(e, &h, (struct fwup_event){.type = FWUP_EV_LINK_DOWN});
            }
            break;
        }
    }
    /* The device falls silent: the engine must give up on its own. */
    for (long firings = 0; !h.finished;) {
        if (complete(e, &h, FWUP_STATUS_OK))
            continue;
        if (++firings > MAX_SILENT_TIMERS)
            fail("keeps re-arming its timer for a device that never answers");
        if (!fire_timer(e, &h))
            fail("waits for a silent device with no timer armed and no unit pending");
    }
    P->destroy(e);
    return 0;
}
