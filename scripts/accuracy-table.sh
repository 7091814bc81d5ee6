#!/usr/bin/env bash
# Reproduces the quantization accuracy table of docs/quantization.md:
# held-out perplexity (Persuasion) of the embedded model and of its
# outlier-stressed variant for every scheme, with the change against FP32
# and the fraction of INT8 activation blocks.
#
# Usage: scripts/accuracy-table.sh [--tokens N]   (default 16384 scored tokens;
#        --tokens 0 scores the whole novel, about 120k tokens, ~1 h)
set -euo pipefail
cd "$(dirname "$0")/.."

tokens=16384
if [[ "${1:-}" == "--tokens" ]]; then tokens="$2"; fi

scripts/setup.sh lowbit-run >/dev/null
work=build/quant-eval
mkdir -p "$work"
run=build/bin/lowbit-run
/usr/bin/python3 tools/quant-eval/make_outlier_model.py \
  --output "$work/austen-outliers.gguf" >/dev/null

# The embedded model is 256 channels wide: blocks of 32 give 8 blocks per
# activation, so one INT8 block is 12.5% (a 4096-wide model uses 128).
blocks="block-size=32 group-size=32"
rows=(
  "FP32|"
  "W8A8|w8a8{$blocks}"
  "W4A16|w4a16{$blocks}"
  "W4A16 (asymmetric weights)|w4a16{$blocks asymmetric-weights=true}"
  "W4A8|w4a8{$blocks}"
  "W4A4 (naive, per token and 32-channel block)|w4a4{$blocks}"
  "W4A4 (naive, per token, blocks of 256)|w4a4{block-size=256 group-size=32}"
  "W4Ax (FMPQ)|w4ax{$blocks}"
  "W4Ax (FMPQ) + clip search|w4ax{$blocks clip-search=true}"
  "W4Ax-KV4|w4ax-kv4{$blocks}"
  "W4Ax-KV4 (asymmetric KV)|w4ax-kv4{$blocks asymmetric-kv=true}"
)

table="$work/accuracy.md"
{
  echo "Held-out perplexity on models/persuasion.txt (--lines-as-documents,"
  echo "first $tokens scored tokens; 0 = all), calibration on 8192 tokens of"
  echo "models/calibration-emma.txt. $(date -u +%F), $(uname -m)."
} >"$table"
for model in austen outliers; do
  if [[ $model == austen ]]; then gguf=models/austen.gguf; else gguf=$work/austen-outliers.gguf; fi
  calibration="$work/calibration-$model.json"
  "$run" calibrate --model "$gguf" --text models/calibration-emma.txt \
    --lines-as-documents --tokens 8192 -o "$calibration" 2>/dev/null
  {
    echo
    echo "### ${model/austen/embedded model (models/austen.gguf)}"
    echo
    echo "| scheme | perplexity | change vs FP32 | INT8 activation blocks |"
    echo "| --- | --- | --- | --- |"
  } >>"$table"
  fp32=""
  for row in "${rows[@]}"; do
    name="${row%%|*}"
    scheme="${row#*|}"
    args=(perplexity --model "$gguf" --text models/persuasion.txt
          --lines-as-documents --max-scored-tokens "$tokens")
    [[ -n "$scheme" ]] && args+=(--scheme "$scheme" --calibration "$calibration")
    output=$("$run" "${args[@]}" 2>&1)
    ppl=$(sed -n 's/^perplexity: \([0-9.]*\) over.*/\1/p' <<<"$output")
    int8=$(sed -n 's/.*activation blocks are INT8 (\(.*\))$/\1/p' <<<"$output")
    [[ -z "$ppl" ]] && { echo "$output" >&2; exit 1; }
    [[ -z "$fp32" ]] && fp32="$ppl"
    change=$(/usr/bin/python3 -c "print(f'{100*($ppl/$fp32-1):+.2f}%')")
    echo "| $name | $ppl | $change | ${int8:--} |" >>"$table"
    echo "$model: $name: $ppl ($change)" >&2
  done
done
sed -i 's/### outliers/### outlier-stressed variant (tools\/quant-eval\/make_outlier_model.py)/' "$table"
cat "$table"
