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
/// row-major) into the interleaved layout that the decode and the
/// tensor-core matmul kernels share: each row is a run of 16-byte steps of
/// 32 channels, and byte b of step s holds channel 32s+b in its low and
/// channel 32s+16+b in its high nibble. Word c of a step thus holds the
/// channels 4c..4c+3 and 16+4c..16+4c+3 that thread c of an mma.sync
/// m16n8k32 quad multiplies. `channels` must be a multiple of 32.
std::vector<uint32_t> packInt4Interleaved(const int8_t *codes, int64_t rows,
                                          int64_t channels);

/// The codes packInt4Interleaved packed, sign-extended back to bytes.
std::vector<int8_t> unpackInt4Interleaved(const std::vector<uint32_t> &words,
                                          int64_t rows, int64_t channels);

} // namespace lowbit::runtime

#endif // LOWBIT_RUNTIME_GPUWEIGHTLAYOUT_H
