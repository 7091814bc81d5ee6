// RUN: lowbit-opt %s --lowbit-convert-to-cpu=isa=nvgpu | FileCheck %s

// For GPU models, a matmul that lowbit's GPU matmul kernels take (INT4
// weights, channels and scale groups in multiples of 32, an f32 result) is
// a call of a marked declaration that lowbit-define-gpu-matmuls defines,
// and its weights are stored interleaved; other matmuls keep the generic
// kernel and the packed form. The declaration carries the activations'
// block widths (for s4 tensor cores), and its name spells their runs.

!act = !lowbit.qtensor<?x64, f16, #lowbit.blocks<32, [8, 4], per_token>>
!w4 = !lowbit.qtensor<32x64, f16, #lowbit.blocks<32, [4, 4], per_group = 32>>
!w8 = !lowbit.qtensor<32x64, f16, #lowbit.blocks<32, [8, 4], per_group = 32>>

// CHECK: lowbit.cpu.weights = [
// CHECK-SAME: {form = "interleaved", name = "blk.0.attn_k.weight"
// CHECK-SAME: {form = "packed", name = "blk.0.attn_v.weight"

// CHECK-LABEL: func.func @lowbit_prefill(
// CHECK: call @lowbit_nvgpu_matmul_32x64_ga32_gw32_ab32_8x1_4x1(
// CHECK: call @lowbit_cpu_matmul_32x64_b32_ga32_gw32_84_f32(

// CHECK: func.func private @lowbit_nvgpu_matmul_32x64_ga32_gw32_ab32_8x1_4x1(memref<?x64xi8>, memref<?x2xf32>, memref<32x32xi8>, memref<32x2xf32>, memref<?x32xf32>) attributes {lowbit.activation_block_bits = array<i64: 8, 4>, lowbit.activation_block_size = 32 : i64, lowbit.gpu_matmul}
// CHECK: func.func private @lowbit_cpu_matmul_32x64_b32_ga32_gw32_84_f32(
// CHECK-NEXT: %{{.*}} = arith.constant

module attributes {lowbit.checkpoint = "tiny.gguf"} {
  func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index) -> tensor<?x32xf32> {
    %table = lowbit.weight "token_embd.weight" : tensor<8x64xf32>
    %x = lowbit.embedding %table[%tokens] : tensor<8x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
    %a = lowbit.quantize %x : tensor<?x64xf32> -> !act
    %wk = lowbit.weight "blk.0.attn_k.weight" : tensor<32x64xf32>
    %qk = lowbit.quantize %wk : tensor<32x64xf32> -> !w4
    %k = lowbit.matmul %a, %qk : !act, !w4 -> tensor<?x32xf32>
    %wv = lowbit.weight "blk.0.attn_v.weight" : tensor<32x64xf32>
    %qv = lowbit.quantize %wv : tensor<32x64xf32> -> !w8
    %v = lowbit.matmul %a, %qv : !act, !w8 -> tensor<?x32xf32>
    %sum = arith.addf %k, %v : tensor<?x32xf32>
    return %sum : tensor<?x32xf32>
  }
}
