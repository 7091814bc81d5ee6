#!/usr/bin/env bash
#===- gpu-check.sh - every GPU test and benchmark, in two steps -----------===#
#
# The GPU machines have CUDA but no LLVM/MLIR, and this machine has MLIR but
# no GPU, so the check runs in two steps:
#
#   scripts/gpu-check.sh compile   # here: lowbit-compile writes the PTX of
#                                  # the Llama-2-7B examples to build/gpu-check
#   scripts/gpu-check.sh compile-7b   # here: a Llama-2-7B-shaped checkpoint
#                                  # with random periodic weights compiled
#                                  # for sm_90 in W4Ax-KV4, xz-compressed
#                                  # (about 20 MiB) to build/gpu-check
#   scripts/gpu-check.sh compile-7b-tp   # here: the same sharded over 2
#                                  # GPUs, exact and with compressed prefill
#                                  # all-reduces (TP_FORMATS)
#   scripts/gpu-check.sh run [matmul|attention|collectives|model|tp|e2e|tp-e2e|A,B...]
#                                  # on the GPU machine (carry build/gpu-check):
#                                  # builds the MLIR-free runtime and
#                                  # benchmarks with g++; matmul checks every
#                                  # matmul kernel (decode and tensor-core)
#                                  # against the CPU and times it (the PTX
#                                  # of each chip in MATMUL_TARGETS, default
#                                  # this GPU's), then times the cuBLAS
#                                  # peers through PyTorch;
#                                  # attention checks the tensor-core prefill
#                                  # attention kernel against the CPU in
#                                  # double precision and times it;
#                                  # collectives checks the compressed
#                                  # all-reduce kernels bit for bit on one GPU
#                                  # and, with two or more GPUs, runs them
#                                  # through NCCL against NCCL's f16
#                                  # all-reduce, also with NCCL's peer-to-peer
#                                  # and shared-memory transports off; model
#                                  # runs the embedded model compiled for the
#                                  # GPU (lowbit-compile --target=sm_90) in
#                                  # FP32, W4A8 and W4Ax-KV4 and compares its
#                                  # tokens and logits with the x86-64
#                                  # artifacts' (the reference executor's
#                                  # numbers) and runs the W4Ax-KV4 batched
#                                  # decode under compute-sanitizer's
#                                  # memcheck where installed; tp runs the embedded model
#                                  # sharded over two GPUs through NCCL
#                                  # (needs two GPUs); e2e times prefill and
#                                  # decode of the 7B-shaped artifact
#                                  # (when carried) against PyTorch fp16.
#                                  # All by default; a comma-separated list
#                                  # runs several in one call (e.g.
#                                  # model,matmul checks the sm_80 s4
#                                  # kernels with MATMUL_TARGETS="sm_80
#                                  # sm_90").
#
# `run` writes its tables to $OUT (or build/gpu-check/results) and exits
# non-zero when a kernel computes a wrong result.
#
#===----------------------------------------------------------------------===#
set -euo pipefail
cd "$(dirname "$0")/.."
CHECK_DIR=build/gpu-check
TOKENS=${TOKENS:-1,2,4,8,16,64,256,2048,8192}
COLLECTIVE_TOKENS=${COLLECTIVE_TOKENS:-1,16,256,2048,8192}
ITERATIONS=${ITERATIONS:-200}
MODEL_PROMPT=1,45,211,298,33,26,178,31,27,100,200,300,400,500,600,700,800
MODEL_TOKENS=${MODEL_TOKENS:-24}
# Batched decode of the embedded model: three prompts of different lengths,
# the first MODEL_PROMPT.
MODEL_BATCH_PROMPTS=($MODEL_PROMPT 1,450 1,2112,7,9,11)
DECODE_TOKENS=${DECODE_TOKENS:-257}
E2E_PREFILL=${E2E_PREFILL:-16,128,2048}
E2E_DECODE=${E2E_DECODE:-128}
E2E_BATCH=${E2E_BATCH:-1,8,32}
ATTENTION_ROWS=${ATTENTION_ROWS:-16,100,2048}

# Writes the Llama-2-7B-shaped checkpoint and its calibration to $work
# (WORK_7B), unless it is there from an earlier run.
make_7b_checkpoint() {
  mkdir -p "$CHECK_DIR"
  work=${WORK_7B:-/tmp/lowbit-7b}
  mkdir -p "$work"
  [[ -f $work/llama2-7b.gguf ]] ||
    python3 bench/gpu/make_llama_shaped_model.py --preset llama2-7b \
      -o "$work/llama2-7b.gguf" --calibration "$work/calibration.json"
}

