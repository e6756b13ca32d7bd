/*
 * In-process harness that wires a protocol engine (protocol.h), through the
 * host core (lib/host), to a simulated device (simdev.h) over a modelled
 * serial line, on a virtual clock. The engine is told of the line as a
 * serial link of `baud` (8N1, or 8E1 for 11 bits per byte) unless the job's
 * params already name a link.
 *
 * It is a discrete-event simulation: a byte queued at virtual time t on a
 * paced line arrives when its last bit does, queued behind earlier bytes in
 * the same direction; device replies start no sooner than turnaround_us
 * after the device sends them; timers are events. Nothing depends on the
 * machine's speed and a run is a pure function of the config (and seed), so
 * tests can assert on byte counts and virtual times.
 */
#ifndef FWUPGW_SIMLINK_H
#define FWUPGW_SIMLINK_H

#include <stddef.h>
#include <stdint.h>

#include <fwupgw/protocol.h>

#include "simdev.h"

enum simlink_dir {
    SIMLINK_H2D = 1u << 0, /* host (engine) to device */
    SIMLINK_D2H = 1u << 1, /* device to host */
    SIMLINK_BOTH = SIMLINK_H2D | SIMLINK_D2H,
};

struct simlink_config {
    const struct fwup_protocol *proto;
    const struct fwup_job_params *params;
    const struct simdev_class *dev_class;
    const char *dev_options; /* simdev option string, may be NULL */

    uint32_t baud;          /* 0: bytes take no time on the line */
    uint32_t bits_per_byte; /* 10 for 8N1, 11 for 8E1; 0 means 10 */
    uint32_t turnaround_us; /* device reply latency */
    /* Bytes the host's transmit buffer holds: a unit submitted with
     * FWUP_SUBMIT_NOTIFY completes as soon as what is still to leave fits in
     * it, as a UART driver (4 KiB) takes bytes long before the device has
     * them; 0: when its last byte has left. FWUP_SUBMIT_ON_WIRE units
     * complete when their last byte has reached the device. */
    uint32_t host_tx_buffer;

    /* Faults, drawn per byte from a PRNG seeded with `seed`. A corrupted
     * byte has one random bit flipped (so, as on a real line, a NAK never
     * turns into an ACK). */
    double drop_rate;
    double corrupt_rate;
    unsigned fault_dirs; /* mask of enum simlink_dir; 0 means both */
    uint32_t delay_us;   /* extra line time per byte (an inter-character gap) */
    uint64_t seed;

    uint64_t max_virtual_ms; /* give up at this virtual time; 0 means 10 minutes */
    uint32_t cancel_at_ms;   /* cancel the job at this virtual time; 0: never */
    /* How long the device has been waiting when the host opens the link:
     * the device starts at 0 and the engine at host_start_ms, and what the
     * device sent meanwhile (its repeated start bytes) waits in the host's
     * input queue and reaches the engine in one delivery. 0: the engine
     * starts first, before the device's first byte. */
    uint32_t host_start_ms;

    /* Optional observer of every byte string put on the line, before faults,
     * with the virtual time it was queued. */
    void (*tap)(void *ctx, enum simlink_dir dir, uint64_t t_us, const uint8_t *data, size_t len);
    void *tap_ctx;
    /* Optional observers of the engine's log lines and progress reports. */
    void (*on_log)(void *ctx, enum fwup_log_prio prio, const char *msg);
    void *log_ctx;
    void (*on_progress)(void *ctx, const char *phase, uint64_t done, uint64_t total);
    void *progress_ctx;
    int verbose; /* print engine log lines to stderr */
};

struct simlink_result {
    enum fwup_result result; /* as passed to finish(); TRANSIENT if it never came */
    char message[256];       /* finish() message, or why the run stopped */
    uint64_t virtual_us;     /* virtual time of finish() (or of the stop) */
    uint64_t bytes_host_to_dev, bytes_dev_to_host; /* queued on the line, before faults */
    uint64_t bytes_dropped, bytes_corrupted;
    uint64_t progress_calls;
    char last_phase[32];
    uint64_t last_done;
    enum simdev_state dev_state; /* after the host's last bytes reached the device */
    uint8_t *dev_content;        /* copy of content(); free with simlink_result_free */
    size_t dev_content_len;
    unsigned dev_completions;
    /* 0: time limit, deadlock (no pending event), or the host ended the job
     * (a cancel the engine did not confirm within the host's grace). */
    int engine_finished;
    /* Engine misbehaviour the host core refused (lib/host/host.h): host
     * calls after finish(), a second finish(), progress going backwards
     * within a phase or beyond total, units the link cannot carry. Once the
     * engine has finished, the host core is given one of each event a
     * backend may still have had queued (cancel, a wake-up, a byte, the
     * pending completions, a link down): none may reach the engine. */
    unsigned protocol_errors;
};

/*
 * Run one job to completion. Returns 0 when the simulation ran (whatever the
 * job's result), -1 if the image was refused or the engine or the device
 * could not be created (reason in out->message).
 */
int simlink_run(const struct simlink_config *cfg, struct simlink_result *out);
void simlink_result_free(struct simlink_result *r);

/* A tap (simlink_config.tap, tap_ctx pointing at a zeroed struct
 * simlink_h2d) that records every byte the host puts on the line, in
 * order. Free `data` with free(). */
struct simlink_h2d {
    uint8_t *data;
    size_t len, cap;
};
void simlink_record_h2d(void *ctx, enum simlink_dir dir, uint64_t t_us, const uint8_t *data,
                        size_t len);

/* A log observer (simlink_config.on_log, log_ctx pointing at a struct
 * simlink_log_match with `prefix` set) that counts the engine's log lines
 * starting with `prefix` and keeps the last of them. */
struct simlink_log_match {
    const char *prefix;
    char line[200];
    unsigned n;
};
void simlink_match_log(void *ctx, enum fwup_log_prio prio, const char *msg);

#endif
