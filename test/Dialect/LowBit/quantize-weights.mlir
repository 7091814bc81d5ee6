// RUN: lowbit-opt %s --lowbit-quantize-weights --split-input-file | FileCheck %s
// RUN: lowbit-opt %s --lowbit-quantize-weights="bits=8 group-size=0" --split-input-file | FileCheck %s --check-prefix=W8
// RUN: lowbit-opt %s --lowbit-quantize-weights="include-lm-head=true" --split-input-file | FileCheck %s --check-prefix=HEAD
// RUN: lowbit-opt %s --lowbit-quantize-weights="asymmetric=true group-size=64" --split-input-file | FileCheck %s --check-prefix=ASYM

// CHECK-LABEL: func @layer_weight_is_quantized
// CHECK: %[[W:.*]] = lowbit.weight "blk.0.attn_q.weight" : tensor<64x256xf32>
// CHECK: %[[Q:.*]] = lowbit.quantize %[[W]] : tensor<64x256xf32> -> !lowbit.qtensor<64x256, f16, #lowbit.blocks<128, [4, 4], per_group = 128>>
// CHECK: %[[D:.*]] = lowbit.dequantize %[[Q]] : {{.*}} -> tensor<64x256xf32>
// CHECK: lowbit.linear %{{.*}}, %[[D]]
// W8-LABEL: func @layer_weight_is_quantized
// W8: lowbit.quantize {{.*}} -> !lowbit.qtensor<64x256, f16, #lowbit.blocks<128, [8, 8], per_channel>>
// ASYM-LABEL: func @layer_weight_is_quantized
// ASYM: lowbit.quantize {{.*}} -> !lowbit.qtensor<64x256, f16, #lowbit.blocks<128, [4, 4], per_group = 64, asymmetric>>
func.func @layer_weight_is_quantized(%x: tensor<?x256xf32>) -> tensor<?x64xf32> {
  %w = lowbit.weight "blk.0.attn_q.weight" : tensor<64x256xf32>
  %y = lowbit.linear %x, %w : tensor<?x256xf32>, tensor<64x256xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// The LM head stays in floating point unless asked for.
// CHECK-LABEL: func @lm_head_stays_float
// CHECK-NOT: lowbit.quantize
// HEAD-LABEL: func @lm_head_stays_float
// HEAD: lowbit.quantize
func.func @lm_head_stays_float(%x: tensor<?x256xf32>) -> tensor<?x64xf32> {
  %w = lowbit.weight "output.weight" : tensor<64x256xf32>
  %y = lowbit.linear %x, %w : tensor<?x256xf32>, tensor<64x256xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

