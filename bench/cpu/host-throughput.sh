#!/usr/bin/env bash
# Host tokens/s of the compiled embedded model (lowbit-compile
# --target=$(uname -m)) against the reference executor running the same
# quantized IR, per scheme: decode (greedy generation of 200 tokens after a
# short prompt) and prefill (perplexity over 512-token windows, 4096 scored
# tokens), and PyTorch FP32 on the same checkpoint (bench/cpu/torch-llama.py).
# Prints a Markdown table; run from the repository root after
# scripts/setup.sh lowbit-run lowbit-compile lowbit-generate-tokens.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/cpu/calibration.sh

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

# PyTorch (Debian python3-torch, FP32 eager, one thread like the compiled
# code) on the same checkpoint: speed, and the greedy tokens against the
# compiled FP32 model's (runtime C API example) for the same prompt ids.
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  prompt=1,45,211,298,33,26,178,31,27
  torch_report=$(/usr/bin/python3 bench/cpu/torch-llama.py models/austen.gguf "$prompt" 200 4096 512 2>/dev/null)
  torch_decode=$(sed -n 's/^decode_tokens_per_s //p' <<<"$torch_report")
  torch_prefill=$(sed -n 's/^prefill_tokens_per_s //p' <<<"$torch_report")
  echo "| pytorch fp32 (eager, 1 thread) | $torch_decode | | $torch_prefill | |"
  compiled_tokens=$(build/bin/lowbit-generate-tokens "$work/fp32.lbm" "$prompt" --tokens 200)
  read -r -a ours <<<"$compiled_tokens"
  read -r -a theirs <<<"$(sed -n 's/^tokens //p' <<<"$torch_report")"
  same=0
  while ((same < ${#ours[@]})) && [[ ${ours[same]} == "${theirs[same]:-}" ]]; do ((same += 1)); done
  echo
  echo "Greedy tokens of the compiled FP32 model and PyTorch agree on the first $same of ${#ours[@]}."
else
  echo
  echo "PyTorch is not installed (apt-get install python3-torch): no PyTorch row."
fi
