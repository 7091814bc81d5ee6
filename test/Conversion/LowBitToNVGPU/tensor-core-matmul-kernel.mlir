// RUN: lowbit-opt %s --lowbit-generate-nvgpu-kernels="chip=sm_90 max-decode-rows=1" | FileCheck %s

!act = !lowbit.qtensor<?x256, f16, #lowbit.blocks<128, [8, 4], per_token>>
!w = !lowbit.qtensor<64x256, f16, #lowbit.blocks<128, [4, 4], per_group = 64>>

// The tensor-core kernels take their shared memory from one unsized extern
// workgroup global. With tiles of 64 tokens: 3 stages of a 64 x 64
// activation tile (bytes) and a 128 x 64 weight tile (nibbles), 3 * (4096 +
// 4096) bytes, and 2 x 4 mma tiles a warp.
// CHECK-LABEL: func.func @tensor_core_kernel
// CHECK: gpu.module @lowbit_kernels
// CHECK: memref.global "public" @lowbit_dynamic_shared : memref<0xi8, #gpu.address_space<workgroup>> {alignment = 16 : i64}
// CHECK: gpu.func @tc_matmul_w4a8_n64_k256_ga128_gw64_m64_kt64_s3_f16_f32(
// CHECK: memref.reinterpret_cast %{{.*}} to offset: [0], sizes: [24576], strides: [1]
// CHECK: scf.for
// CHECK-COUNT-3: nvgpu.ldmatrix
// CHECK-COUNT-8: nvgpu.mma.sync
// CHECK-NOT: nvgpu.mma.sync
// CHECK: nvgpu.ldmatrix
// CHECK: gpu.return
// With tiles of 128 tokens: 3 * (8192 + 4096) bytes.
// CHECK: gpu.func @tc_matmul_w4a8_n64_k256_ga128_gw64_m128_kt64_s3_f16_f32(%{{.*}}: memref<?xi8>, %{{.*}}: memref<?xf16>, %{{.*}}: memref<?xi8>, %{{.*}}: memref<?xf16>, %{{.*}}: memref<?xf32>, %{{.*}}: i32) kernel attributes {known_block_size = array<i32: 256, 1, 1>}
// CHECK: %[[BASE:.*]] = memref.get_global @lowbit_dynamic_shared
// CHECK: %[[SHARED:.*]] = memref.reinterpret_cast %[[BASE]] to offset: [0], sizes: [36864], strides: [1]
// The prologue puts two steps in flight: 16-byte copies that zero-fill
// past the tokens, the output channels or the last step, one group a step.
// CHECK: %[[BYTES:.*]] = arith.select %{{.*}}, %{{.*}}, %{{.*}} : index
// CHECK: nvgpu.device_async_copy %{{.*}}[%{{.*}}], %[[SHARED]][%{{.*}}], 16, %[[BYTES]] {bypassL1}
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvvm.cp.async.commit.group
// Each step of the loop waits for its own copies, starts the copies two
// steps ahead and multiplies. First the weights of its 2 k32 steps, one
// ldmatrix each, whose words become B operands by a shift and a mask.
// CHECK: scf.for {{.*}} -> (f32,
// CHECK-NEXT: nvvm.cp.async.wait.group 1
// CHECK-NEXT: gpu.barrier
// CHECK: nvgpu.device_async_copy
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvgpu.ldmatrix %[[SHARED]][%{{.*}}] {numTiles = 4 : i32, transpose = false} : memref<36864xi8, #gpu.address_space<workgroup>> -> vector<4x4xi8>
// CHECK: %[[WORD:.*]] = vector.extract %{{.*}}[0] : i32 from vector<1xi32>
// CHECK: %[[SHIFTED:.*]] = arith.shli %[[WORD]], %{{.*}} : i32
// CHECK: arith.andi %[[SHIFTED]], %{{.*}} : i32
// CHECK: arith.andi %[[WORD]], %{{.*}} : i32
// CHECK: nvgpu.ldmatrix
// Then one m16 tile at a time (4 a warp): 2 ldmatrix of activations and 2 x
// 4 mma.sync on INT8, whose sums start at the bits of 1.5 * 2^23 and so are
// the bits of 1.5 * 2^23 plus the sum as an f32.
// CHECK: %[[MAGIC_SUMS:.*]] = arith.constant dense<1262485504> : vector<2x2xi32>
// CHECK: %[[MAGIC:.*]] = arith.constant 0x4B400000 : f32
// CHECK: nvgpu.ldmatrix
// CHECK-NEXT: nvgpu.mma.sync(%{{.*}}, %{{.*}}, %[[MAGIC_SUMS]]) {mmaShape = [16, 8, 32]} : (vector<4x4xi8>, vector<2x4xi8>, vector<2x2xi32>) -> vector<2x2xi32>
// CHECK-COUNT-7: nvgpu.mma.sync
// A tile's dequantization follows the next tile's mma, which it may
// overlap: the sums become f32 exactly by subtracting 1.5 * 2^23 and are
// scaled by the activation and weight scales.
// CHECK-NOT: arith.subf
// CHECK: nvgpu.ldmatrix
// CHECK-COUNT-8: nvgpu.mma.sync
// CHECK-NOT: nvgpu.mma.sync
// CHECK: %[[SUM:.*]] = vector.extract %{{.*}}[0, 0] : i32 from vector<2x2xi32>
// CHECK-NEXT: %[[FLOAT:.*]] = arith.bitcast %[[SUM]] : i32 to f32
// CHECK-NEXT: arith.subf %[[FLOAT]], %[[MAGIC]] : f32
// CHECK-COUNT-16: nvgpu.mma.sync
// CHECK-NOT: nvgpu.mma.sync
// CHECK: scf.yield
// CHECK: nvvm.cp.async.wait.group 0
// Pairs of results are stored as one vector.
// CHECK: vector.store %{{.*}}, %{{.*}}[%{{.*}}] {alignment = 8 : i64} : memref<?xf32>, vector<2xf32>
func.func @tensor_core_kernel(%a: !act, %w: !w) -> tensor<?x64xf32> {
  %y = lowbit.matmul %a, %w : !act, !w -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
