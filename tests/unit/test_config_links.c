/* Typed links in the daemon config: serial (the default kind), can and
 * usb links, a device's CAN ids, each checked at its boundaries with the
 * exact FILE:LINE:COL of the refusal. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static struct fwup_config *parse_ok(const char *text)
{
    struct fwup_config *cfg = NULL;
    char err[512] = "";
    int rc = fwup_config_parse("t.yaml", text, strlen(text), &cfg, err, sizeof err);
    ck_assert_msg(rc == 0, "unexpected error: %s\nin:\n%s", err, text);
    return cfg;
}

/* A link without `type` is serial: configs from before typed links load. */
START_TEST(test_untyped_is_serial)
{
    struct fwup_config *cfg = parse_ok("links:\n  - name: a\n    path: /dev/x\n    baud: 9600\n");
    ck_assert_int_eq(cfg->links[0].type, FWUP_LINK_SERIAL);
    ck_assert_str_eq(cfg->links[0].path, "/dev/x");
    ck_assert_uint_eq(cfg->links[0].baud, 9600);
    ck_assert_ptr_null(cfg->links[0].can.interface);
    fwup_config_free(cfg);
}
END_TEST

START_TEST(test_can_link)
{
    struct fwup_config *cfg = parse_ok(
        "links:\n"
        "  - {name: bus0, type: can, interface: can0}\n"
        "  - name: bus1\n"
        "    type: can\n"
        "    interface: vcan-longer-15\n"
        "    bitrate: 500000\n"
        "    fd: true\n"
        "    data_bitrate: 0x1E8480\n"
        "    restart_ms: 100\n"
        "    max_jobs: 4\n"
        "devices:\n"
        "  - {id: stm, link: bus0, protocol: p}\n"
        "  - {id: ecu, link: bus1, protocol: p, tx_id: 0x7E0, rx_id: 0x7E8, func_id: 0x7DF}\n"
        "  - {id: xcp, link: bus1, protocol: p, extended: true, tx_id: 0x18DA10F1,\n"
        "     rx_id: 0x18DAF110}\n");
    const struct fwup_cfg_link *l = &cfg->links[0];
    ck_assert_int_eq(l->type, FWUP_LINK_CAN);
    ck_assert_str_eq(l->can.interface, "can0");
    /* Unset: left as the interface is, no FD, no restart, no cap. */
    ck_assert_uint_eq(l->can.bitrate, 0);
    ck_assert_uint_eq(l->can.data_bitrate, 0);
    ck_assert_int_eq(l->can.fd, 0);
    ck_assert_uint_eq(l->can.restart_ms, 0);
    ck_assert_uint_eq(l->can.max_jobs, 0);
    ck_assert_ptr_null(l->path);
    l = &cfg->links[1];
    ck_assert_str_eq(l->can.interface, "vcan-longer-15");
    ck_assert_uint_eq(l->can.bitrate, 500000);
    ck_assert_uint_eq(l->can.data_bitrate, 2000000);
    ck_assert_int_eq(l->can.fd, 1);
    ck_assert_uint_eq(l->can.restart_ms, 100);
    ck_assert_uint_eq(l->can.max_jobs, 4);
    ck_assert_int_eq(cfg->devices[0].can.set, 0);
    const struct fwup_cfg_device *d = &cfg->devices[1];
    ck_assert_int_eq(d->can.set, 1);
    ck_assert_uint_eq(d->can.tx_id, 0x7E0);
    ck_assert_uint_eq(d->can.rx_id, 0x7E8);
    ck_assert_uint_eq(d->can.func_id, 0x7DF);
    d = &cfg->devices[2];
    ck_assert_uint_eq(d->can.tx_id, FWUP_CAN_EFF | 0x18DA10F1);
    ck_assert_uint_eq(d->can.rx_id, FWUP_CAN_EFF | 0x18DAF110);
    ck_assert_uint_eq(d->can.func_id, 0);
    fwup_config_free(cfg);
}
END_TEST

