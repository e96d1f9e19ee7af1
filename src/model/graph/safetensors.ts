import { readFile, writeFile } from 'node:fs/promises';
import { WeightError } from './weight-error.js';
import type { TensorMap } from './tensor.js';
import { sizeOf } from './tensor.js';

interface Entry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Parses a safetensors buffer; F32, F16, BF16 and F64 tensors come out as float32. */
export function parseSafetensors(buf: Buffer, file: string): TensorMap {
  if (buf.length < 8)
    throw new WeightError(file, ['not a safetensors file: shorter than its 8-byte header length']);
  const headerLen = Number(buf.readBigUInt64LE(0));
  if (headerLen > buf.length - 8)
    throw new WeightError(file, [`header length ${headerLen} exceeds the file`]);
  let header: Record<string, Entry | Record<string, string>>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8'));
  } catch {
    throw new WeightError(file, ['header is not JSON']);
  }
  const base = 8 + headerLen;
  const out: TensorMap = new Map();
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = value as Entry;
    const width = BYTES[e.dtype];
    if (!width) throw new WeightError(file, [`${name}: unsupported dtype ${e.dtype}`]);
    const [begin, end] = e.data_offsets;
    const n = sizeOf(e.shape);
    if (end - begin !== n * width || base + end > buf.length) {
      throw new WeightError(file, [
        `${name}: data [${begin}, ${end}) does not hold shape [${e.shape}] of ${e.dtype}`,
      ]);
    }
    const bytes = buf.subarray(base + begin, base + end);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      switch (e.dtype) {
        case 'F32':
          data[i] = bytes.readFloatLE(4 * i);
          break;
        case 'F64':
          data[i] = bytes.readDoubleLE(8 * i);
          break;
        case 'F16':
          data[i] = halfToFloat(bytes.readUInt16LE(2 * i));
          break;
        default: {
          const v = Buffer.alloc(4);
          v.writeUInt16LE(bytes.readUInt16LE(2 * i), 2);
          data[i] = v.readFloatLE(0);
        }
      }
    }
    out.set(name, { shape: e.shape, data });
  }
  return out;
}

export async function readSafetensors(file: string): Promise<TensorMap> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    throw new WeightError(file, [`cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  return parseSafetensors(buf, file);
}

/** Writes float32 tensors in the safetensors layout (8-byte header length, JSON header, data). */
export async function writeSafetensors(file: string, tensors: TensorMap): Promise<void> {
  const header: Record<string, Entry> = {};
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + 4 * t.data.length] };
    offset += 4 * t.data.length;
  }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(text)));
  const parts: Buffer[] = [len, Buffer.from(text)];
  for (const t of tensors.values())
    parts.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  await writeFile(file, Buffer.concat(parts));
}
