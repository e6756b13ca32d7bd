/* Daemon config parser: full schema, defaults, every error with its exact
 * position, and the duration/size helpers. */
#include "config.h"
#include "units.h"
#include "yamlutil.h"

#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct fwup_config *parse_ok(const char *text)
{
    struct fwup_config *cfg = (void *)1;
    char err[512] = "";
    int rc = fwup_config_parse("t.yaml", text, strlen(text), &cfg, err, sizeof err);
    ck_assert_msg(rc == 0, "unexpected error: %s", err);
    ck_assert_ptr_nonnull(cfg);
    return cfg;
}

/* ---- valid configs ------------------------------------------------------- */

static const char full_yaml[] = "daemon:\n"
                                "  socket: /tmp/fw.sock\n"
                                "  socket_group: wheel\n"
                                "  socket_mode: 0640\n"
                                "  unprivileged: none\n"
                                "  state_dir: /srv/fw\n"
                                "  plugin_dir: /opt/fw/plugins\n"
                                "  max_concurrent_jobs: 4096\n"
                                "  max_attempts: 100\n"
                                "  retry_backoff: {initial: 500ms, max: 1.5m}\n"
                                "  stall_timeout: 45s\n"
                                "  cancel_grace: 0\n"
                                "  phase_timeouts: {connect: 60s, transfer: 30m}\n"
                                "links:\n"
                                "  - name: uart0\n"
                                "    type: serial\n"
                                "    path: /dev/ttyUSB0\n"
                                "    baud: 4000000\n"
                                "    parity: odd\n"
                                "    data_bits: 7\n"
                                "    stop_bits: 2\n"
                                "    flow_control: rtscts\n"
                                "  - {name: uart.1, type: serial, path: /dev/ttyS1, parity: even,\n"
                                "     flow_control: xonxoff, baud: 50, data_bits: 5}\n"
                                "devices:\n"
                                "  - id: sensor-01\n"
                                "    link: uart0\n"
                                "    protocol: xmodem\n"
                                "    flash: {base: 0x08000000, size: 256K}\n"
                                "    tags: [sensors, line-a]\n"
                                "    max_attempts: 5\n"
                                "    options: {mode: auto, block: 1k, retries: 20}\n"
                                "  - id: B_2\n"
                                "    link: uart.1\n"
                                "    protocol: \"stm32\"\n";

START_TEST(test_full)
{
    struct fwup_config *cfg = parse_ok(full_yaml);

    ck_assert_str_eq(cfg->path, "t.yaml");
    ck_assert_str_eq(cfg->socket_path, "/tmp/fw.sock");
    ck_assert_str_eq(cfg->socket_group, "wheel");
    ck_assert_uint_eq(cfg->socket_mode, 0640);
    ck_assert_int_eq(cfg->unprivileged, FWUP_ACCESS_NONE);
    ck_assert_str_eq(cfg->state_dir, "/srv/fw");
    ck_assert_str_eq(cfg->plugin_dir, "/opt/fw/plugins");
    ck_assert_uint_eq(cfg->max_concurrent_jobs, 4096);
    ck_assert_uint_eq(cfg->max_attempts, 100);
    ck_assert_uint_eq(cfg->backoff_initial_ms, 500);
    ck_assert_uint_eq(cfg->backoff_max_ms, 90000);
    ck_assert_uint_eq(cfg->stall_timeout_ms, 45000);
    ck_assert_uint_eq(cfg->cancel_grace_ms, 0);
    ck_assert_uint_eq(cfg->nphase_timeouts, 2);
    ck_assert_str_eq(cfg->phase_timeouts[0].phase, "connect");
    ck_assert_uint_eq(cfg->phase_timeouts[0].ms, 60000);
    ck_assert_str_eq(cfg->phase_timeouts[1].phase, "transfer");
    ck_assert_uint_eq(cfg->phase_timeouts[1].ms, 1800000);

    ck_assert_uint_eq(cfg->nlinks, 2);
    const struct fwup_cfg_link *l = &cfg->links[0];
    ck_assert_str_eq(l->name, "uart0");
    ck_assert_int_eq(l->type, FWUP_LINK_SERIAL);
    ck_assert_str_eq(l->path, "/dev/ttyUSB0");
    ck_assert_uint_eq(l->baud, 4000000);
    ck_assert_int_eq(l->parity, FWUP_PARITY_ODD);
    ck_assert_uint_eq(l->data_bits, 7);
    ck_assert_uint_eq(l->stop_bits, 2);
    ck_assert_int_eq(l->flow, FWUP_FLOW_RTSCTS);
    ck_assert_int_eq(l->pos.line, 15);
    ck_assert_int_eq(l->pos.col, 5);
    l = &cfg->links[1];
    ck_assert_str_eq(l->name, "uart.1");
    ck_assert_str_eq(l->path, "/dev/ttyS1");
    ck_assert_uint_eq(l->baud, 50);
    ck_assert_int_eq(l->parity, FWUP_PARITY_EVEN);
    ck_assert_uint_eq(l->data_bits, 5);
    ck_assert_uint_eq(l->stop_bits, 1);
    ck_assert_int_eq(l->flow, FWUP_FLOW_XONXOFF);
    ck_assert_int_eq(l->pos.line, 23);
    ck_assert_int_eq(l->pos.col, 5);

    ck_assert_uint_eq(cfg->ndevices, 2);
    const struct fwup_cfg_device *d = &cfg->devices[0];
    ck_assert_str_eq(d->id, "sensor-01");
    ck_assert_str_eq(d->link, "uart0");
    ck_assert_str_eq(d->protocol, "xmodem");
    ck_assert_uint_eq(d->flash_base, 0x08000000);
    ck_assert_uint_eq(d->flash_size, 256 * 1024);
    ck_assert_uint_eq(d->ntags, 2);
    ck_assert_str_eq(d->tags[0], "sensors");
    ck_assert_str_eq(d->tags[1], "line-a");
    ck_assert_int_eq(d->max_attempts, 5);
    ck_assert_uint_eq(d->noptions, 3);
    ck_assert_str_eq(d->options[0].name, "mode");
    ck_assert_str_eq(d->options[0].value, "auto");
    ck_assert_int_eq(d->options[0].pos.line, 32);
    ck_assert_int_eq(d->options[0].pos.col, 21);
    ck_assert_str_eq(d->options[1].name, "block");
    ck_assert_str_eq(d->options[1].value, "1k");
    ck_assert_int_eq(d->options[1].pos.col, 34);
    ck_assert_str_eq(d->options[2].name, "retries");
    ck_assert_str_eq(d->options[2].value, "20");
    ck_assert_int_eq(d->pos.line, 26);
    ck_assert_int_eq(d->pos.col, 5);
    ck_assert_int_eq(d->protocol_pos.line, 28);
    ck_assert_int_eq(d->protocol_pos.col, 15);

    d = &cfg->devices[1];
    ck_assert_str_eq(d->id, "B_2");
    ck_assert_str_eq(d->link, "uart.1");
    ck_assert_str_eq(d->protocol, "stm32");
    ck_assert_uint_eq(d->flash_base, 0);
    ck_assert_uint_eq(d->flash_size, 0);
    ck_assert_uint_eq(d->ntags, 0);
    ck_assert_uint_eq(d->noptions, 0);
    ck_assert_int_eq(d->max_attempts, 0);

    ck_assert_ptr_eq(fwup_config_find_link(cfg, "uart.1"), &cfg->links[1]);
    ck_assert_ptr_null(fwup_config_find_link(cfg, "uart2"));
    ck_assert_ptr_eq(fwup_config_find_device(cfg, "B_2"), &cfg->devices[1]);
    ck_assert_ptr_null(fwup_config_find_device(cfg, "b_2"));
    ck_assert_int_eq(fwup_cfg_device_has_tag(&cfg->devices[0], "line-a"), 1);
    ck_assert_int_eq(fwup_cfg_device_has_tag(&cfg->devices[0], "line-b"), 0);
    ck_assert_int_eq(fwup_cfg_device_has_tag(&cfg->devices[1], "sensors"), 0);
    fwup_config_free(cfg);
}
END_TEST

