// RUN: lowbit-opt %s --lowbit-quantize-activations="bits=4" --split-input-file | FileCheck %s

// CHECK-LABEL: func @linear_becomes_integer_matmul
// CHECK-SAME: (%[[X:.*]]: tensor<?x256xf32>
// CHECK: %[[QW:.*]] = lowbit.quantize %{{.*}} : tensor<64x256xf32> -> !lowbit.qtensor<64x256, f16, #lowbit.blocks<128, [4, 4], per_group = 64>>
// CHECK-NOT: lowbit.dequantize
// CHECK: %[[QX:.*]] = lowbit.quantize %[[X]] : tensor<?x256xf32> -> !lowbit.qtensor<?x256, f16, #lowbit.blocks<128, [4, 4], per_token>>
// CHECK: %[[Y:.*]] = lowbit.matmul %[[QX]], %[[QW]] : {{.*}} -> tensor<?x64xf32>
// CHECK: return %[[Y]]
func.func @linear_becomes_integer_matmul(%x: tensor<?x256xf32>, %w: tensor<64x256xf32>) -> tensor<?x64xf32> {
  %q = lowbit.quantize %w : tensor<64x256xf32> -> !lowbit.qtensor<64x256, f16, #lowbit.blocks<128, [4, 4], per_group = 64>>
  %d = lowbit.dequantize %q : !lowbit.qtensor<64x256, f16, #lowbit.blocks<128, [4, 4], per_group = 64>> -> tensor<64x256xf32>
  %y = lowbit.linear %x, %d : tensor<?x256xf32>, tensor<64x256xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// FMPQ's per-block choice and the weight's permutation carry over.
// CHECK-LABEL: func @chosen_block_widths_and_permutation
// CHECK: lowbit.quantize %{{.*}} : tensor<?x8xf32> -> !lowbit.qtensor<?x8, f16, #lowbit.blocks<4, [8, 4], per_token, perm = [5, 1, 0, 2, 3, 4, 6, 7]>>
func.func @chosen_block_widths_and_permutation(%x: tensor<?x8xf32>, %w: tensor<2x8xf32>) -> tensor<?x2xf32> {
  %q = lowbit.quantize %w : tensor<2x8xf32> -> !lowbit.qtensor<2x8, f16, #lowbit.blocks<4, [4, 4], per_channel, perm = [5, 1, 0, 2, 3, 4, 6, 7]>>
  %d = lowbit.dequantize %q : !lowbit.qtensor<2x8, f16, #lowbit.blocks<4, [4, 4], per_channel, perm = [5, 1, 0, 2, 3, 4, 6, 7]>> -> tensor<2x8xf32>
  %y = lowbit.linear %x, %d {lowbit.activation_bits = array<i64: 8, 4>} : tensor<?x8xf32>, tensor<2x8xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// Linears over float weights are left alone.
// CHECK-LABEL: func @float_weight_stays
// CHECK: lowbit.linear
// CHECK-NOT: lowbit.matmul
func.func @float_weight_stays(%x: tensor<?x8xf32>, %w: tensor<2x8xf32>) -> tensor<?x2xf32> {
  %y = lowbit.linear %x, %w : tensor<?x8xf32>, tensor<2x8xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
