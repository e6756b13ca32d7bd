/*
 * STM32 flash geometry by product ID (the PID that the ROM bootloader's Get
 * ID command returns), after ST AN2606 "Bootloader device-dependent
 * parameters" and the families' reference manuals. Shared, header-only, by
 * the stm32-uart engine and the simulated device so both agree on the
 * layout.
 *
 * Erase numbers are page (or sector) indices counted from the flash base
 * across all runs, as the bootloader's Erase / Extended Erase take them.
 * Sector-based parts (F2/F4/F7) list their sector runs; dual-bank parts are
 * described in their default bank mode.
 */
#ifndef FWUPGW_STM32_DEVICES_H
#define FWUPGW_STM32_DEVICES_H

#include <stddef.h>
#include <stdint.h>

#define STM32_MAX_RUNS 6

struct stm32_run {
    uint16_t count; /* pages in this run */
    uint32_t size;  /* bytes per page */
};

struct stm32_chip {
    uint16_t pid;
    const char *name;
    uint32_t flash_base, flash_size;
    uint32_t ram_start, ram_end; /* RAM the bootloader leaves to the host */
    uint8_t legacy_erase;        /* its bootloader offers Erase (0x43), not 0x44 */
    uint8_t nruns;
    struct stm32_run runs[STM32_MAX_RUNS];
};

#define STM32_K(x) ((uint32_t)(x)*1024u)
/* Uniform pages: flash KiB, page bytes. */
#define STM32_UNI(kib, page)                                                                       \
    1,                                                                                             \
    {                                                                                              \
        {                                                                                          \
            (uint16_t)(STM32_K(kib) / (page)), (page)                                              \
        }                                                                                          \
    }
/* F2/F4 single bank: 4x16K, 1x64K, then n x 128K. */
#define STM32_F4(n)                                                                                \
    3,                                                                                             \
    {                                                                                              \
        {4, STM32_K(16)}, {1, STM32_K(64)},                                                        \
        {                                                                                          \
            (n), STM32_K(128)                                                                      \
        }                                                                                          \
    }
/* F4 dual bank (2 MiB): the single-bank layout twice. */
#define STM32_F4DB                                                                                 \
    6,                                                                                             \
    {                                                                                              \
        {4, STM32_K(16)}, {1, STM32_K(64)}, {7, STM32_K(128)}, {4, STM32_K(16)}, {1, STM32_K(64)}, \
            {7, STM32_K(128)},                                                                     \
    }
/* F74x/F76x: 4x32K, 1x128K, then n x 256K. */
#define STM32_F7(n)                                                                                \
    3,                                                                                             \
    {                                                                                              \
        {4, STM32_K(32)}, {1, STM32_K(128)},                                                       \
        {                                                                                          \
            (n), STM32_K(256)                                                                      \
        }                                                                                          \
    }

#define STM32_FLASH 0x08000000u

