/* The option reader shared by the protocol engines and the daemon. */
#include <check.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/options.h"

static const struct fwup_option_desc descs[] = {
    {"n", FWUP_OPT_INT, "0x10", NULL, 1, 100, ""},
    {"b", FWUP_OPT_BOOL, "no", NULL, 0, 0, ""},
    {"e", FWUP_OPT_ENUM, "two", "one|two|three", 0, 0, ""},
    {"opt", FWUP_OPT_INT, NULL, NULL, 0, 5, ""},
    {"s", FWUP_OPT_STRING, NULL, NULL, 0, 0, ""},
};
#define NDESCS (sizeof(descs) / sizeof(descs[0]))

static struct fwup_option given[4];
static struct fwup_job_params params;
static char err[128];

static void set(size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        given[i].name = va_arg(ap, const char *);
        given[i].value = va_arg(ap, const char *);
    }
    va_end(ap);
    params = (struct fwup_job_params){.options = given, .noptions = n};
    err[0] = '\0';
}

START_TEST(test_defaults)
{
    struct fwup_opts r;
    int64_t v = -1;
    int b = -1;
    set(0);
    ck_assert_int_eq(fwup_opts_init(&r, "t", descs, NDESCS, &params, err, sizeof(err)), 0);
    ck_assert_int_eq(fwup_opt_int(&r, "n", &v), 0);
    ck_assert_int_eq(v, 16);
    ck_assert_int_eq(fwup_opt_bool(&r, "b", &b), 0);
    ck_assert_int_eq(b, 0);
    ck_assert_int_eq(fwup_opt_enum(&r, "e"), 1);
    v = 42;
    ck_assert_int_eq(fwup_opt_int(&r, "opt", &v), 1); /* no default: untouched */
    ck_assert_int_eq(v, 42);
    ck_assert_ptr_null(fwup_opt_value(&r, "s"));
}
END_TEST

START_TEST(test_given)
{
    struct fwup_opts r;
    int64_t v;
    int b;
    /* the last of repeated options wins */
    set(4, "n", "7", "b", "On", "e", "three", "n", "010");
    ck_assert_int_eq(fwup_opts_init(&r, "t", descs, NDESCS, &params, err, sizeof(err)), 0);
    ck_assert_int_eq(fwup_opt_int(&r, "n", &v), 0);
    ck_assert_int_eq(v, 8); /* strtoll base 0: octal */
    ck_assert_int_eq(fwup_opt_bool(&r, "b", &b), 0);
    ck_assert_int_eq(b, 1);
    ck_assert_int_eq(fwup_opt_enum(&r, "e"), 2);
}
END_TEST

START_TEST(test_bad)
{
    struct fwup_opts r;
    int64_t v;
    int b;
    set(1, "nosuch", "1");
    ck_assert_int_eq(fwup_opts_init(&r, "t", descs, NDESCS, &params, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "t: bad option nosuch=1");
    set(1, "n", NULL);
    ck_assert_int_eq(fwup_opts_init(&r, "t", descs, NDESCS, &params, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "t: bad option n=(null)");

    set(3, "n", "101", "b", "maybe", "e", "One");
    ck_assert_int_eq(fwup_opts_init(&r, "t", descs, NDESCS, &params, err, sizeof(err)), 0);
    ck_assert_int_eq(fwup_opt_int(&r, "n", &v), -1);
    ck_assert_str_eq(err, "t: bad option n=101");
    ck_assert_int_eq(fwup_opt_bool(&r, "b", &b), -1);
    ck_assert_str_eq(err, "t: bad option b=maybe");
    ck_assert_int_eq(fwup_opt_enum(&r, "e"), -1);
    ck_assert_str_eq(err, "t: bad option e=One");
    set(1, "n", "12x");
    ck_assert_int_eq(fwup_opts_init(&r, "t", descs, NDESCS, &params, err, sizeof(err)), 0);
    ck_assert_int_eq(fwup_opt_int(&r, "n", &v), -1);
}
END_TEST

START_TEST(test_check)
{
    static const char *const yes[] = {"true", "false", "yes", "no",   "1",
                                      "0",    "on",    "off", "TRUE", "No"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        ck_assert_msg(fwup_opt_check(&descs[1], yes[i], err, sizeof(err)) == 0, "%s", yes[i]);
    ck_assert_int_eq(fwup_opt_check(&descs[1], "2", err, sizeof(err)), -1);
    ck_assert_str_eq(err, "option 'b' must be true or false, not '2'");
    ck_assert_int_eq(fwup_opt_check(&descs[0], "0x64", err, sizeof(err)), 0);
    ck_assert_int_eq(fwup_opt_check(&descs[0], "ten", err, sizeof(err)), -1);
    ck_assert_str_eq(err, "option 'n' must be an integer, not 'ten'");
    ck_assert_int_eq(fwup_opt_check(&descs[0], "0", err, sizeof(err)), -1);
    ck_assert_str_eq(err, "option 'n' = 0 is outside 1..100");
    ck_assert_int_eq(fwup_opt_check(&descs[2], "three", err, sizeof(err)), 0);
    ck_assert_int_eq(fwup_opt_check(&descs[2], "tw", err, sizeof(err)), -1);
    ck_assert_str_eq(err, "option 'e' must be one of one|two|three, not 'tw'");
    ck_assert_int_eq(fwup_opt_check(&descs[4], "anything", err, sizeof(err)), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proto_options");
    TCase *t = tcase_create("options");
    tcase_add_test(t, test_defaults);
    tcase_add_test(t, test_given);
    tcase_add_test(t, test_bad);
    tcase_add_test(t, test_check);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
