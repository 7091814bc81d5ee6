// RUN: lowbit-opt %s --lowbit-import-calibration="file=%S/Inputs/calibration.json" -split-input-file -verify-diagnostics

func.func @layer_not_in_file(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %w = lowbit.weight "blk.3.attn_q.weight" : tensor<2x4xf32>
  // expected-error-re @+1 {{calibration file '{{.*}}calibration.json' has no statistics for blk.3.attn_q.weight}}
  %y = lowbit.linear %x, %w : tensor<?x4xf32>, tensor<2x4xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

func.func @channel_count_differs(%x: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %w = lowbit.weight "blk.0.attn_q.weight" : tensor<2x8xf32>
  // expected-error-re @+1 {{calibration file '{{.*}}calibration.json' describes 4 input channels of blk.0.attn_q.weight; the layer has 8}}
  %y = lowbit.linear %x, %w : tensor<?x8xf32>, tensor<2x8xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
