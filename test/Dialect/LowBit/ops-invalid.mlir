// RUN: lowbit-opt %s -split-input-file -verify-diagnostics

// Every verifier rule of the lowbit operations, one case each.

func.func @embedding_element_type(%table: tensor<16x8xf32>, %tokens: tensor<?xi32>) {
  // expected-error @+1 {{result element type 'f16' differs from the table element type 'f32'}}
  %0 = lowbit.embedding %table[%tokens] : tensor<16x8xf32>, tensor<?xi32> -> tensor<?x8xf16>
  return
}

// -----

func.func @embedding_channels(%table: tensor<16x8xf32>, %tokens: tensor<?xi32>) {
  // expected-error @+1 {{result has 4 channels but the table has 8}}
  %0 = lowbit.embedding %table[%tokens] : tensor<16x8xf32>, tensor<?xi32> -> tensor<?x4xf32>
  return
}

// -----

func.func @embedding_rows(%table: tensor<16x8xf32>, %tokens: tensor<4xi32>) {
  // expected-error @+1 {{result has 3 rows but tokens has 4}}
  %0 = lowbit.embedding %table[%tokens] : tensor<16x8xf32>, tensor<4xi32> -> tensor<3x8xf32>
  return
}

// -----

func.func @embedding_float_tokens(%table: tensor<16x8xf32>, %tokens: tensor<4xf32>) {
  // expected-error @+1 {{operand #1 must be 1D tensor of 32-bit signless integer or 64-bit signless integer values}}
  %0 = lowbit.embedding %table[%tokens] : tensor<16x8xf32>, tensor<4xf32> -> tensor<4x8xf32>
  return
}

// -----

func.func @weight_without_name() {
  // expected-error @+1 {{weight name must not be empty}}
  %0 = lowbit.weight "" : tensor<4x4xf32>
  return
}

// -----

func.func @weight_dynamic_shape() {
  // expected-error @+1 {{weight shape must be static, found 'tensor<?x4xf32>'}}
  %0 = lowbit.weight "w" : tensor<?x4xf32>
  return
}

// -----

func.func @rms_norm_weight(%x: tensor<?x8xf32>, %w: tensor<6xf32>) {
  // expected-error @+1 {{weight has 6 elements; expected one per input channel (8)}}
  %0 = lowbit.rms_norm %x, %w : tensor<?x8xf32>, tensor<6xf32>
  return
}

// -----

func.func @rms_norm_epsilon(%x: tensor<?x8xf32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{epsilon must be positive, found -1}}
  %0 = lowbit.rms_norm %x, %w {epsilon = -1.0 : f32} : tensor<?x8xf32>, tensor<8xf32>
  return
}

// -----

func.func @linear_element_types(%x: tensor<?x8xf16>, %w: tensor<4x8xf32>) {
  // expected-error @+1 {{input, weight and result element types must match, found 'f16', 'f32' and 'f32'}}
  %0 = lowbit.linear %x, %w : tensor<?x8xf16>, tensor<4x8xf32> -> tensor<?x4xf32>
  return
}

// -----

func.func @linear_reduction(%x: tensor<?x8xf32>, %w: tensor<4x6xf32>) {
  // expected-error @+1 {{weight has 6 input channels but the input has 8}}
  %0 = lowbit.linear %x, %w : tensor<?x8xf32>, tensor<4x6xf32> -> tensor<?x4xf32>
  return
}

// -----

func.func @linear_result_channels(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>) {
  // expected-error @+1 {{result has 5 channels; expected 4 (the weight's output channels)}}
  %0 = lowbit.linear %x, %w : tensor<?x8xf32>, tensor<4x8xf32> -> tensor<?x5xf32>
  return
}

// -----

func.func @linear_result_rows(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>) {
  // expected-error @+1 {{result has 3 rows but the input has 2}}
  %0 = lowbit.linear %x, %w : tensor<2x8xf32>, tensor<4x8xf32> -> tensor<3x4xf32>
  return
}

// -----

func.func @rotary_odd_head_dim(%x: tensor<?x9xf32>, %pos: tensor<?xi32>) {
  // expected-error @+1 {{head_dim must be positive and even, found 3}}
  %0 = lowbit.rotary %x, %pos {head_dim = 3 : i64} : tensor<?x9xf32>, tensor<?xi32>
  return
}

// -----

