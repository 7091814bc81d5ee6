// RUN: lowbit-opt %s --lowbit-offload-kernels-to-gpu | FileCheck %s

// Parallel loops of any step become launches over their trip count: the
// kernel computes the original induction variable (40 elements by 16: 3
// iterations, each storing at 16 x its index).

// CHECK-LABEL: func.func @steps(
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : index
// CHECK-DAG: %[[C16:.*]] = arith.constant 16 : index
// CHECK: gpu.launch_func @steps_kernel::@steps_kernel blocks in (%c1, %c1, %c1) threads in (%c32, %c1, %c1) args({{.*}}%[[C3]] : index, %[[C16]] : index
// CHECK: gpu.func @steps_kernel(
// CHECK: %[[IN_BOUNDS:.*]] = arith.cmpi ult
// CHECK: scf.if %[[IN_BOUNDS]] {
// CHECK: %[[SCALED:.*]] = arith.muli %{{.*}}, %arg5 : index
// CHECK: %[[INDEX:.*]] = arith.addi %arg6, %[[SCALED]] : index
// CHECK: memref.store %arg7, %arg8[%[[INDEX]]]
func.func @steps(%out: memref<40xf32>) {
  %c0 = arith.constant 0 : index
  %c16 = arith.constant 16 : index
  %c40 = arith.constant 40 : index
  %one = arith.constant 1.0 : f32
  scf.parallel (%i) = (%c0) to (%c40) step (%c16) {
    memref.store %one, %out[%i] : memref<40xf32>
    scf.reduce
  }
  return
}

// A nest with loops split over lanes gives each iteration (row) a warp, four
// rows per block of 128 threads: lane x starts at iteration x and steps by
// 32; sums are combined across the warp by butterfly shuffles, vectors
// element by element, and the combined sum is what later code reads.

// CHECK-LABEL: func.func @lanes(
// CHECK: gpu.launch_func @lanes_kernel::@lanes_kernel blocks in (%{{.*}}, %c1, %c1) threads in (%c32, %c4, %c1)
// CHECK: gpu.func @lanes_kernel(
// CHECK: %[[LANE:.*]] = gpu.thread_id x
// CHECK: gpu.thread_id y
// CHECK: scf.if
// CHECK: %[[OFFSET:.*]] = arith.muli %[[LANE]], %{{.*}} : index
// CHECK: %[[FIRST:.*]] = arith.addi %{{.*}}, %[[OFFSET]] : index
// CHECK: %[[STEP:.*]] = arith.muli %{{.*}}, %c32 : index
// CHECK: %[[PARTIAL:.*]] = scf.for %{{.*}} = %[[FIRST]] to %{{.*}} step %[[STEP]] iter_args
// CHECK: %[[OTHER16:.*]], %{{.*}} = gpu.shuffle xor %[[PARTIAL]], %c16_i32, %c32_i32 : f32
// CHECK: arith.addf %[[PARTIAL]], %[[OTHER16]] : f32
// CHECK-COUNT-3: gpu.shuffle xor
// CHECK: gpu.shuffle xor %{{.*}}, %c1_i32, %c32_i32 : f32
// CHECK: %[[TOTAL:.*]] = arith.addf
// CHECK: %[[PAIR:.*]] = scf.for {{.*}} -> (vector<2xf32>)
// CHECK: vector.extract %[[PAIR]][0]
// CHECK-COUNT-5: gpu.shuffle xor
// CHECK: vector.extract %[[PAIR]][1]
// CHECK-COUNT-5: gpu.shuffle xor
// CHECK: %[[SUMS:.*]] = vector.from_elements %{{.*}}, %{{.*}} : vector<2xf32>
// CHECK: memref.store %[[SUMS]]
// CHECK: scf.for
// CHECK: arith.divf %{{.*}}, %[[TOTAL]] : f32
// CHECK-NOT: lowbit.lane_split
func.func @lanes(%in: memref<?x64xf32>, %out: memref<?x64xf32>,
                 %sums: memref<?xvector<2xf32>>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %zero = arith.constant 0.0 : f32
  %zeros = arith.constant dense<0.0> : vector<2xf32>
  %rows = memref.dim %in, %c0 : memref<?x64xf32>
  scf.parallel (%t) = (%c0) to (%rows) step (%c1) {
    %total = scf.for %c = %c0 to %c64 step %c1 iter_args(%acc = %zero) -> (f32) {
      %x = memref.load %in[%t, %c] : memref<?x64xf32>
      %next = arith.addf %acc, %x : f32
      scf.yield %next : f32
    } {lowbit.lane_split = "add"}
    %pair = scf.for %c = %c0 to %c64 step %c1 iter_args(%acc = %zeros) -> (vector<2xf32>) {
      %x = memref.load %in[%t, %c] : memref<?x64xf32>
      %v = vector.broadcast %x : f32 to vector<2xf32>
      %next = arith.addf %acc, %v : vector<2xf32>
      scf.yield %next : vector<2xf32>
    } {lowbit.lane_split = "add"}
    memref.store %pair, %sums[%t] : memref<?xvector<2xf32>>
    scf.for %c = %c0 to %c64 step %c1 {
      %x = memref.load %in[%t, %c] : memref<?x64xf32>
      %y = arith.divf %x, %total : f32
      memref.store %y, %out[%t, %c] : memref<?x64xf32>
    } {lowbit.lane_split = "independent"}
    scf.reduce
  }
  return
}

