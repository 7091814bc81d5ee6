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
/// output channels, then weight 1's, and so on. Warp w of the b-th block of
/// a weight (block (x, y)) computes its output channels
/// `(b * kWarpsPerBlock + w) * columnsPerWarp + c` for `c < columnsPerWarp`
/// and tokens `y * tokensPerBlock + r` for `r < tokensPerBlock`; its lanes
/// split the input channels in chunks of 32.
///
/// Kernel arguments, in order (all row-major), for G weights:
///   weights_i, weightScales_i for each i < G:
///                 [N_i, K/8] i32: the interleaved INT4 layout, 16-byte steps
///                 of 32 channels whose byte b holds channel b in its low and
///                 channel 16+b in its high nibble;
///                 [N_i, K/weightScaleGroup] of the scale type
///   act           [tokens, K] i8 codes
///   actScales     [tokens, K/actScaleGroup] of the scale type
///   result_i      [tokens, N_i] of the result type, for each i < G
///   tokens        i32
struct DecodeMatmulKernel {
  /// Warps in one thread block.
  static constexpr int64_t kWarpsPerBlock = 8;
  /// Input channels one lane handles per step (16 bytes of INT4 weights).
  static constexpr int64_t kChannelsPerLaneStep = 32;

  /// N_i: the output channels of each weight.
  std::vector<int64_t> outChannels;
  int64_t inChannels;
  int64_t actScaleGroup;
  int64_t weightScaleGroup;
  int64_t tokensPerBlock;
  int64_t columnsPerWarp;
  mlir::FloatType scaleType;
  mlir::FloatType resultType;

  /// A symbol name that spells out every parameter, e.g.
  /// `decode_matmul_w4_n4096_k4096_ga128_gw128_t1_c1_f16_f32`, or
  /// `..._n4096_1024_1024_k4096_...` for three weights.
  std::string getName() const;
  /// Columns each warp computes for `tokens` tokens per block: more tokens
  /// reuse each loaded weight word more, more columns reuse each activation
  /// word; few tokens keep one column so that small layers fill the GPU.
  static int64_t getColumnsPerWarp(int64_t tokens) {
    return std::clamp<int64_t>(tokens / 2, 1, 4);
  }
  /// Output channels one thread block computes.
  int64_t getColumnsPerBlock() const { return kWarpsPerBlock * columnsPerWarp; }
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
