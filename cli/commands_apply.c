/*
 * fwupctl apply MANIFEST.yaml [--dry-run] [--wait]
 *
 * Every image is opened and hashed here before the daemon is contacted, so
 * a manifest that does not match its files fails with a message naming the
 * file and both hashes and nothing reaches the daemon. The images then go
 * as descriptors in the one manifest.apply line (one per distinct path).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fwupctl.h"
#include "manifest.h"
#include "output.h"

#include "fwupgw/sockapi.h"

struct image {
    const char *path; /* borrowed from the manifest */
    int fd;
    char sha[65];
};

/* SHA-256 of everything readable from fd, as lowercase hex; rewinds. */
static int hash_fd(int fd, char hex[65], char *err, size_t errlen)
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    static unsigned char buf[1 << 16];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errlen, "%s", strerror(errno));
            return -1;
        }
        if (n == 0)
            break;
        crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
    }
    unsigned char out[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&st, out);
    sodium_bin2hex(hex, 65, out, sizeof(out));
    if (lseek(fd, 0, SEEK_SET) < 0) {
        snprintf(err, errlen, "cannot rewind: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void help(void)
{
    printf("Usage: fwupctl apply MANIFEST.yaml [--dry-run] [--wait]\n"
           "\n"
           "Queue a batch from a manifest. Every image is opened and its SHA-256\n"
           "checked against the manifest first; a mismatch names the target, the file\n"
           "and both hashes, and nothing is queued. The daemon then checks every image\n"
           "against every device and queues all jobs or none. Prints\n"
           "\"batch ID jobs J1 J2 ...\".\n"
           "\n"
           "  --dry-run   check everything, queue nothing; print the plan as a table\n"
           "              of DEVICE, FORMAT (as detected), ADDRESSES written, BYTES,\n"
           "              VERSION and SHA256\n"
           "  --wait      then follow the batch like 'watch --batch ID --exit-when-done'\n"
           "              (exit 4 unless every job succeeds)\n");
}

static int open_images(const struct fwup_manifest *m, const char *mpath, struct image *img,
                       size_t *nimg, size_t *idx)
{
    for (size_t i = 0; i < m->ntargets; i++) {
        const struct fwup_manifest_target *t = &m->targets[i];
        const char *who = t->device ? t->device : "tags";
        size_t k;
        for (k = 0; k < *nimg; k++)
            if (!strcmp(img[k].path, t->image_path))
                break;
        if (k == *nimg) {
            if (*nimg == FWUP_SOCKAPI_MAX_FDS) {
                fwupctl_err("%s: more than %d distinct images", mpath, FWUP_SOCKAPI_MAX_FDS);
                return -1;
            }
            struct image *im = &img[k];
            im->path = t->image_path;
            im->fd = open(t->image_path, O_RDONLY | O_CLOEXEC);
            struct stat st;
            char why[256] = "";
            if (im->fd < 0)
                snprintf(why, sizeof(why), "%s", strerror(errno));
            else if (fstat(im->fd, &st) < 0 || !S_ISREG(st.st_mode))
                snprintf(why, sizeof(why), "not a regular file");
            else
                hash_fd(im->fd, im->sha, why, sizeof(why));
            if (why[0]) {
                if (im->fd >= 0)
                    close(im->fd);
                fwupctl_err("%s:%d: target %zu (%s): image %s: %s", mpath, t->line, i, who,
                            t->image_path, why);
                return -1;
            }
            (*nimg)++;
        }
        idx[i] = k;
        if (strcasecmp(img[k].sha, t->sha256) != 0) {
            fwupctl_err("%s:%d: target %zu (%s): image %s has SHA-256 %s, the manifest says %s",
                        mpath, t->line, i, who, t->image_path, img[k].sha, t->sha256);
            return -1;
        }
    }
    return 0;
}

static json_t *build_params(const struct fwup_manifest *m, const size_t *idx, bool dry_run)
{
    json_t *targets = json_array();
    for (size_t i = 0; i < m->ntargets; i++) {
        const struct fwup_manifest_target *t = &m->targets[i];
        json_t *o = json_object();
        if (t->device) {
            json_object_set_new(o, "device", json_string(t->device));
        } else {
            json_t *tags = json_array();
            for (size_t k = 0; k < t->ntags; k++)
                json_array_append_new(tags, json_string(t->tags[k]));
            json_object_set_new(o, "tags", tags);
        }
        json_object_set_new(o, "image", json_pack("{s:I}", "fd", (json_int_t)idx[i]));
        json_object_set_new(o, "sha256", json_string(t->sha256));
        if (t->format)
            json_object_set_new(o, "format", json_string(t->format));
        if (t->has_address)
            json_object_set_new(o, "address", json_integer((json_int_t)t->address));
        if (t->version)
            json_object_set_new(o, "version", json_string(t->version));
        json_array_append_new(targets, o);
    }
    json_t *params = json_pack("{s:b, s:o}", "dry_run", dry_run, "targets", targets);
    if (m->name)
        json_object_set_new(params, "name", json_string(m->name));
    return params;
}

static void print_plan(const json_t *res)
{
    static const char *const hdr[] = {"DEVICE", "FORMAT",  "ADDRESSES",
                                      "BYTES",  "VERSION", "SHA256"};
    struct fwup_table t;
    fwup_table_init(&t, 6, hdr);
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(res, "plan"), i, p)
    {
        char bytes[32], range[48];
        snprintf(bytes, sizeof(bytes), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(p, "bytes")));
        const char *v = json_string_value(json_object_get(p, "version"));
        const json_t *img = json_object_get(p, "image");
        const char *row[] = {json_string_value(json_object_get(p, "device")),
                             json_string_value(json_object_get(img, "format")),
                             fwup_fmt_image_range(range, sizeof(range), img),
                             bytes,
                             v && *v ? v : NULL,
                             json_string_value(json_object_get(p, "sha256"))};
        fwup_table_add(&t, row);
    }
    fwup_table_print(&t, stdout);
    fwup_table_free(&t);
}

