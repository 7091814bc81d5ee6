// RUN: lowbit-opt %s -split-input-file --lowbit-convert-to-cpu=isa=nvgpu | FileCheck %s
// RUN: lowbit-opt %s -split-input-file --lowbit-convert-to-cpu | FileCheck %s --check-prefix=CPU

// For GPU models, the KV append of a 4- or 8-bit cache turns its keys by
// their rotary embedding itself, and the query of the attention over the
// appended cache too: one launch instead of three. CPU models keep the
// rotary kernels, which compute each angle once for all heads.

!cache = !lowbit.kv_cache<bits = 4, group = 16, heads = 1, head_dim = 16, max_len = 8>

// CHECK-LABEL: func.func @lowbit_prefill(
// CHECK-SAME: %{{[^:]*}}: memref<?xi32>, %[[POSITIONS:[^:]*]]: memref<?xi32>, %[[START:[^:]*]]: index
// CHECK: call @lowbit_cpu_linear_32x32(%{{[^,]*}}, %{{[^,]*}}, %[[Q:[^)]*]])
// CHECK: call @lowbit_cpu_linear_16x32(%{{[^,]*}}, %{{[^,]*}}, %[[K:[^)]*]])
// CHECK: call @lowbit_cpu_linear_16x32(%{{[^,]*}}, %{{[^,]*}}, %[[V:[^)]*]])
// CHECK-NOT: call @lowbit_cpu_rotary_{{[0-9]+}}_h
// CHECK: call @lowbit_cpu_rotary_kv_append_16_b4_g16_l8_h16_t{{0x[0-9a-f]+}}_q32(%[[K]], %[[V]], %{{[^,]*}}, %{{[^,]*}}, %[[START]], %[[POSITIONS]], %[[Q]], %[[TURNED:[^)]*]])
// CHECK: call @lowbit_cpu_kv_attention_32_h2_kv1_b4_g16_l8(%[[TURNED]],

// The kernel: per (token, cache group), the group's share of the query's
// pairs turned and stored, then the turned keys' scale and codes, then the
// values'.
// CHECK-LABEL: func.func private @lowbit_cpu_rotary_kv_append_16_b4_g16_l8_h16_t{{0x[0-9a-f]+}}_q32(
// CHECK-SAME: %[[KEYS:[^:]*]]: memref<?x16xf32>, %[[VALUES:[^:]*]]: memref<?x16xf32>, %{{[^:]*}}: memref<?xi8>, %{{[^:]*}}: memref<?xi8>, %{{[^:]*}}: index, %[[POS:[^:]*]]: memref<?xi32>, %[[QUERY:[^:]*]]: memref<?x32xf32>, %[[OUT:[^:]*]]: memref<?x32xf32>)
// CHECK: scf.parallel (%[[T:.*]], %[[G:.*]]) =
// CHECK: scf.for %[[C:.*]] =
// CHECK: memref.load %[[POS]][%[[T]]]
// CHECK: math.powf
// CHECK: math.cos
// CHECK: math.sin
// CHECK: memref.load %[[QUERY]][%[[T]], %[[C]]]
// CHECK: memref.store %{{.*}}, %[[OUT]][%[[T]], %[[C]]]
// CHECK: } {lowbit.lane_split = "independent"}
// The keys go by pairs, one angle for both channels, in the scale pass and
// in the code pass.
// CHECK: scf.for %{{.*}} step %c2{{.*}} iter_args
// CHECK: math.cos
// CHECK-NOT: math.cos
// CHECK: memref.load %[[KEYS]]
// CHECK-NOT: math.cos
// CHECK: } {lowbit.lane_split = "max"}
// CHECK: scf.for %{{.*}} step %c2
// CHECK: math.cos
// CHECK-NOT: math.cos
// CHECK: memref.load %[[KEYS]]
// CHECK-NOT: math.cos
// CHECK: } {lowbit.lane_split = "independent"}
// CHECK: scf.for
// CHECK-NOT: math.cos
// CHECK: memref.load %[[VALUES]]
// CHECK: } {lowbit.lane_split = "max"}

// CPU-LABEL: func.func @lowbit_prefill(
// CPU: call @lowbit_cpu_rotary_32_h16_t{{0x[0-9a-f]+}}(
// CPU: call @lowbit_cpu_rotary_16_h16_t{{0x[0-9a-f]+}}(
// CPU: call @lowbit_cpu_kv_append_16_b4_g16_l8(
module attributes {lowbit.checkpoint = "tiny.gguf"} {
  func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index, %cache: !cache) -> (tensor<?x8xf32>, !cache) {
    %table = lowbit.weight "token_embd.weight" : tensor<8x32xf32>
    %x = lowbit.embedding %table[%tokens] : tensor<8x32xf32>, tensor<?xi32> -> tensor<?x32xf32>
    %wq = lowbit.weight "blk.0.attn_q.weight" : tensor<32x32xf32>
    %q = lowbit.linear %x, %wq : tensor<?x32xf32>, tensor<32x32xf32> -> tensor<?x32xf32>
    %wk = lowbit.weight "blk.0.attn_k.weight" : tensor<16x32xf32>
    %k = lowbit.linear %x, %wk : tensor<?x32xf32>, tensor<16x32xf32> -> tensor<?x16xf32>
    %wv = lowbit.weight "blk.0.attn_v.weight" : tensor<16x32xf32>
    %v = lowbit.linear %x, %wv : tensor<?x32xf32>, tensor<16x32xf32> -> tensor<?x16xf32>
    %rq = lowbit.rotary %q, %positions {head_dim = 16 : i64} : tensor<?x32xf32>, tensor<?xi32>
    %rk = lowbit.rotary %k, %positions {head_dim = 16 : i64} : tensor<?x16xf32>, tensor<?xi32>
    %c = lowbit.kv_append %rk, %v into %cache at %start : tensor<?x16xf32>, tensor<?x16xf32> -> !cache
    %o = lowbit.kv_attention %rq, %c at %start {num_heads = 2 : i64} : tensor<?x32xf32>, !cache
    %head = lowbit.weight "output.weight" : tensor<8x32xf32>
    %logits = lowbit.linear %o, %head : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x8xf32>
    return %logits, %c : tensor<?x8xf32>, !cache
  }
}

