// RUN: lowbit-opt %s --lowbit-generate-nvgpu-kernels | FileCheck %s

// Compressed all-reduces get a pack kernel and a decode-and-sum kernel for
// their wire format, data type and number of ranks; all-reduces of one
// format share them.

lowbit.rank_group @tp [0, 1, 2, 3]

// CHECK-LABEL: func.func @partial_results
// CHECK: lowbit.all_reduce {{.*}} {lowbit.gpu_kernels = [@lowbit_kernels::@wire_pack_fp4_e2m1_b16_f16_f16, @lowbit_kernels::@wire_sum_fp4_e2m1_b16_f16_n4_f16]}
// CHECK: lowbit.all_reduce {{.*}} {lowbit.gpu_kernels = [@lowbit_kernels::@wire_pack_fp4_e2m1_b16_f16_f16, @lowbit_kernels::@wire_sum_fp4_e2m1_b16_f16_n4_f16]}
// CHECK: lowbit.all_reduce {{.*}} {lowbit.gpu_kernels = [@lowbit_kernels::@wire_pack_int8_b32_e8m0_f32, @lowbit_kernels::@wire_sum_int8_b32_e8m0_n4_f32]}
// CHECK: lowbit.all_reduce %{{.*}} over @tp : tensor<?x64xf16>
func.func @partial_results(%x: tensor<?x64xf16>, %y: tensor<?x64xf32>)
    -> (tensor<?x64xf16>, tensor<?x64xf16>, tensor<?x64xf32>, tensor<?x64xf16>) {
  %0 = lowbit.all_reduce %x over @tp wire <fp4_e2m1, block = 16, scale = f16> : tensor<?x64xf16>
  %1 = lowbit.all_reduce %0 over @tp wire <fp4_e2m1, block = 16, scale = f16> : tensor<?x64xf16>
  %2 = lowbit.all_reduce %y over @tp wire <int8, block = 32, scale = f8E8M0FNU> : tensor<?x64xf32>
  %3 = lowbit.all_reduce %x over @tp : tensor<?x64xf16>
  return %0, %1, %2, %3 : tensor<?x64xf16>, tensor<?x64xf16>, tensor<?x64xf32>, tensor<?x64xf16>
}

// The FP4 pack: one thread per block of 16 halves, an absmax scale rounded
// to f16 (saturated below infinity), each magnitude placed on the grid by
// the 7 midpoints it passes (>= where the code above is even), codes
// written as two i32 words, then the 2-byte scale.
// CHECK-LABEL: gpu.func @wire_pack_fp4_e2m1_b16_f16_f16(%{{.*}}: memref<?xvector<8xf16>>, %{{.*}}: memref<?xi8>, %{{.*}}: i32) kernel attributes {known_block_size = array<i32: 256, 1, 1>}
// CHECK-COUNT-2: memref.load {{.*}} : memref<?xvector<8xf16>>
// CHECK: arith.divf %{{.*}}, %cst{{.*}} : f32
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: arith.constant 31744 : i32
// CHECK: arith.cmpf ogt, %{{.*}}, %cst{{.*}} : f32
// CHECK: arith.cmpf oge, %{{.*}}, %cst{{.*}} : f32
// CHECK: memref.view %{{.*}} : memref<?xi8> to memref<?xi32>
// CHECK-COUNT-2: memref.store {{.*}} : memref<?xi32>
// CHECK-COUNT-2: memref.store {{.*}} : memref<?xi8>
// CHECK: gpu.return

// The sum: every rank's scale and codes, decoded and added in f32 in rank
// order, rounded to f16 once and written as two 16-byte vectors.
// CHECK-LABEL: gpu.func @wire_sum_fp4_e2m1_b16_f16_n4_f16(%{{.*}}: memref<?xi8>, %{{.*}}: memref<?xvector<8xf16>>, %{{.*}}: i32)
// CHECK-COUNT-4: arith.bitcast %{{.*}} : i16 to f16
// CHECK-COUNT-8: arith.truncf %{{.*}} : f32 to f16
// CHECK: memref.store %{{.*}} : memref<?xvector<8xf16>>
// CHECK-COUNT-8: arith.truncf %{{.*}} : f32 to f16
// CHECK: memref.store %{{.*}} : memref<?xvector<8xf16>>
// CHECK: gpu.return

// INT8 rounds by adding and removing 1.5 * 2^23; e8m0 scales round up to a
// power of two whose biased exponent, at most 254, is the stored byte.
// CHECK-LABEL: gpu.func @wire_pack_int8_b32_e8m0_f32(%{{.*}}: memref<?xvector<4xf32>>
// CHECK: arith.minui %{{.*}}, %c254
// CHECK: arith.constant 0x4B400000 : f32
// CHECK: arith.fptosi
// CHECK-LABEL: gpu.func @wire_sum_int8_b32_e8m0_n4_f32(%{{.*}}: memref<?xi8>, %{{.*}}: memref<?xvector<4xf32>>
// CHECK: arith.shrsi
// CHECK: arith.sitofp
// CHECK-NOT: arith.truncf
// CHECK: gpu.return
