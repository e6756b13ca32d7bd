/*
 * Daemon configuration: a strict schema over libyaml's document tree. Every
 * key is known, every value is range-checked, and the first problem aborts
 * the load with its position, so a config that loads is one the daemon can
 * run as written.
 */
#include "config.h"
#include "baud.h"
#include "defaults.h"
#include "fwupgw/sockapi.h"
#include "units.h"
#include "yamlutil.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#define DEFAULT_STATE_DIR "/var/lib/fwupgw"

/* ---- value helpers ---------------------------------------------------- */

/* ---- node readers ------------------------------------------------------ */

static int get_uint(struct yu_doc *d, const yaml_node_t *n, const char *key, unsigned min,
                    unsigned max, unsigned *out)
{
    const char *s;
    uint64_t v;
    if (yu_scalar(d, n, key, &s) < 0)
        return -1;
    if (fwup_parse_digits(s, 10, UINT32_MAX, &v) < 0 || v < min || v > max)
        return yu_fail(d, n, "'%s' must be an integer from %u to %u, not '%s'", key, min, max, s);
    *out = (unsigned)v;
    return 0;
}

static int get_duration(struct yu_doc *d, const yaml_node_t *n, const char *key, int allow_zero,
                        uint32_t *out)
{
    const char *s;
    if (yu_scalar(d, n, key, &s) < 0)
        return -1;
    if (fwup_parse_duration_ms(s, out) < 0)
        return yu_fail(d, n,
                       "'%s' must be a duration like 500ms, 2s, 1.5s, 3m, 1h or a number of "
                       "milliseconds, not '%s'",
                       key, s);
    if (!allow_zero && *out == 0)
        return yu_fail(d, n, "'%s' must be greater than zero", key);
    return 0;
}

static int get_size(struct yu_doc *d, const yaml_node_t *n, const char *key, uint32_t *out)
{
    const char *s;
    if (yu_scalar(d, n, key, &s) < 0)
        return -1;
    if (fwup_parse_size(s, out) < 0)
        return yu_fail(d, n,
                       "'%s' must be a 32-bit size or address (decimal or 0x hex, optional "
                       "K/M/G suffix), not '%s'",
                       key, s);
    return 0;
}

/* One of `words` (NULL-terminated); the index goes to *out. */
static int get_enum(struct yu_doc *d, const yaml_node_t *n, const char *key,
                    const char *const *words, int *out)
{
    const char *s;
    char list[200] = "";
    if (yu_scalar(d, n, key, &s) < 0)
        return -1;
    for (int i = 0; words[i]; i++) {
        if (!strcmp(s, words[i])) {
            *out = i;
            return 0;
        }
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", i ? " | " : "", words[i]);
    }
    return yu_fail(d, n, "'%s' must be one of %s, not '%s'", key, list, s);
}

/* NULL and a null scalar both mean "section left out". */
static int absent(const yaml_node_t *n)
{
    return !n || yu_is_null(n);
}

/* ---- daemon: ------------------------------------------------------------ */

/* A string the OS bounds (a path, a group name): one longer than max bytes
 * is refused here, at its position, rather than cut short or failing later
 * far from the config. */
static int get_bounded(struct yu_doc *d, const yaml_node_t *n, const char *key, size_t max,
                       const char *what, char **out)
{
    const char *s;
    if (yu_scalar(d, n, key, &s) < 0)
        return -1;
    size_t len = strlen(s);
    if (len > max)
        return yu_fail(d, n, "'%s' is too long (%zu bytes; %s is at most %zu)", key, len, what,
                       max);
    return yu_strdup(d, n, key, out);
}

static int parse_backoff(struct yu_doc *d, const yaml_node_t *n, struct fwup_config *cfg)
{
    static const char *const keys[] = {"initial", "max", NULL};
    if (yu_check_map(d, n, "daemon.retry_backoff", keys) < 0)
        return -1;
    const yaml_node_t *v;
    if ((v = yu_get(d, n, "initial")) && get_duration(d, v, "initial", 0, &cfg->backoff_initial_ms))
        return -1;
    if ((v = yu_get(d, n, "max")) && get_duration(d, v, "max", 0, &cfg->backoff_max_ms))
        return -1;
    if (cfg->backoff_max_ms < cfg->backoff_initial_ms)
        return yu_fail(d, n, "retry_backoff: max (%ums) is below initial (%ums)",
                       (unsigned)cfg->backoff_max_ms, (unsigned)cfg->backoff_initial_ms);
    return 0;
}

static int parse_phase_timeouts(struct yu_doc *d, const yaml_node_t *n, struct fwup_config *cfg)
{
    /* Phase names are whatever plugins report, so any key is allowed; only
     * duplicates and the shape are checked. */
    if (!n || n->type != YAML_MAPPING_NODE)
        return yu_fail(d, n, "daemon.phase_timeouts must be a mapping of phase: duration, not %s",
                       yu_kind(n));
    size_t cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (!cnt)
        return 0;
    cfg->phase_timeouts = calloc(cnt, sizeof *cfg->phase_timeouts);
    if (!cfg->phase_timeouts)
        return yu_fail(d, n, "out of memory");
    for (size_t i = 0; i < cnt; i++) {
        const yaml_node_pair_t *pr = &n->data.mapping.pairs.start[i];
        const yaml_node_t *k = yu_node(d, pr->key), *v = yu_node(d, pr->value);
        struct fwup_cfg_phase_timeout *pt = &cfg->phase_timeouts[i];
        cfg->nphase_timeouts = i + 1;
        if (yu_id(d, k, "phase name", &pt->phase) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(cfg->phase_timeouts[j].phase, pt->phase))
                return yu_fail(d, k, "duplicate key '%s' in daemon.phase_timeouts", pt->phase);
        if (get_duration(d, v, pt->phase, 0, &pt->ms) < 0)
            return -1;
    }
    return 0;
}