static void assert_defaults(const struct fwup_config *cfg)
{
    ck_assert_str_eq(cfg->socket_path, "/run/fwupgw/fwupgw.sock");
    ck_assert_ptr_null(cfg->socket_group);
    /* Others may read (the default), so they must be able to connect. */
    ck_assert_uint_eq(cfg->socket_mode, 0666);
    ck_assert_int_eq(cfg->unprivileged, FWUP_ACCESS_READ);
    ck_assert_str_eq(cfg->state_dir, "/var/lib/fwupgw");
    ck_assert_ptr_null(cfg->plugin_dir);
    ck_assert_uint_eq(cfg->max_concurrent_jobs, 16);
    ck_assert_uint_eq(cfg->max_attempts, 3);
    ck_assert_uint_eq(cfg->backoff_initial_ms, 2000);
    ck_assert_uint_eq(cfg->backoff_max_ms, 60000);
    ck_assert_uint_eq(cfg->stall_timeout_ms, 30000);
    ck_assert_uint_eq(cfg->cancel_grace_ms, 5000);
    ck_assert_uint_eq(cfg->nphase_timeouts, 0);
    ck_assert_uint_eq(cfg->nlinks, 0);
    ck_assert_uint_eq(cfg->ndevices, 0);
}

/* Everything that means "nothing here" yields the defaults. */
static const char *const empty_docs[] = {
    "",    "# only a comment\n\n",        "---\n",
    "~\n", "daemon:\nlinks:\ndevices:\n", "daemon: {}\nlinks: []\ndevices: []\n",
};

START_TEST(test_defaults)
{
    struct fwup_config *cfg = parse_ok(empty_docs[_i]);
    assert_defaults(cfg);
    fwup_config_free(cfg);
}
END_TEST

START_TEST(test_link_defaults)
{
    struct fwup_config *cfg = parse_ok("links:\n- {name: a, type: serial, path: /dev/x}\n");
    ck_assert_uint_eq(cfg->links[0].baud, 115200);
    ck_assert_int_eq(cfg->links[0].parity, FWUP_PARITY_NONE);
    ck_assert_uint_eq(cfg->links[0].data_bits, 8);
    ck_assert_uint_eq(cfg->links[0].stop_bits, 1);
    ck_assert_int_eq(cfg->links[0].flow, FWUP_FLOW_NONE);
    fwup_config_free(cfg);
}
END_TEST

START_TEST(test_socket_mode_forms)
{
    static const struct {
        const char *text;
        unsigned mode;
    } cases[] = {
        {"daemon: {socket_mode: 0660}", 0660},
        {"daemon: {socket_mode: 600}", 0600},
        {"daemon: {socket_mode: 0o2770}", 02770},
        {"daemon: {socket_mode: '0666'}", 0666},
        /* Unset, the mode follows who may connect at all. */
        {"daemon: {unprivileged: read}", 0666},
        {"daemon: {unprivileged: none}", 0660},
        {"daemon: {unprivileged: none, socket_mode: 0666}", 0666},
        {"daemon: {unprivileged: read, socket_mode: 0660}", 0660},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fwup_config *cfg = parse_ok(cases[i].text);
        ck_assert_uint_eq(cfg->socket_mode, cases[i].mode);
        fwup_config_free(cfg);
    }
}
END_TEST

/* The largest values the bounds allow: a flash ending exactly at 4 GiB, a
 * back-off whose max equals its initial step (no doubling at all). */
START_TEST(test_accepted_bounds)
{
    struct fwup_config *cfg =
        parse_ok("daemon:\n  retry_backoff: {initial: 5s, max: 5s}\n"
                 "links: [{name: a, type: serial, path: /x}]\n"
                 "devices: [{id: d, link: a, protocol: p, flash: {base: 0xF0000000, size: 256M}},\n"
                 "          {id: e, link: a, protocol: p, flash: {base: 0, size: 0xFFFFFFFF}}]\n");
    ck_assert_uint_eq(cfg->backoff_initial_ms, 5000);
    ck_assert_uint_eq(cfg->backoff_max_ms, 5000);
    ck_assert_uint_eq(cfg->ndevices, 2);
    ck_assert_uint_eq((uint64_t)cfg->devices[0].flash_base + cfg->devices[0].flash_size,
                      (uint64_t)1 << 32);
    ck_assert_uint_eq((uint64_t)cfg->devices[1].flash_base + cfg->devices[1].flash_size,
                      UINT32_MAX);
    fwup_config_free(cfg);
}
END_TEST

/* Every integer setting at both ends of its range: the bounds taken as
 * given, one past either refused with the range and the value. */
static unsigned mcj(const struct fwup_config *c)
{
    return c->max_concurrent_jobs;
}
static unsigned attempts(const struct fwup_config *c)
{
    return c->max_attempts;
}
static unsigned clients(const struct fwup_config *c)
{
    return c->max_clients;
}
static unsigned per_uid(const struct fwup_config *c)
{
    return c->max_clients_per_uid;
}
static unsigned data_bits(const struct fwup_config *c)
{
    return c->links[0].data_bits;
}
static unsigned stop_bits(const struct fwup_config *c)
{
    return c->links[0].stop_bits;
}
static unsigned dev_attempts(const struct fwup_config *c)
{
    return (unsigned)c->devices[0].max_attempts;
}

