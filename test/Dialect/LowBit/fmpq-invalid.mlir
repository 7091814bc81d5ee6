// RUN: lowbit-opt %s --lowbit-fmpq="block-size=4" -split-input-file -verify-diagnostics
// RUN: not lowbit-opt %s --lowbit-fmpq="statistic=median" 2>&1 | FileCheck %s --check-prefix=STAT
// RUN: not lowbit-opt %s --lowbit-fmpq="max-int8-fraction=1.5" 2>&1 | FileCheck %s --check-prefix=FRACTION

// STAT: error: statistic must be absmax or percentile, found 'median'
// FRACTION: error: FMPQ needs block-size > 0, threshold > 0 and max-int8-fraction in [0, 1]; found 128, 8.000000e+00, 1.500000e+00

func.func @uncalibrated(%x: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %w = lowbit.weight "blk.0.attn_q.weight" : tensor<2x8xf32>
  // expected-error @+1 {{linear layer has no calibration statistics (run lowbit-import-calibration first)}}
  %y = lowbit.linear %x, %w : tensor<?x8xf32>, tensor<2x8xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

func.func @block_does_not_divide(%x: tensor<?x6xf32>) -> tensor<?x2xf32> {
  %w = lowbit.weight "blk.0.attn_q.weight" : tensor<2x6xf32>
  // expected-error @+1 {{block size 4 does not divide the 6 input channels of blk.0.attn_q.weight}}
  %y = lowbit.linear %x, %w {lowbit.calibration = #lowbit.channel_stats<tokens = 8,
      absmax = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0], percentile = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
      mean_square = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]>} : tensor<?x6xf32>, tensor<2x6xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// Two blocks and a 25% budget allow no INT8 block: the outlier stays INT4.
func.func @budget_too_small(%x: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %w = lowbit.weight "blk.0.attn_q.weight" : tensor<2x8xf32>
  // expected-warning @+1 {{input of blk.0.attn_q.weight: 1 outlier channels but max-int8-fraction 2.500000e-01 allows 0 INT8 block(s) of 4 channels out of 2; 1 outliers stay in INT4 blocks}}
  %y = lowbit.linear %x, %w {lowbit.calibration = #lowbit.channel_stats<tokens = 8,
      absmax = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 50.0], percentile = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
      mean_square = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]>} : tensor<?x8xf32>, tensor<2x8xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
