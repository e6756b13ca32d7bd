/*
 * Daemon configuration, loaded from YAML (libyaml). A config either loads
 * whole and valid or not at all: errors read "FILE:LINE:COL: message".
 * Protocol options are kept as strings here; the daemon validates them
 * against each plugin's option schema once plugins are loaded, using the
 * recorded line and column.
 */
#ifndef FWUPGW_CONFIG_H
#define FWUPGW_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "ctrlseq.h"
#include "fwupgw/link.h"

enum fwup_parity { FWUP_PARITY_NONE = 0, FWUP_PARITY_EVEN, FWUP_PARITY_ODD };
enum fwup_flow { FWUP_FLOW_NONE = 0, FWUP_FLOW_RTSCTS, FWUP_FLOW_XONXOFF };
/* What clients outside root, the daemon's uid and socket_group may do. */
enum fwup_access { FWUP_ACCESS_NONE = 0, FWUP_ACCESS_READ };

struct fwup_cfg_pos {
    int line, col; /* 1-based, of the YAML node */
};

/* USB VID:PID; `set` 0 if not given. */
struct fwup_cfg_usb_id {
    int set;
    uint16_t vid, pid;
};

struct fwup_cfg_link {
    char *name;
    enum fwup_link_kind type; /* SERIAL, CAN or USB; serial if not given */
    struct fwup_cfg_pos pos;

    /* serial */
    char *path;    /* device node */
    unsigned baud; /* default 115200 */
    enum fwup_parity parity;
    int parity_set;                /* parity was given explicitly */
    unsigned data_bits, stop_bits; /* default 8, 1 */
    enum fwup_flow flow;

    /* can */
    struct {
        char *interface;       /* netdev name, e.g. can0 */
        uint32_t bitrate;      /* 0: as set outside the daemon */
        uint32_t data_bitrate; /* CAN FD data phase; 0: none (or set outside) */
        int fd;                /* the bus runs CAN FD */
        uint32_t restart_ms;   /* bus-off auto restart; 0: off */
        unsigned max_jobs;     /* most jobs at once on this bus; 0: no cap */
    } can;

    /* usb: match rules, all given ones must match */
    struct {
        struct fwup_cfg_usb_id app, dfu; /* VID:PID in application and DFU mode */
        char *serial;                    /* iSerialNumber */
        char *port;                      /* port path "BUS-PORT[.PORT...]", e.g. 1-1.4 */
    } usb;
};

struct fwup_cfg_option {
    char *name, *value;
    struct fwup_cfg_pos pos;
};

/* A per-phase timeout: if the job stays in `phase` longer than `ms`, the run
 * fails as transient. */
struct fwup_cfg_phase_timeout {
    char *phase;
    uint32_t ms;
};

struct fwup_cfg_device {
    char *id;
    char *link;     /* name of a link in this config (checked) */
    char *protocol; /* plugin name (checked by the daemon) */
    struct fwup_cfg_option *options;
    size_t noptions;
    char **tags;
    size_t ntags;
    uint32_t flash_base, flash_size; /* flash: {base, size}; size 0 = undeclared */
    int max_attempts;                /* 0: daemon default */
    /* Hands-free bootloader entry and exit (ctrlseq.h): named GPIO lines,
     * and the sequences run before the protocol starts and after it ends
     * (also after a failure, unless stay_in_bootloader_on_failure). */
    struct fwup_ctrl_line *lines;
    size_t nlines;
    struct fwup_ctrl_seq entry, exit;
    int stay_in_bootloader_on_failure;
    /* On a can link: the ids the device is addressed on (physical request
     * tx_id, response rx_id, optional functional func_id), with
     * FWUP_CAN_EFF when extended. `set`: tx_id and rx_id were given. */
    struct {
        int set;
        uint32_t tx_id, rx_id, func_id; /* func_id 0: none */
    } can;
    struct fwup_cfg_pos pos, protocol_pos;
};

/* Longest state_dir: every file the daemon keeps there (images/<sha256>,
 * their temporary copies, the database) must fit the store's image path
 * column and PATH_MAX. */
#define FWUP_STATE_DIR_MAX 256

struct fwup_config {
    char *path; /* file it came from */

    /* daemon: */
    char *socket_path;                           /* default /run/fwupgw/fwupgw.sock */
    char *socket_group;                          /* NULL: no group change */
    unsigned socket_mode;                        /* default 0666, 0660 if unprivileged: none */
    enum fwup_access unprivileged;               /* default FWUP_ACCESS_READ */
    char *state_dir;                             /* default /var/lib/fwupgw */
    char *plugin_dir;                            /* NULL: the built-in default */
    unsigned max_concurrent_jobs;                /* default 16 */
    unsigned max_attempts;                       /* default 3 */
    uint32_t backoff_initial_ms, backoff_max_ms; /* default 2000, 60000 */
    uint32_t stall_timeout_ms;                   /* no event from the device: default 30000 */
    uint32_t cancel_grace_ms;                    /* engine abort grace: default 5000 */
    struct fwup_cfg_phase_timeout *phase_timeouts;
    size_t nphase_timeouts;
    /* What local clients can make the daemon hold (server.h): 0 = default */
    unsigned max_clients, max_clients_per_uid;
    uint32_t max_request_size, max_client_output, max_input_total, max_output_total;

    struct fwup_cfg_link *links;
    size_t nlinks;
    struct fwup_cfg_device *devices;
    size_t ndevices;
};

/* Returns 0, or -1 with "FILE:LINE:COL: message" in err. */
int fwup_config_load(const char *path, struct fwup_config **out, char *err, size_t errlen);
/* Same, from a string (tests); `name` stands in for the file name. */
int fwup_config_parse(const char *name, const char *text, size_t len, struct fwup_config **out,
                      char *err, size_t errlen);
void fwup_config_free(struct fwup_config *cfg);

const struct fwup_cfg_link *fwup_config_find_link(const struct fwup_config *cfg, const char *name);
const struct fwup_cfg_device *fwup_config_find_device(const struct fwup_config *cfg,
                                                      const char *id);
int fwup_cfg_device_has_tag(const struct fwup_cfg_device *dev, const char *tag);

#endif
