// RUN: lowbit-opt %s --split-input-file --lowbit-define-gpu-prefill-attention=chip=sm_80 | FileCheck %s

// The prompt attention declaration of lowbit-convert-to-cpu{isa=nvgpu} gets
// a host body: the query and output rows flattened, then one launch of the
// tensor-core kernel over blocks of 64 query rows by the 2 heads, 128
// threads, with its dynamic shared memory: 64 query rows and 32 key and 32
// value rows of 64 + 4 floats, and 32 key and 32 value scales of each of
// the head's 2 groups, 4 * (4352 + 2 * 2176 + 2 * 64) bytes.

// CHECK-LABEL: func.func private @attention_b4(
// CHECK-SAME: %[[QUERY:[^:]*]]: memref<?x128xf32>, %[[KEYS:[^:]*]]: memref<?xi8>, %[[VALUES:[^:]*]]: memref<?xi8>, %[[START:[^:]*]]: index, %[[OUT:[^:]*]]: memref<?x128xf32>)
// CHECK-NOT: lowbit.gpu_prefill_attention
// CHECK: %[[ROWS:.*]] = memref.dim %[[QUERY]], %c0
// CHECK: %[[QUERY_1D:.*]] = memref.collapse_shape %[[QUERY]] {{\[\[}}0, 1]] : memref<?x128xf32> into memref<?xf32>
// CHECK: %[[OUT_1D:.*]] = memref.collapse_shape %[[OUT]]
// CHECK: %[[ROWS_I32:.*]] = arith.index_cast %[[ROWS]] : index to i32
// CHECK: %[[START_I32:.*]] = arith.index_cast %[[START]] : index to i32
// CHECK: %[[SHARED:.*]] = arith.constant 35328 : i32
// CHECK: %[[BLOCKS:.*]] = arith.ceildivui %[[ROWS]], %c64
// CHECK: gpu.launch_func @lowbit_attention_kernels::@[[KERNEL:tc_prefill_attention_d64_h2_kv1_b4_g32_l8]] blocks in (%[[BLOCKS]], %c2, %c1) threads in (%c128, %c1, %c1) dynamic_shared_memory_size %[[SHARED]] args(%[[QUERY_1D]] : memref<?xf32>, %[[KEYS]] : memref<?xi8>, %[[VALUES]] : memref<?xi8>, %[[OUT_1D]] : memref<?xf32>, %[[ROWS_I32]] : i32, %[[START_I32]] : i32)

