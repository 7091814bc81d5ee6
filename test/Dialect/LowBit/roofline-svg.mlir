// The roofline plot (format=svg) of known shapes on the H100 SXM model:
// well-formed XML, labelled roofs that meet at the ridges, one point per op
// with its hover title, colours by phase, skipped ops counted.
// RUN: lowbit-opt %s -o /dev/null --lowbit-roofline="hw=h100-sxm hw-dir=%lowbit_src/share/lowbit/hardware seq=2048 context=2048 format=svg output=%t.svg"
// RUN: %PYTHON -c "import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])" %t.svg
// RUN: FileCheck %s < %t.svg
// RUN: FileCheck %s --check-prefix=POINTS < %t.svg
// RUN: grep -c '<circle class="op ' %t.svg | FileCheck %s --check-prefix=COUNT
// RUN: sed -n '/<g class="points"/,/<\/g>/p' %t.svg | FileCheck %s --check-prefix=SKIPPED
// RUN: lowbit-opt %s -o /dev/null --lowbit-roofline="hw=h100-sxm hw-dir=%lowbit_src/share/lowbit/hardware phase=decode context=2048 format=svg" | FileCheck %s --check-prefix=DECODE
// RUN: lowbit-opt %s -o /dev/null --lowbit-roofline="hw=cortex-a76 hw-dir=%lowbit_src/share/lowbit/hardware phase=decode format=svg" | FileCheck %s --check-prefix=CPU
// RUN: not lowbit-opt %s -o /dev/null --lowbit-roofline="hw=h100-sxm hw-dir=%lowbit_src/share/lowbit/hardware format=png" 2>&1 | FileCheck %s --check-prefix=FORMAT

// H100 SXM: fp32 67, fp16 = bf16 989.5, int8 1979 TOPS, no int4; 3.35 TB/s.
// Ridges: 67/3.35 = 20, 989.5/3.35 = 295, 1979/3.35 = 591 ops/B.
// CHECK: <svg xmlns="http://www.w3.org/2000/svg"
// CHECK: <title>Roofline on NVIDIA H100 SXM5 80GB</title>
// CHECK: class="title" {{.*}}>Roofline on NVIDIA H100 SXM5 80GB</text>
// CHECK: class="subtitle" {{.*}}>batch 1 · prefill of 2048 prompt tokens per sequence · decode of 1 token per sequence at context 2048 · memory 3.35 TB/s</text>
// Axes: decade ticks and titles with units.
// CHECK: class="x-tick" {{.*}}>1</text>
// CHECK: class="x-tick" {{.*}}>1000</text>
// CHECK: class="y-tick" {{.*}}>1 T</text>
// CHECK: class="y-tick" {{.*}}>1 P</text>
// CHECK: class="x-label" {{.*}}>arithmetic intensity (operations per byte of memory traffic, ops/B)</text>
// CHECK: class="y-label" {{.*}}>attainable performance (operations per second, ops/s)</text>
// The memory roof rises to the highest ridge, where the int8 roof starts;
// every compute roof is horizontal; fp16 and bf16 share one.
// CHECK: <line x1="{{[0-9.]+}}" y1="{{[0-9.]+}}" x2="[[RIDGE_X:[0-9.]+]]" y2="[[INT8_Y:[0-9.]+]]" class="roof memory"><title>memory 3.35 TB/s</title></line>
// CHECK-NEXT: <line x1="[[RIDGE_X]]" y1="[[INT8_Y]]" x2="{{[0-9.]+}}" y2="[[INT8_Y]]" class="roof compute"><title>int8 1979 TOP/s, ridge 591 ops/B</title></line>
// CHECK-NEXT: <line x1="{{[0-9.]+}}" y1="[[FP16_Y:[0-9.]+]]" x2="{{[0-9.]+}}" y2="[[FP16_Y]]" class="roof compute"><title>fp16/bf16 989.5 TFLOP/s, ridge 295 ops/B</title></line>
// CHECK-NEXT: <line x1="{{[0-9.]+}}" y1="[[FP32_Y:[0-9.]+]]" x2="{{[0-9.]+}}" y2="[[FP32_Y]]" class="roof compute"><title>fp32 67 TFLOP/s, ridge 20 ops/B</title></line>
// CHECK-NEXT: </g>
// CHECK: class="roof-label memory" {{.*}}>memory 3.35 TB/s</text>
// CHECK-NEXT: class="roof-label compute" {{.*}}>int8 1979 TOP/s</text>
// CHECK-NEXT: class="roof-label compute" {{.*}}>fp16/bf16 989.5 TFLOP/s</text>
// CHECK-NEXT: class="roof-label compute" {{.*}}>fp32 67 TFLOP/s</text>
// A compute-bound fp16 op at the fp16 peak sits on the fp16 roof.
// CHECK: <circle class="op prefill" cx="{{[0-9.]+}}" cy="[[FP16_Y]]" {{.*}}><title>@linear_fp16 | prefill | #0 lowbit.linear
// Legend: functions by phase, in their colours; notes.
// CHECK: >decode, context 2048</text>
// CHECK-NEXT: <circle class="legend-swatch decode" {{.*}} fill="#1f77b4"
// CHECK-NEXT: >@linear_fp16</text>
// CHECK-NEXT: <circle class="legend-swatch decode" {{.*}} fill="#17becf"
// CHECK-NEXT: >@quantized_layer</text>
// CHECK: >prefill, seq 2048</text>
// CHECK-NEXT: <circle class="legend-swatch prefill" {{.*}} fill="#ff7f0e"
// CHECK-NEXT: >@linear_fp16</text>
// CHECK-NEXT: <circle class="legend-swatch prefill" {{.*}} fill="#d62728"
// CHECK-NEXT: >@quantized_layer</text>
// CHECK: class="note" {{.*}}>Not drawn: 4 ops with no operations or no
// CHECK-NEXT: class="note" {{.*}}>memory traffic (lowbit.kv_append,</text>
// CHECK-NEXT: class="note" {{.*}}>lowbit.all_reduce).</text>
// CHECK: class="note" {{.*}}>No native int4 peak: int4 work runs at the</text>
// CHECK-NEXT: class="note" {{.*}}>int8 rate.</text>
// CHECK: class="note" {{.*}}>Ridge points (ops/B): int8 591, fp16/bf16 295,
// CHECK-NEXT: class="note" {{.*}}>fp32 20.</text>
// CHECK: </svg>

