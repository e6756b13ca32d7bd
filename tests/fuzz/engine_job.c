/* Job variants for the engine harness and its recorder. See engine_job.h. */
#include "engine_job.h"

#include <stdlib.h>
#include <string.h>

#include "simtty.h"

#define STM32_FLASH 0x08000000u
#define PIC32_SLOT0 0x01000000u
#define PIC32_SLOT1 0x01080000u

static const struct fz_variant xmodem_variants[] = {
    {{NULL}, STM32_FLASH, 0, ""},
    {{"mode", "checksum", "block", "128", NULL}, STM32_FLASH, 0, "mode=checksum"},
    {{"block", "128", "retries", "2", "pad", "0xff", NULL}, STM32_FLASH, 0, ""},
    {{"mode", "crc", NULL}, STM32_FLASH, 1, "crc_only=1"},
    {{"ymodem", "true", NULL}, STM32_FLASH, 0, ""},
};

static const struct fz_variant stm32_variants[] = {
    {{NULL}, STM32_FLASH, 0, ""},
    {{"erase", "mass", "verify", "after", NULL}, STM32_FLASH, 0, ""},
    {{"erase", "none", "verify", "none", "go", "no", NULL}, STM32_FLASH, 0, ""},
    {{"unprotect", "yes", "retries", "1", "sync_retries", "1", NULL}, STM32_FLASH, 0, "rdp=1"},
    {{"flash_size", "0x10000", "page_size", "1024", "go_address", "0x08000100", NULL},
     STM32_FLASH + 0x100,
     1,
     ""},
};

static const struct fz_variant pic32_variants[] = {
    {{NULL}, PIC32_SLOT1, 0, ""},
    {{"verify", "checksum", "erase", "chip", NULL}, PIC32_SLOT1, 0, ""},
    {{"trigger", "none", "reset", "false", NULL}, PIC32_SLOT1, 0, ""},
    {{"slot", "0", "trigger", "gpio", NULL}, PIC32_SLOT0, 0, "trigger=gpio"},
    {{"retries", "1", "timeout", "100", NULL}, PIC32_SLOT1, 1, ""},
};

static const struct {
    const char *protocol, *model;
    const struct fz_variant *v;
    size_t n;
    char parity;
} table[] = {
    {"xmodem", "xmodem", xmodem_variants, sizeof(xmodem_variants) / sizeof(xmodem_variants[0]),
     'N'},
    {"stm32-uart", "stm32", stm32_variants, sizeof(stm32_variants) / sizeof(stm32_variants[0]),
     'E'},
    {"pic32cx-bz", "pic32", pic32_variants, sizeof(pic32_variants) / sizeof(pic32_variants[0]),
     'N'},
};

static int find(const struct fwup_protocol *p)
{
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(p->name, table[i].protocol) == 0)
            return (int)i;
    return -1;
}

size_t fz_nvariants(const struct fwup_protocol *p)
{
    int t = find(p);
    return t < 0 ? 0 : table[t].n;
}

const char *fz_device_model(const struct fwup_protocol *p)
{
    int t = find(p);
    return t < 0 ? NULL : table[t].model;
}

int fz_job_init(struct fz_job *j, const struct fwup_protocol *p, unsigned i)
{
    int t = find(p);
    memset(j, 0, sizeof(*j));
    if (t < 0 || !(j->data = simtty_random_bytes(FZ_IMAGE_LEN, 1)))
        return -1;
    j->v = &table[t].v[i % table[t].n];
    j->seg = (struct fwup_segment){j->v->address, FZ_IMAGE_LEN, j->data, -1};
    j->img = (struct fwup_image){.struct_size = sizeof(j->img),
                                 .segment_size = sizeof(j->seg),
                                 .segments = &j->seg,
                                 .nsegments = 1,
                                 .total = FZ_IMAGE_LEN};
    size_t n = 0;
    for (const char *const *o = j->v->opts; *o && n < FZ_MAX_OPTIONS; o += 2, n++)
        j->opt[n] = (struct fwup_option){o[0], o[1]};
    j->serial = (struct fwup_serial_info){sizeof(j->serial), 115200, 8,
                                          table[t].parity,   1,      FWUP_FLOW_CONTROL_NONE};
    j->link = (struct fwup_link_info){.struct_size = sizeof(j->link),
                                      .kind = FWUP_LINK_SERIAL,
                                      .name = "fuzz",
                                      .serial = &j->serial};
    j->params = (struct fwup_job_params){.struct_size = sizeof(j->params),
                                         .device_id = "fuzz-1",
                                         .image = &j->img,
                                         .options = j->opt,
                                         .noptions = n,
                                         .link = j->v->no_link ? NULL : &j->link};
    return 0;
}

void fz_job_free(struct fz_job *j)
{
    free(j->data);
    j->data = NULL;
}
