// RUN: lowbit-opt %s --lowbit-generate-nvgpu-kernels="chip=sm_90 max-decode-rows=4" --split-input-file | FileCheck %s

!act = !lowbit.qtensor<?x256, f16, #lowbit.blocks<128, [8, 4], per_token>>
!w = !lowbit.qtensor<64x256, f16, #lowbit.blocks<128, [4, 4], per_group = 64>>

// One decode kernel per power of two of tokens and one tensor-core kernel,
// named after every parameter, in a gpu.module for the chip; the matmul
// names its kernels. The tensor-core kernel's pipeline step is the smaller
// scale group (64 channels).
// CHECK-LABEL: func.func @decode_kernels
// CHECK: lowbit.matmul %{{.*}}, %{{.*}} {lowbit.gpu_kernels = [@lowbit_kernels::@decode_matmul_w4_n64_k256_ga128_gw64_t1_c1_f16_f32, @lowbit_kernels::@decode_matmul_w4_n64_k256_ga128_gw64_t2_c1_f16_f32, @lowbit_kernels::@decode_matmul_w4_n64_k256_ga128_gw64_t4_c2_f16_f32, @lowbit_kernels::@tc_matmul_w4a8_n64_k256_ga128_gw64_m64_kt64_s3_f16_f32, @lowbit_kernels::@tc_matmul_w4a8_n64_k256_ga128_gw64_m128_kt64_s3_f16_f32]}
// CHECK: gpu.module @lowbit_kernels [#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">]
// CHECK: gpu.func @decode_matmul_w4_n64_k256_ga128_gw64_t1_c1_f16_f32(%{{.*}}: memref<?xvector<4xi32>>, %{{.*}}: memref<?xf16>, %{{.*}}: memref<?xvector<4xi32>>, %{{.*}}: memref<?xf16>, %{{.*}}: memref<?xf32>, %{{.*}}: i32) kernel attributes {known_block_size = array<i32: 256, 1, 1>}
// The low and high nibbles of a weight word become dp4a operands by a shift
// and a mask (0xF0F0F0F0 is -252645136).
// CHECK: %[[MASK:.*]] = arith.constant -252645136 : i32
// CHECK: %[[WORDS:.*]] = memref.load %{{.*}} : memref<?xvector<4xi32>>
// CHECK: %[[WORD:.*]] = vector.extract %{{.*}}[0] : i32 from vector<4xi32>
// CHECK: %[[SHIFTED:.*]] = arith.shli %[[WORD]], %{{.*}} : i32
// CHECK: arith.andi %[[SHIFTED]], %[[MASK]] : i32
// CHECK: arith.andi %[[WORD]], %[[MASK]] : i32
// CHECK: nvvm.dot.accumulate.4way %{{.*}} <signed>, %{{.*}} <signed>, %{{.*}} : vector<4xi8>, vector<4xi8>
// The 16 the nibble trick multiplied by is divided out once, after the
// lanes' sums are added up.
// CHECK: %[[SIXTEENTH:.*]] = arith.constant 6.250000e-02 : f32
// CHECK: %[[SUM:.*]], %{{.*}} = gpu.shuffle  xor
// CHECK-COUNT-4: gpu.shuffle  xor
// CHECK: arith.mulf %{{.*}}, %[[SIXTEENTH]] : f32
// CHECK: memref.store %{{.*}} : memref<?xf32>
// CHECK: gpu.func @decode_matmul_w4_n64_k256_ga128_gw64_t2_c1_f16_f32
// CHECK: gpu.func @decode_matmul_w4_n64_k256_ga128_gw64_t4_c2_f16_f32
// Four tokens per block loop over the row instead of unrolling it.
// CHECK: scf.for
func.func @decode_kernels(%a: !act, %w: !w) -> tensor<?x64xf32> {
  %y = lowbit.matmul %a, %w : !act, !w -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

!act = !lowbit.qtensor<?x256, f16, #lowbit.blocks<128, [4, 4], per_token>>
!w = !lowbit.qtensor<64x256, f16, #lowbit.blocks<128, [4, 4], per_channel>>

// Matmuls of one shape share kernels; per-channel weights have a scale per
// block, and an f16 result is stored as f16.
// CHECK-LABEL: func.func @shared_kernels
// CHECK: lowbit.matmul {{.*}}@lowbit_kernels::@decode_matmul_w4_n64_k256_ga128_gw128_t1_c1_f16_f16
// CHECK: lowbit.matmul {{.*}}@lowbit_kernels::@decode_matmul_w4_n64_k256_ga128_gw128_t1_c1_f16_f16
// CHECK: gpu.module @lowbit_kernels
// CHECK-COUNT-1: gpu.func @decode_matmul_w4_n64_k256_ga128_gw128_t1_c1_f16_f16
// CHECK-NOT: gpu.func @decode_matmul_w4_n64_k256_ga128_gw128_t1_c1_f16_f16
func.func @shared_kernels(%a: !act, %w: !w, %v: !w) -> (tensor<?x64xf16>, tensor<?x64xf16>) {
  %y = lowbit.matmul %a, %w : !act, !w -> tensor<?x64xf16>
  %z = lowbit.matmul %a, %v : !act, !w -> tensor<?x64xf16>
  return %y, %z : tensor<?x64xf16>, tensor<?x64xf16>
}

// -----

// A module without quantized matmuls gets no kernel module.
// CHECK-LABEL: func.func @nothing_to_generate
// CHECK-NOT: gpu.module
func.func @nothing_to_generate(%x: tensor<?x8xf32>, %w: tensor<2x8xf32>) -> tensor<?x2xf32> {
  %y = lowbit.linear %x, %w : tensor<?x8xf32>, tensor<2x8xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// An attention over a 4-bit cache names its prefill attention kernel; one
// over an f16 cache, which that kernel does not take, gets none.
// CHECK-LABEL: func.func @prefill_attention
// CHECK: lowbit.kv_attention %{{.*}}, %{{.*}} at %{{.*}} {lowbit.gpu_kernels = [@lowbit_kernels::@tc_prefill_attention_d64_h2_kv1_b4_g32_l8], num_heads = 2 : i64}
// CHECK: lowbit.kv_attention %{{.*}}, %{{.*}} at %{{.*}} {num_heads = 2 : i64}
// CHECK: gpu.func @tc_prefill_attention_d64_h2_kv1_b4_g32_l8(
// CHECK: nvgpu.mma.sync
// CHECK-NOT: gpu.func
func.func @prefill_attention(%q: tensor<?x128xf32>, %kv4: !lowbit.kv_cache<bits = 4, group = 32, heads = 1, head_dim = 64, max_len = 8>, %kv16: !lowbit.kv_cache<bits = 16, group = 64, heads = 1, head_dim = 64, max_len = 8>, %start: index) -> (tensor<?x128xf32>, tensor<?x128xf32>) {
  %o4 = lowbit.kv_attention %q, %kv4 at %start {num_heads = 2 : i64} : tensor<?x128xf32>, !lowbit.kv_cache<bits = 4, group = 32, heads = 1, head_dim = 64, max_len = 8>
  %o16 = lowbit.kv_attention %q, %kv16 at %start {num_heads = 2 : i64} : tensor<?x128xf32>, !lowbit.kv_cache<bits = 16, group = 64, heads = 1, head_dim = 64, max_len = 8>
  return %o4, %o16 : tensor<?x128xf32>, tensor<?x128xf32>
}

// -----

// An f32 linear of 128 outputs (an unquantized LM head) names the tiled
// linear kernel of its shape.
// CHECK-LABEL: func.func @f32_linear
// CHECK: lowbit.linear %{{.*}}, %{{.*}} {lowbit.gpu_kernels = [@lowbit_kernels::@simt_linear_n128_k32]}
// CHECK: gpu.func @simt_linear_n128_k32(
func.func @f32_linear(%x: tensor<?x32xf32>, %w: tensor<128x32xf32>) -> tensor<?x128xf32> {
  %y = lowbit.linear %x, %w : tensor<?x32xf32>, tensor<128x32xf32> -> tensor<?x128xf32>
  return %y : tensor<?x128xf32>
}