START_TEST(test_usb_link)
{
    struct fwup_config *cfg = parse_ok(
        "links:\n"
        "  - {name: u0, type: usb, vid_pid: 1209:7d00, dfu_vid_pid: 1209:7D02, serial: A1,\n"
        "     port: 3-1.4.2}\n"
        "  - {name: u1, type: usb, port: 3-2}\n"
        "  - {name: u2, type: usb, vid_pid: 0483:df11}\n"
        "  - {name: u3, type: usb, vid_pid: 0483:df11, serial: X}\n");
    const struct fwup_cfg_link *l = &cfg->links[0];
    ck_assert_int_eq(l->type, FWUP_LINK_USB);
    ck_assert_int_eq(l->usb.app.set, 1);
    ck_assert_uint_eq(l->usb.app.vid, 0x1209);
    ck_assert_uint_eq(l->usb.app.pid, 0x7d00);
    ck_assert_int_eq(l->usb.dfu.set, 1);
    ck_assert_uint_eq(l->usb.dfu.pid, 0x7d02);
    ck_assert_str_eq(l->usb.serial, "A1");
    ck_assert_str_eq(l->usb.port, "3-1.4.2");
    l = &cfg->links[1];
    ck_assert_int_eq(l->usb.app.set, 0);
    ck_assert_int_eq(l->usb.dfu.set, 0);
    ck_assert_ptr_null(l->usb.serial);
    ck_assert_str_eq(l->usb.port, "3-2");
    fwup_config_free(cfg);
}
END_TEST

/* The largest accepted values next to the smallest refused ones below. */
START_TEST(test_accepted_bounds)
{
    static const char *const ok[] = {
        "links: [{name: a, type: can, interface: can0123456789ab}]\n",
        "links: [{name: a, type: can, interface: can0, bitrate: 10000}]\n",
        "links: [{name: a, type: can, interface: can0, bitrate: 1000000}]\n",
        "links: [{name: a, type: can, interface: can0, fd: true, bitrate: 500000,\n"
        "         data_bitrate: 500000}]\n",
        "links: [{name: a, type: can, interface: can0, fd: yes, data_bitrate: 8000000}]\n",
        "links: [{name: a, type: can, interface: can0, restart_ms: 4294967295, max_jobs: 4096}]\n",
        "links: [{name: a, type: can, interface: can0, max_jobs: 1}]\n",
        "links: [{name: a, type: usb, port: 255-255.1.2.3.4.5.6}]\n",
        "links: [{name: a, type: usb, vid_pid: 'FFFF:0000'}]\n",
        "links: [{name: a, type: usb, dfu_vid_pid: 0483:df11}]\n",
        "links: [{name: a, type: usb, serial: '0123'}]\n",
        /* Same VID:PID, told apart by serial or port. */
        "links: [{name: a, type: usb, vid_pid: 0483:df11, serial: A},\n"
        "        {name: b, type: usb, vid_pid: 0483:df11, serial: B},\n"
        "        {name: c, type: usb, vid_pid: 0483:df11, port: 1-2}]\n",
        /* A serial port, a bus and a USB port may share a name. */
        "links: [{name: a, path: can0}, {name: b, type: can, interface: can0},\n"
        "        {name: c, type: usb, port: 1-1, serial: can0}]\n",
        "links: [{name: c, type: can, interface: can0}]\n"
        "devices: [{id: d, link: c, protocol: p, tx_id: 0x7FF, rx_id: 0}]\n",
        "links: [{name: c, type: can, interface: can0}]\n"
        "devices: [{id: d, link: c, protocol: p, extended: true, tx_id: 0x1FFFFFFF, rx_id: 0,\n"
        "           func_id: 1}]\n",
        "links: [{name: c, type: can, interface: can0}]\n"
        "devices: [{id: d, link: c, protocol: p, extended: false, tx_id: 2047, rx_id: 1}]\n",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct fwup_config *cfg = NULL;
        char err[512] = "";
        int rc = fwup_config_parse("t.yaml", ok[i], strlen(ok[i]), &cfg, err, sizeof err);
        ck_assert_msg(rc == 0, "case %zu refused: %s", i, err);
        fwup_config_free(cfg);
    }
}
END_TEST

