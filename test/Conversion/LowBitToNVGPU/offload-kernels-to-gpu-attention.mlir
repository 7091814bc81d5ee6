// RUN: lowbit-opt %s --lowbit-convert-to-cpu=isa=nvgpu --lowbit-offload-kernels-to-gpu=chip=sm_90 | FileCheck %s

// KV4 attention on the GPU spreads a head's 64 channels over the 32 lanes
// of a warp, two each, so a position's packed keys and values are read by
// the warp at once. The loop over positions takes 8 a step (positions past
// the end read the last one and weigh 0): the step's values are loaded
// first, its 8 partial dot products combine by independent shuffles, and
// the loop keeps a running maximum, sum and weighted value sum (online
// softmax), with no array of scores.
// More query rows (prefill) call the tensor-core prefill attention
// declaration (lowbit-define-gpu-prefill-attention defines it; caches it
// does not take keep the CUDA-core form of
// offload-kernels-to-gpu-attention-f16.mlir). One row (decode) splits the positions into parts of 64, a warp
// per (head, part) writing the part's maximum, sum and weighted sums to the
// workspace in the state, and a second kernel combines a head's parts.

// CHECK-LABEL: func.func private @lowbit_cpu_kv_attention_128_h2_kv1_b4_g32_l8(
// CHECK-SAME: %[[WORKSPACE:[^:]*]]: memref<?xi8>)
// CHECK: %[[ROWS:.*]] = memref.dim
// CHECK: %[[ONE:.*]] = arith.cmpi eq, %[[ROWS]]
// CHECK: scf.if %[[ONE]]
// CHECK: %[[PARTIALS:.*]] = memref.view %[[WORKSPACE]][%{{.*}}][] : memref<?xi8> to memref<132xf32>
// CHECK: gpu.launch_func @[[PARTS:[a-z0-9_]+]]::@{{.*}} threads in (%c32{{.*}}, %c2{{.*}}, %c1{{.*}}) {{.*}}%[[PARTIALS]] : memref<132xf32>)
// CHECK: gpu.launch_func @[[COMBINE:[a-z0-9_]+]]::@{{.*}} threads in (%c32{{.*}}, %c2{{.*}}, %c1{{.*}}) args({{.*}}%[[PARTIALS]] : memref<132xf32>
// CHECK: } else {
// CHECK: func.call @[[PREFILL:lowbit_nvgpu_prefill_attention_128_kv1_d64_b4_g32_l8]](%arg0, %arg1, %arg2, %arg3, %arg4) : (memref<?x128xf32>, memref<?xi8>, memref<?xi8>, index, memref<?x128xf32>) -> ()

// CHECK: gpu.module @[[PARTS]] [
// CHECK-NOT: memref.alloca
// CHECK: arith.minui
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[END:.*]] step %c8 iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (f32, f32, vector<2xf32>)
// CHECK-COUNT-8: arith.minui %{{.*}}, %{{.*}} : index
// CHECK: scf.for {{.*}} -> (vector<8xf32>)
// CHECK: vector.from_elements {{.*}} : vector<8xf32>
// CHECK-COUNT-40: gpu.shuffle xor
// CHECK-COUNT-8: math.exp
// CHECK: scf.yield %{{.*}}, %{{.*}}, %{{.*}} : f32, f32, vector<2xf32>
// CHECK: memref.store %{{.*}} : memref<132xf32>
// CHECK: memref.store %{{.*}} : memref<132xf32>
// CHECK: vector.store %{{.*}} : memref<132xf32>, vector<2xf32>

// The combination walks the parts that hold visible positions (a bound
// computed from the start position) in one pass, rescaling its sums when
// the maximum grows.
// CHECK: gpu.module @[[COMBINE]] [
// CHECK: scf.for %{{.*}} = %c0 to %{{.*}} step %c1 iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (f32, f32, vector<2xf32>)
// CHECK: memref.load %{{.*}} : memref<132xf32>
// CHECK: memref.load %{{.*}} : memref<132xf32>
// CHECK: vector.load %{{.*}} : memref<132xf32>, vector<2xf32>
// CHECK: math.exp
// CHECK: math.exp
// CHECK: arith.divf
// CHECK: vector.store %{{.*}} : memref<?x128xf32>, vector<2xf32>

// The prompt attention stays a declaration until
// lowbit-define-gpu-prefill-attention; its mark names the cache.
// CHECK: func.func private @[[PREFILL]](memref<?x128xf32>, memref<?xi8>, memref<?xi8>, index, memref<?x128xf32>) attributes {lowbit.gpu_prefill_attention = !lowbit.kv_cache<bits = 4, group = 32, heads = 1, head_dim = 64, max_len = 8>}

// The f32 linear (here the LM head) also takes two forms: up to 16 token
// rows a warp per tile of outputs and tokens, its lanes splitting the input
// channels and combining by shuffles; more rows a thread per tile, summing
// the input channels in order, so neighbouring threads read neighbouring
// weight columns.
// CHECK-LABEL: func.func private @lowbit_cpu_linear_8x128(
// CHECK: %[[FEW:.*]] = arith.cmpi ule, %{{.*}}, %c16
// CHECK: scf.if %[[FEW]]
// CHECK: gpu.launch_func @[[SPLIT:[a-z0-9_]+]]::@
// CHECK: } else {
// CHECK: gpu.launch_func @[[THREADS:[a-z0-9_]+]]::@
// CHECK: gpu.module @[[SPLIT]] [
// CHECK: gpu.shuffle xor
// CHECK: gpu.module @[[THREADS]] [
// CHECK-NOT: gpu.shuffle
// CHECK: gpu.return

// Batched decode (a row per sequence) splits every row's positions alike: a
// warp per (row, head and part), heads and parts sharing one dimension of
// the grid so that the lanes still split the channels, then a warp per
// (row, head) combines.
// CHECK-LABEL: func.func private @lowbit_cpu_kv_attention_128_h2_kv1_b4_g32_l8_seq(
// CHECK: gpu.launch_func @{{.*}} blocks in (%{{.*}}, %c1{{.*}}, %c1{{.*}}) threads in (%c32{{.*}}, %c1{{.*}}, %c2{{.*}})
// CHECK: gpu.launch_func @{{.*}} blocks in (%{{.*}}, %c1{{.*}}, %c1{{.*}}) threads in (%c32{{.*}}, %c1{{.*}}, %c2{{.*}})

!cache = !lowbit.kv_cache<bits = 4, group = 32, heads = 1, head_dim = 64, max_len = 8>

module attributes {lowbit.checkpoint = "tiny.gguf"} {
  func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index, %cache: !cache) -> (tensor<?x8xf32>, !cache) {
    %table = lowbit.weight "token_embd.weight" : tensor<8x64xf32>
    %kv = lowbit.embedding %table[%tokens] : tensor<8x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
    %table2 = lowbit.weight "token_embd2.weight" : tensor<8x128xf32>
    %q = lowbit.embedding %table2[%tokens] : tensor<8x128xf32>, tensor<?xi32> -> tensor<?x128xf32>
    %c = lowbit.kv_append %kv, %kv into %cache at %start : tensor<?x64xf32>, tensor<?x64xf32> -> !cache
    %o = lowbit.kv_attention %q, %c at %start {num_heads = 2 : i64} : tensor<?x128xf32>, !cache
    %head = lowbit.weight "output.weight" : tensor<8x128xf32>
    %logits = lowbit.linear %o, %head : tensor<?x128xf32>, tensor<8x128xf32> -> tensor<?x8xf32>
    return %logits, %c : tensor<?x8xf32>, !cache
  }
}
