import ort from 'onnxruntime-node';
import { type ModelPackage, ModelError } from '../package/model-package.js';
import { openSession } from '../runtime/session.js';

/**
 * Per-layer time-mean embeddings (layers × dim) of windows, from the package's own graph: the
 * frozen backbone that training sits on. Offline use (training, calibration, `model embed`).
 */
export async function embedWindows(
  pkg: ModelPackage,
  windows: Float32Array[],
  threads = 0,
  onProgress?: (done: number) => void,
): Promise<Float32Array[]> {
  const m = pkg.manifest;
  const embeddings = m.outputs.layerEmbeddings;
  if (!embeddings) throw new ModelError(`${pkg.dir}: the package names no layer-embeddings output`);
  const { session } = await openSession(pkg.onnx, { providers: ['cpu'], threads });
  try {
    const out: Float32Array[] = [];
    for (const w of windows) {
      const feeds = { [m.input.tensor]: new ort.Tensor('float32', w, m.input.shape) };
      const r = await session.run(feeds, [embeddings]);
      out.push(Float32Array.from(r[embeddings].data as Float32Array));
      if (out.length % 200 === 0) onProgress?.(out.length);
    }
    return out;
  } finally {
    await session.release();
  }
}
