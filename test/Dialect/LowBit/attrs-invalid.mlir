// RUN: lowbit-opt %s -split-input-file -verify-diagnostics

// Every verifier rule of #lowbit.blocks, #lowbit.wire, !lowbit.qtensor and
// !lowbit.kv_cache, one case each.

// expected-error @+1 {{block size must be positive, found 0}}
func.func private @zero_block_size(!lowbit.qtensor<?x8, f16, #lowbit.blocks<0, [4], per_token>>)

// -----

// expected-error @+1 {{block layout needs the bit width of at least one block}}
func.func private @no_blocks(!lowbit.qtensor<?x8, f16, #lowbit.blocks<8, [], per_token>>)

// -----

// expected-error @+1 {{block 1 is stored in 6 bits; expected 4 or 8}}
func.func private @six_bit_block(!lowbit.qtensor<?x16, f16, #lowbit.blocks<8, [4, 6], per_token>>)

// -----

// expected-error @+1 {{expected scale granularity per_token, per_channel or per_group, found 'per_row'}}
func.func private @unknown_granularity(!lowbit.qtensor<?x8, f16, #lowbit.blocks<8, [4], per_row>>)

// -----

// expected-error @+1 {{scale group size 48 does not divide block size 128}}
func.func private @group_not_dividing_block(!lowbit.qtensor<?x128, f16, #lowbit.blocks<128, [4], per_group = 48>>)

// -----

// expected-error @+1 {{permutation has 3 entries; expected one per channel (4)}}
func.func private @short_permutation(!lowbit.qtensor<?x4, f16, #lowbit.blocks<2, [8, 4], per_token, perm = [0, 1, 2]>>)

// -----

// expected-error @+1 {{permutation entry 4 at position 2 is out of range [0, 4)}}
func.func private @permutation_out_of_range(!lowbit.qtensor<?x4, f16, #lowbit.blocks<2, [8, 4], per_token, perm = [0, 1, 4, 2]>>)

// -----

// expected-error @+1 {{channel 1 appears twice in the permutation}}
func.func private @permutation_repeats(!lowbit.qtensor<?x4, f16, #lowbit.blocks<2, [8, 4], per_token, perm = [1, 0, 1, 3]>>)

// -----

// expected-error @+1 {{block size 96 does not divide 4096 channels}}
func.func private @block_not_dividing_channels(!lowbit.qtensor<?x4096, f16, #lowbit.blocks<96, [4], per_token>>)

// -----

// expected-error @+1 {{4096 channels form 32 blocks of 128 but the layout gives 4 block bit widths}}
func.func private @too_few_block_widths(!lowbit.qtensor<?x4096, f16, #lowbit.blocks<128, [8, 4, 4, 4], per_token>>)

// -----

// expected-error @+1 {{quantized tensor needs a [rows, channels] shape, found rank 3}}
func.func private @rank_three(!lowbit.qtensor<2x?x8, f16, #lowbit.blocks<8, [4], per_token>>)

// -----

// expected-error @+1 {{quantized tensor needs a static, positive channel count}}
func.func private @dynamic_channels(!lowbit.qtensor<4x?, f16, #lowbit.blocks<8, [4], per_token>>)

// -----

// expected-error @+1 {{scale type must be f16, bf16 or f32, found 'f64'}}
func.func private @f64_scales(!lowbit.qtensor<4x8, f64, #lowbit.blocks<8, [4], per_token>>)

// -----

// expected-error @+1 {{expected a floating-point scale type, found 'i8'}}
func.func private @integer_scales(!lowbit.qtensor<4x8, i8, #lowbit.blocks<8, [4], per_token>>)

// -----

// expected-error @+1 {{KV cache bit width 3 is not one of 4, 8, 16, 32}}
func.func private @kv_three_bits(!lowbit.kv_cache<bits = 3, group = 32, heads = 4, head_dim = 64, max_len = 16>)

// -----

// expected-error @+1 {{KV cache heads must be positive, found 0}}
func.func private @kv_no_heads(!lowbit.kv_cache<bits = 4, group = 32, heads = 0, head_dim = 64, max_len = 16>)

// -----

// expected-error @+1 {{KV cache head_dim must be positive, found -64}}
func.func private @kv_negative_head_dim(!lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = -64, max_len = 16>)

// -----

// expected-error @+1 {{KV cache max_len must be positive, found 0}}
func.func private @kv_empty(!lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 64, max_len = 0>)

// -----

// expected-error @+1 {{KV cache group size 24 does not divide head_dim 64}}
func.func private @kv_group_not_dividing(!lowbit.kv_cache<bits = 4, group = 24, heads = 4, head_dim = 64, max_len = 16>)

// -----

// expected-error @+1 {{wire block size 12 is not one of 8, 16, 32}}
func.func private @wire_block_12() attributes {w = #lowbit.wire<fp4_e2m1, block = 12, scale = f16>}

// -----

// expected-error @+1 {{wire scale type 'i8' is not one of f16, bf16, f32, f8E8M0FNU}}
func.func private @wire_integer_scale() attributes {w = #lowbit.wire<int4, block = 16, scale = i8>}

// -----

// expected-error @+2 {{expected ::lowbit::WireElement to be one of: fp4_e2m1, fp5_e2m2, fp5_e3m1, int4, int8}}
// expected-error @+1 {{failed to parse LowBit_WireFormatAttr parameter 'element'}}
func.func private @wire_unknown_element() attributes {w = #lowbit.wire<fp6_e3m2, block = 16, scale = f16>}

// -----

// expected-error @+1 {{channel statistics over 0 tokens; expected at least one}}
func.func private @stats_no_tokens() attributes {s = #lowbit.channel_stats<tokens = 0, absmax = [1.0], percentile = [1.0], mean_square = [1.0]>}

// -----

// expected-error @+1 {{mean_square has 1 channels but absmax has 2}}
func.func private @stats_lengths() attributes {s = #lowbit.channel_stats<tokens = 4, absmax = [1.0, 2.0], percentile = [1.0, 2.0], mean_square = [1.0]>}

// -----

// expected-error @+1 {{absmax of channel 1 is -2.000000e+00; expected a finite non-negative number}}
func.func private @stats_negative() attributes {s = #lowbit.channel_stats<tokens = 4, absmax = [1.0, -2.0], percentile = [1.0, 2.0], mean_square = [1.0, 1.0]>}

// -----

// expected-error @+1 {{asymmetric (zero-point) scales are for stored weights: expected per_channel or per_group, found per_token}}
func.func private @asymmetric_per_token(!lowbit.qtensor<?x256, f16, #lowbit.blocks<128, [4, 4], per_token, asymmetric>>)

// -----

// expected-error @+1 {{asymmetric layouts store 4-bit blocks only; block 1 is 8-bit}}
func.func private @asymmetric_int8(!lowbit.qtensor<16x256, f16, #lowbit.blocks<128, [4, 8], per_group = 32, asymmetric>>)

// -----

// expected-error @+1 {{expected 'perm = [...]' and then 'asymmetric', each at most once, found 'asymmetric'}}
func.func private @asymmetric_twice(!lowbit.qtensor<16x256, f16, #lowbit.blocks<128, [4, 4], per_group = 32, asymmetric, asymmetric>>)

// -----

// expected-error @+1 {{an asymmetric KV cache stores 4- or 8-bit codes, found 16 bits}}
func.func private @asymmetric_kv16(!lowbit.kv_cache<bits = 16, group = 64, heads = 4, head_dim = 64, max_len = 16, asymmetric = true>)
