import { lazyValidator } from '../../json-schema.js';
import type { EcgFmArch } from '../graph/arch.js';
import { ModelError } from './errors.js';

/** manifest.json of a model package (models/<name>/): what the daemon needs to feed and read the model. */
export interface ModelManifest {
  schemaVersion: 1;
  name: string;
  version: string;
  architecture: ({ kind: 'ecgfm-nmoe' } & EcgFmArch) | ImportedArch;
  input: {
    tensor: string;
    /** (1, 1, windowSamples) */
    shape: number[];
    sampleRateHz: number;
    windowSamples: number;
    hopSamples: number;
    /** Pretrained lead the single lead feeds: 0 = I (order I, II, III, aVR, aVL, aVF, V1-V6). */
    leadSlot: number;
    normalization: 'zscore' | 'none';
  };
  labels: string[];
  /** Gate weights and layer embeddings: every built package has them; an imported one may not. */
  outputs: { probabilities: string; gate?: string; layerEmbeddings?: string };
  precision: 'fp32' | 'int8';
  /** sha256 of model.onnx, hex. */
  sha256: string;
  weights:
    | { source: 'seeded'; seed: number }
    | { source: 'checkpoint'; file: string; sha256: string; headSeed: number }
    | { source: 'onnx'; file: string; sha256: string };
  training: Record<string, unknown> | null;
  metrics: Record<string, unknown> | null;
  /**
   * Fixed input windows (`file`: float32 .npy, [n, ...input.shape[1:]]) and what the fp32 model
   * gave for them: the package promises the same within `tolerance` on any machine (reference.ts).
   */
  reference?: {
    file: string;
    sha256: string;
    from: 'fp32';
    /** Where the windows were cut from. */
    records: string[];
    tolerance: number;
    probabilities: number[][];
  };
  provenance: { builtBy: string; builtAt: string; notes?: string };
}

/** A graph brought as ONNX (`model import --onnx`): what the daemon needs of it, nothing more. */
export interface ImportedArch {
  kind: 'onnx-import';
  classes: number;
  inputSamples: number;
  inLeads: 1;
}

/** The architecture of a package built here (training, embedding and inspecting need it). */
export function builtArch(m: ModelManifest, command: string): { kind: 'ecgfm-nmoe' } & EcgFmArch {
  if (m.architecture.kind === 'ecgfm-nmoe') return m.architecture;
  throw new ModelError(
    `${m.name}: ${command} needs a package built by model build (this one was imported from ONNX)`,
  );
}

const positiveInt = { type: 'integer', minimum: 1 } as const;

