import type { Config } from '../config/schema.js';
import { ScaledSource } from './scaled-source.js';
import { SerialSource } from './serial-source.js';
import { SocketCanSource } from './socketcan-source.js';
import type { EcgSource } from './source.js';

/** The sensor the config names, read in mV. */
export function sourceFromConfig(c: Config['source']): EcgSource {
  const wire =
    c.kind === 'can'
      ? new SocketCanSource({ iface: c.path, silenceMs: c.silenceMs })
      : new SerialSource({
          path: c.path,
          baudRate: c.baudRate,
          protocol: c.kind === 'slcan' ? 'slcan' : c.protocol,
          silenceMs: c.silenceMs,
          bitalinoChannels: c.bitalinoChannels,
          bitalinoEcgChannel: c.bitalinoEcgChannel,
        });
  const scale = {
    sampleRateHz: c.sampleRateHz,
    gain: c.gain,
    baseline: c.baseline,
    bitalino: c.kind === 'serial' && c.protocol === 'bitalino',
  };
  return new ScaledSource(wire, scale, `${c.kind}:${c.path}`);
}
