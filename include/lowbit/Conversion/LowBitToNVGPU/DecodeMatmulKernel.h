//===- DecodeMatmulKernel.h - W4 matmul kernel for decode -------*- C++ -*-===//
//
// The GPU kernel that multiplies a few tokens of quantized activations by
// INT4 weights: the decode step's linears, where every weight byte crosses
// the memory bus once and the kernel's job is to keep that bus busy.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_CONVERSION_LOWBITTONVGPU_DECODEMATMULKERNEL_H
#define LOWBIT_CONVERSION_LOWBITTONVGPU_DECODEMATMULKERNEL_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

#include <algorithm>
#include <string>
#include <vector>

namespace lowbit {

/// What one decode matmul kernel computes, for each of its weights i:
/// `result_i[t, n] = sum over k of act[t, k] * weight_i[n, k]`, dequantized
/// by one activation scale per token and `actScaleGroup` channels and one
/// weight scale per output channel and `weightScaleGroup` channels. Several
/// weights that multiply the same activations (a layer's q, k and v, or its
/// gate and up projections) are one launch: fewer launches, and one grid
/// large enough to keep the memory bus busy.
///
/// Thread block: kWarpsPerBlock warps. The blocks along x cover weight 0's
/// output channels, then weight 1's, and so on; block (x, y) computes tokens
/// `y * tokensPerBlock + r` for `r < tokensPerBlock` and
/// getColumnsPerBlock() output channels of its weight. Two kinds of kernel
/// share this frame:
///
/// - dot-product kernels (`mmaWarpsAlongK == 0`, `dp4a` on CUDA cores):
///   warp w of the b-th block of a weight computes output channels
///   `(b * kWarpsPerBlock + w) * columnsPerWarp + c` for
///   `c < columnsPerWarp`; its lanes split the input channels in chunks of
///   32;
/// - tensor-core kernels (`mmaWarpsAlongK > 0`, `mma.sync.m16n8k32` s8 with
///   the weights as the 16-row operand and the tokens as the 8-column one):
///   the block's warps form kWarpsPerBlock / mmaWarpsAlongK tiles of 16
///   output channels, each split into mmaWarpsAlongK warps along the input
///   channels, which walk them 128 channels (one kMmaStepChannels step) at
///   a time and add up their sums through shared memory at the end. Decode
///   steps of 8 or more tokens would spend more time in `dp4a` than in
///   reading the weights; one mma does the work of 32 of them.
///
struct DecodeMatmulKernel {
  /// Warps in one thread block.
  static constexpr int64_t kWarpsPerBlock = 8;
  /// Input channels one lane handles per step (16 bytes of INT4 weights).
  static constexpr int64_t kChannelsPerLaneStep = 32;
  /// Output channels of one tensor-core kernel's warp tile (the mma's M).
  static constexpr int64_t kMmaColumns = 16;
  /// Tokens of one mma (its N).
  static constexpr int64_t kMmaTokens = 8;
  /// Input channels of one tensor-core kernel step: a lane's four 32-channel
  /// words at once, one for each lane of an mma quad.
  static constexpr int64_t kMmaStepChannels = 128;
  /// Fewest tokens per block for which the tensor-core kernel is chosen.
  static constexpr int64_t kMinMmaTokens = 8;
  /// Most tokens per block of a dot-product kernel: above, the tensor-core
  /// matmul kernel's 64-token tiles are faster. Decode tensor-core kernels
  /// beat those tiles up to 32 tokens (1.1 to 4.2x on an H100,
  /// bench/results/2026-12-07-h100-decode-mma.md).
  static constexpr int64_t kMaxDotProductTokens = 16;

  /// N_i: the output channels of each weight.
  std::vector<int64_t> outChannels;
  int64_t inChannels;
  int64_t actScaleGroup;
  int64_t weightScaleGroup;
  int64_t tokensPerBlock;
  /// Dot-product kernels: output channels of each warp; 0 for tensor-core
  /// kernels.
  int64_t columnsPerWarp;
  mlir::FloatType scaleType;
  mlir::FloatType resultType;
  /// Tensor-core kernels: warps that split each 16-channel tile along the
  /// input channels; 0 for dot-product kernels.
  int64_t mmaWarpsAlongK = 0;

  /// The kernel for `tokens` tokens per block: a tensor-core one from
  /// kMinMmaTokens tokens where the scale groups allow it, else a
  /// dot-product one. isWorthwhile() says whether to use it.
  static DecodeMatmulKernel get(std::vector<int64_t> outChannels,
                                int64_t inChannels, int64_t actScaleGroup,
                                int64_t weightScaleGroup, int64_t tokens,
                                mlir::FloatType scaleType,
                                mlir::FloatType resultType);
  /// A symbol name that spells out every parameter, e.g.
  /// `decode_matmul_w4_n4096_k4096_ga128_gw128_t1_c1_f16_f32`, or
  /// `..._n4096_1024_1024_k4096_...` for three weights; tensor-core kernels
  /// are `decode_matmul_mma_w4_..._t16_kw8_...`.
  std::string getName() const;
  /// Columns each warp computes for `tokens` tokens per block: more tokens
  /// reuse each loaded weight word more, more columns reuse each activation
  /// word; few tokens keep one column so that small layers fill the GPU.
  static int64_t getColumnsPerWarp(int64_t tokens) {
    return std::clamp<int64_t>(tokens / 2, 1, 4);
  }
  /// Warps along the input channels of a tensor-core kernel for `tokens`
  /// tokens per block: all of them up to 16 tokens, so that the grid has
  /// many blocks of 16 weight rows; fewer above, so that the activations,
  /// which every block reads again from L2, stay at most twice the bytes of
  /// the block's weights.
  static int64_t getMmaWarpsAlongK(int64_t tokens) {
    return std::clamp<int64_t>(8 * 16 / tokens, 1, kWarpsPerBlock);
  }
  /// Whether this kernel beats the tensor-core matmul kernel: dot-product
  /// kernels up to kMaxDotProductTokens tokens, tensor-core ones always.
  bool isWorthwhile() const {
    return mmaWarpsAlongK || tokensPerBlock <= kMaxDotProductTokens;
  }
  /// Output channels one thread block computes.
  int64_t getColumnsPerBlock() const {
    return mmaWarpsAlongK ? kMmaColumns * (kWarpsPerBlock / mmaWarpsAlongK)
                          : kWarpsPerBlock * columnsPerWarp;
  }
  /// Thread blocks along x: those of every weight.
  int64_t getBlocksX() const;
  /// Why the kernel cannot be generated for these parameters, or empty.
  std::string checkSupported() const;
};

/// Builds `kernel` as a `gpu.func` at `builder`'s insertion point, which must
/// be inside a `gpu.module`. checkSupported() must be empty.
mlir::gpu::GPUFuncOp buildDecodeMatmulKernel(mlir::OpBuilder &builder,
                                             mlir::Location loc,
                                             const DecodeMatmulKernel &kernel);

} // namespace lowbit

#endif // LOWBIT_CONVERSION_LOWBITTONVGPU_DECODEMATMULKERNEL_H
