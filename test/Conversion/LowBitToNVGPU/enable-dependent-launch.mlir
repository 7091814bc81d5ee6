// RUN: lowbit-opt %s --lowbit-enable-dependent-launch | FileCheck %s
// RUN: lowbit-opt %s --lowbit-enable-dependent-launch --lowbit-lower-nvgpu-kernels | FileCheck %s --check-prefix=PTX

// In the PTX the wait still comes before the kernel's first memory access.
// PTX: .entry scale(
// PTX-NOT: ld.global
// PTX: griddepcontrol.wait
// PTX: griddepcontrol.launch_dependents
// PTX: ld.global

// Kernels for sm_90 wait for their predecessor before anything else, then
// let their successor launch.
// CHECK-LABEL: gpu.module @hopper
// CHECK: gpu.func @scale
// CHECK-NEXT: nvvm.griddepcontrol wait
// CHECK-NEXT: nvvm.griddepcontrol launch_dependents
// CHECK-NEXT: gpu.thread_id
gpu.module @hopper [#nvvm.target<chip = "sm_90">] {
  gpu.func @scale(%data: memref<?xf32>) kernel {
    %thread = gpu.thread_id x
    %value = memref.load %data[%thread] : memref<?xf32>
    %twice = arith.addf %value, %value : f32
    memref.store %twice, %data[%thread] : memref<?xf32>
    gpu.return
  }
  // Device functions that are not kernels are called from a kernel that
  // has already waited.
  // CHECK: gpu.func @helper
  // CHECK-NOT: nvvm.griddepcontrol
  // CHECK: gpu.return
  gpu.func @helper(%value: f32) -> f32 {
    gpu.return %value : f32
  }
}

// sm_80 and sm_89 have no griddepcontrol: their kernels stay as they are.
// CHECK-LABEL: gpu.module @ampere
// CHECK-NOT: nvvm.griddepcontrol
// CHECK: gpu.return
gpu.module @ampere [#nvvm.target<chip = "sm_80">] {
  gpu.func @scale(%data: memref<?xf32>) kernel {
    %thread = gpu.thread_id x
    %value = memref.load %data[%thread] : memref<?xf32>
    memref.store %value, %data[%thread] : memref<?xf32>
    gpu.return
  }
}

// CHECK-LABEL: gpu.module @ada
// CHECK-NOT: nvvm.griddepcontrol
// CHECK: gpu.return
gpu.module @ada [#nvvm.target<chip = "sm_89">] {
  gpu.func @scale(%data: memref<?xf32>) kernel {
    gpu.return
  }
}
