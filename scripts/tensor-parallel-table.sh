#!/usr/bin/env bash
# Reproduces the accuracy table of docs/tensor-parallel.md: held-out
# perplexity (Persuasion) of the embedded model sharded over 2 and 4
# simulated tensor-parallel ranks, uncompressed and with every wire format
# and block size of lowbit-compress-collectives, with the bits each element
# costs on the wire.
#
# Usage: scripts/tensor-parallel-table.sh [--tokens N] [--bin DIR]
#        (default 8192 scored tokens, 0 scores the whole novel; --bin runs
#        DIR/lowbit-run instead of building it)
set -euo pipefail
cd "$(dirname "$0")/.."

tokens=8192
bin=""
while (($#)); do
  case "$1" in
    --tokens) tokens="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    *) echo "usage: $0 [--tokens N] [--bin DIR]" >&2; exit 2 ;;
  esac
done
if [[ -z "$bin" ]]; then
  scripts/setup.sh lowbit-run >/dev/null
  bin=build/bin
fi
work=build/tp-eval
mkdir -p "$work"
run="$bin/lowbit-run"

perplexity() {
  "$run" perplexity --text models/persuasion.txt --lines-as-documents \
    --max-scored-tokens "$tokens" "$@" 2>/dev/null |
    sed -n 's/^perplexity: \([0-9.]*\) .*/\1/p'
}

# Bits per element on the wire: elements plus one scale per block.
wire_bits() {
  local format=$1 block=$2 scale_bits=$3 element_bits
  case $format in fp4_e2m1|int4) element_bits=4 ;; fp5_*) element_bits=5 ;; int8) element_bits=8 ;; esac
  awk -v e="$element_bits" -v b="$block" -v s="$scale_bits" 'BEGIN { printf "%.3g", (e * b + s) / b }'
}

percent_change() {
  awk -v p="$1" -v s="$single" 'BEGIN { printf "%+.2f%%", (p / s - 1) * 100 }'
}

table="$work/tensor-parallel.md"
single=$(perplexity)
{
  echo "Held-out perplexity on models/persuasion.txt (--lines-as-documents,"
  echo "first $tokens scored tokens), FP32 embedded model, ranks simulated by"
  echo "the reference executor. One device: $single. $(date -u +%F), $(uname -m)."
  echo "Bits per element count the block's scale; fp16 partial results take 16."
  echo
  echo "| wire format | block | scale | bits/element | vs fp16 | TP=2 | change | TP=4 | change |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
} >"$table"

row() {  # label block scale-name scale-bits compress-options
  local label=$1 block=$2 scale=$3 scale_bits=$4 options=$5 bits ratio cells=""
  if [[ -z $options ]]; then bits=16; else bits=$(wire_bits "$label" "$block" "$scale_bits"); fi
  ratio=$(awk -v b="$bits" 'BEGIN { printf "%.2f", 16 / b }')
  for tp in 2 4; do
    local args=(--tensor-parallel "$tp")
    [[ -n $options ]] && args+=(--compress-collectives "$options")
    local ppl change
    ppl=$(perplexity "${args[@]}")
    change=$(percent_change "$ppl")
    cells+=" $ppl | $change |"
  done
  echo "| $label | $block | $scale | $bits | ${ratio}x |$cells" | tee -a "$table"
}

row "none (fp32 sum)" - - 0 ""
for format in fp4_e2m1 fp5_e2m2 fp5_e3m1 int4 int8; do
  for block in 8 16 32; do
    row "$format" "$block" f16 16 "format=$format block-size=$block scale=f16"
  done
done
row fp4_e2m1 16 e8m0 8 "format=fp4_e2m1 block-size=16 scale=e8m0"
row fp4_e2m1 32 e8m0 8 "format=fp4_e2m1 block-size=32 scale=e8m0"
echo "| fp4_e2m1, reduce-scatter + all-gather | 16 | f16 | 5 | 3.2x |$(
  for tp in 2 4; do
    ppl=$(perplexity --tensor-parallel "$tp" --compress-collectives "format=fp4_e2m1 block-size=16 algorithm=reduce-scatter")
    printf ' %s | %s |' "$ppl" "$(percent_change "$ppl")"
  done)" | tee -a "$table"
# The model's first and last (of 6) layers in INT8 blocks of 32, the others
# FP4 in blocks of 16: (4 * 5 + 2 * 8.5) / 6 bits per element.
echo "| fp4_e2m1, layers 0 and 5 int8 b32 (\`layer-formats=0:int8-32,5:int8-32\`) | 16 | f16 | 6.17 | 2.59x |$(
  for tp in 2 4; do
    ppl=$(perplexity --tensor-parallel "$tp" --compress-collectives "format=fp4_e2m1 block-size=16 scale=f16 layer-formats=0:int8-32,5:int8-32")
    printf ' %s | %s |' "$ppl" "$(percent_change "$ppl")"
  done)" | tee -a "$table"
echo "written $table"
