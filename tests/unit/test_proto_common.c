/*
 * The helpers every engine shares (protocols/common): the image walker at
 * the edges of its windows and segments, and the CRC-16 both XMODEM and
 * PIC32CX-BZ use, against independent bitwise references.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <fwupgw/protocol.h>

#include "common/crc16.h"
#include "common/image.h"

/* Segments as a newer host may lay them out: with a field the engines do
 * not know after each, so they must step by segment_size. */
struct wide_segment {
    struct fwup_segment s;
    uint64_t later_field;
};

struct test_image {
    struct wide_segment seg[8];
    struct fwup_image img;
    uint8_t bytes[0x400];
};

/* Segments given as (address, length) pairs; segment i's bytes are
 * (address + offset) ^ (0x5A + i), so every copied byte tells where it came
 * from. */
static void image_init(struct test_image *t, size_t n, const uint32_t (*ranges)[2])
{
    memset(t, 0, sizeof(*t));
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t *d = t->bytes + used;
        for (uint32_t k = 0; k < ranges[i][1]; k++)
            d[k] = (uint8_t)((ranges[i][0] + k) ^ (0x5A + i));
        used += ranges[i][1];
        ck_assert_uint_le(used, sizeof(t->bytes));
        t->seg[i].s = (struct fwup_segment){ranges[i][0], ranges[i][1], d, -1};
        t->seg[i].later_field = 0xdeadbeef;
        t->img.total += ranges[i][1];
    }
    t->img.struct_size = sizeof(t->img);
    t->img.segment_size = sizeof(struct wide_segment);
    t->img.segments = &t->seg[0].s;
    t->img.nsegments = n;
}

/* The byte at `addr`, by looking at every segment: -1 if none has it. */
static int ref_byte(const struct test_image *t, uint64_t addr)
{
    for (size_t i = 0; i < t->img.nsegments; i++) {
        const struct fwup_segment *s = &t->seg[i].s;
        if (addr >= s->address && addr < (uint64_t)s->address + s->len)
            return s->data[addr - s->address];
    }
    return -1;
}

/* Every window [lo, lo+len) with lo in [from, to) and len up to maxlen:
 * fwup_image_copy against the reference, byte for byte, and the count of
 * image bytes; nothing written past the window. */
static void check_all_windows(const struct test_image *t, uint64_t from, uint64_t to, size_t maxlen)
{
    int ref[0x400];
    uint8_t out[0x100 + 1], want[0x100];
    ck_assert_uint_le(to - from + maxlen, sizeof(ref) / sizeof(ref[0]));
    ck_assert_uint_lt(maxlen, sizeof(want));
    for (uint64_t a = from; a < to + maxlen; a++)
        ref[a - from] = ref_byte(t, a);
    for (uint64_t lo = from; lo < to; lo++) {
        for (size_t len = 0; len <= maxlen; len++) {
            uint64_t want_n = 0;
            for (size_t k = 0; k < len; k++) {
                int b = ref[lo - from + k];
                want[k] = (uint8_t)(b >= 0 ? b : 0xC3);
                want_n += b >= 0;
            }
            memset(out, 0xEE, sizeof(out));
            uint64_t n = fwup_image_copy(&t->img, lo, len, 0xC3, out);
            ck_assert_msg(n == want_n && memcmp(out, want, len) == 0 && out[len] == 0xEE,
                          "window 0x%llx+%zu: %llu image bytes (want %llu), contents %s",
                          (unsigned long long)lo, len, (unsigned long long)n,
                          (unsigned long long)want_n,
                          memcmp(out, want, len) ? "differ" : "as expected");
        }
    }
}

static const uint32_t gaps[][2] = {
    {0x100, 0x10}, /* A */
    {0x110, 0},    /* empty, right at A's end */
    {0x120, 0x10}, /* B, after a 16-byte gap */
    {0x130, 0x08}, /* C, touching B */
    {0x180, 0},    /* empty, alone in a gap */
    {0x1F0, 0x20}, /* D */
};

START_TEST(test_walk_every_window)
{
    struct test_image t;
    image_init(&t, 6, gaps);
    /* windows that start before, at, inside and after every segment edge,
     * and end likewise */
    check_all_windows(&t, 0xE0, 0x220, 0x48);
}
END_TEST

