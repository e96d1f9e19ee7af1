import { readFile, writeFile } from 'node:fs/promises';
import { ModelError } from './package/model-package.js';

/** A float32 array in NumPy's .npy format (what PyTorch and NumPy users exchange). */
export interface NpyArray {
  shape: number[];
  data: Float32Array;
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

export function parseNpy(buf: Buffer, file: string): NpyArray {
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) throw new ModelError(`${file}: not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.subarray(start, start + headerLen).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined)
    throw new ModelError(`${file}: malformed .npy header`);
  if (fortran === 'True') throw new ModelError(`${file}: Fortran-ordered arrays are not supported`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const n = shape.reduce((a, b) => a * b, 1);
  const body = buf.subarray(start + headerLen);
  const data = new Float32Array(n);
  if (descr === '<f4') {
    if (body.length < 4 * n) throw new ModelError(`${file}: data shorter than shape (${shape})`);
    for (let i = 0; i < n; i++) data[i] = body.readFloatLE(4 * i);
  } else if (descr === '<f8') {
    if (body.length < 8 * n) throw new ModelError(`${file}: data shorter than shape (${shape})`);
    for (let i = 0; i < n; i++) data[i] = body.readDoubleLE(8 * i);
  } else {
    throw new ModelError(`${file}: dtype ${descr} is not supported (use float32)`);
  }
  return { shape, data };
}

export function encodeNpy(a: NpyArray): Buffer {
  const shape = a.shape.length === 1 ? `(${a.shape[0]},)` : `(${a.shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`;
  header += ' '.repeat(63 - ((header.length + 10) % 64)) + '\n'; // total header a multiple of 64 bytes
  const head = Buffer.alloc(10);
  MAGIC.copy(head);
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([
    head,
    Buffer.from(header, 'latin1'),
    Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength),
  ]);
}

export async function readNpy(file: string): Promise<NpyArray> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    throw new ModelError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return parseNpy(buf, file);
}

export async function writeNpy(file: string, a: NpyArray): Promise<void> {
  await writeFile(file, encodeNpy(a));
}