case "${1:-}" in
compile)
  mkdir -p "$CHECK_DIR"
  for chip in sm_80 sm_89 sm_90; do
    build/bin/lowbit-compile examples/llama2-7b-decoder-layer.mlir \
      --target=$chip -o "$CHECK_DIR/llama2-7b-$chip.ptx"
    build/bin/lowbit-compile bench/gpu/llama2-7b-fused-qkv.mlir \
      --target=$chip -o "$CHECK_DIR/llama2-7b-qkv-$chip.ptx"
    build/bin/lowbit-compile bench/gpu/llama2-7b-tp2-collectives.mlir \
      --target=$chip -o "$CHECK_DIR/llama2-7b-tp2-collectives-$chip.ptx"
  done
  # The embedded model for the GPU, and the reference run of the same
  # scheme on this CPU (bit-identical to the reference executor).
  calibration=$CHECK_DIR/calibration.json
  build/bin/lowbit-run calibrate --text models/calibration-emma.txt \
    --lines-as-documents --tokens 300 -o "$calibration" 2>/dev/null
  for scheme in fp32 w4a8 w4ax-kv4; do
    scheme_flags=()
    [[ $scheme == fp32 ]] || scheme_flags=(--scheme=$scheme --calibration "$calibration")
    build/bin/lowbit-compile models/austen.gguf --target=sm_90 \
      "${scheme_flags[@]}" -o "$CHECK_DIR/austen-$scheme-sm_90.lbm"
    # sm_80's s4 tensor cores take the INT4 activation blocks (run model).
    [[ $scheme != w4ax-kv4 ]] ||
      build/bin/lowbit-compile models/austen.gguf --target=sm_80 \
        "${scheme_flags[@]}" -o "$CHECK_DIR/austen-$scheme-sm_80.lbm"
    build/bin/lowbit-compile models/austen.gguf --target=x86_64 \
      "${scheme_flags[@]}" -o "$CHECK_DIR/austen-$scheme-x86_64.lbm"
    build/bin/lowbit-generate-tokens "$CHECK_DIR/austen-$scheme-x86_64.lbm" \
      "$MODEL_PROMPT" --tokens "$MODEL_TOKENS" \
      --logits "$CHECK_DIR/austen-$scheme-cpu.logits" \
      > "$CHECK_DIR/austen-$scheme-cpu.tokens"
    build/bin/lowbit-generate-tokens "$CHECK_DIR/austen-$scheme-x86_64.lbm" \
      "${MODEL_BATCH_PROMPTS[@]}" --tokens "$MODEL_TOKENS" \
      > "$CHECK_DIR/austen-$scheme-cpu-batch.tokens"
    rm "$CHECK_DIR/austen-$scheme-x86_64.lbm"
  done
  # Sharded over two GPUs (run tp): exact collectives, and FP4 partial
  # results in blocks of 16 for the prefill's all-reduces.
  build/bin/lowbit-compile models/austen.gguf --target=sm_90 \
    --tensor-parallel 2 -o "$CHECK_DIR/austen-fp32-tp2-sm_90.lbm"
  build/bin/lowbit-compile models/austen.gguf --target=sm_90 \
    --tensor-parallel 2 --scheme=w4ax-kv4 --calibration "$calibration" \
    -o "$CHECK_DIR/austen-w4ax-kv4-tp2-sm_90.lbm"
  # Sharding changes what is quantized (each rank's slices), so the
  # sharded model's reference is the sharded x86-64 artifact (bit-identical
  # to the reference executor's simulated ranks).
  build/bin/lowbit-compile models/austen.gguf --target=x86_64 \
    --tensor-parallel 2 --scheme=w4ax-kv4 --calibration "$calibration" \
    -o "$CHECK_DIR/austen-w4ax-kv4-tp2-x86_64.lbm"
  build/bin/lowbit-generate-tokens "$CHECK_DIR/austen-w4ax-kv4-tp2-x86_64.lbm" \
    "$MODEL_PROMPT" --tokens "$MODEL_TOKENS" \
    --logits "$CHECK_DIR/austen-w4ax-kv4-tp2-cpu.logits" \
    > "$CHECK_DIR/austen-w4ax-kv4-tp2-cpu.tokens"
  rm "$CHECK_DIR/austen-w4ax-kv4-tp2-x86_64.lbm"
  build/bin/lowbit-compile models/austen.gguf --target=sm_90 \
    --tensor-parallel 2 --scheme=w4ax-kv4 --calibration "$calibration" \
    --compress-collectives 'format=fp4_e2m1 block-size=16' \
    -o "$CHECK_DIR/austen-w4ax-kv4-tp2-fp4-sm_90.lbm"
  ls -l "$CHECK_DIR"
  ;;
