// RUN: lowbit-opt %s --lowbit-convert-to-cpu=isa=nvgpu | FileCheck %s
// RUN: lowbit-opt %s --lowbit-convert-to-cpu | FileCheck %s --check-prefix=CPU

// For GPU models, the quantization of an RMSNorm's or a SwiGLU's output (its
// only use) is one kernel that reads the producer's inputs, and stores the
// residual sum the norm reads when that sum's other users come later; a
// quantization of mixed bit widths is one nest over all its groups; rotary
// embeddings give every (token, head, pair) an iteration. CPU models keep
// the producers' kernels and rotate all heads of a pair in one iteration.

!act = !lowbit.qtensor<?x64, f16, #lowbit.blocks<32, [8, 4], per_token>>
!w = !lowbit.qtensor<64x64, f16, #lowbit.blocks<32, [4, 4], per_group = 32>>

// CHECK-LABEL: func.func @lowbit_prefill(
// CHECK: call @lowbit_cpu_embedding_8x64(
// CHECK-NOT: call @lowbit_cpu_rms_norm_64
// CHECK: call @lowbit_cpu_rms_norm_eps{{0x[0-9a-f]+}}_p{{[0-9]+}}_quantize_64_b32_g32_84_f16(%{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}) :
// The two matmuls of the norm's quantized output are one launch
// (convert-to-cpu-nvgpu-matmul-groups.mlir).
// CHECK: call @lowbit_nvgpu_matmul_64_64x64_ga32_gw32_ab32_8x1_4x1(
// CHECK: call @lowbit_cpu_rotary_64_h32_t{{0x[0-9a-f]+}}(
// CHECK-NOT: call @lowbit_cpu_swiglu_64
// CHECK: call @lowbit_cpu_swiglu_quantize_64_b32_g32_84_f16(
// CHECK: call @lowbit_nvgpu_matmul_64x64_ga32_gw32_ab32_8x1_4x1(
// The residual sum the norm reads is computed and stored by the same kernel
// when its other users come after the quantization.
// CHECK-NOT: call @lowbit_cpu_add_64
// CHECK: call @lowbit_cpu_add_rms_norm_eps{{0x[0-9a-f]+}}_quantize_64_b32_g32_84_f16(%[[X:[^,]*]], %[[D:[^,]*]], %{{[^,]*}}, %[[H:[^,]*]], %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}) :
// CHECK: call @lowbit_nvgpu_matmul_64x64_ga32_gw32_ab32_8x1_4x1(
// CHECK: call @lowbit_cpu_add_64(%[[H]], %{{[^,]*}}, %[[H2:[^)]*]])
// CHECK: call @lowbit_cpu_add_64(%[[H2]],
// CHECK: call @lowbit_cpu_rms_norm_eps{{0x[0-9a-f]+}}_quantize_64_b32_g32_84_f16(%[[H2]],
// A norm whose output has two users keeps its own kernel.
// CHECK: call @lowbit_cpu_rms_norm_64_eps{{0x[0-9a-f]+}}(
// CHECK: call @lowbit_cpu_quantize_64_b32_g32_84_f16(
// CHECK: call @lowbit_cpu_linear_8x64(

