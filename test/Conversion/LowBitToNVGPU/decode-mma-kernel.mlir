// RUN: lowbit-opt %s --lowbit-generate-nvgpu-kernels="chip=sm_90 max-decode-rows=32" --split-input-file | FileCheck %s

!act = !lowbit.qtensor<?x512, f16, #lowbit.blocks<128, [8, 4, 4, 4], per_token>>
!w = !lowbit.qtensor<48x512, f16, #lowbit.blocks<128, [4, 4, 4, 4], per_group = 128>>

// From 8 tokens a block, with scale groups of 128 channels, the decode
// kernels multiply on tensor cores: 8 warps split the 4 steps of 128
// channels of each 16-row tile and add up their sums in shared memory (one
// f32 per warp, lane and sum: 8 x 32 x 4 per 8 tokens).
// CHECK-LABEL: func.func @mma_decode_kernels
// CHECK: lowbit.gpu_kernels = [@lowbit_kernels::@decode_matmul_w4_n48_k512_ga128_gw128_t1_c1_f16_f16, @lowbit_kernels::@decode_matmul_w4_n48_k512_ga128_gw128_t2_c1_f16_f16, @lowbit_kernels::@decode_matmul_w4_n48_k512_ga128_gw128_t4_c2_f16_f16, @lowbit_kernels::@decode_matmul_mma_w4_n48_k512_ga128_gw128_t8_kw8_f16_f16, @lowbit_kernels::@decode_matmul_mma_w4_n48_k512_ga128_gw128_t16_kw8_f16_f16, @lowbit_kernels::@decode_matmul_mma_w4_n48_k512_ga128_gw128_t32_kw4_f16_f16, @lowbit_kernels::@tc_matmul
// CHECK: gpu.func @decode_matmul_mma_w4_n48_k512_ga128_gw128_t8_kw8_f16_f16(%{{.*}}: memref<?xvector<4xi32>>, %{{.*}}: memref<?xf16>, %{{.*}}: memref<?xvector<4xi32>>, %{{.*}}: memref<?xf16>, %{{.*}}: memref<?xf16>, %{{.*}}: i32) workgroup(%[[PARTIAL:.*]] : memref<1024xf32, #gpu.address_space<workgroup>>) kernel attributes {known_block_size = array<i32: 256, 1, 1>}
// Four steps of 128 channels for 8 warps: each warp takes at most one, and
// the warps past the last step count zero weights.
// CHECK-NOT: scf.for
// CHECK: %[[WORDS:.*]] = memref.load %{{.*}} : memref<?xvector<4xi32>>
// CHECK: arith.select %{{.*}}, %[[WORDS]], %{{.*}} : vector<4xi32>
// The sums start at the bits of 1.5 * 2^23 (1262485504); the four mma of a
// step multiply word j of the weights' rows g and g + 8 by words j and 4 + j
// of token g's activations.
// CHECK: %[[MAGIC:.*]] = arith.constant dense<1262485504> : vector<2x2xi32>
// CHECK-COUNT-4: nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 32]} : (vector<4x4xi8>, vector<2x4xi8>, vector<2x2xi32>) -> vector<2x2xi32>
// CHECK: arith.bitcast %{{.*}} : i32 to f32
// CHECK: memref.store %{{.*}}, %[[PARTIAL]]
// CHECK: gpu.barrier
// Only the block's first 128 threads (8 tokens x 16 rows) read the sums.
// CHECK-NOT: memref.load
// CHECK: %[[OUTPUT:.*]] = arith.addi %{{.*}}, %c0{{.*}} : index
// CHECK-NOT: memref.load
// CHECK: %[[IS_OUTPUT:.*]] = arith.cmpi ult, %[[OUTPUT]], %c128{{.*}} : index
// CHECK-NOT: memref.load
// CHECK: %[[VALID:.*]] = arith.andi %[[IS_OUTPUT]]
// CHECK-NOT: memref.load
// CHECK: scf.if %[[VALID]] {
// CHECK: memref.load %[[PARTIAL]]
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: gpu.func @decode_matmul_mma_w4_n48_k512_ga128_gw128_t16_kw8_f16_f16({{.*}}) workgroup(%{{.*}} : memref<2048xf32, #gpu.address_space<workgroup>>)
// Two token tiles share each step's weight operands.
// CHECK-COUNT-8: nvgpu.mma.sync
// From 32 tokens, 2 tiles of 16 rows a block, 4 warps along the channels.
// CHECK: gpu.func @decode_matmul_mma_w4_n48_k512_ga128_gw128_t32_kw4_f16_f16({{.*}}) workgroup(%{{.*}} : memref<4096xf32, #gpu.address_space<workgroup>>)
func.func @mma_decode_kernels(%a: !act, %w: !w) -> tensor<?x48xf16> {
  %y = lowbit.matmul %a, %w : !act, !w -> tensor<?x48xf16>
  return %y : tensor<?x48xf16>
}

// -----

!act = !lowbit.qtensor<?x4096, f16, #lowbit.blocks<128, [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], per_token>>
!w = !lowbit.qtensor<64x4096, f16, #lowbit.blocks<128, [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], per_group = 128>>

// 32 steps for 8 warps: each takes 4, unrolled in one iteration of a loop
// whose loads all precede its mma.
// CHECK-LABEL: func.func @mma_decode_loop
// CHECK: gpu.func @decode_matmul_mma_w4_n64_k4096_ga128_gw128_t8_kw8_f16_f32
// CHECK: scf.for
// CHECK-COUNT-8: memref.load %{{.*}} : memref<?xvector<4xi32>>
// CHECK-NOT: arith.select
// CHECK: nvgpu.mma.sync
// CHECK: scf.yield
func.func @mma_decode_loop(%a: !act, %w: !w) -> tensor<?x64xf32> {
  %y = lowbit.matmul %a, %w : !act, !w -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

!act = !lowbit.qtensor<?x256, f16, #lowbit.blocks<128, [8, 4], per_token>>
!w = !lowbit.qtensor<64x256, f16, #lowbit.blocks<128, [4, 4], per_group = 64>>

// Weight scale groups of 64 channels split an mma step: 8 and 16 tokens
// stay on dp4a, and more go to the tensor-core matmul kernel.
// CHECK-LABEL: func.func @dp4a_for_small_groups
// CHECK: @lowbit_kernels::@decode_matmul_w4_n64_k256_ga128_gw64_t8_c4_f16_f32, @lowbit_kernels::@decode_matmul_w4_n64_k256_ga128_gw64_t16_c4_f16_f32, @lowbit_kernels::@tc_matmul
// CHECK-NOT: decode_matmul_mma
// CHECK-NOT: _t32_
func.func @dp4a_for_small_groups(%a: !act, %w: !w) -> tensor<?x64xf32> {
  %y = lowbit.matmul %a, %w : !act, !w -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