START_TEST(test_walk_edges)
{
    struct test_image t;
    uint8_t out[0x40];
    image_init(&t, 6, gaps);
    /* ending exactly where A starts: nothing of it */
    ck_assert_uint_eq(fwup_image_copy(&t.img, 0xF0, 0x10, 0xFF, out), 0);
    /* starting exactly at A's end: the gap, then 4 bytes of B */
    ck_assert_uint_eq(fwup_image_copy(&t.img, 0x110, 0x14, 0xFF, out), 4);
    ck_assert_uint_eq(out[0], 0xFF);
    ck_assert_uint_eq(out[0xF], 0xFF);
    ck_assert_uint_eq(out[0x10], (uint8_t)(0x120 ^ (0x5A + 2)));
    /* inside A on both sides */
    ck_assert_uint_eq(fwup_image_copy(&t.img, 0x104, 8, 0xFF, out), 8);
    ck_assert_uint_eq(out[0], (uint8_t)(0x104 ^ 0x5A));
    /* across B and C, which touch: no fill between them */
    ck_assert_uint_eq(fwup_image_copy(&t.img, 0x12F, 2, 0xFF, out), 2);
    ck_assert_uint_eq(out[0], (uint8_t)(0x12F ^ (0x5A + 2)));
    ck_assert_uint_eq(out[1], (uint8_t)(0x130 ^ (0x5A + 3)));
    /* after the last byte, and an empty window */
    ck_assert_uint_eq(fwup_image_copy(&t.img, 0x210, 0x10, 0xFF, out), 0);
    ck_assert_uint_eq(fwup_image_copy(&t.img, 0x100, 0, 0xFF, out), 0);
}
END_TEST

/* A segment straddling the window's start behind empty segments that sort
 * after it: the walker must step back over them to find it. */
START_TEST(test_walk_straddle_behind_empty)
{
    static const uint32_t r[][2] = {{0x100, 0x100}, {0x140, 0}, {0x180, 0}, {0x200, 0x10}};
    struct test_image t;
    uint8_t out[0x20];
    image_init(&t, 4, r);
    ck_assert_uint_eq(fwup_image_copy(&t.img, 0x1F8, 0x10, 0xFF, out), 0x10);
    ck_assert_uint_eq(out[0], (uint8_t)(0x1F8 ^ 0x5A));
    ck_assert_uint_eq(out[8], (uint8_t)(0x200 ^ (0x5A + 3)));
    check_all_windows(&t, 0xF8, 0x218, 0x30);
}
END_TEST

START_TEST(test_walk_runs_and_span)
{
    struct test_image t;
    struct fwup_image_walk w;
    struct fwup_image_run run;
    uint64_t first, end, base, len;
    image_init(&t, 6, gaps);
    /* runs come clipped to the window, empty segments skipped */
    fwup_image_walk_init(&w, &t.img, 0x108, 0x1F4);
    ck_assert_int_eq(fwup_image_walk_next(&w, &run), 1);
    ck_assert_uint_eq(run.addr, 0x108);
    ck_assert_uint_eq(run.len, 8);
    ck_assert_ptr_eq(run.data, t.seg[0].s.data + 8);
    ck_assert_int_eq(fwup_image_walk_next(&w, &run), 1);
    ck_assert_uint_eq(run.addr, 0x120);
    ck_assert_int_eq(fwup_image_walk_next(&w, &run), 1);
    ck_assert_uint_eq(run.addr, 0x130);
    ck_assert_uint_eq(run.len, 8);
    ck_assert_int_eq(fwup_image_walk_next(&w, &run), 1);
    ck_assert_uint_eq(run.addr, 0x1F0);
    ck_assert_uint_eq(run.len, 4);
    ck_assert_int_eq(fwup_image_walk_next(&w, &run), 0);
    ck_assert_int_eq(fwup_image_walk_next(&w, &run), 0);

    ck_assert_int_eq(fwup_image_span(&t.img, 0x110, 0x120, &first, &end), -1);
    ck_assert_int_eq(fwup_image_span(&t.img, 0x10F, 0x125, &first, &end), 0);
    ck_assert_uint_eq(first, 0x10F);
    ck_assert_uint_eq(end, 0x125);
    ck_assert_int_eq(fwup_image_span(&t.img, 0x111, 0x1000, &first, &end), 0);
    ck_assert_uint_eq(first, 0x120);
    ck_assert_uint_eq(end, 0x210);
    ck_assert_int_eq(fwup_image_extent(&t.img, &base, &len), 0);
    ck_assert_uint_eq(base, 0x100);
    ck_assert_uint_eq(len, 0x110);
}
END_TEST

