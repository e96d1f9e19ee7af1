// The `model` commands' work, imported only when one of them runs (see model-commands.ts).
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { type EcgFmArch, encoderShapes, headShapes, parameterCount } from '../model/graph/arch.js';
import type { ArchFlags } from '../model/graph/checkpoint-arch.js';
import type { GateKind } from '../model/graph/gate-graph.js';
import type { ImportOnnxOptions } from '../model/package/import-onnx.js';
import { readNpy, writeNpy } from '../model/npy.js';
import { evidenceOf } from '../model/package/evidence.js';
import { builtArch } from '../model/package/manifest.js';
import { loadModelPackage, ModelError, windowSpecOf } from '../model/package/model-package.js';
import { embedWindows } from '../model/train/embed.js';
import { labelledWindows } from '../model/train/labelled-windows.js';
import { readSegments, segmentsFileOf } from '../records/segments.js';
import { metricsOf } from '../model/train/train-head.js';
import { openCheckedSession } from '../model/runtime/contract.js';
import { openSession } from '../model/runtime/session.js';
import { isUnavailable } from '../errors.js';
import ort from 'onnxruntime-node';
import { checkReference, describeReference } from '../model/package/reference.js';
import { describeInt8Kernels, probeInt8Kernels } from '../model/runtime/int8-kernels.js';
import { ExitCode } from './exit-codes.js';
import { devModule } from './dev-module.js';

/** Encoder and head parameters of a built architecture. */
const parametersOf = (a: EcgFmArch) => parameterCount(encoderShapes(a)) + parameterCount(headShapes(a));

const say = (line: string) => process.stderr.write(`${line}\n`);
const out = (json: boolean | undefined, value: unknown, text: string) =>
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);

interface BuildOpts {
  arch: string;
  layers?: number;
  dim?: number;
  heads?: number;
  ffn?: number;
  convDim?: number;
  headHidden?: number;
  weights?: string;
  seed: number;
  labels?: string[];
  leadSlot?: number;
  name?: string;
  notes?: string;
  out: string;
  json?: boolean;
}

export async function buildCommand(o: BuildOpts): Promise<void> {
  if (o.arch !== 'ecgfm') throw new InvalidArgumentError(`--arch ${o.arch}: only "ecgfm" is known`);
  const given = {
    layers: o.layers,
    dim: o.dim,
    heads: o.heads,
    ffn: o.ffn,
    convDim: o.convDim,
    headHidden: o.headHidden,
  };
  const flags: ArchFlags = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
  const { buildModel } = await devModule('model build', () => import('../model/graph/build-model.js'));
  const manifest = await buildModel({
    flags,
    weightsFile: o.weights,
    seed: o.seed,
    out: o.out,
    name: o.name ?? 'ecgfm-nmoe',
    labels: o.labels,
    leadSlot: o.leadSlot,
    notes: o.notes,
    builtBy: 'ecg-emotiond model build',
  });
  const built = builtArch(manifest, 'model build');
  const params = parametersOf(built);
  out(
    o.json,
    manifest,
    `${o.out}: ${built.layers} layers, dim ${built.dim}, ${(params / 1e6).toFixed(2)} M parameters, weights ${manifest.weights.source}, sha256 ${manifest.sha256}`,
  );
}

export async function importCommand(
  o: Omit<ImportOnnxOptions, 'file'> & { onnx: string; json?: boolean },
): Promise<void> {
  const { importOnnx } = await import('../model/package/import-onnx.js');
  const r = await importOnnx({ ...o, file: o.onnx });
  const m = r.manifest;
  const roles = Object.entries(m.outputs).map(([role, name]) => `${role} "${name}"`);
  out(
    o.json,
    r,
    [
      `${o.out}: ${m.input.tensor} [${m.input.shape}] at ${m.input.sampleRateHz} Hz → ${roles.join(', ')}; sha256 ${m.sha256}`,
      `one window of the demo recording: ${Object.entries(r.check)
        .map(([label, p]) => `${label} ${p.toFixed(3)}`)
        .join(', ')}`,
      `its weights and training are the export's: nothing here says what it recognises (model eval on labelled drives does)`,
    ].join('\n'),
  );
}

