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
