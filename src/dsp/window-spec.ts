/** How the model wants its input windows; comes from the model manifest. */
export interface WindowSpec {
  sampleRateHz: number;
  windowSamples: number;
  hopSamples: number;
  normalization: 'zscore' | 'none';
}

/** ECG-FM's input: 5 s at 500 Hz; 75 % overlap (hop 1.25 s). */
export const DEFAULT_WINDOW_SPEC: WindowSpec = {
  sampleRateHz: 500,
  windowSamples: 2500,
  hopSamples: 625,
  normalization: 'zscore',
};
