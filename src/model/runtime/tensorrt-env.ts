/** TensorRT settings the daemon can pass with the stock onnxruntime-node binding. */
export interface TensorRtOptions {
  /** Let TensorRT choose FP16 kernels where faster (an INT8 QDQ model stays INT8 where it says so). */
  fp16: boolean;
  /** Directory for built engines; an engine build takes minutes on an Orin, a cached load seconds. */
  engineCacheDir: string | null;
  /** Workspace limit in bytes. */
  maxWorkspaceBytes: number;
}

/**
 * The stock Node binding passes no TensorRT provider options, but onnxruntime's TensorRT provider
 * reads these environment variables when a session is created. Explicit (QDQ) INT8 needs no flag:
 * TensorRT takes the precision from the Q/DQ nodes. Returns what was set, for the log.
 */
export function applyTensorRtEnv(
  o: TensorRtOptions,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const vars: Record<string, string> = {
    ORT_TENSORRT_FP16_ENABLE: o.fp16 ? '1' : '0',
    ORT_TENSORRT_MAX_WORKSPACE_SIZE: String(o.maxWorkspaceBytes),
    ORT_TENSORRT_ENGINE_CACHE_ENABLE: o.engineCacheDir ? '1' : '0',
    ...(o.engineCacheDir ? { ORT_TENSORRT_CACHE_PATH: o.engineCacheDir } : {}),
  };
  for (const [k, v] of Object.entries(vars)) {
    if (env[k] === undefined) env[k] = v; // an explicit environment (e.g. the systemd unit) wins
  }
  return Object.fromEntries(Object.keys(vars).map((k) => [k, env[k]!]));
}
