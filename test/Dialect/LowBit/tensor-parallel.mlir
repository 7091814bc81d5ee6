// RUN: lowbit-opt %s --lowbit-tensor-parallel=tp=2 | FileCheck %s
// RUN: lowbit-opt %s --lowbit-tensor-parallel=tp=4 | FileCheck %s --check-prefix=TP4

// One decoder layer of a Llama with grouped-query attention (4 query heads,
// 2 KV heads of 16 channels), in the form lowbit-import writes.

// CHECK: lowbit.rank_group @tp [0, 1]

// CHECK-LABEL: func.func @prefill
// CHECK-SAME: !lowbit.kv_cache<bits = 32, group = 16, heads = 1, head_dim = 16, max_len = 64>
// CHECK-SAME: -> (tensor<?x32xf32>, !lowbit.kv_cache<bits = 32, group = 16, heads = 1, head_dim = 16, max_len = 64>)
//
// The embedding is split along the model dimension and gathered.
// CHECK: %[[TABLE:.*]] = lowbit.shard %{{.*}} over @tp along 1 : tensor<32x64xf32> -> tensor<32x32xf32>
// CHECK: %[[EMBEDDED:.*]] = lowbit.embedding %[[TABLE]]
// CHECK-SAME: -> tensor<?x32xf32>
// CHECK: %[[X:.*]] = lowbit.all_gather %[[EMBEDDED]] over @tp along 1 : tensor<?x32xf32> -> tensor<?x64xf32>
//
// q, k and v are column-parallel: each rank takes whole heads.
// CHECK: lowbit.shard %{{.*}} over @tp along 0 : tensor<64x64xf32> -> tensor<32x64xf32>
// CHECK: lowbit.linear {{.*}} -> tensor<?x32xf32>
// CHECK: lowbit.rotary {{.*}} : tensor<?x32xf32>
// CHECK: lowbit.shard %{{.*}} over @tp along 0 : tensor<32x64xf32> -> tensor<16x64xf32>
// CHECK: lowbit.rotary {{.*}} : tensor<?x16xf32>
// CHECK: lowbit.shard %{{.*}} over @tp along 0 : tensor<32x64xf32> -> tensor<16x64xf32>
// CHECK: lowbit.kv_append {{.*}} -> !lowbit.kv_cache<bits = 32, group = 16, heads = 1, head_dim = 16, max_len = 64>
// CHECK: lowbit.kv_attention {{.*}} {num_heads = 2 : i64} : tensor<?x32xf32>
//
// The output projection is row-parallel, followed by an all-reduce that
// the residual addition reads.
// CHECK: lowbit.shard %{{.*}} over @tp along 1 : tensor<64x64xf32> -> tensor<64x32xf32>
// CHECK: %[[PARTIAL:.*]] = lowbit.linear {{.*}} : tensor<?x32xf32>, tensor<64x32xf32> -> tensor<?x64xf32>
// CHECK: %[[ATTENTION:.*]] = lowbit.all_reduce %[[PARTIAL]] over @tp : tensor<?x64xf32>
// CHECK: %[[H:.*]] = arith.addf %[[X]], %[[ATTENTION]]
//
// The MLP: gate and up column-parallel, down row-parallel.
// CHECK: lowbit.shard %{{.*}} over @tp along 0 : tensor<96x64xf32> -> tensor<48x64xf32>
// CHECK: lowbit.shard %{{.*}} over @tp along 0 : tensor<96x64xf32> -> tensor<48x64xf32>
// CHECK: lowbit.swiglu {{.*}} : tensor<?x48xf32>
// CHECK: lowbit.shard %{{.*}} over @tp along 1 : tensor<64x96xf32> -> tensor<64x48xf32>
// CHECK: %[[DOWN:.*]] = lowbit.linear {{.*}} -> tensor<?x64xf32>
// CHECK: %[[MLP:.*]] = lowbit.all_reduce %[[DOWN]] over @tp : tensor<?x64xf32>
// CHECK: arith.addf %[[H]], %[[MLP]]
//
// The LM head is split along the vocabulary and its logits gathered.
// CHECK: lowbit.rms_norm
// CHECK: lowbit.shard %{{.*}} over @tp along 0 : tensor<32x64xf32> -> tensor<16x64xf32>
// CHECK: %[[LOGITS:.*]] = lowbit.linear {{.*}} -> tensor<?x16xf32>
// CHECK: %[[ALL:.*]] = lowbit.all_gather %[[LOGITS]] over @tp along 1 : tensor<?x16xf32> -> tensor<?x32xf32>
// CHECK: return %[[ALL]], %{{.*}} : tensor<?x32xf32>, !lowbit.kv_cache<bits = 32, group = 16, heads = 1, head_dim = 16, max_len = 64>
// Four ranks, two KV heads: each KV head is shared by two ranks, each rank
// keeps one query head and the KV head it reads.
// TP4: lowbit.rank_group @tp [0, 1, 2, 3]
// TP4-LABEL: func.func @prefill
// TP4-SAME: !lowbit.kv_cache<bits = 32, group = 16, heads = 1, head_dim = 16, max_len = 64>
// TP4: lowbit.shard %{{.*}} over @tp along 0 : tensor<64x64xf32> -> tensor<16x64xf32>
// TP4: lowbit.shard %{{.*}} over @tp along 0 replicas 2 : tensor<32x64xf32> -> tensor<16x64xf32>
// TP4: lowbit.shard %{{.*}} over @tp along 0 replicas 2 : tensor<32x64xf32> -> tensor<16x64xf32>
// TP4: lowbit.kv_attention {{.*}} {num_heads = 1 : i64} : tensor<?x16xf32>
func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index,
                   %cache: !lowbit.kv_cache<bits = 32, group = 16, heads = 2, head_dim = 16, max_len = 64>)
    -> (tensor<?x32xf32>, !lowbit.kv_cache<bits = 32, group = 16, heads = 2, head_dim = 16, max_len = 64>) {
  %table = lowbit.weight "token_embd.weight" : tensor<32x64xf32>
  %x = lowbit.embedding %table[%tokens] : tensor<32x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  %attn_norm = lowbit.weight "blk.0.attn_norm.weight" : tensor<64xf32>
  %xn = lowbit.rms_norm %x, %attn_norm : tensor<?x64xf32>, tensor<64xf32>
  %wq = lowbit.weight "blk.0.attn_q.weight" : tensor<64x64xf32>
  %q = lowbit.linear %xn, %wq : tensor<?x64xf32>, tensor<64x64xf32> -> tensor<?x64xf32>
  %qr = lowbit.rotary %q, %positions {head_dim = 16 : i64} : tensor<?x64xf32>, tensor<?xi32>
  %wk = lowbit.weight "blk.0.attn_k.weight" : tensor<32x64xf32>
  %k = lowbit.linear %xn, %wk : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
  %kr = lowbit.rotary %k, %positions {head_dim = 16 : i64} : tensor<?x32xf32>, tensor<?xi32>
  %wv = lowbit.weight "blk.0.attn_v.weight" : tensor<32x64xf32>
  %v = lowbit.linear %xn, %wv : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
  %cache1 = lowbit.kv_append %kr, %v into %cache at %start : tensor<?x32xf32>, tensor<?x32xf32> -> !lowbit.kv_cache<bits = 32, group = 16, heads = 2, head_dim = 16, max_len = 64>
  %attention = lowbit.kv_attention %qr, %cache1 at %start {num_heads = 4 : i64} : tensor<?x64xf32>, !lowbit.kv_cache<bits = 32, group = 16, heads = 2, head_dim = 16, max_len = 64>
  %wo = lowbit.weight "blk.0.attn_output.weight" : tensor<64x64xf32>
  %o = lowbit.linear %attention, %wo : tensor<?x64xf32>, tensor<64x64xf32> -> tensor<?x64xf32>
  %h = arith.addf %x, %o : tensor<?x64xf32>
  %ffn_norm = lowbit.weight "blk.0.ffn_norm.weight" : tensor<64xf32>
  %hn = lowbit.rms_norm %h, %ffn_norm : tensor<?x64xf32>, tensor<64xf32>
  %wg = lowbit.weight "blk.0.ffn_gate.weight" : tensor<96x64xf32>
  %g = lowbit.linear %hn, %wg : tensor<?x64xf32>, tensor<96x64xf32> -> tensor<?x96xf32>
  %wu = lowbit.weight "blk.0.ffn_up.weight" : tensor<96x64xf32>
  %u = lowbit.linear %hn, %wu : tensor<?x64xf32>, tensor<96x64xf32> -> tensor<?x96xf32>
  %s = lowbit.swiglu %g, %u : tensor<?x96xf32>
  %wd = lowbit.weight "blk.0.ffn_down.weight" : tensor<64x96xf32>
  %d = lowbit.linear %s, %wd : tensor<?x96xf32>, tensor<64x96xf32> -> tensor<?x64xf32>
  %y = arith.addf %h, %d : tensor<?x64xf32>
  %output_norm = lowbit.weight "output_norm.weight" : tensor<64xf32>
  %yn = lowbit.rms_norm %y, %output_norm : tensor<?x64xf32>, tensor<64xf32>
  %wout = lowbit.weight "output.weight" : tensor<32x64xf32>
  %logits = lowbit.linear %yn, %wout : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
  return %logits, %cache1 : tensor<?x32xf32>, !lowbit.kv_cache<bits = 32, group = 16, heads = 2, head_dim = 16, max_len = 64>
}
