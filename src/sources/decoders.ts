import { AsciiDecoder } from '../protocols/ascii.js';
import { BitalinoDecoder } from '../protocols/bitalino.js';
import { SlcanStreamDecoder } from '../protocols/can.js';
import { EcgSerialDecoder } from '../protocols/ecg-serial.js';
import type { SerialProtocol, StreamDecoder } from '../protocols/types.js';

export interface DecoderOptions {
  /** BITalino: enabled analog channels (0 = A1) and which of them is the ECG. */
  bitalinoChannels?: number[];
  bitalinoEcgChannel?: number;
  bitalinoRateHz?: number;
}

export function decoderFor(protocol: SerialProtocol, o: DecoderOptions = {}): StreamDecoder {
  switch (protocol) {
    case 'ecg-serial':
      return new EcgSerialDecoder();
    case 'ascii':
      return new AsciiDecoder();
    case 'slcan':
      return new SlcanStreamDecoder();
    case 'bitalino': {
      const channels = o.bitalinoChannels ?? [1];
      const ecg = channels.indexOf(o.bitalinoEcgChannel ?? channels[0]);
      return new BitalinoDecoder(channels.length, Math.max(0, ecg), o.bitalinoRateHz ?? 1000);
    }
  }
}
