/*
 * Resource claims (daemon/sched/claims.c): who may run beside whom on a port or a
 * CAN bus, per-bus caps, exclusive protocols, release and reuse.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "claims.h"

#define ALL (FWUP_CAN_EFF | FWUP_CAN_RTR | FWUP_CAN_EFF_MASK)
#define STD (FWUP_CAN_EFF | FWUP_CAN_RTR | FWUP_CAN_SFF_MASK)

static struct fwup_claims *c;
static char why[160];

static void setup(void)
{
    c = fwup_claims_new();
    ck_assert_ptr_nonnull(c);
    why[0] = 0;
}

static void teardown(void)
{
    fwup_claims_free(c);
}

static int port(uint64_t owner, const char *key)
{
    struct fwup_claim_req r = {.kind = FWUP_CLAIM_PORT, .key = key};
    return fwup_claims_take(c, &r, owner, why, sizeof(why));
}

static int bus(uint64_t owner, const char *key, const struct fwup_can_filter *f, size_t n,
               int exclusive, unsigned cap)
{
    struct fwup_claim_req r = {FWUP_CLAIM_BUS, key, f, n, exclusive, cap};
    return fwup_claims_take(c, &r, owner, why, sizeof(why));
}

START_TEST(test_port_one_holder)
{
    ck_assert_int_eq(port(1, "/dev/ttyUSB0"), 0);
    ck_assert_int_eq(port(2, "/dev/ttyUSB0"), 1);
    ck_assert_ptr_nonnull(strstr(why, "/dev/ttyUSB0"));
    ck_assert_ptr_nonnull(strstr(why, "job 1"));
    /* Another port is free meanwhile. */
    ck_assert_int_eq(port(2, "/dev/ttyUSB1"), 0);
    ck_assert_uint_eq(fwup_claims_count(c, "/dev/ttyUSB0"), 1);
    fwup_claims_release(c, 1);
    ck_assert_uint_eq(fwup_claims_count(c, "/dev/ttyUSB0"), 0);
    ck_assert_int_eq(port(3, "/dev/ttyUSB0"), 0);
    /* Releasing an owner that holds nothing changes nothing. */
    fwup_claims_release(c, 99);
    ck_assert_uint_eq(fwup_claims_count(c, "/dev/ttyUSB0"), 1);
    ck_assert_uint_eq(fwup_claims_count(c, "/dev/ttyUSB1"), 1);
}
END_TEST

START_TEST(test_usb_port_path_kept)
{
    /* The port path is the key, whatever the device enumerates as. */
    ck_assert_int_eq(port(1, "usb:1-1.4"), 0);
    ck_assert_int_eq(port(2, "usb:1-1.4"), 1);
    ck_assert_int_eq(port(2, "usb:1-1.3"), 0);
}
END_TEST

START_TEST(test_bus_disjoint_ids_share)
{
    struct fwup_can_filter ecu1 = {0x7E8, STD}, ecu2 = {0x7E9, STD}, ecu1b = {0x7E8, STD};
    ck_assert_int_eq(bus(1, "can0", &ecu1, 1, 0, 0), 0);
    ck_assert_int_eq(bus(2, "can0", &ecu2, 1, 0, 0), 0);
    ck_assert_int_eq(bus(3, "can0", &ecu1b, 1, 0, 0), 1);
    ck_assert_ptr_nonnull(strstr(why, "overlapping"));
    ck_assert_ptr_nonnull(strstr(why, "job 1"));
    /* The same ids on another bus are another resource. */
    ck_assert_int_eq(bus(3, "can1", &ecu1b, 1, 0, 0), 0);
    ck_assert_uint_eq(fwup_claims_count(c, "can0"), 2);
}
END_TEST

