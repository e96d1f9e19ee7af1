import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { decodeModel } from '../graph/onnx-edit.js';

/**
 * Operator counts of the graph as onnxruntime's CPU provider runs it after its optimisations:
 * proof that QDQ MatMuls became QLinearMatMul (the timing alone does not say why).
 */
export async function optimizedOpCounts(onnx: Uint8Array): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), 'ecg-ort-'));
  const file = join(dir, 'optimized.onnx');
  try {
    const session = await ort.InferenceSession.create(onnx, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      optimizedModelFilePath: file,
      logSeverityLevel: 4,
    });
    await session.release();
    const counts: Record<string, number> = {};
    for (const n of decodeModel(await readFile(file)).graph!.node!) {
      counts[n.opType!] = (counts[n.opType!] ?? 0) + 1;
    }
    return counts;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
