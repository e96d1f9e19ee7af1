import { RecordError } from './errors.js';

/**
 * Index of the channel chosen by number or by label (exact match first, then case-insensitive),
 * among `labels`; errors name the file and list the channels.
 */
export function selectChannel(labels: readonly string[], file: string, selector: number | string): number {
  if (typeof selector === 'number' || /^\d+$/.test(selector)) {
    const i = Number(selector);
    if (i < 0 || i >= labels.length) {
      throw new RecordError(file, `channel ${i} does not exist (${labels.length} channels)`);
    }
    return i;
  }
  let i = labels.indexOf(selector);
  if (i < 0) i = labels.findIndex((l) => l.toLowerCase() === selector.toLowerCase());
  if (i < 0) throw new RecordError(file, `no channel named "${selector}" (channels: ${labels.join(', ')})`);
  return i;
}