#define LINK_YAML "links: [{name: a, type: serial, path: /x"
static const struct uint_case {
    const char *key, *fmt; /* fmt: a config with %u for the value */
    unsigned min, max;
    unsigned (*get)(const struct fwup_config *);
} uint_cases[] = {
    {"max_concurrent_jobs", "daemon: {max_concurrent_jobs: %u}\n", 1, 4096, mcj},
    {"max_attempts", "daemon: {max_attempts: %u}\n", 1, 100, attempts},
    {"max_clients", "daemon: {max_clients: %u}\n", 1, 65536, clients},
    {"max_clients_per_uid", "daemon: {max_clients_per_uid: %u}\n", 1, 65536, per_uid},
    {"data_bits", LINK_YAML ", data_bits: %u}]\n", 5, 8, data_bits},
    {"stop_bits", LINK_YAML ", stop_bits: %u}]\n", 1, 2, stop_bits},
    {"max_attempts", LINK_YAML "}]\ndevices: [{id: d, link: a, protocol: p, max_attempts: %u}]\n",
     1, 100, dev_attempts},
};

START_TEST(test_uint_bounds)
{
    const struct uint_case *c = &uint_cases[_i];
    const unsigned vals[] = {c->min - 1, c->min, c->max, c->max + 1};
    for (size_t k = 0; k < 4; k++) {
        char text[256], err[512] = "", want[128];
        struct fwup_config *cfg = NULL;
        snprintf(text, sizeof text, c->fmt, vals[k]);
        int rc = fwup_config_parse("t.yaml", text, strlen(text), &cfg, err, sizeof err);
        if (k == 1 || k == 2) {
            ck_assert_msg(rc == 0, "%s %u: %s", c->key, vals[k], err);
            ck_assert_uint_eq(c->get(cfg), vals[k]);
            fwup_config_free(cfg);
        } else {
            snprintf(want, sizeof want, "'%s' must be an integer from %u to %u, not '%u'", c->key,
                     c->min, c->max, vals[k]);
            ck_assert_msg(rc == -1 && strstr(err, want), "%s %u: %s", c->key, vals[k], err);
            ck_assert_ptr_null(cfg);
        }
    }
}
END_TEST

/* The daemon's byte limits at their minimum: taken as given; one byte
 * less refused, naming the key and the minimum. */
START_TEST(test_size_minimums)
{
    static const struct {
        const char *key;
        unsigned min;
        size_t off;
    } cases[] = {
        {"max_request_size", 4096, offsetof(struct fwup_config, max_request_size)},
        {"max_client_output", 4096, offsetof(struct fwup_config, max_client_output)},
        {"max_input_total", 65536, offsetof(struct fwup_config, max_input_total)},
        {"max_output_total", 65536, offsetof(struct fwup_config, max_output_total)},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (unsigned v = cases[i].min - 1; v <= cases[i].min; v++) {
            char text[128], err[512] = "", want[96];
            struct fwup_config *cfg = NULL;
            snprintf(text, sizeof text, "daemon: {%s: %u}\n", cases[i].key, v);
            int rc = fwup_config_parse("t.yaml", text, strlen(text), &cfg, err, sizeof err);
            if (v == cases[i].min) {
                ck_assert_msg(rc == 0, "%s %u: %s", cases[i].key, v, err);
                ck_assert_uint_eq(*(const uint32_t *)((const char *)cfg + cases[i].off), v);
                fwup_config_free(cfg);
            } else {
                snprintf(want, sizeof want, "'%s' must be at least %u bytes", cases[i].key,
                         cases[i].min);
                ck_assert_msg(rc == -1 && strstr(err, want), "%s %u: %s", cases[i].key, v, err);
                ck_assert_ptr_null(cfg);
            }
        }
    }
}
END_TEST

/* ---- errors -------------------------------------------------------------- */

