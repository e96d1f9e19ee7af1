import { type Command, Option } from 'commander';
import { DEFAULT_LABELS } from '../model/default-labels.js';
import { collectArg, intArg, listArg, numberArg, overlapArg } from './args.js';

type Actions = typeof import('./model-actions.js');
/** The commands' work and its heavy imports (onnxruntime, the ONNX builder) load only when used. */
const actions = (): Promise<Actions> => import('./model-actions.js');

export function addModelCommands(program: Command, bench: Command): void {
  const model = program
    .command('model')
    .description('build, train, quantize, inspect and evaluate ECG-FM + NMoE model packages');
  model
    .command('build')
    .description('the ECG-FM encoder + NMoE head as an ONNX model package (seeded weights unless --weights)')
    .requiredOption('--out <dir>', 'package directory to write')
    .option('--arch <name>', 'architecture (ecgfm: the released size unless overridden)', 'ecgfm')
    .option('--layers <n>', 'transformer layers', intArg('--layers'))
    .option('--dim <n>', 'transformer width', intArg('--dim'))
    .option('--heads <n>', 'attention heads', intArg('--heads'))
    .option('--ffn <n>', 'feed-forward width', intArg('--ffn'))
    .option('--conv-dim <n>', 'conv feature extractor channels', intArg('--conv-dim'))
    .option('--head-hidden <n>', 'NMoE head hidden width', intArg('--head-hidden'))
    .option('--weights <file>', 'fairseq-signals .pt checkpoint or .safetensors')
    .option('--seed <n>', 'seed for weights not in the checkpoint', intArg('--seed'), 1)
    .option('--labels <a,b,...>', `class labels (default ${DEFAULT_LABELS.join(',')})`, listArg)
    .option('--lead-slot <n>', 'pretrained lead the single lead feeds (0 = I)', intArg('--lead-slot'))
    .option('--name <name>', 'package name')
    .option('--notes <text>', 'provenance notes for the manifest')
    .option('--json', 'print the manifest as JSON')
    .action(async (...a: Parameters<Actions['buildCommand']>) => (await actions()).buildCommand(...a));
  model
    .command('train')
    .description('train the NMoE gate + head on the frozen backbone: grouped k-fold CV, then all windows')
    .requiredOption('--model <dir>', 'fp32 package (its backbone stays frozen)')
    .requiredOption(
      '--record <record>',
      'labelled record (repeat); labels from <record>_segments.csv',
      collectArg,
    )
    .requiredOption('--out <dir>', 'package directory to write')
    .option('--labels-file <csv>', 'labels CSV per --record, in the same order (repeat)', collectArg)
    .option('--label-column <name>', 'label column of the segments CSV', 'stress')
    .option('--classes <a,b,...>', 'class order (default: labels in order of appearance)', listArg)
    .option('--folds <n>', 'cross-validation folds', intArg('--folds'), 5)
    .addOption(
      new Option('--group-by <what>', 'what a fold holds whole (record: leave recordings out)')
        .choices(['segment', 'record'])
        .default('segment'),
    )
    .option(
      '--overlap <percent>',
      "window overlap (default: the package's hop, 75 %)",
      overlapArg('--overlap'),
    )
    .addOption(
      new Option('--gate <kind>', 'static: a weight per layer; input: weights computed from each window')
        .choices(['static', 'input'])
        .default('static'),
    )
    .option('--epochs <n>', 'Adam epochs', intArg('--epochs'), 10)
    .option('--batch-size <n>', 'mini-batch size', intArg('--batch-size'), 32)
    .option('--lr <x>', 'learning rate', numberArg('--lr'), 1e-3)
    .option('--dropout <p>', 'dropout before the last Dense', numberArg('--dropout'), 0.2)
    .option('--seed <n>', 'seed (same seed, same bytes)', intArg('--seed'), 1)
    .option('--threads <n>', 'onnxruntime threads for the embeddings', intArg('--threads'), 0)
    .option('--json', 'print the metrics as JSON')
    .action(async (...a: Parameters<Actions['trainCommand']>) => (await actions()).trainCommand(...a));
  model
    .command('quantize')
    .description('static INT8 (QDQ, symmetric, per-channel weights) calibrated on real windows')
    .requiredOption('--model <dir>', 'fp32 package')
    .requiredOption('--calibration <record>', 'record whose usable windows calibrate (repeat)', collectArg)
    .requiredOption('--out <dir>', 'package directory to write')
    .option('--windows <n>', 'calibration windows', intArg('--windows'), 128)
    .option(
      '--held-out <record>',
      'record not calibrated on, to compare int8 with fp32 on (repeat)',
      collectArg,
    )
    .option(
      '--activation-percentile <p>',
      'activation range: this percentile of |x| (mean over windows) instead of the largest',
      numberArg('--activation-percentile'),
    )
    .option(
      '--keep-fp32 <regex>',
      'weights (by name) whose MatMul or Conv stays fp32 (default: "^(post_extract_proj|conv_pos)\\.", the most sensitive; "" for none)',
    )
    .addOption(
      new Option('--rounding <how>', 'MatMul weight rounding: GPTQ (error-compensated) or to nearest')
        .choices(['gptq', 'nearest'])
        .default('gptq'),
    )
    .option('--threads <n>', 'onnxruntime threads', intArg('--threads'), 0)
    .option('--json', 'print the agreement as JSON')
    .action(async (...a: Parameters<Actions['quantizeCommand']>) => (await actions()).quantizeCommand(...a));
  model
    .command('import')
    .description(
      'wrap an ONNX export (e.g. torch.onnx.export of ECG-FM + NMoE) into a package, then run one window',
    )
    .requiredOption('--onnx <file>', 'the export: one input (batch, 1, samples), softmax probabilities out')
    .requiredOption('--out <dir>', 'package directory to write')
    .option('--labels <a,b,...>', "one name per probability, in the output's order (required)", listArg)
    .option('--name <name>', 'package name', 'imported')
    .option('--probabilities <output>', 'the probabilities output (default: the one named prob…)')
    .option('--gate <output>', 'the gate-weights output, if any (default: the one named gate…)')
    .option('--layer-embeddings <output>', 'the layer-embeddings output, if any (default: embed…)')
    .option(
      '--window-samples <n>',
      'samples per window, for an input of dynamic length',
      intArg('--window-samples'),
    )
    .option(
      '--hop-samples <n>',
      'samples between windows (default: a quarter window)',
      intArg('--hop-samples'),
    )
    .addOption(
      new Option('--normalization <how>', 'what the model expects of a window')
        .choices(['zscore', 'none'])
        .default('zscore'),
    )
    .option('--notes <text>', 'provenance notes for the manifest')
    .option('--json', 'print the manifest and the check as JSON')
    .action(async (...a: Parameters<Actions['importCommand']>) => (await actions()).importCommand(...a));
  model
    .command('inspect <dir>')
    .description(
      "verify a package, print its manifest, size and the operators onnxruntime runs, and check its reference windows against fp32's answers on this machine (exit 1 past the bound)",
    )
    .option('--providers <list>', 'execution providers to check it on, in order', listArg, ['cpu'])
    .option('--json', 'print JSON')
    .action(async (...a: Parameters<Actions['inspectCommand']>) => (await actions()).inspectCommand(...a));
  model
    .command('eval')
    .description('accuracy and macro-F1 of a package on labelled records (its own graph, end to end)')
    .requiredOption('--model <dir>', 'package')
    .requiredOption('--record <record>', 'labelled record (repeat)', collectArg)
    .option('--labels-file <csv>', 'labels CSV per --record (repeat)', collectArg)
    .option('--label-column <name>', 'label column', 'stress')
    .option('--threads <n>', 'onnxruntime threads', intArg('--threads'), 0)
    .option('--json', 'print JSON')
    .action(async (...a: Parameters<Actions['evalCommand']>) => (await actions()).evalCommand(...a));
  model
    .command('embed')
    .description('per-layer time-mean embeddings (L, D) of a (B, 1, N) or (B, 12, N) float32 .npy input')
    .requiredOption('--model <dir>', 'package')
    .requiredOption('--input <x.npy>', 'input windows')
    .requiredOption('--out <y.npy>', 'embeddings to write')
    .option('--threads <n>', 'onnxruntime threads', intArg('--threads'), 0)
    .action(async (...a: Parameters<Actions['embedCommand']>) => (await actions()).embedCommand(...a));

  bench
    .command('model')
    .description('inference latency in a worker thread (p50/p99) and the event-loop delay meanwhile')
    .requiredOption('--model <dir>', 'package')
    .option(
      '--compare <dir|file.onnx>',
      'another model measured in the same run, interleaved (repeat)',
      collectArg,
    )
    .option('--threads <n>', 'onnxruntime intra-op threads', intArg('--threads'), 2)
    .option('--runs <n>', 'runs per model', intArg('--runs'), 40)
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
        const { runModelBench } = await import('../bench/model.js');
        const r = await runModelBench({
          ...o,
          log: o.json ? undefined : (l) => process.stdout.write(`${l}\n`),
        });
        if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
      },
    );
}
