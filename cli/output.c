/*
 * fwupctl output helpers. See output.h.
 */
#include "output.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

char *fwup_fmt_size(char *buf, size_t len, uint64_t bytes)
{
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
    if (bytes < 1000) {
        snprintf(buf, len, "%" PRIu64 " B", bytes);
        return buf;
    }
    double v = (double)bytes;
    size_t u = 0;
    /* 999.95 would print as "1000.0": switch unit before that. */
    while (v >= 999.95 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1000.0;
        u++;
    }
    snprintf(buf, len, "%.1f %s", v, units[u]);
    return buf;
}

char *fwup_fmt_size_iec(char *buf, size_t len, uint64_t bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(buf, len, "%" PRIu64 " B", bytes);
        return buf;
    }
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024.0;
        u++;
    }
    if (v == floor(v))
        snprintf(buf, len, "%.0f %s", v, units[u]);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
    return buf;
}

char *fwup_fmt_rate(char *buf, size_t len, double bytes_per_sec)
{
    if (!isfinite(bytes_per_sec) || bytes_per_sec < 0)
        bytes_per_sec = 0;
    char size[32];
    fwup_fmt_size(size, sizeof(size), (uint64_t)llround(bytes_per_sec));
    /* A size is at most a few characters; a short buffer just truncates. */
    if ((size_t)snprintf(buf, len, "%s/s", size) >= len && len)
        buf[len - 1] = 0;
    return buf;
}

char *fwup_fmt_duration(char *buf, size_t len, int64_t s)
{
    if (s < 0)
        snprintf(buf, len, "--");
    else if (s < 60)
        snprintf(buf, len, "%" PRId64 "s", s);
    else if (s < 3600)
        snprintf(buf, len, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m", s / 3600, (s % 3600) / 60);
    else
        snprintf(buf, len, "%" PRId64 "d%02" PRId64 "h", s / 86400, (s % 86400) / 3600);
    return buf;
}

int64_t fwup_eta_seconds(uint64_t done, uint64_t total, double rate)
{
    if (total == 0 || !isfinite(rate) || rate <= 0)
        return -1;
    if (done >= total)
        return 0;
    return (int64_t)ceil((double)(total - done) / rate);
}

char *fwup_fmt_time(char *buf, size_t len, int64_t epoch_ms)
{
    if (epoch_ms <= 0) {
        snprintf(buf, len, "-");
        return buf;
    }
    time_t t = (time_t)(epoch_ms / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm)) {
        snprintf(buf, len, "%" PRId64, epoch_ms);
        return buf;
    }
    char date[32];
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    long off = tm.tm_gmtoff;
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    snprintf(buf, len, "%s%c%02ld:%02ld", date, sign, off / 3600, (off % 3600) / 60);
    return buf;
}

unsigned fwup_percent(uint64_t done, uint64_t total)
{
    if (total == 0)
        return 0;
    if (done >= total)
        return 100;
    /* Long double keeps this exact for any 64-bit byte count we will see. */
    return (unsigned)((long double)done * 100.0L / (long double)total);
}

char *fwup_fmt_bar(char *buf, size_t len, unsigned width, uint64_t done, uint64_t total)
{
    if (len == 0)
        return buf;
    unsigned fill = 0;
    if (total > 0)
        fill = done >= total ? width : (unsigned)((long double)done * width / (long double)total);
    size_t o = 0;
    if (o + 1 < len)
        buf[o++] = '[';
    for (unsigned i = 0; i < width && o + 1 < len; i++)
        buf[o++] = i < fill ? '#' : '-';
    if (o + 1 < len)
        buf[o++] = ']';
    buf[o] = '\0';
    return buf;
}

void fwup_sanitize(char *s)
{
    for (unsigned char *p = (unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            *p = ' ';
        } else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            /* UTF-8 encoded C1 control (U+0080..U+009F, e.g. CSI). */
            p[0] = ' ';
            p[1] = ' ';
            p++;
        }
    }
}

static void copy_str(char *dst, size_t len, const json_t *v)
{
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    snprintf(dst, len, "%s", s);
    fwup_sanitize(dst);
}

static int64_t get_int(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_real(v))
        return (int64_t)json_real_value(v);
    return 0;
}

