/*
 * fwupctl apply MANIFEST.yaml [--dry-run] [--wait] [--replace] [--force]
 *
 * Every image is opened and hashed here, then the targets without a problem
 * so far go to the daemon with their images as descriptors in the one
 * manifest.apply line (one per distinct path), as a dry run if there was a
 * problem. Every problem, local or the daemon's (error.data.errors), is
 * reported at its manifest line and column; any problem, nothing queued.
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
    printf("Usage: fwupctl apply MANIFEST.yaml [--dry-run] [--wait] [--replace] [--force]\n"
           "\n"
           "Queue a batch from a manifest. Every image is opened and its SHA-256\n"
           "checked against the manifest, and the daemon checks every image against\n"
           "every device it targets. Every problem is reported in one pass, each as\n"
           "MANIFEST:LINE:COLUMN: the manifest's own, missing or mismatched images,\n"
           "unknown devices, devices targeted twice, tags matching no device and\n"
           "images a device refuses. Any problem and nothing is queued. Prints\n"
           "\"batch ID jobs J1 J2 ...\".\n"
           "\n"
           "  --dry-run   check everything, queue nothing; print the plan as a table\n"
           "              of DEVICE, FORMAT (as detected), ADDRESSES written, BYTES,\n"
           "              VERSION and SHA256\n"
           "  --wait      then follow the batch like 'watch --batch ID --exit-when-done'\n"
           "              (exit 4 unless every job succeeds)\n"
           "  --replace   each new job cancels its device's earlier queued, retrying or\n"
           "              running jobs\n"
           "  --force     queue it even while a batch of the same name with the same\n"
           "              devices and images is still running (refused otherwise, exit %d)\n",
           FWUPCTL_EXIT_ERROR);
}

/* Opens and hashes each distinct image of the good targets; a target whose
 * file cannot be read or does not match its sha256 is reported and marked
 * bad. */
static void open_images(struct fwup_manifest *m, struct fwup_manifest_diags *diags,
                        struct image *img, size_t *nimg, size_t *idx)
{
    for (size_t i = 0; i < m->ntargets; i++) {
        struct fwup_manifest_target *t = &m->targets[i];
        size_t k;
        if (t->bad)
            continue;
        for (k = 0; k < *nimg; k++)
            if (!strcmp(img[k].path, t->image_path))
                break;
        if (k == *nimg) {
            struct image *im = &img[k];
            struct stat st;
            char why[256] = "";
            if (*nimg == FWUP_SOCKAPI_MAX_FDS) {
                fwup_manifest_diag_at(diags, m, i, FWUP_MF_IMAGE, 0,
                                      "more than %d distinct images in one manifest",
                                      FWUP_SOCKAPI_MAX_FDS);
                t->bad = 1;
                continue;
            }
            im->path = t->image_path;
            im->fd = open(t->image_path, O_RDONLY | O_CLOEXEC);
            if (im->fd < 0)
                snprintf(why, sizeof(why), "%s", strerror(errno));
            else if (fstat(im->fd, &st) < 0 || !S_ISREG(st.st_mode))
                snprintf(why, sizeof(why), "not a regular file");
            else
                hash_fd(im->fd, im->sha, why, sizeof(why));
            if (why[0]) {
                if (im->fd >= 0)
                    close(im->fd);
                fwup_manifest_diag_at(diags, m, i, FWUP_MF_IMAGE, 0, "image %s: %s", t->image_path,
                                      why);
                t->bad = 1;
                continue;
            }
            (*nimg)++;
        }
        idx[i] = k;
        if (strcasecmp(img[k].sha, t->sha256) != 0) {
            fwup_manifest_diag_at(diags, m, i, FWUP_MF_SHA256, FWUP_E_CHECKSUM,
                                  "image %s has SHA-256 %s, the manifest says %s", t->image_path,
                                  img[k].sha, t->sha256);
            t->bad = 1;
        }
    }
}