/* "target 1 (device d): line 5: x" from the daemon, for an image it read
 * from a descriptor, becomes "MANIFEST:LINE: target 1 (device d): FILE:5: x". */
static void name_target_image(struct fwup_client *c, const struct fwup_manifest *m,
                              const char *mpath)
{
    size_t i;
    int n = 0;
    if ((c->err_code != FWUP_E_IMAGE && c->err_code != FWUP_E_CHECKSUM) ||
        sscanf(c->err, "target %zu%n", &i, &n) != 1 || i >= m->ntargets)
        return;
    const char *rest = strstr(c->err + n, ": ");
    if (!rest)
        return;
    rest += 2;
    char where[256], named[sizeof(c->err)];
    snprintf(where, sizeof(where), "%.*s", (int)(rest - c->err), c->err);
    fwupctl_name_image(named, sizeof(named), m->targets[i].image_path, rest);
    char *full;
    if (asprintf(&full, "%s:%d: %s%s", mpath, m->targets[i].line, where, named) < 0)
        return;
    snprintf(c->err, sizeof(c->err), "%.*s", (int)sizeof(c->err) - 1, full);
    free(full);
}

int fwupctl_cmd_apply(const struct fwupctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"dry-run", no_argument, NULL, 'n'},
        {"wait", no_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool dry_run = false, wait = false;
    int opt, rc;
    while ((opt = fwupctl_getopt("apply", argc, argv, ":h", opts, help, &rc)) != -1) {
        switch (opt) {
        case 'n':
            dry_run = true;
            break;
        case 'w':
            wait = true;
            break;
        case FWUPCTL_OPT_EXIT:
            return rc;
        }
    }
    if (argc - optind != 1)
        return fwupctl_usage("apply", "needs exactly one MANIFEST");
    const char *mpath = argv[optind];
    if (sodium_init() < 0) {
        fwupctl_err("libsodium initialisation failed");
        return FWUPCTL_EXIT_ERROR;
    }

    struct fwup_manifest *m = NULL;
    char err[1024];
    if (fwup_manifest_load(mpath, &m, err, sizeof(err)) < 0) {
        fwupctl_err("%s", err);
        return FWUPCTL_EXIT_ERROR;
    }
    if (m->ntargets == 0) {
        fwupctl_err("%s: no targets", mpath);
        fwup_manifest_free(m);
        return FWUPCTL_EXIT_ERROR;
    }
    struct image img[FWUP_SOCKAPI_MAX_FDS];
    size_t nimg = 0;
    size_t *idx = calloc(m->ntargets, sizeof(*idx));
    if (!idx)
        abort();
    int fds[FWUP_SOCKAPI_MAX_FDS];
    json_t *res = NULL;
    struct fwup_client c;
    bool connected = false;
    rc = FWUPCTL_EXIT_ERROR;
    if (open_images(m, mpath, img, &nimg, idx) < 0)
        goto out;
    for (size_t i = 0; i < nimg; i++)
        fds[i] = img[i].fd;

    rc = fwupctl_connect(ctx, &c);
    if (rc)
        goto out;
    connected = true;
    wait = wait && !dry_run;
    /* Subscribe first so no event of the new batch can be missed. */
    if (wait && (rc = fwupctl_subscribe(&c)))
        goto out;
    rc = fwup_client_call(&c, "manifest.apply", build_params(m, idx, dry_run), fds, nimg, &res);
    if (rc != FWUP_CLIENT_OK) {
        name_target_image(&c, m, mpath);
        rc = fwupctl_client_fail(&c, rc);
        goto out;
    }
    if (ctx->json) {
        if (!wait) /* with --wait: events only; each job names its batch */
            fwup_json_print(stdout, res);
    } else if (dry_run) {
        print_plan(res);
    } else {
        json_t *b = json_object_get(res, "batch");
        printf("batch %" JSON_INTEGER_FORMAT " jobs", json_integer_value(json_object_get(b, "id")));
        size_t i;
        json_t *j;
        json_array_foreach(json_object_get(b, "jobs"), i, j)
            printf(" %" JSON_INTEGER_FORMAT, json_integer_value(j));
        printf("\n");
    }
    fflush(stdout);
    if (wait) {
        json_t *bid = json_object_get(json_object_get(res, "batch"), "id");
        if (!json_is_integer(bid)) {
            fwupctl_errc(FWUPCTL_E_PROTOCOL, "daemon reply to manifest.apply has no batch id");
            rc = FWUPCTL_EXIT_ERROR;
            goto out;
        }
        struct fwupctl_watch_opts wo = {.batch = json_integer_value(bid),
                                        .exit_when_done = true,
                                        .subscribed = true,
                                        .detach_hint = true};
        rc = fwupctl_watch(ctx, &c, &wo);
    }
out:
    for (size_t i = 0; i < nimg; i++)
        close(img[i].fd);
    json_decref(res);
    if (connected)
        fwup_client_close(&c);
    free(idx);
    fwup_manifest_free(m);
    return rc;
}