static const struct stm32_chip stm32_chips[] = {
    /* F0 */
    {0x440, "STM32F030x8/F05x", STM32_FLASH, STM32_K(64), 0x20000800, 0x20002000, 0,
     STM32_UNI(64, 1024)},
    {0x442, "STM32F030xC/F09x", STM32_FLASH, STM32_K(256), 0x20001800, 0x20008000, 0,
     STM32_UNI(256, 2048)},
    {0x444, "STM32F03xx4/6", STM32_FLASH, STM32_K(32), 0x20000800, 0x20001000, 0,
     STM32_UNI(32, 1024)},
    {0x445, "STM32F04x/F070x6", STM32_FLASH, STM32_K(32), 0x20001800, 0x20001800, 0,
     STM32_UNI(32, 1024)},
    {0x448, "STM32F070xB/F071/F072", STM32_FLASH, STM32_K(128), 0x20001800, 0x20004000, 0,
     STM32_UNI(128, 2048)},
    /* F1: bootloader v2.x, legacy Erase */
    {0x412, "STM32F10x low-density", STM32_FLASH, STM32_K(32), 0x20000200, 0x20002800, 1,
     STM32_UNI(32, 1024)},
    {0x410, "STM32F10x medium-density", STM32_FLASH, STM32_K(128), 0x20000200, 0x20005000, 1,
     STM32_UNI(128, 1024)},
    {0x414, "STM32F10x high-density", STM32_FLASH, STM32_K(512), 0x20000200, 0x20010000, 1,
     STM32_UNI(512, 2048)},
    {0x420, "STM32F10x medium-density value line", STM32_FLASH, STM32_K(128), 0x20000200,
     0x20002000, 1, STM32_UNI(128, 1024)},
    {0x428, "STM32F10x high-density value line", STM32_FLASH, STM32_K(512), 0x20000200, 0x20008000,
     1, STM32_UNI(512, 2048)},
    {0x418, "STM32F105/F107", STM32_FLASH, STM32_K(256), 0x20001000, 0x20010000, 1,
     STM32_UNI(256, 2048)},
    {0x430, "STM32F10x XL-density", STM32_FLASH, STM32_K(1024), 0x20000800, 0x20018000, 0,
     STM32_UNI(1024, 2048)},
    /* F2 */
    {0x411, "STM32F2xx", STM32_FLASH, STM32_K(1024), 0x20002000, 0x20020000, 0, STM32_F4(7)},
    /* F3 */
    {0x432, "STM32F373/F378", STM32_FLASH, STM32_K(256), 0x20001400, 0x20008000, 0,
     STM32_UNI(256, 2048)},
    {0x422, "STM32F302xB(C)/F303xB(C)/F358", STM32_FLASH, STM32_K(256), 0x20001400, 0x2000A000, 0,
     STM32_UNI(256, 2048)},
    {0x439, "STM32F301/F302x4(6/8)/F318", STM32_FLASH, STM32_K(64), 0x20001800, 0x20004000, 0,
     STM32_UNI(64, 2048)},
    {0x438, "STM32F303x4(6/8)/F334/F328", STM32_FLASH, STM32_K(64), 0x20001800, 0x20003000, 0,
     STM32_UNI(64, 2048)},
    {0x446, "STM32F302xD(E)/F303xD(E)/F398", STM32_FLASH, STM32_K(512), 0x20001800, 0x20010000, 0,
     STM32_UNI(512, 2048)},
    /* F4 */
    {0x413, "STM32F405/F407/F415/F417", STM32_FLASH, STM32_K(1024), 0x20003000, 0x20020000, 0,
     STM32_F4(7)},
    {0x419, "STM32F42x/F43x", STM32_FLASH, STM32_K(2048), 0x20003000, 0x20030000, 0, STM32_F4DB},
    {0x423, "STM32F401xB(C)", STM32_FLASH, STM32_K(256), 0x20003000, 0x20010000, 0, STM32_F4(1)},
    {0x433, "STM32F401xD(E)", STM32_FLASH, STM32_K(512), 0x20003000, 0x20018000, 0, STM32_F4(3)},
    {0x458, "STM32F410", STM32_FLASH, STM32_K(128), 0x20003000, 0x20008000, 0, STM32_F4(0)},
    {0x431, "STM32F411", STM32_FLASH, STM32_K(512), 0x20003000, 0x20020000, 0, STM32_F4(3)},
    {0x441, "STM32F412", STM32_FLASH, STM32_K(1024), 0x20003000, 0x20040000, 0, STM32_F4(7)},
    {0x463, "STM32F413/F423", STM32_FLASH, STM32_K(1536), 0x20003000, 0x20050000, 0, STM32_F4(11)},
    {0x421, "STM32F446", STM32_FLASH, STM32_K(512), 0x20003000, 0x20020000, 0, STM32_F4(3)},
    {0x434, "STM32F469/F479", STM32_FLASH, STM32_K(2048), 0x20003000, 0x20060000, 0, STM32_F4DB},
    /* F7 */
    {0x449, "STM32F74x/F75x", STM32_FLASH, STM32_K(1024), 0x20004000, 0x20050000, 0, STM32_F7(3)},
    {0x451, "STM32F76x/F77x", STM32_FLASH, STM32_K(2048), 0x20004000, 0x20080000, 0, STM32_F7(7)},
    {0x452, "STM32F72x/F73x", STM32_FLASH, STM32_K(512), 0x20004000, 0x20040000, 0, STM32_F4(3)},
    /* G0 */
    {0x466, "STM32G03x/G04x", STM32_FLASH, STM32_K(64), 0x20001000, 0x20002000, 0,
     STM32_UNI(64, 2048)},
    {0x456, "STM32G05x/G06x", STM32_FLASH, STM32_K(64), 0x20001000, 0x20004800, 0,
     STM32_UNI(64, 2048)},
    {0x460, "STM32G07x/G08x", STM32_FLASH, STM32_K(128), 0x20002700, 0x20009000, 0,
     STM32_UNI(128, 2048)},
    {0x467, "STM32G0Bx/G0Cx", STM32_FLASH, STM32_K(512), 0x20004000, 0x20024000, 0,
     STM32_UNI(512, 2048)},
    /* G4 (category 3 parts in their default dual-bank mode: 2K pages) */
    {0x468, "STM32G431/G441", STM32_FLASH, STM32_K(128), 0x20004000, 0x20005800, 0,
     STM32_UNI(128, 2048)},
    {0x469, "STM32G47x/G48x", STM32_FLASH, STM32_K(512), 0x20004000, 0x20018000, 0,
     STM32_UNI(512, 2048)},
    {0x479, "STM32G491/G4A1", STM32_FLASH, STM32_K(512), 0x20004000, 0x2001C000, 0,
     STM32_UNI(512, 2048)},
    /* L0 */
    {0x457, "STM32L01x/L02x", STM32_FLASH, STM32_K(16), 0x20000800, 0x20000800, 0,
     STM32_UNI(16, 128)},
    {0x425, "STM32L031/L041", STM32_FLASH, STM32_K(32), 0x20001000, 0x20002000, 0,
     STM32_UNI(32, 128)},
    {0x417, "STM32L05x/L06x", STM32_FLASH, STM32_K(64), 0x20001000, 0x20002000, 0,
     STM32_UNI(64, 128)},
    {0x447, "STM32L07x/L08x", STM32_FLASH, STM32_K(192), 0x20002000, 0x20005000, 0,
     STM32_UNI(192, 128)},
    /* L1 */
    {0x416, "STM32L1xx6(8/B)", STM32_FLASH, STM32_K(128), 0x20000800, 0x20004000, 0,
     STM32_UNI(128, 256)},
    {0x437, "STM32L1xxE", STM32_FLASH, STM32_K(512), 0x20001000, 0x20014000, 0,
     STM32_UNI(512, 256)},
    /* L4 */
    {0x464, "STM32L41x/L42x", STM32_FLASH, STM32_K(128), 0x20003100, 0x20008000, 0,
     STM32_UNI(128, 2048)},
    {0x435, "STM32L43x/L44x", STM32_FLASH, STM32_K(256), 0x20003100, 0x2000C000, 0,
     STM32_UNI(256, 2048)},
    {0x462, "STM32L45x/L46x", STM32_FLASH, STM32_K(512), 0x20003100, 0x20020000, 0,
     STM32_UNI(512, 2048)},
    {0x415, "STM32L47x/L48x", STM32_FLASH, STM32_K(1024), 0x20003100, 0x20018000, 0,
     STM32_UNI(1024, 2048)},
    {0x461, "STM32L496/L4A6", STM32_FLASH, STM32_K(1024), 0x20003100, 0x20040000, 0,
     STM32_UNI(1024, 2048)},
    {0x470, "STM32L4Rx/L4Sx", STM32_FLASH, STM32_K(2048), 0x20003200, 0x200A0000, 0,
     STM32_UNI(2048, 4096)},
    /* H7 */
    {0x450, "STM32H74x/H75x", STM32_FLASH, STM32_K(2048), 0x20004100, 0x20020000, 0,
     STM32_UNI(2048, 131072)},
    {0x483, "STM32H72x/H73x", STM32_FLASH, STM32_K(1024), 0x20004100, 0x20020000, 0,
     STM32_UNI(1024, 131072)},
    {0x480, "STM32H7A3/H7B3", STM32_FLASH, STM32_K(2048), 0x20004100, 0x20020000, 0,
     STM32_UNI(2048, 8192)},
};