static int parse_daemon(struct yu_doc *d, const yaml_node_t *n, struct fwup_config *cfg)
{
    static const char *const keys[] = {"socket",
                                       "socket_group",
                                       "socket_mode",
                                       "unprivileged",
                                       "state_dir",
                                       "plugin_dir",
                                       "max_concurrent_jobs",
                                       "max_attempts",
                                       "retry_backoff",
                                       "stall_timeout",
                                       "cancel_grace",
                                       "phase_timeouts",
                                       "max_clients",
                                       "max_clients_per_uid",
                                       "max_request_size",
                                       "max_client_output",
                                       "max_input_total",
                                       "max_output_total",
                                       NULL};
    static const struct {
        const char *key;
        uint32_t min;
        size_t off;
    } sizes[] = {
        {"max_request_size", 4096, offsetof(struct fwup_config, max_request_size)},
        {"max_client_output", 4096, offsetof(struct fwup_config, max_client_output)},
        {"max_input_total", 65536, offsetof(struct fwup_config, max_input_total)},
        {"max_output_total", 65536, offsetof(struct fwup_config, max_output_total)},
    };
    static const char *const access_words[] = {"none", "read", NULL};
    const yaml_node_t *v;

    if (yu_check_map(d, n, "daemon", keys) < 0)
        return -1;

    if ((v = yu_get(d, n, "socket"))) {
        if (yu_strdup(d, v, "socket", &cfg->socket_path) < 0)
            return -1;
        if (strlen(cfg->socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            return yu_fail(d, v, "'socket' path is too long for a unix socket (max %zu bytes)",
                           sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
    }
    if ((v = yu_get(d, n, "socket_group")) &&
        get_bounded(d, v, "socket_group", LOGIN_NAME_MAX - 1, "a group name", &cfg->socket_group))
        return -1;
    if ((v = yu_get(d, n, "socket_mode"))) {
        const char *s;
        uint64_t m;
        if (yu_scalar(d, v, "socket_mode", &s) < 0)
            return -1;
        /* YAML 1.1 writes octal as 0660, YAML 1.2 as 0o660: take both. */
        const char *digits = (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) ? s + 2 : s;
        if (fwup_parse_digits(digits, 8, 07777, &m) < 0)
            return yu_fail(d, v, "'socket_mode' must be an octal mode like 0660, not '%s'", s);
        cfg->socket_mode = (unsigned)m;
    }
    if ((v = yu_get(d, n, "unprivileged"))) {
        int a;
        if (get_enum(d, v, "unprivileged", access_words, &a) < 0)
            return -1;
        cfg->unprivileged = a ? FWUP_ACCESS_READ : FWUP_ACCESS_NONE;
    }
    /* Unset, the mode admits whom `unprivileged` admits: everyone may
     * connect to read; with `none` the kernel turns others away itself. */
    if (!yu_get(d, n, "socket_mode"))
        cfg->socket_mode = cfg->unprivileged == FWUP_ACCESS_READ ? 0666 : 0660;
    if ((v = yu_get(d, n, "state_dir")) &&
        get_bounded(d, v, "state_dir", FWUP_STATE_DIR_MAX, "the state directory", &cfg->state_dir))
        return -1;
    /* Plugin file names are appended to it. */
    if ((v = yu_get(d, n, "plugin_dir")) && get_bounded(d, v, "plugin_dir", PATH_MAX - NAME_MAX - 2,
                                                        "a directory path", &cfg->plugin_dir))
        return -1;
    if ((v = yu_get(d, n, "max_concurrent_jobs")) &&
        get_uint(d, v, "max_concurrent_jobs", 1, 4096, &cfg->max_concurrent_jobs))
        return -1;
    if ((v = yu_get(d, n, "max_attempts")) &&
        get_uint(d, v, "max_attempts", 1, FWUP_MAX_ATTEMPTS_MAX, &cfg->max_attempts))
        return -1;
    if ((v = yu_get(d, n, "retry_backoff")) && parse_backoff(d, v, cfg))
        return -1;
    if ((v = yu_get(d, n, "stall_timeout")) &&
        get_duration(d, v, "stall_timeout", 0, &cfg->stall_timeout_ms))
        return -1;
    if ((v = yu_get(d, n, "cancel_grace")) &&
        get_duration(d, v, "cancel_grace", 1, &cfg->cancel_grace_ms))
        return -1;
    if ((v = yu_get(d, n, "phase_timeouts")) && !absent(v) && parse_phase_timeouts(d, v, cfg))
        return -1;
    if ((v = yu_get(d, n, "max_clients")) &&
        get_uint(d, v, "max_clients", 1, 65536, &cfg->max_clients))
        return -1;
    if ((v = yu_get(d, n, "max_clients_per_uid")) &&
        get_uint(d, v, "max_clients_per_uid", 1, 65536, &cfg->max_clients_per_uid))
        return -1;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint32_t *out = (uint32_t *)((char *)cfg + sizes[i].off);
        if (!(v = yu_get(d, n, sizes[i].key)))
            continue;
        if (get_size(d, v, sizes[i].key, out) < 0)
            return -1;
        if (*out < sizes[i].min)
            return yu_fail(d, v, "'%s' must be at least %u bytes", sizes[i].key,
                           (unsigned)sizes[i].min);
    }
    return 0;
}

/* ---- links: -------------------------------------------------------------- */

static const char *const bool_words[] = {"false", "true", "no", "yes", NULL};

static int baud_supported(uint64_t b)
{
    return b <= UINT32_MAX && fwup_baud_speed((unsigned long)b) != B0;
}

/* A uint32 in decimal or 0x hex within [min, max]: 0, or -1. */
static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    uint64_t v;
    int hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    if (fwup_parse_digits(hex ? s + 2 : s, hex ? 16 : 10, UINT32_MAX, &v) < 0 || v < min || v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* parse_u32 of a node; `what` completes "'KEY' must be ...". */
static int get_u32(struct yu_doc *d, const yaml_node_t *n, const char *key, uint32_t min,
                   uint32_t max, const char *what, uint32_t *out)
{
    const char *s;
    if (yu_scalar(d, n, key, &s) < 0)
        return -1;
    if (parse_u32(s, min, max, out) < 0)
        return yu_fail(d, n, "'%s' must be %s, not '%s'", key, what, s);
    return 0;
}

static int parse_serial_link(struct yu_doc *d, const yaml_node_t *n, struct fwup_cfg_link *l)
{
    static const char *const parities[] = {"none", "even", "odd", NULL};
    static const char *const flows[] = {"none", "rtscts", "xonxoff", NULL};
    const yaml_node_t *v;
    int e;

    l->baud = 115200;
    l->data_bits = 8;
    l->stop_bits = 1;
    if (!(v = yu_get(d, n, "path")))
        return yu_fail(d, n, "link '%s' is missing required key 'path'", l->name);
    if (get_bounded(d, v, "path", PATH_MAX - 1, "a path", &l->path) < 0)
        return -1;

    if ((v = yu_get(d, n, "baud"))) {
        const char *s;
        uint64_t b;
        if (yu_scalar(d, v, "baud", &s) < 0)
            return -1;
        if (fwup_parse_digits(s, 10, UINT32_MAX, &b) < 0 || !baud_supported(b))
            return yu_fail(d, v,
                           "'baud' must be a standard rate (50 ... 9600, 19200, 38400, 57600, "
                           "115200 ... 4000000), not '%s'",
                           s);
        l->baud = (unsigned)b;
    }
    if ((v = yu_get(d, n, "parity"))) {
        if (get_enum(d, v, "parity", parities, &e) < 0)
            return -1;
        l->parity = (enum fwup_parity)e;
        l->parity_set = 1;
    }
    if ((v = yu_get(d, n, "data_bits")) && get_uint(d, v, "data_bits", 5, 8, &l->data_bits))
        return -1;
    if ((v = yu_get(d, n, "stop_bits")) && get_uint(d, v, "stop_bits", 1, 2, &l->stop_bits))
        return -1;
    if ((v = yu_get(d, n, "flow_control"))) {
        if (get_enum(d, v, "flow_control", flows, &e) < 0)
            return -1;
        l->flow = (enum fwup_flow)e;
    }
    return 0;
}

/* CAN bit rates: CiA's lowest standard rate to ISO 11898's 1 Mbit/s for
 * the arbitration phase; CAN FD data phases up to 8 Mbit/s (SIC
 * transceivers), never below the arbitration rate. */
#define CAN_BITRATE_MIN      10000
#define CAN_BITRATE_MAX      1000000
#define CAN_DATA_BITRATE_MAX 8000000
#define STR_(x)              #x
#define STR(x)               STR_(x)

static int parse_can_link(struct yu_doc *d, const yaml_node_t *n, struct fwup_cfg_link *l)
{
    const yaml_node_t *v;
    int b;

    if (!(v = yu_get(d, n, "interface")))
        return yu_fail(d, n, "link '%s' is missing required key 'interface'", l->name);
    /* A netdev name: at most IFNAMSIZ-1 bytes, no '/', ':' or white space. */
    if (get_bounded(d, v, "interface", 15, "a network interface name", &l->can.interface) < 0)
        return -1;
    if (!*l->can.interface || strpbrk(l->can.interface, "/: \t") ||
        !strcmp(l->can.interface, ".") || !strcmp(l->can.interface, ".."))
        return yu_fail(d, v, "'interface' must be a network interface name like can0, not '%s'",
                       l->can.interface);
    if ((v = yu_get(d, n, "fd"))) {
        if (get_enum(d, v, "fd", bool_words, &b) < 0)
            return -1;
        l->can.fd = b & 1;
    }
    if ((v = yu_get(d, n, "bitrate")) &&
        get_u32(d, v, "bitrate", CAN_BITRATE_MIN, CAN_BITRATE_MAX,
                "from " STR(CAN_BITRATE_MIN) " to " STR(CAN_BITRATE_MAX) " bit/s",
                &l->can.bitrate) < 0)
        return -1;
    if ((v = yu_get(d, n, "data_bitrate"))) {
        if (!l->can.fd)
            return yu_fail(d, v, "'data_bitrate' is for CAN FD: set 'fd: true' on link '%s'",
                           l->name);
        uint32_t min = l->can.bitrate ? l->can.bitrate : CAN_BITRATE_MIN;
        char what[80];
        snprintf(what, sizeof what, "from %u%s to %u bit/s", (unsigned)min,
                 l->can.bitrate ? " (the bitrate)" : "", CAN_DATA_BITRATE_MAX);
        if (get_u32(d, v, "data_bitrate", min, CAN_DATA_BITRATE_MAX, what, &l->can.data_bitrate) <
            0)
            return -1;
    }
    if ((v = yu_get(d, n, "restart_ms")) &&
        get_u32(d, v, "restart_ms", 0, UINT32_MAX, "a number of milliseconds (0: no restart)",
                &l->can.restart_ms) < 0)
        return -1;
    if ((v = yu_get(d, n, "max_jobs")) && get_uint(d, v, "max_jobs", 1, 4096, &l->can.max_jobs))
        return -1;
    return 0;
}

/* "VID:PID", four hex digits each as lsusb prints them. */
static int get_usb_id(struct yu_doc *d, const yaml_node_t *n, const char *key,
                      struct fwup_cfg_usb_id *out)
{
    const char *s;
    uint64_t vid, pid;
    char buf[5] = "";
    if (yu_scalar(d, n, key, &s) < 0)
        return -1;
    if (strlen(s) != 9 || s[4] != ':' ||
        (memcpy(buf, s, 4), fwup_parse_digits(buf, 16, 0xFFFF, &vid)) ||
        fwup_parse_digits(s + 5, 16, 0xFFFF, &pid))
        return yu_fail(d, n, "'%s' must be a USB VID:PID like 0483:df11, not '%s'", key, s);
    *out = (struct fwup_cfg_usb_id){1, (uint16_t)vid, (uint16_t)pid};
    return 0;
}

/* A port path as the kernel names it in sysfs: BUS-PORT[.PORT]..., bus
 * and ports from 1 to 255, at most 7 ports deep (USB 3 allows 7 tiers). */
static int valid_usb_port(const char *s)
{
    int nums = 0;
    for (const char *p = s;; p++) {
        uint64_t v = 0;
        const char *start = p;
        for (; *p >= '0' && *p <= '9' && v <= 255; p++)
            v = v * 10 + (uint64_t)(*p - '0');
        if (p == start || v < 1 || v > 255 || (*start == '0'))
            return 0;
        nums++;
        if (!*p)
            return nums >= 2 && nums <= 8;
        if (*p != (nums == 1 ? '-' : '.'))
            return 0;
    }
}

static int parse_usb_link(struct yu_doc *d, const yaml_node_t *n, struct fwup_cfg_link *l)
{
    const yaml_node_t *v;
    if ((v = yu_get(d, n, "vid_pid")) && get_usb_id(d, v, "vid_pid", &l->usb.app) < 0)
        return -1;
    if ((v = yu_get(d, n, "dfu_vid_pid")) && get_usb_id(d, v, "dfu_vid_pid", &l->usb.dfu) < 0)
        return -1;
    if ((v = yu_get(d, n, "serial")) &&
        get_bounded(d, v, "serial", 255, "a USB serial number", &l->usb.serial) < 0)
        return -1;
    if ((v = yu_get(d, n, "port"))) {
        if (yu_strdup(d, v, "port", &l->usb.port) < 0)
            return -1;
        if (!valid_usb_port(l->usb.port))
            return yu_fail(d, v, "'port' must be a USB port path like 1-1.4, not '%s'",
                           l->usb.port);
    }
    if (!l->usb.app.set && !l->usb.dfu.set && !l->usb.serial && !l->usb.port)
        return yu_fail(d, n,
                       "usb link '%s' matches any device: give at least one of vid_pid, "
                       "dfu_vid_pid, serial, port",
                       l->name);
    return 0;
}

static int parse_link(struct yu_doc *d, const yaml_node_t *n, struct fwup_config *cfg,
                      struct fwup_cfg_link *l)
{
    /* Keys per kind, the common ones first. */
    static const char *const serial_keys[] = {
        "name", "type", "path", "baud", "parity", "data_bits", "stop_bits", "flow_control", NULL};
    static const char *const can_keys[] = {"name",       "type",         "interface",
                                           "bitrate",    "data_bitrate", "fd",
                                           "restart_ms", "max_jobs",     NULL};
    static const char *const usb_keys[] = {"name",   "type", "vid_pid", "dfu_vid_pid",
                                           "serial", "port", NULL};
    static const char *const types[] = {"serial", "can", "usb", NULL};
    static const enum fwup_link_kind kinds[] = {FWUP_LINK_SERIAL, FWUP_LINK_CAN, FWUP_LINK_USB};
    static const char *const *const keys[] = {serial_keys, can_keys, usb_keys};
    static const char *const what[] = {"a serial link", "a can link", "a usb link"};
    static int (*const parse[])(struct yu_doc *, const yaml_node_t *, struct fwup_cfg_link *) = {
        parse_serial_link, parse_can_link, parse_usb_link};
    const yaml_node_t *v;
    int t = 0; /* serial when not given: configs from before typed links */

    l->pos.line = (int)n->start_mark.line + 1;
    l->pos.col = (int)n->start_mark.column + 1;
    if (n->type == YAML_MAPPING_NODE && (v = yu_get(d, n, "type")) &&
        get_enum(d, v, "type", types, &t) < 0)
        return -1;
    l->type = kinds[t];
    if (yu_check_map(d, n, n->type == YAML_MAPPING_NODE ? what[t] : "a link", keys[t]) < 0)
        return -1;

    if (!(v = yu_get(d, n, "name")))
        return yu_fail(d, n, "link is missing required key 'name'");
    if (yu_id(d, v, "name", &l->name) < 0)
        return -1;
    for (struct fwup_cfg_link *o = cfg->links; o < l; o++)
        if (!strcmp(o->name, l->name))
            return yu_fail(d, v, "duplicate link name '%s' (first at line %d)", l->name,
                           o->pos.line);
    return parse[t](d, n, l);
}

/* The resource a link drives, for the check that no two links drive the
 * same one: a serial port (resolved, so that a /dev/serial/by-id/ symlink
 * and the node it points at are the same port; a path that does not exist
 * yet is taken as written), a CAN interface, a USB port path. */
static char *link_resource(const struct fwup_cfg_link *l, const char **what, const char **key)
{
    char *r;
    switch (l->type) {
    case FWUP_LINK_CAN:
        *what = "CAN interface", *key = "interface";
        return strdup(l->can.interface);
    case FWUP_LINK_USB:
        *what = "USB port", *key = "port";
        return l->usb.port ? strdup(l->usb.port) : NULL;
    default:
        *what = "port", *key = "path";
        return (r = realpath(l->path, NULL)) ? r : strdup(l->path);
    }
}

static const char *link_path(const struct fwup_cfg_link *l)
{
    return l->type == FWUP_LINK_CAN ? l->can.interface
           : l->type == FWUP_LINK_USB ? l->usb.port
                                      : l->path;
}

/* Two links on one port or bus would run two jobs on it unaware of each
 * other: refused, naming both. Two usb links that match the same devices
 * the same way could never tell them apart. */
static int check_link_paths(struct yu_doc *d, const yaml_node_t *n, struct fwup_config *cfg)
{
    char **real = calloc(cfg->nlinks, sizeof *real);
    int rc = 0;
    if (!real)
        return yu_fail(d, n, "out of memory");
    for (size_t i = 0; i < cfg->nlinks && rc == 0; i++) {
        const struct fwup_cfg_link *l = &cfg->links[i];
        const yaml_node_t *e = yu_node(d, n->data.sequence.items.start[i]);
        const char *what, *key;
        real[i] = link_resource(l, &what, &key);
        if (!real[i] && (l->type != FWUP_LINK_USB || l->usb.port)) {
            rc = yu_fail(d, n, "out of memory");
            break;
        }
        for (size_t j = 0; j < i; j++) {
            const struct fwup_cfg_link *o = &cfg->links[j];
            if (o->type != l->type)
                continue;
            if (l->type == FWUP_LINK_USB && !real[i] && !real[j] &&
                !memcmp(&l->usb.app, &o->usb.app, sizeof l->usb.app) &&
                !memcmp(&l->usb.dfu, &o->usb.dfu, sizeof l->usb.dfu) &&
                !strcmp(l->usb.serial ? l->usb.serial : "", o->usb.serial ? o->usb.serial : "")) {
                rc = yu_fail(d, e, "link '%s' matches the same USB devices as link '%s' (line %d)",
                             l->name, o->name, o->pos.line);
                break;
            }
            if (!real[i] || !real[j] || strcmp(real[i], real[j]) != 0)
                continue;
            char same[3 * PATH_MAX];
            if (!strcmp(link_path(l), link_path(o)))
                snprintf(same, sizeof same, "%s", link_path(l));
            else
                snprintf(same, sizeof same, "%s and %s are both %s", l->path, o->path, real[i]);
            rc = yu_fail(d, yu_get(d, e, key),
                         "link '%s' uses the same %s as link '%s' (line %d): %s; "
                         "give the %s one link and put all its devices on it",
                         l->name, what, o->name, o->pos.line, same,
                         l->type == FWUP_LINK_CAN ? "bus" : "port");
            break;
        }
    }
    for (size_t i = 0; i < cfg->nlinks; i++)
        free(real[i]);
    free(real);
    return rc;
}

static int parse_links(struct yu_doc *d, const yaml_node_t *n, struct fwup_config *cfg)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return yu_fail(d, n, "'links' must be a list, not %s", yu_kind(n));
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (!cnt)
        return 0;
    if (!(cfg->links = calloc(cnt, sizeof *cfg->links)))
        return yu_fail(d, n, "out of memory");
    for (size_t i = 0; i < cnt; i++) {
        cfg->nlinks = i + 1;
        if (parse_link(d, yu_node(d, n->data.sequence.items.start[i]), cfg, &cfg->links[i]) < 0)
            return -1;
    }
    return check_link_paths(d, n, cfg);
}

/* ---- devices: ------------------------------------------------------------ */

static int parse_flash(struct yu_doc *d, const yaml_node_t *n, struct fwup_cfg_device *dev)
{
    static const char *const keys[] = {"base", "size", NULL};
    const yaml_node_t *v;
    if (yu_check_map(d, n, "flash", keys) < 0)
        return -1;
    if (!(v = yu_get(d, n, "base")))
        return yu_fail(d, n, "flash is missing required key 'base'");
    if (get_size(d, v, "base", &dev->flash_base) < 0)
        return -1;
    if (!(v = yu_get(d, n, "size")))
        return yu_fail(d, n, "flash is missing required key 'size'");
    if (get_size(d, v, "size", &dev->flash_size) < 0)
        return -1;
    if (dev->flash_size == 0)
        return yu_fail(d, v, "flash 'size' must be greater than zero");
    if ((uint64_t)dev->flash_base + dev->flash_size > (uint64_t)UINT32_MAX + 1)
        return yu_fail(d, n, "flash range 0x%08x + 0x%x runs past the 32-bit address space",
                       (unsigned)dev->flash_base, (unsigned)dev->flash_size);
    return 0;
}

static int parse_tags(struct yu_doc *d, const yaml_node_t *n, struct fwup_cfg_device *dev)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return yu_fail(d, n, "'tags' must be a list, not %s", yu_kind(n));
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (!cnt)
        return 0;
    if (!(dev->tags = calloc(cnt, sizeof *dev->tags)))
        return yu_fail(d, n, "out of memory");
    for (size_t i = 0; i < cnt; i++) {
        const yaml_node_t *t = yu_node(d, n->data.sequence.items.start[i]);
        dev->ntags = i + 1;
        if (yu_id(d, t, "tag", &dev->tags[i]) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(dev->tags[j], dev->tags[i]))
                return yu_fail(d, t, "duplicate tag '%s'", dev->tags[i]);
    }
    return 0;
}

static int parse_options(struct yu_doc *d, const yaml_node_t *n, struct fwup_cfg_device *dev)
{
    /* Keys belong to the plugin's schema, checked later by the daemon. */
    if (n->type != YAML_MAPPING_NODE)
        return yu_fail(d, n, "'options' must be a mapping, not %s", yu_kind(n));
    size_t cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (!cnt)
        return 0;
    if (!(dev->options = calloc(cnt, sizeof *dev->options)))
        return yu_fail(d, n, "out of memory");
    for (size_t i = 0; i < cnt; i++) {
        const yaml_node_pair_t *pr = &n->data.mapping.pairs.start[i];
        const yaml_node_t *k = yu_node(d, pr->key), *v = yu_node(d, pr->value);
        struct fwup_cfg_option *o = &dev->options[i];
        dev->noptions = i + 1;
        if (get_bounded(d, k, "option name", YU_MAX_ID, "a name", &o->name) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(dev->options[j].name, o->name))
                return yu_fail(d, k, "duplicate key '%s' in options", o->name);
        if (yu_strdup(d, v, o->name, &o->value) < 0)
            return -1;
        o->pos.line = (int)v->start_mark.line + 1;
        o->pos.col = (int)v->start_mark.column + 1;
    }
    return 0;
}

/* control_lines: {NAME: {gpio: CHIP, line: N, active_low: BOOL}} */
static int parse_control_lines(struct yu_doc *d, const yaml_node_t *n, struct fwup_cfg_device *dev)
{
    static const char *const keys[] = {"gpio", "line", "active_low", NULL};
    if (n->type != YAML_MAPPING_NODE)
        return yu_fail(d, n, "'control_lines' must be a mapping, not %s", yu_kind(n));
    size_t cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (!cnt)
        return 0;
    if (!(dev->lines = calloc(cnt, sizeof *dev->lines)))
        return yu_fail(d, n, "out of memory");
    for (size_t i = 0; i < cnt; i++) {
        const yaml_node_pair_t *pr = &n->data.mapping.pairs.start[i];
        const yaml_node_t *k = yu_node(d, pr->key), *v = yu_node(d, pr->value), *x;
        struct fwup_ctrl_line *l = &dev->lines[i];
        dev->nlines = i + 1;
        if (yu_id(d, k, "control line name", &l->name) < 0)
            return -1;
        if (!strcmp(l->name, "rts") || !strcmp(l->name, "dtr"))
            return yu_fail(d, k, "'%s' is the serial port's own line; it needs no definition",
                           l->name);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(dev->lines[j].name, l->name))
                return yu_fail(d, k, "duplicate control line '%s'", l->name);
        if (yu_check_map(d, v, "a control line", keys) < 0)
            return -1;
        l->kind = FWUP_LINE_GPIO;
        if (!(x = yu_get(d, v, "gpio")))
            return yu_fail(d, v, "control line '%s' is missing required key 'gpio'", l->name);
        if (get_bounded(d, x, "gpio", PATH_MAX - 1, "a GPIO chip name or path", &l->chip) < 0)
            return -1;
        if (!(x = yu_get(d, v, "line")))
            return yu_fail(d, v, "control line '%s' is missing required key 'line'", l->name);
        if (get_uint(d, x, "line", 0, 65535, &l->offset) < 0)
            return -1;
        int b = 0;
        if ((x = yu_get(d, v, "active_low")) && get_enum(d, x, "active_low", bool_words, &b) < 0)
            return -1;
        l->active_low = b & 1;
    }
    return 0;
}

