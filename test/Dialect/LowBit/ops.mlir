// RUN: lowbit-opt %s | lowbit-opt | FileCheck %s
// RUN: lowbit-opt %s --mlir-print-op-generic | lowbit-opt | FileCheck %s

// Round trip of every lowbit operation in its custom assembly form.

// CHECK-LABEL: func @embedding
// CHECK: lowbit.embedding %{{.*}}[%{{.*}}] : tensor<4096x256xf32>, tensor<?xi32> -> tensor<?x256xf32>
func.func @embedding(%table: tensor<4096x256xf32>, %tokens: tensor<?xi32>) -> tensor<?x256xf32> {
  %0 = lowbit.embedding %table[%tokens] : tensor<4096x256xf32>, tensor<?xi32> -> tensor<?x256xf32>
  return %0 : tensor<?x256xf32>
}

// CHECK-LABEL: func @weight
// CHECK: lowbit.weight "blk.0.attn_q.weight" : tensor<256x256xf32>
func.func @weight() -> tensor<256x256xf32> {
  %0 = lowbit.weight "blk.0.attn_q.weight" : tensor<256x256xf32>
  return %0 : tensor<256x256xf32>
}

// CHECK-LABEL: func @rms_norm
// CHECK: lowbit.rms_norm %{{.*}}, %{{.*}} : tensor<?x256xf32>, tensor<256xf32>
// CHECK: lowbit.rms_norm %{{.*}}, %{{.*}} {epsilon = 9.99999997E-7 : f32} : tensor<?x256xf16>, tensor<256xf32>
func.func @rms_norm(%x: tensor<?x256xf32>, %h: tensor<?x256xf16>, %w: tensor<256xf32>) {
  %0 = lowbit.rms_norm %x, %w : tensor<?x256xf32>, tensor<256xf32>
  %1 = lowbit.rms_norm %h, %w {epsilon = 1.0e-06 : f32} : tensor<?x256xf16>, tensor<256xf32>
  return
}

// CHECK-LABEL: func @linear
// CHECK: lowbit.linear %{{.*}}, %{{.*}} : tensor<?x256xf32>, tensor<512x256xf32> -> tensor<?x512xf32>
func.func @linear(%x: tensor<?x256xf32>, %w: tensor<512x256xf32>) -> tensor<?x512xf32> {
  %0 = lowbit.linear %x, %w : tensor<?x256xf32>, tensor<512x256xf32> -> tensor<?x512xf32>
  return %0 : tensor<?x512xf32>
}

// CHECK-LABEL: func @rotary
// CHECK: lowbit.rotary %{{.*}}, %{{.*}} {head_dim = 32 : i64} : tensor<?x256xf32>, tensor<?xi32>
// CHECK: lowbit.rotary %{{.*}}, %{{.*}} {head_dim = 64 : i64, theta = 5.000000e+05 : f32} : tensor<3x256xf32>, tensor<3xi64>
// CHECK: lowbit.rotary %{{.*}}, %{{.*}} factors(%{{.*}} : tensor<16xf32>) {head_dim = 32 : i64} : tensor<?x256xf32>, tensor<?xi32>
func.func @rotary(%x: tensor<?x256xf32>, %pos: tensor<?xi32>, %y: tensor<3x256xf32>, %pos64: tensor<3xi64>, %factors: tensor<16xf32>) {
  %0 = lowbit.rotary %x, %pos {head_dim = 32 : i64} : tensor<?x256xf32>, tensor<?xi32>
  %1 = lowbit.rotary %y, %pos64 {head_dim = 64 : i64, theta = 500000.0 : f32} : tensor<3x256xf32>, tensor<3xi64>
  %2 = lowbit.rotary %x, %pos factors(%factors : tensor<16xf32>) {head_dim = 32 : i64} : tensor<?x256xf32>, tensor<?xi32>
  return
}

