// RUN: lowbit-opt %s --lowbit-offload-kernels-to-gpu -split-input-file -verify-diagnostics
// RUN: not lowbit-opt %s --lowbit-offload-kernels-to-gpu=chip=sm_70 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not lowbit-opt %s --lowbit-offload-kernels-to-gpu=threads-per-block=48 2>&1 | FileCheck %s --check-prefix=THREADS

// CHIP: error: unknown GPU chip 'sm_70'; expected sm_80, sm_89 or sm_90
// THREADS: error: threads-per-block must be a multiple of 32 from 32 to 1024, got 48

// A kernel that reads memory outside its parallel loops would run on the
// host against device memory.
func.func private @sequential(%in: memref<4xf32>, %out: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  // expected-error @below {{lowbit-offload-kernels-to-gpu: this access is not inside a parallel loop, so it would run on the host against device memory}}
  %x = memref.load %in[%c0] : memref<4xf32>
  memref.store %x, %out[%c0] : memref<4xf32>
  return
}

// -----

// A warp per iteration maps two dimensions of iterations (the lanes take
// the x thread ids): a third would silently lose the lanes.
func.func private @three_dimensions(%in: memref<4x4x4x64xf32>, %out: memref<4x4x4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c64 = arith.constant 64 : index
  %zero = arith.constant 0.0 : f32
  // expected-error @below {{has loops split over lanes in a nest of 3 dimensions; a warp per iteration maps at most 2}}
  scf.parallel (%i, %j, %k) = (%c0, %c0, %c0) to (%c4, %c4, %c4) step (%c1, %c1, %c1) {
    %total = scf.for %c = %c0 to %c64 step %c1 iter_args(%acc = %zero) -> (f32) {
      %x = memref.load %in[%i, %j, %k, %c] : memref<4x4x4x64xf32>
      %next = arith.addf %acc, %x : f32
      scf.yield %next : f32
    } {lowbit.lane_split = "add"}
    memref.store %total, %out[%i, %j, %k] : memref<4x4x4xf32>
    scf.reduce
  }
  return
}
