/*
 * Protocol engine harness: bytes from a device are outside input too. The
 * engine of the protocol linked in (its fwup_protocol table, as the daemon
 * sees it) runs one job on a small image against a host stub, and the fuzz
 * input is the stream of events (engine_job.h): device bytes in chunks of
 * any size, timer firings, tx-done, a cancel, a link that goes away.
 *
 * The engine must never crash, never call the host after finish() nor
 * finish twice, keep progress within its total and monotonic within a
 * phase, and at the end either have finished or still be waiting. Then the
 * device falls silent: delivering tx-done and firing the timer for as long
 * as the engine arms it must end the job (no engine retries forever).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_job.h"

/* Timer firings a silent device may take before the engine gives up: far
 * above what the variants' retry counts and windows need. */
#define MAX_SILENT_TIMERS 200000

extern const struct fwup_protocol FWUP_PROTOCOL_SYMBOL;
#define P (&FWUP_PROTOCOL_SYMBOL)

struct host {
    int finished, link_gone, tx_pending;
    uint32_t timer_ms; /* armed: > 0 */
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

static int h_send(void *host, const uint8_t *data, size_t len)
{
    struct host *h = host;
    check_live(h);
    if (len && !data)
        fail("send of NULL");
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < len; i++) /* the bytes must be readable */
        sink ^= data[i];
    (void)sink;
    if (h->link_gone)
        return -1;
    h->tx_pending = 1;
    return 0;
}

static void h_timer(void *host, uint32_t ms)
{
    struct host *h = host;
    check_live(h);
    h->timer_ms = ms;
}

static void h_flush_rx(void *host)
{
    check_live(host);
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

static const struct fwup_host_ops ops = {h_send, h_timer, h_flush_rx, h_progress, h_log, h_finish};

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

static void fire_timer(struct fwup_engine *e, struct host *h)
{
    h->timer_ms = 0; /* one-shot */
    P->on_timer(e);
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
    P->on_start(e);
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
                P->on_rx(e, chunk, n);
            free(chunk);
            break;
        }
        case FZ_TIMER:
            if (h.timer_ms)
                fire_timer(e, &h);
            break;
        case FZ_TX_DONE:
            if (h.tx_pending) {
                h.tx_pending = 0;
                if (P->on_tx_done)
                    P->on_tx_done(e);
            }
            break;
        case FZ_CANCEL:
            if (!cancelled && P->on_cancel) {
                cancelled = 1;
                P->on_cancel(e);
            }
            break;
        case FZ_LINK_GONE:
            h.link_gone = 1;
            break;
        }
    }
    /* The device falls silent: the engine must give up on its own. */
    for (long firings = 0; !h.finished;) {
        if (h.tx_pending && P->on_tx_done) {
            h.tx_pending = 0;
            P->on_tx_done(e);
        } else if (h.timer_ms) {
            if (++firings > MAX_SILENT_TIMERS)
                fail("keeps re-arming its timer for a device that never answers");
            fire_timer(e, &h);
        } else {
            fail("waits for a silent device with no timer armed");
        }
    }
    P->destroy(e);
    return 0;
}
