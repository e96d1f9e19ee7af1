/** A model package that cannot be used: one line naming the file and what is wrong. */
export class ModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelError';
  }
}
