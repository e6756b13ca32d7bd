/* The control socket's JSON-lines framing (lib/jsonl), shared by the
 * daemon's server and fwupctl's client: lines of any length up to a
 * maximum, CRLF where the server accepts it, stream offsets that match
 * passed descriptors to their line, receiving in place, and encoding. */
#include "jsonl.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_linebuf)
{
    struct fwup_linebuf lb;
    char *line;
    size_t len;
    fwup_linebuf_init(&lb, 16);
    ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), 0);
    ck_assert_int_eq(fwup_linebuf_feed(&lb, "a\nb", 3), 0);
    ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), 1);
    ck_assert_str_eq(line, "a");
    ck_assert_uint_eq(len, 1);
    ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), 0);
    ck_assert_int_eq(fwup_linebuf_feed(&lb, "c\n\nd\ne", 6), 0);
    ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), 1);
    ck_assert_str_eq(line, "bc");
    ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), 1);
    ck_assert_str_eq(line, "");
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), 1);
    ck_assert_str_eq(line, "d");
    ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), 0);
    /* Byte by byte: "e" + "fghijklmnopqrst" is exactly 16, the maximum. */
    const char *rest = "fghijklmnopqrst\n";
    for (const char *p = rest; *p; p++) {
        ck_assert_int_eq(fwup_linebuf_feed(&lb, p, 1), 0);
        int r = fwup_linebuf_next(&lb, &line, &len);
        ck_assert_int_eq(r, p[1] ? 0 : 1);
    }
    ck_assert_str_eq(line, "efghijklmnopqrst");
    ck_assert_uint_eq(len, 16);
    /* One byte more than the maximum, with or without its newline. */
    ck_assert_int_eq(fwup_linebuf_feed(&lb, "0123456789abcdefg", 17), 0);
    ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), -1);
    fwup_linebuf_free(&lb);

    fwup_linebuf_init(&lb, 16);
    ck_assert_int_eq(fwup_linebuf_feed(&lb, "0123456789abcdefg\n", 18), 0);
    ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), -1);
    fwup_linebuf_free(&lb);

    /* Many lines in one feed, and a buffer that must grow and compact. */
    fwup_linebuf_init(&lb, 1 << 20);
    char big[10000];
    size_t o = 0;
    for (int i = 0; i < 1000; i++)
        o += (size_t)snprintf(big + o, sizeof(big) - o, "%d\n", i);
    for (int round = 0; round < 3; round++) {
        ck_assert_int_eq(fwup_linebuf_feed(&lb, big, o), 0);
        for (int i = 0; i < 1000; i++) {
            ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), 1);
            ck_assert_int_eq(atoi(line), i);
        }
        ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), 0);
    }
    fwup_linebuf_free(&lb);
}
END_TEST

/* The server's lines may end in CRLF; the '\r' does not count. */
START_TEST(test_linebuf_crlf)
{
    struct fwup_linebuf lb;
    char *line;
    size_t len;
    fwup_linebuf_init(&lb, 4);
    lb.crlf = 1;
    ck_assert_int_eq(fwup_linebuf_feed(&lb, "ab\r\nabcd\r", 9), 0);
    ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), 1);
    ck_assert_str_eq(line, "ab");
    ck_assert_uint_eq(len, 2);
    /* max bytes and a '\r' may still be a line of max bytes */
    ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), 0);
    ck_assert_int_eq(fwup_linebuf_feed(&lb, "\n\r\n", 3), 0);
    ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), 1);
    ck_assert_str_eq(line, "abcd");
    ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), 1); /* an empty line */
    ck_assert_uint_eq(len, 0);
    /* max + 1 pending may be max and a '\r'; max + 2 cannot */
    ck_assert_int_eq(fwup_linebuf_feed(&lb, "abcde", 5), 0);
    ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), 0);
    ck_assert_int_eq(fwup_linebuf_feed(&lb, "f", 1), 0);
    ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), -1);
    fwup_linebuf_free(&lb);

    /* complete: max + 1 bytes before the CRLF are too long */
    fwup_linebuf_init(&lb, 4);
    lb.crlf = 1;
    ck_assert_int_eq(fwup_linebuf_feed(&lb, "abcde\r\n", 7), 0);
    ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), -1);
    fwup_linebuf_free(&lb);

    /* without crlf a '\r' is part of the line (and counts) */
    fwup_linebuf_init(&lb, 4);
    ck_assert_int_eq(fwup_linebuf_feed(&lb, "abc\r\nabcd\r\n", 11), 0);
    ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), 1);
    ck_assert_str_eq(line, "abc\r");
    ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), -1);
    fwup_linebuf_free(&lb);
}
END_TEST

/* Offsets count the stream's bytes across compaction, rewinding and
 * trimming: a line's '\n' is at offset() - 1. */