// The fused kernel: up to 16 token rows, per (token, group), the row's sum
// of squares, the group's absmax and its codes, each over a warp's lanes on
// the GPU; the largest code is 127 in the INT8 group and 7 in the INT4 one.
// More rows store each row's inverse RMS first.
// CHECK-LABEL: func.func private @lowbit_cpu_rms_norm_eps{{.*}}_quantize_64_b32_g32_84_f16(
// CHECK-SAME: %[[INPUT:[^:]*]]: memref<?x64xf32>, %[[WEIGHT:[^:]*]]: memref<64xf32>, %{{.*}}: memref<?x64xi8>, %{{.*}}: memref<?x2xf32>, %[[STATS:[^:]*]]: memref<?xf32>)
// CHECK: %[[FEW:.*]] = arith.cmpi ule, %{{.*}}, %c16
// CHECK: scf.if %[[FEW]] {
// CHECK: scf.parallel (%[[T:.*]], %[[G:.*]]) =
// CHECK: %[[INT8_GROUP:.*]] = arith.cmpi ult, %[[G]], %c1
// CHECK: arith.select %[[INT8_GROUP]], %cst{{.*}}, %cst
// CHECK: scf.for
// CHECK: memref.load %[[INPUT]][%[[T]], %{{.*}}]
// CHECK: } {lowbit.lane_split = "add"}
// CHECK: math.sqrt
// CHECK: %[[TABLE:.*]] = memref.get_global @lowbit_cpu_permutation_p
// CHECK: scf.for
// CHECK: memref.load %[[TABLE]]
// CHECK: memref.load %[[WEIGHT]]
// CHECK: } {lowbit.lane_split = "max"}
// CHECK: scf.for
// CHECK: } {lowbit.lane_split = "independent"}
// CHECK: } else {
// CHECK: scf.parallel (%[[ROW:[^)]*]]) =
// CHECK: } {lowbit.lane_split = "add"}
// CHECK: memref.store %{{.*}}, %[[STATS]][%[[ROW]]]
// CHECK: scf.parallel
// CHECK: memref.load %[[STATS]]
// CHECK-NOT: lowbit.lane_split = "add"
// CHECK: } {lowbit.lane_split = "max"}
// CHECK: return

// CHECK-LABEL: func.func private @lowbit_cpu_rotary_64_h32_t{{0x[0-9a-f]+}}(
// CHECK: scf.parallel (%{{.*}}, %{{.*}}, %{{.*}}) = (%[[ZERO:.*]], %[[ZERO]], %[[ZERO]]) to (%{{.*}}, %c2{{.*}}, %c16{{.*}})
// CHECK-NOT: scf.for
// CHECK: return

// CHECK-LABEL: func.func private @lowbit_cpu_swiglu_quantize_64_b32_g32_84_f16(
// CHECK-SAME: %[[GATE:[^:]*]]: memref<?x64xf32>, %[[UP:[^:]*]]: memref<?x64xf32>,
// CHECK: scf.parallel
// CHECK: memref.load %[[GATE]]
// CHECK: memref.load %[[UP]]
// CHECK: math.exp
// CHECK: } {lowbit.lane_split = "max"}

// The fused sum: every lane stores the sums of the group's own channels.
// CHECK-LABEL: func.func private @lowbit_cpu_add_rms_norm_eps{{.*}}_quantize_64_b32_g32_84_f16(
// CHECK-SAME: %[[LHS:[^:]*]]: memref<?x64xf32>, %[[RHS:[^:]*]]: memref<?x64xf32>, %{{.*}}: memref<64xf32>, %[[SUM:[^:]*]]: memref<?x64xf32>,
// CHECK: } {lowbit.lane_split = "add"}
// CHECK: } {lowbit.lane_split = "max"}
// CHECK: scf.for %[[C:[^ ]*]] =
// CHECK: memref.store %{{.*}} : memref<?x64xi8>
// CHECK: %[[L:.*]] = memref.load %[[LHS]][%{{.*}}, %[[C]]]
// CHECK: %[[R:.*]] = memref.load %[[RHS]][%{{.*}}, %[[C]]]
// CHECK: %[[S:.*]] = arith.addf %[[L]], %[[R]]
// CHECK: memref.store %[[S]], %[[SUM]][%{{.*}}, %[[C]]]
// CHECK: } {lowbit.lane_split = "independent"}

// CPU-LABEL: func.func @lowbit_prefill(
// CPU: call @lowbit_cpu_rms_norm_64_eps{{0x[0-9a-f]+}}_p{{[0-9]+}}(
// CPU: call @lowbit_cpu_quantize_64_b32_g32_84_f16(
// CPU: call @lowbit_cpu_rotary_64_h32_t{{0x[0-9a-f]+}}(
// CPU: call @lowbit_cpu_swiglu_64(
// CPU: call @lowbit_cpu_quantize_64_b32_g32_84_f16(
// CPU: call @lowbit_cpu_add_64(
// CPU: call @lowbit_cpu_rms_norm_64_eps
// CPU-LABEL: func.func private @lowbit_cpu_rotary_64_h32_t{{0x[0-9a-f]+}}(
// CPU: scf.parallel (%{{.*}}, %{{.*}}) = (%[[ZERO:.*]], %[[ZERO]]) to (%{{.*}}, %c16{{.*}})
// CPU: scf.for
// CPU-NOT: {{rms_norm|swiglu}}_{{.*}}quantize