// CHECK-LABEL: func @swiglu
// CHECK: lowbit.swiglu %{{.*}}, %{{.*}} : tensor<?x704xf32>
func.func @swiglu(%gate: tensor<?x704xf32>, %up: tensor<?x704xf32>) -> tensor<?x704xf32> {
  %0 = lowbit.swiglu %gate, %up : tensor<?x704xf32>
  return %0 : tensor<?x704xf32>
}

// CHECK-LABEL: func @grouped_query_attention
// CHECK: lowbit.attention %{{.*}}, %{{.*}}, %{{.*}} {causal, num_heads = 8 : i64, num_kv_heads = 4 : i64} : tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32>
func.func @grouped_query_attention(%q: tensor<?x256xf32>, %k: tensor<?x128xf32>, %v: tensor<?x128xf32>) -> tensor<?x256xf32> {
  %0 = lowbit.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 4 : i64, causal} : tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32>
  return %0 : tensor<?x256xf32>
}

// CHECK-LABEL: func @kv_cache
// CHECK: %[[C1:.*]] = lowbit.kv_append %{{.*}}, %{{.*}} into %{{.*}} at %{{.*}} : tensor<?x128xf32>, tensor<?x128xf32> -> !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 32, max_len = 256>
// CHECK: lowbit.kv_attention %{{.*}}, %[[C1]] at %{{.*}} {num_heads = 8 : i64} : tensor<?x256xf32>, !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 32, max_len = 256>
func.func @kv_cache(%q: tensor<?x256xf32>, %k: tensor<?x128xf32>, %v: tensor<?x128xf32>,
                    %cache: !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 32, max_len = 256>,
                    %pos: index) -> tensor<?x256xf32> {
  %c1 = lowbit.kv_append %k, %v into %cache at %pos : tensor<?x128xf32>, tensor<?x128xf32> -> !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 32, max_len = 256>
  %0 = lowbit.kv_attention %q, %c1 at %pos {num_heads = 8 : i64} : tensor<?x256xf32>, !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 32, max_len = 256>
  return %0 : tensor<?x256xf32>
}

// CHECK-LABEL: func @quantize_dequantize
// CHECK: %[[Q:.*]] = lowbit.quantize %{{.*}} : tensor<?x512xf16> -> !lowbit.qtensor<?x512, f16, #lowbit.blocks<128, [8, 4, 4, 4], per_token>>
// CHECK: lowbit.dequantize %[[Q]] : !lowbit.qtensor<?x512, f16, #lowbit.blocks<128, [8, 4, 4, 4], per_token>> -> tensor<?x512xf16>
func.func @quantize_dequantize(%x: tensor<?x512xf16>) -> tensor<?x512xf16> {
  %q = lowbit.quantize %x : tensor<?x512xf16> -> !lowbit.qtensor<?x512, f16, #lowbit.blocks<128, [8, 4, 4, 4], per_token>>
  %0 = lowbit.dequantize %q : !lowbit.qtensor<?x512, f16, #lowbit.blocks<128, [8, 4, 4, 4], per_token>> -> tensor<?x512xf16>
  return %0 : tensor<?x512xf16>
}

