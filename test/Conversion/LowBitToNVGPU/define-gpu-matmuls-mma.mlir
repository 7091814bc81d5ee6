// RUN: lowbit-opt %s --lowbit-define-gpu-matmuls="chip=sm_90" | FileCheck %s
// RUN: lowbit-opt %s --lowbit-define-gpu-matmuls="chip=sm_90 decode-token-blocks=1" \
// RUN:   | FileCheck %s --check-prefix=ONE

// With the default max-decode-tokens (32) and scale groups of 128 channels,
// decode steps of 5 to 32 tokens launch the tensor-core decode kernels over
// both weights (q and its 128-channel neighbour): 16 output channels a block
// up to 16 tokens (16 + 8 blocks), 32 at 32 tokens (8 + 4 blocks). Up to
// decode-token-blocks (default 4) blocks of 32 tokens, 128 tokens, take the
// 32-token kernel over several blocks of tokens (the grid's y): 384 weight
// rows are far below 16384 per weight. More tokens take the tensor-core
// matmul kernel, one launch a weight.
// CHECK-LABEL: func.func private @lowbit_nvgpu_matmul_two_weights(
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@decode_matmul_w4_n256_128_k256_ga128_gw128_t4_c2_f32_f32
// CHECK: %[[FITS_8:.*]] = arith.cmpi ule, %{{.*}}, %c8 : index
// CHECK: scf.if %[[FITS_8]]
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@decode_matmul_mma_w4_n256_128_k256_ga128_gw128_t8_kw8_f32_f32 blocks in (%c24,
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@decode_matmul_mma_w4_n256_128_k256_ga128_gw128_t16_kw8_f32_f32 blocks in (%c24,
// CHECK: %[[FITS_32:.*]] = arith.cmpi ule, %{{.*}}, %c32 : index
// CHECK: scf.if %[[FITS_32]]
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@decode_matmul_mma_w4_n256_128_k256_ga128_gw128_t32_kw4_f32_f32 blocks in (%c12,
// CHECK: %[[FITS_128:.*]] = arith.cmpi ule, %{{.*}}, %c128 : index
// CHECK: scf.if %[[FITS_128]]
// CHECK: %[[BLOCKS_Y:.*]] = arith.ceildivui %{{.*}}, %c32{{(_[0-9]+)?}} : index
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@decode_matmul_mma_w4_n256_128_k256_ga128_gw128_t32_kw4_f32_f32 blocks in (%c12, %[[BLOCKS_Y]],
// CHECK: } else {
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@tc_matmul_w4a8_n256_k256
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@tc_matmul_w4a8_n128_k256
// CHECK-NOT: decode_matmul_w4_n256_128_k256_ga128_gw128_t8

// With decode-token-blocks=1, more than 32 tokens take the tensor-core
// kernel.
// ONE-LABEL: func.func private @lowbit_nvgpu_matmul_two_weights(
// ONE: gpu.launch_func @lowbit_matmul_kernels::@decode_matmul_mma_w4_n256_128_k256_ga128_gw128_t32_kw4_f32_f32
// ONE-NEXT: } else {
// ONE-NOT: decode_matmul
// ONE: gpu.launch_func @lowbit_matmul_kernels::@tc_matmul_w4a8_n256_k256
func.func private @lowbit_nvgpu_matmul_two_weights(memref<?x256xi8>, memref<?x2xf32>, memref<256x128xi8>, memref<256x2xf32>, memref<?x256xf32>, memref<128x128xi8>, memref<128x2xf32>, memref<?x128xf32>) attributes {lowbit.gpu_matmul}

// 8192 rows of one weight: 2 blocks of tokens keep within 16384 rows per
// weight, so 33 to 64 tokens take the decode kernel, more the tensor-core
// kernel.
// CHECK-LABEL: func.func private @lowbit_nvgpu_matmul_tall_weight(
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@decode_matmul_mma_w4_n8192_k256_ga128_gw128_t32_kw4_f32_f32
// CHECK: %[[FITS_64:.*]] = arith.cmpi ule, %{{.*}}, %c64 : index
// CHECK: scf.if %[[FITS_64]]
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@decode_matmul_mma_w4_n8192_k256_ga128_gw128_t32_kw4_f32_f32
// CHECK: } else {
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@tc_matmul_w4a8_n8192_k256
func.func private @lowbit_nvgpu_matmul_tall_weight(memref<?x256xi8>, memref<?x2xf32>, memref<8192x128xi8>, memref<8192x2xf32>, memref<?x8192xf32>) attributes {lowbit.gpu_matmul}