/* entry / exit: a list of steps, see ctrlseq.h. */
static int parse_sequence(struct yu_doc *d, const yaml_node_t *n, const char *key,
                          struct fwup_cfg_device *dev, struct fwup_ctrl_seq *seq)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return yu_fail(d, n, "'%s' must be a list of steps, not %s", key, yu_kind(n));
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (!cnt)
        return 0;
    if (!(seq->steps = calloc(cnt, sizeof *seq->steps)))
        return yu_fail(d, n, "out of memory");
    for (size_t i = 0; i < cnt; i++) {
        const yaml_node_t *s = yu_node(d, n->data.sequence.items.start[i]);
        const char *text;
        char why[256];
        if (yu_scalar(d, s, key, &text) < 0)
            return -1;
        if (fwup_ctrl_parse_step(text, dev->lines, dev->nlines, &seq->steps[i], why, sizeof why) <
            0)
            return yu_fail(d, s, "%s", why);
        seq->n = i + 1;
    }
    return 0;
}

/* One CAN id of a device: 11 bits, or 29 with extended: true. */
static int get_can_id(struct yu_doc *d, const yaml_node_t *n, const char *key, int extended,
                      uint32_t *out)
{
    uint32_t max = extended ? FWUP_CAN_EFF_MASK : FWUP_CAN_SFF_MASK;
    const char *s;
    if (yu_scalar(d, n, key, &s) < 0)
        return -1;
    if (parse_u32(s, 0, max, out) == 0)
        return 0;
    if (!extended && parse_u32(s, 0, FWUP_CAN_EFF_MASK, out) == 0)
        return yu_fail(d, n,
                       "'%s' %s is wider than a standard 11-bit id (0 to 0x7FF): set "
                       "'extended: true' for 29-bit ids",
                       key, s);
    return yu_fail(d, n, "'%s' must be a CAN id from 0 to 0x%X, not '%s'", key, (unsigned)max, s);
}