// CHECK-LABEL: func @permute_channels
// CHECK: lowbit.permute_channels %{{.*}} [3, 0, 1, 2] : tensor<?x4xf32>
func.func @permute_channels(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %0 = lowbit.permute_channels %x [3, 0, 1, 2] : tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// CHECK-LABEL: func @mixed_precision_matmul
// CHECK: lowbit.matmul %{{.*}}, %{{.*}} : !lowbit.qtensor<?x512, f16, #lowbit.blocks<128, [8, 4, 4, 4], per_token>>, !lowbit.qtensor<1024x512, f16, #lowbit.blocks<128, [4, 4, 4, 4], per_group = 64>> -> tensor<?x1024xf16>
func.func @mixed_precision_matmul(
    %a: !lowbit.qtensor<?x512, f16, #lowbit.blocks<128, [8, 4, 4, 4], per_token>>,
    %w: !lowbit.qtensor<1024x512, f16, #lowbit.blocks<128, [4, 4, 4, 4], per_group = 64>>) -> tensor<?x1024xf16> {
  %0 = lowbit.matmul %a, %w : !lowbit.qtensor<?x512, f16, #lowbit.blocks<128, [8, 4, 4, 4], per_token>>, !lowbit.qtensor<1024x512, f16, #lowbit.blocks<128, [4, 4, 4, 4], per_group = 64>> -> tensor<?x1024xf16>
  return %0 : tensor<?x1024xf16>
}

// CHECK-LABEL: func @permuted_matmul_to_f32
// CHECK: lowbit.matmul {{.*}} -> tensor<2x3xf32>
func.func @permuted_matmul_to_f32(
    %a: !lowbit.qtensor<2x8, f16, #lowbit.blocks<4, [8, 4], per_token, perm = [5, 1, 0, 2, 3, 4, 6, 7]>>,
    %w: !lowbit.qtensor<3x8, f16, #lowbit.blocks<4, [4, 4], per_channel, perm = [5, 1, 0, 2, 3, 4, 6, 7]>>) -> tensor<2x3xf32> {
  %0 = lowbit.matmul %a, %w : !lowbit.qtensor<2x8, f16, #lowbit.blocks<4, [8, 4], per_token, perm = [5, 1, 0, 2, 3, 4, 6, 7]>>, !lowbit.qtensor<3x8, f16, #lowbit.blocks<4, [4, 4], per_channel, perm = [5, 1, 0, 2, 3, 4, 6, 7]>> -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// CHECK: lowbit.rank_group @tp [0, 1]
lowbit.rank_group @tp [0, 1]

// CHECK-LABEL: func @compressed_collectives
// CHECK: lowbit.all_reduce %{{.*}} over @tp wire <fp4_e2m1, block = 16, scale = f8E8M0FNU> : tensor<?x256xf32>
// CHECK: lowbit.all_reduce %{{.*}} over @tp : tensor<?x256xf32>
// CHECK: lowbit.all_gather %{{.*}} over @tp along 1 wire <fp5_e2m2, block = 8, scale = f16> : tensor<?x256xf32> -> tensor<?x512xf32>
// CHECK: lowbit.reduce_scatter %{{.*}} over @tp along 1 wire <int4, block = 32, scale = f16> : tensor<?x256xf32> -> tensor<?x128xf32>
func.func @compressed_collectives(%x: tensor<?x256xf32>) {
  %0 = lowbit.all_reduce %x over @tp wire <fp4_e2m1, block = 16, scale = f8E8M0FNU> : tensor<?x256xf32>
  %1 = lowbit.all_reduce %x over @tp : tensor<?x256xf32>
  %2 = lowbit.all_gather %x over @tp along 1 wire <fp5_e2m2, block = 8, scale = f16> : tensor<?x256xf32> -> tensor<?x512xf32>
  %3 = lowbit.reduce_scatter %x over @tp along 1 wire <int4, block = 32, scale = f16> : tensor<?x256xf32> -> tensor<?x128xf32>
  return
}

// CHECK-LABEL: func @shards
// CHECK: lowbit.shard %{{.*}} over @tp along 0 : tensor<256x64xf32> -> tensor<128x64xf32>
// CHECK: lowbit.shard %{{.*}} over @tp along 1 : tensor<256x64xf32> -> tensor<256x32xf32>
// CHECK: lowbit.shard %{{.*}} over @tp along 0 : tensor<64xf16> -> tensor<32xf16>
// CHECK: lowbit.shard %{{.*}} over @tp along 0 replicas 2 : tensor<256x64xf32> -> tensor<256x64xf32>
func.func @shards(%w: tensor<256x64xf32>, %n: tensor<64xf16>) {
  %0 = lowbit.shard %w over @tp along 0 : tensor<256x64xf32> -> tensor<128x64xf32>
  %1 = lowbit.shard %w over @tp along 1 : tensor<256x64xf32> -> tensor<256x32xf32>
  %2 = lowbit.shard %n over @tp along 0 : tensor<64xf16> -> tensor<32xf16>
  %3 = lowbit.shard %w over @tp along 0 replicas 2 : tensor<256x64xf32> -> tensor<256x64xf32>
  return
}