START_TEST(test_bus_exclusive)
{
    struct fwup_can_filter a = {0x79, STD}, b = {0x7E8, STD};
    /* An exclusive protocol waits for a bus in use... */
    ck_assert_int_eq(bus(1, "can0", &b, 1, 0, 0), 0);
    ck_assert_int_eq(bus(2, "can0", &a, 1, 1, 0), 1);
    ck_assert_ptr_nonnull(strstr(why, "whole bus"));
    fwup_claims_release(c, 1);
    /* ...and once it holds it, nobody joins, whatever their ids. */
    ck_assert_int_eq(bus(2, "can0", &a, 1, 1, 0), 0);
    ck_assert_int_eq(bus(3, "can0", &b, 1, 0, 0), 1);
    ck_assert_ptr_nonnull(strstr(why, "exclusive"));
    ck_assert_int_eq(bus(4, "can1", &b, 1, 0, 0), 0);
}
END_TEST

START_TEST(test_bus_no_ids_is_whole_bus)
{
    struct fwup_can_filter a = {0x100, STD};
    ck_assert_int_eq(bus(1, "can0", NULL, 0, 0, 0), 0);
    ck_assert_int_eq(bus(2, "can0", &a, 1, 0, 0), 1);
    fwup_claims_release(c, 1);
    ck_assert_int_eq(bus(2, "can0", &a, 1, 0, 0), 0);
    ck_assert_int_eq(bus(3, "can0", NULL, 0, 0, 0), 1);
}
END_TEST

START_TEST(test_bus_cap)
{
    struct fwup_can_filter f[4] = {{0x100, STD}, {0x101, STD}, {0x102, STD}, {0x103, STD}};
    ck_assert_int_eq(bus(1, "can0", &f[0], 1, 0, 3), 0);
    ck_assert_int_eq(bus(2, "can0", &f[1], 1, 0, 3), 0);
    ck_assert_int_eq(bus(3, "can0", &f[2], 1, 0, 3), 0); /* exactly the cap */
    ck_assert_int_eq(bus(4, "can0", &f[3], 1, 0, 3), 1); /* one more */
    ck_assert_ptr_nonnull(strstr(why, "limit"));
    fwup_claims_release(c, 2);
    ck_assert_int_eq(bus(4, "can0", &f[3], 1, 0, 3), 0);
    ck_assert_uint_eq(fwup_claims_count(c, "can0"), 3);
}
END_TEST

START_TEST(test_bus_closed)
{
    struct fwup_can_filter a = {0x100, STD}, b = {0x101, STD};
    /* Open while nothing, or only jobs with ids, hold it below its cap. */
    ck_assert_int_eq(fwup_claims_bus_closed(c, "can0", 2, why, sizeof(why)), 0);
    ck_assert_int_eq(bus(1, "can0", &a, 1, 0, 2), 0);
    ck_assert_int_eq(fwup_claims_bus_closed(c, "can0", 2, why, sizeof(why)), 0);
    /* Closed at the cap, and not on another bus or without a cap. */
    ck_assert_int_eq(bus(2, "can0", &b, 1, 0, 2), 0);
    ck_assert_int_eq(fwup_claims_bus_closed(c, "can0", 2, why, sizeof(why)), 1);
    ck_assert_ptr_nonnull(strstr(why, "2 jobs running, its limit"));
    ck_assert_int_eq(fwup_claims_bus_closed(c, "can0", 0, why, sizeof(why)), 0);
    ck_assert_int_eq(fwup_claims_bus_closed(c, "can1", 2, why, sizeof(why)), 0);
    fwup_claims_release(c, 1);
    fwup_claims_release(c, 2);
    /* Closed while one job holds it whole: exclusive, or with no ids. */
    ck_assert_int_eq(bus(3, "can0", &a, 1, 1, 0), 0);
    ck_assert_int_eq(fwup_claims_bus_closed(c, "can0", 0, why, sizeof(why)), 1);
    ck_assert_str_eq(why, "bus can0: held whole (exclusive protocol) by job 3");
    fwup_claims_release(c, 3);
    ck_assert_int_eq(bus(4, "can0", NULL, 0, 0, 0), 0);
    ck_assert_int_eq(fwup_claims_bus_closed(c, "can0", 0, why, sizeof(why)), 1);
    ck_assert_str_eq(why, "bus can0: held whole (no CAN ids declared) by job 4");
    fwup_claims_release(c, 4);
    ck_assert_int_eq(port(5, "can0"), 0);
    ck_assert_int_eq(fwup_claims_bus_closed(c, "can0", 0, why, sizeof(why)), 1);
    ck_assert_ptr_nonnull(strstr(why, "another kind"));
}
END_TEST

