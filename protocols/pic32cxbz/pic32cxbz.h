/*
 * Checksums of the PIC32CX-BZ serial DFU (PGM_CLUSTER_VERIFY), exported from
 * the static library for tests; the plugin itself exports only its
 * fwup_protocol symbol.
 */
#ifndef FWUPGW_PIC32CXBZ_H
#define FWUPGW_PIC32CXBZ_H

#include <stddef.h>
#include <stdint.h>

/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, MSB first, no final XOR.
 * "123456789" -> 0x29B1. */
uint16_t fwup_pic32_crc16(const uint8_t *data, size_t len);

/* Microchip's "checksum" method: the payload's bytes added as unsigned
 * values, modulo 2^32 (progctrl.py _Checksum_Calculate). */
uint32_t fwup_pic32_sum32(const uint8_t *data, size_t len);

#endif
