#include "plugins.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/options.h"
#include "log.h"

struct plugin {
    void *handle;
    const struct fwup_protocol *proto;
};

struct fwup_plugins {
    struct plugin *v;
    size_t n;
};

static int is_shared_object(const char *name)
{
    size_t len = strlen(name);
    return len > 3 && strcmp(name + len - 3, ".so") == 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Opens one plugin; 0 on success, -1 (logged) if it is refused. */
static int load_one(struct fwup_plugins *p, const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        log_err("plugin %s: %s", path, dlerror());
        return -1;
    }
    const struct fwup_protocol *proto = dlsym(h, FWUP_PROTOCOL_SYMBOL_NAME);
    if (!proto) {
        /* ABI 1 and 2 exported another symbol; their descriptor starts
         * with the same abi_version. Their byte-stream entry points cannot
         * drive typed links, so no adapter: the plugin must be rebuilt. */
        const uint32_t *old = dlsym(h, FWUP_PROTOCOL_OLD_SYMBOL_NAME);
        if (old)
            log_err("plugin %s: built for plugin ABI %" PRIu32 " (symbol %s); this daemon loads "
                    "ABI %d to %d: rebuild the plugin against the ABI %d headers",
                    path, *old, FWUP_PROTOCOL_OLD_SYMBOL_NAME, FWUP_PROTOCOL_ABI_MIN,
                    FWUP_PROTOCOL_ABI_VERSION, FWUP_PROTOCOL_ABI_VERSION);
        else
            log_err("plugin %s: no %s symbol: not an fwupgw protocol plugin (ABI %d)", path,
                    FWUP_PROTOCOL_SYMBOL_NAME, FWUP_PROTOCOL_ABI_VERSION);
        goto refuse;
    }
    if (proto->abi_version < FWUP_PROTOCOL_ABI_MIN ||
        proto->abi_version > FWUP_PROTOCOL_ABI_VERSION) {
        log_err("plugin %s: ABI version %" PRIu32 ", this daemon loads %d to %d: rebuild the "
                "plugin",
                path, proto->abi_version, FWUP_PROTOCOL_ABI_MIN, FWUP_PROTOCOL_ABI_VERSION);
        goto refuse;
    }
    /* A descriptor only grows by appending: one shorter than ABI 3's lacks
     * fields this daemon reads. */
    if (proto->struct_size < sizeof(struct fwup_protocol)) {
        log_err("plugin %s: protocol descriptor of %" PRIu32 " bytes, ABI %d's has %zu: "
                "rebuild the plugin",
                path, proto->struct_size, FWUP_PROTOCOL_ABI_VERSION, sizeof(struct fwup_protocol));
        goto refuse;
    }
    if (!proto->name || !proto->create || !proto->destroy || !proto->on_event) {
        log_err("plugin %s: incomplete protocol descriptor (name, create, destroy and on_event "
                "are required)",
                path);
        goto refuse;
    }
    if (fwup_plugins_find(p, proto->name)) {
        log_err("plugin %s: protocol '%s' is already provided by another plugin", path,
                proto->name);
        goto refuse;
    }
    struct plugin *nv = realloc(p->v, (p->n + 1) * sizeof(*nv));
    if (!nv)
        goto refuse;
    p->v = nv;
    p->v[p->n].handle = h;
    p->v[p->n].proto = proto;
    p->n++;
    log_info("plugin %s: protocol '%s' loaded", path, proto->name);
    return 0;
refuse:
    dlclose(h);
    return -1;
}

int fwup_plugins_load(const char *dir, struct fwup_plugins **out, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "plugin directory %s: %s", dir, strerror(errno));
        return -1;
    }
    struct fwup_plugins *p = calloc(1, sizeof(*p));
    char **names = NULL;
    size_t nnames = 0;
    struct dirent *de;
    while (p && (de = readdir(d))) {
        if (!is_shared_object(de->d_name))
            continue;
        char **nn = realloc(names, (nnames + 1) * sizeof(*nn));
        if (!nn)
            break;
        names = nn;
        names[nnames++] = strdup(de->d_name);
    }
    closedir(d);
    /* Load in name order so duplicate-name resolution is deterministic. */
    qsort(names, nnames, sizeof(*names), by_name);
    for (size_t i = 0; i < nnames; i++) {
        char path[4096];
        if (p && names[i]) {
            snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
            load_one(p, path);
        }
        free(names[i]);
    }
    free(names);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *out = p;
    return 0;
}

void fwup_plugins_free(struct fwup_plugins *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        dlclose(p->v[i].handle);
    free(p->v);
    free(p);
}

const struct fwup_protocol *fwup_plugins_find(const struct fwup_plugins *p, const char *name)
{
    for (size_t i = 0; p && i < p->n; i++)
        if (strcmp(p->v[i].proto->name, name) == 0)
            return p->v[i].proto;
    return NULL;
}

size_t fwup_plugins_count(const struct fwup_plugins *p)
{
    return p ? p->n : 0;
}

const struct fwup_protocol *fwup_plugins_at(const struct fwup_plugins *p, size_t i)
{
    return i < p->n ? p->v[i].proto : NULL;
}

int fwup_protocol_check_option(const struct fwup_protocol *proto, const char *name,
                               const char *value, char *err, size_t errlen)
{
    const struct fwup_option_desc *o = NULL;
    for (size_t i = 0; i < proto->noptions; i++)
        if (strcmp(proto->options[i].name, name) == 0)
            o = &proto->options[i];
    if (!o) {
        char known[512] = "";
        size_t len = 0;
        for (size_t i = 0; i < proto->noptions && len < sizeof(known); i++)
            len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s", i ? ", " : "",
                                    proto->options[i].name);
        snprintf(err, errlen, "protocol '%s' has no option '%s' (options: %s)", proto->name, name,
                 proto->noptions ? known : "none");
        return -1;
    }
    return fwup_opt_check(o, value, err, errlen);
}