START_TEST(test_linebuf_offsets)
{
    struct fwup_linebuf lb;
    char *line;
    size_t len, room;
    fwup_linebuf_init(&lb, 100);
    ck_assert_uint_eq(fwup_linebuf_offset(&lb), 0);
    ck_assert_int_eq(fwup_linebuf_feed(&lb, "a\nbc\nde", 7), 0);
    ck_assert_uint_eq(fwup_linebuf_end(&lb), 7);
    ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), 1);
    ck_assert_uint_eq(fwup_linebuf_offset(&lb), 2);
    ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), 1);
    ck_assert_uint_eq(fwup_linebuf_offset(&lb), 5);
    /* space() moves "de" to the front: offsets stay */
    char *to = fwup_linebuf_space(&lb, 16, &room);
    ck_assert_ptr_nonnull(to);
    ck_assert_uint_ge(room, 16);
    ck_assert_ptr_eq(to, lb.buf + 2);
    ck_assert_uint_eq(fwup_linebuf_offset(&lb), 5);
    ck_assert_uint_eq(fwup_linebuf_end(&lb), 7);
    memcpy(to, "f\ng\n", 4);
    fwup_linebuf_commit(&lb, 4);
    ck_assert_uint_eq(fwup_linebuf_end(&lb), 11);
    ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), 1);
    ck_assert_str_eq(line, "def");
    ck_assert_uint_eq(fwup_linebuf_offset(&lb), 9);
    ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), 1);
    ck_assert_uint_eq(fwup_linebuf_offset(&lb), 11);
    /* all returned: trimming frees the buffer, offsets go on */
    fwup_linebuf_trim(&lb, 0);
    ck_assert_ptr_null(lb.buf);
    ck_assert_uint_eq(fwup_linebuf_offset(&lb), 11);
    ck_assert_int_eq(fwup_linebuf_feed(&lb, "h\n", 2), 0);
    ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), 1);
    ck_assert_str_eq(line, "h");
    ck_assert_uint_eq(fwup_linebuf_offset(&lb), 13);
    fwup_linebuf_free(&lb);
}
END_TEST

/* Receiving in place grows the buffer to exactly what is asked, and only
 * when the free room is short; trim keeps a buffer up to `keep`. */
START_TEST(test_linebuf_space)
{
    struct fwup_linebuf lb;
    char *line;
    size_t len, room;
    fwup_linebuf_init(&lb, 1000);
    ck_assert_uint_eq(fwup_linebuf_space_cap(&lb, 64), 64);
    ck_assert_ptr_nonnull(fwup_linebuf_space(&lb, 64, &room));
    ck_assert_uint_eq(lb.cap, 64);
    ck_assert_uint_eq(room, 64);
    fwup_linebuf_commit(&lb, 64);
    memset(lb.buf, 'x', 64);
    /* 64 pending: 64 more free need a buffer of 128, then nothing more */
    ck_assert_uint_eq(fwup_linebuf_space_cap(&lb, 64), 128);
    ck_assert_ptr_nonnull(fwup_linebuf_space(&lb, 64, &room));
    ck_assert_uint_eq(lb.cap, 128);
    ck_assert_uint_eq(room, 64);
    fwup_linebuf_commit(&lb, 1);
    lb.buf[64] = '\n';
    ck_assert_uint_eq(fwup_linebuf_space_cap(&lb, 63), 128);
    ck_assert_uint_eq(fwup_linebuf_space_cap(&lb, 64), 129);
    ck_assert_int_eq(fwup_linebuf_next(&lb, &line, &len), 1);
    ck_assert_uint_eq(len, 64);
    /* a buffer within keep stays, a larger one goes */
    fwup_linebuf_trim(&lb, 128);
    ck_assert_ptr_nonnull(lb.buf);
    ck_assert_uint_eq(lb.cap, 128);
    fwup_linebuf_trim(&lb, 127);
    ck_assert_ptr_null(lb.buf);
    ck_assert_uint_eq(lb.cap, 0);
    /* pending bytes keep their buffer */
    ck_assert_int_eq(fwup_linebuf_feed(&lb, "pending", 7), 0);
    fwup_linebuf_trim(&lb, 0);
    ck_assert_ptr_nonnull(lb.buf);
    fwup_linebuf_free(&lb);
}
END_TEST

START_TEST(test_encode)
{
    json_t *m = json_pack("{s:i, s:s}", "id", 7, "method", "jobs.list");
    size_t len = 0;
    char *line = fwup_jsonl_encode(m, &len);
    ck_assert_ptr_nonnull(line);
    ck_assert_str_eq(line, "{\"id\":7,\"method\":\"jobs.list\"}\n");
    ck_assert_uint_eq(len, strlen(line));
    free(line);
    json_decref(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jsonl");
    TCase *t = tcase_create("lines");
    tcase_add_test(t, test_linebuf);
    tcase_add_test(t, test_linebuf_crlf);
    tcase_add_test(t, test_linebuf_offsets);
    tcase_add_test(t, test_linebuf_space);
    tcase_add_test(t, test_encode);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