func.func @rotary_head_dim_not_dividing(%x: tensor<?x12xf32>, %pos: tensor<?xi32>) {
  // expected-error @+1 {{head_dim 8 does not divide 12 input channels}}
  %0 = lowbit.rotary %x, %pos {head_dim = 8 : i64} : tensor<?x12xf32>, tensor<?xi32>
  return
}

// -----

func.func @rotary_theta(%x: tensor<?x8xf32>, %pos: tensor<?xi32>) {
  // expected-error @+1 {{theta must be positive, found 0}}
  %0 = lowbit.rotary %x, %pos {head_dim = 8 : i64, theta = 0.0 : f32} : tensor<?x8xf32>, tensor<?xi32>
  return
}

// -----

func.func @rotary_factors(%x: tensor<?x8xf32>, %pos: tensor<?xi32>, %factors: tensor<3xf32>) {
  // expected-error @+1 {{frequency factors have 3 elements; expected head_dim / 2 = 4}}
  %0 = lowbit.rotary %x, %pos factors(%factors : tensor<3xf32>) {head_dim = 8 : i64} : tensor<?x8xf32>, tensor<?xi32>
  return
}

// -----

func.func @rotary_positions(%x: tensor<2x8xf32>, %pos: tensor<3xi32>) {
  // expected-error @+1 {{input has 2 rows but positions has 3}}
  %0 = lowbit.rotary %x, %pos {head_dim = 8 : i64} : tensor<2x8xf32>, tensor<3xi32>
  return
}

// -----

func.func @swiglu_shapes(%gate: tensor<?x8xf32>, %up: tensor<?x6xf32>) {
  // expected-error @+1 {{requires the same type for all operands and results}}
  %0 = "lowbit.swiglu"(%gate, %up) : (tensor<?x8xf32>, tensor<?x6xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @attention_head_counts(%q: tensor<?x64xf32>, %k: tensor<?x16xf32>) {
  // expected-error @+1 {{head counts must be positive, found 0 query and 2 KV heads}}
  %0 = lowbit.attention %q, %k, %k {num_heads = 0 : i64, num_kv_heads = 2 : i64} : tensor<?x64xf32>, tensor<?x16xf32>, tensor<?x16xf32>
  return
}

// -----

func.func @attention_grouping(%q: tensor<?x64xf32>, %k: tensor<?x24xf32>) {
  // expected-error @+1 {{num_heads 8 is not a multiple of the 3 KV heads}}
  %0 = lowbit.attention %q, %k, %k {num_heads = 8 : i64, num_kv_heads = 3 : i64} : tensor<?x64xf32>, tensor<?x24xf32>, tensor<?x24xf32>
  return
}

// -----

func.func @attention_dynamic_query_channels(%q: tensor<?x?xf32>, %k: tensor<?x16xf32>) {
  // expected-error @+1 {{query channels must be static}}
  %0 = lowbit.attention %q, %k, %k {num_heads = 8 : i64, num_kv_heads = 2 : i64} : tensor<?x?xf32>, tensor<?x16xf32>, tensor<?x16xf32>
  return
}

// -----

func.func @attention_query_channels(%q: tensor<?x60xf32>, %k: tensor<?x16xf32>) {
  // expected-error @+1 {{query has 60 channels, not a multiple of num_heads 8}}
  %0 = lowbit.attention %q, %k, %k {num_heads = 8 : i64, num_kv_heads = 2 : i64} : tensor<?x60xf32>, tensor<?x16xf32>, tensor<?x16xf32>
  return
}

// -----

func.func @attention_element_types(%q: tensor<?x64xf32>, %k: tensor<?x16xf16>) {
  // expected-error @+1 {{query, keys and values element types must match, found 'f32', 'f16' and 'f16'}}
  %0 = lowbit.attention %q, %k, %k {num_heads = 8 : i64, num_kv_heads = 2 : i64} : tensor<?x64xf32>, tensor<?x16xf16>, tensor<?x16xf16>
  return
}

// -----

func.func @attention_key_channels(%q: tensor<?x64xf32>, %k: tensor<?x24xf32>, %v: tensor<?x16xf32>) {
  // expected-error @+1 {{keys have 24 channels; expected 2 KV heads * head_dim 8 = 16}}
  %0 = lowbit.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 2 : i64} : tensor<?x64xf32>, tensor<?x24xf32>, tensor<?x16xf32>
  return
}

// -----

func.func @attention_value_channels(%q: tensor<?x64xf32>, %k: tensor<?x16xf32>, %v: tensor<?x32xf32>) {
  // expected-error @+1 {{values have 32 channels; expected 2 KV heads * head_dim 8 = 16}}
  %0 = lowbit.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 2 : i64} : tensor<?x64xf32>, tensor<?x16xf32>, tensor<?x32xf32>
  return
}

