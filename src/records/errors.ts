/** A problem with an input file that the user can fix: one line, naming the file and where. */
export class RecordError extends Error {
  readonly file: string;
  readonly offset: number | undefined;
  /** What is wrong, without the file and offset. */
  readonly reason: string;
  constructor(file: string, reason: string, offset?: number) {
    super(offset === undefined ? `${file}: ${reason}` : `${file}: ${reason} (at byte offset ${offset})`);
    this.name = 'RecordError';
    this.file = file;
    this.offset = offset;
    this.reason = reason;
  }
}