static const struct err_case {
    const char *text;
    const char *where;   /* exact "t.yaml:L:C: " prefix */
    const char *message; /* substring of the rest */
} err_cases[] = {
    /* unknown keys, with the allowed list */
    {"foo: 1\n",
     "t.yaml:1:1: ", "unknown key 'foo' in the top level (allowed: daemon, links, devices)"},
    {"daemon:\n  sockett: /x\n",
     "t.yaml:2:3: ", "unknown key 'sockett' in daemon (allowed: socket,"},
    {"daemon:\n  retry_backoff: {initial: 1s, maximum: 2s}\n",
     "t.yaml:2:32: ", "unknown key 'maximum' in daemon.retry_backoff (allowed: initial, max)"},
    {"links:\n  - name: a\n    type: serial\n    path: /dev/x\n    speed: 9600\n",
     "t.yaml:5:5: ", "unknown key 'speed' in a serial link"},
    {"links: [{name: a, type: serial, path: /x}]\ndevices:\n  - id: d\n    link: a\n"
     "    protocol: p\n    opts: {}\n",
     "t.yaml:6:5: ",
     "unknown key 'opts' in a device (allowed: id, link, protocol, flash, tags, "
     "max_attempts, options, control_lines, entry, exit, stay_in_bootloader_on_failure, tx_id, "
     "rx_id, func_id, extended)"},
    /* control lines and entry/exit sequences */
    {"links: [{name: a, type: serial, path: /x}]\ndevices:\n  - id: d\n    link: a\n"
     "    protocol: p\n    entry: [boot0=1]\n",
     "t.yaml:6:13: ", "step 'boot0=1': no control line 'boot0'"},
    {"links: [{name: a, type: serial, path: /x}]\ndevices:\n  - id: d\n    link: a\n"
     "    protocol: p\n    exit: [rts=1, rts=2]\n",
     "t.yaml:6:19: ", "step 'rts=2': a line is set to 0 or 1"},
    {"links: [{name: a, type: serial, path: /x}]\ndevices:\n  - id: d\n    link: a\n"
     "    protocol: p\n    entry: [dtr=0, delay soon]\n",
     "t.yaml:6:20: ", "step 'delay soon': duration must be like 10ms or 1s"},
    {"links: [{name: a, type: serial, path: /x}]\ndevices:\n  - id: d\n    link: a\n"
     "    protocol: p\n    entry: [wiggle]\n",
     "t.yaml:6:13: ", "expected LINE=0|1, 'delay DURATION' or 'break DURATION'"},
    {"links: [{name: a, type: serial, path: /x}]\ndevices:\n  - id: d\n    link: a\n"
     "    protocol: p\n    control_lines: {rts: {gpio: gpiochip0, line: 1}}\n",
     "t.yaml:6:21: ", "'rts' is the serial port's own line"},
    {"links: [{name: a, type: serial, path: /x}]\ndevices:\n  - id: d\n    link: a\n"
     "    protocol: p\n    control_lines: {boot0: {line: 1}}\n",
     "t.yaml:6:28: ", "control line 'boot0' is missing required key 'gpio'"},
    {"links: [{name: a, type: serial, path: /x}]\ndevices:\n  - id: d\n    link: a\n"
     "    protocol: p\n    stay_in_bootloader_on_failure: maybe\n",
     "t.yaml:6:36: ", "'stay_in_bootloader_on_failure' must be one of"},
    {"links: [{name: a, type: serial, path: /x}]\n"
     "devices: [{id: d, link: a, protocol: p, flash: {base: 0, size: 1K, end: 4}}]\n",
     "t.yaml:2:68: ", "unknown key 'end' in flash"},
    /* duplicate mapping keys */
    {"daemon:\n  socket: /a\n  socket: /b\n",
     "t.yaml:3:3: ", "duplicate key 'socket' in daemon (first at line 2)"},
    {"daemon: {}\ndaemon: {}\n", "t.yaml:2:1: ", "duplicate key 'daemon'"},
    {"daemon:\n  phase_timeouts: {connect: 1s, connect: 2s}\n",
     "t.yaml:2:33: ", "duplicate key 'connect' in daemon.phase_timeouts"},
    {"links: [{name: a, type: serial, path: /x}]\n"
     "devices: [{id: d, link: a, protocol: p, options: {mode: a, mode: b}}]\n",
     "t.yaml:2:60: ", "duplicate key 'mode' in options"},
    /* YAML syntax errors come with libyaml's problem and mark */
    {"daemon:\n  socket: [/a\n", "t.yaml:3:1: ", "did not find expected ',' or ']'"},
    {"daemon:\n  socket: /a\n   state_dir: /b\n",
     "t.yaml:3:13: ", "mapping values are not allowed in this context"},
    {"daemon:\n\tsocket: /a\n", "t.yaml:2:1: ", "found character that cannot start any token"},
    {"a: *nope\n", "t.yaml:1:4: ", "found undefined alias"},
    {"daemon: {}\n---\nlinks: []\n", "t.yaml:2:1: ", "only one YAML document is allowed"},
    {"daemon:\n  socket: \"\xff\"\n", "t.yaml:2:12: ", "invalid leading UTF-8 octet (byte 0xFF)"},
    /* wrong types */
    {"- daemon\n", "t.yaml:1:1: ", "the top level must be a mapping, not a list"},
    {"daemon: [socket]\n", "t.yaml:1:9: ", "daemon must be a mapping, not a list"},
    {"links: {name: a}\n", "t.yaml:1:8: ", "'links' must be a list, not a mapping"},
    {"devices: uart0\n", "t.yaml:1:10: ", "'devices' must be a list, not a scalar"},
    {"daemon:\n  socket: [/a, /b]\n", "t.yaml:2:11: ", "'socket' must be a scalar, not a list"},
    {"daemon:\n  socket:\n", "t.yaml:2:10: ", "'socket' needs a value"},
    {"links:\n  - uart0\n", "t.yaml:2:5: ", "a link must be a mapping, not a scalar"},
    {"{[a]: 1}\n", "t.yaml:1:2: ", "keys in the top level must be scalars, not a list"},
    {"daemon: {phase_timeouts: [connect]}\n",
     "t.yaml:1:26: ", "daemon.phase_timeouts must be a mapping of phase: duration, not a list"},
    {"links: [{name: a, type: serial, path: /x}]\n"
     "devices: [{id: d, link: a, protocol: p, tags: line-a}]\n",
     "t.yaml:2:47: ", "'tags' must be a list, not a scalar"},
    {"links: [{name: a, type: serial, path: /x}]\n"
     "devices: [{id: d, link: a, protocol: p, options: {mode: [a]}}]\n",
     "t.yaml:2:57: ", "'mode' must be a scalar, not a list"},
    /* ranges and enumerations */
    {"daemon:\n  max_concurrent_jobs: 0\n",
     "t.yaml:2:24: ", "'max_concurrent_jobs' must be an integer from 1 to 4096, not '0'"},
    {"daemon:\n  max_concurrent_jobs: 4097\n", "t.yaml:2:24: ", "from 1 to 4096, not '4097'"},
    {"daemon:\n  max_attempts: 101\n", "t.yaml:2:17: ", "from 1 to 100"},
    {"daemon:\n  max_attempts: -1\n", "t.yaml:2:17: ", "from 1 to 100, not '-1'"},
    {"daemon:\n  max_attempts: 3.0\n", "t.yaml:2:17: ", "from 1 to 100, not '3.0'"},
    {"daemon:\n  socket_mode: 0690\n", "t.yaml:2:16: ", "'socket_mode' must be an octal mode"},
    {"daemon:\n  socket_mode: 017777\n", "t.yaml:2:16: ", "octal mode like 0660, not '017777'"},
    {"daemon:\n  unprivileged: write\n",
     "t.yaml:2:17: ", "'unprivileged' must be one of none | read, not 'write'"},
    {"daemon:\n  stall_timeout: 5x\n", "t.yaml:2:18: ", "'stall_timeout' must be a duration"},
    {"daemon:\n  stall_timeout: 0s\n",
     "t.yaml:2:18: ", "'stall_timeout' must be greater than zero"},
    {"daemon:\n  cancel_grace: 2d\n", "t.yaml:2:17: ", "'cancel_grace' must be a duration"},
    {"daemon:\n  phase_timeouts:\n    erase: 10q\n", "t.yaml:3:12: ", "'erase' must be a duration"},
    {"daemon:\n  retry_backoff: {initial: 10s, max: 5s}\n",
     "t.yaml:2:18: ", "retry_backoff: max (5000ms) is below initial (10000ms)"},
    /* One millisecond below initial: the smallest refused gap. */
    {"daemon:\n  retry_backoff: {initial: 5001ms, max: 5s}\n",
     "t.yaml:2:18: ", "retry_backoff: max (5000ms) is below initial (5001ms)"},
    {"daemon:\n  socket: /" /* 108 bytes: one over sun_path */
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaa\n",
     "t.yaml:2:11: ", "'socket' path is too long for a unix socket (max 107 bytes)"},
    {"links:\n  - {name: a, type: serial, path: /x, baud: 12345}\n",
     "t.yaml:2:45: ", "'baud' must be a standard rate"},
    {"links:\n  - {name: a, type: serial, path: /x, baud: 8000000}\n",
     "t.yaml:2:45: ", "not '8000000'"},
    {"links:\n  - {name: a, type: serial, path: /x, parity: mark}\n",
     "t.yaml:2:47: ", "'parity' must be one of none | even | odd, not 'mark'"},
    {"links:\n  - {name: a, type: serial, path: /x, data_bits: 9}\n",
     "t.yaml:2:50: ", "'data_bits' must be an integer from 5 to 8, not '9'"},
    {"links:\n  - {name: a, type: serial, path: /x, stop_bits: 0}\n",
     "t.yaml:2:50: ", "'stop_bits' must be an integer from 1 to 2"},
    {"links:\n  - {name: a, type: serial, path: /x, flow_control: hw}\n",
     "t.yaml:2:53: ", "'flow_control' must be one of none | rtscts | xonxoff, not 'hw'"},
    {"links:\n  - {name: a, type: rs485, path: /x}\n",
     "t.yaml:2:21: ", "'type' must be one of serial | can | usb, not 'rs485'"},
    {"links: [{name: a, type: serial, path: /x}]\n"
     "devices: [{id: d, link: a, protocol: p, flash: {base: 0x10000000, size: 4T}}]\n",
     "t.yaml:2:73: ", "'size' must be a 32-bit size or address"},
    {"links: [{name: a, type: serial, path: /x}]\n"
     "devices: [{id: d, link: a, protocol: p, flash: {base: 0xF0000000, size: 512M}}]\n",
     "t.yaml:2:48: ", "flash range 0xf0000000 + 0x20000000 runs past the 32-bit address space"},
    /* One byte past 4 GiB: the smallest overrun. */
    {"links: [{name: a, type: serial, path: /x}]\n"
     "devices: [{id: d, link: a, protocol: p, flash: {base: 0xF0000001, size: 256M}}]\n",
     "t.yaml:2:48: ", "flash range 0xf0000001 + 0x10000000 runs past the 32-bit address space"},
    {"links: [{name: a, type: serial, path: /x}]\n"
     "devices: [{id: d, link: a, protocol: p, flash: {base: 0, size: 0}}]\n",
     "t.yaml:2:64: ", "flash 'size' must be greater than zero"},
    {"links: [{name: a, type: serial, path: /x}]\n"
     "devices: [{id: d, link: a, protocol: p, flash: {size: 1K}}]\n",
     "t.yaml:2:48: ", "flash is missing required key 'base'"},
    {"links: [{name: a, type: serial, path: /x}]\n"
     "devices: [{id: d, link: a, protocol: p, max_attempts: 0}]\n",
     "t.yaml:2:55: ", "'max_attempts' must be an integer from 1 to 100"},
    /* identifiers */
    {"links: [{name: a, type: serial, path: /x}]\n"
     "devices: [{id: 'bad id', link: a, protocol: p}]\n",
     "t.yaml:2:16: ", "'id' must be 1 to 64 characters of A-Z a-z 0-9 . _ -, not 'bad id'"},
    {"links: [{name: a, type: serial, path: /x}]\n"
     "devices: [{id: "
     "a2345678901234567890123456789012345678901234567890123456789012345, link: a, protocol: p}]\n",
     "t.yaml:2:16: ", "'id' must be 1 to 64 characters"},
    {"links: [{name: a, type: serial, path: /x}]\n"
     "devices: [{id: d, link: a, protocol: p, tags: [ok, 'not/ok']}]\n",
     "t.yaml:2:52: ", "'tag' must be 1 to 64 characters of A-Z a-z 0-9 . _ -, not 'not/ok'"},
    {"links: [{name: a, type: serial, path: /x}]\n"
     "devices: [{id: d, link: a, protocol: p, tags: [x, y, x]}]\n",
     "t.yaml:2:54: ", "duplicate tag 'x'"},
    {"links:\n  - {name: 'a:b', type: serial, path: /x}\n", "t.yaml:2:12: ", "'name' must be"},
    /* duplicates and references */
    {"links:\n  - {name: a, type: serial, path: /x}\n  - {name: a, type: serial, path: /y}\n",
     "t.yaml:3:12: ", "duplicate link name 'a' (first at line 2)"},
    {"links:\n  - {name: a, type: serial, path: /nonexistent/tty0}\n"
     "  - {name: b, type: serial, path: /nonexistent/tty1}\n"
     "  - {name: c, type: serial, path: /nonexistent/tty0}\n",
     "t.yaml:4:35: ",
     "link 'c' uses the same port as link 'a' (line 2): /nonexistent/tty0; give the port one "
     "link and put all its devices on it"},
    {"links: [{name: a, type: serial, path: /x}]\n"
     "devices:\n  - {id: d1, link: a, protocol: p}\n  - {id: d1, link: a, protocol: p}\n",
     "t.yaml:4:10: ", "duplicate device id 'd1' (first at line 3)"},
    {"links: [{name: a, type: serial, path: /x}, {name: b, type: serial, path: /y}]\n"
     "devices:\n  - id: d\n    link: c\n    protocol: p\n",
     "t.yaml:4:11: ", "device 'd' names unknown link 'c' (known: a, b)"},
    {"devices:\n  - id: d\n    link: uart0\n    protocol: p\n",
     "t.yaml:3:11: ", "device 'd' names unknown link 'uart0' (no links are defined)"},
    /* missing required keys point at the entry */
    {"links:\n  - type: serial\n    path: /x\n",
     "t.yaml:2:5: ", "link is missing required key 'name'"},
    {"links:\n  - name: a\n    type: serial\n",
     "t.yaml:2:5: ", "link 'a' is missing required key 'path'"},
    {"links: [{name: a, type: serial, path: /x}]\ndevices:\n  - link: a\n    protocol: p\n",
     "t.yaml:3:5: ", "device is missing required key 'id'"},
    {"links: [{name: a, type: serial, path: /x}]\ndevices:\n  - id: d\n    protocol: p\n",
     "t.yaml:3:5: ", "device 'd' is missing required key 'link'"},
    {"links: [{name: a, type: serial, path: /x}]\ndevices:\n  - id: d\n    link: a\n",
     "t.yaml:3:5: ", "device 'd' is missing required key 'protocol'"},
};

