// RUN: lowbit-opt %s --lowbit-convert-to-cpu --lowbit-offload-kernels-to-gpu=chip=sm_80 | FileCheck %s
// RUN: lowbit-opt %s --lowbit-convert-to-cpu --lowbit-offload-kernels-to-gpu="chip=sm_90 threads-per-block=64" | FileCheck %s --check-prefix=SM90

// The graph kernels of lowbit-convert-to-cpu run on the GPU: every parallel
// loop nest becomes a launch of an outlined kernel, and the host functions
// keep only views, launch grids and gpu.launch_func.

!cache = !lowbit.kv_cache<bits = 4, group = 16, heads = 1, head_dim = 16, max_len = 8>
!act = !lowbit.qtensor<?x32, f16, #lowbit.blocks<16, [8, 4], per_token, perm = [1, 0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31]>>
!w = !lowbit.qtensor<16x32, f16, #lowbit.blocks<16, [8, 4], per_group = 16, perm = [1, 0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31]>>

// CHECK-LABEL: func.func @lowbit_prefill(
// CHECK: call @lowbit_cpu_embedding_8x32(
// CHECK: call @lowbit_cpu_linear_8x16(

// Tokens x channels: 32 channels in the threads of a block, tokens over
// blocks.
// CHECK-LABEL: func.func private @lowbit_cpu_embedding_8x32(
// CHECK-NOT: memref.load
// CHECK: gpu.launch_func @lowbit_cpu_embedding_8x32_kernel::@lowbit_cpu_embedding_8x32_kernel blocks in (%{{.*}}, %c1{{.*}}, %c1{{.*}}) threads in (%c1{{.*}}, %c32{{.*}}, %c1{{.*}})
// CHECK: gpu.module @lowbit_cpu_embedding_8x32_kernel [#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">]
// CHECK: gpu.func @lowbit_cpu_embedding_8x32_kernel(
// CHECK-SAME: kernel
// CHECK: gpu.block_id x
// CHECK: gpu.thread_id y

// Every (token, scale group) is quantized by a warp, one launch for the
// groups of every bit width (here one INT8 group, then one INT4 group, two
// warps of a block): the lanes split the group's channels and combine their
// absolute maxima. The permutation table is read from the kernel module's
// copy.
// CHECK-LABEL: func.func private @lowbit_cpu_quantize_32_b16_g16_84_f16_p{{[0-9]+}}(
// CHECK: gpu.launch_func {{.*}} threads in (%c32{{.*}}, %c1{{.*}}, %c2{{.*}})
// CHECK-NOT: gpu.launch_func
// CHECK: gpu.module @lowbit_cpu_quantize_32_b16_g16_84_f16_p{{[0-9]+}}_kernel
// CHECK: memref.get_global @lowbit_cpu_permutation_p[[PERM:[0-9]+]]
// CHECK: %[[GROUP_END:.*]] = arith.addi %[[GROUP_START:.*]], %c16 : index
// CHECK: %[[LANE_START:.*]] = arith.addi %[[GROUP_START]], %thread_id_x : index
// CHECK: scf.for %{{.*}} = %[[LANE_START]] to %[[GROUP_END]] step %c32
// CHECK: gpu.shuffle xor
// CHECK: memref.global "private" constant @lowbit_cpu_permutation_p[[PERM]]
// CHECK-NEXT: }

// Output channels x tokens: one thread per output and token.
// CHECK-LABEL: func.func private @lowbit_cpu_matmul_16x32_b16_ga16_gw16_84_f32(
// CHECK: gpu.launch_func {{.*}} threads in (%c32{{.*}}, %c1{{.*}}, %c1{{.*}})
// CHECK: gpu.func @lowbit_cpu_matmul_16x32_b16_ga16_gw16_84_f32_kernel(
// CHECK: vector.reduction <add>

// Keys and values are stored by one launch: a warp per (token, group)
// quantizes the group of both.
// CHECK-LABEL: func.func private @lowbit_cpu_kv_append_16_b4_g16_l8(
// CHECK: gpu.launch_func {{.*}} threads in (%c32{{.*}}, %c1{{.*}}, %c1{{.*}})
// CHECK-NOT: gpu.launch_func
// CHECK: gpu.func @lowbit_cpu_kv_append_16_b4_g16_l8_kernel(
// CHECK: memref.store %{{.*}} : memref<8x1xf32>
// CHECK: memref.store %{{.*}} : memref<8x8xi8>
// CHECK: memref.store %{{.*}} : memref<8x1xf32>
// CHECK: memref.store %{{.*}} : memref<8x8xi8>
// CHECK: gpu.return

// Each query row and head gets a warp whose lanes split the positions; a
// lane keeps the scores of its positions on its own stack, and the maximum,
// the softmax sum and the weighted values are combined across the warp.
// CHECK-LABEL: func.func private @lowbit_cpu_kv_attention_16_h1_kv1_b4_g16_l8(
// CHECK-NOT: memref.alloca
// CHECK: gpu.launch_func {{.*}} threads in (%c32{{.*}}, %c1{{.*}}, %c1{{.*}})
// CHECK: gpu.func @lowbit_cpu_kv_attention_16_h1_kv1_b4_g16_l8_kernel(
// CHECK: memref.alloca() : memref<8xf32>
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args
// CHECK: arith.cmpf olt
// CHECK: gpu.shuffle xor
// CHECK: math.exp
// CHECK: gpu.shuffle xor
// CHECK: vector.from_elements

// SM90: gpu.module @lowbit_cpu_embedding_8x32_kernel [#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">]
// SM90-LABEL: func.func private @lowbit_cpu_linear_8x16(
// SM90: threads in (%c32{{.*}}, %c1{{.*}}, %c1{{.*}})

module attributes {lowbit.checkpoint = "tiny.gguf"} {
  func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index, %cache: !cache) -> (tensor<?x8xf32>, !cache) {
    %table = lowbit.weight "token_embd.weight" : tensor<8x32xf32>
    %x = lowbit.embedding %table[%tokens] : tensor<8x32xf32>, tensor<?xi32> -> tensor<?x32xf32>
    %a = lowbit.quantize %x : tensor<?x32xf32> -> !act
    %wk = lowbit.weight "blk.0.attn_k.weight" : tensor<16x32xf32>
    %qk = lowbit.quantize %wk : tensor<16x32xf32> -> !w
    %k = lowbit.matmul %a, %qk : !act, !w -> tensor<?x16xf32>
    %wv = lowbit.weight "blk.0.attn_v.weight" : tensor<16x32xf32>
    %qv = lowbit.quantize %wv : tensor<16x32xf32> -> !w
    %v = lowbit.matmul %a, %qv : !act, !w -> tensor<?x16xf32>
    %c = lowbit.kv_append %k, %v into %cache at %start : tensor<?x16xf32>, tensor<?x16xf32> -> !cache
    %o = lowbit.kv_attention %k, %c at %start {num_heads = 1 : i64} : tensor<?x16xf32>, !cache
    %head = lowbit.weight "output.weight" : tensor<8x16xf32>
    %logits = lowbit.linear %o, %head : tensor<?x16xf32>, tensor<8x16xf32> -> tensor<?x8xf32>
    return %logits, %c : tensor<?x8xf32>, !cache
  }
}
