/*
 * lineack: a complete, minimal fwupgw protocol plugin (ABI 3), the example
 * of docs/plugin-guide.md. It speaks a toy serial loader:
 *
 *   host:   "LOAD <length>\n"
 *   device: "READY\n"
 *   host:   <length> image bytes
 *   device: "OK <sum>\n"   sum: the bytes added up mod 2^32, 8 hex digits
 *
 * Build it out of tree against the installed headers:
 *   cc -shared -fPIC -fvisibility=hidden -I/usr/include lineack.c -o lineack.so
 */
#include <fwupgw/protocol.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_ANSWER = 0 }; /* our one timer id */
enum { TAG_IMAGE = 1 };

struct fwup_engine {
    const struct fwup_host_ops *ops;
    void *host;
    const struct fwup_segment *seg; /* the image's one segment */
    uint32_t timeout_ms;
    enum { S_READY, S_SENDING, S_SUM, S_DONE } state;
    char line[64];
    size_t linelen;
};

static const struct fwup_option_desc options[] = {
    {"timeout_ms", FWUP_OPT_INT, "2000", NULL, 10, 60000, "how long to wait for an answer"},
};

static int check_image(const struct fwup_job_params *p, char *err, size_t errlen)
{
    if (p->image->nsegments != 1) {
        snprintf(err, errlen, "lineack: one contiguous segment only (image has %zu)",
                 p->image->nsegments);
        return -1;
    }
    return 0;
}

/* Every way out: no host call may follow finish(). */
static void fail(struct fwup_engine *e, enum fwup_result r, const char *msg)
{
    e->state = S_DONE;
    e->ops->timer(e->host, T_ANSWER, 0);
    e->ops->finish(e->host, r, msg);
}

static int send_bytes(struct fwup_engine *e, const void *data, size_t len, uint32_t flags)
{
    struct fwup_unit u = {.struct_size = sizeof(u),
                          .kind = FWUP_UNIT_BYTES,
                          .tag = TAG_IMAGE,
                          .flags = flags,
                          .data = data,
                          .len = len};
    return e->ops->submit(e->host, &u);
}

static void on_line(struct fwup_engine *e, const char *line)
{
    if (e->state == S_READY && strcmp(line, "READY") == 0) {
        e->state = S_SENDING;
        e->ops->progress(e->host, "transfer", 0, e->seg->len);
        /* One unit, never split; completion once it has left the UART, so
         * the answer timeout does not count the line time. */
        e->ops->timer(e->host, T_ANSWER, 0);
        if (send_bytes(e, e->seg->data, e->seg->len, FWUP_SUBMIT_ON_WIRE) < 0)
            fail(e, FWUP_RESULT_TRANSIENT, "lineack: link gone");
        return;
    }
    unsigned long sum;
    /* The answer may come before the completion of the bytes it answers:
     * the device can read faster than the nominal line rate. */
    if ((e->state == S_SENDING || e->state == S_SUM) && sscanf(line, "OK %8lx", &sum) == 1) {
        uint32_t want = 0;
        for (uint32_t i = 0; i < e->seg->len; i++)
            want += e->seg->data[i];
        if ((uint32_t)sum != want) {
            char msg[96];
            snprintf(msg, sizeof(msg), "lineack: device sum %08lx, image %08x", sum, want);
            fail(e, FWUP_RESULT_TRANSIENT, msg);
            return;
        }
        e->ops->progress(e->host, "finish", e->seg->len, e->seg->len);
        fail(e, FWUP_RESULT_OK, NULL);
        return;
    }
    char msg[96];
    snprintf(msg, sizeof(msg), "lineack: unexpected answer '%.40s'", line);
    fail(e, FWUP_RESULT_PERMANENT, msg);
}

static void on_rx(struct fwup_engine *e, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (data[i] != '\n') {
            if (e->linelen + 1 < sizeof(e->line))
                e->line[e->linelen++] = (char)data[i];
            continue;
        }
        e->line[e->linelen] = 0;
        e->linelen = 0;
        on_line(e, e->line);
        if (e->state == S_DONE)
            return;
    }
}

static void on_event(struct fwup_engine *e, const struct fwup_event *ev)
{
    char hello[32];
    switch (ev->type) {
    case FWUP_EV_START:
        snprintf(hello, sizeof(hello), "LOAD %u\n", (unsigned)e->seg->len);
        e->ops->progress(e->host, "connect", 0, e->seg->len);
        e->ops->timer(e->host, T_ANSWER, e->timeout_ms);
        if (send_bytes(e, hello, strlen(hello), 0) < 0)
            fail(e, FWUP_RESULT_TRANSIENT, "lineack: link gone");
        break;
    case FWUP_EV_RX:
        on_rx(e, ev->data, ev->len);
        break;
    case FWUP_EV_COMPLETE:
        if (ev->tag == TAG_IMAGE && e->state == S_SENDING) {
            e->state = S_SUM;
            e->ops->progress(e->host, "verify", e->seg->len, e->seg->len);
            e->ops->timer(e->host, T_ANSWER, e->timeout_ms);
        }
        break;
    case FWUP_EV_TIMER:
        fail(e, FWUP_RESULT_TRANSIENT, "lineack: no answer from the device");
        break;
    case FWUP_EV_CANCEL:
        fail(e, FWUP_RESULT_CANCELLED, "cancelled");
        break;
    case FWUP_EV_LINK_DOWN:
        fail(e, FWUP_RESULT_TRANSIENT, "lineack: link gone");
        break;
    default:
        break; /* events this plugin does not know */
    }
}

static struct fwup_engine *create(const struct fwup_job_params *p, const struct fwup_host_ops *ops,
                                  void *host, char *err, size_t errlen)
{
    if (check_image(p, err, errlen) < 0)
        return NULL;
    struct fwup_engine *e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(err, errlen, "lineack: out of memory");
        return NULL;
    }
    e->ops = ops, e->host = host;
    e->seg = fwup_image_segment(p->image, 0);
    e->timeout_ms = 2000;
    for (size_t i = 0; i < p->noptions; i++) /* the daemon validated it */
        if (strcmp(p->options[i].name, "timeout_ms") == 0)
            e->timeout_ms = (uint32_t)strtoul(p->options[i].value, NULL, 0);
    return e;
}

static void destroy(struct fwup_engine *e)
{
    free(e);
}

FWUP_PROTOCOL_EXPORT const struct fwup_protocol FWUP_PROTOCOL_SYMBOL = {
    .abi_version = FWUP_PROTOCOL_ABI_VERSION,
    .struct_size = sizeof(struct fwup_protocol),
    .name = "lineack",
    .description = "toy line-acknowledged serial loader (plugin guide example)",
    .transports = FWUP_TRANSPORT_SERIAL,
    .options = options,
    .noptions = sizeof(options) / sizeof(options[0]),
    .check_image = check_image,
    .create = create,
    .destroy = destroy,
    .on_event = on_event,
};