compile-7b)
  # Speed does not depend on weight values: random weights whose rows repeat
  # every few rows, so the 4.5 GB artifact compresses to about 20 MiB and
  # travels. The checkpoint is kept in WORK_7B for reruns.
  # A second artifact quantizes the LM head too (include-lm-head), for run
  # e2e to set beside the default f32 head.
  make_7b_checkpoint
  build/bin/lowbit-compile "$work/llama2-7b.gguf" --target=sm_90 \
    --scheme='w4ax-kv4{include-lm-head=true}' \
    --calibration "$work/calibration.json" \
    -o "$work/llama2-7b-w4ax-kv4-w4-head-sm_90.lbm"
  xz -1 -T2 -c "$work/llama2-7b-w4ax-kv4-w4-head-sm_90.lbm" \
    > "$CHECK_DIR/llama2-7b-w4ax-kv4-w4-head-sm_90.lbm.xz"
  rm "$work/llama2-7b-w4ax-kv4-w4-head-sm_90.lbm"
  build/bin/lowbit-compile "$work/llama2-7b.gguf" --target=sm_90 \
    --scheme=w4ax-kv4 --calibration "$work/calibration.json" \
    -o "$work/llama2-7b-w4ax-kv4-sm_90.lbm"
  # The roofline of the same quantized module, for run e2e to set the kernel
  # profile beside: 2048-token prefill, decode at the mean context of the
  # profiled decode steps (a 1-token prompt and E2E_DECODE steps).
  build/bin/lowbit-import "$work/llama2-7b.gguf" |
    build/bin/lowbit-opt -o /dev/null \
      --lowbit-w4ax-kv4="calibration=$work/calibration.json" \
      --lowbit-roofline="hw=h100-sxm seq=2048 context=$((E2E_DECODE / 2 + 1)) format=csv output=$CHECK_DIR/llama2-7b-w4ax-kv4-roofline.csv"
  xz -1 -T2 -c "$work/llama2-7b-w4ax-kv4-sm_90.lbm" \
    > "$CHECK_DIR/llama2-7b-w4ax-kv4-sm_90.lbm.xz"
  rm "$work/llama2-7b-w4ax-kv4-sm_90.lbm"
  ls -l "$CHECK_DIR"/llama2-7b-*.lbm.xz
  ;;
compile-7b-tp)
  # The same model sharded over 2 GPUs, uncompressed and with the prefill's
  # all-reduces in each wire format of TP_FORMATS (names: element, block,
  # scale), for run tp-e2e. The checkpoint is kept in WORK_7B for reruns.
  make_7b_checkpoint
  for format in none ${TP_FORMATS:-fp4_e2m1-16-f16}; do
    compress=()
    if [[ $format != none ]]; then
      IFS=- read -r element block scale <<< "$format"
      compress=(--compress-collectives "format=$element block-size=$block scale=$scale")
    fi
    build/bin/lowbit-compile "$work/llama2-7b.gguf" --target=sm_90 \
      --tensor-parallel 2 --scheme=w4ax-kv4 \
      --calibration "$work/calibration.json" "${compress[@]}" \
      -o "$work/llama2-7b-w4ax-kv4-tp2-$format-sm_90.lbm"
    xz -1 -T2 -c "$work/llama2-7b-w4ax-kv4-tp2-$format-sm_90.lbm" \
      > "$CHECK_DIR/llama2-7b-w4ax-kv4-tp2-$format-sm_90.lbm.xz"
    rm "$work/llama2-7b-w4ax-kv4-tp2-$format-sm_90.lbm"
  done
  ls -l "$CHECK_DIR"/llama2-7b-*tp2*.lbm.xz
  ;;
