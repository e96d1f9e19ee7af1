/** Weights that do not fit the architecture or cannot be read: every problem, in one line. */
export class WeightError extends Error {
  readonly problems: string[];
  constructor(file: string, problems: string[]) {
    super(`${file}: ${problems.join('; ')}`);
    this.name = 'WeightError';
    this.problems = problems;
  }
}
