/** A configuration the daemon refuses: the message lists every problem, each with its key path. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`invalid config ${source}: ${problems.join('; ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}
