// RUN: lowbit-opt %s --lowbit-convert-to-cpu=isa=nvgpu --lowbit-offload-kernels-to-gpu=chip=sm_90 | FileCheck %s

// Caches the tensor-core prefill attention kernel does not take (here f16)
// keep the CUDA-core form for several query rows: a warp per (token, head)
// over all visible positions, the head's 64 channels spread over the 32
// lanes, the lanes' partial dot products combined by shuffles inside the
// loop over positions (online softmax, no array of scores).

// CHECK-LABEL: func.func private @lowbit_cpu_kv_attention_128_h2_kv1_b16_g64_l8(
// CHECK: scf.if
// CHECK: } else {
// CHECK-NOT: func.call
// CHECK: gpu.launch_func @[[CHANNELS:[a-z0-9_]+]]::@{{.*}} threads in (%c32{{.*}}, %c1{{.*}}, %c2{{.*}})
// CHECK-NOT: lowbit_nvgpu_prefill_attention

// CHECK: gpu.module @[[CHANNELS]] [
// CHECK-NOT: memref.alloca
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (f32, f32, vector<2xf32>)
// CHECK: vector.load %{{.*}} : memref<?x128xf32>, vector<2xf32>
// CHECK: vector.load %{{.*}} : memref<8x64xf16>, vector<2xf16>
// CHECK: vector.reduction <add>
// CHECK-COUNT-5: gpu.shuffle xor
// CHECK: math.exp
// CHECK: math.exp
// CHECK: scf.yield %{{.*}}, %{{.*}}, %{{.*}} : f32, f32, vector<2xf32>
// CHECK: vector.store %{{.*}} : memref<?x128xf32>, vector<2xf32>

!cache = !lowbit.kv_cache<bits = 16, group = 64, heads = 1, head_dim = 64, max_len = 8>

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
