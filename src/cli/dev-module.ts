import { UnavailableError } from '../errors.js';

/**
 * A module built on a development package (onnx-proto: building, training, quantizing, op counts),
 * which a release leaves out: there, one line saying so instead of a stack trace.
 */
export async function devModule<T>(command: string, load: () => Promise<T>): Promise<T> {
  return load().catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ERR_MODULE_NOT_FOUND' && /onnx-proto|protobufjs/.test(err.message))
      throw new UnavailableError(
        `${command} needs the development package onnx-proto, which a release leaves out: run it in a checkout after npm ci`,
      );
    throw err;
  });
}