static const struct err_case {
    const char *text;
    const char *where;   /* exact "t.yaml:L:C: " prefix */
    const char *message; /* substring of the rest */
} err_cases[] = {
    {"links:\n  - {name: a, type: bus, path: /x}\n",
     "t.yaml:2:21: ", "'type' must be one of serial | can | usb, not 'bus'"},
    {"links:\n  - {name: a, type: can, interface: can0, path: /x}\n", "t.yaml:2:43: ",
     "unknown key 'path' in a can link (allowed: name, type, interface, bitrate, data_bitrate, fd, "
     "restart_ms, max_jobs)"},
    {"links:\n  - {name: a, type: usb, port: 1-1, baud: 9600}\n", "t.yaml:2:37: ",
     "unknown key 'baud' in a usb link (allowed: name, type, vid_pid, dfu_vid_pid, serial, port)"},
    {"links:\n  - {name: a, path: /x, interface: can0}\n",
     "t.yaml:2:25: ", "unknown key 'interface' in a serial link (allowed: name, type, path, baud,"},
    {"links:\n  - {name: a, path: /x, fd: true}\n",
     "t.yaml:2:25: ", "unknown key 'fd' in a serial link"},
    {"links:\n  - {name: a, type: can}\n",
     "t.yaml:2:5: ", "link 'a' is missing required key 'interface'"},
    {"links:\n  - {name: a, type: can, interface: can0123456789abc}\n",
     "t.yaml:2:37: ", "'interface' is too long (16 bytes; a network interface name is at most 15)"},
    {"links:\n  - {name: a, type: can, interface: can/0}\n",
     "t.yaml:2:37: ", "'interface' must be a network interface name like can0, not 'can/0'"},
    {"links:\n  - {name: a, type: can, interface: ..}\n",
     "t.yaml:2:37: ", "'interface' must be a network interface name like can0, not '..'"},
    {"links:\n  - {name: a, type: can, interface: can0, bitrate: 1000001}\n",
     "t.yaml:2:52: ", "'bitrate' must be from 10000 to 1000000 bit/s"},
    {"links:\n  - {name: a, type: can, interface: can0, bitrate: [1]}\n",
     "t.yaml:2:52: ", "'bitrate' must be a scalar, not a list"},
    {"links: [{name: c, type: can, interface: can0}]\ndevices: [{id: d, link: c, protocol: p, "
     "tx_id: {a: 1}, rx_id: 1}]\n",
     "t.yaml:2:48: ", "'tx_id' must be a scalar, not a mapping"},
    {"links:\n  - {name: a, type: can, interface: can0, bitrate: 9999}\n",
     "t.yaml:2:52: ", "'bitrate' must be from 10000 to 1000000 bit/s"},
    {"links:\n  - {name: a, type: can, interface: can0, bitrate: 500k}\n",
     "t.yaml:2:52: ", "'bitrate' must be from 10000 to 1000000 bit/s"},
    {"links:\n  - {name: a, type: can, interface: can0, data_bitrate: 2000000}\n",
     "t.yaml:2:57: ", "'data_bitrate' is for CAN FD: set 'fd: true' on link 'a'"},
    {"links:\n  - {name: a, type: can, interface: can0, fd: false, data_bitrate: 2000000}\n",
     "t.yaml:2:68: ", "'data_bitrate' is for CAN FD"},
    {"links:\n  - {name: a, type: can, interface: can0, fd: true, bitrate: 500000, data_bitrate: "
     "499999}\n",
     "t.yaml:2:84: ", "'data_bitrate' must be from 500000 (the bitrate) to 8000000 bit/s"},
    {"links:\n  - {name: a, type: can, interface: can0, fd: true, data_bitrate: 8000001}\n",
     "t.yaml:2:67: ", "'data_bitrate' must be from 10000 to 8000000 bit/s"},
    {"links:\n  - {name: a, type: can, interface: can0, fd: maybe}\n",
     "t.yaml:2:47: ", "'fd' must be one of false | true | no | yes, not 'maybe'"},
    {"links:\n  - {name: a, type: can, interface: can0, max_jobs: 0}\n",
     "t.yaml:2:53: ", "'max_jobs' must be an integer from 1 to 4096, not '0'"},
    {"links:\n  - {name: a, type: can, interface: can0, max_jobs: 4097}\n",
     "t.yaml:2:53: ", "'max_jobs' must be an integer from 1 to 4096"},
    {"links:\n  - {name: a, type: can, interface: can0, restart_ms: -1}\n",
     "t.yaml:2:55: ", "'restart_ms' must be a number of milliseconds (0: no restart)"},
    {"links:\n  - {name: a, type: can, interface: can0, restart_ms: 4294967296}\n",
     "t.yaml:2:55: ", "'restart_ms' must be a number of milliseconds"},
    {"links:\n  - {name: a, type: can, interface: can0}\n  - {name: b, type: can, interface: "
     "can0}\n",
     "t.yaml:3:37: ",
     "link 'b' uses the same CAN interface as link 'a' (line 2): can0; give the bus one link and "
     "put all its devices on it"},
    {"links:\n  - {name: a, type: usb}\n", "t.yaml:2:5: ",
     "usb link 'a' matches any device: give at least one of vid_pid, dfu_vid_pid, serial, port"},
    {"links:\n  - {name: a, type: usb, vid_pid: 483:df11}\n",
     "t.yaml:2:35: ", "'vid_pid' must be a USB VID:PID like 0483:df11, not '483:df11'"},
    {"links:\n  - {name: a, type: usb, vid_pid: '0483:df1g'}\n",
     "t.yaml:2:35: ", "'vid_pid' must be a USB VID:PID"},
    {"links:\n  - {name: a, type: usb, dfu_vid_pid: 0483-df11}\n",
     "t.yaml:2:39: ", "'dfu_vid_pid' must be a USB VID:PID"},
    {"links:\n  - {name: a, type: usb, port: 1}\n",
     "t.yaml:2:32: ", "'port' must be a USB port path like 1-1.4, not '1'"},
    {"links:\n  - {name: a, type: usb, port: 0-1}\n",
     "t.yaml:2:32: ", "'port' must be a USB port path like 1-1.4, not '0-1'"},
    {"links:\n  - {name: a, type: usb, port: 1-1.0}\n", "t.yaml:2:32: ", "not '1-1.0'"},
    {"links:\n  - {name: a, type: usb, port: 1-256}\n", "t.yaml:2:32: ", "not '1-256'"},
    {"links:\n  - {name: a, type: usb, port: 1-01}\n", "t.yaml:2:32: ", "not '1-01'"},
    {"links:\n  - {name: a, type: usb, port: 1.1-1}\n", "t.yaml:2:32: ", "not '1.1-1'"},
    {"links:\n  - {name: a, type: usb, port: 1-1.}\n", "t.yaml:2:32: ", "not '1-1.'"},
    {"links:\n  - {name: a, type: usb, port: 1-1.2.3.4.5.6.7.8}\n",
     "t.yaml:2:32: ", "not '1-1.2.3.4.5.6.7.8'"},
    {"links:\n  - {name: a, type: usb, port: 1-1.4}\n  - {name: b, type: usb, port: 1-1.4, "
     "vid_pid: 0483:df11}\n",
     "t.yaml:3:32: ",
     "link 'b' uses the same USB port as link 'a' (line 2): 1-1.4; give the port one link"},
    {"links:\n  - {name: a, type: usb, vid_pid: 0483:df11}\n  - {name: b, type: usb, vid_pid: "
     "0483:DF11}\n",
     "t.yaml:3:5: ", "link 'b' matches the same USB devices as link 'a' (line 2)"},
    {"links: [{name: a, type: serial, path: /x}]\ndevices: [{id: d, link: a, protocol: p, tx_id: "
     "0x7E0}]\n",
     "t.yaml:2:48: ", "'tx_id' is for devices on can links; link 'a' is serial"},
    {"links: [{name: u, type: usb, port: 1-1}]\ndevices: [{id: d, link: u, protocol: p, extended: "
     "true}]\n",
     "t.yaml:2:51: ", "'extended' is for devices on can links; link 'u' is usb"},
    {"links: [{name: c, type: can, interface: can0}]\ndevices: [{id: d, link: c, protocol: p, "
     "tx_id: 0x800, rx_id: 0x7E8}]\n",
     "t.yaml:2:48: ",
     "'tx_id' 0x800 is wider than a standard 11-bit id (0 to 0x7FF): set 'extended: true' for "
     "29-bit ids"},
    {"links: [{name: c, type: can, interface: can0}]\ndevices: [{id: d, link: c, protocol: p, "
     "tx_id: 0x7E0, rx_id: 2048}]\n",
     "t.yaml:2:62: ", "'rx_id' 2048 is wider than a standard 11-bit id"},
    {"links: [{name: c, type: can, interface: can0}]\ndevices: [{id: d, link: c, protocol: p, "
     "tx_id: 0x7E0, rx_id: 0x20000000}]\n",
     "t.yaml:2:62: ", "'rx_id' must be a CAN id from 0 to 0x7FF"},
    {"links: [{name: c, type: can, interface: can0}]\ndevices: [{id: d, link: c, protocol: p, "
     "extended: yes, tx_id: 0x20000000, rx_id: 1}]\n",
     "t.yaml:2:63: ", "'tx_id' must be a CAN id from 0 to 0x1FFFFFFF"},
    {"links: [{name: c, type: can, interface: can0}]\ndevices: [{id: d, link: c, protocol: p, "
     "tx_id: -1, rx_id: 1}]\n",
     "t.yaml:2:48: ", "'tx_id' must be a CAN id from 0 to 0x7FF"},
    {"links: [{name: c, type: can, interface: can0}]\ndevices: [{id: d, link: c, protocol: p, "
     "tx_id: 0x7E0}]\n",
     "t.yaml:2:48: ", "device 'd': 'tx_id' and 'rx_id' go together"},
    {"links: [{name: c, type: can, interface: can0}]\ndevices: [{id: d, link: c, protocol: p, "
     "rx_id: 0x7E8}]\n",
     "t.yaml:2:48: ", "device 'd': 'tx_id' and 'rx_id' go together"},
    {"links: [{name: c, type: can, interface: can0}]\ndevices: [{id: d, link: c, protocol: p, "
     "func_id: 0x7DF}]\n",
     "t.yaml:2:50: ", "(and 'func_id' needs them)"},
    {"links: [{name: c, type: can, interface: can0}]\ndevices: [{id: d, link: c, protocol: p, "
     "extended: true}]\n",
     "t.yaml:2:51: ", "device 'd': 'extended' needs 'tx_id' and 'rx_id'"},
    {"links: [{name: c, type: can, interface: can0}]\ndevices: [{id: d, link: c, protocol: p, "
     "tx_id: 0x7E0, rx_id: 2016}]\n",
     "t.yaml:2:62: ", "device 'd': 'rx_id' must differ from 'tx_id'"},
    {"links: [{name: c, type: can, interface: can0}]\ndevices: [{id: d, link: c, protocol: p, "
     "tx_id: 1, rx_id: 2, func_id: 0}]\n",
     "t.yaml:2:70: ", "'func_id' must not be 0 (leave it out for none)"},
};

START_TEST(test_errors)
{
    const struct err_case *c = &err_cases[_i];
    struct fwup_config *cfg = (void *)1;
    char err[1024] = "";
    int rc = fwup_config_parse("t.yaml", c->text, strlen(c->text), &cfg, err, sizeof err);
    ck_assert_msg(rc == -1, "case %d parsed but should fail with %s%s", _i, c->where, c->message);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strncmp(err, c->where, strlen(c->where)) == 0,
                  "case %d: expected position %s, got: %s", _i, c->where, err);
    ck_assert_msg(strstr(err + strlen(c->where), c->message) != NULL,
                  "case %d: expected '%s', got: %s", _i, c->message, err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config_links");
    TCase *tc = tcase_create("links");
    tcase_add_test(tc, test_untyped_is_serial);
    tcase_add_test(tc, test_can_link);
    tcase_add_test(tc, test_usb_link);
    tcase_add_test(tc, test_accepted_bounds);
    tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof err_cases / sizeof err_cases[0]));
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
