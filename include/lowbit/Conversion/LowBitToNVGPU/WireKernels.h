//===- WireKernels.h - kernels of compressed collectives --------*- C++ -*-===//
//
// A compressed all-reduce is a quantized all-gather and a local sum: each
// rank packs its partial result into a wire message, the messages of all
// ranks are gathered, and each rank decodes and sums them. The pack and the
// decode-and-sum are GPU kernels generated for the wire format, the data
// type and the number of ranks; the gather between them is NCCL's.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_CONVERSION_LOWBITTONVGPU_WIREKERNELS_H
#define LOWBIT_CONVERSION_LOWBITTONVGPU_WIREKERNELS_H

#include "lowbit/Dialect/LowBit/IR/LowBitDialect.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

#include <string>
#include <utility>

namespace lowbit {

/// Threads in one thread block of both kernels; each thread handles one
/// wire block.
inline constexpr int64_t kWireThreadsPerBlock = 256;

/// Packs `blocks` wire blocks of partial results into one message
/// (runtime::packWireMessage's bytes, bit for bit).
///
/// Kernel arguments, in order (1-D memrefs):
///   data     [blocks * blockSize / 8] vector<8xf16> (f16 data) or
///            [blocks * blockSize / 4] vector<4xf32> (f32 data): 16-byte
///            aligned
///   message  [getMessageBytes(blocks)] i8
///   blocks   i32
struct WirePackKernel {
  WireFormatAttr wire;
  mlir::FloatType dataType;

  /// E.g. `wire_pack_fp4_e2m1_b16_f16_f16` (format, block, scale, data).
  std::string getName() const;
  /// Why the kernel cannot be generated, or empty.
  std::string checkSupported() const;
};

/// Decodes the messages of `numRanks` ranks, laid one after another each
/// getMessageBytes(blocks) bytes apart, and writes their sum, taken in f32
/// in rank order (runtime::addWireMessage), rounded to the data type.
///
/// Kernel arguments, in order (1-D memrefs):
///   messages  [numRanks * getMessageBytes(blocks)] i8
///   result    [blocks * blockSize / 8] vector<8xf16> or
///             [blocks * blockSize / 4] vector<4xf32>: 16-byte aligned
///   blocks    i32
struct WireSumKernel {
  WireFormatAttr wire;
  mlir::FloatType dataType;
  int64_t numRanks;

  /// E.g. `wire_sum_fp4_e2m1_b16_f16_n2_f16`.
  std::string getName() const;
  /// Why the kernel cannot be generated, or empty.
  std::string checkSupported() const;
};

/// Emits, at `builder`'s insertion point, the byte offset of the first
/// scale and the bytes of a message of `blocks` (an index) blocks in
/// `format`: runtime::WireFormat::getScaleOffset and getMessageBytes.
std::pair<mlir::Value, mlir::Value>
emitWireMessageLayout(mlir::OpBuilder &builder, mlir::Location loc,
                      const runtime::WireFormat &format, mlir::Value blocks);

/// Builds `kernel` as a `gpu.func` at `builder`'s insertion point, inside a
/// `gpu.module`. checkSupported() must be empty.
mlir::gpu::GPUFuncOp buildWirePackKernel(mlir::OpBuilder &builder,
                                         mlir::Location loc,
                                         const WirePackKernel &kernel);

/// Builds `kernel` as a `gpu.func` at `builder`'s insertion point, inside a
/// `gpu.module`. checkSupported() must be empty.
mlir::gpu::GPUFuncOp buildWireSumKernel(mlir::OpBuilder &builder,
                                        mlir::Location loc,
                                        const WireSumKernel &kernel);

} // namespace lowbit

#endif // LOWBIT_CONVERSION_LOWBITTONVGPU_WIREKERNELS_H
