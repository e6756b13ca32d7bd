/*
 * fwupgwd: the firmware-update gateway daemon. One libuv loop owns the
 * configuration, the store, the plugins, the scheduler's runs and the control
 * socket; everything else is callbacks on that loop.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "api.h"
#include "blobstore.h"
#include "core.h"
#include "link.h"
#include "fwupgw/sockapi.h"
#include "log.h"
#include "outcomes.h"
#include "paths.h"
#include "scheduler.h"
#include "server.h"

/* How things stand, for systemd (if it is watching). */
static void notify_systemd(struct fwupd *d)
{
    if (!d->sched)
        return;
    const char *degraded = fwup_sched_degraded(d->sched);
    sd_notifyf(0, "STATUS=%zu job(s) running on %zu device(s)%s%s", fwup_sched_running(d->sched),
               d->conf->cfg->ndevices, degraded ? "; degraded: " : "", degraded ? degraded : "");
}

/* Everything the YAML parser cannot know: protocols exist, run on the
 * device's kind of link, and accept the device's options. */
static int validate(const struct fwup_config *cfg, const struct fwup_plugins *plugins, char *err,
                    size_t errlen)
{
    for (size_t i = 0; i < cfg->ndevices; i++) {
        const struct fwup_cfg_device *dev = &cfg->devices[i];
        const struct fwup_protocol *p = fwup_plugins_find(plugins, dev->protocol);
        char why[400];
        if (!p) {
            snprintf(err, errlen, "%s:%d:%d: device '%s': no protocol plugin '%s' is loaded",
                     cfg->path, dev->protocol_pos.line, dev->protocol_pos.col, dev->id,
                     dev->protocol);
            return -1;
        }
        const struct fwup_cfg_link *link = fwup_config_find_link(cfg, dev->link);
        if (fwup_link_kind_for(link, dev, p->transports, why, sizeof(why)) == FWUP_LINK_NONE) {
            snprintf(err, errlen, "%s:%d:%d: device '%s': %s", cfg->path, dev->protocol_pos.line,
                     dev->protocol_pos.col, dev->id, why);
            return -1;
        }
        for (size_t k = 0; k < dev->noptions; k++)
            if (fwup_protocol_check_option(p, dev->options[k].name, dev->options[k].value, why,
                                           sizeof(why)) < 0) {
                snprintf(err, errlen, "%s:%d:%d: device '%s': %s", cfg->path,
                         dev->options[k].pos.line, dev->options[k].pos.col, dev->id, why);
                return -1;
            }
    }
    return 0;
}

static const char *plugin_dir(const struct fwup_config *cfg)
{
    const char *env = getenv("FWUPGW_PLUGIN_DIR");
    if (env && *env)
        return env;
    return cfg->plugin_dir ? cfg->plugin_dir : fwupd_default_plugin_dir();
}

static int sync_devices(struct fwupd *d)
{
    const struct fwup_config *cfg = d->conf->cfg;
    struct fwup_device_row *rows = calloc(cfg->ndevices + 1, sizeof(*rows));
    char **tags = calloc(cfg->ndevices + 1, sizeof(*tags));
    int rc = -1;
    if (!rows || !tags)
        goto out;
    for (size_t i = 0; i < cfg->ndevices; i++) {
        const struct fwup_cfg_device *dev = &cfg->devices[i];
        json_t *arr = json_array();
        for (size_t k = 0; k < dev->ntags; k++)
            json_array_append_new(arr, json_string(dev->tags[k]));
        tags[i] = json_dumps(arr, JSON_COMPACT);
        json_decref(arr);
        rows[i] = (struct fwup_device_row){dev->id, dev->link, dev->protocol, tags[i]};
    }
    rc = fwup_store_sync_devices(d->store, rows, cfg->ndevices, fwupd_now_ms(d));
out:
    for (size_t i = 0; tags && i < cfg->ndevices; i++)
        free(tags[i]);
    free(tags);
    free(rows);
    return rc;
}

/* --- signals -------------------------------------------------------------- */

