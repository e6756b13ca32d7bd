/*
 * PIC32CX-BZ serial DFU benchmark on the virtual clock (simlink): the
 * pic32cx-bz engine against the "pic32" bootloader model on a paced 8N1
 * line with 1 ms turnaround. Figures are deterministic (no machine speed):
 *
 *   1. goodput vs the 4 KiB-cluster ceiling at 115200 and 921600 baud;
 *   2. timer-triggered DFU: time from the simulated reset (the model's
 *      reset_after_ms) to the first byte of the first cluster on the wire,
 *      for reset instants spread over one 10 ms ping period.
 *
 * Usage: pic32_bench [KIB]   (default 256)
 * Exits non-zero if a transfer fails or the device content differs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fwupgw/protocol.h>

#include "simdev.h"
#include "simlink.h"

extern const struct fwup_protocol FWUP_PROTOCOL_SYMBOL;

struct tapst {
    int have;
    uint64_t first_pgm_us;
    unsigned pings;
};

static void tap(void *ctx, enum simlink_dir dir, uint64_t t_us, const uint8_t *d, size_t n)
{
    struct tapst *s = ctx;
    if (dir != SIMLINK_H2D || n < 4 || d[3] != 0)
        return;
    if (d[2] == 0x07)
        s->pings++;
    if (d[2] == 0x11 && !s->have) {
        s->have = 1;
        s->first_pgm_us = t_us;
    }
}

static int run(uint8_t *img, size_t len, uint32_t baud, const char *devopts, struct tapst *ts,
               struct simlink_result *r)
{
    char bauds[16];
    snprintf(bauds, sizeof(bauds), "%u", baud);
    struct fwup_segment seg = {0, (uint32_t)len, img, -1};
    struct fwup_image im = {.struct_size = sizeof(im),
                            .segment_size = sizeof(seg),
                            .segments = &seg,
                            .nsegments = 1,
                            .total = len};
    struct fwup_option opts[] = {{"baud", bauds}};
    struct fwup_job_params p = {.struct_size = sizeof(p),
                                .device_id = "bench",
                                .image = &im,
                                .options = opts,
                                .noptions = 1};
    struct simlink_config c;
    memset(&c, 0, sizeof(c));
    c.proto = &FWUP_PROTOCOL_SYMBOL;
    c.params = &p;
    c.dev_class = simdev_find("pic32");
    c.dev_options = devopts;
    c.baud = baud;
    c.bits_per_byte = 10;
    c.turnaround_us = 1000;
    c.tap = tap;
    c.tap_ctx = ts;
    memset(ts, 0, sizeof(*ts));
    if (simlink_run(&c, r) < 0 || r->result != FWUP_RESULT_OK) {
        fprintf(stderr, "pic32_bench: transfer failed: %s\n", r->message);
        return -1;
    }
    if (r->dev_content_len < len || memcmp(r->dev_content, img, len) != 0) {
        fprintf(stderr, "pic32_bench: device content differs\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    size_t kib = argc > 1 ? strtoul(argv[1], NULL, 0) : 256;
    if (kib == 0 || kib > 512) {
        fprintf(stderr, "usage: pic32_bench [KIB (1..512)]\n");
        return 2;
    }
    size_t len = kib * 1024;
    uint8_t *img = malloc(len);
    if (!img)
        return 1;
    uint32_t x = 12345;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        img[i] = (uint8_t)(x >> 16);
    }

    printf("1. goodput, %zu KiB image, gpio-held bootloader (no window wait)\n", kib);
    static const uint32_t bauds[] = {115200, 921600};
    for (size_t b = 0; b < 2; b++) {
        struct tapst ts;
        struct simlink_result r;
        if (run(img, len, bauds[b], "trigger=gpio", &ts, &r) < 0)
            return 1;
        double byte_s = 10.0 / bauds[b];
        /* the reference ceiling: 4096 payload per (4112 + 4) bytes + 1 ms */
        double ceiling = 4096.0 / (4116 * byte_s + 0.001);
        /* plus the 2 ms inter-byte gap the device needs to end a frame */
        double ceiling_gap = 4096.0 / (4116 * byte_s + 0.001 + 0.002);
        double secs = (double)r.virtual_us / 1e6;
        double gp = (double)len / secs;
        printf("   %7u baud: %.3f s, %.0f B/s = %.3f of the %.0f B/s ceiling (%.3f of %.0f with "
               "the 2 ms frame gap); wire %.1f bytes down, %.2f up per payload KiB\n",
               bauds[b], secs, gp, gp / ceiling, ceiling, gp / ceiling_gap, ceiling_gap,
               (double)r.bytes_host_to_dev * 1024.0 / (double)len,
               (double)r.bytes_dev_to_host * 1024.0 / (double)len);
        simlink_result_free(&r);
    }

    printf("2. timer trigger: application first, reset at 5000+k ms, window 600 ms, "
           "pings every 10 ms, 115200 baud, %zu KiB\n",
           kib);
    uint64_t worst = 0, sum = 0;
    for (unsigned k = 0; k < 10; k++) {
        char opts[96];
        snprintf(opts, sizeof(opts), "app_first=1,reset_after_ms=%u,window=600", 5000 + k);
        struct tapst ts;
        struct simlink_result r;
        if (run(img, len, 115200, opts, &ts, &r) < 0 || !ts.have)
            return 1;
        uint64_t d = ts.first_pgm_us - (5000 + k) * 1000ull;
        if (d > worst)
            worst = d;
        sum += d;
        printf("   reset at %u ms: first cluster byte %.3f ms after the reset (%u pings)\n",
               5000 + k, (double)d / 1000.0, ts.pings);
        simlink_result_free(&r);
    }
    printf("   mean %.3f ms, worst %.3f ms (bound asserted by test_pic32cxbz: < 100 ms)\n",
           (double)sum / 10000.0, (double)worst / 1000.0);
    free(img);
    return 0;
}