export const manifestSchema = {
  $id: 'https://ecg-emotiond/model-manifest.schema.json',
  type: 'object',
  additionalProperties: false,
  required: [
    'schemaVersion',
    'name',
    'version',
    'architecture',
    'input',
    'labels',
    'outputs',
    'precision',
    'sha256',
    'weights',
    'training',
    'metrics',
    'provenance',
  ],
  properties: {
    schemaVersion: { const: 1 },
    name: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' },
    version: { type: 'string', minLength: 1 },
    architecture: {
      oneOf: [
        {
          type: 'object',
          additionalProperties: false,
          required: ['kind', 'classes', 'inputSamples', 'inLeads'],
          properties: {
            kind: { const: 'onnx-import' },
            classes: positiveInt,
            inputSamples: positiveInt,
            inLeads: { const: 1 },
          },
        },
        {
          type: 'object',
          additionalProperties: false,
          required: [
            'kind',
            'layers',
            'dim',
            'heads',
            'ffn',
            'convDim',
            'convLayers',
            'convKernel',
            'convStride',
            'posConvKernel',
            'posConvGroups',
            'inLeads',
            'headHidden',
            'classes',
            'inputSamples',
          ],
          properties: {
            kind: { const: 'ecgfm-nmoe' },
            layers: positiveInt,
            dim: positiveInt,
            heads: positiveInt,
            ffn: positiveInt,
            convDim: positiveInt,
            convLayers: positiveInt,
            convKernel: positiveInt,
            convStride: positiveInt,
            posConvKernel: positiveInt,
            posConvGroups: positiveInt,
            inLeads: positiveInt,
            headHidden: positiveInt,
            classes: positiveInt,
            inputSamples: positiveInt,
          },
        },
      ],
    },
    input: {
      type: 'object',
      additionalProperties: false,
      required: [
        'tensor',
        'shape',
        'sampleRateHz',
        'windowSamples',
        'hopSamples',
        'leadSlot',
        'normalization',
      ],
      properties: {
        tensor: { type: 'string' },
        shape: { type: 'array', items: positiveInt, minItems: 3, maxItems: 3 },
        sampleRateHz: { type: 'number', exclusiveMinimum: 0 },
        windowSamples: positiveInt,
        hopSamples: positiveInt,
        leadSlot: { type: 'integer', minimum: 0 },
        normalization: { enum: ['zscore', 'none'] },
      },
    },
    labels: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 2, uniqueItems: true },
    outputs: {
      type: 'object',
      additionalProperties: false,
      required: ['probabilities'],
      properties: {
        probabilities: { type: 'string' },
        gate: { type: 'string' },
        layerEmbeddings: { type: 'string' },
      },
    },
    precision: { enum: ['fp32', 'int8'] },
    sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    weights: {
      oneOf: [
        {
          type: 'object',
          additionalProperties: false,
          required: ['source', 'seed'],
          properties: { source: { const: 'seeded' }, seed: { type: 'integer' } },
        },
        {
          type: 'object',
          additionalProperties: false,
          required: ['source', 'file', 'sha256', 'headSeed'],
          properties: {
            source: { const: 'checkpoint' },
            file: { type: 'string' },
            sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
            headSeed: { type: 'integer' },
          },
        },
        {
          type: 'object',
          additionalProperties: false,
          required: ['source', 'file', 'sha256'],
          properties: {
            source: { const: 'onnx' },
            file: { type: 'string' },
            sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
          },
        },
      ],
    },
    training: { type: ['object', 'null'] },
    metrics: { type: ['object', 'null'] },
    reference: {
      type: 'object',
      additionalProperties: false,
      required: ['file', 'sha256', 'from', 'records', 'tolerance', 'probabilities'],
      properties: {
        file: { type: 'string', pattern: '^[A-Za-z0-9._-]+$' },
        sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
        from: { const: 'fp32' },
        records: { type: 'array', items: { type: 'string' } },
        tolerance: { type: 'number', exclusiveMinimum: 0 },
        probabilities: {
          type: 'array',
          minItems: 1,
          items: { type: 'array', minItems: 1, items: { type: 'number' } },
        },
      },
    },
    provenance: {
      type: 'object',
      additionalProperties: false,
      required: ['builtBy', 'builtAt'],
      properties: { builtBy: { type: 'string' }, builtAt: { type: 'string' }, notes: { type: 'string' } },
    },
  },
} as const;

const checker = lazyValidator<ModelManifest>(manifestSchema);

/** The problems of a manifest, each with its path; empty when it is valid. */
export function manifestProblems(m: unknown): string[] {
  const check = checker();
  if (check(m)) {
    const problems: string[] = [];
    if (m.labels.length !== m.architecture.classes)
      problems.push(`labels: ${m.labels.length} labels for ${m.architecture.classes} classes`);
    if (m.input.hopSamples > m.input.windowSamples) problems.push('input.hopSamples: larger than the window');
    if (m.input.leadSlot >= m.architecture.inLeads)
      problems.push(`input.leadSlot: ${m.input.leadSlot} outside 0..${m.architecture.inLeads - 1}`);
    return problems;
  }
  return (check.errors ?? []).map(
    (e) =>
      `${e.instancePath.replace(/^\//, '').replaceAll('/', '.') || '(top level)'}: ${e.message ?? e.keyword}`,
  );
}

/** How events name the model: from its package manifest. */
export function modelRef(m: Pick<ModelManifest, 'name' | 'version' | 'precision' | 'sha256'>) {
  return { name: m.name, version: m.version, precision: m.precision, sha256: m.sha256 };
}
