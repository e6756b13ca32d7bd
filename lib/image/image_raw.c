/* Raw binary: the whole file is one segment at the caller's base address. */
#include "image_internal.h"

int fwup_img_parse_bin(const uint8_t *data, size_t len, uint32_t base, struct fwup_img_builder *b)
{
    if (len == 0)
        return fwup_img_error(b->err, b->errlen, "empty image");
    return fwup_img_add(b, base, data, len, 0, 0);
}
