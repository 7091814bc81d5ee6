#!/usr/bin/env bash
# Puts one Llama-2-7B decoder layer on a roofline in FP16, W8A8, W4A16 and
# W4Ax-KV4, at decode (one token over a 2048-position context) and at a
# 2048-token prefill: the tables, summary and plot of docs/roofline.md.
#
# FP16, W8A8 and W4A16 are the layer of
# examples/llama2-7b-decoder-layer-checkpoint.mlir as written and as the
# lowbit-w8a8 and lowbit-w4a16 pipelines quantize it. W4Ax-KV4 is the
# hand-written @decoder_layer_w4ax_kv4 of examples/llama2-7b-decoder-layer.mlir:
# the lowbit-w4ax-kv4 pipeline needs calibration statistics (FMPQ), and there
# is no 7B checkpoint to calibrate; that layer stands in for FMPQ's result
# with a fixed layout (4 of 32 and 8 of 86 activation blocks in INT8).
#
# Usage: scripts/roofline-llama2-7b.sh [--bin DIR] [--hw NAME] [--out DIR]
#   --bin DIR   where lowbit-opt is (default: build/bin, built by scripts/setup.sh)
#   --hw NAME   hardware model (default: h100-sxm)
#   --out DIR   output directory (default: build/roofline-llama2-7b)
# Writes DIR/layers.mlir (the four layers in one module), DIR/report.txt (the
# roofline table at both phases), DIR/roofline.svg (the plot) and prints a
# summary table in Markdown.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=""
hw=h100-sxm
out=build/roofline-llama2-7b
while (($#)); do
  case "$1" in
    --bin) bin="$2"; shift 2 ;;
    --hw) hw="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: $0 [--bin DIR] [--hw NAME] [--out DIR]" >&2; exit 2 ;;
  esac
done
if [[ -z "$bin" ]]; then
  scripts/setup.sh lowbit-opt >/dev/null
  bin=build/bin
fi
opt="$bin/lowbit-opt"
mkdir -p "$out"

# Each layer is printed with its source locations inline, then the bodies of
# the modules are put into one module so that one report and one plot hold
# all four.
print_flags=(--mlir-print-debuginfo --mlir-print-local-scope)
module_body() { sed -e '1{/^module {/d}' -e '${/^}/d}'; }
checkpoint=examples/llama2-7b-decoder-layer-checkpoint.mlir
{
  echo "module {"
  for scheme in fp16 w8a8 w4a16; do
    pipeline=()
    [[ $scheme != fp16 ]] && pipeline=("--lowbit-$scheme")
    "$opt" "$checkpoint" "${pipeline[@]}" "${print_flags[@]}" |
      sed "s/@decoder_layer(/@decoder_layer_$scheme(/" | module_body
  done
  "$opt" examples/llama2-7b-decoder-layer.mlir "${print_flags[@]}" \
      --symbol-privatize=exclude=decoder_layer_w4ax_kv4 --symbol-dce |
    module_body
  echo "}"
} >"$out/layers.mlir"

options="hw=$hw seq=2048 context=2048"
"$opt" "$out/layers.mlir" -o /dev/null --lowbit-roofline="$options" \
  >"$out/report.txt"
"$opt" "$out/layers.mlir" -o /dev/null \
  --lowbit-roofline="$options format=svg output=$out/roofline.svg"

# One line per layer and phase: the report's total row, footprint and time.
awk '
  /^== @/ { function_name = $2; phase = $4 }
  $1 == "total" { bytes = $7; intensity = $9 }
  /^footprint:/ { weights = $3; kv = $7 }
  /^time:/ {
    split($0, parts, /[(%,]/)
    memory = parts[2]; sub(/.*memory-bound /, "", memory)
    compute = parts[4]; sub(/.*compute-bound /, "", compute)
    tokens = $0; sub(/.*\), /, "", tokens); sub(/ tokens\/s/, "", tokens)
    printf "| %s | %s | %s | %s%% | %s%% | %s | %s | %s | %s | %s |\n",
      function_name, phase, $2, memory, compute, bytes, intensity, weights, kv,
      tokens
  }
  BEGIN {
    print "| layer | phase | time (us) | memory-bound | compute-bound | bytes moved | ops/B | weight bytes | KV cache bytes | tokens/s (one layer) |"
    print "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  }
' "$out/report.txt" | tee "$out/summary.md"
echo "report: $out/report.txt, plot: $out/roofline.svg" >&2
