// One Llama-2-7B decoder layer (dim 4096, 32 query and 32 KV heads of 128,
// SwiGLU hidden size 11008) twice: in f16 with an f16 KV cache, and in W4Ax
// with a 4-bit KV cache. docs/roofline.md puts both on the H100 roofline:
//
//   lowbit-opt examples/llama2-7b-decoder-layer.mlir -o /dev/null \
//       --lowbit-roofline="hw=h100-sxm phase=decode context=2048"
//
// W4Ax: activations are quantized per token into blocks of 128 channels of
// which the first few hold the outlier channels in INT8 (FMPQ; the channel
// permutation that gathers them there is folded into the previous layer),
// the rest INT4; weights are INT4 with an f16 scale per group of 128.

// Activation layouts: 4 of 32 blocks (4096 channels) and 8 of 86 blocks
// (11008 channels) in INT8.
#act_4096 = #lowbit.blocks<128, [8, 8, 8, 8, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], per_token>
#act_11008 = #lowbit.blocks<128, [8, 8, 8, 8, 8, 8, 8, 8, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], per_token>
// Weight layouts: every block INT4, one f16 scale per 128 channels.
#w4_4096 = #lowbit.blocks<128, [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], per_group = 128>
#w4_11008 = #lowbit.blocks<128, [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], per_group = 128>

!act_4096 = !lowbit.qtensor<?x4096, f16, #act_4096>
!act_11008 = !lowbit.qtensor<?x11008, f16, #act_11008>
!wq_4096 = !lowbit.qtensor<4096x4096, f16, #w4_4096>
!wq_up = !lowbit.qtensor<11008x4096, f16, #w4_4096>
!wq_down = !lowbit.qtensor<4096x11008, f16, #w4_11008>
!kv16 = !lowbit.kv_cache<bits = 16, group = 128, heads = 32, head_dim = 128, max_len = 4096>
!kv4 = !lowbit.kv_cache<bits = 4, group = 32, heads = 32, head_dim = 128, max_len = 4096>

// f16 weights and activations, f16 KV cache: the baseline.
func.func @decoder_layer_fp16(
    %hidden: tensor<?x4096xf16>, %positions: tensor<?xi32>, %start: index,
    %cache: !kv16,
    %attn_norm: tensor<4096xf16>, %wq: tensor<4096x4096xf16>, %wk: tensor<4096x4096xf16>,
    %wv: tensor<4096x4096xf16>, %wo: tensor<4096x4096xf16>, %ffn_norm: tensor<4096xf16>,
    %w_gate: tensor<11008x4096xf16>, %w_up: tensor<11008x4096xf16>, %w_down: tensor<4096x11008xf16>)
    -> (tensor<?x4096xf16>, !kv16) {
  %x = lowbit.rms_norm %hidden, %attn_norm {epsilon = 1.0e-05 : f32} : tensor<?x4096xf16>, tensor<4096xf16>
  %q = lowbit.linear %x, %wq : tensor<?x4096xf16>, tensor<4096x4096xf16> -> tensor<?x4096xf16>
  %k = lowbit.linear %x, %wk : tensor<?x4096xf16>, tensor<4096x4096xf16> -> tensor<?x4096xf16>
  %v = lowbit.linear %x, %wv : tensor<?x4096xf16>, tensor<4096x4096xf16> -> tensor<?x4096xf16>
  %q_rot = lowbit.rotary %q, %positions {head_dim = 128 : i64, theta = 10000.0 : f32} : tensor<?x4096xf16>, tensor<?xi32>
  %k_rot = lowbit.rotary %k, %positions {head_dim = 128 : i64, theta = 10000.0 : f32} : tensor<?x4096xf16>, tensor<?xi32>
  %cache_next = lowbit.kv_append %k_rot, %v into %cache at %start
      : tensor<?x4096xf16>, tensor<?x4096xf16> -> !kv16
  %attn = lowbit.kv_attention %q_rot, %cache_next at %start {num_heads = 32 : i64}
      : tensor<?x4096xf16>, !kv16
  %o = lowbit.linear %attn, %wo : tensor<?x4096xf16>, tensor<4096x4096xf16> -> tensor<?x4096xf16>
  %h1 = arith.addf %hidden, %o : tensor<?x4096xf16>
  %y = lowbit.rms_norm %h1, %ffn_norm {epsilon = 1.0e-05 : f32} : tensor<?x4096xf16>, tensor<4096xf16>
  %gate = lowbit.linear %y, %w_gate : tensor<?x4096xf16>, tensor<11008x4096xf16> -> tensor<?x11008xf16>
  %up = lowbit.linear %y, %w_up : tensor<?x4096xf16>, tensor<11008x4096xf16> -> tensor<?x11008xf16>
  %act = lowbit.swiglu %gate, %up : tensor<?x11008xf16>
  %down = lowbit.linear %act, %w_down : tensor<?x11008xf16>, tensor<4096x11008xf16> -> tensor<?x4096xf16>
  %h2 = arith.addf %h1, %down : tensor<?x4096xf16>
  return %h2, %cache_next : tensor<?x4096xf16>, !kv16
}

