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

// -----

lowbit.rank_group @tp [0, 1]

func.func @f32_wire_scales(%x: tensor<?x64xf16>) -> tensor<?x64xf16> {
  // expected-error @+1 {{no GPU kernel for this all-reduce: wire scales must be f16, bf16 or e8m0 (f32 scales are not generated)}}
  %0 = lowbit.all_reduce %x over @tp wire <fp4_e2m1, block = 16, scale = f32> : tensor<?x64xf16>
  return %0 : tensor<?x64xf16>
}

// -----

lowbit.rank_group @tp [0, 1]

func.func @compressed_reduce_scatter(%x: tensor<?x64xf16>) -> tensor<?x32xf16> {
  // expected-error @+1 {{no GPU kernels for a compressed lowbit.reduce_scatter yet: compress all-reduces with algorithm=all-gather}}
  %0 = lowbit.reduce_scatter %x over @tp along 1 wire <fp4_e2m1, block = 16, scale = f16> : tensor<?x64xf16> -> tensor<?x32xf16>
  return %0 : tensor<?x32xf16>
}

// -----

!act = !lowbit.qtensor<?x256, f16, #lowbit.blocks<128, [8, 8], per_token>>
!wasym = !lowbit.qtensor<64x256, f16, #lowbit.blocks<128, [4, 4], per_group = 128, asymmetric>>

func.func @asymmetric_weights(%a: !act, %w: !wasym) -> tensor<?x64xf32> {
  // expected-error @+1 {{GPU kernels need symmetric weights; asymmetric (zero-point) weights run on the reference executor only}}
  %y = lowbit.matmul %a, %w : !act, !wasym -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
