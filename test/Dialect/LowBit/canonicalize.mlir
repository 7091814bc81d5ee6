// RUN: lowbit-opt %s --canonicalize --split-input-file | FileCheck %s

// CHECK-LABEL: func @permutation_then_inverse_vanishes
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32>)
// CHECK-NOT: lowbit.permute_channels
// CHECK: return %[[X]]
func.func @permutation_then_inverse_vanishes(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %0 = lowbit.permute_channels %x [3, 0, 1, 2] : tensor<?x4xf32>
  %1 = lowbit.permute_channels %0 [1, 2, 3, 0] : tensor<?x4xf32>
  return %1 : tensor<?x4xf32>
}

// -----

// CHECK-LABEL: func @identity_permutation_vanishes
// CHECK-SAME: (%[[X:.*]]: tensor<2x3xf32>)
// CHECK-NEXT: return %[[X]]
func.func @identity_permutation_vanishes(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = lowbit.permute_channels %x [0, 1, 2] : tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// result[i] = x[p1[p2[i]]]: p1 = [1, 2, 3, 0], p2 = [1, 0, 3, 2] gives [2, 1, 0, 3].
// CHECK-LABEL: func @consecutive_permutations_compose
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32>)
// CHECK-NEXT: %[[P:.*]] = lowbit.permute_channels %[[X]] [2, 1, 0, 3] : tensor<?x4xf32>
// CHECK-NEXT: return %[[P]]
func.func @consecutive_permutations_compose(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %0 = lowbit.permute_channels %x [1, 2, 3, 0] : tensor<?x4xf32>
  %1 = lowbit.permute_channels %0 [1, 0, 3, 2] : tensor<?x4xf32>
  return %1 : tensor<?x4xf32>
}

// -----

// CHECK-LABEL: func @quantize_of_dequantize_folds
// CHECK-SAME: (%[[Q:.*]]: !lowbit.qtensor
// CHECK-NEXT: return %[[Q]]
func.func @quantize_of_dequantize_folds(%q: !lowbit.qtensor<?x8, f16, #lowbit.blocks<4, [8, 4], per_token>>) -> !lowbit.qtensor<?x8, f16, #lowbit.blocks<4, [8, 4], per_token>> {
  %0 = lowbit.dequantize %q : !lowbit.qtensor<?x8, f16, #lowbit.blocks<4, [8, 4], per_token>> -> tensor<?x8xf32>
  %1 = lowbit.quantize %0 : tensor<?x8xf32> -> !lowbit.qtensor<?x8, f16, #lowbit.blocks<4, [8, 4], per_token>>
  return %1 : !lowbit.qtensor<?x8, f16, #lowbit.blocks<4, [8, 4], per_token>>
}

// -----

// Requantizing to a different layout is a real conversion and stays.
// CHECK-LABEL: func @requantize_to_other_layout_stays
// CHECK: lowbit.dequantize
// CHECK: lowbit.quantize
func.func @requantize_to_other_layout_stays(%q: !lowbit.qtensor<?x8, f16, #lowbit.blocks<4, [8, 4], per_token>>) -> !lowbit.qtensor<?x8, f16, #lowbit.blocks<4, [4, 4], per_token>> {
  %0 = lowbit.dequantize %q : !lowbit.qtensor<?x8, f16, #lowbit.blocks<4, [8, 4], per_token>> -> tensor<?x8xf32>
  %1 = lowbit.quantize %0 : tensor<?x8xf32> -> !lowbit.qtensor<?x8, f16, #lowbit.blocks<4, [4, 4], per_token>>
  return %1 : !lowbit.qtensor<?x8, f16, #lowbit.blocks<4, [4, 4], per_token>>
}

// -----

// Dequantize then quantize loses nothing, but quantize then dequantize rounds:
// it must not fold.
// CHECK-LABEL: func @dequantize_of_quantize_stays
// CHECK: lowbit.quantize
// CHECK: lowbit.dequantize
func.func @dequantize_of_quantize_stays(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = lowbit.quantize %x : tensor<?x8xf32> -> !lowbit.qtensor<?x8, f16, #lowbit.blocks<4, [8, 4], per_token>>
  %1 = lowbit.dequantize %0 : !lowbit.qtensor<?x8, f16, #lowbit.blocks<4, [8, 4], per_token>> -> tensor<?x8xf32>
  return %1 : tensor<?x8xf32>
}