/* tx_id, rx_id, func_id, extended: a device's ids on a can link. */
static int parse_can_ids(struct yu_doc *d, const yaml_node_t *n, const struct fwup_cfg_link *link,
                         struct fwup_cfg_device *dev)
{
    static const char *const keys[] = {"tx_id", "rx_id", "func_id", "extended", NULL};
    const yaml_node_t *v[4];
    int extended = 0;
    for (int i = 0; i < 4; i++) {
        v[i] = yu_get(d, n, keys[i]);
        if (v[i] && link->type != FWUP_LINK_CAN)
            return yu_fail(d, v[i], "'%s' is for devices on can links; link '%s' is %s", keys[i],
                           link->name, link->type == FWUP_LINK_USB ? "usb" : "serial");
    }
    if (v[3]) {
        if (get_enum(d, v[3], "extended", bool_words, &extended) < 0)
            return -1;
        extended &= 1;
    }
    uint32_t *ids[] = {&dev->can.tx_id, &dev->can.rx_id, &dev->can.func_id};
    for (int i = 0; i < 3; i++)
        if (v[i] && get_can_id(d, v[i], keys[i], extended, ids[i]) < 0)
            return -1;
    if (!v[0] != !v[1] || (v[2] && !v[0]))
        return yu_fail(d,
                       v[0]   ? v[0]
                       : v[1] ? v[1]
                              : v[2],
                       "device '%s': 'tx_id' and 'rx_id' go together (and 'func_id' needs them)",
                       dev->id);
    if (v[3] && !v[0])
        return yu_fail(d, v[3], "device '%s': 'extended' needs 'tx_id' and 'rx_id'", dev->id);
    if (v[0] && dev->can.tx_id == dev->can.rx_id)
        return yu_fail(d, v[1], "device '%s': 'rx_id' must differ from 'tx_id'", dev->id);
    if (v[2] && dev->can.func_id == 0)
        return yu_fail(d, v[2], "'func_id' must not be 0 (leave it out for none)");
    if (v[0]) {
        dev->can.set = 1;
        for (int i = 0; i < 3 && extended; i++)
            if (i < 2 || v[2])
                *ids[i] |= FWUP_CAN_EFF;
    }
    return 0;
}

