// RUN: lowbit-opt %s --lowbit-fold-permutations --split-input-file | FileCheck %s

// The norm writes its output permuted; its weight is permuted at compile time.
// CHECK-LABEL: func @into_rms_norm
// CHECK-SAME: (%[[H:.*]]: tensor<?x4xf32>, %[[G:.*]]: tensor<4xf32>)
// CHECK: %[[GP:.*]] = lowbit.permute_channels %[[G]] [2, 0, 3, 1] : tensor<4xf32>
// CHECK: %[[N:.*]] = lowbit.rms_norm %[[H]], %[[GP]] {output_permutation = array<i64: 2, 0, 3, 1>}
// CHECK: return %[[N]]
func.func @into_rms_norm(%h: tensor<?x4xf32>, %g: tensor<4xf32>) -> tensor<?x4xf32> {
  %n = lowbit.rms_norm %h, %g : tensor<?x4xf32>, tensor<4xf32>
  %p = lowbit.permute_channels %n [2, 0, 3, 1] : tensor<?x4xf32>
  return %p : tensor<?x4xf32>
}

// -----

// A second permutation composes with the norm's own.
// CHECK-LABEL: func @composes_with_norm_permutation
// CHECK: lowbit.rms_norm {{.*}}output_permutation = array<i64: 3, 2, 1, 0>
func.func @composes_with_norm_permutation(%h: tensor<?x4xf32>, %g: tensor<4xf32>) -> tensor<?x4xf32> {
  %n = lowbit.rms_norm %h, %g {output_permutation = array<i64: 1, 0, 3, 2>} : tensor<?x4xf32>, tensor<4xf32>
  %p = lowbit.permute_channels %n [2, 3, 0, 1] : tensor<?x4xf32>
  return %p : tensor<?x4xf32>
}

// -----

// Through SwiGLU into the output rows of the gate and up projections.
// CHECK-LABEL: func @through_swiglu_into_weight_rows
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32>, %[[WG:.*]]: tensor<3x4xf32>, %[[WU:.*]]: tensor<3x4xf32>)
// CHECK-DAG: %[[WGP:.*]] = lowbit.permute_channels %[[WG]] [2, 0, 1] along 0 : tensor<3x4xf32>
// CHECK-DAG: %[[WUP:.*]] = lowbit.permute_channels %[[WU]] [2, 0, 1] along 0 : tensor<3x4xf32>
// CHECK-DAG: %[[GATE:.*]] = lowbit.linear %[[X]], %[[WGP]]
// CHECK-DAG: %[[UP:.*]] = lowbit.linear %[[X]], %[[WUP]]
// CHECK: %[[S:.*]] = lowbit.swiglu %[[GATE]], %[[UP]]
// CHECK: return %[[S]]
func.func @through_swiglu_into_weight_rows(%x: tensor<?x4xf32>, %wg: tensor<3x4xf32>, %wu: tensor<3x4xf32>) -> tensor<?x3xf32> {
  %g = lowbit.linear %x, %wg : tensor<?x4xf32>, tensor<3x4xf32> -> tensor<?x3xf32>
  %u = lowbit.linear %x, %wu : tensor<?x4xf32>, tensor<3x4xf32> -> tensor<?x3xf32>
  %s = lowbit.swiglu %g, %u : tensor<?x3xf32>
  %p = lowbit.permute_channels %s [2, 0, 1] : tensor<?x3xf32>
  return %p : tensor<?x3xf32>
}

// -----

// Attention mixes heads: its permutation stays for quantization to fuse.
// CHECK-LABEL: func @attention_output_stays
// CHECK: %[[A:.*]] = lowbit.attention
// CHECK: lowbit.permute_channels %[[A]] [1, 0, 3, 2]
func.func @attention_output_stays(%q: tensor<?x4xf32>, %k: tensor<?x4xf32>, %v: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %a = lowbit.attention %q, %k, %v {num_heads = 2 : i64, num_kv_heads = 2 : i64, causal} : tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>
  %p = lowbit.permute_channels %a [1, 0, 3, 2] : tensor<?x4xf32>
  return %p : tensor<?x4xf32>
}

// -----

// A producer with another user keeps its order.
// CHECK-LABEL: func @shared_producer_stays
// CHECK: %[[N:.*]] = lowbit.rms_norm
// CHECK-NOT: output_permutation
// CHECK: lowbit.permute_channels %[[N]]
func.func @shared_producer_stays(%h: tensor<?x4xf32>, %g: tensor<4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  %n = lowbit.rms_norm %h, %g : tensor<?x4xf32>, tensor<4xf32>
  %p = lowbit.permute_channels %n [2, 0, 3, 1] : tensor<?x4xf32>
  return %p, %n : tensor<?x4xf32>, tensor<?x4xf32>
}