module attributes {lowbit.checkpoint = "tiny.gguf"} {
  func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index) -> tensor<?x8xf32> {
    %table = lowbit.weight "token_embd.weight" : tensor<8x64xf32>
    %x = lowbit.embedding %table[%tokens] : tensor<8x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
    %g0 = lowbit.weight "blk.0.attn_norm.weight" : tensor<64xf32>
    %n0 = lowbit.rms_norm %x, %g0 {output_permutation = array<i64: 1, 0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63>} : tensor<?x64xf32>, tensor<64xf32>
    %a0 = lowbit.quantize %n0 : tensor<?x64xf32> -> !act
    %wq = lowbit.weight "blk.0.attn_q.weight" : tensor<64x64xf32>
    %qq = lowbit.quantize %wq : tensor<64x64xf32> -> !w
    %q = lowbit.matmul %a0, %qq : !act, !w -> tensor<?x64xf32>
    %r = lowbit.rotary %q, %positions {head_dim = 32 : i64} : tensor<?x64xf32>, tensor<?xi32>
    %wu = lowbit.weight "blk.0.ffn_up.weight" : tensor<64x64xf32>
    %qu = lowbit.quantize %wu : tensor<64x64xf32> -> !w
    %u = lowbit.matmul %a0, %qu : !act, !w -> tensor<?x64xf32>
    %s = lowbit.swiglu %r, %u : tensor<?x64xf32>
    %a1 = lowbit.quantize %s : tensor<?x64xf32> -> !act
    %wd = lowbit.weight "blk.0.ffn_down.weight" : tensor<64x64xf32>
    %qd = lowbit.quantize %wd : tensor<64x64xf32> -> !w
    %d = lowbit.matmul %a1, %qd : !act, !w -> tensor<?x64xf32>
    %h = arith.addf %x, %d : tensor<?x64xf32>
    %g2 = lowbit.weight "blk.1.attn_norm.weight" : tensor<64xf32>
    %n2 = lowbit.rms_norm %h, %g2 : tensor<?x64xf32>, tensor<64xf32>
    %a3 = lowbit.quantize %n2 : tensor<?x64xf32> -> !act
    %wk = lowbit.weight "blk.1.attn_k.weight" : tensor<64x64xf32>
    %qk = lowbit.quantize %wk : tensor<64x64xf32> -> !w
    %k = lowbit.matmul %a3, %qk : !act, !w -> tensor<?x64xf32>
    %h2 = arith.addf %h, %k : tensor<?x64xf32>
    %n3 = lowbit.rms_norm %h2, %g2 : tensor<?x64xf32>, tensor<64xf32>
    %early = arith.addf %h2, %k : tensor<?x64xf32>
    %a4 = lowbit.quantize %n3 : tensor<?x64xf32> -> !act
    %v = lowbit.matmul %a4, %qk : !act, !w -> tensor<?x64xf32>
    %h3 = arith.addf %early, %v : tensor<?x64xf32>
    %g1 = lowbit.weight "output_norm.weight" : tensor<64xf32>
    %n1 = lowbit.rms_norm %h3, %g1 : tensor<?x64xf32>, tensor<64xf32>
    %a2 = lowbit.quantize %n1 : tensor<?x64xf32> -> !act
    %wo = lowbit.weight "blk.0.attn_output.weight" : tensor<64x64xf32>
    %qo = lowbit.quantize %wo : tensor<64x64xf32> -> !w
    %o = lowbit.matmul %a2, %qo : !act, !w -> tensor<?x64xf32>
    %sum = arith.addf %n1, %o : tensor<?x64xf32>
    %head = lowbit.weight "output.weight" : tensor<8x64xf32>
    %logits = lowbit.linear %sum, %head : tensor<?x64xf32>, tensor<8x64xf32> -> tensor<?x8xf32>
    return %logits : tensor<?x8xf32>
  }
}