static int parse_device(struct yu_doc *d, const yaml_node_t *n, struct fwup_config *cfg,
                        struct fwup_cfg_device *dev)
{
    static const char *const keys[] = {"id",
                                       "link",
                                       "protocol",
                                       "flash",
                                       "tags",
                                       "max_attempts",
                                       "options",
                                       "control_lines",
                                       "entry",
                                       "exit",
                                       "stay_in_bootloader_on_failure",
                                       "tx_id",
                                       "rx_id",
                                       "func_id",
                                       "extended",
                                       NULL};
    const yaml_node_t *v;

    dev->pos.line = (int)n->start_mark.line + 1;
    dev->pos.col = (int)n->start_mark.column + 1;
    if (yu_check_map(d, n, "a device", keys) < 0)
        return -1;

    if (!(v = yu_get(d, n, "id")))
        return yu_fail(d, n, "device is missing required key 'id'");
    if (yu_id(d, v, "id", &dev->id) < 0)
        return -1;
    for (struct fwup_cfg_device *o = cfg->devices; o < dev; o++)
        if (!strcmp(o->id, dev->id))
            return yu_fail(d, v, "duplicate device id '%s' (first at line %d)", dev->id,
                           o->pos.line);

    if (!(v = yu_get(d, n, "link")))
        return yu_fail(d, n, "device '%s' is missing required key 'link'", dev->id);
    if (get_bounded(d, v, "link", YU_MAX_ID, "a link name", &dev->link) < 0)
        return -1;
    const struct fwup_cfg_link *link = fwup_config_find_link(cfg, dev->link);
    if (!link) {
        char known[300] = "";
        for (size_t i = 0; i < cfg->nlinks; i++) {
            size_t l = strlen(known);
            snprintf(known + l, sizeof known - l, "%s%s", i ? ", " : "", cfg->links[i].name);
        }
        return yu_fail(d, v, "device '%s' names unknown link '%s' (%s%s)", dev->id, dev->link,
                       cfg->nlinks ? "known: " : "no links are defined", known);
    }
    if (parse_can_ids(d, n, link, dev) < 0)
        return -1;

