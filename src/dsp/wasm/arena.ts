import { wasmBase64 } from './dsp.wasm.js';

/** The kernels of dsp.wat; every pointer is a byte offset into the arena's memory. */
export interface DspKernels {
  resample(
    phases: number,
    line: number,
    taps: number,
    up: number,
    down: number,
    length: number,
    out: number,
    phase: number,
  ): number;
  cascade(
    coef: number,
    state: number,
    src: number,
    dst: number,
    n: number,
    sections: number,
    copy: number,
  ): void;
  blockStats(
    clean: number,
    raw: number,
    n: number,
    band: number,
    bandCount: number,
    baseFirst: number,
    baseCoef: number,
    state: number,
    flatRunMin: number,
    row: number,
  ): void;
  qrsFeatures(
    clean: number,
    first: number,
    n: number,
    step: number,
    coef: number,
    state: number,
    band: number,
    mwiRing: number,
    window: number,
    pos: number,
    slopeRing: number,
    mask: number,
    index: number,
    mwi: number,
  ): number;
}

let compiled: WebAssembly.Module | null = null;

/**
 * One WebAssembly memory holding a chain's sample buffers, so that its kernels work on them in
 * place. Buffers are carved out at construction (`f64`) and never freed; the memory never grows,
 * because growing would detach every view handed out.
 */
export class DspArena {
  readonly kernels: DspKernels;
  private readonly buffer: ArrayBuffer;
  private readonly bytes: number;
  private top = 0;

  constructor(bytes: number) {
    compiled ??= new WebAssembly.Module(Buffer.from(wasmBase64, 'base64'));
    this.bytes = bytes;
    const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(bytes / 65536)) });
    this.buffer = memory.buffer;
    const instance = new WebAssembly.Instance(compiled, { env: { memory } });
    this.kernels = instance.exports as unknown as DspKernels;
  }

  /** Bytes an arena needs for buffers of these lengths (f64 each). */
  static bytesFor(...lengths: number[]): number {
    return lengths.reduce((sum, n) => sum + align(8 * n), 0);
  }

  /** A new zeroed buffer of `length` f64 in this arena, 16-byte aligned. */
  f64(length: number): Float64Array {
    const at = this.top;
    if (at + 8 * length > this.bytes)
      throw new RangeError(`DSP arena of ${this.bytes} bytes cannot hold ${length} more samples`);
    this.top = at + align(8 * length);
    return new Float64Array(this.buffer, at, length);
  }

  /**
   * The byte offset of `view`, a buffer of this arena. Kernels take offsets; look them up once
   * (reading a view's byteOffset costs more than a short kernel call).
   */
  offsetOf(view: Float64Array): number {
    if (view.buffer !== this.buffer) throw new RangeError('buffer is not in this DSP arena');
    return view.byteOffset;
  }
}

/**
 * The offset of a stage's input view, looked up again only when another view is passed: a stage
 * takes its input as a typed array each call, and a chain passes the same one every frame.
 */
export class InputOffset {
  private view: Float64Array | null = null;
  private at = 0;

  constructor(private readonly arena: DspArena) {}

  of(view: Float64Array): number {
    if (view !== this.view) {
      this.at = this.arena.offsetOf(view);
      this.view = view;
    }
    return this.at;
  }
}

function align(bytes: number): number {
  return Math.ceil(bytes / 16) * 16;
}
