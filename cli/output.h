/*
 * fwupctl output helpers: human-readable sizes, rates and durations, local
 * ISO-8601 timestamps, progress bars, job status lines, aligned tables and
 * JSON printing. Everything except the *_print functions is pure (writes
 * into caller buffers) so the unit tests can check the exact text.
 */
#ifndef FWUPCTL_OUTPUT_H
#define FWUPCTL_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "defaults.h"

/* SI units, one decimal above 999 B: "512 B", "11.2 kB", "1.5 MB". */
char *fwup_fmt_size(char *buf, size_t len, uint64_t bytes);
/* IEC units for flash sizes: "256 KiB", "1 MiB", "1.5 MiB", "100 B". */
char *fwup_fmt_size_iec(char *buf, size_t len, uint64_t bytes);
/* fwup_fmt_size of the rounded rate plus "/s": "11.2 kB/s", "0 B/s". */
char *fwup_fmt_rate(char *buf, size_t len, double bytes_per_sec);
/* "--" when negative (unknown), "7s", "1m05s", "2h03m", "3d04h". */
char *fwup_fmt_duration(char *buf, size_t len, int64_t seconds);
/* Seconds left at `rate` rounded up, or -1 when the rate is unknown. */
int64_t fwup_eta_seconds(uint64_t done, uint64_t total, double rate);
/* Local time as ISO-8601 with offset, "2025-11-24T17:20:00+01:00"; "-" for 0. */
char *fwup_fmt_time(char *buf, size_t len, int64_t epoch_ms);
/* Whole percent, rounded down, 0..100; 0 when total is 0. */
unsigned fwup_percent(uint64_t done, uint64_t total);
/* "[#####-----]" with `width` cells between the brackets. */
char *fwup_fmt_bar(char *buf, size_t len, unsigned width, uint64_t done, uint64_t total);

/* Replace control characters (terminal escapes, newlines from device
 * messages) by spaces so daemon-supplied text cannot corrupt the screen. */
void fwup_sanitize(char *s);

/* The fields of a Job object that the views need. */
struct fwup_job_view {
    int64_t id;
    int64_t batch;
    char device[FWUP_ID_MAX + 1];
    char state[16];
    char phase[32];
    char error[256];
    char version[64];
    uint64_t done;
    uint64_t total;
    int attempt;
    int max_attempts;
    bool cancel_requested;
    int64_t updated;   /* ms since the epoch, orders events */
    char waiting[200]; /* what a queued job's run waits for, "" if nothing
                          (or the job is not queued) */
};

/* Fills `v` from a Job object (missing fields read as 0 / ""). Returns 0, or
 * -1 if `job` is not an object with an integer "id". */
int fwup_job_view_from_json(struct fwup_job_view *v, const json_t *job);
/* succeeded, failed or cancelled. */
bool fwup_job_state_final(const char *state);

/* "job 12 dev3 running transfer", "job 12 dev3 failed: timeout",
 * " (attempt 2/3)" appended for a retry, " (cancel requested)" if so,
 * " (waiting: port /dev/ttyUSB0: in use by job 11)" for a queued job. */
char *fwup_fmt_state_line(char *buf, size_t len, const struct fwup_job_view *v);
/* "job 12 dev3 transfer 45% 20480/40960 B 11.2 kB/s eta 2s"; the rate and
 * eta are left out when rate <= 0. */
char *fwup_fmt_progress_line(char *buf, size_t len, const struct fwup_job_view *v, double rate);
/* One row of the live view, at most `width` columns (0: no limit):
 * "job 12    dev3         transfer  [#####-----]  50%  20480/40960 B  11.2 kB/s  eta 2s".
 * Id, device, state, percent, rate, ETA and error come first: a long device
 * name is shortened ("long-device-na..") and the bar and byte counts shrink
 * or go before they are cut. */
char *fwup_fmt_live_line(char *buf, size_t len, const struct fwup_job_view *v, double rate,
                         unsigned width);

/* How live progress is shown: redrawn in place with escape sequences only
 * on a terminal that can do it and whose user has not asked for plain
 * output (TERM unset, empty or "dumb", or NO_COLOR set and not empty, see
 * no-color.org); otherwise one plain line per update, no escape at all. */
enum fwup_term_mode { FWUP_TERM_PLAIN, FWUP_TERM_LIVE };
enum fwup_term_mode fwup_term_mode(bool is_tty, const char *term, const char *no_color);

/* Transfer-rate estimate from successive (time, bytes) samples: an
 * exponentially weighted moving average with a 2 s time constant, so a
 * single slow or fast burst does not make the ETA jump. */
struct fwup_rate {
    double rate; /* bytes per second, 0 = unknown */
    int64_t last_ms;
    uint64_t last_bytes;
    bool have;
};
void fwup_rate_reset(struct fwup_rate *r);
/* Feed one sample; returns the current estimate. Going backwards (a retry
 * restarting the transfer) restarts the estimate. */
double fwup_rate_update(struct fwup_rate *r, int64_t now_ms, uint64_t bytes);

/* Column-aligned text table; cells are copied and sanitised. */
struct fwup_table {
    size_t ncols;
    size_t nrows;
    size_t cap;
    char **cells; /* row-major, header row first */
};
void fwup_table_init(struct fwup_table *t, size_t ncols, const char *const *headers);
/* `cells` holds ncols strings; NULL prints as "-". */
void fwup_table_add(struct fwup_table *t, const char *const *cells);
/* Columns separated by two spaces, the last one unpadded, rows end in '\n'.
 * Widths count UTF-8 code points. Caller frees. */
char *fwup_table_render(const struct fwup_table *t);
void fwup_table_print(const struct fwup_table *t, FILE *f);
void fwup_table_free(struct fwup_table *t);

/* One line of compact JSON (key order as received). */
void fwup_json_print(FILE *f, const json_t *value);

/* From the Image object of a jobs.queue reply or a dry-run plan entry
 * (docs/socket-api.md): the addresses written, "0x08000000-0x0800A3FF", and
 * the summary "ihex, 0x08000000-0x0800A3FF, 41984 bytes" (plus " in 3
 * segments" when sparse). "-" when the object is missing. */
char *fwup_fmt_image_range(char *buf, size_t len, const json_t *image);
char *fwup_fmt_image(char *buf, size_t len, const json_t *image);

#endif
