/*
 * The wire rules of ABI 3's link types (include/fwupgw/link.h) that engines
 * and hosts must agree on: CAN length codes and frame validity, receive
 * filters, the USB setup packet and the DFU functional descriptor. Expected
 * values come from the specifications (ISO 11898-1 DLC table, USB 2.0 §9.3,
 * DFU 1.1 §4.1.3), not from the code under test.
 */
#include <check.h>
#include <string.h>

#include <fwupgw/protocol.h>

/* ISO 11898-1:2015 Table 5, CAN FD payload bytes per DLC. */
static const uint8_t fd_table[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64};

START_TEST(test_dlc_to_len)
{
    for (unsigned dlc = 0; dlc < 16; dlc++) {
        ck_assert_uint_eq(fwup_can_dlc_to_len((uint8_t)dlc, 1), fd_table[dlc]);
        /* Classic CAN: DLC 9..15 still mean 8 bytes. */
        ck_assert_uint_eq(fwup_can_dlc_to_len((uint8_t)dlc, 0), dlc > 8 ? 8 : dlc);
    }
    /* Only the low nibble is a DLC. */
    ck_assert_uint_eq(fwup_can_dlc_to_len(0x1F, 1), 64);
}
END_TEST

START_TEST(test_len_to_dlc)
{
    /* Every length 0..65 maps to the smallest DLC holding it, for FD. */
    for (size_t len = 0; len <= 65; len++) {
        uint8_t want = 0xFF;
        for (unsigned dlc = 0; dlc < 16; dlc++)
            if (fd_table[dlc] >= len) {
                want = (uint8_t)dlc;
                break;
            }
        ck_assert_uint_eq(fwup_can_len_to_dlc(len, 1), want);
        ck_assert_uint_eq(fwup_can_len_to_dlc(len, 0), len <= 8 ? (uint8_t)len : 0xFF);
    }
}
END_TEST

static struct fwup_can_frame frame(uint32_t id, uint8_t len, uint8_t flags)
{
    struct fwup_can_frame f;
    memset(&f, 0, sizeof(f));
    f.id = id, f.len = len, f.flags = flags;
    return f;
}

#define VALID(...)                                                                                 \
    do {                                                                                           \
        struct fwup_can_frame f_ = frame(__VA_ARGS__);                                             \
        ck_assert_ptr_null(fwup_can_frame_invalid(&f_));                                           \
    } while (0)
#define INVALID(...)                                                                               \
    do {                                                                                           \
        struct fwup_can_frame f_ = frame(__VA_ARGS__);                                             \
        ck_assert_ptr_nonnull(fwup_can_frame_invalid(&f_));                                        \
    } while (0)

START_TEST(test_frame_ids)
{
    VALID(0x000, 0, 0);
    VALID(0x7FF, 8, 0);                /* largest standard id */
    INVALID(0x800, 8, 0);              /* 12 bits without EFF */
    VALID(0x800 | FWUP_CAN_EFF, 8, 0); /* the same as an extended id */
    VALID(0x1FFFFFFF | FWUP_CAN_EFF, 8, 0);
    INVALID(0x20000000 | FWUP_CAN_EFF, 8, 0); /* 30 bits */
    VALID(0x123 | FWUP_CAN_RTR, 0, 0);
    VALID(0x123 | FWUP_CAN_EFF | FWUP_CAN_RTR, 4, 0);
}
END_TEST

START_TEST(test_frame_lengths)
{
    for (unsigned len = 0; len <= 70; len++) {
        struct fwup_can_frame c = frame(0x100, (uint8_t)len, 0);
        struct fwup_can_frame fd = frame(0x100, (uint8_t)len, FWUP_CAN_FD);
        int fd_ok = 0;
        for (unsigned dlc = 0; dlc < 16; dlc++)
            fd_ok |= fd_table[dlc] == len;
        ck_assert_msg((fwup_can_frame_invalid(&c) == NULL) == (len <= 8), "classic len %u", len);
        ck_assert_msg((fwup_can_frame_invalid(&fd) == NULL) == fd_ok, "FD len %u", len);
    }
}
END_TEST

