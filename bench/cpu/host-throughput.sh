#!/usr/bin/env bash
# Host tokens/s of the compiled embedded model (lowbit-compile
# --target=$(uname -m)) against the reference executor running the same
# quantized IR, per scheme: decode (greedy generation of 200 tokens after a
# short prompt) and prefill (perplexity over 512-token windows, 4096 scored
# tokens). Prints a Markdown table; run from the repository root after
# scripts/setup.sh lowbit-run lowbit-compile.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=build/bench-cpu
mkdir -p "$work"
calibration=$work/calibration-austen.json
[[ -s $calibration ]] || build/bin/lowbit-run calibrate --text models/calibration-emma.txt \
  --lines-as-documents -o "$calibration" 2>/dev/null

decode_rate() { sed -n 's/.*decode: [0-9]* tokens in [0-9.]* s (\([0-9.]*\) tokens\/s).*/\1/p'; }
prefill_rate() { sed -n 's/.*over \([0-9]*\) tokens.*, \([0-9.]*\) s).*/\1 \2/p' | awk '{printf "%.0f", $1 / $2}'; }

echo "| scheme | decode tok/s compiled | decode tok/s reference | prefill tok/s compiled | prefill tok/s reference |"
echo "| --- | --- | --- | --- | --- |"
for scheme in fp32 w4a8 w4ax-kv4; do
  options=()
  [[ $scheme != fp32 ]] && options=(--scheme "$scheme" --calibration "$calibration")
  build/bin/lowbit-compile models/austen.gguf --target="$(uname -m)" "${options[@]}" \
    -o "$work/$scheme.lbm"
  generate=(generate --prompt "It was a fine morning" --temperature 0 --max-tokens 200)
  perplexity=(perplexity --text models/persuasion.txt --lines-as-documents --max-scored-tokens 4096)
  compiled_decode=$(build/bin/lowbit-run "${generate[@]}" --artifact "$work/$scheme.lbm" 2>&1 >/dev/null | decode_rate)
  reference_decode=$(build/bin/lowbit-run "${generate[@]}" "${options[@]}" 2>&1 >/dev/null | decode_rate)
  compiled_prefill=$(build/bin/lowbit-run "${perplexity[@]}" --artifact "$work/$scheme.lbm" 2>/dev/null | prefill_rate)
  reference_prefill=$(build/bin/lowbit-run "${perplexity[@]}" "${options[@]}" 2>/dev/null | prefill_rate)
  echo "| $scheme | $compiled_decode | $reference_decode | $compiled_prefill | $reference_prefill |"
done
