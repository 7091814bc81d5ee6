// RUN: lowbit-opt %s --lowbit-quantize-weights="group-size=4" --split-input-file | FileCheck %s
// RUN: lowbit-opt %s --lowbit-quantize-weights="group-size=4 int8-outlier-blocks=true" --split-input-file | FileCheck %s --check-prefix=OUTLIER
// RUN: lowbit-opt %s --lowbit-quantize-weights="block-size=2 group-size=2 clip-search=true" --split-input-file | FileCheck %s --check-prefix=CLIP

// A permuted weight (FMPQ) is quantized in FMPQ's blocks; with
// int8-outlier-blocks the block facing INT8 activations is 8-bit too.
// CHECK-LABEL: func @fmpq_blocks_and_permuted_weight
// CHECK: %[[P:.*]] = lowbit.permute_channels
// CHECK: lowbit.quantize %[[P]] : tensor<2x8xf32> -> !lowbit.qtensor<2x8, f16, #lowbit.blocks<4, [4, 4], per_group = 4>>
// OUTLIER-LABEL: func @fmpq_blocks_and_permuted_weight
// OUTLIER: lowbit.quantize {{.*}} #lowbit.blocks<4, [8, 4], per_group = 4>
func.func @fmpq_blocks_and_permuted_weight(%x: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %w = lowbit.weight "blk.0.attn_q.weight" : tensor<2x8xf32>
  %p = lowbit.permute_channels %w [5, 0, 1, 2, 3, 4, 6, 7] : tensor<2x8xf32>
  %y = lowbit.linear %x, %p {lowbit.activation_layout = #lowbit.blocks<4, [8, 4], per_token>} : tensor<?x8xf32>, tensor<2x8xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// CHECK-LABEL: func @clip_search_with_importance
// CHECK-NOT: clip_search
// Clip search weighs errors by the calibrated mean square of each channel.
// CLIP-LABEL: func @clip_search_with_importance
// CLIP: lowbit.quantize %{{.*}} {channel_importance = array<f32: 2.500000e-01, 4.000000e+00, 1.000000e+00, 1.000000e+00>, clip_search}
func.func @clip_search_with_importance(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %w = lowbit.weight "blk.0.attn_q.weight" : tensor<2x4xf32>
  %y = lowbit.linear %x, %w {lowbit.activation_layout = #lowbit.blocks<4, [4], per_token>, lowbit.calibration = #lowbit.channel_stats<tokens = 4, absmax = [1.0, 4.0, 1.0, 1.0], percentile = [1.0, 4.0, 1.0, 1.0], mean_square = [0.25, 4.0, 1.0, 1.0]>} : tensor<?x4xf32>, tensor<2x4xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