int fwup_job_view_from_json(struct fwup_job_view *v, const json_t *job)
{
    memset(v, 0, sizeof(*v));
    if (!json_is_object(job) || !json_is_integer(json_object_get(job, "id")))
        return -1;
    v->id = get_int(job, "id");
    v->batch = get_int(job, "batch");
    copy_str(v->device, sizeof(v->device), json_object_get(job, "device"));
    copy_str(v->state, sizeof(v->state), json_object_get(job, "state"));
    copy_str(v->phase, sizeof(v->phase), json_object_get(job, "phase"));
    copy_str(v->error, sizeof(v->error), json_object_get(job, "last_error"));
    copy_str(v->version, sizeof(v->version), json_object_get(job, "version"));
    int64_t done = get_int(job, "bytes_done"), total = get_int(job, "bytes_total");
    v->done = done > 0 ? (uint64_t)done : 0;
    v->total = total > 0 ? (uint64_t)total : 0;
    v->attempt = (int)get_int(job, "attempt");
    v->max_attempts = (int)get_int(job, "max_attempts");
    v->cancel_requested = json_is_true(json_object_get(job, "cancel_requested"));
    v->updated = get_int(job, "updated");
    /* Only a queued job waits. */
    if (!strcmp(v->state, "queued"))
        copy_str(v->waiting, sizeof(v->waiting), json_object_get(job, "waiting"));
    return 0;
}

bool fwup_job_state_final(const char *state)
{
    return !strcmp(state, "succeeded") || !strcmp(state, "failed") || !strcmp(state, "cancelled");
}

