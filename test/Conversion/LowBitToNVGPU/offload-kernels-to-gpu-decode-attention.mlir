// RUN: lowbit-opt %s --lowbit-convert-to-cpu=isa=nvgpu --lowbit-offload-kernels-to-gpu=chip=sm_90 | FileCheck %s

// One query row (decode) over a cache of up to 4096 positions: the loops
// over positions say how long they may get, so each head gets a block of 16
// warps whose 512 lanes split the positions, and the maximum, the softmax
// sum and the 64 weighted value sums combine across the warps through
// workgroup memory (two barriers each: 2 + 2 + 64 x 2). More rows keep a
// warp per (token, head) with the head's channels over its lanes.

// CHECK-LABEL: func.func private @lowbit_cpu_kv_attention_128_h2_kv1_b4_g32_l4096(
// CHECK: scf.if
// CHECK: gpu.launch_func @[[POSITIONS:[a-z0-9_]+]]::@{{.*}} threads in (%c512{{.*}}, %c1{{.*}}, %c1{{.*}})
// CHECK: } else {
// CHECK: gpu.launch_func @{{.*}} threads in (%c32{{.*}}, %c1{{.*}}, %c2{{.*}})
// CHECK: gpu.module @[[POSITIONS]] [
// CHECK: memref.get_global @lowbit_lane_partials : memref<16xf32, #gpu.address_space<workgroup>>
// CHECK-COUNT-132: gpu.barrier
// CHECK-NOT: gpu.barrier
// CHECK: gpu.return

!cache = !lowbit.kv_cache<bits = 4, group = 32, heads = 1, head_dim = 64, max_len = 4096>

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