run)
  what=${2:-all}
  # Whether `run` was asked for $1: all, or a comma-separated list.
  wants() { [[ $what == all || ,$what, == *,$1,* ]]; }
  RESULTS=${OUT:-$CHECK_DIR/results}
  mkdir -p "$RESULTS" "$CHECK_DIR/bin"
  runtime=(runtime/lib/CudaDriver.cpp runtime/lib/GpuWeightLayout.cpp
           runtime/lib/Nccl.cpp runtime/lib/WireFormat.cpp)
  model_runtime=(runtime/lib/Artifact.cpp runtime/lib/CAPI.cpp
                 runtime/lib/Collectives.cpp runtime/lib/CudaDriver.cpp
                 runtime/lib/GpuExecution.cpp runtime/lib/HostModel.cpp
                 runtime/lib/Nccl.cpp runtime/lib/Sampler.cpp
                 runtime/lib/WireFormat.cpp)
  g++ -O2 -std=c++17 -Iruntime/include "${runtime[@]}" \
    bench/gpu/MatmulBench.cpp -ldl -o "$CHECK_DIR/bin/lowbit-bench-matmul"
  g++ -O2 -std=c++17 -Iruntime/include "${runtime[@]}" \
    bench/gpu/CollectiveBench.cpp -ldl -o "$CHECK_DIR/bin/lowbit-bench-collectives"
  g++ -O2 -std=c++17 -Iruntime/include "${runtime[@]}" \
    bench/gpu/AttentionBench.cpp -ldl -o "$CHECK_DIR/bin/lowbit-bench-attention"
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem \
    --format=csv | tee "$RESULTS/device.txt"
  capability=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1)
  chip=sm_${capability/./}
  gpus=$(nvidia-smi --query-gpu=name --format=csv,noheader | wc -l)
  status=0
  if wants collectives; then
    collectives_ptx="$CHECK_DIR/llama2-7b-tp2-collectives-$chip.ptx"
    # NVLink multicast stays off on shared machines (KINDS.md).
    export NCCL_NVLS_ENABLE=0
    {
      echo "command: COLLECTIVE_TOKENS=$COLLECTIVE_TOKENS ITERATIONS=$ITERATIONS scripts/gpu-check.sh run collectives"
      echo "kernels: $collectives_ptx (lowbit-compile --target=$chip)"
      "$CHECK_DIR/bin/lowbit-bench-collectives" "$collectives_ptx" \
        "$COLLECTIVE_TOKENS" "$ITERATIONS" || status=1
      if ((gpus >= 2)); then
        for transport in default no-p2p-no-shm; do
          transport_env=()
          [[ $transport == no-p2p-no-shm ]] &&
            transport_env=(NCCL_P2P_DISABLE=1 NCCL_SHM_DISABLE=1)
          echo
          echo "2 ranks through NCCL, transport: $transport ${transport_env[*]}"
          rm -f "$CHECK_DIR/nccl-id"
          for rank in 0 1; do
            timeout 300 env RANK=$rank WORLD_SIZE=2 LOCAL_RANK=$rank \
              LOWBIT_NCCL_ID_FILE="$CHECK_DIR/nccl-id" "${transport_env[@]}" \
              "$CHECK_DIR/bin/lowbit-bench-collectives" "$collectives_ptx" \
              "$COLLECTIVE_TOKENS" "$ITERATIONS" > "$CHECK_DIR/rank$rank.log" 2>&1 &
          done
          wait -n || status=1
          wait -n || status=1
          cat "$CHECK_DIR/rank0.log"
          grep -v "^|" "$CHECK_DIR/rank1.log" | grep -v "^device:" | grep -v "^$" || true
        done
      fi
    } > "$RESULTS/collectives.md"
    cat "$RESULTS/collectives.md"
  fi
  if wants model || wants tp; then
    gcc -O2 -c -Iruntime/include runtime/examples/generate-tokens.c \
      -o "$CHECK_DIR/bin/generate-tokens.o"
    g++ -O2 -std=c++17 -Iruntime/include "${model_runtime[@]}" \
      "$CHECK_DIR/bin/generate-tokens.o" -ldl -pthread \
      -o "$CHECK_DIR/bin/lowbit-generate-tokens"
  fi
  if wants tp; then
    export NCCL_NVLS_ENABLE=0
    modes=(one-process)
    ((gpus >= 2)) && modes+=(nccl)
    {
      echo "command: MODEL_TOKENS=$MODEL_TOKENS scripts/gpu-check.sh run tp"
      echo "The embedded model sharded over 2 ranks (lowbit-compile"
      echo "--tensor-parallel 2). one-process: one process runs both ranks on"
      echo "GPU 0, exchanging through host memory; nccl: one process per GPU"
      echo "started with RANK, WORLD_SIZE and LOCAL_RANK, NCCL id through"
      echo "LOWBIT_NCCL_ID_FILE (needs two GPUs)."
      echo "prompt: $MODEL_PROMPT, $MODEL_TOKENS greedy tokens; reference: the"
      echo "x86-64 artifact of the same scheme, sharded the same way (FP32:"
      echo "unsharded); compressed runs are set against the exact ones."
      echo
      echo "| artifact | ranks | ranks agree | tokens equal to the reference | max abs logit difference |"
      echo "| --- | --- | --- | --- | --- |"
      for mode in "${modes[@]}"; do
        for variant in fp32-tp2 w4ax-kv4-tp2 w4ax-kv4-tp2-fp4; do
          base=$CHECK_DIR/austen-$variant
          # The sharded x86-64 run where there is one (quantized schemes),
          # else the unsharded one; compressed runs against exact ones.
          reference=$CHECK_DIR/austen-${variant%-fp4}
          [[ -f $reference-cpu.tokens ]] ||
            reference=$CHECK_DIR/austen-${variant%%-tp2*}
          [[ -f $base-sm_90.lbm ]] || continue
          failed=0
          if [[ $mode == one-process ]]; then
            timeout 300 "$CHECK_DIR/bin/lowbit-generate-tokens" \
              "$base-sm_90.lbm" "$MODEL_PROMPT" --tokens "$MODEL_TOKENS" \
              --logits "$base-rank0.logits" > "$base-rank0.tokens" \
              2> "$base-rank0.log" || failed=1
            cp "$base-rank0.tokens" "$base-rank1.tokens"
          else
            rm -f "$CHECK_DIR/nccl-id"
            for rank in 0 1; do
              timeout 300 env RANK=$rank WORLD_SIZE=2 LOCAL_RANK=$rank \
                LOWBIT_NCCL_ID_FILE="$CHECK_DIR/nccl-id" \
                "$CHECK_DIR/bin/lowbit-generate-tokens" "$base-sm_90.lbm" \
                "$MODEL_PROMPT" --tokens "$MODEL_TOKENS" \
                --logits "$base-rank$rank.logits" > "$base-rank$rank.tokens" \
                2> "$base-rank$rank.log" &
            done
            wait -n || failed=1
            wait -n || failed=1
          fi
          if ((failed)); then
            echo "| $variant | $mode | run failed: $(cat "$base"-rank*.log | head -c 300) | | |"
            status=1
            continue
          fi
          agree=yes
          cmp -s "$base-rank0.tokens" "$base-rank1.tokens" || { agree=no; status=1; }
          equal=yes
          cmp -s "$base-rank0.tokens" "$reference-cpu.tokens" || equal=no
          # Exact collectives must give the unsharded tokens; compressed
          # ones are reported as they are.
          [[ $equal == yes || $variant == *-fp4 ]] || status=1
          python3 -c '
import sys, numpy as np
gpu = np.fromfile(sys.argv[1], dtype=np.float32)
cpu = np.fromfile(sys.argv[2], dtype=np.float32)
n = min(gpu.size, cpu.size)
print("| %s | %s | %s | %s | %.3g |" % (sys.argv[3], sys.argv[6], sys.argv[4],
      sys.argv[5], np.abs(gpu[:n] - cpu[:n]).max()))
' "$base-rank0.logits" "$reference-cpu.logits" "$variant" "$agree" "$equal" "$mode"
        done
      done
      echo
      echo "Rank 0 tokens, w4ax-kv4-tp2: $(cat "$CHECK_DIR/austen-w4ax-kv4-tp2-rank0.tokens" 2>/dev/null)"
      echo "Reference tokens, w4ax-kv4-tp2: $(cat "$CHECK_DIR/austen-w4ax-kv4-tp2-cpu.tokens" 2>/dev/null)"
      echo "Rank 0 tokens, w4ax-kv4-tp2-fp4: $(cat "$CHECK_DIR/austen-w4ax-kv4-tp2-fp4-rank0.tokens" 2>/dev/null)"
    } > "$RESULTS/tp.md" 2>&1
    cat "$RESULTS/tp.md"
  fi
  if wants model; then
    {
      echo "command: MODEL_TOKENS=$MODEL_TOKENS scripts/gpu-check.sh run model"
      echo "prompt: $MODEL_PROMPT, $MODEL_TOKENS greedy tokens; reference:"
      echo "the x86-64 artifact of the same scheme (scripts/gpu-check.sh compile)"
      echo
      echo "The sm_80 artifact runs through the driver's PTX JIT; on an H100"
      echo "its s4 mma is emulated: a check of its results, not of its speed."
      echo
      echo "| scheme | target | tokens equal | max abs logit difference | largest logit |"
      echo "| --- | --- | --- | --- | --- |"
      for artifact in fp32-sm_90 w4a8-sm_90 w4ax-kv4-sm_90 w4ax-kv4-sm_80; do
        scheme=${artifact%-sm_*}
        target=${artifact##*-}
        base=$CHECK_DIR/austen-$scheme
        [[ -f $base-$target.lbm ]] || continue
        rm -f "$base-gpu-$target.logits" "$base-gpu-$target.tokens"
        if ! "$CHECK_DIR/bin/lowbit-generate-tokens" "$base-$target.lbm" \
            "$MODEL_PROMPT" --tokens "$MODEL_TOKENS" \
            --logits "$base-gpu-$target.logits" > "$base-gpu-$target.tokens"; then
          echo "| $scheme | $target | run failed | | |"
          status=1
          continue
        fi
        equal=yes
        cmp -s "$base-gpu-$target.tokens" "$base-cpu.tokens" || { equal=no; status=1; }
        python3 -c '
import sys, numpy as np
gpu = np.fromfile(sys.argv[1], dtype=np.float32)
cpu = np.fromfile(sys.argv[2], dtype=np.float32)
n = min(gpu.size, cpu.size)
print("| %s | %s | %s | %.3g | %.3g |" % (sys.argv[3], sys.argv[5], sys.argv[4],
      np.abs(gpu[:n] - cpu[:n]).max(), np.abs(cpu).max()))
' "$base-gpu-$target.logits" "$base-cpu.logits" "$scheme" "$equal" "$target"
      done
      # s4 steps shift their sums to the s8 steps' scale, so sm_80's logits
      # must equal sm_90's bit for bit.
      base=$CHECK_DIR/austen-w4ax-kv4
      if [[ -f $base-gpu-sm_80.logits && -f $base-gpu-sm_90.logits ]]; then
        echo
        if cmp -s "$base-gpu-sm_80.logits" "$base-gpu-sm_90.logits"; then
          echo "W4Ax-KV4 logits of the sm_80 artifact (s4 mma) and the sm_90 one (s8): bit-identical"
        else
          echo "W4Ax-KV4 logits of the sm_80 artifact (s4 mma) and the sm_90 one (s8): DIFFERENT"
          status=1
        fi
      fi
      echo
      echo "Batched decode: the prompts ${MODEL_BATCH_PROMPTS[*]} decoded"
      echo "together (one KV cache each), against the x86-64 artifact's batched"
      echo "run and against each prompt decoded alone on the GPU."
      echo
      echo "| scheme | tokens equal to the CPU's batch | equal to each alone on the GPU |"
      echo "| --- | --- | --- |"
      for scheme in fp32 w4a8 w4ax-kv4; do
        base=$CHECK_DIR/austen-$scheme
        [[ -f $base-sm_90.lbm ]] || continue
        if ! "$CHECK_DIR/bin/lowbit-generate-tokens" "$base-sm_90.lbm" \
            "${MODEL_BATCH_PROMPTS[@]}" --tokens "$MODEL_TOKENS" \
            > "$base-gpu-batch.tokens"; then
          echo "| $scheme | run failed | |"
          status=1
          continue
        fi
        for prompt in "${MODEL_BATCH_PROMPTS[@]}"; do
          "$CHECK_DIR/bin/lowbit-generate-tokens" "$base-sm_90.lbm" "$prompt" \
            --tokens "$MODEL_TOKENS" || status=1
        done > "$base-gpu-alone.tokens"
        cpu=yes alone=yes
        cmp -s "$base-gpu-batch.tokens" "$base-cpu-batch.tokens" || { cpu=no; status=1; }
        cmp -s "$base-gpu-batch.tokens" "$base-gpu-alone.tokens" || { alone=no; status=1; }
        echo "| $scheme | $cpu | $alone |"
      done
      # compute-sanitizer's memcheck over the batched run: prompts of 17, 2
      # and 5 tokens reach every decode matmul kernel kind (dp4a and mma),
      # the tensor-core kernel and the batched decode step.
      sanitizer=$(command -v compute-sanitizer ||
                  ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1 || true)
      if [[ -n $sanitizer && -f $CHECK_DIR/austen-w4ax-kv4-sm_90.lbm ]]; then
        echo
        if LOWBIT_GPU_GRAPHS=0 "$sanitizer" --error-exitcode 1 --print-limit 3 \
            "$CHECK_DIR/bin/lowbit-generate-tokens" \
            "$CHECK_DIR/austen-w4ax-kv4-sm_90.lbm" "${MODEL_BATCH_PROMPTS[@]}" \
            --tokens 4 > "$RESULTS/memcheck.log" 2>&1; then
          echo "compute-sanitizer memcheck, W4Ax-KV4 batched run: no errors"
        else
          echo "compute-sanitizer memcheck, W4Ax-KV4 batched run: ERRORS"
          head -n 20 "$RESULTS/memcheck.log"
          status=1
        fi
      fi
      echo
      echo "Decode time per token: the wall time of lowbit-generate-tokens for"
      echo "$DECODE_TOKENS new tokens minus that for 1 (loading, PTX JIT and"
      echo "prefill cancel), divided by $((DECODE_TOKENS - 1)); median of 3."
      echo
      echo "| scheme | ms per decoded token | tokens/s |"
      echo "| --- | --- | --- |"
      for scheme in fp32 w4a8 w4ax-kv4; do
        artifact=$CHECK_DIR/austen-$scheme-sm_90.lbm
        [[ -f $artifact ]] || continue
        python3 -c '
import statistics, subprocess, sys, time
def wall(tokens):
    runs = []
    for _ in range(3):
        begin = time.perf_counter()
        subprocess.run([sys.argv[1], sys.argv[2], sys.argv[3], "--tokens", str(tokens)],
                       check=True, stdout=subprocess.DEVNULL)
        runs.append(time.perf_counter() - begin)
    return statistics.median(runs)
n = int(sys.argv[4])
per_token = (wall(n) - wall(1)) / (n - 1)
print("| %s | %.3f | %.0f |" % (sys.argv[5], per_token * 1e3, 1 / per_token))
' "$CHECK_DIR/bin/lowbit-generate-tokens" "$artifact" "$MODEL_PROMPT" \
          "$DECODE_TOKENS" "$scheme"
      done
      for scheme in fp32 w4a8 w4ax-kv4; do
        artifact=$CHECK_DIR/austen-$scheme-sm_90.lbm
        [[ -f $artifact ]] || continue
        echo
        echo "Kernel profile, $scheme (LOWBIT_GPU_PROFILE; prefill of the prompt"
        echo "and $DECODE_TOKENS decode steps, every launch timed on its own):"
        echo
        LOWBIT_GPU_PROFILE=$RESULTS/profile-$scheme.md \
          "$CHECK_DIR/bin/lowbit-generate-tokens" "$artifact" "$MODEL_PROMPT" \
          --tokens "$DECODE_TOKENS" > /dev/null
        head -n 14 "$RESULTS/profile-$scheme.md"
      done
      echo
      echo "GPU tokens of W4Ax-KV4 (sm_90): $(cat "$CHECK_DIR/austen-w4ax-kv4-gpu-sm_90.tokens" 2>/dev/null)"
      echo "CPU tokens of the last scheme: $(cat "$CHECK_DIR/austen-w4ax-kv4-cpu.tokens")"
    } > "$RESULTS/model.md" 2>&1
    cat "$RESULTS/model.md"
  fi
  packed_7b=$CHECK_DIR/llama2-7b-w4ax-kv4-sm_90.lbm.xz
  if wants e2e && [[ -f $packed_7b ]]; then
    g++ -O2 -std=c++17 -Iruntime/include "${model_runtime[@]}" \
      bench/gpu/ModelBench.cpp -ldl -pthread -o "$CHECK_DIR/bin/lowbit-bench-model"
    python3 -c 'import lzma, shutil, sys
shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"), 1 << 24)' \
      "$packed_7b" "$CHECK_DIR/llama2-7b-w4ax-kv4-sm_90.lbm"
    {
      echo "command: E2E_PREFILL=$E2E_PREFILL E2E_DECODE=$E2E_DECODE E2E_BATCH=$E2E_BATCH scripts/gpu-check.sh run e2e"
      echo "lowbit: lowbit-bench-model on the artifact of scripts/gpu-check.sh compile-7b"
      "$CHECK_DIR/bin/lowbit-bench-model" \
        "$CHECK_DIR/llama2-7b-w4ax-kv4-sm_90.lbm" "$E2E_PREFILL" \
        "$E2E_DECODE" 3 --batch "$E2E_BATCH" || status=1
      echo
      echo "The same decode without CUDA graphs (LOWBIT_GPU_GRAPHS=0: every"
      echo "kernel launched on its own):"
      echo
      LOWBIT_GPU_GRAPHS=0 "$CHECK_DIR/bin/lowbit-bench-model" \
        "$CHECK_DIR/llama2-7b-w4ax-kv4-sm_90.lbm" "" "$E2E_DECODE" 3 |
        grep "^| decode" || status=1
      echo
      echo "The same decode with graphs whose kernels wait for the end of the"
      echo "one before them (LOWBIT_GPU_DEPENDENT_LAUNCH=0: no programmatic"
      echo "edges):"
      echo
      LOWBIT_GPU_DEPENDENT_LAUNCH=0 "$CHECK_DIR/bin/lowbit-bench-model" \
        "$CHECK_DIR/llama2-7b-w4ax-kv4-sm_90.lbm" "" "$E2E_DECODE" 3 |
        grep "^| decode" || status=1
      head_7b=$CHECK_DIR/llama2-7b-w4ax-kv4-w4-head-sm_90.lbm
      if [[ -f $head_7b.xz ]]; then
        python3 -c 'import lzma, shutil, sys
shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"), 1 << 24)' \
          "$head_7b.xz" "$head_7b"
        echo
        echo "The same with the LM head quantized too (include-lm-head):"
        echo
        "$CHECK_DIR/bin/lowbit-bench-model" "$head_7b" "$E2E_PREFILL" \
          "$E2E_DECODE" 3 --batch "$E2E_BATCH" | grep "^| [pd]" || status=1
        rm "$head_7b"
      fi
      echo
      python3 bench/gpu/torch_llama_peer.py "$E2E_PREFILL" "$E2E_DECODE" 3 \
        1,32 || status=1
      # One run of each phase, no warm-up, so the profile holds exactly one
      # 2048-token prefill, or a 1-token prompt and E2E_DECODE decode steps
      # (E2E_DECODE + 1 runs of decode's work).
      roofline=$CHECK_DIR/llama2-7b-w4ax-kv4-roofline.csv
      for phase in prefill decode; do
        if [[ $phase == prefill ]]; then counts=2048 steps=0 calls=1
        else counts= steps=$E2E_DECODE calls=$((E2E_DECODE + 1)); fi
        echo
        echo "Kernel profile, $phase (LOWBIT_GPU_PROFILE; lowbit-bench-model"
        echo "with prefill '$counts' and $steps decode steps after a 1-token prompt, once):"
        echo
        LOWBIT_GPU_PROFILE=$RESULTS/profile-7b-$phase.md \
          "$CHECK_DIR/bin/lowbit-bench-model" \
          "$CHECK_DIR/llama2-7b-w4ax-kv4-sm_90.lbm" "$counts" $steps 1 \
          --decode-prompt 1 --no-warm-up > /dev/null || status=1
        head -n 24 "$RESULTS/profile-7b-$phase.md"
        if [[ -f $roofline ]]; then
          echo
          echo "Measured per run of @$phase against lowbit-roofline (h100-sxm):"
          echo
          python3 bench/gpu/roofline_vs_profile.py "$roofline" $phase $phase \
            "$RESULTS/profile-7b-$phase.md" $calls || status=1
        fi
      done
    } > "$RESULTS/e2e.md" 2>&1
    cat "$RESULTS/e2e.md"
  fi
  if wants tp-e2e && ((gpus >= 2)) &&
     compgen -G "$CHECK_DIR/llama2-7b-w4ax-kv4-tp2-*-sm_90.lbm.xz" > /dev/null; then
    export NCCL_NVLS_ENABLE=0
    g++ -O2 -std=c++17 -Iruntime/include "${model_runtime[@]}" \
      bench/gpu/ModelBench.cpp -ldl -pthread -o "$CHECK_DIR/bin/lowbit-bench-model"
    for packed in "$CHECK_DIR"/llama2-7b-w4ax-kv4-tp2-*-sm_90.lbm.xz; do
      python3 -c 'import lzma, shutil, sys
shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"), 1 << 24)' \
        "$packed" "${packed%.xz}"
    done
    # Both ranks run the benchmark; rank 0's table is printed. With a
    # profile prefix (first argument), each rank writes its GPU profile to
    # <prefix>-rank<r>.md.
    run_ranks() {
      local profile=$1
      shift
      rm -f "$CHECK_DIR/nccl-id"
      for rank in 0 1; do
        profile_env=()
        [[ -n $profile ]] && profile_env=(LOWBIT_GPU_PROFILE="$profile-rank$rank.md")
        timeout 500 env RANK=$rank WORLD_SIZE=2 LOCAL_RANK=$rank \
          LOWBIT_NCCL_ID_FILE="$CHECK_DIR/nccl-id" "${profile_env[@]}" "$@" \
          > "$CHECK_DIR/rank$rank.log" 2>&1 &
      done
      local failed=0
      wait -n || failed=1
      wait -n || failed=1
      cat "$CHECK_DIR/rank0.log"
      ((failed == 0)) || { grep -h error "$CHECK_DIR"/rank[01].log; return 1; }
    }
    {
      echo "command: scripts/gpu-check.sh run tp-e2e (artifacts of compile-7b-tp)"
      echo "Llama-2-7B shape, W4Ax-KV4, sharded over 2 GPUs, one process per GPU."
      echo "Time to first token = prefill of 2048 tokens (logits to the host)."
      for transport in default no-p2p-no-shm; do
        transport_env=()
        [[ $transport == no-p2p-no-shm ]] &&
          transport_env=(NCCL_P2P_DISABLE=1 NCCL_SHM_DISABLE=1)
        for artifact in "$CHECK_DIR"/llama2-7b-w4ax-kv4-tp2-*-sm_90.lbm; do
          echo
          echo "### $(basename "$artifact"), NCCL transport: $transport ${transport_env[*]}"
          run_ranks "" env "${transport_env[@]}" \
            "$CHECK_DIR/bin/lowbit-bench-model" "$artifact" 2048 32 3 ||
            status=1
          echo
          echo "GPU time of one 2048-token prefill, collectives and wire kernels (rank 0):"
          echo
          prefix=$RESULTS/profile-$(basename "$artifact" .lbm)-$transport
          run_ranks "$prefix" env "${transport_env[@]}" \
            "$CHECK_DIR/bin/lowbit-bench-model" "$artifact" 2048 0 1 \
            --no-warm-up > /dev/null || status=1
          grep -E "^(GPU time|\| (kernel|---|nccl|wire))" "$prefix-rank0.md" || true
        done
      done
    } > "$RESULTS/tp-e2e.md" 2>&1
    cat "$RESULTS/tp-e2e.md"
  fi
  if wants attention; then
    {
      echo "command: ATTENTION_ROWS=$ATTENTION_ROWS scripts/gpu-check.sh run attention"
      ptx="$CHECK_DIR/llama2-7b-$chip.ptx"
      echo "kernels: $ptx (lowbit-compile --target=$chip)"
      "$CHECK_DIR/bin/lowbit-bench-attention" "$ptx" "$ATTENTION_ROWS" 20 ||
        status=1
    } > "$RESULTS/attention.md"
    cat "$RESULTS/attention.md"
  fi
  wants matmul || exit "$status"
  {
    echo "command: TOKENS=$TOKENS ITERATIONS=$ITERATIONS MATMUL_TARGETS=\"${MATMUL_TARGETS:-$chip}\" scripts/gpu-check.sh run matmul"
    # Kernels for another chip than this one run through the driver's PTX
    # JIT: on an H100, sm_80's s4 mma is emulated, so their rows check
    # results, not speed.
    for target in ${MATMUL_TARGETS:-$chip}; do
      for ptx in "$CHECK_DIR/llama2-7b-$target.ptx" \
                 "$CHECK_DIR/llama2-7b-qkv-$target.ptx"; do
        echo "kernels: $ptx (lowbit-compile --target=$target)"
        "$CHECK_DIR/bin/lowbit-bench-matmul" "$ptx" "$TOKENS" "$ITERATIONS" ||
          status=1
      done
    done
  } > "$RESULTS/matmul.md"
  cat "$RESULTS/matmul.md"
  python3 bench/gpu/torch_linear_peers.py "$TOKENS" "$ITERATIONS" \
    | tee "$RESULTS/cublas-peers.md"
  exit "$status"
  ;;
*)
  echo "usage: $0 compile|compile-7b|run [what]" >&2
  exit 2
  ;;
esac