/* Bounded append: keeps the buffer NUL-terminated whatever happens. */
static void appendf(char *buf, size_t len, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void appendf(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
    if (*off >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *off, len - *off, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    *off += (size_t)n;
    if (*off >= len)
        *off = len - 1;
}

/* The state words after "job N dev": "running transfer: error (attempt 2/3)". */
static void append_status(char *buf, size_t len, size_t *off, const struct fwup_job_view *v)
{
    appendf(buf, len, off, "%s", v->state[0] ? v->state : "unknown");
    if (!strcmp(v->state, "running") && v->phase[0])
        appendf(buf, len, off, " %s", v->phase);
    /* A queued job with an error is waiting for its retry. */
    if (v->error[0] && strcmp(v->state, "succeeded") && strcmp(v->state, "running"))
        appendf(buf, len, off, ": %s", v->error);
    /* A finished job's error already says how many attempts it took. */
    if (v->attempt > 1 && !fwup_job_state_final(v->state))
        appendf(buf, len, off, " (attempt %d/%d)", v->attempt, v->max_attempts);
    if (v->cancel_requested && !fwup_job_state_final(v->state))
        appendf(buf, len, off, " (cancel requested)");
    if (v->waiting[0])
        appendf(buf, len, off, " (waiting: %s)", v->waiting);
}

char *fwup_fmt_state_line(char *buf, size_t len, const struct fwup_job_view *v)
{
    size_t off = 0;
    if (len == 0)
        return buf;
    buf[0] = '\0';
    appendf(buf, len, &off, "job %" PRId64 " %s ", v->id, v->device);
    append_status(buf, len, &off, v);
    return buf;
}

char *fwup_fmt_progress_line(char *buf, size_t len, const struct fwup_job_view *v, double rate)
{
    size_t off = 0;
    if (len == 0)
        return buf;
    buf[0] = '\0';
    appendf(buf, len, &off, "job %" PRId64 " %s %s %u%% %" PRIu64 "/%" PRIu64 " B", v->id,
            v->device, v->phase[0] ? v->phase : v->state, fwup_percent(v->done, v->total), v->done,
            v->total);
    if (rate > 0) {
        char r[32], eta[32];
        fwup_fmt_rate(r, sizeof(r), rate);
        fwup_fmt_duration(eta, sizeof(eta), fwup_eta_seconds(v->done, v->total, rate));
        appendf(buf, len, &off, " %s eta %s", r, eta);
    }
    return buf;
}

static size_t utf8_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

/* Cuts `s` after `width` UTF-8 code points. */
static void truncate_columns(char *s, unsigned width)
{
    unsigned cols = 0;
    for (char *p = s; *p; p++) {
        if (((unsigned char)*p & 0xc0) == 0x80)
            continue;
        if (cols == width) {
            *p = '\0';
            return;
        }
        cols++;
    }
}

#define LIVE_DEVICE_COLS 12 /* device names are padded to this */
#define LIVE_DEVICE_MIN  8  /* a longer name is never cut below this */
#define LIVE_BAR_MAX     20
#define LIVE_BAR_MIN     10

char *fwup_fmt_live_line(char *buf, size_t len, const struct fwup_job_view *v, double rate,
                         unsigned width)
{
    if (len == 0)
        return buf;
    buf[0] = '\0';
    bool running = !strcmp(v->state, "running");
    /* The state comes before the numbers: on a narrow terminal the line is
     * cut from the right and the state matters most. */
    const char *word = running && v->phase[0] ? v->phase : v->state[0] ? v->state : "unknown";
    char head[32], mid[64], pct[8], bytes[64] = "", tail[640] = "";
    size_t o = 0;
    snprintf(head, sizeof(head), "job %-5" PRId64 " ", v->id);
    snprintf(mid, sizeof(mid), " %-9s ", word);
    snprintf(pct, sizeof(pct), "%3u%%", fwup_percent(v->done, v->total));
    if (v->total > 0 || v->done > 0)
        snprintf(bytes, sizeof(bytes), "  %" PRIu64 "/%" PRIu64 " B", v->done, v->total);
    if (running && rate > 0) {
        char r[32], eta[32];
        fwup_fmt_rate(r, sizeof(r), rate);
        fwup_fmt_duration(eta, sizeof(eta), fwup_eta_seconds(v->done, v->total, rate));
        appendf(tail, sizeof(tail), &o, "  %s  eta %s", r, eta);
    }
    if (v->error[0] && strcmp(v->state, "succeeded") && !running)
        appendf(tail, sizeof(tail), &o, "  %s", v->error);
    if (v->attempt > 1 && !fwup_job_state_final(v->state))
        appendf(tail, sizeof(tail), &o, "  attempt %d/%d", v->attempt, v->max_attempts);
    if (v->cancel_requested && !fwup_job_state_final(v->state))
        appendf(tail, sizeof(tail), &o, "  cancel requested");
    if (v->waiting[0])
        appendf(tail, sizeof(tail), &o, "  waiting: %s", v->waiting);

    /* Id, device, state, percent, rate, ETA and error get the width first
     * (a long device name is shortened to fit, down to LIVE_DEVICE_MIN);
     * the bar, then the byte counts, take what is left. */
    size_t devlen = utf8_width(v->device);
    size_t devcols = devlen > LIVE_DEVICE_COLS ? devlen : LIVE_DEVICE_COLS;
    size_t blen = utf8_width(bytes);
    unsigned bar = LIVE_BAR_MAX;
    bool show_bytes = blen > 0;
    if (width > 0) {
        size_t fixed = utf8_width(head) + utf8_width(mid) + utf8_width(pct) + utf8_width(tail);
        size_t room = width > fixed ? width - fixed : 0;
        size_t least = devlen < LIVE_DEVICE_MIN ? devlen : LIVE_DEVICE_MIN;
        if (devcols > room)
            devcols = room > least ? room : least;
        size_t left = room > devcols ? room - devcols : 0;
        size_t barcols = LIVE_BAR_MIN + 3; /* "[" cells "] " */
        show_bytes = show_bytes && (left >= barcols + blen || (left < barcols && left >= blen));
        if (show_bytes)
            left -= blen;
        bar = left >= barcols ? (unsigned)(left - 3 < LIVE_BAR_MAX ? left - 3 : LIVE_BAR_MAX) : 0;
    }
    char dev[sizeof(v->device) + 2];
    snprintf(dev, sizeof(dev), "%s", v->device);
    if (devlen > devcols) {
        truncate_columns(dev, (unsigned)(devcols - 2));
        strcat(dev, "..");
    }
    char barbuf[LIVE_BAR_MAX + 4] = "";
    if (bar > 0) {
        fwup_fmt_bar(barbuf, sizeof(barbuf), bar, v->done, v->total);
        strcat(barbuf, " ");
    }
    o = 0;
    appendf(buf, len, &o, "%s%s%*s%s%s%s%s%s", head, dev, (int)(devcols - utf8_width(dev)), "", mid,
            barbuf, pct, show_bytes ? bytes : "", tail);
    if (width > 0)
        truncate_columns(buf, width);
    return buf;
}

enum fwup_term_mode fwup_term_mode(bool is_tty, const char *term, const char *no_color)
{
    if (!is_tty || !term || !*term || !strcmp(term, "dumb") || (no_color && *no_color))
        return FWUP_TERM_PLAIN;
    return FWUP_TERM_LIVE;
}

void fwup_rate_reset(struct fwup_rate *r)
{
    memset(r, 0, sizeof(*r));
}

double fwup_rate_update(struct fwup_rate *r, int64_t now_ms, uint64_t bytes)
{
    if (!r->have || bytes < r->last_bytes) {
        r->have = true;
        r->rate = 0;
        r->last_ms = now_ms;
        r->last_bytes = bytes;
        return r->rate;
    }
    int64_t dt = now_ms - r->last_ms;
    if (dt <= 0)
        return r->rate; /* same instant: wait for time to pass */
    double inst = (double)(bytes - r->last_bytes) * 1000.0 / (double)dt;
    if (r->rate <= 0) {
        r->rate = inst;
    } else {
        double alpha = 1.0 - exp(-(double)dt / 2000.0);
        r->rate += alpha * (inst - r->rate);
    }
    r->last_ms = now_ms;
    r->last_bytes = bytes;
    return r->rate;
}

void fwup_table_init(struct fwup_table *t, size_t ncols, const char *const *headers)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
    fwup_table_add(t, headers);
    t->nrows = 0; /* the header is row -1, not counted */
}

void fwup_table_add(struct fwup_table *t, const char *const *cells)
{
    size_t rows = t->cells ? t->nrows + 1 : 0; /* rows stored incl. header */
    if (rows + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **n = realloc(t->cells, cap * t->ncols * sizeof(*n));
        if (!n)
            abort();
        t->cells = n;
        t->cap = cap;
    }
    for (size_t i = 0; i < t->ncols; i++) {
        char *c = strdup(cells[i] ? cells[i] : "-");
        if (!c)
            abort();
        fwup_sanitize(c);
        t->cells[rows * t->ncols + i] = c;
    }
    if (rows > 0)
        t->nrows++;
}

char *fwup_table_render(const struct fwup_table *t)
{
    size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof(*w));
    size_t total = 1;
    if (!w)
        abort();
    for (size_t r = 0; r <= t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            size_t cw = utf8_width(s);
            if (cw > w[c])
                w[c] = cw;
            total += strlen(s) + 2;
        }
    for (size_t c = 0; c < t->ncols; c++)
        total += (w[c] + 2) * (t->nrows + 1);
    char *out = malloc(total);
    if (!out)
        abort();
    size_t o = 0;
    for (size_t r = 0; r <= t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            size_t l = strlen(s);
            memcpy(out + o, s, l);
            o += l;
            if (c + 1 < t->ncols) {
                for (size_t pad = utf8_width(s); pad < w[c] + 2; pad++)
                    out[o++] = ' ';
            }
        }
        out[o++] = '\n';
    }
    out[o] = '\0';
    free(w);
    return out;
}