START_TEST(test_walk_empty_images)
{
    static const uint32_t only_empty[][2] = {{0x100, 0}, {0x200, 0}};
    struct test_image t;
    uint64_t base, len;
    uint8_t out[8];
    image_init(&t, 2, only_empty);
    ck_assert_int_eq(fwup_image_extent(&t.img, &base, &len), -1);
    ck_assert_uint_eq(fwup_image_copy(&t.img, 0xFC, 8, 0x11, out), 0);
    ck_assert_uint_eq(out[7], 0x11);
    image_init(&t, 0, NULL);
    ck_assert_int_eq(fwup_image_extent(&t.img, &base, &len), -1);
    ck_assert_int_eq(fwup_image_extent(NULL, &base, &len), -1);
    /* the top of the 32-bit space */
    static const uint32_t top[][2] = {{0xFFFFFFF0u, 0x10}};
    image_init(&t, 1, top);
    ck_assert_int_eq(fwup_image_extent(&t.img, &base, &len), 0);
    ck_assert_uint_eq(base + len, FWUP_IMAGE_END);
    ck_assert_uint_eq(fwup_image_copy(&t.img, 0xFFFFFFFCu, 8, 0x11, out), 4);
    ck_assert_uint_eq(out[4], 0x11);
}
END_TEST

/* ---- CRC-16 ---- */

static uint16_t crc16_bitwise(uint16_t crc, const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(d[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

START_TEST(test_crc16)
{
    const uint8_t *s = (const uint8_t *)"123456789";
    ck_assert_uint_eq(fwup_crc16_ccitt(FWUP_CRC16_XMODEM_INIT, s, 9), 0x31C3);
    ck_assert_uint_eq(fwup_crc16_ccitt(FWUP_CRC16_CCITT_FALSE_INIT, s, 9), 0x29B1);
    ck_assert_uint_eq(fwup_crc16_ccitt(0x1D0F, s, 0), 0x1D0F);
    /* in pieces as in one go */
    ck_assert_uint_eq(fwup_crc16_ccitt(fwup_crc16_ccitt(0xFFFF, s, 4), s + 4, 5), 0x29B1);
    uint8_t buf[1024];
    uint32_t x = 1;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    for (size_t n = 0; n <= sizeof(buf); n += 97) {
        ck_assert_uint_eq(fwup_crc16_ccitt(0, buf, n), crc16_bitwise(0, buf, n));
        ck_assert_uint_eq(fwup_crc16_ccitt(0xFFFF, buf, n), crc16_bitwise(0xFFFF, buf, n));
    }
    /* From 0, one byte's CRC is one table entry, and the CRC is linear: the
     * XOR of those of its bits, x^(16+k) mod 0x11021 for bit k. So every
     * entry is checked against the polynomial. */
    static const uint16_t bit[8] = {0x1021, 0x2042, 0x4084, 0x8108, 0x1231, 0x2462, 0x48c4, 0x9188};
    for (unsigned b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        uint16_t want = 0;
        for (int k = 0; k < 8; k++)
            if (b & 1u << k)
                want ^= bit[k];
        ck_assert_msg(fwup_crc16_ccitt(0, &byte, 1) == want, "byte 0x%02x: 0x%04x, want 0x%04x", b,
                      fwup_crc16_ccitt(0, &byte, 1), want);
    }
}
END_TEST

static Suite *common_suite(void)
{
    Suite *s = suite_create("proto_common");
    TCase *t = tcase_create("image");
    tcase_add_test(t, test_walk_every_window);
    tcase_add_test(t, test_walk_edges);
    tcase_add_test(t, test_walk_straddle_behind_empty);
    tcase_add_test(t, test_walk_runs_and_span);
    tcase_add_test(t, test_walk_empty_images);
    suite_add_tcase(s, t);
    t = tcase_create("crc16");
    tcase_add_test(t, test_crc16);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(common_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
