#!/usr/bin/env bash
# The schemes side by side on this CPU, for choosing one: the embedded model
# compiled for the host (default --cpu) in each scheme with the accuracy
# table's options (blocks and weight groups of 32 channels), its weight
# bytes, held-out perplexity of the compiled model (models/persuasion.txt,
# 4096 scored tokens, 512-token windows) and `lowbit-run bench` speed
# (128-token prefill, 64 decode steps, medians of 5). Prints a Markdown
# table; run from the repository root after
# scripts/setup.sh lowbit-run lowbit-compile. LOWBIT_CPU=native (or another
# LLVM CPU) compiles for that CPU instead of the default.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/cpu/calibration.sh

echo "| scheme | weight MB | perplexity | prefill tok/s | decode tok/s |"
echo "| --- | --- | --- | --- | --- |"
for scheme in fp32 w8a8 w8a8-kv8 w4a8 w4a4 w4a4-kv4 w4ax w4ax-kv4; do
  cpu=(${LOWBIT_CPU:+--cpu=$LOWBIT_CPU})
  options=()
  if [[ $scheme != fp32 ]]; then
    options=(--scheme "$scheme{block-size=32 group-size=32}")
    [[ $scheme == w4ax* ]] && options+=(--calibration "$calibration")
  fi
  artifact=$work/scheme-$scheme.lbm
  build/bin/lowbit-compile models/austen.gguf --target="$(uname -m)" "${cpu[@]}" "${options[@]}" -o "$artifact"
  megabytes=$(grep -a -o 'weight_bytes=[0-9]*' "$artifact" | head -1 | cut -d= -f2 |
              awk '{printf "%.2f", $1 / 1048576}')
  perplexity=$(build/bin/lowbit-run perplexity --artifact "$artifact" --text models/persuasion.txt \
                 --lines-as-documents --max-scored-tokens 4096 2>/dev/null |
               sed -n 's/^perplexity: \([0-9.]*\) .*/\1/p')
  bench=$(build/bin/lowbit-run bench --artifact "$artifact")
  prefill=$(sed -n 's/^prefill: .*(\([0-9.]*\) tokens\/s).*/\1/p' <<<"$bench")
  decode=$(sed -n 's/^decode: .*(\([0-9.]*\) tokens\/s,.*/\1/p' <<<"$bench")
  echo "| $scheme | $megabytes | $perplexity | $prefill | $decode |"
done
