/*
 * The daemon's core on a virtual clock with fake runs (vcore.h).
 */
#include "vcore.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outcomes.h"

struct fwupd vc_d;
int64_t vc_wall;
char vc_dir[] = "/tmp/fwup-vcore-XXXXXX";
struct fwup_run *vc_runs;
int vc_fail_next_start;

static uv_loop_t loop;

/* --- fake runs: the test finishes them --------------------------------- */

static int f_start(const struct fwup_run_params *p, struct fwup_run **out, char *err, size_t errlen)
{
    if (vc_fail_next_start) {
        vc_fail_next_start = 0;
        snprintf(err, errlen, "port vanished");
        return -1;
    }
    struct fwup_run *r = calloc(1, sizeof(*r));
    ck_assert_ptr_nonnull(r);
    r->p = *p;
    ck_assert_ptr_nonnull(p->link_req);
    r->req = *p->link_req;
    r->next = vc_runs;
    vc_runs = r;
    *out = r;
    return 0;
}

static void f_cancel(struct fwup_run *r)
{
    r->cancelled = 1;
}

static void f_free(struct fwup_run *r)
{
    for (struct fwup_run **p = &vc_runs; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            break;
        }
    free(r);
}

static const struct fwup_run_ops fake_ops = {f_start, f_cancel, f_free};

struct fwup_run *vc_run_of(const char *device)
{
    for (struct fwup_run *r = vc_runs; r; r = r->next)
        if (strcmp(r->p.dev->id, device) == 0)
            return r;
    return NULL;
}

size_t vc_nruns(void)
{
    size_t n = 0;
    for (struct fwup_run *r = vc_runs; r; r = r->next)
        n++;
    return n;
}

/* --- the virtual clock ------------------------------------------------- */

static int64_t v_wall(void *ctx)
{
    (void)ctx;
    return vc_wall;
}

static uint64_t v_mono(void *ctx)
{
    (void)ctx;
    return (uint64_t)(vc_wall - VC_T0);
}

/* --- set-up and tear-down ---------------------------------------------- */

void vc_mkdir(void)
{
    ck_assert_ptr_nonnull(mkdtemp(vc_dir));
    vc_wall = VC_T0;
    vc_runs = NULL;
    vc_fail_next_start = 0;
}

void vc_write_file(const char *name, const void *data, size_t len)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", vc_dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

void vc_start(const char *config_text, const char *plugin_dir, fwup_sched_notify_fn notify,
              void *ctx)
{
    char path[512], err[512];
    struct fwup_config *cfg;
    ck_assert_msg(fwup_config_parse("vcore.yaml", config_text, strlen(config_text), &cfg, err,
                                    sizeof(err)) == 0,
                  "%s", err);
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    fwupd_init(&vc_d);
    vc_d.loop = &loop;
    vc_d.clock = (struct fwupd_clock){v_wall, v_mono, NULL};
    vc_d.conf = fwupd_config_new(cfg);
    ck_assert_ptr_nonnull(vc_d.conf);
    snprintf(path, sizeof(path), "%s/state.db", vc_dir);
    ck_assert_msg(fwup_store_open(path, &vc_d.store, err, sizeof(err)) == 0, "%s", err);
    ck_assert_msg(fwup_outcomes_open(vc_dir, &vc_d.outcomes, err, sizeof(err)) == 0, "%s", err);
    ck_assert_msg(fwup_plugins_load(plugin_dir, &vc_d.plugins, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(fwup_sched_new(&vc_d, notify, ctx, &vc_d.sched), 0);
    fwup_sched_set_run_ops(vc_d.sched, &fake_ops);
}

static void shut_down(void *ctx)
{
    *(int *)ctx = 1;
}

void vc_stop(void)
{
    int down = 0;
    char cmd[300];
    fwup_sched_shutdown(vc_d.sched, shut_down, &down);
    /* The fake runs stop when told to: as a real run does after cancel. */
    while (vc_runs) {
        ck_assert(vc_runs->cancelled);
        vc_runs->p.on_done(vc_runs->p.ctx, FWUP_RESULT_CANCELLED, "stopped");
    }
    ck_assert(down);
    fwup_sched_free(vc_d.sched);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    fwup_plugins_free(vc_d.plugins);
    fwup_outcomes_close(vc_d.outcomes);
    fwup_store_close(vc_d.store);
    fwupd_config_unref(vc_d.conf);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", vc_dir);
    ck_assert_int_eq(system(cmd), 0);
    memcpy(vc_dir + strlen(vc_dir) - 6, "XXXXXX", 6);
}

/* --- driving it -------------------------------------------------------- */

void vc_step(void)
{
    fwup_sched_kick(vc_d.sched);
    uv_run(&loop, UV_RUN_NOWAIT);
}

void vc_finish(const char *device, enum fwup_result res, const char *msg)
{
    struct fwup_run *r = vc_run_of(device);
    ck_assert_msg(r != NULL, "no run on %s", device);
    r->p.on_done(r->p.ctx, res, msg);
    uv_run(&loop, UV_RUN_NOWAIT);
}

struct fwup_job vc_job(int64_t id)
{
    struct fwup_job j;
    ck_assert_int_eq(fwup_store_get_job(vc_d.store, id, &j), 0);
    return j;
}
