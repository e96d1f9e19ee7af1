/**
 * Consistent Overhead Byte Stuffing: removes every 0x00 from a frame so 0x00 can delimit frames;
 * a receiver that starts mid-stream or sees garbage resynchronises at the next 0x00.
 */
export function cobsEncode(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length + Math.ceil(data.length / 254) + 1);
  let codeAt = 0;
  let code = 1;
  let o = 1;
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0) {
      out[codeAt] = code;
      codeAt = o++;
      code = 1;
      continue;
    }
    out[o++] = data[i];
    if (++code === 0xff) {
      out[codeAt] = code;
      if (i === data.length - 1) return out.subarray(0, o); // a full block ends the data: no empty block after it
      codeAt = o++;
      code = 1;
    }
  }
  out[codeAt] = code;
  return out.subarray(0, o);
}

/** Decodes one COBS block (without its 0x00 delimiter) into `out`; returns the length, or -1 if malformed. */
export function cobsDecode(data: Uint8Array, start: number, end: number, out: Uint8Array): number {
  let o = 0;
  let i = start;
  while (i < end) {
    const code = data[i++];
    if (code === 0 || i + code - 1 > end) return -1;
    for (let k = 1; k < code; k++) {
      if (o >= out.length) return -1;
      out[o++] = data[i++];
    }
    if (code < 0xff && i < end) {
      if (o >= out.length) return -1;
      out[o++] = 0;
    }
  }
  return o;
}
