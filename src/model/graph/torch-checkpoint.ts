import { readFile } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';
import { sizeOf, type TensorMap } from './tensor.js';
import { WeightError } from './weight-error.js';

/**
 * Reads the tensors of a PyTorch checkpoint (torch.save's zip format: `<name>/data.pkl` plus one
 * file per storage under `<name>/data/`), as fairseq-signals writes them. The pickle is run by a
 * small stack machine that understands what torch.save emits; classes it does not know (omegaconf
 * configs, argparse namespaces) become opaque objects, and tensors are rebuilt only for the state
 * dict that is asked for, so optimizer state is never decoded.
 */

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

function zipEntries(buf: Buffer, file: string): Map<string, ZipEntry> {
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 65557); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    // torch.save before 1.6 (or with _use_new_zipfile_serialization=False): a bare pickle stream.
    if (buf[0] === 0x80 && buf.length > 2 && buf[1] <= 5)
      throw new WeightError(file, [
        "a legacy (non-zip) torch.save file: re-save it in the zip format with torch >= 1.6, e.g. python3 -c \"import torch; torch.save(torch.load('old.pt', map_location='cpu'), 'new.pt')\"",
      ]);
    throw new WeightError(file, ['not a torch checkpoint (neither a zip archive nor a pickle)']);
  }
  let count = buf.readUInt16LE(eocd + 10);
  let cdOffset = buf.readUInt32LE(eocd + 16);
  if (cdOffset === 0xffffffff || count === 0xffff) {
    // ZIP64: the locator sits just before the classic record.
    const loc = eocd - 20;
    if (loc < 0 || buf.readUInt32LE(loc) !== 0x07064b50)
      throw new WeightError(file, ['ZIP64 locator missing']);
    const rec = Number(buf.readBigUInt64LE(loc + 8));
    count = Number(buf.readBigUInt64LE(rec + 32));
    cdOffset = Number(buf.readBigUInt64LE(rec + 48));
  }
  const entries = new Map<string, ZipEntry>();
  let p = cdOffset;
  for (let n = 0; n < count; n++) {
    if (buf.readUInt32LE(p) !== 0x02014b50)
      throw new WeightError(file, [`bad zip central directory at byte ${p}`]);
    const method = buf.readUInt16LE(p + 10);
    let compressedSize = buf.readUInt32LE(p + 20);
    let size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    let localOffset = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    // ZIP64 extended information: the 64-bit values for the fields that read 0xffffffff, in order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = buf.readUInt16LE(e);
      const len = buf.readUInt16LE(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === 0xffffffff) ((size = Number(buf.readBigUInt64LE(q))), (q += 8));
        if (compressedSize === 0xffffffff) ((compressedSize = Number(buf.readBigUInt64LE(q))), (q += 8));
        if (localOffset === 0xffffffff) localOffset = Number(buf.readBigUInt64LE(q));
      }
      e += 4 + len;
    }
    entries.set(name, { name, method, compressedSize, size, localOffset });
    p = extraEnd + commentLen;
  }
  return entries;
}

function zipRead(buf: Buffer, entry: ZipEntry, file: string): Buffer {
  const p = entry.localOffset;
  if (buf.readUInt32LE(p) !== 0x04034b50)
    throw new WeightError(file, [`bad zip local header for ${entry.name}`]);
  const start = p + 30 + buf.readUInt16LE(p + 26) + buf.readUInt16LE(p + 28);
  const raw = buf.subarray(start, start + entry.compressedSize);
  if (raw.length < entry.compressedSize) throw new WeightError(file, [`${entry.name} is truncated`]);
  if (entry.method === 0) return raw;
  if (entry.method === 8) return inflateRawSync(raw);
  throw new WeightError(file, [`${entry.name}: unsupported zip compression method ${entry.method}`]);
}

// ---- pickle ----

