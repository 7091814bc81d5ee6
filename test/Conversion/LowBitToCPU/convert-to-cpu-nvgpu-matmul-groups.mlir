// RUN: lowbit-opt %s --lowbit-convert-to-cpu=isa=nvgpu | FileCheck %s
// RUN: lowbit-opt %s --lowbit-convert-to-cpu | FileCheck %s --check-prefix=CPU

// For GPU models, the matmuls of the same quantized activations whose
// weights share a scale group are one call (one launch): a layer's q, k and
// v, even when k and v are narrower (grouped-query attention), and its gate
// and up projections. The call sits where the first matmul was; weights
// defined after it are placed all the same. CPU models keep a call per
// matmul.

!act = !lowbit.qtensor<?x64, f16, #lowbit.blocks<64, [4], per_token>>
!wq = !lowbit.qtensor<64x64, f16, #lowbit.blocks<64, [4], per_group = 32>>
!wkv = !lowbit.qtensor<32x64, f16, #lowbit.blocks<64, [4], per_group = 32>>
!wo = !lowbit.qtensor<64x64, f16, #lowbit.blocks<64, [4], per_group = 64>>

// The permuted v weight, defined after the first matmul, is stored as before.
// CHECK: lowbit.cpu.weights = [
// CHECK-SAME: {axes = array<i64: 0>, form = "interleaved", name = "blk.0.attn_v.weight"

// CHECK-LABEL: func.func @lowbit_prefill(
// CHECK: call @lowbit_cpu_quantize_64_b64_g64_4_f16(%{{[^,]*}}, %[[CODES:[^,]*]], %[[SCALES:[^)]*]])
// CHECK: call @lowbit_nvgpu_matmul_64_32_32x64_ga64_gw32_ab64_4x1(%[[CODES]], %[[SCALES]], %{{[^,]*}}, %{{[^,]*}}, %[[Q:[^,]*]], %{{[^,]*}}, %{{[^,]*}}, %[[K:[^,]*]], %{{[^,]*}}, %{{[^,]*}}, %[[V:[^)]*]]) : (memref<?x64xi8>, memref<?x1xf32>, memref<64x32xi8>, memref<64x2xf32>, memref<?x64xf32>, memref<32x32xi8>, memref<32x2xf32>, memref<?x32xf32>, memref<32x32xi8>, memref<32x2xf32>, memref<?x32xf32>) -> ()
// A weight of another scale group gets a launch of its own.
// CHECK: call @lowbit_nvgpu_matmul_64x64_ga64_gw64_ab64_4x1(%[[CODES]], %[[SCALES]],
// CHECK: call @lowbit_cpu_add_32(%[[K]], %[[V]],
// CHECK: call @lowbit_cpu_add_64(%[[Q]],
// CHECK: call @lowbit_cpu_quantize_64_b64_g64_4_f16(
// Other activations: another launch, here of a lone matmul.
// CHECK: call @lowbit_nvgpu_matmul_64x64_ga64_gw32_ab64_4x1(
// CHECK-NOT: call @lowbit_nvgpu_matmul
// CHECK: return

// The declaration lists each weight's codes, scales and result.
// CHECK: func.func private @lowbit_nvgpu_matmul_64_32_32x64_ga64_gw32_ab64_4x1({{.*}}) attributes {lowbit.activation_block_bits = array<i64: 4>, lowbit.activation_block_size = 64 : i64, lowbit.gpu_matmul}

// CPU-LABEL: func.func @lowbit_prefill(
// CPU-COUNT-5: call @lowbit_cpu_matmul_
// CPU-NOT: call @lowbit_cpu_matmul_

module attributes {lowbit.checkpoint = "tiny.gguf"} {
  func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index) -> tensor<?x64xf32> {
    %table = lowbit.weight "token_embd.weight" : tensor<8x64xf32>
    %x = lowbit.embedding %table[%tokens] : tensor<8x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
    %a = lowbit.quantize %x : tensor<?x64xf32> -> !act
    %wq = lowbit.weight "blk.0.attn_q.weight" : tensor<64x64xf32>
    %qq = lowbit.quantize %wq : tensor<64x64xf32> -> !wq
    %q = lowbit.matmul %a, %qq : !act, !wq -> tensor<?x64xf32>
    %wk = lowbit.weight "blk.0.attn_k.weight" : tensor<32x64xf32>
    %qk = lowbit.quantize %wk : tensor<32x64xf32> -> !wkv
    %k = lowbit.matmul %a, %qk : !act, !wkv -> tensor<?x32xf32>
    %wo = lowbit.weight "blk.0.attn_output.weight" : tensor<64x64xf32>
    %qo = lowbit.quantize %wo : tensor<64x64xf32> -> !wo
    %o = lowbit.matmul %a, %qo : !act, !wo -> tensor<?x64xf32>
    %wv = lowbit.weight "blk.0.attn_v.weight" : tensor<32x64xf32>
    %perm = lowbit.permute_channels %wv [1, 0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31] along 0 : tensor<32x64xf32>
    %qv = lowbit.quantize %perm : tensor<32x64xf32> -> !wkv
    %v = lowbit.matmul %a, %qv : !act, !wkv -> tensor<?x32xf32>
    %kv = arith.addf %k, %v : tensor<?x32xf32>
    %qo2 = arith.addf %q, %o : tensor<?x64xf32>
    %b = lowbit.quantize %qo2 : tensor<?x64xf32> -> !act
    %d = lowbit.matmul %b, %qq : !act, !wq -> tensor<?x64xf32>
    return %d : tensor<?x64xf32>
  }
}
