//===- GpuWeightLayout.h - weight layouts of the GPU kernels ----*- C++ -*-===//
//
// The GPU kernels read INT4 weights in layouts chosen for their inner loops,
// not in lowbit's canonical packed storage. The runtime (and the benchmarks)
// convert codes to those layouts here, without LLVM or MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_RUNTIME_GPUWEIGHTLAYOUT_H
#define LOWBIT_RUNTIME_GPUWEIGHTLAYOUT_H

#include <cstdint>
#include <vector>

namespace lowbit::runtime {

/// Packs `rows` x `channels` signed 4-bit codes (one per byte, in [-8, 7],
/// row-major) into the interleaved layout of the decode matmul kernels:
/// word q of a row holds channels 8q..8q+7, byte b of it channel 8q+b in the
/// low and channel 8q+4+b in the high nibble. `channels` must be a multiple
/// of 8.
std::vector<uint32_t> packInt4Interleaved(const int8_t *codes, int64_t rows,
                                          int64_t channels);

/// The codes packInt4Interleaved packed, sign-extended back to bytes.
std::vector<int8_t> unpackInt4Interleaved(const std::vector<uint32_t> &words,
                                          int64_t rows, int64_t channels);

} // namespace lowbit::runtime

#endif // LOWBIT_RUNTIME_GPUWEIGHTLAYOUT_H
