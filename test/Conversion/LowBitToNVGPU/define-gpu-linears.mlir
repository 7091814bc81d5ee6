// RUN: lowbit-opt %s --lowbit-define-gpu-linears="chip=sm_90" | FileCheck %s

// An f32 linear of 64 inputs to 256 outputs: one launch over tiles of 128
// outputs (2) by 64 rows, 256 threads each, with 25088 bytes of dynamic
// shared memory (two buffers of the transposed 16 x (64 + 4) input tile and
// of the 16 x 128 weight tile).
// CHECK-LABEL: func.func private @lowbit_nvgpu_linear_256x64(
// CHECK-NOT: lowbit.gpu_linear
// CHECK: %[[ROWS:.*]] = memref.dim %arg0, %c0
// CHECK: %[[TILES:.*]] = arith.ceildivui %[[ROWS]], %c64
// CHECK: gpu.launch_func @lowbit_linear_kernels::@simt_linear_n256_k64 blocks in (%c2, %[[TILES]], %c1) threads in (%c256, %c1, %c1) dynamic_shared_memory_size %c25088_i32

// The kernel loads the first step's tiles, then walks the 4 steps of 16
// input channels with the next step's tiles loading from global memory
// while it sums, one barrier a step: per step and thread, one input vector
// and two weight vectors in, 16 x 3 shared vectors and 16 x 8 vector FMAs
// (4 rows by 2 runs of 4 outputs). Rows past the last are not written.
// CHECK: gpu.module @lowbit_linear_kernels [#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">]
// CHECK: gpu.func @simt_linear_n256_k64(%{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %[[COUNT:.*]]: i32) kernel attributes {known_block_size = array<i32: 256, 1, 1>}
// CHECK: %[[INPUT_TILES:.*]] = memref.view %{{.*}}[%c0][] : memref<25088xi8, #gpu.address_space<workgroup>> to memref<2176xf32, #gpu.address_space<workgroup>>
// CHECK: %[[WEIGHT_TILES:.*]] = memref.view %{{.*}}[%c8704][] : memref<25088xi8, #gpu.address_space<workgroup>> to memref<4096xf32, #gpu.address_space<workgroup>>
// CHECK: gpu.barrier
// CHECK: scf.for %{{.*}} = %{{.*}} to %c4{{.*}} step %{{.*}} iter_args({{.*}}) -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>)
// CHECK-COUNT-3: vector.load %arg{{[01]}}[%{{.*}}] {alignment = 16 : i64} : memref<?xf32>, vector<4xf32>
// CHECK: vector.load %[[INPUT_TILES]][%{{.*}}] {alignment = 16 : i64}
// CHECK-COUNT-128: vector.fma
// CHECK: gpu.barrier
// CHECK: scf.yield
// CHECK-COUNT-4: scf.if
func.func private @lowbit_nvgpu_linear_256x64(memref<?x64xf32>, memref<64x256xf32>, memref<?x256xf32>) attributes {lowbit.gpu_linear}
