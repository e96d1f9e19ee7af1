#!/usr/bin/env bash
# Rebuilds models/driver-stress-drivedb from scratch: a small ECG-FM-architecture backbone with
# seeded weights (the pretrained checkpoint cannot be fetched here), the NMoE gate + head trained
# on the drivedb stress segments of drive05 (5-fold CV grouped by segment), INT8. drive06 stays out
# of training and calibration: the demo plays an excerpt of it, so what the demo shows is held out.
# Deterministic: the same inputs give the same model.onnx bytes. Takes about two minutes.
#   npm run build && scripts/build-demo-model.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${ECG_DATA_DIR:-../shared/data/ecg}"
OUT="${OUT:-models/driver-stress-drivedb}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cli() { node dist/cli/main.js "$@"; }

cli model build --arch ecgfm --layers 6 --dim 192 --heads 4 --ffn 768 --conv-dim 128 --head-hidden 64 \
  --labels low,medium,high --seed 1 --name driver-stress-drivedb \
  --notes "Seeded ECG-FM-architecture backbone (no pretrained weights here); NMoE head trained on PhysioNet drivedb drive05 stress segments (drive06, which the demo plays, held out) (Healey & Picard 2005). A demonstration of the pipeline, not a validated stress or emotion detector." \
  --out "$WORK/fp32"
cli model train --model "$WORK/fp32" --record "$DATA/drivedb/drive05" \
  --label-column stress --classes low,medium,high --folds 5 --seed 1 --threads 2 --out "$WORK/trained"
# Calibrated on drive05; agreement with fp32 also measured on recordings it was not calibrated on.
cli model quantize --model "$WORK/trained" --calibration "$DATA/drivedb/drive05" --threads 2 --out "$OUT" \
  --held-out "$DATA/drivedb/drive06" --held-out "$DATA/mitdb/119" --held-out "$DATA/mitdb/201" --held-out "$DATA/nstdb/118e12"
cli model inspect "$OUT"
