// RUN: lowbit-opt %s --lowbit-generate-nvgpu-kernels --split-input-file -verify-diagnostics

!act = !lowbit.qtensor<?x256, f16, #lowbit.blocks<128, [8, 4], per_token>>
!w8 = !lowbit.qtensor<64x256, f16, #lowbit.blocks<128, [8, 4], per_channel>>

func.func @int8_weight_blocks(%a: !act, %w: !w8) -> tensor<?x64xf32> {
  // expected-error @+1 {{GPU kernels need INT4 weights, but 1 of 2 weight blocks are INT8}}
  %y = lowbit.matmul %a, %w : !act, !w8 -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

!act = !lowbit.qtensor<?x64, f16, #lowbit.blocks<16, [4, 4, 4, 4], per_token>>
!w = !lowbit.qtensor<8x64, f16, #lowbit.blocks<16, [4, 4, 4, 4], per_channel>>

func.func @scale_group_too_small(%a: !act, %w: !w) -> tensor<?x8xf32> {
  // expected-error @+1 {{no GPU kernel for this matmul: activation scale group of 16 channels is not a multiple of 32 that divides 64 input channels}}
  %y = lowbit.matmul %a, %w : !act, !w -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

!act = !lowbit.qtensor<?x256, bf16, #lowbit.blocks<128, [8, 4], per_token>>
!w = !lowbit.qtensor<64x256, f16, #lowbit.blocks<128, [4, 4], per_channel>>

func.func @mixed_scale_types(%a: !act, %w: !w) -> tensor<?x64xf32> {
  // expected-error @+1 {{GPU kernels need one scale type, but activations have 'bf16' and weights 'f16'}}
  %y = lowbit.matmul %a, %w : !act, !w -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

!act = !lowbit.qtensor<?x256, f16, #lowbit.blocks<128, [8, 4], per_token>>
!w = !lowbit.qtensor<12x256, f16, #lowbit.blocks<128, [4, 4], per_channel>>

func.func @output_channels_not_mma_aligned(%a: !act, %w: !w) -> tensor<?x12xf32> {
  // expected-error @+1 {{no GPU kernel for this matmul: 12 output channels are not a multiple of 8}}
  %y = lowbit.matmul %a, %w : !act, !w -> tensor<?x12xf32>
  return %y : tensor<?x12xf32>
}
