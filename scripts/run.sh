#!/usr/bin/env bash
# The main job: installs and builds what is missing, then compiles the shipped
# Llama decoder layer example with lowbit-opt and prints the result.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh lowbit-opt
echo "== lowbit-opt examples/llama-decoder-layer.mlir --canonicalize"
build/bin/lowbit-opt examples/llama-decoder-layer.mlir --canonicalize