export async function inspectCommand(dir: string, o: { providers: string[]; json?: boolean }): Promise<void> {
  const pkg = await loadModelPackage(dir);
  const m = pkg.manifest;
  const size = (await stat(join(dir, 'model.onnx'))).size;
  // Refused in one line when the manifest and the graph disagree, as every loader does.
  const { session, provider } = await openCheckedSession(pkg, { providers: o.providers, threads: 1 });
  // Numerics that depend on the CPU or the provider, checked where they run.
  const reference = await checkReference(pkg, session);
  await session.release();
  const kernels = await probeInt8Kernels();
  if (reference && !reference.withinTolerance) process.exitCode = ExitCode.Failed;
  const ops = await devModule(
    'counting the optimized ops',
    () => import('../model/runtime/optimized-ops.js'),
  ).then(
    (mod) => mod.optimizedOpCounts(pkg.onnx),
    (err) => {
      if (!isUnavailable(err)) throw err;
      return null;
    },
  );
  const a = m.architecture;
  const parameters = a.kind === 'ecgfm-nmoe' ? parametersOf(a) : null;
  const metrics = m.metrics as {
    meanAccuracy?: number;
    meanMacroF1?: number;
    quantization?: { top1Agreement?: number };
  } | null;
  const text = [
    `${m.name} ${m.version} (${m.precision}), ${dir}/model.onnx ${(size / 1e6).toFixed(2)} MB, sha256 verified`,
    `architecture  ${
      a.kind === 'ecgfm-nmoe'
        ? `ECG-FM: ${a.layers} layers, dim ${a.dim}, ${a.heads} heads, FFN ${a.ffn}, conv ${a.convLayers}x${a.convDim}; NMoE head ${a.headHidden} → ${a.classes}; ${(parametersOf(a) / 1e6).toFixed(2)} M parameters`
        : `imported from ONNX: ${a.inputSamples} samples in, ${a.classes} classes out`
    }`,
    `input         ${m.input.tensor} [${m.input.shape}] at ${m.input.sampleRateHz} Hz, window ${m.input.windowSamples}, hop ${m.input.hopSamples}, lead slot ${m.input.leadSlot}, ${m.input.normalization}`,
    `labels        ${m.labels.join(', ')}`,
    `evidence      ${evidenceOf(m).text}`,
    `weights       ${m.weights.source === 'seeded' ? `seeded (${m.weights.seed})` : `${m.weights.file} (${m.weights.sha256.slice(0, 12)}…)`}`,
    `metrics       ${metrics?.meanAccuracy !== undefined ? `CV accuracy ${metrics.meanAccuracy.toFixed(3)}, macro-F1 ${metrics.meanMacroF1?.toFixed(3)}` : m.weights.source === 'onnx' ? 'none: imported, never measured here (model eval on labelled drives)' : 'none (untrained head)'}${metrics?.quantization ? `; int8 top-1 agreement ${(100 * (metrics.quantization.top1Agreement ?? 0)).toFixed(2)} %` : ''}`,
    `this machine  ${provider === 'cpu' ? describeInt8Kernels(kernels) : provider}; ${
      reference
        ? `${describeReference(reference)}${reference.withinTolerance ? '' : ': OUTSIDE THE BOUND, do not trust its answers here'}`
        : 'no reference windows in the package (model quantize writes them)'
    }`,
    `onnxruntime   ${
      ops
        ? Object.entries(ops)
            .sort((x, y) => y[1] - x[1])
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')
        : 'op counts need the development package onnx-proto (not in a release)'
    }`,
  ].join('\n');
  out(
    o.json,
    { manifest: m, parameters, bytes: size, optimizedOps: ops, provider, kernels, reference },
    text,
  );
}

interface TrainOpts {
  model: string;
  record: string[];
  labelsFile?: string[];
  labelColumn: string;
  classes?: string[];
  folds: number;
  groupBy: 'segment' | 'record';
  overlap?: number;
  gate: GateKind;
  epochs: number;
  batchSize: number;
  lr: number;
  dropout: number;
  seed: number;
  threads: number;
  out: string;
  json?: boolean;
}

export async function trainCommand(o: TrainOpts): Promise<void> {
  const { trainModel } = await devModule('model train', () => import('../model/train/train-model.js'));
  const r = await trainModel({
    modelDir: o.model,
    records: o.record,
    labelsFiles: o.labelsFile,
    labelColumn: o.labelColumn,
    classes: o.classes,
    folds: o.folds,
    groupBy: o.groupBy,
    overlapPercent: o.overlap,
    gate: o.gate,
    epochs: o.epochs,
    batchSize: o.batchSize,
    learningRate: o.lr,
    dropout: o.dropout,
    seed: o.seed,
    threads: o.threads,
    out: o.out,
    log: say,
  });
  out(
    o.json,
    { metrics: r.manifest.metrics, sha256: r.manifest.sha256 },
    `wrote ${o.out} (sha256 ${r.manifest.sha256})`,
  );
}