START_TEST(test_frame_flags)
{
    VALID(0x100, 64, FWUP_CAN_FD | FWUP_CAN_BRS);
    INVALID(0x100, 8, FWUP_CAN_BRS);               /* BRS needs FD */
    INVALID(0x100, 8, FWUP_CAN_ESI);               /* so does ESI */
    INVALID(0x100 | FWUP_CAN_RTR, 8, FWUP_CAN_FD); /* no remote frames in FD */
    INVALID(0x100, 8, 0x80);                       /* unknown flag */
}
END_TEST

START_TEST(test_filter_match)
{
    /* Linux can_filter semantics: (id & mask) == (filter id & mask). */
    struct fwup_can_filter exact = {0x7E8, FWUP_CAN_EFF | FWUP_CAN_SFF_MASK};
    ck_assert(fwup_can_filter_match(&exact, 0x7E8));
    ck_assert(!fwup_can_filter_match(&exact, 0x7E9));
    ck_assert(!fwup_can_filter_match(&exact, 0x7E8 | FWUP_CAN_EFF)); /* same bits, extended */
    struct fwup_can_filter range = {0x7E8, 0x7F8};                   /* 0x7E8..0x7EF */
    ck_assert(fwup_can_filter_match(&range, 0x7EF));
    ck_assert(!fwup_can_filter_match(&range, 0x7F0));
    ck_assert(!fwup_can_filter_match(&range, 0x7E7));
}
END_TEST

START_TEST(test_usb_setup)
{
    /* DFU_GETSTATUS on interface 2 (DFU 1.1 §6.1.2): A1 03 0000 0002 0006. */
    struct fwup_usb_setup s = {FWUP_USB_DIR_IN | FWUP_USB_TYPE_CLASS | FWUP_USB_RECIP_IFACE, 3, 0,
                               2, 6};
    uint8_t w[FWUP_USB_SETUP_SIZE];
    fwup_usb_setup_pack(&s, w);
    const uint8_t want[] = {0xA1, 0x03, 0x00, 0x00, 0x02, 0x00, 0x06, 0x00};
    ck_assert_mem_eq(w, want, sizeof(want));

    /* Every word little-endian, high bytes included. */
    struct fwup_usb_setup t = {0x21, 1, 0xBEEF, 0x1234, 0x0800};
    fwup_usb_setup_pack(&t, w);
    const uint8_t want2[] = {0x21, 0x01, 0xEF, 0xBE, 0x34, 0x12, 0x00, 0x08};
    ck_assert_mem_eq(w, want2, sizeof(want2));
    struct fwup_usb_setup u;
    fwup_usb_setup_unpack(w, &u);
    ck_assert_uint_eq(u.bmRequestType, 0x21);
    ck_assert_uint_eq(u.bRequest, 1);
    ck_assert_uint_eq(u.wValue, 0xBEEF);
    ck_assert_uint_eq(u.wIndex, 0x1234);
    ck_assert_uint_eq(u.wLength, 0x0800);
}
END_TEST