// The maximum of a split loop is combined like Emitter::maxOf: the larger
// of two by an ordered less-than.

// CHECK-LABEL: func.func @maximum(
// CHECK: gpu.func @maximum_kernel(
// CHECK: %[[PARTIAL:.*]] = scf.for
// CHECK: %[[OTHER:.*]], %{{.*}} = gpu.shuffle xor %[[PARTIAL]], %c16_i32, %c32_i32 : f32
// CHECK: %[[LESS:.*]] = arith.cmpf olt, %[[PARTIAL]], %[[OTHER]] : f32
// CHECK: arith.select %[[LESS]], %[[OTHER]], %[[PARTIAL]] : f32
func.func @maximum(%in: memref<?x64xf32>, %out: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %low = arith.constant 0xFF800000 : f32
  %rows = memref.dim %in, %c0 : memref<?x64xf32>
  scf.parallel (%t) = (%c0) to (%rows) step (%c1) {
    %max = scf.for %c = %c0 to %c64 step %c1 iter_args(%acc = %low) -> (f32) {
      %x = memref.load %in[%t, %c] : memref<?x64xf32>
      %less = arith.cmpf olt, %acc, %x : f32
      %next = arith.select %less, %x, %acc : f32
      scf.yield %next : f32
    } {lowbit.lane_split = "max"}
    memref.store %max, %out[%t] : memref<?xf32>
    scf.reduce
  }
  return
}

// A lane-split loop of 4096 iterations gives each row a block of 16 warps
// (512 threads, 8 steps each): lanes step by 512, and after the shuffles
// the first lane of every warp writes its warp's maximum to workgroup
// memory, which every lane then folds in warp order between barriers. The
// buffer lives in the kernel module only.

// CHECK-LABEL: func.func @block_lanes(
// CHECK: gpu.launch_func @block_lanes_kernel::@block_lanes_kernel blocks in (%{{.*}}, %c1, %c1) threads in (%c512, %c1, %c1)
// CHECK: gpu.module @block_lanes_kernel
// CHECK: gpu.func @block_lanes_kernel(
// CHECK: %[[LANE:.*]] = gpu.thread_id x
// CHECK: %[[PARTIALS:.*]] = memref.get_global @lowbit_lane_partials
// CHECK: %[[STEP:.*]] = arith.muli %{{.*}}, %c512 : index
// CHECK: scf.for %{{.*}} step %[[STEP]]
// CHECK-COUNT-5: gpu.shuffle xor
// CHECK: gpu.barrier
// CHECK: %[[WARP_LANE:.*]] = arith.remui %[[LANE]], %c32
// CHECK: %[[FIRST:.*]] = arith.cmpi eq, %[[WARP_LANE]], %c0
// CHECK: scf.if %[[FIRST]] {
// CHECK: %[[WARP:.*]] = arith.divui %[[LANE]], %c32
// CHECK: memref.store %{{.*}}, %[[PARTIALS]][%[[WARP]]]
// CHECK: gpu.barrier
// CHECK: memref.load %[[PARTIALS]][%c0]
// CHECK-COUNT-15: memref.load %[[PARTIALS]]
// CHECK-NOT: memref.load %[[PARTIALS]]
// CHECK: memref.store
// CHECK: memref.global "private" @lowbit_lane_partials : memref<16xf32, #gpu.address_space<workgroup>>
// CHECK-NOT: @lowbit_lane_partials
func.func @block_lanes(%in: memref<?x4096xf32>, %out: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4096 = arith.constant 4096 : index
  %zero = arith.constant 0.0 : f32
  %rows = memref.dim %in, %c0 : memref<?x4096xf32>
  scf.parallel (%t) = (%c0) to (%rows) step (%c1) {
    %max = scf.for %c = %c0 to %c4096 step %c1 iter_args(%acc = %zero) -> (f32) {
      %x = memref.load %in[%t, %c] : memref<?x4096xf32>
      %less = arith.cmpf olt, %acc, %x : f32
      %next = arith.select %less, %x, %acc : f32
      scf.yield %next : f32
    } {lowbit.lane_split = "max"}
    memref.store %max, %out[%t] : memref<?xf32>
    scf.reduce
  }
  return
}
