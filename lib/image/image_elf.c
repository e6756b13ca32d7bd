/*
 * ELF executables, as most firmware builds produce them: the bytes of every
 * PT_LOAD program header with p_filesz > 0 go to its physical address
 * (p_paddr, the LMA: where .data's initial values live in flash, not where
 * they are copied to at run time). Memory beyond p_filesz (.bss) is not
 * flashed. Sections are ignored, as flash programmers do. ELF32 and ELF64,
 * either byte order. Every offset and size is untrusted: each one is checked
 * against the bytes present, in 64-bit arithmetic, before anything is read.
 */
#include <stdio.h>
#include <string.h>

#include "image_internal.h"

#define EI_NIDENT   16
#define ELFCLASS32  1
#define ELFCLASS64  2
#define ELFDATA2LSB 1
#define ELFDATA2MSB 2
#define ET_EXEC     2
#define PT_LOAD     1
#define PN_XNUM     0xFFFF
#define EHDR32_LEN  52
#define EHDR64_LEN  64
#define PHDR32_LEN  32
#define PHDR64_LEN  56

struct reader {
    const uint8_t *data;
    int big;
};

static uint64_t rd(const struct reader *r, size_t off, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)r->data[off + i] << 8 * (r->big ? n - 1 - i : i);
    return v;
}

int fwup_img_parse_elf(const uint8_t *data, size_t len, struct fwup_img_builder *b)
{
    if (len < 4 || memcmp(data, "\177ELF", 4) != 0)
        return fwup_img_error(b->err, b->errlen, "offset 0: not an ELF file (no \\x7fELF magic)");
    if (len < EI_NIDENT)
        return fwup_img_error(b->err, b->errlen, "offset 0: truncated ELF header (%zu bytes)", len);
    unsigned cls = data[4], enc = data[5];
    if (cls != ELFCLASS32 && cls != ELFCLASS64)
        return fwup_img_error(b->err, b->errlen, "offset 4: unknown ELF class %u", cls);
    if (enc != ELFDATA2LSB && enc != ELFDATA2MSB)
        return fwup_img_error(b->err, b->errlen, "offset 5: unknown ELF data encoding %u", enc);
    if (data[6] != 1)
        return fwup_img_error(b->err, b->errlen, "offset 6: unknown ELF version %u", data[6]);
    int is64 = cls == ELFCLASS64;
    size_t ehlen = is64 ? EHDR64_LEN : EHDR32_LEN;
    if (len < ehlen)
        return fwup_img_error(b->err, b->errlen,
                              "offset 0: truncated ELF header (%zu bytes, needs %zu)", len, ehlen);
    struct reader r = {data, enc == ELFDATA2MSB};
    unsigned type = (unsigned)rd(&r, 16, 2);
    if (type != ET_EXEC)
        return fwup_img_error(b->err, b->errlen,
                              "offset 16: ELF type %u is not an executable (ET_EXEC); "
                              "link the program first",
                              type);
    uint64_t phoff = is64 ? rd(&r, 32, 8) : rd(&r, 28, 4);
    size_t at = is64 ? 54 : 42; /* e_phentsize, e_phnum follow */
    unsigned phentsize = (unsigned)rd(&r, at, 2), phnum = (unsigned)rd(&r, at + 2, 2);
    size_t phlen = is64 ? PHDR64_LEN : PHDR32_LEN;
    if (phnum == 0)
        return fwup_img_error(b->err, b->errlen, "offset %zu: ELF file has no program headers",
                              at + 2);
    if (phnum == PN_XNUM)
        return fwup_img_error(b->err, b->errlen,
                              "offset %zu: extended program header numbering is not supported",
                              at + 2);
    if (phentsize < phlen)
        return fwup_img_error(b->err, b->errlen,
                              "offset %zu: program header size %u, needs at least %zu", at,
                              phentsize, phlen);
    /* phnum and phentsize are 16-bit, so the product cannot overflow */
    uint64_t table = (uint64_t)phnum * phentsize;
    if (phoff > len || table > len - phoff)
        return fwup_img_error(b->err, b->errlen,
                              "offset %zu: program header table (%u x %u bytes at offset %llu) "
                              "runs past the end of the file (%zu bytes)",
                              is64 ? (size_t)32 : (size_t)28, phnum, phentsize,
                              (unsigned long long)phoff, len);

    for (unsigned i = 0; i < phnum; i++) {
        size_t ph = (size_t)phoff + (size_t)i * phentsize;
        if (rd(&r, ph, 4) != PT_LOAD)
            continue;
        uint64_t off, paddr, filesz, memsz;
        if (is64) {
            off = rd(&r, ph + 8, 8);
            paddr = rd(&r, ph + 24, 8);
            filesz = rd(&r, ph + 32, 8);
            memsz = rd(&r, ph + 40, 8);
        } else {
            off = rd(&r, ph + 4, 4);
            paddr = rd(&r, ph + 12, 4);
            filesz = rd(&r, ph + 16, 4);
            memsz = rd(&r, ph + 20, 4);
        }
        if (filesz == 0)
            continue; /* .bss only */
        if (filesz > memsz)
            return fwup_img_error(b->err, b->errlen,
                                  "offset %zu: program header %u: file size %llu exceeds its "
                                  "memory size %llu",
                                  ph, i, (unsigned long long)filesz, (unsigned long long)memsz);
        if (off > len || filesz > len - off)
            return fwup_img_error(b->err, b->errlen,
                                  "offset %zu: program header %u: %llu bytes at offset %llu run "
                                  "past the end of the file (%zu bytes)",
                                  ph, i, (unsigned long long)filesz, (unsigned long long)off, len);
        if (fwup_img_add(b, paddr, data + off, (size_t)filesz, 0, ph) < 0)
            return -1;
    }
    return 0;
}