static uv_signal_t sig_term, sig_int, sig_hup;

static void on_signal_closed(uv_handle_t *h)
{
    (void)h;
}

static void shutdown_done(void *ctx)
{
    struct fwupd *d = ctx;
    fwup_server_stop(d->server);
    d->server = NULL;
    fwup_sched_free(d->sched);
    uv_close((uv_handle_t *)&sig_term, on_signal_closed);
    uv_close((uv_handle_t *)&sig_int, on_signal_closed);
    uv_close((uv_handle_t *)&sig_hup, on_signal_closed);
    log_notice("stopped");
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
    struct fwupd *d = h->data;
    if (d->stopping) {
        log_warn("signal %d again: still waiting for protocols to abort", signum);
        return;
    }
    d->stopping = 1;
    log_notice("signal %d: stopping; running jobs are interrupted and stay queued", signum);
    sd_notify(0, "STOPPING=1");
    fwup_sched_shutdown(d->sched, shutdown_done, d);
}

/* The client limits of cfg (socket path and access are set at start). */
static void server_limits(const struct fwup_config *cfg, struct fwup_server_options *so)
{
    so->max_line = cfg->max_request_size;
    so->max_pending_out = cfg->max_client_output;
    so->max_clients = cfg->max_clients;
    so->max_clients_per_uid = cfg->max_clients_per_uid;
    so->max_input_total = cfg->max_input_total;
    so->max_output_total = cfg->max_output_total;
    /* a tty and an image file per link at most, besides the fixed needs */
    so->fd_reserve = FWUP_SERVER_FD_RESERVE + 2 * cfg->nlinks;
}

/* A config of the largest allowed size and shape (yamlutil.h) takes most
 * of a second to parse: a reload reads it on a worker thread and applies
 * it on the loop, which goes on serving clients meanwhile. */
struct reload_req {
    uv_work_t work;
    struct fwupd *d;
    struct fwup_config *cfg;
    int rc;
    char err[1024];
};
static int reload_busy, reload_again; /* one parse at a time; a HUP during
                                         it reloads once more after */

static void reload_work(uv_work_t *w)
{
    struct reload_req *r = w->data;
    r->rc = fwup_config_load(r->d->config_path, &r->cfg, r->err, sizeof(r->err));
}

static void reload_apply(struct fwupd *d, struct fwup_config *cfg, int rc, char *err, size_t errlen)
{
    if (rc < 0 || validate(cfg, d->plugins, err, errlen) < 0) {
        log_err("reload refused, keeping the running configuration: %s", err);
        fwup_config_free(cfg);
        sd_notify(0, "READY=1");
        return;
    }
    /* A half-saved file parses as an empty config: never let it silently
     * unconfigure every device (their queued jobs would all fail). */
    if (cfg->ndevices == 0 && d->conf->cfg->ndevices > 0) {
        log_err("reload refused, keeping the running configuration: %s defines no devices",
                d->config_path);
        fwup_config_free(cfg);
        sd_notify(0, "READY=1");
        return;
    }
    char *sock = strdup(d->conf->cfg->socket_path), *state = strdup(d->conf->cfg->state_dir);
    struct fwupd_config *c = sock && state ? fwupd_config_new(cfg) : NULL;
    if (!c) {
        log_err("reload refused: out of memory");
        free(sock), free(state);
        fwup_config_free(cfg);
        sd_notify(0, "READY=1");
        return;
    }
    if (strcmp(cfg->socket_path, d->conf->cfg->socket_path) != 0 ||
        strcmp(cfg->state_dir, d->conf->cfg->state_dir) != 0)
        log_warn("reload: socket and state_dir changes take effect at the next restart");
    /* Keep the paths the daemon is actually using. */
    free(cfg->socket_path);
    cfg->socket_path = sock;
    free(cfg->state_dir);
    cfg->state_dir = state;
    fwupd_config_unref(d->conf);
    d->conf = c;
    struct fwup_server_options so = {0};
    server_limits(cfg, &so);
    fwup_server_set_limits(d->server, &so);
    if (sync_devices(d) != 0)
        log_err("reload: recording devices: %s", fwup_store_errmsg(d->store));
    log_notice("configuration reloaded: %zu link(s), %zu device(s)", cfg->nlinks, cfg->ndevices);
    sd_notify(0, "READY=1");
    fwup_sched_kick(d->sched);
}

