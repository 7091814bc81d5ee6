//===- TensorCoreMatmulKernel.h - W4A8 tensor-core matmul -------*- C++ -*-===//
//
// The GPU kernel that multiplies many tokens of quantized activations by
// INT4 weights on INT8 tensor cores: prefill, and decode steps with more
// tokens than the decode kernels serve. It is bound by tensor-core
// throughput, not memory, so it tiles for data reuse in shared memory.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_CONVERSION_LOWBITTONVGPU_TENSORCOREMATMULKERNEL_H
#define LOWBIT_CONVERSION_LOWBITTONVGPU_TENSORCOREMATMULKERNEL_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/SmallVector.h"

#include <string>

namespace lowbit {

/// What one tensor-core matmul kernel computes: the same product as
/// DecodeMatmulKernel, `result[t, n] = sum over k of act[t, k] * weight[n, k]`
/// dequantized by one activation scale per token and `actScaleGroup`
/// channels and one weight scale per output channel and `weightScaleGroup`
/// channels, for any number of tokens.
///
/// Thread block (x, y) computes a blockRows x kBlockColumns tile of the
/// result: tokens from `y * blockRows`, output channels from
/// `x * kBlockColumns`. Its 8 warps form a 2 x 4 grid of (blockRows / 2) x 32
/// warp tiles, each (blockRows / 32) x 4 `mma.sync.m16n8k32` s8 tiles. The
/// input channels are walked in steps of getTileChannels() (one scale group or
/// less, so that each step's INT32 sums are dequantized with one scale pair),
/// `stages` steps in flight through `cp.async` copies into a ring of
/// shared-memory buffers. Steps whose activations are 4-bit codes
/// (actStepBits) may instead multiply on s4 tensor cores,
/// `mma.sync.m16n8k64`, where the chip has them natively (sm_80, sm_89).
///
/// Kernel arguments, in order (each a 1-D memref passed as MLIR's memref
/// descriptor, row-major):
///   weights       [N, K/2] i8: runtime::packInt4Interleaved's layout, which
///                 is also the decode kernels'
///   weightScales  [N, K/weightScaleGroup] of the scale type
///   act           [tokens, K] i8 codes
///   actScales     [tokens, K/actScaleGroup] of the scale type
///   result        [tokens, N] of the result type
///   tokens        i32
/// The kernel takes getSharedMemoryBytes() of dynamic shared memory.
struct TensorCoreMatmulKernel {
  /// Warps in one thread block.
  static constexpr int64_t kWarpsPerBlock = 8;
  /// The tokens (result rows) a thread block's tile may have. While there
  /// are fewer thread blocks than multiprocessors, each block's walk over
  /// the input channels bounds the time, and 64-row tiles, with half the
  /// mma and dequantization work per warp and step, are 1.4 to 1.6x faster
  /// on an H100. Once they need a second wave of blocks, 128-row tiles
  /// (each weight step reused twice as often) are faster: 1.2 to 1.3x from
  /// 512 tokens (bench/results/2026-11-25-h100-matmul-tiles.md).
  static constexpr int64_t kShortTileRows = 64, kTallTileRows = 128;
  static constexpr int64_t kBlockRowChoices[] = {kShortTileRows, kTallTileRows};
  /// The multiprocessors of the GPU a kernel for `chip` is assumed to run
  /// on when not told: an A100's 108 (sm_80), an L40S's 142 (sm_89), an
  /// H100 or H200 SXM's 132 (sm_90). A thread block takes a whole
  /// multiprocessor (the kernel's registers allow no more), so this is
  /// also the thread blocks of one wave.
  static int64_t getDefaultMultiprocessors(llvm::StringRef chip) {
    return chip == "sm_80" ? 108 : chip == "sm_89" ? 142 : 132;
  }
  /// The most tokens for which a weight of `outChannels` output channels
  /// takes short tiles on a GPU of `multiprocessors`: as many as keep their
  /// blocks within one wave.
  static int64_t getMaxTokensForShortTiles(int64_t outChannels,
                                           int64_t multiprocessors) {
    int64_t columnBlocks = (outChannels + kBlockColumns - 1) / kBlockColumns;
    return kShortTileRows * (multiprocessors / columnBlocks);
  }
  /// Output channels (result columns) of one thread block's tile.
  static constexpr int64_t kBlockColumns = 128;
  /// Input channels of one mma.sync (m16n8k32 on s8).
  static constexpr int64_t kMmaChannels = 32;
  /// Input channels of one s4 mma.sync (m16n8k64).
  static constexpr int64_t kInt4MmaChannels = 64;
  /// Most input channels of one pipeline step.
  static constexpr int64_t kMaxTileChannels = 128;

  int64_t outChannels;
  int64_t inChannels;
  int64_t actScaleGroup;
  int64_t weightScaleGroup;
  /// Pipeline steps whose copies are in flight at once.
  int64_t stages;
  mlir::FloatType scaleType;
  mlir::FloatType resultType;
  /// Tokens (result rows) of one thread block's tile, one of
  /// kBlockRowChoices.
  int64_t blockRows = 128;
  /// The width of each pipeline step's activation codes where some steps
  /// multiply on s4 tensor cores: 4 (codes in [-8, 7], `mma.sync.m16n8k64`
  /// s4) or 8 (`m16n8k32` s8), one entry per step. Empty: every step is
  /// 8-bit. Activations arrive as one byte per code either way; a 4-bit
  /// step packs them into nibbles in registers.
  llvm::SmallVector<int64_t> actStepBits;

  /// Input channels of one pipeline step: the smaller scale group, at most
  /// kMaxTileChannels.
  int64_t getTileChannels() const;
  /// Pipeline steps along the input channels.
  int64_t getNumTiles() const { return inChannels / getTileChannels(); }
  /// Sets actStepBits for activations stored in blocks of `blockSize`
  /// channels of `blockBits` bits each, for `chip`: a step is 4-bit where
  /// the chip multiplies s4 natively (sm_80, sm_89; sm_90 emulates it, see
  /// docs/roofline.md), every block it spans is 4-bit and it is a whole
  /// number of m16n8k64 steps.
  void selectActivationSteps(llvm::StringRef chip, int64_t blockSize,
                             llvm::ArrayRef<int64_t> blockBits);
  /// Bytes of dynamic shared memory the kernel needs.
  int64_t getSharedMemoryBytes() const;
  /// A symbol name that spells out every parameter, e.g.
  /// `tc_matmul_w4a8_n4096_k4096_ga128_gw128_m128_kt128_s3_f16_f16`. The
  /// activation part is `a8` (every step s8), `a4` (every step s4) or the
  /// runs of steps of each width, `a8x1a4x31`.
  std::string getName() const;
  /// Why the kernel cannot be generated for these parameters, or empty.
  std::string checkSupported() const;
};

/// Builds `kernel` as a `gpu.func` at `builder`'s insertion point, which must
/// be inside a `gpu.module`. checkSupported() must be empty.
mlir::gpu::GPUFuncOp
buildTensorCoreMatmulKernel(mlir::OpBuilder &builder, mlir::Location loc,
                            const TensorCoreMatmulKernel &kernel);

} // namespace lowbit

#endif // LOWBIT_CONVERSION_LOWBITTONVGPU_TENSORCOREMATMULKERNEL_H
