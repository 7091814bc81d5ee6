// RUN: lowbit-opt %s --lowbit-generate-nvgpu-kernels="chip=sm_80 max-decode-rows=1" --lowbit-lower-nvgpu-kernels | FileCheck %s

!act = !lowbit.qtensor<?x256, f16, #lowbit.blocks<128, [8, 4], per_token>>
!w = !lowbit.qtensor<64x256, f16, #lowbit.blocks<128, [4, 4], per_group = 64>>

// The kernels become PTX in a gpu.binary; the host side stays lowbit ops.
// CHECK-LABEL: func.func @decode
// CHECK: lowbit.matmul
// CHECK: gpu.binary @lowbit_kernels [#gpu.object<#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">
// CHECK-SAME: .target sm_80
// CHECK-SAME: .visible .entry decode_matmul_w4_n64_k256_ga128_gw64_t1_c1_f16_f32(
// CHECK-SAME: ld.global.v4.b32
// CHECK-SAME: dp4a.s32.s32
// CHECK-SAME: shfl.sync.bfly.b32
func.func @decode(%a: !act, %w: !w) -> tensor<?x64xf32> {
  %y = lowbit.matmul %a, %w : !act, !w -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
