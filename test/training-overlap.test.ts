import { join } from 'node:path';
import t from 'tap';
import { PROJECT_ROOT } from '../src/paths.js';
import { RecordSource } from '../src/sources/record-source.js';
import { trainingOverlap } from '../src/report/training-overlap.js';

const DEMO = join(PROJECT_ROOT, 'data', 'demo', 'drive06-excerpt');

t.test('a cut of a recording names the recording it came from (its header comment)', async (t) => {
  const source = await RecordSource.open(DEMO);
  t.equal(source.origin, 'drive06');
  t.equal(source.info.origin, 'drive06');
});

t.test('a record without that comment is its own origin', async (t) => {
  const source = await RecordSource.open('mitdb/100');
  t.equal(source.origin, '100');
  t.equal(source.info.origin, undefined);
});

t.test('in-sample, held-out, live and unknown, from the manifest training records', async (t) => {
  const base = { model: 'm', source: 'record:drive06-excerpt', record: DEMO };
  t.match(trainingOverlap({ ...base, origin: 'drive06', trainedOn: ['drive05', 'drive06'] }), {
    kind: 'in-sample',
    text: "in-sample: drive06 is in m's training data (trained on drive05, drive06)",
  });
  t.match(trainingOverlap({ ...base, origin: 'drive06', trainedOn: ['drive05'] }), {
    kind: 'held-out',
    text: "held-out: drive06 is not in m's training data (trained on drive05)",
  });
  // An older log has no origin: the record's own name stands in.
  t.equal(trainingOverlap({ ...base, trainedOn: ['drive06'] }).kind, 'held-out');
  t.equal(
    trainingOverlap({ ...base, record: '/x/drivedb/drive06.hea', trainedOn: ['drive06'] }).kind,
    'in-sample',
  );
  t.equal(trainingOverlap({ ...base, origin: 'drive06' }).kind, 'unknown');
  t.match(trainingOverlap({ model: 'm', source: 'serial:/dev/ttyTHS1', trainedOn: ['drive06'] }), {
    kind: 'live',
    text: "live ECG (serial:/dev/ttyTHS1): not in m's training data",
  });
});
