/** Per-sample flag bits carried beside the samples from the source to the windows. */
export const SampleFlag = {
  /** The device reports an electrode off the skin. */
  LeadOff: 1,
  /** The sample sits at the ADC rail or the device reports saturation. */
  Saturated: 2,
  /** First sample after samples were lost (sequence gap, dropout, reconnect). */
  Gap: 4,
} as const;
