// The f16 Llama-2-7B decoder layer of llama2-7b-decoder-layer.mlir with its
// weights as checkpoint tensors (`lowbit.weight`, GGUF names) instead of
// function arguments, so that the quantization pipelines, which quantize the
// checkpoint weights of `blk.*` layers, apply to it:
//
//   lowbit-opt examples/llama2-7b-decoder-layer-checkpoint.mlir --lowbit-w8a8 \
//     | lowbit-opt -o /dev/null \
//         --lowbit-roofline="hw=h100-sxm phase=decode context=2048"
//
// No 7B checkpoint ships with lowbit; the roofline needs only the shapes.
// scripts/roofline-llama2-7b.sh puts FP16, W8A8, W4A16 and W4Ax-KV4 on the
// H100 roofline from this file and the W4Ax-KV4 layer of the other one.

!kv16 = !lowbit.kv_cache<bits = 16, group = 128, heads = 32, head_dim = 128, max_len = 4096>

func.func @decoder_layer(
    %hidden: tensor<?x4096xf16>, %positions: tensor<?xi32>, %start: index,
    %cache: !kv16) -> (tensor<?x4096xf16>, !kv16) {
  %attn_norm = lowbit.weight "blk.0.attn_norm.weight" : tensor<4096xf16>
  %wq = lowbit.weight "blk.0.attn_q.weight" : tensor<4096x4096xf16>
  %wk = lowbit.weight "blk.0.attn_k.weight" : tensor<4096x4096xf16>
  %wv = lowbit.weight "blk.0.attn_v.weight" : tensor<4096x4096xf16>
  %wo = lowbit.weight "blk.0.attn_output.weight" : tensor<4096x4096xf16>
  %ffn_norm = lowbit.weight "blk.0.ffn_norm.weight" : tensor<4096xf16>
  %w_gate = lowbit.weight "blk.0.ffn_gate.weight" : tensor<11008x4096xf16>
  %w_up = lowbit.weight "blk.0.ffn_up.weight" : tensor<11008x4096xf16>
  %w_down = lowbit.weight "blk.0.ffn_down.weight" : tensor<4096x11008xf16>
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
