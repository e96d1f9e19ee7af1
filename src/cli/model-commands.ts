import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { runModelBench } from '../bench/model.js';
import {
  ECGFM_FULL,
  type EcgFmArch,
  encoderShapes,
  headShapes,
  parameterCount,
} from '../model/build/arch.js';
import { buildModel, DEFAULT_LABELS } from '../model/build/build-model.js';
import { readNpy, writeNpy } from '../model/npy.js';
import { loadModelPackage, ModelError, windowSpecOf } from '../model/package/model-package.js';
import { quantizeModel } from '../model/quantize/quantize-model.js';
import { optimizedOpCounts } from '../model/runtime/optimized-ops.js';
import { embedWindows } from '../model/train/embed.js';
import { labelledWindows, readSegments, segmentsFileOf } from '../model/train/labelled-windows.js';
import { metricsOf } from '../model/train/train-head.js';
import { trainModel } from '../model/train/train-model.js';
import { openSession } from '../model/runtime/session.js';
import ort from 'onnxruntime-node';

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
  return n;
};
const num = (name: string) => (v: string) => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
  return n;
};
const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
const collect = (v: string, prev: string[] = []) => [...prev, v];
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

async function buildCommand(o: BuildOpts): Promise<void> {
  if (o.arch !== 'ecgfm') throw new InvalidArgumentError(`--arch ${o.arch}: only "ecgfm" is known`);
  const arch: EcgFmArch = {
    ...ECGFM_FULL,
    ...(o.layers !== undefined && { layers: o.layers }),
    ...(o.dim !== undefined && { dim: o.dim }),
    ...(o.heads !== undefined && { heads: o.heads }),
    ...(o.ffn !== undefined && { ffn: o.ffn }),
    ...(o.convDim !== undefined && { convDim: o.convDim }),
    ...(o.headHidden !== undefined && { headHidden: o.headHidden }),
  };
  const manifest = await buildModel({
    arch,
    weightsFile: o.weights,
    seed: o.seed,
    out: o.out,
    name: o.name ?? 'ecgfm-nmoe',
    labels: o.labels,
    leadSlot: o.leadSlot,
    notes: o.notes,
    builtBy: 'ecg-emotiond model build',
  });
  const params =
    parameterCount(encoderShapes(manifest.architecture)) + parameterCount(headShapes(manifest.architecture));
  out(
    o.json,
    manifest,
    `${o.out}: ${manifest.architecture.layers} layers, dim ${manifest.architecture.dim}, ${(params / 1e6).toFixed(2)} M parameters, weights ${manifest.weights.source}, sha256 ${manifest.sha256}`,
  );
}

