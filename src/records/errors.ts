/** A problem with an input file that the user can fix: one line, naming the file and where. */
export class RecordError extends Error {
  readonly file: string;
  readonly offset: number | undefined;
  constructor(file: string, message: string, offset?: number) {
    super(offset === undefined ? `${file}: ${message}` : `${file}: ${message} (at byte offset ${offset})`);
    this.name = 'RecordError';
    this.file = file;
    this.offset = offset;
  }
}
