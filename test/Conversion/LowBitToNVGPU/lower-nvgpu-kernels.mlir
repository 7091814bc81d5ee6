// RUN: lowbit-opt %s --lowbit-generate-nvgpu-kernels="chip=sm_80 max-decode-rows=1" --lowbit-lower-nvgpu-kernels | FileCheck %s

!act = !lowbit.qtensor<?x256, f16, #lowbit.blocks<128, [8, 4], per_token>>
!w = !lowbit.qtensor<64x256, f16, #lowbit.blocks<128, [4, 4], per_group = 64>>

// The kernels become PTX in a gpu.binary; the host side stays lowbit ops.
// CHECK-LABEL: func.func @decode
// CHECK: lowbit.matmul
// CHECK: gpu.binary @lowbit_kernels [#gpu.object<#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">
// CHECK-SAME: .target sm_80
// The tensor-core kernel's dynamic shared memory is one unsized extern array.
// CHECK-SAME: .extern .shared .align 16 .b8 lowbit_dynamic_shared[];
// CHECK-SAME: .visible .entry decode_matmul_w4_n64_k256_ga128_gw64_t1_c1_f16_f32(
// CHECK-SAME: ld.global.v4.b32
// CHECK-SAME: dp4a.s32.s32
// CHECK-SAME: shfl.sync.bfly.b32
// The tensor-core kernel: cp.async copies that zero-fill past the data, a
// pipeline of groups, ldmatrix fragments, INT8 mma.sync for the INT8
// block's steps and, sm_80 having s4 tensor cores, INT4 mma.sync for the
// INT4 block's.
// CHECK-SAME: .visible .entry tc_matmul_w4a8x2a4x2_n64_k256_ga128_gw64_m64_kt64_s3_f16_f32(
// CHECK-SAME: cp.async.cg.shared.global [%rd{{[0-9]+}}], [%rd{{[0-9]+}}], 16, %r{{[0-9]+}};
// CHECK-SAME: cp.async.commit_group;
// CHECK-SAME: cp.async.wait_group {{\\09}}1;
// CHECK-SAME: bar.sync {{\\09}}0;
// CHECK-SAME: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// CHECK-SAME: mma.sync.aligned.m16n8k32.row.col.satfinite.s32.s8.s8.s32
// CHECK-SAME: mma.sync.aligned.m16n8k64.row.col.satfinite.s32.s4.s4.s32
func.func @decode(%a: !act, %w: !w) -> tensor<?x64xf32> {
  %y = lowbit.matmul %a, %w : !act, !w -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
