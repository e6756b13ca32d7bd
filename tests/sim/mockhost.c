#include "mockhost.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

static int m_submit(void *h, const struct fwup_unit *u)
{
    struct mockhost *m = h;
    m->calls_after_finish += m->finished;
    ck_assert_uint_eq(u->struct_size, sizeof(*u));
    ck_assert_uint_eq(u->kind, FWUP_UNIT_BYTES);
    ck_assert_uint_le(m->nsent + u->len, sizeof(m->sent));
    memcpy(m->sent + m->nsent, u->data, u->len);
    m->nsent += u->len;
    m->units++;
    m->tag = u->tag;
    m->unit_flags = u->flags;
    m->unit_timeout = u->timeout_ms;
    if (u->flags & FWUP_SUBMIT_ON_WIRE)
        m->wire_tag = u->tag;
    return 0;
}

static int m_control(void *h, const struct fwup_control *c)
{
    struct mockhost *m = h;
    m->calls_after_finish += m->finished;
    ck_assert_uint_eq(c->op, FWUP_CTL_FLUSH_RX);
    m->flushes++;
    return 0;
}

static void m_timer(void *h, unsigned id, uint32_t ms)
{
    struct mockhost *m = h;
    m->calls_after_finish += m->finished;
    ck_assert_uint_lt(id, FWUP_MAX_TIMERS);
    m->timer = ms;
}

static void m_progress(void *h, const char *p, uint64_t d, uint64_t t)
{
    struct mockhost *m = h;
    (void)p;
    (void)d;
    (void)t;
    m->calls_after_finish += m->finished;
}

static void m_log(void *h, enum fwup_log_prio p, const char *s)
{
    (void)h;
    (void)p;
    (void)s;
}

static void m_finish(void *h, enum fwup_result r, const char *msg)
{
    struct mockhost *m = h;
    m->calls_after_finish += m->finished;
    m->finished = 1;
    m->result = r;
    snprintf(m->msg, sizeof(m->msg), "%s", msg ? msg : "");
}

const struct fwup_host_ops mockhost_ops = {
    sizeof(struct fwup_host_ops), m_submit, m_control, m_timer, m_progress, m_log, m_finish};

void mockhost_event(const struct fwup_protocol *proto, struct fwup_engine *e, struct fwup_event ev)
{
    ev.struct_size = sizeof(ev);
    proto->on_event(e, &ev);
}

void mockhost_start(const struct fwup_protocol *proto, struct fwup_engine *e)
{
    mockhost_event(proto, e, (struct fwup_event){.type = FWUP_EV_START});
}

void mockhost_rx(const struct fwup_protocol *proto, struct fwup_engine *e, const void *data,
                 size_t len)
{
    mockhost_event(proto, e,
                   (struct fwup_event){
                       .type = FWUP_EV_RX, .unit_kind = FWUP_UNIT_BYTES, .data = data, .len = len});
}

void mockhost_timer(const struct fwup_protocol *proto, struct fwup_engine *e, unsigned id)
{
    mockhost_event(proto, e, (struct fwup_event){.type = FWUP_EV_TIMER, .timer_id = id});
}

void mockhost_cancel(const struct fwup_protocol *proto, struct fwup_engine *e)
{
    mockhost_event(proto, e, (struct fwup_event){.type = FWUP_EV_CANCEL});
}

void mockhost_complete(const struct fwup_protocol *proto, struct fwup_engine *e, uint32_t tag,
                       enum fwup_status status)
{
    mockhost_event(proto, e,
                   (struct fwup_event){.type = FWUP_EV_COMPLETE, .tag = tag, .status = status});
}
