/*
 * Seeds for the engine harness: each job variant runs against the simulated
 * device (simlink, virtual clock), clean and with line faults, an idle
 * device and a cancel, and every event the engine saw is written in the
 * harness's encoding (engine_job.h). Replayed, a seed drives the engine
 * through the same session, so the fuzzer starts from deep states.
 *
 *   record_<protocol> OUTDIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_job.h"
#include "simlink.h"

extern const struct fwup_protocol FWUP_PROTOCOL_SYMBOL;
#define P (&FWUP_PROTOCOL_SYMBOL)

#define MAX_SEED 8192

static uint8_t *rec;
static size_t rec_len, rec_cap;

static void put(const uint8_t *d, size_t n)
{
    if (rec_len + n > rec_cap) {
        rec_cap = (rec_len + n) * 2;
        if (!(rec = realloc(rec, rec_cap))) {
            perror("record");
            exit(1);
        }
    }
    memcpy(rec + rec_len, d, n);
    rec_len += n;
}

static void op(enum fz_op o)
{
    uint8_t b = (uint8_t)o;
    put(&b, 1);
}

static void r_rx(const uint8_t *d, size_t n)
{
    for (size_t off = 0; off < n; off += 255) { /* FZ_RX carries up to 255 */
        uint8_t hdr[2] = {FZ_RX, (uint8_t)(n - off > 255 ? 255 : n - off)};
        put(hdr, 2);
        put(d + off, hdr[1]);
    }
}

/* Every event in the harness's encoding, then to the engine. START is the
 * harness's own; a lost link's LINK_GONE completions come with its
 * LINK_DOWN, which FZ_LINK_GONE replays whole. */
static void r_event(struct fwup_engine *e, const struct fwup_event *ev)
{
    switch (ev->type) {
    case FWUP_EV_RX:
        r_rx(ev->data, ev->len);
        break;
    case FWUP_EV_TIMER:
        op(FZ_TIMER);
        break;
    case FWUP_EV_COMPLETE:
        if (ev->status != FWUP_STATUS_LINK_GONE)
            op(ev->status == FWUP_STATUS_OK ? FZ_TX_DONE : FZ_TX_TIMEOUT);
        break;
    case FWUP_EV_CANCEL:
        op(FZ_CANCEL);
        break;
    case FWUP_EV_LINK_DOWN:
        op(FZ_LINK_GONE);
        break;
    default:
        break;
    }
    P->on_event(e, ev);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    struct fwup_protocol taped = *P;
    taped.on_event = r_event;
    const struct simdev_class *dev = simdev_find(fz_device_model(P));
    static const struct {
        const char *name;
        double corrupt, drop;
        uint32_t idle_ms, cancel_ms;
    } runs[] = {
        {"clean", 0, 0, 0, 0},   {"noisy", 0.002, 0, 0, 0}, {"lossy", 0, 0.002, 0, 0},
        {"idle", 0, 0, 3500, 0}, {"cancel", 0, 0, 0, 15},
    };
    size_t n = fz_nvariants(P);
    if (!dev || n == 0) {
        fprintf(stderr, "%s: no device model or variants\n", P->name);
        return 1;
    }
    for (unsigned v = 0; v < n; v++) {
        for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
            struct fz_job j;
            if (fz_job_init(&j, P, v) < 0)
                return 1;
            struct simlink_config c = {.proto = &taped,
                                       .params = &j.params,
                                       .dev_class = dev,
                                       .dev_options = j.v->dev_options,
                                       .baud = 115200,
                                       .bits_per_byte = 10,
                                       .turnaround_us = 1000,
                                       .host_tx_buffer = 4096,
                                       .corrupt_rate = runs[r].corrupt,
                                       .drop_rate = runs[r].drop,
                                       .seed = r + 1,
                                       .max_virtual_ms = 120000,
                                       .cancel_at_ms = runs[r].cancel_ms,
                                       .host_start_ms = runs[r].idle_ms};
            struct simlink_result res;
            uint8_t variant = (uint8_t)v;
            rec_len = 0;
            put(&variant, 1);
            if (simlink_run(&c, &res) < 0) {
                fprintf(stderr, "%s variant %u %s: %s\n", P->name, v, runs[r].name, res.message);
                fz_job_free(&j);
                return 1;
            }
            if (rec_len > MAX_SEED) { /* long waits make slow seeds */
                printf("%s v%u-%s: %zu bytes, not kept\n", P->name, v, runs[r].name, rec_len);
                simlink_result_free(&res);
                fz_job_free(&j);
                continue;
            }
            char path[4096];
            snprintf(path, sizeof(path), "%s/v%u-%s", argv[1], v, runs[r].name);
            FILE *f = fopen(path, "wb");
            if (!f || fwrite(rec, 1, rec_len, f) != rec_len || fclose(f) != 0) {
                perror(path);
                return 1;
            }
            printf("%s: %zu bytes, result %d%s%s\n", path, rec_len, res.result,
                   res.message[0] ? ": " : "", res.message);
            simlink_result_free(&res);
            fz_job_free(&j);
        }
    }
    free(rec);
    return 0;
}
