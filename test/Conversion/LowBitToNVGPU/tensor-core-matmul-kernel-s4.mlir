// RUN: lowbit-opt %s --split-input-file --lowbit-generate-nvgpu-kernels="chip=sm_80 max-decode-rows=1" | FileCheck %s
// RUN: lowbit-opt %s --split-input-file --lowbit-generate-nvgpu-kernels="chip=sm_89 max-decode-rows=1" | FileCheck %s
// RUN: lowbit-opt %s --split-input-file --lowbit-generate-nvgpu-kernels="chip=sm_90 max-decode-rows=1" | FileCheck %s --check-prefix=SM90

// On sm_80 and sm_89 the steps of INT4 activation blocks multiply on s4
// tensor cores (mma.sync m16n8k64); sm_90 emulates s4 mma, so there every
// step stays on s8.

!act = !lowbit.qtensor<?x256, f16, #lowbit.blocks<128, [8, 4], per_token>>
!w = !lowbit.qtensor<64x256, f16, #lowbit.blocks<128, [4, 4], per_group = 64>>

// Steps of 64 channels: the INT8 block's two on s8, the INT4 block's two on
// s4, one loop each; the copies in flight run on from one loop to the next.
// CHECK-LABEL: func.func @mixed_blocks
// CHECK: gpu.func @tc_matmul_w4a8x2a4x2_n64_k256_ga128_gw64_m64_kt64_s3_f16_f32(
// CHECK: %[[LOW:.*]] = arith.constant 252645135 : i32
// CHECK: %[[INT8:.*]]:32 = scf.for
// CHECK-COUNT-8: nvgpu.mma.sync(%{{.*}}, %{{.*}}, %{{.*}}) {mmaShape = [16, 8, 32]} : (vector<4x4xi8>, vector<2x4xi8>, vector<2x2xi32>) -> vector<2x2xi32>
// CHECK-NOT: mmaShape = [16, 8, 64]
// CHECK: scf.yield
// CHECK: scf.for {{.*}} iter_args(%{{[^ ]*}} = %[[INT8]]#0,
// An s4 sum is the codes' product, not sixteen times it: the activation
// scales are multiplied by 16 (exactly) to share the s8 steps'
// dequantization.
// CHECK: %[[SIXTEEN:.*]] = arith.constant 1.600000e+01 : f32
// CHECK-NEXT: arith.mulf %{{.*}}, %[[SIXTEEN]] : f32
// The weight words of a k64 step's two k32 steps are its B operands.
// CHECK: nvgpu.ldmatrix
// CHECK: llvm.bitcast %{{.*}} : i32 to vector<8xi4>
// The two k32 activation fragments of a k64 step become nibbles: a
// register's near channels masked, its far ones shifted up and masked.
// CHECK: nvgpu.ldmatrix
// CHECK: arith.andi %{{.*}}, %[[LOW]] : i32
// CHECK: arith.shli
// CHECK: arith.ori
// CHECK: llvm.bitcast %{{.*}} : i32 to vector<8xi4>
// CHECK-COUNT-8: nvgpu.mma.sync(%{{.*}}, %{{.*}}, %{{.*}}) {mmaShape = [16, 8, 64]} : (vector<4x8xi4>, vector<2x8xi4>, vector<2x2xi32>) -> vector<2x2xi32>
// CHECK-NOT: nvgpu.mma.sync
// CHECK: scf.yield
// CHECK: nvvm.cp.async.wait.group 0
// SM90-LABEL: func.func @mixed_blocks
// SM90: gpu.func @tc_matmul_w4a8_n64_k256_ga128_gw64_m64_kt64_s3_f16_f32(
// SM90-NOT: mmaShape = [16, 8, 64]
func.func @mixed_blocks(%a: !act, %w: !w) -> tensor<?x64xf32> {
  %y = lowbit.matmul %a, %w : !act, !w -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

!act = !lowbit.qtensor<?x256, f16, #lowbit.blocks<128, [4, 4], per_token>>
!w = !lowbit.qtensor<64x256, f16, #lowbit.blocks<128, [4, 4], per_group = 128>>

// Every block INT4 (W4A4): one loop, all on s4, 2 k64 steps of 2 x 4 mma a
// warp in each 128-channel step.
// CHECK-LABEL: func.func @int4_activations
// CHECK: gpu.func @tc_matmul_w4a4_n64_k256_ga128_gw128_m64_kt128_s3_f16_f32(
// CHECK: scf.for
// CHECK-COUNT-16: mmaShape = [16, 8, 64]
// CHECK-NOT: nvgpu.mma.sync
// CHECK: scf.yield
// SM90-LABEL: func.func @int4_activations
// SM90: gpu.func @tc_matmul_w4a8_n64_k256_ga128_gw128_m64_kt128_s3_f16_f32(
func.func @int4_activations(%a: !act, %w: !w) -> tensor<?x64xf32> {
  %y = lowbit.matmul %a, %w : !act, !w -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

!act = !lowbit.qtensor<?x256, f16, #lowbit.blocks<32, [4, 4, 4, 4, 4, 4, 4, 4], per_token>>
!w = !lowbit.qtensor<64x256, f16, #lowbit.blocks<32, [4, 4, 4, 4, 4, 4, 4, 4], per_group = 32>>

// Steps of 32 channels are half an s4 mma: INT4 blocks stay on s8.
// CHECK-LABEL: func.func @narrow_steps
// CHECK: gpu.func @tc_matmul_w4a8_n64_k256_ga32_gw32_m64_kt32_s3_f16_f32(
// CHECK-NOT: mmaShape = [16, 8, 64]
// CHECK: gpu.return
func.func @narrow_steps(%a: !act, %w: !w) -> tensor<?x64xf32> {
  %y = lowbit.matmul %a, %w : !act, !w -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
