/* Job builder for the engine unit tests. See testjob.h. */
#include "testjob.h"

#include <check.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "simtty.h"

static uint8_t *random_bytes(size_t n, uint32_t seed)
{
    uint8_t *p = simtty_random_bytes(n, seed);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* See testjob.poison. */
static void place_poison(struct testjob *j)
{
    size_t n = j->img.nsegments, len = j->seg[0].len;
    if (n >= TESTJOB_MAX_SEGMENTS)
        return;
    if (len > sizeof(j->poison))
        len = sizeof(j->poison);
    for (size_t i = 0; i < len; i++)
        j->poison[i] = (uint8_t)~j->seg[0].data[i];
    j->seg[n] = (struct fwup_segment){j->seg[0].address, (uint32_t)len, j->poison, -1};
}

void testjob_init(struct testjob *j, const char *device_id, uint32_t addr, size_t len,
                  uint32_t seed, ...)
{
    va_list opts;
    va_start(opts, seed);
    memset(j, 0, sizeof(*j));
    j->data = j->owned[0] = random_bytes(len, seed);
    j->len = len;
    j->seg[0] = (struct fwup_segment){addr, (uint32_t)len, j->data, -1};
    j->img = (struct fwup_image){.struct_size = sizeof(j->img),
                                 .segment_size = sizeof(j->seg[0]),
                                 .segments = j->seg,
                                 .nsegments = 1,
                                 .total = len};
    place_poison(j);
    const char *k;
    while ((k = va_arg(opts, const char *)) != NULL) {
        ck_assert_uint_lt(j->params.noptions, TESTJOB_MAX_OPTIONS);
        j->opt[j->params.noptions].name = k;
        j->opt[j->params.noptions].value = va_arg(opts, const char *);
        j->params.noptions++;
    }
    va_end(opts);
    j->params.struct_size = sizeof(j->params);
    j->params.device_id = device_id;
    j->params.image = &j->img;
    j->params.options = j->opt;
}

void testjob_add_segment(struct testjob *j, uint32_t addr, size_t len, uint32_t seed)
{
    size_t i = j->img.nsegments;
    ck_assert_uint_lt(i, TESTJOB_MAX_SEGMENTS);
    ck_assert_ptr_null(j->owned[i]);
    j->owned[i] = random_bytes(len, seed);
    j->seg[i] = (struct fwup_segment){addr, (uint32_t)len, j->owned[i], -1};
    j->img.nsegments++;
    j->img.total += len;
    place_poison(j);
}

void testjob_serial_link(struct testjob *j, uint32_t baud, char parity)
{
    j->serial =
        (struct fwup_serial_info){sizeof(j->serial), baud, 8, parity, 1, FWUP_FLOW_CONTROL_NONE};
    j->link = (struct fwup_link_info){.struct_size = sizeof(j->link),
                                      .kind = FWUP_LINK_SERIAL,
                                      .name = "testjob",
                                      .serial = &j->serial};
    j->params.link = &j->link;
}

void testjob_free(struct testjob *j)
{
    for (size_t i = 0; i < TESTJOB_MAX_SEGMENTS; i++)
        free(j->owned[i]);
    memset(j->owned, 0, sizeof(j->owned));
}

const struct simdev_class *testjob_device(const char *name)
{
    const struct simdev_class *c = simdev_find(name);
    ck_assert_msg(c != NULL, "no device model \"%s\"", name);
    return c;
}
