/* CRC-16/XMODEM (poly 0x1021, init 0, no reflection, no final xor). */
#ifndef FWUP_XMODEM_CRC16_H
#define FWUP_XMODEM_CRC16_H

#include <stddef.h>
#include <stdint.h>

/* Continue `crc` over `len` bytes; start with 0. crc16("123456789") == 0x31C3. */
uint16_t fwup_crc16_xmodem(uint16_t crc, const uint8_t *data, size_t len);

#endif
