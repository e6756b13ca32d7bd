/*
 * Image parser harness, built once per format (FUZZ_FORMAT; FWUP_IMAGE_AUTO
 * for detection plus whatever parser it picks). A parsed image must satisfy
 * what engines rely on (image.h): sorted, non-overlapping, non-empty
 * segments inside 32-bit space whose lengths add up to the total; a refusal
 * must come with a reason whose sizes are possible (image_oracle.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "fuzz_util.h"
#include "image_oracle.h"

#ifndef FUZZ_FORMAT
#error "define FUZZ_FORMAT"
#endif

#define BASE 0x08000000u

static void fail(const char *what)
{
    fuzz_fail("image", what);
}

/* A suffix whose CRC is wrong is refused before the container is looked
 * at, so the harness makes it right: mutations then reach the DFU and
 * DfuSe parsers themselves. */
static void fix_dfu_crc(uint8_t *p, size_t len)
{
    if (len < 16)
        return;
    uint32_t crc = fwup_dfu_crc(p, len - 4);
    for (int i = 0; i < 4; i++)
        p[len - 4 + i] = (uint8_t)(crc >> (8 * i));
}

static void check(const struct fwup_parsed_image *img, enum fwup_image_format detected)
{
    if (FUZZ_FORMAT == FWUP_IMAGE_AUTO) {
        /* auto parses as what the content looks like: raw only what looks
         * like nothing else, and never text */
        if (img->format != detected || img->format == FWUP_IMAGE_TEXT)
            fail("auto parsed as another format than detected, or as text");
    } else if (img->format != FUZZ_FORMAT) {
        fail("format differs from the one asked for");
    }
    if (img->view.segments != img->segments || img->view.nsegments == 0)
        fail("no segments");
    uint64_t total = 0;
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < img->view.nsegments; i++) {
        const struct fwup_segment *s = &img->segments[i];
        if (s->len == 0 || !s->data || (uint64_t)s->address + s->len > 0x100000000ull)
            fail("empty segment or past 4 GiB");
        if (i > 0 && (uint64_t)img->segments[i - 1].address + img->segments[i - 1].len > s->address)
            fail("segments overlap or are unsorted");
        for (uint32_t k = 0; k < s->len; k++) /* every byte must be readable */
            sink ^= s->data[k];
        total += s->len;
    }
    (void)sink;
    if (total != img->view.total || total > FWUP_IMAGE_MAX_TOTAL)
        fail("total");
    char err[256];
    err[0] = '\0';
    if (fwup_image_check_range(&img->view, BASE, 64 * 1024, err, sizeof(err)) < 0 && !err[0])
        fail("range refusal without a reason");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    /* A copy of exactly len bytes: ASan sees any read past the end. */
    uint8_t *p = malloc(len ? len : 1);
    if (!p)
        return 0;
    memcpy(p, data, len);
    enum fwup_image_format detected = fwup_image_detect(p, len);
    if (FUZZ_FORMAT == FWUP_IMAGE_DFU || FUZZ_FORMAT == FWUP_IMAGE_DFUSE) {
        fix_dfu_crc(p, len);
        detected = fwup_image_detect(p, len);
    } else if (FUZZ_FORMAT == FWUP_IMAGE_AUTO &&
               (detected == FWUP_IMAGE_DFU || detected == FWUP_IMAGE_DFUSE)) {
        fix_dfu_crc(p, len);
        if (fwup_image_detect(p, len) != detected)
            fail("detection depends on the suffix CRC");
    }

    struct fwup_parsed_image img;
    char err[256];
    memset(err, 0x55, sizeof(err));
    err[sizeof(err) - 1] = '\0';
    err[0] = '\0';
    if (fwup_image_parse(p, len, FUZZ_FORMAT, BASE, &img, err, sizeof(err)) == 0) {
        check(&img, detected);
        fwup_image_free(&img);
    } else if (!err[0] || !memchr(err, '\0', sizeof(err))) {
        fail("refusal without a reason");
    } else {
        unsigned long long bad;
        enum fwup_image_format as = FUZZ_FORMAT == FWUP_IMAGE_AUTO ? detected : FUZZ_FORMAT;
        if (image_oracle_bad_number(err, len, as, &bad))
            fail("a size in the refusal is impossible for this file (wrapped arithmetic?)");
    }
    free(p);
    return 0;
}
