#include "mockhost.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

static int m_send(void *h, const uint8_t *d, size_t n)
{
    struct mockhost *m = h;
    m->calls_after_finish += m->finished;
    ck_assert_uint_le(m->nsent + n, sizeof(m->sent));
    memcpy(m->sent + m->nsent, d, n);
    m->nsent += n;
    return 0;
}

static void m_timer(void *h, uint32_t ms)
{
    struct mockhost *m = h;
    m->calls_after_finish += m->finished;
    m->timer = ms;
}

static void m_flush(void *h)
{
    struct mockhost *m = h;
    m->flushes++;
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

const struct fwup_host_ops mockhost_ops = {m_send, m_timer, m_flush, m_progress, m_log, m_finish};