// -----

func.func @attention_kv_rows(%q: tensor<?x64xf32>, %k: tensor<5x16xf32>, %v: tensor<4x16xf32>) {
  // expected-error @+1 {{values has 4 rows but keys has 5}}
  %0 = lowbit.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 2 : i64} : tensor<?x64xf32>, tensor<5x16xf32>, tensor<4x16xf32>
  return
}

// -----

func.func @kv_append_key_channels(%k: tensor<?x64xf32>, %v: tensor<?x128xf32>, %pos: index,
    %c: !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 32, max_len = 256>) {
  // expected-error @+1 {{keys have 64 channels; expected 4 KV heads * head_dim 32 = 128}}
  %0 = lowbit.kv_append %k, %v into %c at %pos : tensor<?x64xf32>, tensor<?x128xf32> -> !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 32, max_len = 256>
  return
}

// -----

func.func @kv_append_rows(%k: tensor<2x128xf32>, %v: tensor<3x128xf32>, %pos: index,
    %c: !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 32, max_len = 256>) {
  // expected-error @+1 {{values has 3 rows but keys has 2}}
  %0 = lowbit.kv_append %k, %v into %c at %pos : tensor<2x128xf32>, tensor<3x128xf32> -> !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 32, max_len = 256>
  return
}

// -----

func.func @kv_append_too_long(%k: tensor<300x128xf32>, %pos: index,
    %c: !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 32, max_len = 256>) {
  // expected-error @+1 {{appending 300 positions exceeds the KV cache length 256}}
  %0 = lowbit.kv_append %k, %k into %c at %pos : tensor<300x128xf32>, tensor<300x128xf32> -> !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 32, max_len = 256>
  return
}

// -----

func.func @kv_attention_grouping(%q: tensor<?x96xf32>, %pos: index,
    %c: !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 32, max_len = 256>) {
  // expected-error @+1 {{num_heads 3 is not a multiple of the 4 KV heads}}
  %0 = lowbit.kv_attention %q, %c at %pos {num_heads = 3 : i64} : tensor<?x96xf32>, !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 32, max_len = 256>
  return
}

// -----

func.func @kv_attention_head_dim(%q: tensor<?x512xf32>, %pos: index,
    %c: !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 32, max_len = 256>) {
  // expected-error @+1 {{query heads have 64 channels but the KV cache head_dim is 32}}
  %0 = lowbit.kv_attention %q, %c at %pos {num_heads = 8 : i64} : tensor<?x512xf32>, !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 32, max_len = 256>
  return
}

// -----

func.func @quantize_channels(%x: tensor<?x16xf32>) {
  // expected-error @+1 {{quantized tensor has 8 channels but the float tensor has 16}}
  %0 = lowbit.quantize %x : tensor<?x16xf32> -> !lowbit.qtensor<?x8, f16, #lowbit.blocks<8, [4], per_token>>
  return
}

// -----

func.func @quantize_rows(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{quantized tensor has 3 rows but the float tensor has 2}}
  %0 = lowbit.quantize %x : tensor<2x8xf32> -> !lowbit.qtensor<3x8, f16, #lowbit.blocks<8, [4], per_token>>
  return
}

// -----

func.func @dequantize_channels(%q: !lowbit.qtensor<?x8, f16, #lowbit.blocks<8, [4], per_token>>) {
  // expected-error @+1 {{quantized tensor has 8 channels but the float tensor has 4}}
  %0 = lowbit.dequantize %q : !lowbit.qtensor<?x8, f16, #lowbit.blocks<8, [4], per_token>> -> tensor<?x4xf16>
  return
}

// -----

func.func @permute_dynamic_channels(%x: tensor<?x?xf32>) {
  // expected-error @+1 {{permuted axis 1 must be static}}
  %0 = lowbit.permute_channels %x [1, 0] : tensor<?x?xf32>
  return
}

// -----

func.func @permute_short(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{permutation has 2 entries; expected one per channel (4)}}
  %0 = lowbit.permute_channels %x [1, 0] : tensor<?x4xf32>
  return
}

// -----

func.func @permute_out_of_range(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{permutation entry -1 at position 0 is out of range [0, 4)}}
  %0 = lowbit.permute_channels %x [-1, 0, 1, 2] : tensor<?x4xf32>
  return
}

// -----