START_TEST(test_dfu_functional)
{
    /* STM32 system-memory DfuSe loader: attributes 0x0B, detach 255 ms,
     * 2048-byte transfers, DfuSe 1.1a. */
    const uint8_t st[] = {0x09, 0x21, 0x0B, 0xFF, 0x00, 0x00, 0x08, 0x1A, 0x01};
    struct fwup_dfu_functional f;
    ck_assert_int_eq(fwup_dfu_functional_parse(st, sizeof(st), &f), 0);
    ck_assert_uint_eq(f.bmAttributes,
                      FWUP_DFU_CAN_DNLOAD | FWUP_DFU_CAN_UPLOAD | FWUP_DFU_WILL_DETACH);
    ck_assert(!(f.bmAttributes & FWUP_DFU_MANIFESTATION_TOLERANT));
    ck_assert_uint_eq(f.wDetachTimeOut, 255);
    ck_assert_uint_eq(f.wTransferSize, 2048);
    ck_assert_uint_eq(f.bcdDFUVersion, 0x011A);

    /* DFU 1.0: 7 bytes, no version. */
    const uint8_t v10[] = {0x07, 0x21, 0x01, 0xE8, 0x03, 0x40, 0x00};
    ck_assert_int_eq(fwup_dfu_functional_parse(v10, sizeof(v10), &f), 0);
    ck_assert_uint_eq(f.wDetachTimeOut, 1000);
    ck_assert_uint_eq(f.wTransferSize, 64);
    ck_assert_uint_eq(f.bcdDFUVersion, 0);

    /* bLength 8 holds half a version: ignored, and never read past bLength. */
    const uint8_t odd[] = {0x08, 0x21, 0x01, 0xE8, 0x03, 0x40, 0x00, 0x10};
    ck_assert_int_eq(fwup_dfu_functional_parse(odd, sizeof(odd), &f), 0);
    ck_assert_uint_eq(f.bcdDFUVersion, 0);

    /* Refused: short, wrong type, bLength beyond the bytes we have, bLength < 7. */
    ck_assert_int_eq(fwup_dfu_functional_parse(st, 6, &f), -1);
    const uint8_t wrong_type[] = {0x09, 0x04, 0x0B, 0xFF, 0x00, 0x00, 0x08, 0x1A, 0x01};
    ck_assert_int_eq(fwup_dfu_functional_parse(wrong_type, sizeof(wrong_type), &f), -1);
    ck_assert_int_eq(fwup_dfu_functional_parse(st, 8, &f), -1);
    const uint8_t short_len[] = {0x06, 0x21, 0x0B, 0xFF, 0x00, 0x00, 0x08};
    ck_assert_int_eq(fwup_dfu_functional_parse(short_len, sizeof(short_len), &f), -1);
}
END_TEST

START_TEST(test_has_field)
{
    /* A writer that knew only the first fields of fwup_link_req. */
    struct fwup_link_req r;
    memset(&r, 0, sizeof(r));
    r.struct_size = (uint32_t)offsetof(struct fwup_link_req, nfilters);
    ck_assert(FWUP_HAS_FIELD(&r, struct fwup_link_req, framing));
    ck_assert(!FWUP_HAS_FIELD(&r, struct fwup_link_req, nfilters));
    r.struct_size = (uint32_t)sizeof(r);
    ck_assert(FWUP_HAS_FIELD(&r, struct fwup_link_req, usb_alt_name));
}
END_TEST

START_TEST(test_segment_stride)
{
    /* A host built with a larger segment: engines step by segment_size. */
    struct big {
        struct fwup_segment s;
        uint64_t later_field;
    } segs[3] = {{{0x100, 1, NULL, -1}, 7}, {{0x200, 2, NULL, 1}, 8}, {{0x300, 3, NULL, 2}, 9}};
    struct fwup_image img = {sizeof(img), sizeof(struct big), &segs[0].s, 3, 6, 0, 0, 0, 0};
    ck_assert_uint_eq(fwup_image_segment(&img, 2)->address, 0x300);
    ck_assert_int_eq(fwup_image_segment(&img, 1)->alt, 1);
    ck_assert_uint_eq(fwup_image_segment(&img, 1)->len, 2);
}
END_TEST

START_TEST(test_transport_bits)
{
    /* ABI 1 and 2 plugins used these bit values in configs and logs. */
    ck_assert_uint_eq(FWUP_TRANSPORT_SERIAL, 1u);
    ck_assert_uint_eq(FWUP_TRANSPORT_CAN, 2u);
    ck_assert_uint_eq(FWUP_TRANSPORT_ISOTP, 4u);
    ck_assert_uint_eq(FWUP_TRANSPORT_USB, 8u);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("linktypes");
    TCase *c = tcase_create("can");
    tcase_add_test(c, test_dlc_to_len);
    tcase_add_test(c, test_len_to_dlc);
    tcase_add_test(c, test_frame_ids);
    tcase_add_test(c, test_frame_lengths);
    tcase_add_test(c, test_frame_flags);
    tcase_add_test(c, test_filter_match);
    suite_add_tcase(s, c);
    TCase *u = tcase_create("usb");
    tcase_add_test(u, test_usb_setup);
    tcase_add_test(u, test_dfu_functional);
    suite_add_tcase(s, u);
    TCase *a = tcase_create("abi");
    tcase_add_test(a, test_has_field);
    tcase_add_test(a, test_segment_stride);
    tcase_add_test(a, test_transport_bits);
    suite_add_tcase(s, a);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
