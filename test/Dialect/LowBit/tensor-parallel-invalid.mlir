// RUN: lowbit-opt %s --lowbit-tensor-parallel=tp=4 -split-input-file -verify-diagnostics

// Six KV heads can neither be split four ways nor shared by four ranks.
func.func @kv_heads(%x: tensor<?x64xf32>, %positions: tensor<?xi32>, %start: index,
                    %cache: !lowbit.kv_cache<bits = 32, group = 16, heads = 6, head_dim = 16, max_len = 64>)
    -> tensor<?x64xf32> {
  %wq = lowbit.weight "q" : tensor<192x64xf32>
  %q = lowbit.linear %x, %wq : tensor<?x64xf32>, tensor<192x64xf32> -> tensor<?x192xf32>
  %wk = lowbit.weight "k" : tensor<96x64xf32>
  %k = lowbit.linear %x, %wk : tensor<?x64xf32>, tensor<96x64xf32> -> tensor<?x96xf32>
  %wv = lowbit.weight "v" : tensor<96x64xf32>
  %v = lowbit.linear %x, %wv : tensor<?x64xf32>, tensor<96x64xf32> -> tensor<?x96xf32>
  %cache1 = lowbit.kv_append %k, %v into %cache at %start : tensor<?x96xf32>, tensor<?x96xf32> -> !lowbit.kv_cache<bits = 32, group = 16, heads = 6, head_dim = 16, max_len = 64>
  // expected-error @+1 {{cannot shard across 4 ranks: 6 KV heads neither divide by 4 nor divide it (grouped-query attention: KV heads are split or replicated, choose a tp that divides or is a multiple of 6)}}
  %attention = lowbit.kv_attention %q, %cache1 at %start {num_heads = 12 : i64} : tensor<?x192xf32>, !lowbit.kv_cache<bits = 32, group = 16, heads = 6, head_dim = 16, max_len = 64>
  %wo = lowbit.weight "o" : tensor<64x192xf32>
  %o = lowbit.linear %attention, %wo : tensor<?x192xf32>, tensor<64x192xf32> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

// Attention whose output is not read by one linear layer is not a block
// the pass knows how to split.
func.func @attention_output(%x: tensor<?x64xf32>, %start: index,
                            %cache: !lowbit.kv_cache<bits = 32, group = 16, heads = 4, head_dim = 16, max_len = 64>)
    -> tensor<?x64xf32> {
  %wq = lowbit.weight "q" : tensor<64x64xf32>
  %q = lowbit.linear %x, %wq : tensor<?x64xf32>, tensor<64x64xf32> -> tensor<?x64xf32>
  %wk = lowbit.weight "k" : tensor<64x64xf32>
  %k = lowbit.linear %x, %wk : tensor<?x64xf32>, tensor<64x64xf32> -> tensor<?x64xf32>
  %wv = lowbit.weight "v" : tensor<64x64xf32>
  %v = lowbit.linear %x, %wv : tensor<?x64xf32>, tensor<64x64xf32> -> tensor<?x64xf32>
  %cache1 = lowbit.kv_append %k, %v into %cache at %start : tensor<?x64xf32>, tensor<?x64xf32> -> !lowbit.kv_cache<bits = 32, group = 16, heads = 4, head_dim = 16, max_len = 64>
  // expected-error @+1 {{cannot shard this attention: expected q, k and v linear layers}}
  %attention = lowbit.kv_attention %q, %cache1 at %start {num_heads = 4 : i64} : tensor<?x64xf32>, !lowbit.kv_cache<bits = 32, group = 16, heads = 4, head_dim = 16, max_len = 64>
  return %attention : tensor<?x64xf32>
}

// -----

func.func @mlp_channels(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %wg = lowbit.weight "gate" : tensor<90x64xf32>
  %g = lowbit.linear %x, %wg : tensor<?x64xf32>, tensor<90x64xf32> -> tensor<?x90xf32>
  %wu = lowbit.weight "up" : tensor<90x64xf32>
  %u = lowbit.linear %x, %wu : tensor<?x64xf32>, tensor<90x64xf32> -> tensor<?x90xf32>
  // expected-error @+1 {{cannot shard across 4 ranks: 90 MLP channels do not divide by 4}}
  %s = lowbit.swiglu %g, %u : tensor<?x90xf32>
  %wd = lowbit.weight "down" : tensor<64x90xf32>
  %d = lowbit.linear %s, %wd : tensor<?x90xf32>, tensor<64x90xf32> -> tensor<?x64xf32>
  return %d : tensor<?x64xf32>
}

// -----

func.func @vocabulary(%x: tensor<?x64xf32>) -> tensor<?x30xf32> {
  %w = lowbit.weight "output.weight" : tensor<30x64xf32>
  // expected-error @+1 {{cannot shard across 4 ranks: 30 vocabulary entries do not divide by 4}}
  %logits = lowbit.linear %x, %w : tensor<?x64xf32>, tensor<30x64xf32> -> tensor<?x30xf32>
  return %logits : tensor<?x30xf32>
}

// -----

func.func @quantized(%x: tensor<?x64xf32>) -> !lowbit.qtensor<?x64, f32, #lowbit.blocks<32, [8, 8], per_token>> {
  // expected-error @+1 {{lowbit-tensor-parallel shards floating-point modules: run it before quantization}}
  %q = lowbit.quantize %x : tensor<?x64xf32> -> !lowbit.qtensor<?x64, f32, #lowbit.blocks<32, [8, 8], per_token>>
  return %q : !lowbit.qtensor<?x64, f32, #lowbit.blocks<32, [8, 8], per_token>>
}

// -----

// expected-error @+1 {{the module is already sharded (it has lowbit.rank_group @tp)}}
lowbit.rank_group @tp [0, 1, 2, 3]