    if (!(v = yu_get(d, n, "protocol")))
        return yu_fail(d, n, "device '%s' is missing required key 'protocol'", dev->id);
    if (get_bounded(d, v, "protocol", YU_MAX_ID, "a protocol name", &dev->protocol) < 0)
        return -1;
    dev->protocol_pos.line = (int)v->start_mark.line + 1;
    dev->protocol_pos.col = (int)v->start_mark.column + 1;

    if ((v = yu_get(d, n, "flash")) && parse_flash(d, v, dev) < 0)
        return -1;
    if ((v = yu_get(d, n, "tags")) && !absent(v) && parse_tags(d, v, dev) < 0)
        return -1;
    if ((v = yu_get(d, n, "max_attempts"))) {
        unsigned m;
        if (get_uint(d, v, "max_attempts", 1, FWUP_MAX_ATTEMPTS_MAX, &m) < 0)
            return -1;
        dev->max_attempts = (int)m;
    }
    if ((v = yu_get(d, n, "options")) && !absent(v) && parse_options(d, v, dev) < 0)
        return -1;
    /* Lines before sequences: steps refer to lines by name. */
    if ((v = yu_get(d, n, "control_lines")) && !absent(v) && parse_control_lines(d, v, dev) < 0)
        return -1;
    if ((v = yu_get(d, n, "entry")) && !absent(v) &&
        parse_sequence(d, v, "entry", dev, &dev->entry) < 0)
        return -1;
    if ((v = yu_get(d, n, "exit")) && !absent(v) &&
        parse_sequence(d, v, "exit", dev, &dev->exit) < 0)
        return -1;
    if ((v = yu_get(d, n, "stay_in_bootloader_on_failure"))) {
        int b;
        if (get_enum(d, v, "stay_in_bootloader_on_failure", bool_words, &b) < 0)
            return -1;
        dev->stay_in_bootloader_on_failure = b & 1;
    }
    return 0;
}

