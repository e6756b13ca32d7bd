#include "claims.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct claim {
    uint64_t owner;
    enum fwup_claim_kind kind;
    char *key;
    struct fwup_can_filter *filters;
    size_t nfilters;
    int exclusive;
};

struct fwup_claims {
    struct claim *v;
    size_t n, cap;
};

struct fwup_claims *fwup_claims_new(void)
{
    return calloc(1, sizeof(struct fwup_claims));
}

static void claim_clear(struct claim *k)
{
    free(k->key);
    free(k->filters);
}

void fwup_claims_free(struct fwup_claims *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        claim_clear(&c->v[i]);
    free(c->v);
    free(c);
}

/* Two filters match a common id when the bits both masks test agree. */
static int filter_pair_overlaps(const struct fwup_can_filter *x, const struct fwup_can_filter *y)
{
    return ((x->id ^ y->id) & x->mask & y->mask) == 0;
}

int fwup_filters_overlap(const struct fwup_can_filter *a, size_t na,
                         const struct fwup_can_filter *b, size_t nb)
{
    if (na == 0 || nb == 0)
        return 1;
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++)
            if (filter_pair_overlaps(&a[i], &b[j]))
                return 1;
    return 0;
}

unsigned fwup_claims_count(const struct fwup_claims *c, const char *key)
{
    unsigned n = 0;
    for (size_t i = 0; i < c->n; i++)
        n += strcmp(c->v[i].key, key) == 0;
    return n;
}

/* Why nothing else may use the bus `held` is on, or NULL. */
static const char *holds_whole_bus(const struct claim *held)
{
    if (held->kind != FWUP_CLAIM_BUS)
        return "used by a link of another kind";
    if (held->exclusive)
        return "held whole (exclusive protocol)";
    return held->nfilters ? NULL : "held whole (no CAN ids declared)";
}

/* Why `req` cannot be held alongside `held` (same key), or NULL. */
static const char *conflict(const struct claim *held, const struct fwup_claim_req *req)
{
    if (held->kind != req->kind)
        return "used by a link of another kind";
    if (req->kind == FWUP_CLAIM_PORT)
        return "in use";
    const char *whole = holds_whole_bus(held);
    if (whole)
        return whole;
    if (req->exclusive)
        return "in use, and this protocol needs the whole bus";
    if (fwup_filters_overlap(held->filters, held->nfilters, req->filters, req->nfilters))
        return req->nfilters ? "in use with overlapping CAN ids"
                             : "held whole (no CAN ids declared)";
    return NULL;
}

static int bus_full(const char *key, unsigned cap, unsigned on_key, char *why, size_t whylen)
{
    if (!cap || on_key < cap)
        return 0;
    snprintf(why, whylen, "bus %s: %u jobs running, its limit", key, on_key);
    return 1;
}

int fwup_claims_take(struct fwup_claims *c, const struct fwup_claim_req *req, uint64_t owner,
                     char *why, size_t whylen)
{
    if (!req->key || !*req->key || (req->kind != FWUP_CLAIM_PORT && req->kind != FWUP_CLAIM_BUS) ||
        (req->nfilters && !req->filters)) {
        snprintf(why, whylen, "malformed resource claim");
        return -1;
    }
    unsigned on_key = 0;
    for (size_t i = 0; i < c->n; i++) {
        const struct claim *h = &c->v[i];
        if (h->owner == owner) {
            snprintf(why, whylen, "job %" PRIu64 " already holds %s", owner, h->key);
            return -1;
        }
        if (strcmp(h->key, req->key) != 0)
            continue;
        on_key++;
        const char *what = conflict(h, req);
        if (what) {
            snprintf(why, whylen, "%s %s: %s by job %" PRIu64,
                     req->kind == FWUP_CLAIM_BUS ? "bus" : "port", req->key, what, h->owner);
            return 1;
        }
    }
    if (req->kind == FWUP_CLAIM_BUS && bus_full(req->key, req->bus_cap, on_key, why, whylen))
        return 1;
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 8;
        struct claim *nv = realloc(c->v, ncap * sizeof(*nv));
        if (!nv)
            goto oom;
        c->v = nv, c->cap = ncap;
    }
    struct claim k = {owner, req->kind, strdup(req->key), NULL, req->nfilters, req->exclusive};
    if (req->nfilters) {
        k.filters = malloc(req->nfilters * sizeof(*k.filters));
        if (k.filters)
            memcpy(k.filters, req->filters, req->nfilters * sizeof(*k.filters));
    }
    if (!k.key || (req->nfilters && !k.filters)) {
        claim_clear(&k);
        goto oom;
    }
    c->v[c->n++] = k;
    return 0;
oom:
    snprintf(why, whylen, "out of memory");
    return -1;
}

int fwup_claims_bus_closed(const struct fwup_claims *c, const char *key, unsigned bus_cap,
                           char *why, size_t whylen)
{
    unsigned on_key = 0;
    for (size_t i = 0; i < c->n; i++) {
        const struct claim *h = &c->v[i];
        if (strcmp(h->key, key) != 0)
            continue;
        on_key++;
        const char *what = holds_whole_bus(h);
        if (what) {
            snprintf(why, whylen, "bus %s: %s by job %" PRIu64, key, what, h->owner);
            return 1;
        }
    }
    return bus_full(key, bus_cap, on_key, why, whylen);
}

void fwup_claims_release(struct fwup_claims *c, uint64_t owner)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].owner == owner) {
            claim_clear(&c->v[i]);
            c->v[i] = c->v[--c->n];
            return;
        }
}