static void reload(struct fwupd *d);

static void reload_done(uv_work_t *w, int status)
{
    struct reload_req *r = w->data;
    struct fwupd *d = r->d;
    reload_busy = 0;
    if (status < 0 || d->stopping)
        fwup_config_free(r->cfg);
    else
        reload_apply(d, r->cfg, r->rc, r->err, sizeof(r->err));
    free(r);
    if (reload_again && !d->stopping) {
        reload_again = 0;
        reload(d);
    }
}

static void reload(struct fwupd *d)
{
    if (reload_busy) {
        reload_again = 1;
        return;
    }
    struct reload_req *r = calloc(1, sizeof(*r));
    if (!r) {
        log_err("reload refused: out of memory");
        return;
    }
    sd_notify(0, "RELOADING=1");
    r->d = d;
    r->work.data = r;
    if (uv_queue_work(d->loop, &r->work, reload_work, reload_done) < 0) {
        /* no worker: parse here, as before */
        reload_work(&r->work);
        reload_apply(d, r->cfg, r->rc, r->err, sizeof(r->err));
        free(r);
        return;
    }
    reload_busy = 1;
}

static void on_hup(uv_signal_t *h, int signum)
{
    (void)signum;
    struct fwupd *d = h->data;
    if (!d->stopping)
        reload(d);
}

/* --- main ----------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fwupgwd [-c CONFIG] [-v] [--check-config]\n"
            "  -c, --config FILE   configuration (default %s)\n"
            "  -v, --verbose       debug logging\n"
            "      --check-config  validate the configuration and plugins, then exit\n"
            "  -V, --version       print the version\n"
            "Signals: TERM/INT stop (running jobs stay queued), HUP reloads the config.\n",
            fwupd_default_config());
}

static int open_store(struct fwupd *d)
{
    char path[PATH_MAX], err[512];
    const char *dir = d->conf->cfg->state_dir;
    int requeued = 0, failed = 0, settled = 0;
    if (fwup_state_dir_prepare(dir, err, sizeof(err)) < 0) {
        log_err("%s", err);
        return -1;
    }
    /* Nothing else writes there: a temporary file now is a crash's leftover. */
    int stale = fwup_blob_clean_temps(dir);
    if (stale)
        log_notice("removed %d temporary image file(s) left by an earlier run", stale);
    snprintf(path, sizeof(path), "%s/fwupgw.db", dir);
    if (fwup_store_open(path, &d->store, err, sizeof(err)) != 0) {
        log_err("%s", err);
        return -1;
    }
    /* Runs whose outcome a full disk kept out of the store are settled
     * first, so that the recovery does not flash their devices again. */
    if (fwup_outcomes_open(dir, &d->outcomes, err, sizeof(err)) != 0) {
        log_err("%s", err);
        return -1;
    }
    if (fwup_outcomes_recover(d->outcomes, d->store, fwupd_now_ms(d), &settled) != 0) {
        log_err("recording outcomes kept outside the database: %s", fwup_store_errmsg(d->store));
        return -1;
    }
    if (settled)
        log_notice("recorded the outcome of %d job(s) that ended before the restart", settled);
    if (fwup_store_recover(d->store, fwupd_now_ms(d), &requeued, &failed) != 0) {
        log_err("recovering jobs: %s", fwup_store_errmsg(d->store));
        return -1;
    }
    if (requeued || failed)
        log_notice("recovered after an unclean stop: %d job(s) requeued, %d failed by the "
                   "restart loop breaker",
                   requeued, failed);
    return sync_devices(d);
}