static int parse_devices(struct yu_doc *d, const yaml_node_t *n, struct fwup_config *cfg)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return yu_fail(d, n, "'devices' must be a list, not %s", yu_kind(n));
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (!cnt)
        return 0;
    if (!(cfg->devices = calloc(cnt, sizeof *cfg->devices)))
        return yu_fail(d, n, "out of memory");
    for (size_t i = 0; i < cnt; i++) {
        cfg->ndevices = i + 1;
        if (parse_device(d, yu_node(d, n->data.sequence.items.start[i]), cfg, &cfg->devices[i]) < 0)
            return -1;
    }
    return 0;
}

/* ---- public API ---------------------------------------------------------- */

static int set_defaults(struct fwup_config *cfg, const char *name)
{
    cfg->path = strdup(name);
    cfg->socket_path = strdup(FWUP_SOCKAPI_DEFAULT_PATH);
    cfg->state_dir = strdup(DEFAULT_STATE_DIR);
    cfg->socket_mode = 0666; /* follows unprivileged: read */
    cfg->unprivileged = FWUP_ACCESS_READ;
    cfg->max_concurrent_jobs = 16;
    cfg->max_attempts = FWUP_DEFAULT_MAX_ATTEMPTS;
    cfg->backoff_initial_ms = 2000;
    cfg->backoff_max_ms = 60000;
    cfg->stall_timeout_ms = 30000;
    cfg->cancel_grace_ms = FWUP_DEFAULT_CANCEL_GRACE_MS;
    return cfg->path && cfg->socket_path && cfg->state_dir ? 0 : -1;
}

