#!/usr/bin/env bash
#===- gpu-check.sh - every GPU test and benchmark, in two steps -----------===#
#
# The GPU machines have CUDA but no LLVM/MLIR, and this machine has MLIR but
# no GPU, so the check runs in two steps:
#
#   scripts/gpu-check.sh compile   # here: lowbit-compile writes the PTX of
#                                  # the Llama-2-7B example to build/gpu-check
#   scripts/gpu-check.sh run       # on the GPU machine (carry build/gpu-check):
#                                  # builds the MLIR-free runtime and
#                                  # benchmarks with g++, checks every matmul
#                                  # kernel (decode and tensor-core) against
#                                  # the CPU and times it, then times the
#                                  # cuBLAS peers through PyTorch
#
# `run` writes its tables to $OUT (or build/gpu-check/results) and exits
# non-zero when a kernel computes a wrong result.
#
#===----------------------------------------------------------------------===#
set -euo pipefail
cd "$(dirname "$0")/.."
CHECK_DIR=build/gpu-check
TOKENS=${TOKENS:-1,2,4,8,16,64,256,2048,8192}
ITERATIONS=${ITERATIONS:-200}

case "${1:-}" in
compile)
  mkdir -p "$CHECK_DIR"
  for chip in sm_80 sm_89 sm_90; do
    build/bin/lowbit-compile examples/llama2-7b-decoder-layer.mlir \
      --target=$chip -o "$CHECK_DIR/llama2-7b-$chip.ptx"
    build/bin/lowbit-compile bench/gpu/llama2-7b-fused-qkv.mlir \
      --target=$chip -o "$CHECK_DIR/llama2-7b-qkv-$chip.ptx"
  done
  ls -l "$CHECK_DIR"
  ;;
run)
  RESULTS=${OUT:-$CHECK_DIR/results}
  mkdir -p "$RESULTS" "$CHECK_DIR/bin"
  g++ -O2 -std=c++17 -Iruntime/include runtime/lib/CudaDriver.cpp \
    runtime/lib/GpuWeightLayout.cpp bench/gpu/MatmulBench.cpp -ldl \
    -o "$CHECK_DIR/bin/lowbit-bench-matmul"
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem \
    --format=csv | tee "$RESULTS/device.txt"
  capability=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1)
  chip=sm_${capability/./}
  status=0
  {
    echo "command: TOKENS=$TOKENS ITERATIONS=$ITERATIONS scripts/gpu-check.sh run"
    for ptx in "$CHECK_DIR/llama2-7b-$chip.ptx" \
               "$CHECK_DIR/llama2-7b-qkv-$chip.ptx"; do
      echo "kernels: $ptx (lowbit-compile --target=$chip)"
      "$CHECK_DIR/bin/lowbit-bench-matmul" "$ptx" "$TOKENS" "$ITERATIONS" ||
        status=1
    done
  } > "$RESULTS/matmul.md"
  cat "$RESULTS/matmul.md"
  python3 bench/gpu/torch_linear_peers.py "$TOKENS" "$ITERATIONS" \
    | tee "$RESULTS/cublas-peers.md"
  exit "$status"
  ;;
*)
  echo "usage: $0 compile|run" >&2
  exit 2
  ;;
esac
