// RUN: lowbit-opt %s --lowbit-define-gpu-matmuls="chip=sm_89 max-decode-tokens=2" | FileCheck %s
// RUN: lowbit-opt %s --lowbit-define-gpu-matmuls="chip=sm_89 max-decode-tokens=2 multiprocessors=108" | FileCheck %s --check-prefix=WAVE

// The GPU matmul declarations of lowbit-convert-to-cpu{isa=nvgpu} get host
// bodies: their buffers viewed as the kernels read them (codes as 16-byte
// words for the decode kernels, bytes for the tensor-core kernel; scales and
// result flattened), then a launch chosen by the step's token count.

// CHECK-LABEL: func.func private @lowbit_nvgpu_matmul_64x64_ga32_gw32(
// CHECK-SAME: %[[ACT:[^:]*]]: memref<?x64xi8>, %[[ACT_SCALES:[^:]*]]: memref<?x2xf32>, %[[W:[^:]*]]: memref<64x32xi8>, %[[W_SCALES:[^:]*]]: memref<64x2xf32>, %[[OUT:[^:]*]]: memref<?x64xf32>)
// CHECK-NOT: lowbit.gpu_matmul
// CHECK: %[[TOKENS:.*]] = memref.dim %[[ACT]], %c0
// CHECK: %[[TOKENS_I32:.*]] = arith.index_cast %[[TOKENS]] : index to i32
// CHECK: %[[ACT_BYTES:.*]] = memref.collapse_shape %[[ACT]] {{\[\[}}0, 1]] : memref<?x64xi8> into memref<?xi8>
// CHECK: %[[ACT_WORDS:.*]] = memref.view %[[ACT_BYTES]]{{.*}} : memref<?xi8> to memref<?xvector<4xi32>>
// CHECK: %[[ACT_SCALES_1D:.*]] = memref.collapse_shape %[[ACT_SCALES]]
// CHECK: %[[W_FLAT:.*]] = memref.collapse_shape %[[W]] {{.*}} into memref<2048xi8>
// CHECK: %[[W_BYTES:.*]] = memref.cast %[[W_FLAT]] : memref<2048xi8> to memref<?xi8>
// CHECK: %[[C128:.*]] = arith.constant 128 : index
// CHECK: %[[W_WORDS:.*]] = memref.view %[[W_BYTES]][%{{.*}}][%[[C128]]] : memref<?xi8> to memref<?xvector<4xi32>>
// CHECK: %[[W_SCALES_1D:.*]] = memref.cast
// CHECK: %[[OUT_1D:.*]] = memref.collapse_shape %[[OUT]]
// CHECK: %[[ONE_TOKEN:.*]] = arith.cmpi ule, %[[TOKENS]], %c1
// CHECK: scf.if %[[ONE_TOKEN]] {
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@decode_matmul_w4_n64_k64_ga32_gw32_t1_c1_f32_f32 blocks in (%c8, %{{.*}}, %c1{{.*}}) threads in (%c256, %c1{{.*}}, %c1{{.*}}) args(%[[W_WORDS]] : memref<?xvector<4xi32>>, %[[W_SCALES_1D]] : memref<?xf32>, %[[ACT_WORDS]] : memref<?xvector<4xi32>>, %[[ACT_SCALES_1D]] : memref<?xf32>, %[[OUT_1D]] : memref<?xf32>, %[[TOKENS_I32]] : i32)
// CHECK: } else {
// CHECK: %[[TWO_TOKENS:.*]] = arith.cmpi ule, %[[TOKENS]], %c2
// CHECK: scf.if %[[TWO_TOKENS]] {
// CHECK: %[[ROW_BLOCKS:.*]] = arith.ceildivui %[[TOKENS]], %c2
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@decode_matmul_w4_n64_k64_ga32_gw32_t2_c1_f32_f32 blocks in (%c8{{.*}}, %[[ROW_BLOCKS]], %c1{{.*}})
// CHECK: } else {
// The tensor-core kernel takes tiles of 64 tokens while their thread
// blocks fit one wave (142 blocks on sm_89's usual GPU, an L40S, of 64
// tokens by 128 channels here), of 128 above.
// CHECK: %[[FEW:.*]] = arith.cmpi ule, %[[TOKENS]], %c9088
// CHECK: scf.if %[[FEW]] {
// CHECK: %[[SHORT_ROWS:.*]] = arith.ceildivui %[[TOKENS]], %c64
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@tc_matmul_w4a8_n64_k64_ga32_gw32_m64_kt32_s3_f32_f32 blocks in (%c1{{.*}}, %[[SHORT_ROWS]], %c1{{.*}}) threads in (%c256{{.*}}, %c1{{.*}}, %c1{{.*}}) dynamic_shared_memory_size %c12288_i32 args(%[[W_BYTES]] : memref<?xi8>, %[[W_SCALES_1D]] : memref<?xf32>, %[[ACT_BYTES]] : memref<?xi8>, %[[ACT_SCALES_1D]] : memref<?xf32>, %[[OUT_1D]] : memref<?xf32>, %[[TOKENS_I32]] : i32)
// CHECK: } else {
// CHECK: %[[TILE_ROWS:.*]] = arith.ceildivui %[[TOKENS]], %c128
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@tc_matmul_w4a8_n64_k64_ga32_gw32_m128_kt32_s3_f32_f32 blocks in (%c1{{.*}}, %[[TILE_ROWS]], %c1{{.*}}) threads in (%c256{{.*}}, %c1{{.*}}, %c1{{.*}}) dynamic_shared_memory_size %c18432_i32 args(%[[W_BYTES]] : memref<?xi8>, %[[W_SCALES_1D]] : memref<?xf32>, %[[ACT_BYTES]] : memref<?xi8>, %[[ACT_SCALES_1D]] : memref<?xf32>, %[[OUT_1D]] : memref<?xf32>, %[[TOKENS_I32]] : i32)