START_TEST(test_kind_mismatch_and_malformed)
{
    ck_assert_int_eq(port(1, "can0"), 0);
    struct fwup_can_filter a = {0x100, STD};
    ck_assert_int_eq(bus(2, "can0", &a, 1, 0, 0), 1);
    ck_assert_int_eq(port(3, ""), -1);
    ck_assert_int_eq(bus(3, "can1", NULL, 2, 0, 0), -1);
    /* One claim per owner. */
    ck_assert_int_eq(port(1, "/dev/ttyS0"), -1);
    ck_assert_uint_eq(fwup_claims_count(c, "/dev/ttyS0"), 0);
}
END_TEST

START_TEST(test_filter_overlap_rules)
{
    const struct fwup_can_filter e7e8 = {0x7E8, STD}, range = {0x7E0, 0x7F0 | FWUP_CAN_EFF},
                                 ext7e8 = {0x7E8 | FWUP_CAN_EFF, ALL}, any = {0, 0};
    /* A range holds the single id inside it, not the one outside. */
    ck_assert(fwup_filters_overlap(&e7e8, 1, &range, 1));
    const struct fwup_can_filter e7f0 = {0x7F0, STD};
    ck_assert(!fwup_filters_overlap(&e7f0, 1, &range, 1));
    /* Standard 0x7E8 and extended 0x7E8 are different frames. */
    ck_assert(!fwup_filters_overlap(&e7e8, 1, &ext7e8, 1));
    /* A zero mask matches everything; so does an empty set. */
    ck_assert(fwup_filters_overlap(&any, 1, &ext7e8, 1));
    ck_assert(fwup_filters_overlap(NULL, 0, &e7e8, 1));
    /* Sets overlap when any pair does, in either order. */
    const struct fwup_can_filter set[2] = {{0x100, STD}, {0x7E8, STD}};
    ck_assert(fwup_filters_overlap(set, 2, &e7e8, 1));
    ck_assert(fwup_filters_overlap(&e7e8, 1, set, 2));
    ck_assert(!fwup_filters_overlap(set, 1, &e7e8, 1));
}
END_TEST

START_TEST(test_many_holders)
{
    /* Growth past the initial table, then release in a scattered order. */
    char key[32];
    for (uint64_t i = 1; i <= 100; i++) {
        snprintf(key, sizeof(key), "/dev/ttyS%u", (unsigned)i);
        ck_assert_int_eq(port(i, key), 0);
    }
    for (uint64_t i = 1; i <= 100; i += 3)
        fwup_claims_release(c, i);
    for (uint64_t i = 1; i <= 100; i++) {
        snprintf(key, sizeof(key), "/dev/ttyS%u", (unsigned)i);
        ck_assert_uint_eq(fwup_claims_count(c, key), (i - 1) % 3 ? 1u : 0u);
        ck_assert_int_eq(port(1000 + i, key), (i - 1) % 3 ? 1 : 0);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("claims");
    TCase *t = tcase_create("claims");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_port_one_holder);
    tcase_add_test(t, test_usb_port_path_kept);
    tcase_add_test(t, test_bus_disjoint_ids_share);
    tcase_add_test(t, test_bus_exclusive);
    tcase_add_test(t, test_bus_no_ids_is_whole_bus);
    tcase_add_test(t, test_bus_cap);
    tcase_add_test(t, test_bus_closed);
    tcase_add_test(t, test_kind_mismatch_and_malformed);
    tcase_add_test(t, test_filter_overlap_rules);
    tcase_add_test(t, test_many_holders);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