static int start_server(struct fwupd *d)
{
    const struct fwup_config *cfg = d->conf->cfg;
    struct fwup_server_options so = {
        .path = cfg->socket_path,
        .mode = cfg->socket_mode,
        .gid = (gid_t)-1,
        .allow_unprivileged = cfg->unprivileged == FWUP_ACCESS_READ,
    };
    server_limits(cfg, &so);
    char err[512];
    if (cfg->socket_group) {
        struct group *g = getgrnam(cfg->socket_group);
        if (!g) {
            log_err("%s: socket_group '%s' does not exist", cfg->path, cfg->socket_group);
            return -1;
        }
        so.gid = g->gr_gid;
    }
    if (fwup_server_start(d->loop, &so, &fwup_api_server_callbacks, d->api, &d->server, err,
                          sizeof(err)) < 0) {
        log_err("%s", err);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"verbose", no_argument, NULL, 'v'},
        {"check-config", no_argument, NULL, 'C'}, {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    struct fwupd d;
    struct fwup_config *cfg;
    char err[1024];
    int check_only = 0, c;

    fwupd_init(&d);
    d.status_changed = notify_systemd;
    d.config_path = fwupd_default_config();
    while ((c = getopt_long(argc, argv, "c:vVh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            d.config_path = optarg;
            break;
        case 'v':
            fwup_log_set_level(FWUP_LOG_DEBUG);
            break;
        case 'C':
            check_only = 1;
            break;
        case 'V':
            printf("fwupgwd %s (plugin ABI %d, socket protocol %d)\n", FWUP_VERSION,
                   FWUP_PROTOCOL_ABI_VERSION, FWUP_SOCKAPI_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    int rc = 1;
    if (fwup_config_load(d.config_path, &cfg, err, sizeof(err)) < 0) {
        log_err("invalid configuration: %s", err);
        return 1;
    }
    d.conf = fwupd_config_new(cfg);
    if (!d.conf) {
        fwup_config_free(cfg);
        return 1;
    }
    if (fwup_plugins_load(plugin_dir(cfg), &d.plugins, err, sizeof(err)) < 0) {
        log_err("%s", err);
        goto out;
    }
    if (validate(cfg, d.plugins, err, sizeof(err)) < 0) {
        log_err("invalid configuration: %s", err);
        goto out;
    }
    if (check_only) {
        printf("%s: OK (%zu link(s), %zu device(s), %zu protocol(s))\n", d.config_path, cfg->nlinks,
               cfg->ndevices, fwup_plugins_count(d.plugins));
        rc = 0;
        goto out;
    }

    d.loop = uv_default_loop();
    if (open_store(&d) < 0 || !(d.api = fwup_api_new(&d)) ||
        fwup_sched_new(&d, fwup_api_job_event, d.api, &d.sched) < 0 || start_server(&d) < 0)
        goto out;

    uv_signal_t *sigs[] = {&sig_term, &sig_int, &sig_hup};
    int signums[] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(d.loop, sigs[i]);
        sigs[i]->data = &d;
        uv_signal_start(sigs[i], i == 2 ? on_hup : on_stop_signal, signums[i]);
    }

    log_notice("fwupgwd %s ready: %zu device(s), %zu protocol(s), socket %s", FWUP_VERSION,
               cfg->ndevices, fwup_plugins_count(d.plugins), cfg->socket_path);
    sd_notify(0, "READY=1");
    fwupd_notify_status(&d);
    fwup_sched_kick(d.sched);

    uv_run(d.loop, UV_RUN_DEFAULT);
    d.sched = NULL; /* freed by shutdown_done */
    rc = 0;
out:
    if (d.sched) {
        fwup_sched_free(d.sched);
        uv_run(d.loop, UV_RUN_DEFAULT); /* let its handles close */
    }
    fwup_api_free(d.api);
    fwup_store_close(d.store);
    fwup_outcomes_close(d.outcomes);
    fwup_plugins_free(d.plugins);
    fwupd_config_unref(d.conf);
    if (d.loop && uv_loop_close(d.loop) != 0)
        log_warn("event loop closed with handles still open");
    return rc;
}
