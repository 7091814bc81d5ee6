// RUN: lowbit-opt %s --lowbit-quantize-weights -verify-diagnostics --split-input-file
// RUN: not lowbit-opt %s --lowbit-quantize-weights="bits=3" 2>&1 | FileCheck %s --check-prefix=BITS
// RUN: not lowbit-opt %s --lowbit-quantize-weights="bits=8 asymmetric=true" 2>&1 | FileCheck %s --check-prefix=ASYM8

// BITS: error: weight bits must be 4 or 8, found 3
// ASYM8: error: asymmetric weights are 4-bit only: bits=8 and int8-outlier-blocks do not combine with asymmetric

func.func @block_does_not_divide(%x: tensor<?x200xf32>) -> tensor<?x64xf32> {
  %w = lowbit.weight "blk.0.attn_q.weight" : tensor<64x200xf32>
  // expected-error @+1 {{block size 128 does not divide the 200 input channels of blk.0.attn_q.weight}}
  %y = lowbit.linear %x, %w : tensor<?x200xf32>, tensor<64x200xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
