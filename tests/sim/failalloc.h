/*
 * Allocation failures on demand, for unit tests of out-of-memory paths that
 * no real run reaches. A test binary linked with fwup_failalloc has every
 * calloc() and realloc() of its own objects and static libraries (engines
 * included) routed through here by the linker (--wrap), so no code under
 * test needs a hook of its own.
 */
#ifndef FWUPGW_FAILALLOC_H
#define FWUPGW_FAILALLOC_H

#include <stddef.h>

/* From now on, every calloc() and realloc() asking for exactly `size` bytes
 * in all (calloc: nmemb * size) fails with ENOMEM; 0 fails none. Sizes are
 * what make the failure land on the allocation under test, not on the
 * harness's own. */
void failalloc_size(size_t size);

/* Allocations refused since the last failalloc_size(). */
unsigned failalloc_refused(void);

#endif
