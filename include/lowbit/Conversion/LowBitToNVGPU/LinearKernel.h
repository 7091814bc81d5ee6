//===- LinearKernel.h - f32 linear of many token rows on CUDA cores -*- C++ -*-===//
//
// The GPU kernel of an f32 linear (an unquantized LM head) over many token
// rows: a tiled matrix product on CUDA cores whose thread blocks share each
// input and weight tile through shared memory.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_CONVERSION_LOWBITTONVGPU_LINEARKERNEL_H
#define LOWBIT_CONVERSION_LOWBITTONVGPU_LINEARKERNEL_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

#include "llvm/Support/FormatVariadic.h"

#include <string>

namespace lowbit {

/// What one linear kernel computes: out[t, n] = sum over k of
/// input[t, k] * weightT[k, n], in f32, k in order.
///
/// Thread block (x, y) computes the tile of kBlockRows token rows
/// y * kBlockRows.. by kBlockColumns outputs x * kBlockColumns..; each of
/// its kThreads threads 4 rows by 8 outputs (two runs of 4, 64 apart). The
/// block walks k in steps of kStepChannels: each step's input tile
/// (transposed) and weight tile wait in one of two shared-memory buffers
/// while the next step's are read from global memory into registers, one
/// barrier a step. Rows past the last are read as the last row and not
/// written. The kernel takes getSharedMemoryBytes() of dynamic shared
/// memory.
///
/// Kernel arguments, in order (1-D memrefs passed as MLIR's memref
/// descriptor):
///   input    [rows, inChannels] f32
///   weightT  [inChannels, outChannels] f32
///   out      [rows, outChannels] f32
///   rows     i32, at least 1
struct LinearKernel {
  /// Threads of one thread block.
  static constexpr int64_t kThreads = 256;
  /// Token rows of one thread block's tile.
  static constexpr int64_t kBlockRows = 64;
  /// Output channels of one thread block's tile.
  static constexpr int64_t kBlockColumns = 128;
  /// Input channels of one step.
  static constexpr int64_t kStepChannels = 16;

  int64_t inChannels;
  int64_t outChannels;

  /// Bytes of dynamic shared memory the kernel needs: two buffers of the
  /// transposed input tile and of the weight tile.
  int64_t getSharedMemoryBytes() const;
  /// A symbol name that spells out every parameter, e.g.
  /// `simt_linear_n32000_k4096`.
  std::string getName() const;
  /// Why the kernel cannot be generated for these parameters, or empty.
  std::string checkSupported() const {
    if (outChannels <= 0 || outChannels % kBlockColumns != 0)
      return llvm::formatv("{0} output channels are not a positive multiple "
                           "of {1}",
                           outChannels, kBlockColumns)
          .str();
    if (inChannels <= 0 || inChannels % kStepChannels != 0)
      return llvm::formatv("{0} input channels are not a positive multiple "
                           "of {1}",
                           inChannels, kStepChannels)
          .str();
    return "";
  }
};

/// Builds `kernel` as a `gpu.func` at `builder`'s insertion point, which must
/// be inside a `gpu.module`. checkSupported() must be empty.
mlir::gpu::GPUFuncOp buildLinearKernel(mlir::OpBuilder &builder,
                                       mlir::Location loc,
                                       const LinearKernel &kernel);

} // namespace lowbit

#endif // LOWBIT_CONVERSION_LOWBITTONVGPU_LINEARKERNEL_H
