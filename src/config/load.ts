import { readFile } from 'node:fs/promises';
import type { ErrorObject } from 'ajv';
import { lazyValidator } from '../json-schema.js';
import { parseDocument, YAMLError } from 'yaml';
import { type Config, configSchema } from './schema.js';
import { ConfigError } from './errors.js';

export { ConfigError };

export const ENV_PREFIX = 'ECG_EMOTIOND__';

// Compiled at the first config read: `--version` and `--help` need no schema.
const validatorOf = lazyValidator<Config>(configSchema, { useDefaults: true });

function describe(e: ErrorObject): string {
  const path = e.instancePath.replace(/^\//, '').replaceAll('/', '.') || '(top level)';
  switch (e.keyword) {
    case 'additionalProperties':
      return `${path === '(top level)' ? '' : `${path}.`}${(e.params as { additionalProperty: string }).additionalProperty}: unknown key`;
    case 'enum':
      return `${path}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `${path}: ${e.message ?? e.keyword}`;
  }
}

/** SNAKE_CASE segment → camelCase key. */
function camel(segment: string): string {
  return segment.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Aliases a config may use: enough for any real file, far too few for an alias bomb. */
const MAX_YAML_ALIASES = 50;

/**
 * YAML text as a value, or a ConfigError naming where it came from and what is wrong. What the
 * yaml package only warns about (an unknown directive or tag) is refused too: printed as a warning
 * it would be noise on the console, and the value it leaves is not what the user wrote.
 */
function yamlValue(text: string, where: string): unknown {
  try {
    const doc = parseDocument(text, { logLevel: 'silent' });
    const problem = doc.errors[0] ?? doc.warnings[0];
    if (problem) throw problem;
    return doc.toJS({ maxAliasCount: MAX_YAML_ALIASES }) as unknown;
  } catch (err) {
    const yamlErr = err instanceof YAMLError ? err : undefined;
    const at = yamlErr?.linePos?.[0];
    throw new ConfigError(where, [
      `YAML ${yamlErr ? 'syntax error' : 'not accepted'}${at ? ` at line ${at.line}, column ${at.col}` : ''}: ${(err as Error).message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`,
    ]);
  }
}

/**
 * Applies ECG_EMOTIOND__SECTION__KEY=value overrides (`__` separates levels, SNAKE_CASE maps to
 * camelCase, values are read as YAML scalars: `60`, `null`, `true`, `text`).
 */
export function applyEnv(config: Record<string, unknown>, env: NodeJS.ProcessEnv): string[] {
  const applied: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    const path = name.slice(ENV_PREFIX.length).split('__').filter(Boolean).map(camel);
    if (path.length === 0) continue;
    let node = config;
    for (const key of path.slice(0, -1)) {
      const next = node[key];
      if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[path[path.length - 1]] = yamlValue(value, `$${name}`);
    applied.push(path.join('.'));
  }
  return applied;
}

/** Validates a plain object (defaults filled in place); throws ConfigError listing every problem. */
export function validateConfig(raw: unknown, source: string): Config {
  const data = raw ?? {};
  if (typeof data !== 'object' || Array.isArray(data))
    throw new ConfigError(source, ['(top level): must be a mapping']);
  const validate = validatorOf();
  if (!validate(data)) throw new ConfigError(source, (validate.errors ?? []).map(describe));
  const config = data as Config;
  if (config.quality.minHrBpm >= config.quality.maxHrBpm) {
    throw new ConfigError(source, ['quality.minHrBpm: must be below quality.maxHrBpm']);
  }
  return config;
}

/** Loads YAML from `path` (or only defaults when undefined), applies env overrides, validates. */
export async function loadConfig(
  path: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Config> {
  let raw: unknown = {};
  const source = path ?? '(defaults)';
  if (path !== undefined) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new ConfigError(path, [
        `cannot read file (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      ]);
    }
    raw = yamlValue(text, path) ?? {};
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ConfigError(source, ['(top level): must be a mapping']);
  applyEnv(raw as Record<string, unknown>, env);
  return validateConfig(raw, source);
}

/** The configuration with every default filled in. */
export function defaultConfig(): Config {
  return validateConfig({}, '(defaults)');
}
