/*
 * Host-side helpers shared by the protocol engines: the extent of an image,
 * logging through the host's ops and the allocation of an engine's state.
 */
#ifndef FWUPGW_PROTOCOLS_COMMON_ENGINE_H
#define FWUPGW_PROTOCOLS_COMMON_ENGINE_H

#include <fwupgw/protocol.h>

#include <stddef.h>
#include <stdint.h>

/* Lowest address of the non-empty segments and the flattened length from
 * there to the end of the highest one (gaps included). -1 if the image has
 * no byte to write. */
int fwup_image_extent(const struct fwup_image *img, uint64_t *base, uint64_t *len);

/* printf-style message to ops->log (which is optional); long messages are
 * cut at 239 bytes. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
void fwup_logf(const struct fwup_host_ops *ops, void *host, enum fwup_log_prio prio,
               const char *fmt, ...);

/* Line timing of a job's link: the speed and bits per character (start,
 * data, parity, stop) the host opened it with. An engine's own speed option,
 * if given (> 0), overrides the speed; a host that does not tell (link NULL)
 * leaves `fallback_baud` at 8N1, 0 meaning unknown. */
struct fwup_line {
    uint32_t baud, bits;
};
struct fwup_line fwup_line_of(const struct fwup_job_params *p, int64_t baud_option,
                              uint32_t fallback_baud);

/* Milliseconds `bytes` characters spend on the line, rounded up; 0 if the
 * speed is unknown. */
uint32_t fwup_line_ms(const struct fwup_line *l, uint64_t bytes);

/* Zeroed engine state of `size` bytes, or NULL with "<who>: out of memory"
 * in err. */
void *fwup_engine_alloc(size_t size, const char *who, char *err, size_t errlen);

#endif
