#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static int log_level = FWUP_LOG_INFO;

void fwup_log_set_level(int prio)
{
    log_level = prio;
}

void fwup_log(int prio, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    int n;

    if (prio > log_level)
        return;
    n = snprintf(line, sizeof(line), "<%d>", prio);
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    /* One fputs per line so concurrent writers to the journal stream never
     * interleave inside a message. */
    fprintf(stderr, "%s\n", line);
}