async function inspectCommand(dir: string, o: { json?: boolean }): Promise<void> {
  const pkg = await loadModelPackage(dir);
  const m = pkg.manifest;
  const params = parameterCount(encoderShapes(m.architecture)) + parameterCount(headShapes(m.architecture));
  const size = (await stat(join(dir, 'model.onnx'))).size;
  const ops = await optimizedOpCounts(pkg.onnx);
  const a = m.architecture;
  const metrics = m.metrics as {
    meanAccuracy?: number;
    meanMacroF1?: number;
    quantization?: { top1Agreement?: number };
  } | null;
  const text = [
    `${m.name} ${m.version} (${m.precision}), ${dir}/model.onnx ${(size / 1e6).toFixed(2)} MB, sha256 verified`,
    `architecture  ECG-FM: ${a.layers} layers, dim ${a.dim}, ${a.heads} heads, FFN ${a.ffn}, conv ${a.convLayers}x${a.convDim}; NMoE head ${a.headHidden} → ${a.classes}; ${(params / 1e6).toFixed(2)} M parameters`,
    `input         ${m.input.tensor} [${m.input.shape}] at ${m.input.sampleRateHz} Hz, window ${m.input.windowSamples}, hop ${m.input.hopSamples}, lead slot ${m.input.leadSlot}, ${m.input.normalization}`,
    `labels        ${m.labels.join(', ')}`,
    `weights       ${m.weights.source === 'seeded' ? `seeded (${m.weights.seed})` : `${m.weights.file} (${m.weights.sha256.slice(0, 12)}…)`}`,
    `metrics       ${metrics?.meanAccuracy !== undefined ? `CV accuracy ${metrics.meanAccuracy.toFixed(3)}, macro-F1 ${metrics.meanMacroF1?.toFixed(3)}` : 'none (untrained head)'}${metrics?.quantization ? `; int8 top-1 agreement ${(100 * (metrics.quantization.top1Agreement ?? 0)).toFixed(2)} %` : ''}`,
    `onnxruntime   ${Object.entries(ops)
      .sort((x, y) => y[1] - x[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  ].join('\n');
  out(o.json, { manifest: m, parameters: params, bytes: size, optimizedOps: ops }, text);
}

interface TrainOpts {
  model: string;
  record: string[];
  labelsFile?: string[];
  labelColumn: string;
  classes?: string[];
  folds: number;
  epochs: number;
  batchSize: number;
  lr: number;
  dropout: number;
  seed: number;
  threads: number;
  out: string;
  json?: boolean;
}

async function trainCommand(o: TrainOpts): Promise<void> {
  const r = await trainModel({
    modelDir: o.model,
    records: o.record,
    labelsFiles: o.labelsFile,
    labelColumn: o.labelColumn,
    classes: o.classes,
    folds: o.folds,
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

async function quantizeCommand(o: {
  model: string;
  calibration: string[];
  out: string;
  windows: number;
  threads: number;
  json?: boolean;
}): Promise<void> {
  const r = await quantizeModel({
    modelDir: o.model,
    calibration: o.calibration,
    out: o.out,
    calibrationWindows: o.windows,
    threads: o.threads,
    log: say,
  });
  out(
    o.json,
    { agreement: r.agreement, sha256: r.manifest.sha256 },
    `wrote ${o.out} (sha256 ${r.manifest.sha256})`,
  );
}

async function evalCommand(o: {
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

async function embedCommand(o: {
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
  const L = m.architecture.layers;
  const D = m.architecture.dim;
  const data = new Float32Array(batch * L * D);
  e.forEach((v, b) => data.set(v, b * L * D));
  await writeNpy(o.out, { shape: batch === 1 ? [L, D] : [batch, L, D], data });
  say(`wrote ${o.out}: (${batch === 1 ? '' : `${batch}, `}${L}, ${D}) float32`);
}

export function addModelCommands(program: Command, bench: Command): void {
  const model = program
    .command('model')
    .description('build, train, quantize, inspect and evaluate ECG-FM + NMoE model packages');
  model
    .command('build')
    .description('the ECG-FM encoder + NMoE head as an ONNX model package (seeded weights unless --weights)')
    .requiredOption('--out <dir>', 'package directory to write')
    .option('--arch <name>', 'architecture (ecgfm: the released size unless overridden)', 'ecgfm')
    .option('--layers <n>', 'transformer layers', int('--layers'))
    .option('--dim <n>', 'transformer width', int('--dim'))
    .option('--heads <n>', 'attention heads', int('--heads'))
    .option('--ffn <n>', 'feed-forward width', int('--ffn'))
    .option('--conv-dim <n>', 'conv feature extractor channels', int('--conv-dim'))
    .option('--head-hidden <n>', 'NMoE head hidden width', int('--head-hidden'))
    .option('--weights <file>', 'fairseq-signals .pt checkpoint or .safetensors')
    .option('--seed <n>', 'seed for weights not in the checkpoint', int('--seed'), 1)
    .option('--labels <a,b,...>', `class labels (default ${DEFAULT_LABELS.join(',')})`, list)
    .option('--lead-slot <n>', 'pretrained lead the single lead feeds (0 = I)', int('--lead-slot'))
    .option('--name <name>', 'package name')
    .option('--notes <text>', 'provenance notes for the manifest')
    .option('--json', 'print the manifest as JSON')
    .action(buildCommand);
  model
    .command('train')
    .description('train the NMoE gate + head on the frozen backbone: grouped k-fold CV, then all windows')
    .requiredOption('--model <dir>', 'fp32 package (its backbone stays frozen)')
    .requiredOption(
      '--record <record>',
      'labelled record (repeat); labels from <record>_segments.csv',
      collect,
    )
    .requiredOption('--out <dir>', 'package directory to write')
    .option('--labels-file <csv>', 'labels CSV per --record, in the same order (repeat)', collect)
    .option('--label-column <name>', 'label column of the segments CSV', 'stress')
    .option('--classes <a,b,...>', 'class order (default: labels in order of appearance)', list)
    .option('--folds <n>', 'cross-validation folds', int('--folds'), 5)
    .option('--epochs <n>', 'Adam epochs', int('--epochs'), 10)
    .option('--batch-size <n>', 'mini-batch size', int('--batch-size'), 32)
    .option('--lr <x>', 'learning rate', num('--lr'), 1e-3)
    .option('--dropout <p>', 'dropout before the last Dense', num('--dropout'), 0.2)
    .option('--seed <n>', 'seed (same seed, same bytes)', int('--seed'), 1)
    .option('--threads <n>', 'onnxruntime threads for the embeddings', int('--threads'), 0)
    .option('--json', 'print the metrics as JSON')
    .action(trainCommand);
  model
    .command('quantize')
    .description('static INT8 (QDQ, symmetric, per-channel weights) calibrated on real windows')
    .requiredOption('--model <dir>', 'fp32 package')
    .requiredOption('--calibration <record>', 'record whose usable windows calibrate (repeat)', collect)
    .requiredOption('--out <dir>', 'package directory to write')
    .option('--windows <n>', 'calibration windows', int('--windows'), 128)
    .option('--threads <n>', 'onnxruntime threads', int('--threads'), 0)
    .option('--json', 'print the agreement as JSON')
    .action(quantizeCommand);
  model
    .command('inspect <dir>')
    .description('verify a package and print its manifest, size and the operators onnxruntime runs')
    .option('--json', 'print JSON')
    .action(inspectCommand);
  model
    .command('eval')
    .description('accuracy and macro-F1 of a package on labelled records (its own graph, end to end)')
    .requiredOption('--model <dir>', 'package')
    .requiredOption('--record <record>', 'labelled record (repeat)', collect)
    .option('--labels-file <csv>', 'labels CSV per --record (repeat)', collect)
    .option('--label-column <name>', 'label column', 'stress')
    .option('--threads <n>', 'onnxruntime threads', int('--threads'), 0)
    .option('--json', 'print JSON')
    .action(evalCommand);
  model
    .command('embed')
    .description('per-layer time-mean embeddings (L, D) of a (B, 1, N) or (B, 12, N) float32 .npy input')
    .requiredOption('--model <dir>', 'package')
    .requiredOption('--input <x.npy>', 'input windows')
    .requiredOption('--out <y.npy>', 'embeddings to write')
    .option('--threads <n>', 'onnxruntime threads', int('--threads'), 0)
    .action(embedCommand);

  bench
    .command('model')
    .description('inference latency in a worker thread (p50/p99) and the event-loop delay meanwhile')
    .requiredOption('--model <dir>', 'package')
    .option(
      '--compare <dir|file.onnx>',
      'another model measured in the same run, interleaved (repeat)',
      collect,
    )
    .option('--threads <n>', 'onnxruntime intra-op threads', int('--threads'), 2)
    .option('--runs <n>', 'runs per model', int('--runs'), 40)
    .option('--spinning', "let onnxruntime's idle threads spin (lower latency, CPU burnt between runs)")
    .option('--json', 'print JSON')
    .action(
      async (o: {
        model: string;
        compare?: string[];
        threads: number;
        runs: number;
        spinning?: boolean;
        json?: boolean;
      }) => {
        const r = await runModelBench({
          ...o,
          log: o.json ? undefined : (l) => process.stdout.write(`${l}\n`),
        });
        if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
      },
    );
}