int fwup_config_parse(const char *name, const char *text, size_t len, struct fwup_config **out,
                      char *err, size_t errlen)
{
    static const char *const keys[] = {"daemon", "links", "devices", NULL};
    struct yu_doc d;
    struct fwup_config *cfg = NULL;
    const yaml_node_t *root, *v;
    int rc = -1;

    *out = NULL;
    if (!name)
        name = "<config>";
    if (yu_parse(&d, name, text, len, err, errlen) < 0)
        goto done;
    if (!(cfg = calloc(1, sizeof *cfg)) || set_defaults(cfg, name) < 0) {
        yu_fail(&d, NULL, "out of memory");
        goto done;
    }
    root = yu_root(&d);
    if (root) {
        if (yu_check_map(&d, root, "the top level", keys) < 0)
            goto done;
        if ((v = yu_get(&d, root, "daemon")) && !absent(v) && parse_daemon(&d, v, cfg) < 0)
            goto done;
        /* Links first whatever the file order: devices refer to them. */
        if ((v = yu_get(&d, root, "links")) && !absent(v) && parse_links(&d, v, cfg) < 0)
            goto done;
        if ((v = yu_get(&d, root, "devices")) && !absent(v) && parse_devices(&d, v, cfg) < 0)
            goto done;
    }
    rc = 0;
    *out = cfg;
    cfg = NULL;
done:
    fwup_config_free(cfg);
    yu_free(&d);
    return rc;
}

int fwup_config_load(const char *path, struct fwup_config **out, char *err, size_t errlen)
{
    char *buf;
    size_t len;
    *out = NULL;
    if (yu_read_file(path, &buf, &len, err, errlen) < 0)
        return -1;
    int rc = fwup_config_parse(path, buf, len, out, err, errlen);
    free(buf);
    return rc;
}

void fwup_config_free(struct fwup_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    free(cfg->socket_path);
    free(cfg->socket_group);
    free(cfg->state_dir);
    free(cfg->plugin_dir);
    for (size_t i = 0; i < cfg->nphase_timeouts; i++)
        free(cfg->phase_timeouts[i].phase);
    free(cfg->phase_timeouts);
    for (size_t i = 0; i < cfg->nlinks; i++) {
        free(cfg->links[i].name);
        free(cfg->links[i].path);
        free(cfg->links[i].can.interface);
        free(cfg->links[i].usb.serial);
        free(cfg->links[i].usb.port);
    }
    free(cfg->links);
    for (size_t i = 0; i < cfg->ndevices; i++) {
        struct fwup_cfg_device *dev = &cfg->devices[i];
        free(dev->id);
        free(dev->link);
        free(dev->protocol);
        for (size_t j = 0; j < dev->noptions; j++) {
            free(dev->options[j].name);
            free(dev->options[j].value);
        }
        free(dev->options);
        for (size_t j = 0; j < dev->ntags; j++)
            free(dev->tags[j]);
        free(dev->tags);
        for (size_t j = 0; j < dev->nlines; j++) {
            free(dev->lines[j].name);
            free(dev->lines[j].chip);
        }
        free(dev->lines);
        free(dev->entry.steps);
        free(dev->exit.steps);
    }
    free(cfg->devices);
    free(cfg);
}

const struct fwup_cfg_link *fwup_config_find_link(const struct fwup_config *cfg, const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->nlinks; i++)
        if (cfg->links[i].name && !strcmp(cfg->links[i].name, name))
            return &cfg->links[i];
    return NULL;
}

const struct fwup_cfg_device *fwup_config_find_device(const struct fwup_config *cfg, const char *id)
{
    for (size_t i = 0; cfg && id && i < cfg->ndevices; i++)
        if (cfg->devices[i].id && !strcmp(cfg->devices[i].id, id))
            return &cfg->devices[i];
    return NULL;
}

int fwup_cfg_device_has_tag(const struct fwup_cfg_device *dev, const char *tag)
{
    for (size_t i = 0; dev && tag && i < dev->ntags; i++)
        if (!strcmp(dev->tags[i], tag))
            return 1;
    return 0;
}
