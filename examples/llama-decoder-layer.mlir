// One Llama decoder layer in the lowbit dialect, in the shape of the embedded
// default model (dim 256, 8 query heads and 4 KV heads of dimension 32,
// SwiGLU hidden size 704), followed by the same layer's first projection in
// W4A4 with one INT8 outlier block (FMPQ) and a tensor-parallel all-reduce
// whose partial results travel as FP4 blocks.

lowbit.rank_group @tensor_parallel [0, 1]

// Prefill or decode of `tokens` rows starting at cache position `start`.
func.func @decoder_layer(
    %hidden: tensor<?x256xf32>, %positions: tensor<?xi32>, %start: index,
    %cache: !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 32, max_len = 256>,
    %attn_norm: tensor<256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<128x256xf32>,
    %wv: tensor<128x256xf32>, %wo: tensor<256x256xf32>, %ffn_norm: tensor<256xf32>,
    %w_gate: tensor<704x256xf32>, %w_up: tensor<704x256xf32>, %w_down: tensor<256x704xf32>)
    -> (tensor<?x256xf32>, !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 32, max_len = 256>) {
  %x = lowbit.rms_norm %hidden, %attn_norm {epsilon = 1.0e-05 : f32} : tensor<?x256xf32>, tensor<256xf32>
  %q = lowbit.linear %x, %wq : tensor<?x256xf32>, tensor<256x256xf32> -> tensor<?x256xf32>
  %k = lowbit.linear %x, %wk : tensor<?x256xf32>, tensor<128x256xf32> -> tensor<?x128xf32>
  %v = lowbit.linear %x, %wv : tensor<?x256xf32>, tensor<128x256xf32> -> tensor<?x128xf32>
  %q_rot = lowbit.rotary %q, %positions {head_dim = 32 : i64, theta = 10000.0 : f32} : tensor<?x256xf32>, tensor<?xi32>
  %k_rot = lowbit.rotary %k, %positions {head_dim = 32 : i64, theta = 10000.0 : f32} : tensor<?x128xf32>, tensor<?xi32>
  %cache_next = lowbit.kv_append %k_rot, %v into %cache at %start
      : tensor<?x128xf32>, tensor<?x128xf32> -> !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 32, max_len = 256>
  %attn = lowbit.kv_attention %q_rot, %cache_next at %start {num_heads = 8 : i64}
      : tensor<?x256xf32>, !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 32, max_len = 256>
  %o = lowbit.linear %attn, %wo : tensor<?x256xf32>, tensor<256x256xf32> -> tensor<?x256xf32>
  %h1 = arith.addf %hidden, %o : tensor<?x256xf32>
  %y = lowbit.rms_norm %h1, %ffn_norm {epsilon = 1.0e-05 : f32} : tensor<?x256xf32>, tensor<256xf32>
  %gate = lowbit.linear %y, %w_gate : tensor<?x256xf32>, tensor<704x256xf32> -> tensor<?x704xf32>
  %up = lowbit.linear %y, %w_up : tensor<?x256xf32>, tensor<704x256xf32> -> tensor<?x704xf32>
  %act = lowbit.swiglu %gate, %up : tensor<?x704xf32>
  %down = lowbit.linear %act, %w_down : tensor<?x704xf32>, tensor<256x704xf32> -> tensor<?x256xf32>
  %h2 = arith.addf %h1, %down : tensor<?x256xf32>
  return %h2, %cache_next : tensor<?x256xf32>, !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 32, max_len = 256>
}

// The query projection in W4Ax: activations quantized per token into one
// INT8 block (the outlier channels) and one INT4 block, weights in INT4 with
// a scale per group of 64 channels; INT32 accumulation, f16 epilogue.
func.func @query_projection_w4ax(
    %x: tensor<?x256xf16>,
    %wq: !lowbit.qtensor<256x256, f16, #lowbit.blocks<128, [4, 4], per_group = 64>>) -> tensor<?x256xf16> {
  %xq = lowbit.quantize %x : tensor<?x256xf16> -> !lowbit.qtensor<?x256, f16, #lowbit.blocks<128, [8, 4], per_token>>
  %q = lowbit.matmul %xq, %wq
      : !lowbit.qtensor<?x256, f16, #lowbit.blocks<128, [8, 4], per_token>>,
        !lowbit.qtensor<256x256, f16, #lowbit.blocks<128, [4, 4], per_group = 64>>
        -> tensor<?x256xf16>
  return %q : tensor<?x256xf16>
}

// A row-parallel output projection: each rank holds half of the input
// channels and its partial sums are reduced in FP4 blocks of 16.
func.func @output_projection_tp2(%attn_shard: tensor<?x128xf32>, %wo_shard: tensor<256x128xf32>) -> tensor<?x256xf32> {
  %partial = lowbit.linear %attn_shard, %wo_shard : tensor<?x128xf32>, tensor<256x128xf32> -> tensor<?x256xf32>
  %sum = lowbit.all_reduce %partial over @tensor_parallel wire <fp4_e2m1, block = 16, scale = f16> : tensor<?x256xf32>
  return %sum : tensor<?x256xf32>
}