void fwup_table_print(const struct fwup_table *t, FILE *f)
{
    char *s = fwup_table_render(t);
    fputs(s, f);
    free(s);
}

void fwup_table_free(struct fwup_table *t)
{
    if (t->cells)
        for (size_t i = 0; i < (t->nrows + 1) * t->ncols; i++)
            free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

void fwup_json_print(FILE *f, const json_t *value)
{
    json_dumpf(value, f, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    fputc('\n', f);
}

static json_int_t image_int(const json_t *image, const char *key)
{
    return json_integer_value(json_object_get(image, key));
}

char *fwup_fmt_image_range(char *buf, size_t len, const json_t *image)
{
    if (!json_is_object(image))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "0x%08" PRIX64 "-0x%08" PRIX64,
                 (uint64_t)image_int(image, "address_first"),
                 (uint64_t)image_int(image, "address_last"));
    return buf;
}

char *fwup_fmt_image(char *buf, size_t len, const json_t *image)
{
    if (!json_is_object(image))
        return fwup_fmt_image_range(buf, len, image);
    const char *fmt = json_string_value(json_object_get(image, "format"));
    char range[48], segs[48] = "";
    json_int_t n = image_int(image, "segments");
    if (n > 1)
        snprintf(segs, sizeof(segs), " in %" JSON_INTEGER_FORMAT " segments", n);
    snprintf(buf, len, "%s, %s, %" JSON_INTEGER_FORMAT " bytes%s", fmt ? fmt : "?",
             fwup_fmt_image_range(range, sizeof(range), image), image_int(image, "bytes"), segs);
    fwup_sanitize(buf);
    return buf;
}