func.func @permute_repeat(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{channel 2 appears twice in the permutation}}
  %0 = lowbit.permute_channels %x [2, 0, 2, 1] : tensor<?x4xf32>
  return
}

// -----

func.func @matmul_activation_granularity(
    %a: !lowbit.qtensor<?x8, f16, #lowbit.blocks<8, [8], per_channel>>,
    %w: !lowbit.qtensor<4x8, f16, #lowbit.blocks<8, [4], per_channel>>) {
  // expected-error @+1 {{activation scales must be per_token or per_group, found per_channel}}
  %0 = lowbit.matmul %a, %w : !lowbit.qtensor<?x8, f16, #lowbit.blocks<8, [8], per_channel>>, !lowbit.qtensor<4x8, f16, #lowbit.blocks<8, [4], per_channel>> -> tensor<?x4xf16>
  return
}

// -----

func.func @matmul_weight_granularity(
    %a: !lowbit.qtensor<?x8, f16, #lowbit.blocks<8, [8], per_token>>,
    %w: !lowbit.qtensor<4x8, f16, #lowbit.blocks<8, [4], per_token>>) {
  // expected-error @+1 {{weight scales must be per_channel or per_group, found per_token}}
  %0 = lowbit.matmul %a, %w : !lowbit.qtensor<?x8, f16, #lowbit.blocks<8, [8], per_token>>, !lowbit.qtensor<4x8, f16, #lowbit.blocks<8, [4], per_token>> -> tensor<?x4xf16>
  return
}

// -----

func.func @matmul_reduction(
    %a: !lowbit.qtensor<?x8, f16, #lowbit.blocks<8, [8], per_token>>,
    %w: !lowbit.qtensor<4x16, f16, #lowbit.blocks<8, [4, 4], per_channel>>) {
  // expected-error @+1 {{weight has 16 channels but the activation has 8}}
  %0 = lowbit.matmul %a, %w : !lowbit.qtensor<?x8, f16, #lowbit.blocks<8, [8], per_token>>, !lowbit.qtensor<4x16, f16, #lowbit.blocks<8, [4, 4], per_channel>> -> tensor<?x4xf16>
  return
}

// -----

func.func @matmul_block_size(
    %a: !lowbit.qtensor<?x8, f16, #lowbit.blocks<8, [8], per_token>>,
    %w: !lowbit.qtensor<4x8, f16, #lowbit.blocks<4, [4, 4], per_channel>>) {
  // expected-error @+1 {{weight block size 4 differs from the activation block size 8}}
  %0 = lowbit.matmul %a, %w : !lowbit.qtensor<?x8, f16, #lowbit.blocks<8, [8], per_token>>, !lowbit.qtensor<4x8, f16, #lowbit.blocks<4, [4, 4], per_channel>> -> tensor<?x4xf16>
  return
}

// -----

func.func @matmul_permutation(
    %a: !lowbit.qtensor<?x4, f16, #lowbit.blocks<2, [8, 4], per_token, perm = [1, 0, 2, 3]>>,
    %w: !lowbit.qtensor<4x4, f16, #lowbit.blocks<2, [4, 4], per_channel>>) {
  // expected-error @+1 {{weight and activation blocks must use the same channel permutation}}
  %0 = lowbit.matmul %a, %w : !lowbit.qtensor<?x4, f16, #lowbit.blocks<2, [8, 4], per_token, perm = [1, 0, 2, 3]>>, !lowbit.qtensor<4x4, f16, #lowbit.blocks<2, [4, 4], per_channel>> -> tensor<?x4xf16>
  return
}

// -----

func.func @matmul_dynamic_weight_rows(
    %a: !lowbit.qtensor<?x8, f16, #lowbit.blocks<8, [8], per_token>>,
    %w: !lowbit.qtensor<?x8, f16, #lowbit.blocks<8, [4], per_channel>>) {
  // expected-error @+1 {{weight rows (output channels) must be static}}
  %0 = lowbit.matmul %a, %w : !lowbit.qtensor<?x8, f16, #lowbit.blocks<8, [8], per_token>>, !lowbit.qtensor<?x8, f16, #lowbit.blocks<8, [4], per_channel>> -> tensor<?x4xf16>
  return
}

// -----

func.func @matmul_result_channels(
    %a: !lowbit.qtensor<?x8, f16, #lowbit.blocks<8, [8], per_token>>,
    %w: !lowbit.qtensor<4x8, f16, #lowbit.blocks<8, [4], per_channel>>) {
  // expected-error @+1 {{result has 5 channels; expected 4 (the weight's rows)}}
  %0 = lowbit.matmul %a, %w : !lowbit.qtensor<?x8, f16, #lowbit.blocks<8, [8], per_token>>, !lowbit.qtensor<4x8, f16, #lowbit.blocks<8, [4], per_channel>> -> tensor<?x5xf16>
  return
}