/* The good targets; sent[k] is the manifest index of the k-th. */
static json_t *build_params(const struct fwup_manifest *m, const size_t *idx, bool dry_run,
                            size_t *sent)
{
    json_t *targets = json_array();
    for (size_t i = 0; i < m->ntargets; i++) {
        const struct fwup_manifest_target *t = &m->targets[i];
        if (t->bad)
            continue;
        sent[json_array_size(targets)] = i;
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

/* The daemon's problems with the targets sent (error.data.errors), each
 * at the manifest value it is about. Returns false if there were none. */
static bool daemon_problems(const struct fwup_client *c, const struct fwup_manifest *m,
                            const size_t *sent, size_t nsent, struct fwup_manifest_diags *diags)
{
    json_t *errors = json_object_get(c->err_data, "errors"), *e;
    size_t k, before = diags->n;
    json_array_foreach(errors, k, e)
    {
        json_int_t ti = json_integer_value(json_object_get(e, "target"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        const char *dev = json_string_value(json_object_get(e, "device"));
        const char *field = json_string_value(json_object_get(e, "field"));
        json_t *first = json_object_get(e, "first_target");
        int code = (int)json_integer_value(json_object_get(e, "code"));
        if (ti < 0 || (size_t)ti >= nsent || !msg)
            continue;
        size_t i = sent[ti];
        const struct fwup_manifest_target *t = &m->targets[i];
        enum fwup_manifest_field f = fwup_manifest_field_named(field);
        char text[1024], tags[512] = "";
        if (json_is_integer(first) && json_integer_value(first) >= 0 &&
            (size_t)json_integer_value(first) < nsent && dev) {
            for (size_t j = 0, used = 0; j < t->ntags && used < sizeof(tags); j++)
                used += (size_t)snprintf(tags + used, sizeof(tags) - used, "%s%s",
                                         j ? ", " : ", here through tags ", t->tags[j]);
            fwup_manifest_diag_at(diags, m, i, f, code,
                                  "device '%s' is targeted twice (first at line %d%s)", dev,
                                  m->targets[sent[json_integer_value(first)]].line, tags);
            continue;
        }
        /* The daemon read the image from a descriptor: name the file. */
        if (f == FWUP_MF_IMAGE && (code == FWUP_E_IMAGE || code == FWUP_E_CHECKSUM))
            fwupctl_name_image(text, sizeof(text), t->image_path, msg);
        else
            snprintf(text, sizeof(text), "%s", msg);
        fwup_manifest_diag_at(diags, m, i, f, code, "%s%s%s%s", dev ? "device " : "",
                              dev ? dev : "", dev ? ": " : "", text);
    }
    return diags->n > before;
}

/* Every problem, in manifest order, and that nothing was queued. */
static void report_problems(struct fwup_manifest_diags *diags, const char *mpath)
{
    char line[2048];
    fwup_manifest_diags_sort(diags);
    for (size_t i = 0; i < diags->n; i++) {
        fwup_manifest_diag_format(diags, i, line, sizeof(line));
        fwupctl_errc(diags->v[i].code ? fwupctl_daemon_code(diags->v[i].code) : FWUPCTL_E_INPUT,
                     "%s", line);
    }
    if (!fwupctl_json())
        fwupctl_err("%s: %zu problem%s; nothing was queued", mpath, diags->n,
                    diags->n == 1 ? "" : "s");
}

int fwupctl_cmd_apply(const struct fwupctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"dry-run", no_argument, NULL, 'n'}, {"wait", no_argument, NULL, 'w'},
        {"replace", no_argument, NULL, 'r'}, {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},    {NULL, 0, NULL, 0},
    };
    bool dry_run = false, wait = false, replace = false, force = false;
    int opt, rc;
    while ((opt = fwupctl_getopt("apply", argc, argv, ":h", opts, help, &rc)) != -1) {
        switch (opt) {
        case 'n':
            dry_run = true;
            break;
        case 'w':
            wait = true;
            break;
        case 'r':
            replace = true;
            break;
        case 'f':
            force = true;
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

    /* Every problem is found in one pass: the manifest's, its images', and
     * the daemon's with the targets that are fine so far (a dry run then).
     * Any problem and nothing is queued. */
    struct fwup_manifest *m = NULL;
    struct fwup_manifest_diags diags;
    fwup_manifest_load(mpath, &m, &diags);
    if (!m) {
        report_problems(&diags, mpath);
        fwup_manifest_diags_free(&diags);
        return FWUPCTL_EXIT_ERROR;
    }
    struct image img[FWUP_SOCKAPI_MAX_FDS];
    size_t nimg = 0, nsent;
    size_t *idx = calloc(m->ntargets, sizeof(*idx));
    size_t *sent = calloc(m->ntargets, sizeof(*sent));
    if (!idx || !sent)
        abort();
    int fds[FWUP_SOCKAPI_MAX_FDS];
    json_t *res = NULL, *params;
    struct fwup_client c;
    bool connected = false;
    rc = FWUPCTL_EXIT_ERROR;
    open_images(m, &diags, img, &nimg, idx);
    for (size_t i = 0; i < nimg; i++)
        fds[i] = img[i].fd;
    params = build_params(m, idx, dry_run || diags.n, sent);
    if (replace)
        json_object_set_new(params, "replace", json_true());
    if (force)
        json_object_set_new(params, "force", json_true());
    nsent = json_array_size(json_object_get(params, "targets"));
    if (!nsent) {
        json_decref(params);
        goto out;
    }

    rc = fwupctl_connect(ctx, &c);
    if (rc) {
        json_decref(params);
        goto out;
    }
    connected = true;
    wait = wait && !dry_run && !diags.n;
    /* Subscribe first so no event of the new batch can be missed. */
    if (wait && (rc = fwupctl_subscribe(&c))) {
        json_decref(params);
        goto out;
    }
    rc = fwup_client_call_keyed(&c, ctx->socket_path, wait, "manifest.apply", params, fds, nimg,
                                &res);
    if (rc == FWUP_CLIENT_EDAEMON && daemon_problems(&c, m, sent, nsent, &diags))
        rc = FWUPCTL_EXIT_ERROR;
    else if (rc != FWUP_CLIENT_OK)
        rc = fwupctl_client_fail(&c, rc);
    if (rc || diags.n)
        goto out;
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
    if (diags.n) {
        report_problems(&diags, mpath);
        if (!rc)
            rc = FWUPCTL_EXIT_ERROR;
    }
    for (size_t i = 0; i < nimg; i++)
        close(img[i].fd);
    json_decref(res);
    if (connected)
        fwup_client_close(&c);
    free(sent);
    free(idx);
    fwup_manifest_diags_free(&diags);
    fwup_manifest_free(m);
    return rc;
}