static inline const struct stm32_chip *stm32_chip_find(uint16_t pid)
{
    for (size_t i = 0; i < sizeof(stm32_chips) / sizeof(stm32_chips[0]); i++)
        if (stm32_chips[i].pid == pid)
            return &stm32_chips[i];
    return NULL;
}

static inline uint32_t stm32_chip_npages(const struct stm32_chip *c)
{
    uint32_t n = 0;
    for (unsigned i = 0; i < c->nruns; i++)
        n += c->runs[i].count;
    return n;
}

/* The page holding flash offset `off`: its index, offset and size. -1 if
 * `off` is past the end. */
static inline int stm32_chip_page_of(const struct stm32_chip *c, uint32_t off, uint32_t *index,
                                     uint32_t *start, uint32_t *size)
{
    uint32_t idx = 0, base = 0;
    for (unsigned i = 0; i < c->nruns; i++) {
        uint64_t run_len = (uint64_t)c->runs[i].count * c->runs[i].size;
        if (off < base + run_len) {
            uint32_t k = (off - base) / c->runs[i].size;
            *index = idx + k;
            *start = base + k * c->runs[i].size;
            *size = c->runs[i].size;
            return 0;
        }
        idx += c->runs[i].count;
        base += (uint32_t)run_len;
    }
    return -1;
}

/* Offset and size of page `index`; -1 if there is no such page. */
static inline int stm32_chip_page_at(const struct stm32_chip *c, uint32_t index, uint32_t *start,
                                     uint32_t *size)
{
    uint32_t base = 0;
    for (unsigned i = 0; i < c->nruns; i++) {
        if (index < c->runs[i].count) {
            *start = base + index * c->runs[i].size;
            *size = c->runs[i].size;
            return 0;
        }
        index -= c->runs[i].count;
        base += c->runs[i].count * c->runs[i].size;
    }
    return -1;
}

#endif
