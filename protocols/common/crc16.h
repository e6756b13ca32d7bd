/*
 * CRC-16 with the CCITT polynomial 0x1021 (MSB first, no reflection, no
 * final XOR). The start value picks the variant: 0 for CRC-16/XMODEM,
 * 0xFFFF for CRC-16/CCITT-FALSE (PIC32CX-BZ's PGM_CLUSTER_VERIFY).
 */
#ifndef FWUPGW_PROTOCOLS_COMMON_CRC16_H
#define FWUPGW_PROTOCOLS_COMMON_CRC16_H

#include <stddef.h>
#include <stdint.h>

#define FWUP_CRC16_XMODEM_INIT      0x0000
#define FWUP_CRC16_CCITT_FALSE_INIT 0xFFFF

/* Continue `crc` over `len` bytes. "123456789" gives 0x31C3 from 0 and
 * 0x29B1 from 0xFFFF. */
uint16_t fwup_crc16_ccitt(uint16_t crc, const uint8_t *data, size_t len);

#endif
