import { createRequire } from 'node:module';
import type { Ajv, Options, ValidateFunction } from 'ajv';

/**
 * A JSON Schema validator compiled at its first use: Ajv (and the compile) cost tens of ms that a
 * command validating nothing (`--version`, `--help`) should not pay.
 */
export function lazyValidator<T>(
  schema: object,
  options: Options = {},
  formats: Record<string, RegExp | ((s: string) => boolean)> = {},
): () => ValidateFunction<T> {
  let validate: ValidateFunction<T> | null = null;
  return () => {
    if (validate) return validate;
    const { Ajv: AjvClass } = createRequire(import.meta.url)('ajv') as { Ajv: typeof Ajv };
    const ajv = new AjvClass({ allErrors: true, strict: true, allowUnionTypes: true, ...options });
    for (const [name, f] of Object.entries(formats)) ajv.addFormat(name, f);
    validate = ajv.compile<T>(schema);
    return validate;
  };
}