// The kernel views the shared memory and the cache regions (codes as 32-bit
// words, then f32 scales), copies the block's query rows, then walks the
// tiles of 32 positions: every tile's codes are unpacked to f32 (4-bit:
// shifted to the top, then arithmetically down by 28) between two
// barriers, q . k and the weighted values run on TF32 tensor cores (8
// steps of 8 channels by 4 n8 tiles of positions, then 4 steps of 8
// positions by 8 n8 tiles of channels, each with the two TF32 parts of its
// operand), and positions after a row's own are masked to -inf.
// CHECK: gpu.module @lowbit_attention_kernels [#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">]
// CHECK: memref.global "public" @lowbit_dynamic_shared
// CHECK: gpu.func @[[KERNEL]](%{{.*}}: memref<?xf32>, %{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi8>, %{{.*}}: memref<?xf32>, %{{.*}}: i32, %{{.*}}: i32) kernel attributes {known_block_size = array<i32: 128, 1, 1>}
// CHECK: %[[QUERIES:.*]] = memref.view %{{.*}}[%c0{{.*}}][] : memref<35328xi8, #gpu.address_space<workgroup>> to memref<4352xf32, #gpu.address_space<workgroup>>
// CHECK: memref.view %{{.*}} : memref<35328xi8, #gpu.address_space<workgroup>> to memref<2176xf32, #gpu.address_space<workgroup>>
// CHECK: memref.view %{{.*}} : memref<35328xi8, #gpu.address_space<workgroup>> to memref<2176xf32, #gpu.address_space<workgroup>>
// CHECK: memref.view %{{.*}} : memref<35328xi8, #gpu.address_space<workgroup>> to memref<64xf32, #gpu.address_space<workgroup>>
// CHECK: memref.view %{{.*}} : memref<35328xi8, #gpu.address_space<workgroup>> to memref<64xf32, #gpu.address_space<workgroup>>
// CHECK: memref.view %{{.*}} : memref<?xi8> to memref<64xi32>
// CHECK: memref.view %{{.*}}[%c256{{.*}}][] : memref<?xi8> to memref<16xf32>
// CHECK: vector.store %{{.*}}, %[[QUERIES]][%{{.*}}] {alignment = 16 : i64} : memref<4352xf32, #gpu.address_space<workgroup>>, vector<4xf32>
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args({{.*}}) -> (vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, f32, f32, f32, f32)
// CHECK: gpu.barrier
// CHECK: arith.shli %{{.*}}, %c28_i32
// CHECK: arith.shrsi %{{.*}}, %c28_i32
// CHECK: arith.sitofp
// CHECK: gpu.barrier
// CHECK: nvvm.convert.float.to.tf32 %{{.*}} {rnd = #nvvm.fp_rnd_mode<rna>}
// CHECK-COUNT-64: nvgpu.mma.sync(%{{.*}}, %{{.*}}, %{{.*}}) {mmaShape = [16, 8, 8], tf32Enabled} : (vector<4x1xf32>, vector<2x1xf32>, vector<2x2xf32>) -> vector<2x2xf32>
// CHECK: %[[VISIBLE:.*]] = arith.cmpi ule
// CHECK: arith.select %[[VISIBLE]], %{{.*}}, %cst{{.*}} : f32
// CHECK: gpu.shuffle xor
// CHECK: gpu.shuffle xor
// CHECK: math.exp
// CHECK-COUNT-64: nvgpu.mma.sync(%{{.*}}, %{{.*}}, %{{.*}}) {mmaShape = [16, 8, 8], tf32Enabled}
// CHECK-NOT: nvgpu.mma.sync
// CHECK: scf.yield
// The lanes of a quad add their sums of weights; rows past the last store
// nothing.
// CHECK: gpu.shuffle xor
// CHECK: gpu.shuffle xor
// CHECK: scf.if
// CHECK: arith.divf
// CHECK: vector.store %{{.*}} {alignment = 8 : i64} : memref<?xf32>, vector<2xf32>
module {
  func.func private @attention_b4(memref<?x128xf32>, memref<?xi8>, memref<?xi8>, index, memref<?x128xf32>) attributes {lowbit.gpu_prefill_attention = !lowbit.kv_cache<bits = 4, group = 32, heads = 1, head_dim = 64, max_len = 8>}
}

// -----

// 8-bit codes: four to a word, each shifted to the top and down by 24.
// Heads of 32 channels in groups of 16: two scales per position and head.
// CHECK-LABEL: func.func private @attention_b8(
// CHECK: gpu.launch_func @lowbit_attention_kernels::@tc_prefill_attention_d32_h4_kv2_b8_g16_l16 blocks in (%{{.*}}, %c4, %c1)
// CHECK: gpu.func @tc_prefill_attention_d32_h4_kv2_b8_g16_l16(
// CHECK: arith.shli %{{.*}}, %c24_i32
// CHECK: arith.shrsi %{{.*}}, %c24_i32
// CHECK: arith.shli %{{.*}}, %c16_i32
// CHECK: arith.shrsi %{{.*}}, %c24_i32
module {
  func.func private @attention_b8(memref<?x128xf32>, memref<?xi8>, memref<?xi8>, index, memref<?x128xf32>) attributes {lowbit.gpu_prefill_attention = !lowbit.kv_cache<bits = 8, group = 16, heads = 2, head_dim = 32, max_len = 16>}
}