START_TEST(test_control_sequences)
{
    static const char text[] =
        "links: [{name: a, type: serial, path: /x}]\n"
        "devices:\n"
        "  - id: stm\n"
        "    link: a\n"
        "    protocol: p\n"
        "    control_lines:\n"
        "      boot0: {gpio: gpiochip0, line: 17}\n"
        "      nrst: {gpio: /dev/gpiochip1, line: 3, active_low: true}\n"
        "    entry: [boot0=1, nrst=1, delay 10ms, nrst=0, delay 50ms, break 250ms]\n"
        "    exit: [boot0=0, rts=1, dtr=0]\n"
        "    stay_in_bootloader_on_failure: yes\n";
    struct fwup_config *cfg = NULL;
    char err[512] = "";
    ck_assert_msg(fwup_config_parse("t.yaml", text, strlen(text), &cfg, err, sizeof err) == 0, "%s",
                  err);
    const struct fwup_cfg_device *dev = &cfg->devices[0];
    ck_assert_uint_eq(dev->nlines, 2);
    ck_assert_str_eq(dev->lines[1].name, "nrst");
    ck_assert_str_eq(dev->lines[1].chip, "/dev/gpiochip1");
    ck_assert_uint_eq(dev->lines[1].offset, 3);
    ck_assert_int_eq(dev->lines[1].active_low, 1);
    ck_assert_int_eq(dev->lines[0].active_low, 0);
    ck_assert_uint_eq(dev->entry.n, 6);
    ck_assert_ptr_eq(dev->entry.steps[0].line, &dev->lines[0]);
    ck_assert_int_eq(dev->entry.steps[0].value, 1);
    ck_assert_int_eq(dev->entry.steps[2].kind, FWUP_STEP_DELAY);
    ck_assert_uint_eq(dev->entry.steps[2].ms, 10);
    ck_assert_int_eq(dev->entry.steps[3].value, 0);
    ck_assert_int_eq(dev->entry.steps[5].kind, FWUP_STEP_BREAK);
    ck_assert_uint_eq(dev->entry.steps[5].ms, 250);
    ck_assert_uint_eq(dev->exit.n, 3);
    ck_assert_ptr_eq(dev->exit.steps[1].line, &fwup_line_rts);
    ck_assert_ptr_eq(dev->exit.steps[2].line, &fwup_line_dtr);
    ck_assert_int_eq(dev->stay_in_bootloader_on_failure, 1);
    fwup_config_free(cfg);
}
END_TEST

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