// 36 output channels are not a multiple of the tensor-core kernel's 8, so
// more tokens than a decode kernel holds take the largest one over blocks
// of tokens.
// CHECK-LABEL: func.func private @lowbit_nvgpu_matmul_36x64_ga64_gw32(
// CHECK: } else {
// CHECK: %[[ROW_BLOCKS:.*]] = arith.ceildivui %{{.*}}, %c2
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@decode_matmul_w4_n36_k64_ga64_gw32_t2_c1_f32_f32 blocks in (%c5{{.*}}, %[[ROW_BLOCKS]], %c1{{.*}})
// CHECK-NOT: tc_matmul

// Two weights of the same activations (64 and 16 output channels): one
// decode launch over both weights' blocks (8 + 2), the buffers of each
// weight in turn, then the activations, then each result; the tensor-core
// kernel takes one weight per launch.
// CHECK-LABEL: func.func private @lowbit_nvgpu_matmul_64_16x64_ga32_gw32(
// CHECK-SAME: %[[ACT:[^:]*]]: memref<?x64xi8>, %{{[^:]*}}: memref<?x2xf32>, %{{[^:]*}}: memref<64x32xi8>, %{{[^:]*}}: memref<64x2xf32>, %{{[^:]*}}: memref<?x64xf32>, %{{[^:]*}}: memref<16x32xi8>, %{{[^:]*}}: memref<16x2xf32>, %{{[^:]*}}: memref<?x16xf32>)
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@decode_matmul_w4_n64_16_k64_ga32_gw32_t1_c1_f32_f32 blocks in (%c10, %{{.*}}, %c1{{.*}}) threads in (%c256{{.*}}) args(%[[W0:[^ ]*]] : memref<?xvector<4xi32>>, %[[S0:[^ ]*]] : memref<?xf32>, %[[W1:[^ ]*]] : memref<?xvector<4xi32>>, %[[S1:[^ ]*]] : memref<?xf32>, %{{[^ ]*}} : memref<?xvector<4xi32>>, %{{[^ ]*}} : memref<?xf32>, %[[OUT0:[^ ]*]] : memref<?xf32>, %[[OUT1:[^ ]*]] : memref<?xf32>, %{{[^ ]*}} : i32)
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@decode_matmul_w4_n64_16_k64_ga32_gw32_t2_c1_f32_f32 blocks in (%c10
// CHECK: } else {
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@tc_matmul_w4a8_n64_k64_ga32_gw32_m64_kt32_s3_f32_f32 {{.*}} args(%{{[^ ]*}} : memref<?xi8>, %{{[^ ]*}} : memref<?xf32>, %{{[^ ]*}} : memref<?xi8>, %{{[^ ]*}} : memref<?xf32>, %[[OUT0]] : memref<?xf32>
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@tc_matmul_w4a8_n16_k64_ga32_gw32_m64_kt32_s3_f32_f32 {{.*}} args(%{{[^ ]*}} : memref<?xi8>, %{{[^ ]*}} : memref<?xf32>, %{{[^ ]*}} : memref<?xi8>, %{{[^ ]*}} : memref<?xf32>, %[[OUT1]] : memref<?xf32>

// Llama-sized weights: 4096 output channels are 32 blocks of 128, so tiles
// of 64 tokens fit one wave up to 4 x 64 tokens; 11008 are 86 blocks, up
// to 64 tokens. On a GPU of 108 multiprocessors (an A100), 3 x 64 and 64.
// WAVE-LABEL: func.func private @lowbit_nvgpu_matmul_4096_11008x64_ga32_gw32(
// WAVE: %[[TOKENS:.*]] = memref.dim
// WAVE: arith.cmpi ule, %[[TOKENS]], %c192
// WAVE: arith.cmpi ule, %[[TOKENS]], %c64
// CHECK-LABEL: func.func private @lowbit_nvgpu_matmul_4096_11008x64_ga32_gw32(
// CHECK: %[[TOKENS:.*]] = memref.dim
// CHECK: arith.cmpi ule, %[[TOKENS]], %c256
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@tc_matmul_w4a8_n4096_k64_ga32_gw32_m64_kt32_s3_f32_f32
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@tc_matmul_w4a8_n4096_k64_ga32_gw32_m128_kt32_s3_f32_f32
// CHECK: arith.cmpi ule, %[[TOKENS]], %c64
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@tc_matmul_w4a8_n11008_k64_ga32_gw32_m64_kt32_s3_f32_f32
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@tc_matmul_w4a8_n11008_k64_ga32_gw32_m128_kt32_s3_f32_f32

// Activations of an INT8 and an INT4 block of 64 channels: on sm_89 the
// tensor-core kernel takes the INT4 block's step on s4 tensor cores.
// CHECK-LABEL: func.func private @lowbit_nvgpu_matmul_64x128_ga64_gw64_ab64_8x1_4x1(
// CHECK-NOT: lowbit.activation_block
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@tc_matmul_w4a8x1a4x1_n64_k128_ga64_gw64_m64_kt64_s3_f32_f32
// CHECK: gpu.launch_func @lowbit_matmul_kernels::@tc_matmul_w4a8x1a4x1_n64_k128_ga64_gw64_m128_kt64_s3_f32_f32

// CHECK: gpu.module @lowbit_matmul_kernels [#nvvm.target<O = 3, chip = "sm_89", features = "+ptx80">]
// CHECK-DAG: gpu.func @decode_matmul_w4_n64_k64_ga32_gw32_t1_c1_f32_f32(
// CHECK-DAG: gpu.func @decode_matmul_w4_n64_k64_ga32_gw32_t2_c1_f32_f32(
// CHECK-DAG: gpu.func @tc_matmul_w4a8_n64_k64_ga32_gw32_m64_kt32_s3_f32_f32(
// CHECK-DAG: gpu.func @tc_matmul_w4a8_n64_k64_ga32_gw32_m128_kt32_s3_f32_f32(
// CHECK-DAG: gpu.func @decode_matmul_w4_n36_k64_ga64_gw32_t1_c1_f32_f32(
// CHECK-DAG: gpu.func @decode_matmul_w4_n36_k64_ga64_gw32_t2_c1_f32_f32(
// The grouped kernel's block x picks the weight: blocks 0-7 the first,
// the rest the second, renumbered from 0.
// CHECK-LABEL: gpu.func @decode_matmul_w4_n64_16_k64_ga32_gw32_t1_c1_f32_f32(
// CHECK: %[[BLOCK:.*]] = gpu.block_id x
// CHECK: %[[FIRST:.*]] = arith.cmpi ult, %[[BLOCK]], %c8
// CHECK: scf.if %[[FIRST]] {
// CHECK: memref.store {{.*}}, %arg6[
// CHECK: } else {
// CHECK: arith.subi %[[BLOCK]], %c8
// CHECK: memref.store {{.*}}, %arg7[

func.func private @lowbit_nvgpu_matmul_64x64_ga32_gw32(memref<?x64xi8>, memref<?x2xf32>, memref<64x32xi8>, memref<64x2xf32>, memref<?x64xf32>) attributes {lowbit.gpu_matmul}
func.func private @lowbit_nvgpu_matmul_36x64_ga64_gw32(memref<?x64xi8>, memref<?x1xf32>, memref<36x32xi8>, memref<36x2xf32>, memref<?x36xf32>) attributes {lowbit.gpu_matmul}
func.func private @lowbit_nvgpu_matmul_64_16x64_ga32_gw32(memref<?x64xi8>, memref<?x2xf32>, memref<64x32xi8>, memref<64x2xf32>, memref<?x64xf32>, memref<16x32xi8>, memref<16x2xf32>, memref<?x16xf32>) attributes {lowbit.gpu_matmul}
func.func private @lowbit_nvgpu_matmul_4096_11008x64_ga32_gw32(memref<?x64xi8>, memref<?x2xf32>, memref<4096x32xi8>, memref<4096x2xf32>, memref<?x4096xf32>, memref<11008x32xi8>, memref<11008x2xf32>, memref<?x11008xf32>) attributes {lowbit.gpu_matmul}
func.func private @lowbit_nvgpu_matmul_64x128_ga64_gw64_ab64_8x1_4x1(memref<?x128xi8>, memref<?x2xf32>, memref<64x64xi8>, memref<64x2xf32>, memref<?x64xf32>) attributes {lowbit.gpu_matmul, lowbit.activation_block_size = 64 : i64, lowbit.activation_block_bits = array<i64: 8, 4>}
