import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';

/**
 * Which INT8 kernels onnxruntime's CPU provider uses on this host, and whether they clamp.
 *
 * The CPU features come from the kernel (/proc/cpuinfo on x86-64; the auxiliary vector on arm64,
 * which qemu-user emulates faithfully). Whether the u8s8 GEMM saturates its pair sums is not read
 * from a flag but measured: `PROBE_ONNX` multiplies u8 255 (the int8 127 after onnxruntime's
 * shift to uint8) by two int8 127s that the kernel sums as one pair, and by two that it does not.
 */
export interface Int8Kernels {
  arch: string;
  /** The features that choose the kernel (empty where they cannot be read). */
  features: string[];
  /** The kernel family in words, e.g. "AVX-512 VNNI (vpdpbusd, int32 sums)". */
  family: string;
  /** Measured: a same-sign weight pair past |q₀| + |q₁| = 128 is clamped (x86-64 without VNNI). */
  pairsSaturate: boolean;
  /** Set when this process runs under qemu-user: the emulated CPU, as far as can be told. */
  emulated: string | null;
}

/** QLinearMatMul [4, 8] × [8, 2]: column 0 holds a pair of 127s at K 0, 1; column 1 at K 0, 2. */
const PROBE_ONNX =
  'CAg6iwIKSwoBYQoHYV9zY2FsZQoGYV96ZXJvCgFiCgdiX3NjYWxlCgZiX3plcm8KB3lfc2NhbGUKBnlfemVybxIBeSINUUxpbmVhck1hdE11bBIPaW50OC1wYWlyLXByb2JlKhEQAUIHYV9zY2FsZUoEAACAPyoNEAJCBmFfemVyb0oBgCobCgIIAhADQgFiShB/f38AAH8AAAAAAAAAAAAAKhEQAUIHYl9zY2FsZUoEAACAPyoNEANCBmJfemVyb0oBACoREAFCB3lfc2NhbGVKBAAAgEMqDRACQgZ5X3plcm9KAQBaEwoBYRIOCgwIAhIICgIIBAoCCAhiEwoBeRIOCgwIAhIICgIIBAoCCAJCBAoAEA0=';
export const PROBE_BYTES = (): Uint8Array => Buffer.from(PROBE_ONNX, 'base64');
/** 127 · 127 · 2 / 256, rounded: what an exact kernel gives for either column. */
const EXACT = 126;

const X86_FEATURES = ['avx2', 'avx512bw', 'avx512_vnni', 'avx_vnni', 'amx_int8'];
const AT_HWCAP = 16n;
const AT_HWCAP2 = 26n;
const HWCAP_ASIMDDP = 1n << 20n;
const HWCAP2_I8MM = 1n << 13n;

/** Measures the host's INT8 kernels (one tiny session, a few milliseconds). */
export async function probeInt8Kernels(): Promise<Int8Kernels> {
  const emulatedBy = emulation();
  const session = await ort.InferenceSession.create(PROBE_BYTES(), {
    executionProviders: ['cpu'],
    logSeverityLevel: 4,
  });
  const a = new ort.Tensor('uint8', new Uint8Array(32).fill(255), [4, 8]);
  const y = (await session.run({ a })).y.data as Uint8Array;
  await session.release();
  if (y[1] !== EXACT) throw new Error(`INT8 probe: the control column gave ${y[1]}, not ${EXACT}`);
  const hostFeatures = featuresOf(process.arch);
  // qemu-x86_64 passes the host's /proc/cpuinfo through: saturating sums on a CPU whose flags
  // claim VNNI mean the code runs on another, emulated CPU, even where the process name does not
  // say so (Node 24 names its main thread MainThread).
  const contradicted = process.arch === 'x64' && y[0] !== EXACT && hostFeatures.includes('avx512_vnni');
  const emulated = emulatedBy ?? (contradicted ? qemuName() : null);
  const features = emulated && process.arch === 'x64' ? [] : hostFeatures;
  return {
    arch: process.arch,
    features,
    family: familyOf(process.arch, features, y[0] !== EXACT),
    pairsSaturate: y[0] !== EXACT,
    emulated,
  };
}

/** One line for people: "x64 AVX2, no VNNI (...): pair sums saturate; qemu-user Haswell-v4". */
export function describeInt8Kernels(k: Int8Kernels): string {
  const sums = k.pairsSaturate
    ? 'u8s8 pair sums saturate at int16 (weights must be pair-safe)'
    : 'exact int32 sums';
  return `${k.arch} ${k.family}: ${sums}${k.emulated ? `; emulated by ${k.emulated}` : ''}`;
}

function featuresOf(arch: string): string[] {
  try {
    if (arch === 'x64') {
      const flags = /^flags\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1].split(/\s+/) ?? [];
      return X86_FEATURES.filter((f) => flags.includes(f));
    }
    if (arch === 'arm64') {
      const aux = readFileSync('/proc/self/auxv');
      let hwcap = 0n;
      let hwcap2 = 0n;
      for (let i = 0; i + 16 <= aux.length; i += 16) {
        const type = aux.readBigUInt64LE(i);
        if (type === AT_HWCAP) hwcap = aux.readBigUInt64LE(i + 8);
        if (type === AT_HWCAP2) hwcap2 = aux.readBigUInt64LE(i + 8);
      }
      return [...(hwcap & HWCAP_ASIMDDP ? ['asimddp'] : []), ...(hwcap2 & HWCAP2_I8MM ? ['i8mm'] : [])];
    }
  } catch {
    // Not Linux, or /proc hidden (ProcSubset=pid hides /proc/cpuinfo): the probe still answers.
  }
  return [];
}

function familyOf(arch: string, f: string[], saturates: boolean): string {
  if (arch === 'arm64') {
    if (f.includes('i8mm')) return 'I8MM (smmla/ummla, int32 sums)';
    if (f.includes('asimddp')) return 'dot product (sdot/udot, int32 sums)';
    return 'NEON';
  }
  if (arch !== 'x64') return 'unknown kernels';
  if (f.includes('amx_int8')) return 'AMX-INT8';
  if (f.includes('avx512_vnni')) return 'AVX-512 VNNI (vpdpbusd)';
  if (f.includes('avx_vnni')) return 'AVX-VNNI (vpdpbusd)';
  if (f.includes('avx512bw')) return 'AVX-512BW, no VNNI (vpmaddubsw)';
  if (f.includes('avx2')) return 'AVX2, no VNNI (vpmaddubsw)';
  return saturates ? 'no VNNI (vpmaddubsw)' : 'features unknown';
}

const qemuName = () =>
  `qemu-${process.arch === 'x64' ? 'x86_64' : 'aarch64'}${process.env.QEMU_CPU ? ` -cpu ${process.env.QEMU_CPU}` : ''}`;

/** qemu-user shows itself in /proc/self/status; its CPU model is in QEMU_CPU when set there. */
function emulation(): string | null {
  try {
    const name = /^Name:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '';
    if (!name.startsWith('qemu-')) return null;
    return `${name}${process.env.QEMU_CPU ? ` -cpu ${process.env.QEMU_CPU}` : ''}`;
  } catch {
    return null;
  }
}