// -----

// A turned query with another user, or turned by other parameters, keeps
// its rotary kernel; the keys' is still fused.
!cache = !lowbit.kv_cache<bits = 8, group = 16, heads = 1, head_dim = 16, max_len = 8>

// CHECK-LABEL: func.func @lowbit_prefill(
// CHECK: call @lowbit_cpu_rotary_32_h16_t{{0x[0-9a-f]+}}(
// CHECK: call @lowbit_cpu_rotary_kv_append_16_b8_g16_l8_h16_t{{0x[0-9a-f]+}}(%{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}, %{{[^)]*}}) :
// CHECK: call @lowbit_cpu_kv_attention_32_h2_kv1_b8_g16_l8(
module attributes {lowbit.checkpoint = "tiny.gguf"} {
  func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index, %cache: !cache) -> (tensor<?x8xf32>, !cache) {
    %table = lowbit.weight "token_embd.weight" : tensor<8x32xf32>
    %x = lowbit.embedding %table[%tokens] : tensor<8x32xf32>, tensor<?xi32> -> tensor<?x32xf32>
    %wv = lowbit.weight "blk.0.attn_v.weight" : tensor<16x32xf32>
    %v = lowbit.linear %x, %wv : tensor<?x32xf32>, tensor<16x32xf32> -> tensor<?x16xf32>
    %rq = lowbit.rotary %x, %positions {head_dim = 16 : i64} : tensor<?x32xf32>, tensor<?xi32>
    %rk = lowbit.rotary %v, %positions {head_dim = 16 : i64} : tensor<?x16xf32>, tensor<?xi32>
    %c = lowbit.kv_append %rk, %v into %cache at %start : tensor<?x16xf32>, tensor<?x16xf32> -> !cache
    %o = lowbit.kv_attention %rq, %c at %start {num_heads = 2 : i64} : tensor<?x32xf32>, !cache
    %sum = arith.addf %o, %rq : tensor<?x32xf32>
    %head = lowbit.weight "output.weight" : tensor<8x32xf32>
    %logits = lowbit.linear %sum, %head : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x8xf32>
    return %logits, %c : tensor<?x8xf32>, !cache
  }
}

// -----

// A 16-bit cache stores the keys as they come: its rotary kernels stay.
!cache = !lowbit.kv_cache<bits = 16, group = 16, heads = 1, head_dim = 16, max_len = 8>

// CHECK-LABEL: func.func @lowbit_prefill(
// CHECK: call @lowbit_cpu_rotary_32_h16_t{{0x[0-9a-f]+}}(
// CHECK: call @lowbit_cpu_rotary_16_h16_t{{0x[0-9a-f]+}}(
// CHECK: call @lowbit_cpu_kv_append_16_b16_g16_l8(
module attributes {lowbit.checkpoint = "tiny.gguf"} {
  func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index, %cache: !cache) -> (tensor<?x8xf32>, !cache) {
    %table = lowbit.weight "token_embd.weight" : tensor<8x32xf32>
    %x = lowbit.embedding %table[%tokens] : tensor<8x32xf32>, tensor<?xi32> -> tensor<?x32xf32>
    %wv = lowbit.weight "blk.0.attn_v.weight" : tensor<16x32xf32>
    %v = lowbit.linear %x, %wv : tensor<?x32xf32>, tensor<16x32xf32> -> tensor<?x16xf32>
    %rq = lowbit.rotary %x, %positions {head_dim = 16 : i64} : tensor<?x32xf32>, tensor<?xi32>
    %rk = lowbit.rotary %v, %positions {head_dim = 16 : i64} : tensor<?x16xf32>, tensor<?xi32>
    %c = lowbit.kv_append %rk, %v into %cache at %start : tensor<?x16xf32>, tensor<?x16xf32> -> !cache
    %o = lowbit.kv_attention %rq, %c at %start {num_heads = 2 : i64} : tensor<?x32xf32>, !cache
    %head = lowbit.weight "output.weight" : tensor<8x32xf32>
    %logits = lowbit.linear %o, %head : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x8xf32>
    return %logits, %c : tensor<?x8xf32>, !cache
  }
}