// W4Ax projections and a KV4 cache. Each activation is quantized once and
// shared by the projections that read it.
func.func @decoder_layer_w4ax_kv4(
    %hidden: tensor<?x4096xf16>, %positions: tensor<?xi32>, %start: index,
    %cache: !kv4,
    %attn_norm: tensor<4096xf16>, %wq: !wq_4096, %wk: !wq_4096, %wv: !wq_4096,
    %wo: !wq_4096, %ffn_norm: tensor<4096xf16>,
    %w_gate: !wq_up, %w_up: !wq_up, %w_down: !wq_down)
    -> (tensor<?x4096xf16>, !kv4) {
  %x = lowbit.rms_norm %hidden, %attn_norm {epsilon = 1.0e-05 : f32} : tensor<?x4096xf16>, tensor<4096xf16>
  %xq = lowbit.quantize %x : tensor<?x4096xf16> -> !act_4096
  %q = lowbit.matmul %xq, %wq : !act_4096, !wq_4096 -> tensor<?x4096xf16>
  %k = lowbit.matmul %xq, %wk : !act_4096, !wq_4096 -> tensor<?x4096xf16>
  %v = lowbit.matmul %xq, %wv : !act_4096, !wq_4096 -> tensor<?x4096xf16>
  %q_rot = lowbit.rotary %q, %positions {head_dim = 128 : i64, theta = 10000.0 : f32} : tensor<?x4096xf16>, tensor<?xi32>
  %k_rot = lowbit.rotary %k, %positions {head_dim = 128 : i64, theta = 10000.0 : f32} : tensor<?x4096xf16>, tensor<?xi32>
  %cache_next = lowbit.kv_append %k_rot, %v into %cache at %start
      : tensor<?x4096xf16>, tensor<?x4096xf16> -> !kv4
  %attn = lowbit.kv_attention %q_rot, %cache_next at %start {num_heads = 32 : i64}
      : tensor<?x4096xf16>, !kv4
  %attn_q = lowbit.quantize %attn : tensor<?x4096xf16> -> !act_4096
  %o = lowbit.matmul %attn_q, %wo : !act_4096, !wq_4096 -> tensor<?x4096xf16>
  %h1 = arith.addf %hidden, %o : tensor<?x4096xf16>
  %y = lowbit.rms_norm %h1, %ffn_norm {epsilon = 1.0e-05 : f32} : tensor<?x4096xf16>, tensor<4096xf16>
  %yq = lowbit.quantize %y : tensor<?x4096xf16> -> !act_4096
  %gate = lowbit.matmul %yq, %w_gate : !act_4096, !wq_up -> tensor<?x11008xf16>
  %up = lowbit.matmul %yq, %w_up : !act_4096, !wq_up -> tensor<?x11008xf16>
  %act = lowbit.swiglu %gate, %up : tensor<?x11008xf16>
  %act_q = lowbit.quantize %act : tensor<?x11008xf16> -> !act_11008
  %down = lowbit.matmul %act_q, %w_down : !act_11008, !wq_down -> tensor<?x4096xf16>
  %h2 = arith.addf %h1, %down : tensor<?x4096xf16>
  return %h2, %cache_next : tensor<?x4096xf16>, !kv4
}
