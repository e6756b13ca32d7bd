#include "failalloc.h"

#include <errno.h>
#include <stdint.h>

/* The linker's --wrap=calloc,--wrap=realloc: calls to calloc come here and
 * __real_calloc is the C library's. */
void *__real_calloc(size_t nmemb, size_t size);
void *__real_realloc(void *ptr, size_t size);
void *__wrap_calloc(size_t nmemb, size_t size);
void *__wrap_realloc(void *ptr, size_t size);

static size_t fail_size;
static unsigned refused;

void failalloc_size(size_t size)
{
    fail_size = size;
    refused = 0;
}

unsigned failalloc_refused(void)
{
    return refused;
}

static int refuse(size_t total)
{
    if (fail_size == 0 || total != fail_size)
        return 0;
    refused++;
    errno = ENOMEM;
    return 1;
}

void *__wrap_calloc(size_t nmemb, size_t size)
{
    if ((size == 0 || nmemb <= SIZE_MAX / size) && refuse(nmemb * size))
        return NULL;
    return __real_calloc(nmemb, size);
}

void *__wrap_realloc(void *ptr, size_t size)
{
    if (refuse(size))
        return NULL;
    return __real_realloc(ptr, size);
}
