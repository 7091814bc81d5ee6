//===- PrefillAttentionKernel.h - prompt attention on tensor cores -*- C++
//-*-===//
//
// The GPU kernel of causal grouped-query attention of many query rows (a
// prompt) over a 4- or 8-bit KV cache: flash attention on TF32 tensor
// cores, each thread block sharing its key and value tiles among 64 query
// rows of one head.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_CONVERSION_LOWBITTONVGPU_PREFILLATTENTIONKERNEL_H
#define LOWBIT_CONVERSION_LOWBITTONVGPU_PREFILLATTENTIONKERNEL_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

#include <string>

namespace lowbit {

/// What one prefill attention kernel computes: for query rows t at
/// positions start + t, out[t, head] = sum over positions s <= start + t of
/// softmax_s(q . k_s / sqrt(headDim)) v_s, with k_s and v_s of the head's
/// KV head (head / (numHeads / numKVHeads)) dequantized from the cache:
/// code x scale, one scale per position and `groupSize` channels.
///
/// Thread block (x, y) computes query rows x * kBlockQueries.. of head y,
/// 16 rows per warp; the block's query rows wait in shared memory. It walks
/// the visible positions in tiles of kBlockKeys: the tile's codes go to
/// shared memory as f32 (exact), q . k
/// is summed per scale group by `mma.sync.m16n8k8` on TF32 and scaled by
/// the key scales, an online softmax keeps each row's maximum and sum of
/// weights, and the weights times the value scales multiply the value codes
/// on TF32 tensor cores again. Every f32 operand that is not a code goes in
/// as two TF32 parts, its rounding and the rest (codes are exact), so the
/// products keep about 21 bits, near f32; the sums differ from the
/// reference executor's only in order.
///
/// Kernel arguments, in order (1-D memrefs passed as MLIR's memref
/// descriptor):
///   query   [rows, numHeads * headDim] f32, turned by the rotary embedding
///           like the cached keys
///   keys    the key region of the cache: [maxLength, row bytes] codes
///           (4-bit: two per byte, the even channel low), then
///           [maxLength, channels / groupSize] f32 scales
///   values  the value region, alike
///   out     [rows, numHeads * headDim] f32
///   rows    i32
///   start   i32, the position of query row 0; the cache holds positions
///           0..start + rows - 1
/// The kernel takes getSharedMemoryBytes() of dynamic shared memory.
struct PrefillAttentionKernel {
  /// Warps in one thread block.
  static constexpr int64_t kWarpsPerBlock = 4;
  /// Query rows of one thread block (16 per warp).
  static constexpr int64_t kBlockQueries = 16 * kWarpsPerBlock;
  /// Positions of one key and value tile.
  static constexpr int64_t kBlockKeys = 32;
  /// Most channels per head: a thread keeps its share of the output rows
  /// (headDim / 2 f32) in registers, and the shared memory stays below the
  /// 99 KiB a thread block of sm_89 may take (70 KiB at 128).
  static constexpr int64_t kMaxHeadDim = 128;

  int64_t headDim;
  int64_t numHeads;
  int64_t numKVHeads;
  /// Bits per cached code: 4 or 8.
  int64_t bits;
  int64_t groupSize;
  int64_t maxLength;

  /// Channels of the cache rows: numKVHeads * headDim.
  int64_t getChannels() const { return numKVHeads * headDim; }
  /// Bytes of dynamic shared memory the kernel needs.
  int64_t getSharedMemoryBytes() const;
  /// A symbol name that spells out every parameter, e.g.
  /// `tc_prefill_attention_d128_h32_kv32_b4_g32_l4096`.
  std::string getName() const;
  /// Why the kernel cannot be generated for these parameters, or empty.
  std::string checkSupported() const;
};

/// Builds `kernel` as a `gpu.func` at `builder`'s insertion point, which must
/// be inside a `gpu.module`. checkSupported() must be empty.
mlir::gpu::GPUFuncOp
buildPrefillAttentionKernel(mlir::OpBuilder &builder, mlir::Location loc,
                            const PrefillAttentionKernel &kernel);

} // namespace lowbit

#endif // LOWBIT_CONVERSION_LOWBITTONVGPU_PREFILLATTENTIONKERNEL_H