// -----

func.func @matmul_result_rows(
    %a: !lowbit.qtensor<2x8, f16, #lowbit.blocks<8, [8], per_token>>,
    %w: !lowbit.qtensor<4x8, f16, #lowbit.blocks<8, [4], per_channel>>) {
  // expected-error @+1 {{result has 3 rows but the activation has 2}}
  %0 = lowbit.matmul %a, %w : !lowbit.qtensor<2x8, f16, #lowbit.blocks<8, [8], per_token>>, !lowbit.qtensor<4x8, f16, #lowbit.blocks<8, [4], per_channel>> -> tensor<3x4xf16>
  return
}

// -----

func.func @matmul_bf16_result(
    %a: !lowbit.qtensor<2x8, f16, #lowbit.blocks<8, [8], per_token>>,
    %w: !lowbit.qtensor<4x8, f16, #lowbit.blocks<8, [4], per_channel>>) {
  // expected-error @+1 {{result #0 must be 2D tensor of 16-bit float or 32-bit float values}}
  %0 = lowbit.matmul %a, %w : !lowbit.qtensor<2x8, f16, #lowbit.blocks<8, [8], per_token>>, !lowbit.qtensor<4x8, f16, #lowbit.blocks<8, [4], per_channel>> -> tensor<2x4xbf16>
  return
}

// -----

// expected-error @+1 {{rank group @tp has no ranks}}
lowbit.rank_group @tp []

// -----

// expected-error @+1 {{rank -1 of rank group @tp is negative}}
lowbit.rank_group @tp [0, -1]

// -----

// expected-error @+1 {{rank 1 appears twice in rank group @tp}}
lowbit.rank_group @tp [0, 1, 1]

// -----

func.func @rank_group_outside_module() {
  // expected-error @+1 {{expects parent op 'builtin.module'}}
  lowbit.rank_group @tp [0, 1]
  return
}

// -----

func.func @unknown_group(%x: tensor<?x16xf32>) {
  // expected-error @+1 {{@nowhere does not name a lowbit.rank_group}}
  %0 = lowbit.all_reduce %x over @nowhere : tensor<?x16xf32>
  return
}

// -----

lowbit.rank_group @tp [0, 1]

func.func @wire_block_not_dividing(%x: tensor<?x24xf32>) {
  // expected-error @+1 {{wire block size 16 does not divide the 24 innermost elements of the input}}
  %0 = lowbit.all_reduce %x over @tp wire <fp4_e2m1, block = 16, scale = f16> : tensor<?x24xf32>
  return
}

// -----

lowbit.rank_group @tp [0, 1]

func.func @gather_axis(%x: tensor<?x16xf32>) {
  // expected-error @+1 {{axis 2 is out of range for a rank-2 tensor}}
  %0 = lowbit.all_gather %x over @tp along 2 : tensor<?x16xf32> -> tensor<?x32xf32>
  return
}

// -----

lowbit.rank_group @tp [0, 1]

func.func @gather_result(%x: tensor<?x16xf32>) {
  // expected-error @+1 {{result dimension 1 is 48; expected 32 for 2 ranks}}
  %0 = lowbit.all_gather %x over @tp along 1 : tensor<?x16xf32> -> tensor<?x48xf32>
  return
}

// -----

lowbit.rank_group @tp [0, 1]