// Two phases of two functions, 1 + 4 drawn ops each: prefill rings first,
// then decode dots, each in its function's colour of its phase.
// COUNT: 10

// fp16 4096x4096 linear. Prefill: 2*2048*4096*4096 fp16 ops over 67108864
// bytes = 1024 ops/B, compute-bound at 989.5 TOP/s, 69.449 us. Decode:
// 33554432 ops over 33570816 bytes = 1.00 ops/B, memory-bound at
// 33554432 / 10.021 us = 3.348 TOP/s.
// POINTS: <circle class="op prefill" {{.*}} r="6.5" fill="#ff7f0e" fill-opacity="0.15" stroke="#ff7f0e" stroke-width="2"><title>@linear_fp16 | prefill | #0 lowbit.linear
// POINTS-NEXT: loc: roofline-svg.mlir:[[@LINE+22]]:8
// POINTS-NEXT: shape: M=2048 N=4096 K=4096 f16
// POINTS-NEXT: 1024.00 ops/B, 989.5 TOP/s, compute(fp16)-bound, 69.449 us</title></circle>
// The W4A8 layer's ops at prefill: the weight quantized at compile time
// is no point, the activation's quantization is (with `>` escaped).
// POINTS: <circle class="op prefill" {{.*}} fill="#d62728" {{.*}}><title>@quantized_layer | prefill | #2 lowbit.quantize
// POINTS-NEXT: loc: roofline-svg.mlir:[[@LINE+29]]:9
// POINTS-NEXT: shape: 2048x4096 -&gt; 8-bit per_token
// POINTS: <title>@quantized_layer | prefill | #3 lowbit.matmul
// POINTS: <title>@quantized_layer | prefill | #4 lowbit.rms_norm
// POINTS: <title>@quantized_layer | prefill | #6 lowbit.kv_attention
// POINTS: <circle class="op decode" {{.*}} r="4.0" fill="#1f77b4" fill-opacity="0.85" {{.*}}><title>@linear_fp16 | decode | #0 lowbit.linear
// POINTS-NEXT: loc: roofline-svg.mlir:[[@LINE+10]]:8
// POINTS-NEXT: shape: M=1 N=4096 K=4096 f16
// POINTS-NEXT: 1.00 ops/B, 3.348 TOP/s, memory-bound, 10.021 us</title></circle>
// POINTS: <circle class="op decode" {{.*}} fill="#17becf" {{.*}}><title>@quantized_layer | decode | #2 lowbit.quantize
// Ops without arithmetic or without memory traffic have no point.
// SKIPPED: <g class="points"
// SKIPPED-NOT: lowbit.kv_append
// SKIPPED-NOT: lowbit.all_reduce
// SKIPPED: </g>
func.func @linear_fp16(%x: tensor<?x4096xf16>, %w: tensor<4096x4096xf16>) -> tensor<?x4096xf16> {
  %y = lowbit.linear %x, %w : tensor<?x4096xf16>, tensor<4096x4096xf16> -> tensor<?x4096xf16>
  return %y : tensor<?x4096xf16>
}

