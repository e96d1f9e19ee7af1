/** CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor): check("123456789") = 0x29B1. */
export function crc16(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) {
    crc ^= bytes[i] << 8;
    for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/**
 * BITalino's CRC-4 (polynomial x⁴ + x + 1) over a frame whose last byte has its low nibble (the CRC
 * itself) cleared, bits most significant first.
 */
export function crc4Bitalino(frame: Uint8Array, start: number, length: number): number {
  let x = 0;
  for (let i = 0; i < length; i++) {
    const byte = i === length - 1 ? frame[start + i] & 0xf0 : frame[start + i];
    for (let bit = 7; bit >= 0; bit--) {
      x <<= 1;
      if (x & 0x10) x ^= 0x03;
      x ^= (byte >> bit) & 1;
    }
  }
  return x & 0x0f;
}