/* Errors are still reported (truncated) into a tiny buffer, and not at all
 * into none, without crashing. */
START_TEST(test_error_buffers)
{
    struct fwup_config *cfg;
    char err[8];
    ck_assert_int_eq(fwup_config_parse("t.yaml", "foo: 1", 6, &cfg, err, sizeof err), -1);
    ck_assert_str_eq(err, "t.yaml:");
    ck_assert_int_eq(fwup_config_parse("t.yaml", "foo: 1", 6, &cfg, NULL, 0), -1);
}
END_TEST

/* ---- files --------------------------------------------------------------- */

START_TEST(test_load_missing)
{
    struct fwup_config *cfg = (void *)1;
    char err[512];
    ck_assert_int_eq(fwup_config_load("/nonexistent-fwupgw/x.yaml", &cfg, err, sizeof err), -1);
    ck_assert_ptr_null(cfg);
    ck_assert_str_eq(err, "/nonexistent-fwupgw/x.yaml: No such file or directory");
}
END_TEST

START_TEST(test_load_file)
{
    char dir[] = "/tmp/fwup-cfg-XXXXXX", path[64], err[512];
    struct fwup_config *cfg;
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/c.yaml", dir);

    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("daemon:\n  max_attempts: 7\n", f);
    fclose(f);
    ck_assert_int_eq(fwup_config_load(path, &cfg, err, sizeof err), 0);
    ck_assert_str_eq(cfg->path, path);
    ck_assert_uint_eq(cfg->max_attempts, 7);
    fwup_config_free(cfg);

    /* The file name, not a placeholder, leads the message. */
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("daemon:\n  max_attempts: 700\n", f);
    fclose(f);
    ck_assert_int_eq(fwup_config_load(path, &cfg, err, sizeof err), -1);
    char want[128];
    snprintf(want, sizeof want, "%s:2:17: ", path);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got %s", err);

    /* A directory is not a config. */
    ck_assert_int_eq(fwup_config_load(dir, &cfg, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: Is a directory", dir);
    ck_assert_str_eq(err, want);

    unlink(path);
    rmdir(dir);
}
END_TEST

/* Links are told apart by the port they resolve to: a by-id style symlink
 * and its target clash, two distinct nodes and a dangling name do not. */
START_TEST(test_link_same_port)
{
    char dir[] = "/tmp/fwup-cfg-XXXXXX", tty0[64], tty1[64], byid[64], text[512], err[1024];
    struct fwup_config *cfg;
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(tty0, sizeof tty0, "%s/ttyUSB0", dir);
    snprintf(tty1, sizeof tty1, "%s/ttyUSB1", dir);
    snprintf(byid, sizeof byid, "%s/usb-FTDI-if00", dir);
    FILE *f = fopen(tty0, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_ptr_nonnull(f = fopen(tty1, "w"));
    fclose(f);
    ck_assert_int_eq(symlink("ttyUSB0", byid), 0);

    snprintf(text, sizeof text,
             "links:\n"
             "  - {name: a, type: serial, path: %s}\n"
             "  - {name: b, type: serial, path: %s}\n"
             "  - {name: c, type: serial, path: %s/gone}\n",
             tty0, tty1, dir);
    ck_assert_int_eq(fwup_config_parse("t.yaml", text, strlen(text), &cfg, err, sizeof err), 0);
    ck_assert_uint_eq(cfg->nlinks, 3);
    fwup_config_free(cfg);

    snprintf(text, sizeof text,
             "links:\n"
             "  - {name: a, type: serial, path: %s}\n"
             "  - {name: b, type: serial, path: %s}\n"
             "  - name: c\n"
             "    type: serial\n"
             "    path: %s\n",
             tty0, tty1, byid);
    ck_assert_int_eq(fwup_config_parse("t.yaml", text, strlen(text), &cfg, err, sizeof err), -1);
    ck_assert_ptr_null(cfg);
    char want[512], *real = realpath(tty0, NULL); /* /tmp may be a symlink itself */
    ck_assert_ptr_nonnull(real);
    snprintf(want, sizeof want,
             "t.yaml:6:11: link 'c' uses the same port as link 'a' (line 2): %s and %s are "
             "both %s; give the port one link and put all its devices on it",
             byid, tty0, real);
    ck_assert_str_eq(err, want);
    free(real);

    unlink(byid);
    unlink(tty1);
    unlink(tty0);
    rmdir(dir);
}
END_TEST

START_TEST(test_example_config)
{
    const char *src = getenv("FWUP_SOURCE_DIR");
    char path[4096], err[512];
    struct fwup_config *cfg;
    ck_assert_msg(src != NULL, "FWUP_SOURCE_DIR not set");
    snprintf(path, sizeof path, "%s/config/fwupgw.yaml", src);
    ck_assert_msg(fwup_config_load(path, &cfg, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_ge(cfg->nlinks, 1);
    ck_assert_uint_ge(cfg->ndevices, 1);
    /* Every device names a link that exists. */
    for (size_t i = 0; i < cfg->ndevices; i++)
        ck_assert_ptr_nonnull(fwup_config_find_link(cfg, cfg->devices[i].link));
    ck_assert_str_eq(cfg->socket_group, "fwupgw");
    fwup_config_free(cfg);
}
END_TEST

/* ---- helpers ------------------------------------------------------------- */

START_TEST(test_durations)
{
    static const struct {
        const char *s;
        int ok;
        uint32_t ms;
    } cases[] = {
        {"0", 1, 0},
        {"250", 1, 250},
        {"500ms", 1, 500},
        {"2s", 1, 2000},
        {"1.5s", 1, 1500},
        {"0.001s", 1, 1},
        {"3m", 1, 180000},
        {"1.5m", 1, 90000},
        /* Every fractional digit counts, up to nine of them. */
        {"1.25s", 1, 1250},
        {"0.125s", 1, 125},
        {"2.75m", 1, 165000},
        {"0.999s", 1, 999},
        {"1.500000000s", 1, 1500},
        {"1.0000000000s", 0, 0},
        {"1.00000000000000000000000000000000000000000000000000000000000000000s", 0, 0},
        {"1h", 1, 3600000},
        {"1193h", 1, 4294800000u},
        {"4294967295", 1, 4294967295u},
        {"4294967296", 0, 0},
        {"1194h", 0, 0},
        {"99999999999999999999s", 0, 0},
        {"0.0001s", 0, 0}, /* below a millisecond */
        {"1.5ms", 0, 0},
        {"1.5", 0, 0},
        {"", 0, 0},
        {"s", 0, 0},
        {"-1s", 0, 0},
        {"+1s", 0, 0},
        {" 1s", 0, 0},
        {"1 s", 0, 0},
        {"1s ", 0, 0},
        {"1.s", 0, 0},
        {".5s", 0, 0},
        {"1d", 0, 0},
        {"1S", 0, 0},
        {"1sec", 0, 0},
        {"0x10", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t v = 12345;
        int rc = fwup_parse_duration_ms(cases[i].s, &v);
        ck_assert_msg(rc == (cases[i].ok ? 0 : -1), "'%s': rc %d", cases[i].s, rc);
        if (cases[i].ok)
            ck_assert_msg(v == cases[i].ms, "'%s': %u != %u", cases[i].s, (unsigned)v,
                          (unsigned)cases[i].ms);
        else
            ck_assert_uint_eq(v, 12345); /* untouched on error */
    }
}
END_TEST

START_TEST(test_sizes)
{
    static const struct {
        const char *s;
        int ok;
        uint32_t v;
    } cases[] = {
        {"0", 1, 0},
        {"4096", 1, 4096},
        {"0x1000", 1, 4096},
        {"0X1f", 1, 31},
        {"0x08000000", 1, 0x08000000},
        {"256K", 1, 262144},
        {"1k", 1, 1024},
        {"1M", 1, 1048576},
        {"3G", 1, 3221225472u},
        {"0x10K", 1, 16384},
        {"4294967295", 1, 4294967295u},
        {"0xffffffff", 1, 4294967295u},
        {"4G", 0, 0},
        {"4294967296", 0, 0},
        {"0x100000000", 0, 0},
        {"4194304K", 0, 0},
        {"", 0, 0},
        {"K", 0, 0},
        {"0x", 0, 0},
        {"-1", 0, 0},
        {"1.5K", 0, 0},
        {"12 K", 0, 0},
        {"1KB", 0, 0},
        {"1T", 0, 0},
        {"0x1g0", 0, 0},
        {"12abc", 0, 0},
        {"0777x", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t v = 12345;
        int rc = fwup_parse_size(cases[i].s, &v);
        ck_assert_msg(rc == (cases[i].ok ? 0 : -1), "'%s': rc %d", cases[i].s, rc);
        if (cases[i].ok)
            ck_assert_msg(v == cases[i].v, "'%s': %u != %u", cases[i].s, (unsigned)v,
                          (unsigned)cases[i].v);
        else
            ck_assert_uint_eq(v, 12345);
    }
}
END_TEST

/* ---- lengths ------------------------------------------------------------- */

#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DEV "links: [{name: a, type: serial, path: /x}]\ndevices:\n  - {id: d, link: a, "

/* Strings the OS bounds: the longest is taken, one byte more is refused at
 * the value's position with its length and the limit. '@' marks the value. */
static const struct len_case {
    const char *text;
    size_t max;
    int path;            /* value is a path ("/aaa..."), else a name */
    const char *message; /* NULL: "'KEY' is too long (LEN bytes; " */
} len_cases[] = {
    {"daemon:\n  state_dir: @\n", FWUP_STATE_DIR_MAX, 1, NULL},
    {"daemon:\n  plugin_dir: @\n", PATH_MAX - NAME_MAX - 2, 1, NULL},
    {"daemon:\n  socket_group: @\n", LOGIN_NAME_MAX - 1, 0, NULL},
    {"daemon:\n  socket: @\n", 107, 1, "'socket' path is too long for a unix socket (max 107"},
    {"links:\n  - {name: a, type: serial, path: @}\n", PATH_MAX - 1, 1, NULL},
    {"links:\n  - {name: @, type: serial, path: /x}\n", 64, 0, "'name' must be 1 to 64 char"},
    {"links: [{name: " A64 ", type: serial, path: /x}]\ndevices:\n  - {id: d, link: @, "
     "protocol: p}\n",
     64, 0, NULL},
    {DEV "protocol: @}\n", 64, 0, NULL},
    {"links: [{name: a, type: serial, path: /x}]\ndevices:\n  - {id: @, link: a, protocol: p}\n",
     64, 0, "'id' must be 1 to 64 char"},
    {DEV "protocol: p, options: {@: 1}}\n", 64, 0,
     "'option name' is too long (65 bytes; a name is at most 64)"},
    {DEV "protocol: p, tags: [@]}\n", 64, 0, "'tag' must be 1 to 64 char"},
    {DEV "protocol: p,\n     control_lines: {boot0: {gpio: @, line: 1}}}\n", PATH_MAX - 1, 1, NULL},
};

static char *fill_value(const char *text, size_t n, int path)
{
    const char *at = strchr(text, '@');
    size_t pre = (size_t)(at - text), post = strlen(at + 1);
    char *out = malloc(pre + n + post + 1);
    ck_assert_ptr_nonnull(out);
    memcpy(out, text, pre);
    memset(out + pre, 'a', n);
    if (path && n)
        out[pre] = '/';
    memcpy(out + pre + n, at + 1, post + 1);
    return out;
}

static const char *key_of(const char *text)
{
    static char key[32];
    const char *at = strchr(text, '@');
    const char *colon = at - 2, *start = colon;
    while (start > text && (isalnum((unsigned char)start[-1]) || start[-1] == '_'))
        start--;
    snprintf(key, sizeof key, "%.*s", (int)(colon - start), start);
    return key;
}

START_TEST(test_lengths)
{
    const struct len_case *c = &len_cases[_i];
    /* Position of the value: line and column of '@'. */
    const char *at = strchr(c->text, '@');
    int line = 1, col = 1;
    for (const char *p = c->text; p < at; p++, col++)
        if (*p == '\n')
            line++, col = 0;
    char where[32], msg[160], err[1024] = "";
    snprintf(where, sizeof where, "t.yaml:%d:%d: ", line, col);
    if (c->message)
        snprintf(msg, sizeof msg, "%s", c->message);
    else
        snprintf(msg, sizeof msg, "'%s' is too long (%zu bytes; ", key_of(c->text), c->max + 1);

    char *text = fill_value(c->text, c->max, c->path);
    fwup_config_free(parse_ok(text));
    free(text);

    text = fill_value(c->text, c->max + 1, c->path);
    struct fwup_config *cfg = (void *)1;
    ck_assert_int_eq(fwup_config_parse("t.yaml", text, strlen(text), &cfg, err, sizeof err), -1);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strncmp(err, where, strlen(where)) == 0 && strstr(err, msg),
                  "case %d: expected %s...%s, got: %.300s", _i, where, msg, err);
    if (!c->message) {
        snprintf(msg, sizeof msg, "at most %zu)", c->max);
        ck_assert_msg(strstr(err, msg) != NULL, "case %d: limit not named: %.300s", _i, err);
    }
    free(text);
}
END_TEST

/* The 8 MB state_dir that --check-config used to take. */
START_TEST(test_huge_state_dir)
{
    char err[1024] = "";
    struct fwup_config *cfg = (void *)1;
    /* 512 KiB: the longest that fits in a document (YU_MAX_DOC) by far */
    char *text = fill_value("daemon:\n  state_dir: @\n", 512u << 10, 1);
    ck_assert_int_eq(fwup_config_parse("t.yaml", text, strlen(text), &cfg, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "t.yaml:2:14: 'state_dir' is too long (524288 bytes; ") == err,
                  "got: %.300s", err);
    free(text);
}
END_TEST

/* phase_timeouts nested `lists` more levels deep: the document's depth is
 * lists + 2 (the top level and daemon:). */
static char *nested(int lists)
{
    size_t n = (size_t)lists;
    char *t = malloc(2 * n + 64);
    int w = sprintf(t, "daemon:\n  phase_timeouts: ");
    memset(t + w, '[', n);
    memset(t + w + n, ']', n);
    strcpy(t + w + 2 * n, "\n");
    return t;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Depth and size bounds, each at its limit and one past it, with positions;
 * deep nesting is refused fast (libyaml alone took 40 s on 200 KB). */
START_TEST(test_yaml_bounds)
{
    struct fwup_config *cfg = NULL;
    char err[512];
    char *t = nested(YU_MAX_DEPTH - 2);
    ck_assert_int_eq(fwup_config_parse("c.yaml", t, strlen(t), &cfg, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "must be a mapping") != NULL, "%s", err);
    free(t);
    t = nested(YU_MAX_DEPTH - 1);
    ck_assert_int_eq(fwup_config_parse("c.yaml", t, strlen(t), &cfg, err, sizeof err), -1);
    ck_assert_str_eq(err, "c.yaml:2:49: nested deeper than 32 levels");
    free(t);

    t = nested(100000);
    double t0 = seconds_now();
    ck_assert_int_eq(fwup_config_parse("c.yaml", t, strlen(t), &cfg, err, sizeof err), -1);
    ck_assert_msg(seconds_now() - t0 < 0.5, "deep nesting took %.1f s", seconds_now() - t0);
    ck_assert_msg(strstr(err, "nested deeper") != NULL, "%s", err);
    free(t);

    /* size: exactly YU_MAX_DOC loads (padded with a comment), one more not */
    char path[] = "/tmp/fwup-cfg-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *head = "daemon: {max_attempts: 5}\n#";
    size_t n = YU_MAX_DOC;
    char *big = malloc(n + 2);
    memset(big, 'x', n + 1);
    memcpy(big, head, strlen(head));
    big[n - 1] = '\n';
    ck_assert_int_eq(write(fd, big, n), (ssize_t)n);
    close(fd);
    ck_assert_int_eq(fwup_config_load(path, &cfg, err, sizeof err), 0);
    ck_assert_uint_eq(cfg->max_attempts, 5);
    fwup_config_free(cfg);
    cfg = NULL;
    big[n - 1] = 'x';
    big[n] = '\n';
    ck_assert_int_eq(fwup_config_parse("c.yaml", big, n + 1, &cfg, err, sizeof err), -1);
    ck_assert_str_eq(err, "c.yaml:1:1: larger than 1048576 bytes (1048577)");
    fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_int_eq(write(fd, big, n + 1), (ssize_t)n + 1);
    close(fd);
    ck_assert_int_eq(fwup_config_load(path, &cfg, err, sizeof err), -1);
    char want[64];
    snprintf(want, sizeof want, "%s:1:1: larger than 1048576 bytes", path);
    ck_assert_str_eq(err, want);
    unlink(path);
    free(big);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_full);
    tcase_add_test(tc, test_control_sequences);
    tcase_add_loop_test(tc, test_defaults, 0, (int)(sizeof empty_docs / sizeof empty_docs[0]));
    tcase_add_test(tc, test_link_defaults);
    tcase_add_test(tc, test_socket_mode_forms);
    tcase_add_test(tc, test_accepted_bounds);
    tcase_add_test(tc, test_size_minimums);
    tcase_add_loop_test(tc, test_uint_bounds, 0, (int)(sizeof uint_cases / sizeof uint_cases[0]));
    tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof err_cases / sizeof err_cases[0]));
    tcase_add_test(tc, test_error_buffers);
    tcase_add_loop_test(tc, test_lengths, 0, (int)(sizeof len_cases / sizeof len_cases[0]));
    tcase_add_test(tc, test_huge_state_dir);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_add_test(tc, test_load_missing);
    tcase_add_test(tc, test_load_file);
    tcase_add_test(tc, test_link_same_port);
    tcase_add_test(tc, test_example_config);
    suite_add_tcase(s, tc);

    tc = tcase_create("helpers");
    tcase_add_test(tc, test_durations);
    tcase_add_test(tc, test_sizes);
    tcase_add_test(tc, test_yaml_bounds);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
