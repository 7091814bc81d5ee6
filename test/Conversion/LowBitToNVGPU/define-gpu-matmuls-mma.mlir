// RUN: lowbit-opt %s --lowbit-define-gpu-matmuls="chip=sm_90" | FileCheck %s

// With the default max-decode-tokens (32) and scale groups of 128 channels,
// decode steps of 5 to 32 tokens launch the tensor-core decode kernels over
// both weights (q and its 128-channel neighbour): 16 output channels a block
// up to 16 tokens (16 + 8 blocks), 32 at 32 tokens (8 + 4 blocks); more
// tokens take the tensor-core matmul kernel, one launch a weight.
// CHECK-LABEL: func.func private @lowbit_nvgpu_matmul_two_weights(
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@decode_matmul_w4_n256_128_k256_ga128_gw128_t4_c2_f32_f32
// CHECK: %[[FITS_8:.*]] = arith.cmpi ule, %{{.*}}, %c8 : index
// CHECK: scf.if %[[FITS_8]]
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@decode_matmul_mma_w4_n256_128_k256_ga128_gw128_t8_kw8_f32_f32 blocks in (%c24,
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@decode_matmul_mma_w4_n256_128_k256_ga128_gw128_t16_kw8_f32_f32 blocks in (%c24,
// CHECK: %[[FITS_32:.*]] = arith.cmpi ule, %{{.*}}, %c32 : index
// CHECK: scf.if %[[FITS_32]]
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@decode_matmul_mma_w4_n256_128_k256_ga128_gw128_t32_kw4_f32_f32 blocks in (%c12,
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@tc_matmul_w4a8_n256_k256
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@tc_matmul_w4a8_n128_k256
// CHECK-NOT: decode_matmul_w4_n256_128_k256_ga128_gw128_t8
func.func private @lowbit_nvgpu_matmul_two_weights(memref<?x256xi8>, memref<?x2xf32>, memref<256x128xi8>, memref<256x2xf32>, memref<?x256xf32>, memref<128x128xi8>, memref<128x2xf32>, memref<?x128xf32>) attributes {lowbit.gpu_matmul}
