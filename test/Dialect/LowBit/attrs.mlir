// RUN: lowbit-opt %s | lowbit-opt | FileCheck %s
// RUN: lowbit-opt %s --mlir-print-op-generic | lowbit-opt | FileCheck %s

// Round trip of every form of the lowbit attributes and types, carried as
// function argument types.

// CHECK-LABEL: func @per_token_blocks
// CHECK-SAME: !lowbit.qtensor<?x512, f16, #lowbit.blocks<128, [8, 4, 4, 4], per_token>>
func.func @per_token_blocks(%a: !lowbit.qtensor<?x512, f16, #lowbit.blocks<128, [8, 4, 4, 4], per_token>>) {
  return
}

// CHECK-LABEL: func @per_channel_blocks
// CHECK-SAME: !lowbit.qtensor<1024x256, bf16, #lowbit.blocks<128, [4, 4], per_channel>>
func.func @per_channel_blocks(%w: !lowbit.qtensor<1024x256, bf16, #lowbit.blocks<128, [4, 4], per_channel>>) {
  return
}

// CHECK-LABEL: func @per_group_blocks
// CHECK-SAME: !lowbit.qtensor<16x256, f32, #lowbit.blocks<128, [4, 8], per_group = 32>>
func.func @per_group_blocks(%w: !lowbit.qtensor<16x256, f32, #lowbit.blocks<128, [4, 8], per_group = 32>>) {
  return
}

// CHECK-LABEL: func @asymmetric_blocks
// CHECK-SAME: #lowbit.blocks<128, [4, 4], per_group = 64, asymmetric>
// CHECK-SAME: #lowbit.blocks<4, [4, 4], per_channel, perm = [5, 1, 0, 2, 3, 4, 6, 7], asymmetric>
func.func @asymmetric_blocks(%w: !lowbit.qtensor<16x256, f16, #lowbit.blocks<128, [4, 4], per_group = 64, asymmetric>>,
                             %p: !lowbit.qtensor<16x8, f16, #lowbit.blocks<4, [4, 4], per_channel, perm = [5, 1, 0, 2, 3, 4, 6, 7], asymmetric>>) {
  return
}

// CHECK-LABEL: func @asymmetric_kv_cache
// CHECK-SAME: !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 64, max_len = 2048, asymmetric = true>
// CHECK-SAME: !lowbit.kv_cache<bits = 8, group = 32, heads = 4, head_dim = 64, max_len = 2048>
func.func @asymmetric_kv_cache(%a: !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 64, max_len = 2048, asymmetric = true>,
                               %s: !lowbit.kv_cache<bits = 8, group = 32, heads = 4, head_dim = 64, max_len = 2048, asymmetric = false>) {
  return
}

// CHECK-LABEL: func @permuted_blocks
// CHECK-SAME: #lowbit.blocks<4, [8, 4], per_token, perm = [5, 1, 0, 2, 3, 4, 6, 7]>
func.func @permuted_blocks(%a: !lowbit.qtensor<?x8, f16, #lowbit.blocks<4, [8, 4], per_token, perm = [5, 1, 0, 2, 3, 4, 6, 7]>>) {
  return
}

// CHECK-LABEL: func @kv_cache_widths
// CHECK-SAME: !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 64, max_len = 2048>
// CHECK-SAME: !lowbit.kv_cache<bits = 8, group = 64, heads = 8, head_dim = 128, max_len = 4096>
// CHECK-SAME: !lowbit.kv_cache<bits = 16, group = 128, heads = 1, head_dim = 128, max_len = 1>
// CHECK-SAME: !lowbit.kv_cache<bits = 32, group = 64, heads = 2, head_dim = 64, max_len = 8>
func.func @kv_cache_widths(
    %c4: !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 64, max_len = 2048>,
    %c8: !lowbit.kv_cache<bits = 8, group = 64, heads = 8, head_dim = 128, max_len = 4096>,
    %c16: !lowbit.kv_cache<bits = 16, group = 128, heads = 1, head_dim = 128, max_len = 1>,
    %c32: !lowbit.kv_cache<bits = 32, group = 64, heads = 2, head_dim = 64, max_len = 8>) {
  return
}

// CHECK-LABEL: func @wire_formats
// CHECK-SAME: lowbit.fp4 = #lowbit.wire<fp4_e2m1, block = 8, scale = f16>
// CHECK-SAME: lowbit.fp5a = #lowbit.wire<fp5_e2m2, block = 16, scale = bf16>
// CHECK-SAME: lowbit.fp5b = #lowbit.wire<fp5_e3m1, block = 32, scale = f32>
// CHECK-SAME: lowbit.i4 = #lowbit.wire<int4, block = 16, scale = f8E8M0FNU>
// CHECK-SAME: lowbit.i8 = #lowbit.wire<int8, block = 32, scale = f16>
func.func @wire_formats() attributes {
    lowbit.fp4 = #lowbit.wire<fp4_e2m1, block = 8, scale = f16>,
    lowbit.fp5a = #lowbit.wire<fp5_e2m2, block = 16, scale = bf16>,
    lowbit.fp5b = #lowbit.wire<fp5_e3m1, block = 32, scale = f32>,
    lowbit.i4 = #lowbit.wire<int4, block = 16, scale = f8E8M0FNU>,
    lowbit.i8 = #lowbit.wire<int8, block = 32, scale = f16>} {
  return
}