func.func @gather_other_dim(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{result dimension 0 is 5 but the input's is 4}}
  %0 = lowbit.all_gather %x over @tp along 1 : tensor<4x16xf32> -> tensor<5x32xf32>
  return
}

// -----

lowbit.rank_group @tp [0, 1, 2]

func.func @scatter_uneven(%x: tensor<?x16xf32>) {
  // expected-error @+1 {{input dimension 1 (16) does not split across 3 ranks}}
  %0 = lowbit.reduce_scatter %x over @tp along 1 : tensor<?x16xf32> -> tensor<?x5xf32>
  return
}

// -----

lowbit.rank_group @tp [0, 1]

func.func @scatter_result(%x: tensor<?x16xf32>) {
  // expected-error @+1 {{result dimension 1 is 16; expected 8 for 2 ranks}}
  %0 = lowbit.reduce_scatter %x over @tp along 1 : tensor<?x16xf32> -> tensor<?x16xf32>
  return
}

// -----

lowbit.rank_group @tp [0, 1, 2, 3]

func.func @scatter_slice_splits_wire_blocks(%x: tensor<?x32xf32>) {
  // expected-error @+1 {{wire block size 16 does not divide the 8 innermost elements of a rank's slice}}
  %0 = lowbit.reduce_scatter %x over @tp along 1 wire <int4, block = 16, scale = f16> : tensor<?x32xf32> -> tensor<?x8xf32>
  return
}

// -----

lowbit.rank_group @tp [0, 1, 2]

func.func @shard_uneven(%w: tensor<16x8xf32>) {
  // expected-error @+1 {{input dimension 0 (16) does not split across 3 ranks}}
  %0 = lowbit.shard %w over @tp along 0 : tensor<16x8xf32> -> tensor<5x8xf32>
  return
}

// -----

lowbit.rank_group @tp [0, 1]

func.func @shard_result(%w: tensor<16x8xf32>) {
  // expected-error @+1 {{result dimension 1 is 8; expected 4 for 2 ranks}}
  %0 = lowbit.shard %w over @tp along 1 : tensor<16x8xf32> -> tensor<16x8xf32>
  return
}

// -----

lowbit.rank_group @tp [0, 1]

func.func @shard_rank(%w: tensor<16x8xf32>) {
  // expected-error @+1 {{result has rank 1; the input has rank 2}}
  %0 = lowbit.shard %w over @tp along 0 : tensor<16x8xf32> -> tensor<8xf32>
  return
}

// -----

lowbit.rank_group @tp [0, 1, 2, 3]

func.func @shard_replicas(%w: tensor<16x8xf32>) {
  // expected-error @+1 {{3 replicas do not divide the 4 ranks of @tp}}
  %0 = lowbit.shard %w over @tp along 0 replicas 3 : tensor<16x8xf32> -> tensor<16x8xf32>
  return
}

// -----

func.func @shard_without_group(%w: tensor<16x8xf32>) {
  // expected-error @+1 {{@tp does not name a lowbit.rank_group}}
  %0 = lowbit.shard %w over @tp along 0 : tensor<16x8xf32> -> tensor<8x8xf32>
  return
}

// -----

func.func @permute_axis_out_of_range(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{axis 2 is out of range for a tensor of rank 2}}
  %0 = lowbit.permute_channels %x [1, 0, 2, 3] along 2 : tensor<?x4xf32>
  return
}

// -----

func.func @permute_rows_wrong_length(%w: tensor<3x4xf32>) {
  // expected-error @+1 {{permutation has 4 entries; expected one per channel (3)}}
  %0 = lowbit.permute_channels %w [1, 0, 2, 3] along 0 : tensor<3x4xf32>
  return
}

// -----

func.func @rms_norm_output_permutation_not_a_permutation(%x: tensor<?x4xf32>, %w: tensor<4xf32>) {
  // expected-error @+1 {{channel 0 appears twice in the permutation}}
  %0 = lowbit.rms_norm %x, %w {output_permutation = array<i64: 0, 0, 1, 2>} : tensor<?x4xf32>, tensor<4xf32>
  return
}

// -----

func.func @quantize_importance_without_search(%w: tensor<4x2xf32>) {
  // expected-error @+1 {{channel_importance needs clip_search}}
  %0 = lowbit.quantize %w {channel_importance = array<f32: 1.0, 2.0>} : tensor<4x2xf32> -> !lowbit.qtensor<4x2, f16, #lowbit.blocks<2, [4], per_channel>>
  return
}

// -----

func.func @quantize_importance_length(%w: tensor<4x2xf32>) {
  // expected-error @+1 {{channel_importance has 3 entries; expected one per channel (2)}}
  %0 = lowbit.quantize %w {clip_search, channel_importance = array<f32: 1.0, 2.0, 3.0>} : tensor<4x2xf32> -> !lowbit.qtensor<4x2, f16, #lowbit.blocks<2, [4], per_channel>>
  return
}

// -----

func.func @quantize_importance_negative(%w: tensor<4x2xf32>) {
  // expected-error @+1 {{channel_importance of channel 1 is -2.000000e+00; expected a finite non-negative number}}
  %0 = lowbit.quantize %w {clip_search, channel_importance = array<f32: 1.0, -2.0>} : tensor<4x2xf32> -> !lowbit.qtensor<4x2, f16, #lowbit.blocks<2, [4], per_channel>>
  return
}
