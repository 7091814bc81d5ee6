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

// FMPQ's per-block widths and the weight's permutation carry over.
// CHECK-LABEL: func @chosen_block_widths_and_permutation
// CHECK: lowbit.quantize %{{.*}} : tensor<?x8xf32> -> !lowbit.qtensor<?x8, f16, #lowbit.blocks<4, [8, 4], per_token, perm = [5, 1, 0, 2, 3, 4, 6, 7]>>
func.func @chosen_block_widths_and_permutation(%x: tensor<?x8xf32>, %w: tensor<2x8xf32>) -> tensor<?x2xf32> {
  %q = lowbit.quantize %w : tensor<2x8xf32> -> !lowbit.qtensor<2x8, f16, #lowbit.blocks<4, [4, 4], per_channel, perm = [5, 1, 0, 2, 3, 4, 6, 7]>>
  %d = lowbit.dequantize %q : !lowbit.qtensor<2x8, f16, #lowbit.blocks<4, [4, 4], per_channel, perm = [5, 1, 0, 2, 3, 4, 6, 7]>> -> tensor<2x8xf32>
  %y = lowbit.linear %x, %d {lowbit.activation_layout = #lowbit.blocks<4, [8, 4], per_token>} : tensor<?x8xf32>, tensor<2x8xf32> -> tensor<?x2xf32>
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

// -----

// A runtime permutation in front of the layer is fused into quantization:
// both layouts carry it and no permute_channels is left.
// CHECK-LABEL: func @permutation_fused_into_quantization
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf32>, %[[W:.*]]: tensor<2x8xf32>)
// CHECK-NOT: lowbit.permute_channels
// CHECK-DAG: %[[QW:.*]] = lowbit.quantize %[[W]] : tensor<2x8xf32> -> !lowbit.qtensor<2x8, f16, #lowbit.blocks<4, [4, 4], per_channel, perm = [7, 6, 0, 1, 2, 3, 4, 5]>>
// CHECK-DAG: %[[QX:.*]] = lowbit.quantize %[[X]] : tensor<?x8xf32> -> !lowbit.qtensor<?x8, f16, #lowbit.blocks<4, [8, 4], per_token, perm = [7, 6, 0, 1, 2, 3, 4, 5]>>
// CHECK: lowbit.matmul %[[QX]], %[[QW]]
// CHECK-NOT: lowbit.permute_channels
func.func @permutation_fused_into_quantization(%x: tensor<?x8xf32>, %w: tensor<2x8xf32>) -> tensor<?x2xf32> {
  %xp = lowbit.permute_channels %x [7, 6, 0, 1, 2, 3, 4, 5] : tensor<?x8xf32>
  %wp = lowbit.permute_channels %w [7, 6, 0, 1, 2, 3, 4, 5] : tensor<2x8xf32>
  %q = lowbit.quantize %wp : tensor<2x8xf32> -> !lowbit.qtensor<2x8, f16, #lowbit.blocks<4, [4, 4], per_channel>>
  %d = lowbit.dequantize %q : !lowbit.qtensor<2x8, f16, #lowbit.blocks<4, [4, 4], per_channel>> -> tensor<2x8xf32>
  %y = lowbit.linear %xp, %d {lowbit.activation_layout = #lowbit.blocks<4, [8, 4], per_token>} : tensor<?x8xf32>, tensor<2x8xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// Clip-search importance moves back to the original channel order with the
// permutation.
// CHECK-LABEL: func @importance_follows_permutation
// CHECK: lowbit.quantize %{{.*}} {channel_importance = array<f32: 3.000000e+00, 1.000000e+00, 2.000000e+00, 4.000000e+00>, clip_search}
func.func @importance_follows_permutation(%x: tensor<?x4xf32>, %w: tensor<2x4xf32>) -> tensor<?x2xf32> {
  %xp = lowbit.permute_channels %x [1, 2, 0, 3] : tensor<?x4xf32>
  %wp = lowbit.permute_channels %w [1, 2, 0, 3] : tensor<2x4xf32>
  %q = lowbit.quantize %wp {clip_search, channel_importance = array<f32: 1.0, 2.0, 3.0, 4.0>} : tensor<2x4xf32> -> !lowbit.qtensor<2x4, f16, #lowbit.blocks<4, [4], per_channel>>
  %d = lowbit.dequantize %q : !lowbit.qtensor<2x4, f16, #lowbit.blocks<4, [4], per_channel>> -> tensor<2x4xf32>
  %y = lowbit.linear %xp, %d : tensor<?x4xf32>, tensor<2x4xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