class Global {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get path(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An instance of a class the reader does not interpret. */
class Opaque {
  state: unknown = undefined;
  constructor(
    readonly cls: string,
    readonly args: unknown[],
  ) {}
}

class StorageRef {
  constructor(
    readonly dtype: string,
    readonly key: string,
  ) {}
}

/** A tensor described by the pickle; its values are read from the storage on demand. */
class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

const MARK = Symbol('mark');

const STORAGE_DTYPES: Record<string, string> = {
  FloatStorage: 'f32',
  DoubleStorage: 'f64',
  HalfStorage: 'f16',
  BFloat16Storage: 'bf16',
  LongStorage: 'i64',
  IntStorage: 'i32',
  ByteStorage: 'u8',
  BoolStorage: 'u8',
};

function unpickle(data: Buffer, file: string): unknown {
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  let p = 0;
  const popMark = (): unknown[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) throw new WeightError(file, [`pickle: MARK missing at byte ${p}`]);
    const items = stack.splice(i);
    items.shift();
    return items;
  };
  const readLine = () => {
    const end = data.indexOf(0x0a, p);
    const s = data.subarray(p, end).toString('utf8');
    p = end + 1;
    return s;
  };
  const setItems = (target: unknown, items: unknown[]) => {
    if (target instanceof Map)
      for (let i = 0; i + 1 < items.length; i += 2) target.set(items[i], items[i + 1]);
  };
  const call = (fn: unknown, args: unknown[]): unknown => {
    const path = fn instanceof Global ? fn.path : String(fn);
    switch (path) {
      case 'collections.OrderedDict':
      case 'builtins.dict':
        return new Map();
      case 'torch._utils._rebuild_tensor_v2':
      case 'torch._utils._rebuild_tensor': {
        const [storage, offset, shape, stride] = args as [StorageRef, number, number[], number[]];
        return new TensorRef(storage, offset, [...shape], [...stride]);
      }
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state':
        return args[0];
      default:
        return new Opaque(path, args);
    }
  };
  while (p < data.length) {
    const op = data[p++];
    switch (op) {
      case 0x80: // PROTO
        p++;
        break;
      case 0x95: // FRAME
        p += 8;
        break;
      case 0x2e: // STOP
        return stack.pop();
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push(stack.splice(-1));
        break;
      case 0x86: // TUPLE2
        stack.push(stack.splice(-2));
        break;
      case 0x87: // TUPLE3
        stack.push(stack.splice(-3));
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x64: {
        // DICT
        const m = new Map();
        setItems(m, popMark());
        stack.push(m);
        break;
      }
      case 0x71: // BINPUT
        memo.set(data[p++], stack[stack.length - 1]);
        break;
      case 0x72: // LONG_BINPUT
        memo.set(data.readUInt32LE(p), stack[stack.length - 1]);
        p += 4;
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, stack[stack.length - 1]);
        break;
      case 0x68: // BINGET
        stack.push(memo.get(data[p++]));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memo.get(data.readUInt32LE(p)));
        p += 4;
        break;
      case 0x4b: // BININT1
        stack.push(data[p++]);
        break;
      case 0x4d: // BININT2
        stack.push(data.readUInt16LE(p));
        p += 2;
        break;
      case 0x4a: // BININT
        stack.push(data.readInt32LE(p));
        p += 4;
        break;
      case 0x8a: {
        // LONG1
        const n = data[p++];
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[p + i]);
        if (n > 0 && data[p + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        p += n;
        stack.push(Number(v));
        break;
      }
      case 0x47: // BINFLOAT
        stack.push(data.readDoubleBE(p));
        p += 8;
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x58: {
        // BINUNICODE
        const n = data.readUInt32LE(p);
        stack.push(data.subarray(p + 4, p + 4 + n).toString('utf8'));
        p += 4 + n;
        break;
      }
      case 0x8c: {
        // SHORT_BINUNICODE
        const n = data[p];
        stack.push(data.subarray(p + 1, p + 1 + n).toString('utf8'));
        p += 1 + n;
        break;
      }
      case 0x55: {
        // SHORT_BINSTRING
        const n = data[p];
        stack.push(data.subarray(p + 1, p + 1 + n).toString('latin1'));
        p += 1 + n;
        break;
      }
      case 0x54: {
        // BINSTRING
        const n = data.readInt32LE(p);
        stack.push(data.subarray(p + 4, p + 4 + n).toString('latin1'));
        p += 4 + n;
        break;
      }
      case 0x43: {
        // SHORT_BINBYTES
        const n = data[p];
        stack.push(data.subarray(p + 1, p + 1 + n));
        p += 1 + n;
        break;
      }
      case 0x42: {
        // BINBYTES
        const n = data.readUInt32LE(p);
        stack.push(data.subarray(p + 4, p + 4 + n));
        p += 4 + n;
        break;
      }
      case 0x63: {
        // GLOBAL
        const module = readLine();
        stack.push(new Global(module, readLine()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = stack.pop() as string;
        stack.push(new Global(stack.pop() as string, name));
        break;
      }
      case 0x51: {
        // BINPERSID: ('storage', storage_type, key, location, numel)
        const pid = stack.pop() as unknown[];
        const type = pid[1] instanceof Global ? pid[1].name : String(pid[1]);
        const dtype = STORAGE_DTYPES[type];
        if (!dtype) throw new WeightError(file, [`unsupported storage type ${type}`]);
        stack.push(new StorageRef(dtype, String(pid[2])));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = stack.pop() as unknown[];
        const fn = stack.pop();
        stack.push(call(fn, args));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = stack.pop() as unknown[];
        const cls = stack.pop();
        stack.push(new Opaque(cls instanceof Global ? cls.path : String(cls), args));
        break;
      }
      case 0x62: {
        // BUILD
        const state = stack.pop();
        const obj = stack[stack.length - 1];
        if (obj instanceof Opaque) obj.state = state;
        break;
      }
      case 0x73: {
        // SETITEM
        const v = stack.pop();
        const k = stack.pop();
        setItems(stack[stack.length - 1], [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(stack[stack.length - 1], items);
        break;
      }
      case 0x61: {
        // APPEND
        const v = stack.pop();
        (stack[stack.length - 1] as unknown[]).push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        (stack[stack.length - 1] as unknown[]).push(...items);
        break;
      }
      default:
        throw new WeightError(file, [`pickle: unsupported opcode 0x${op.toString(16)} at byte ${p - 1}`]);
    }
  }
  throw new WeightError(file, ['pickle: no STOP']);
}

const WIDTH: Record<string, number> = { f32: 4, f64: 8, f16: 2, bf16: 2, i64: 8, i32: 4, u8: 1 };

function readValue(bytes: Buffer, dtype: string, i: number): number {
  switch (dtype) {
    case 'f32':
      return bytes.readFloatLE(4 * i);
    case 'f64':
      return bytes.readDoubleLE(8 * i);
    case 'f16': {
      const h = bytes.readUInt16LE(2 * i);
      const e = (h >> 10) & 0x1f;
      const f = h & 0x3ff;
      const s = h & 0x8000 ? -1 : 1;
      if (e === 0) return s * 2 ** -14 * (f / 1024);
      if (e === 31) return f ? Number.NaN : s * Number.POSITIVE_INFINITY;
      return s * 2 ** (e - 15) * (1 + f / 1024);
    }
    case 'bf16': {
      const b = Buffer.alloc(4);
      b.writeUInt16LE(bytes.readUInt16LE(2 * i), 2);
      return b.readFloatLE(0);
    }
    case 'i64':
      return Number(bytes.readBigInt64LE(8 * i));
    case 'i32':
      return bytes.readInt32LE(4 * i);
    default:
      return bytes[i];
  }
}

/**
 * A pickled config as plain data: dicts, lists, numbers, strings, and omegaconf's DictConfig,
 * ListConfig and value nodes (their `_content` and `_val`); anything else becomes null.
 */
function plainConfig(v: unknown, depth = 0): unknown {
  if (depth > 64) return null;
  if (v instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of v) if (typeof k === 'string') out[k] = plainConfig(x, depth + 1);
    return out;
  }
  if (Array.isArray(v)) return v.map((x) => plainConfig(x, depth + 1));
  if (v instanceof Opaque) {
    const state = Array.isArray(v.state) ? v.state[0] : v.state; // (dict, slots) or dict
    if (state instanceof Map && state.has('_content')) return plainConfig(state.get('_content'), depth + 1);
    if (state instanceof Map && state.has('_val')) return plainConfig(state.get('_val'), depth + 1);
    return state instanceof Map ? plainConfig(state, depth + 1) : null; // e.g. argparse's Namespace
  }
  return typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean' ? v : null;
}

/** A checkpoint's float tensors and its `cfg` (fairseq) as plain data, or null when it has none. */
export interface TorchCheckpoint {
  tensors: TensorMap;
  cfg: Record<string, unknown> | null;
}

/**
 * The float tensors of a checkpoint's state dict (`model` of a fairseq checkpoint, `state_dict`,
 * or the top-level dict itself) and the checkpoint's `cfg`.
 */
export async function readTorchCheckpoint(file: string): Promise<TorchCheckpoint> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    throw new WeightError(file, [`cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  const entries = zipEntries(buf, file);
  const pkl = [...entries.keys()].find((n) => n.endsWith('/data.pkl') || n === 'data.pkl');
  if (!pkl)
    throw new WeightError(file, [
      'no data.pkl in the checkpoint (legacy non-zip torch.save is not supported)',
    ]);
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const top = unpickle(zipRead(buf, entries.get(pkl)!, file), file);
  if (!(top instanceof Map)) throw new WeightError(file, ['the checkpoint is not a dict']);
  const dict = [top.get('model'), top.get('state_dict'), top].find((d) => d instanceof Map) as Map<
    unknown,
    unknown
  >;
  const storages = new Map<string, Buffer>();
  const out: TensorMap = new Map();
  for (const [k, v] of dict) {
    if (!(v instanceof TensorRef) || typeof k !== 'string') continue;
    let bytes = storages.get(v.storage.key);
    if (!bytes) {
      const entry = entries.get(`${prefix}data/${v.storage.key}`);
      if (!entry) throw new WeightError(file, [`${k}: storage ${v.storage.key} missing from the archive`]);
      bytes = zipRead(buf, entry, file);
      storages.set(v.storage.key, bytes);
    }
    const n = sizeOf(v.shape);
    const data = new Float32Array(n);
    const last = v.offset + v.shape.reduce((a, d, i) => a + (d - 1) * v.stride[i], 0);
    if (n > 0 && (last + 1) * WIDTH[v.storage.dtype] > bytes.length) {
      throw new WeightError(file, [`${k}: storage ${v.storage.key} is too short for shape [${v.shape}]`]);
    }
    // Strided gather: works for contiguous and for transposed/sliced views alike.
    const idx = new Array<number>(v.shape.length).fill(0);
    for (let i = 0; i < n; i++) {
      let off = v.offset;
      for (let d = 0; d < idx.length; d++) off += idx[d] * v.stride[d];
      data[i] = readValue(bytes, v.storage.dtype, off);
      for (let d = idx.length - 1; d >= 0; d--) {
        if (++idx[d] < v.shape[d]) break;
        idx[d] = 0;
      }
    }
    out.set(k, { shape: v.shape, data });
  }
  const cfg = plainConfig(top.get('cfg') ?? top.get('args') ?? null);
  return {
    tensors: out,
    cfg: cfg && typeof cfg === 'object' && !Array.isArray(cfg) ? (cfg as Record<string, unknown>) : null,
  };
}
