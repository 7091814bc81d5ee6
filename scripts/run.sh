#!/usr/bin/env bash
# The main job: installs and builds what is missing, then generates text with
# the embedded default model (models/austen.gguf) through lowbit-run.
# Extra arguments go to `lowbit-run generate` (e.g. --prompt "Elizabeth").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh lowbit-run
echo "== lowbit-run generate $*"
build/bin/lowbit-run generate --max-tokens 80 --seed 1 "$@"
