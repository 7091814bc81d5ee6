// RUN: split-file %s %t
// RUN: lowbit-opt %t/f16.mlir --lowbit-convert-to-cpu=isa=neon-dotprod | FileCheck %s --check-prefix=DOT
// RUN: lowbit-opt %t/f16.mlir --lowbit-convert-to-cpu=isa=neon-i8mm | FileCheck %s --check-prefix=MMLA
// RUN: lowbit-opt %t/f16.mlir --lowbit-convert-to-cpu=isa=neon-i8mm --lowbit-lower-cpu-to-llvm | FileCheck %s --check-prefix=LLVM
// RUN: lowbit-opt %t/bf16.mlir --lowbit-convert-to-cpu=isa=neon-dotprod | FileCheck %s --check-prefix=BF16
// RUN: not lowbit-opt %t/f16.mlir --lowbit-convert-to-cpu=isa=sve2 2>&1 | FileCheck %s --check-prefix=BAD-ISA

// The NEON matmul kernels read weights in tiles of rows (quads for sdot,
// pairs for smmla; 6 outputs pad to 2 quads or fill 3 pairs) with their
// scales stored per tile, and compute with arm_neon intrinsics.

// DOT: lowbit.cpu.weights = [{form = "f32", name = "token_embd.weight"
// DOT-SAME: {form = "packed-row-quads", name = "blk.0.attn_k.weight", offset = 2048 : i64, prescaled,
// DOT-LABEL: func.func @lowbit_prefill(
// DOT: call @lowbit_cpu_quantize_64_b32_g32_84_f16(
// DOT: call @lowbit_cpu_matmul_6x64_b32_ga32_gw32_84_f32_sdot_ps({{.*}}) : (memref<?x64xi8>, memref<?x2xf32>, memref<2x192xi8>, memref<2x8xf32>, memref<?x6xf32>) -> ()
// Per 32 channels a quad of 4-bit rows is 4 loads of 16 bytes, each a shift
// and a mask away from two 4x4 sub-tiles; activations are 16-byte loads
// whose 4-code groups feed indexed sdot.
// DOT-LABEL: func.func private @lowbit_cpu_matmul_6x64_b32_ga32_gw32_84_f32_sdot_ps(
// DOT: vector.load {{.*}} : memref<384xi8>, vector<16xi8>
// DOT: arith.shli {{.*}} : vector<16xi8>
// DOT: arith.andi {{.*}} : vector<16xi8>
// DOT: vector.load {{.*}} : memref<?xi8>, vector<16xi8>
// DOT: vector.bitcast {{.*}} : vector<16xi8> to vector<4xi32>
// DOT: vector.shuffle {{.*}} [1, 1, 1, 1] : vector<4xi32>, vector<4xi32>
// DOT: arm_neon.intr.sdot {{.*}} : vector<16xi8>, vector<16xi8> to vector<4xi32>
// The sums of 4-bit sub-tiles are 16 x the dot products and the stored f16
// scales of 4-bit groups are divided by 16 ("prescaled"): no shift back.
// DOT-NOT: arith.shrsi
// DOT: arith.sitofp {{.*}} : vector<4xi32> to vector<4xf32>
// DOT-NOT: arm_neon.intr.smmla

// With bf16 scales the sums are shifted back by 4 instead.
// BF16: {form = "packed-row-quads", name = "blk.0.attn_k.weight", offset = 2048 : i64, type
// BF16-LABEL: func.func private @lowbit_cpu_matmul_6x64_b32_ga32_gw32_84_f32_sdot(
// BF16: arith.shrsi {{.*}} : vector<4xi32>

//--- f16.mlir
!act = !lowbit.qtensor<?x64, f16, #lowbit.blocks<32, [8, 4], per_token>>
!w = !lowbit.qtensor<6x64, f16, #lowbit.blocks<32, [8, 4], per_group = 32>>

// MMLA: {form = "packed-row-pairs", name = "blk.0.attn_k.weight"
// MMLA-LABEL: func.func @lowbit_prefill(
// Token rows are interleaved in pairs for smmla.
// MMLA: call @lowbit_cpu_quantize_64_b32_g32_84_f16_pairs(
// MMLA: call @lowbit_cpu_matmul_6x64_b32_ga32_gw32_84_f32_smmla_ps({{.*}}) : (memref<?x64xi8>, memref<?x2xf32>, memref<3x96xi8>, memref<3x4xf32>, memref<?x6xf32>) -> ()
// MMLA-LABEL: func.func private @lowbit_cpu_matmul_6x64_b32_ga32_gw32_84_f32_smmla_ps(
// MMLA: arm_neon.intr.smmla {{.*}} : vector<16xi8> to vector<4xi32>
// A lone token row (decode) uses smmla on 16 codes of its own and keeps the
// lanes where chunks and sub-tiles match.
// MMLA: vector.shuffle {{.*}} [2, 3, 2, 3] : vector<4xi32>, vector<4xi32>
// MMLA-NOT: arm_neon.intr.sdot

// LLVM-LABEL: llvm.func @lowbit_cpu_matmul_6x64_b32_ga32_gw32_84_f32_smmla_ps(
// LLVM: arm_neon.intr.smmla
// LLVM-NOT: memref.
// LLVM-NOT: vector.load

// BAD-ISA: error: lowbit-convert-to-cpu: unknown isa 'sve2' (known: generic, neon-dotprod, neon-i8mm, x86-avx512vnni, nvgpu)

module attributes {lowbit.checkpoint = "tiny.gguf"} {
  func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index) -> tensor<?x6xf32> {
    %table = lowbit.weight "token_embd.weight" : tensor<8x64xf32>
    %x = lowbit.embedding %table[%tokens] : tensor<8x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
    %a = lowbit.quantize %x : tensor<?x64xf32> -> !act
    %wk = lowbit.weight "blk.0.attn_k.weight" : tensor<6x64xf32>
    %qk = lowbit.quantize %wk : tensor<6x64xf32> -> !w
    %k = lowbit.matmul %a, %qk : !act, !w -> tensor<?x6xf32>
    return %k : tensor<?x6xf32>
  }
}

//--- bf16.mlir
!act = !lowbit.qtensor<?x64, bf16, #lowbit.blocks<32, [8, 4], per_token>>
!w = !lowbit.qtensor<6x64, bf16, #lowbit.blocks<32, [8, 4], per_group = 32>>
module attributes {lowbit.checkpoint = "tiny.gguf"} {
  func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index) -> tensor<?x6xf32> {
    %table = lowbit.weight "token_embd.weight" : tensor<8x64xf32>
    %x = lowbit.embedding %table[%tokens] : tensor<8x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
    %a = lowbit.quantize %x : tensor<?x64xf32> -> !act
    %wk = lowbit.weight "blk.0.attn_k.weight" : tensor<6x64xf32>
    %qk = lowbit.quantize %wk : tensor<6x64xf32> -> !w
    %k = lowbit.matmul %a, %qk : !act, !w -> tensor<?x6xf32>
    return %k : tensor<?x6xf32>
  }
}
