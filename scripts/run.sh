#!/usr/bin/env bash
# The main job: installs and builds what is missing, compiles the embedded
# default model (models/austen.gguf) for this CPU in the W4Ax-KV4 scheme
# (INT4 weights, INT4 activations with FMPQ INT8 outlier blocks, 4-bit KV
# cache) and generates text with the compiled model through the runtime.
# Extra arguments go to `lowbit-run generate` (e.g. --prompt "Elizabeth").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh lowbit-run lowbit-compile
mkdir -p build/models
calibration=build/models/calibration-austen.json
artifact=build/models/austen-w4ax-kv4-$(uname -m).lbm
if [[ ! -s $calibration ]]; then
  echo "== lowbit-run calibrate (activation statistics for FMPQ)"
  build/bin/lowbit-run calibrate --text models/calibration-emma.txt \
    --lines-as-documents -o "$calibration"
fi
echo "== lowbit-compile models/austen.gguf --target=$(uname -m) --scheme=w4ax-kv4"
build/bin/lowbit-compile models/austen.gguf --target="$(uname -m)" \
  --scheme=w4ax-kv4 --calibration "$calibration" -o "$artifact"
echo "== lowbit-run generate --artifact $artifact $*"
build/bin/lowbit-run generate --artifact "$artifact" --max-tokens 80 --seed 1 "$@"