export async function quantizeCommand(o: {
  model: string;
  calibration: string[];
  out: string;
  windows: number;
  heldOut?: string[];
  activationPercentile?: number;
  keepFp32?: string;
  rounding: 'gptq' | 'nearest';
  threads: number;
  json?: boolean;
}): Promise<void> {
  const { quantizeModel } = await devModule(
    'model quantize',
    () => import('../model/quantize/quantize-model.js'),
  );
  const r = await quantizeModel({
    modelDir: o.model,
    calibration: o.calibration,
    out: o.out,
    calibrationWindows: o.windows,
    heldOut: o.heldOut,
    activationPercentile: o.activationPercentile,
    keepFp32: o.keepFp32 === undefined ? undefined : o.keepFp32 === '' ? null : new RegExp(o.keepFp32),
    rounding: o.rounding,
    threads: o.threads,
    log: say,
  });
  out(
    o.json,
    { agreement: r.agreement, heldOut: r.heldOut, sha256: r.manifest.sha256 },
    `wrote ${o.out} (sha256 ${r.manifest.sha256})`,
  );
}

export async function evalCommand(o: {
  model: string;
  record: string[];
  labelsFile?: string[];
  labelColumn: string;
  threads: number;
  json?: boolean;
}): Promise<void> {
  const pkg = await loadModelPackage(o.model);
  const m = pkg.manifest;
  const C = m.labels.length;
  const confusion = Array.from({ length: C }, () => new Array<number>(C).fill(0));
  const { session } = await openSession(pkg.onnx, { providers: ['cpu'], threads: o.threads });
  for (const [i, record] of o.record.entries()) {
    const file = o.labelsFile?.[i] ?? segmentsFileOf(record);
    if (!file)
      throw new ModelError(`${record}: no labels (expected ${record}_segments.csv or --labels-file)`);
    const windows = await labelledWindows(
      record,
      await readSegments(record, file, o.labelColumn),
      windowSpecOf(m),
    );
    for (const w of windows) {
      const t = m.labels.indexOf(w.segment.label);
      if (t < 0)
        throw new ModelError(`${file}: label "${w.segment.label}" is not one of the model's (${m.labels})`);
      const r = await session.run({ [m.input.tensor]: new ort.Tensor('float32', w.samples, m.input.shape) }, [
        m.outputs.probabilities,
      ]);
      const p = r[m.outputs.probabilities].data as Float32Array;
      confusion[t][p.indexOf(Math.max(...p))]++;
    }
  }
  await session.release();
  const metrics = metricsOf(confusion);
  out(
    o.json,
    { labels: m.labels, ...metrics },
    `accuracy ${metrics.accuracy.toFixed(3)}, macro-F1 ${metrics.macroF1.toFixed(3)} over ${confusion.flat().reduce((a, b) => a + b, 0)} windows\n` +
      `confusion (rows true, columns predicted: ${m.labels.join(', ')}):\n${confusion.map((r, i) => `  ${m.labels[i].padEnd(10)} ${r.join('\t')}`).join('\n')}`,
  );
}

export async function embedCommand(o: {
  model: string;
  input: string;
  out: string;
  threads: number;
}): Promise<void> {
  const pkg = await loadModelPackage(o.model);
  const m = pkg.manifest;
  const x = await readNpy(o.input);
  const n = m.input.windowSamples;
  const slot = m.input.leadSlot;
  const leads = m.architecture.inLeads;
  const [batch, inLeads, samples] = x.shape.length === 3 ? x.shape : [0, 0, 0];
  if (samples !== n || (inLeads !== 1 && inLeads !== leads))
    throw new ModelError(
      `${o.input}: shape (${x.shape}) — expected (B, 1, ${n}) or (B, ${leads}, ${n}) float32`,
    );
  const windows: Float32Array[] = [];
  for (let b = 0; b < batch; b++) {
    const base = b * inLeads * n;
    if (inLeads === leads) {
      // The package is single-lead (first conv sliced to its slot): exact only when the other leads are zero.
      for (let l = 0; l < leads; l++) {
        if (l === slot) continue;
        const lead = x.data.subarray(base + l * n, base + (l + 1) * n);
        if (lead.some((v) => v !== 0))
          throw new ModelError(
            `${o.input}: lead ${l} is not zero; this package takes one lead (slot ${slot})`,
          );
      }
    }
    const off = base + (inLeads === 1 ? 0 : slot * n);
    windows.push(x.data.slice(off, off + n));
  }
  const e = await embedWindows(pkg, windows, o.threads);
  const { layers: L, dim: D } = builtArch(m, 'model embed');
  const data = new Float32Array(batch * L * D);
  e.forEach((v, b) => data.set(v, b * L * D));
  await writeNpy(o.out, { shape: batch === 1 ? [L, D] : [batch, L, D], data });
  say(`wrote ${o.out}: (${batch === 1 ? '' : `${batch}, `}${L}, ${D}) float32`);
}