lowbit.rank_group @tp2 [0, 1]

// A W4A8 projection, a norm, an f16 KV cache that is appended to (no
// arithmetic: not drawn) and attended over, and an all-reduce (link traffic
// only: not drawn).
func.func @quantized_layer(%x: tensor<?x4096xf16>, %norm: tensor<4096xf16>, %pos: index,
    %cache: !lowbit.kv_cache<bits = 16, group = 128, heads = 32, head_dim = 128, max_len = 4096>) -> tensor<?x4096xf16> {
  %w = lowbit.weight "blk.0.attn_q.weight" : tensor<4096x4096xf16>
  %wq = lowbit.quantize %w : tensor<4096x4096xf16> -> !lowbit.qtensor<4096x4096, f16, #lowbit.blocks<128, [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], per_group = 128>>
  %xq = lowbit.quantize %x : tensor<?x4096xf16> -> !lowbit.qtensor<?x4096, f16, #lowbit.blocks<128, [8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8], per_token>>
  %y = lowbit.matmul %xq, %wq
      : !lowbit.qtensor<?x4096, f16, #lowbit.blocks<128, [8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8], per_token>>,
        !lowbit.qtensor<4096x4096, f16, #lowbit.blocks<128, [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], per_group = 128>>
        -> tensor<?x4096xf16>
  %n = lowbit.rms_norm %y, %norm {epsilon = 1.0e-05 : f32} : tensor<?x4096xf16>, tensor<4096xf16>
  %c = lowbit.kv_append %n, %n into %cache at %pos
      : tensor<?x4096xf16>, tensor<?x4096xf16> -> !lowbit.kv_cache<bits = 16, group = 128, heads = 32, head_dim = 128, max_len = 4096>
  %o = lowbit.kv_attention %n, %c at %pos {num_heads = 32 : i64}
      : tensor<?x4096xf16>, !lowbit.kv_cache<bits = 16, group = 128, heads = 32, head_dim = 128, max_len = 4096>
  %r = lowbit.all_reduce %o over @tp2 : tensor<?x4096xf16>
  return %r : tensor<?x4096xf16>
}

// At decode only: no prefill point, no prefill legend entry.
// DECODE: class="subtitle" {{.*}}>batch 1 · decode of 1 token per sequence at context 2048 · memory 3.35 TB/s</text>
// DECODE-NOT: prefill
// DECODE: <circle class="op decode"
// DECODE-NOT: prefill
// DECODE: </svg>

// The Raspberry Pi 5 model: GFLOP/s peaks, no bf16 or int4, fp16 and int8
// roofs of their own.
// CPU: <title>int8 614.4 GOP/s, ridge 36 ops/B</title>
// CPU: <title>fp16 307.2 GFLOP/s, ridge 18 ops/B</title>
// CPU: <title>fp32 153.6 GFLOP/s, ridge 9 ops/B</title>
// CPU: >No native bf16 peak: bf16 work runs at the</text>
// CPU-NEXT: >fp32 rate.</text>
// CPU: >No native int4 peak: int4 work runs at the</text>
// CPU-NEXT: >int8 rate.</text>

// FORMAT: error: lowbit-roofline format must be table, csv, json or svg, found 'png'
