// RUN: lowbit-opt %s --lowbit-fmpq="block-size=4 max-int8-fraction=0.5" --split-input-file | FileCheck %s
// RUN: lowbit-opt %s --lowbit-fmpq="block-size=4 max-int8-fraction=0.5 sort-channels=true" --split-input-file | FileCheck %s --check-prefix=SORT
// RUN: lowbit-opt %s --lowbit-fmpq="block-size=4 max-int8-fraction=0.5 statistic=percentile" --split-input-file | FileCheck %s --check-prefix=PCT

// Channel 5 is 40x the median: it moves to the front, into the one INT8 block.
// CHECK-LABEL: func @one_outlier_block
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf32>)
// CHECK: %[[XP:.*]] = lowbit.permute_channels %[[X]] [5, 0, 1, 2, 3, 4, 6, 7] : tensor<?x8xf32>
// CHECK: %[[W:.*]] = lowbit.weight "blk.0.attn_q.weight"
// CHECK: %[[WP:.*]] = lowbit.permute_channels %[[W]] [5, 0, 1, 2, 3, 4, 6, 7] : tensor<2x8xf32>
// CHECK: lowbit.linear %[[XP]], %[[WP]] {lowbit.activation_layout = #lowbit.blocks<4, [8, 4], per_token>, lowbit.calibration = #lowbit.channel_stats<tokens = 8, absmax = [4.000000e+01, 1.000000e+00, 1.000000e+00, 1.000000e+00, 1.000000e+00, 2.000000e+00, 1.000000e+00, 3.000000e+00]
// With sorting, the INT4 channels follow by decreasing absmax.
// SORT-LABEL: func @one_outlier_block
// SORT: lowbit.permute_channels %{{.*}} [5, 7, 4, 0, 1, 2, 3, 6]
func.func @one_outlier_block(%x: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %w = lowbit.weight "blk.0.attn_q.weight" : tensor<2x8xf32>
  %y = lowbit.linear %x, %w {lowbit.calibration = #lowbit.channel_stats<tokens = 8,
      absmax = [1.0, 1.0, 1.0, 1.0, 2.0, 40.0, 1.0, 3.0],
      percentile = [1.0, 1.0, 1.0, 1.0, 1.0, 30.0, 1.0, 1.0],
      mean_square = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]>}
      : tensor<?x8xf32>, tensor<2x8xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// Layers reading one activation share its permutation.
// CHECK-LABEL: func @shared_input_one_permutation
// CHECK-COUNT-1: lowbit.permute_channels %arg0
// CHECK-NOT: lowbit.permute_channels %arg0
func.func @shared_input_one_permutation(%x: tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xf32>) {
  %wq = lowbit.weight "blk.0.attn_q.weight" : tensor<2x8xf32>
  %wk = lowbit.weight "blk.0.attn_k.weight" : tensor<2x8xf32>
  %q = lowbit.linear %x, %wq {lowbit.calibration = #lowbit.channel_stats<tokens = 8,
      absmax = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 50.0], percentile = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
      mean_square = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]>} : tensor<?x8xf32>, tensor<2x8xf32> -> tensor<?x2xf32>
  %k = lowbit.linear %x, %wk {lowbit.calibration = #lowbit.channel_stats<tokens = 8,
      absmax = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 50.0], percentile = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
      mean_square = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]>} : tensor<?x8xf32>, tensor<2x8xf32> -> tensor<?x2xf32>
  return %q, %k : tensor<?x2xf32>, tensor<?x2xf32>
}

// -----

// Without outliers the order stays and every block is INT4.
// CHECK-LABEL: func @no_outliers
// CHECK-NOT: lowbit.permute_channels
// CHECK: lowbit.activation_layout = #lowbit.blocks<4, [4, 4], per_token>
// The percentile finds channel 2's spike (absmax only) not to be an outlier.
// PCT-LABEL: func @no_outliers
// PCT-NOT: lowbit.permute_channels
func.func @no_outliers(%x: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %w = lowbit.weight "blk.0.ffn_down.weight" : tensor<2x8xf32>
  %y = lowbit.linear %x, %w {lowbit.calibration = #lowbit.channel_stats<tokens = 8,
      absmax = [1.0, 1.0, 7.0, 1.0, 1.0, 1.0, 1.0, 1.0],
      percentile = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
      mean_square = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]>}
      : tensor<?x8xf32>, tensor<2x8xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// Five outliers need two INT8 blocks of 4.
// CHECK-LABEL: func @outliers_fill_two_blocks
// CHECK: lowbit.permute_channels %arg0 [9, 8, 7, 6, 5, 0, 1, 2, 3, 4, 10, 11, 12, 13, 14, 15]
// CHECK: lowbit.activation_layout = #lowbit.blocks<4, [8, 8, 4, 4], per_token>
func.func @outliers_fill_two_blocks(%x: tensor<?x16xf32>) -> tensor<?x2xf32> {
  %w = lowbit.weight "blk.0.ffn_down.weight" : tensor<2x16xf32>
  %y = lowbit.linear %x, %w {lowbit.calibration = #lowbit.channel_stats<tokens = 8,
      absmax = [1.0, 1.0, 1.0, 1.0, 1.0, 20.0, 30.0, 40.0, 50.0, 60.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
      percentile = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
      mean_square = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]>}
      : tensor<?x16xf32>, tensor<2x16xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// The LM head is not a decoder layer: FMPQ leaves it alone.
// CHECK-LABEL: func @lm_head_untouched
// CHECK-NOT: lowbit.permute_channels
// CHECK-NOT: lowbit.activation_layout
func.func @lm_head_untouched(%x: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %w = lowbit.weight "output.weight" : tensor<2x8xf32>
  %y = lowbit.linear %x, %w : tensor<?x8xf32>, tensor<2x8xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
