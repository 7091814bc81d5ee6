//===- GpuWeightLayout.cpp - weight layouts of the GPU kernels --------------===//
//
// The interleaved INT4 layout lets a kernel turn one 32-bit word into two
// dp4a or mma.sync operands with a shift and two masks (see
// DecodeMatmulKernel.cpp and TensorCoreMatmulKernel.cpp).
//
//===----------------------------------------------------------------------===//

#include "lowbit/Runtime/GpuWeightLayout.h"

using namespace lowbit::runtime;

namespace {
/// Channels of one 16-byte step: byte b holds channels b and b + 16.
constexpr int64_t kChannelsPerStep = 32;
constexpr int64_t kBytesPerStep = kChannelsPerStep / 2;
} // namespace

std::vector<uint32_t> lowbit::runtime::packInt4Interleaved(const int8_t *codes,
                                                           int64_t rows,
                                                           int64_t channels) {
  std::vector<uint32_t> words(rows * channels / 8);
  auto *bytes = reinterpret_cast<uint8_t *>(words.data());
  for (int64_t row = 0; row < rows; ++row) {
    for (int64_t step = 0; step < channels / kChannelsPerStep; ++step) {
      const int8_t *group = codes + row * channels + step * kChannelsPerStep;
      uint8_t *out = bytes + (row * channels + step * kChannelsPerStep) / 2;
      for (int64_t b = 0; b < kBytesPerStep; ++b)
        out[b] = uint8_t((group[b] & 0xF) | (group[b + kBytesPerStep] & 0xF) << 4);
    }
  }
  return words;
}

std::vector<int8_t>
lowbit::runtime::unpackInt4Interleaved(const std::vector<uint32_t> &words,
                                       int64_t rows, int64_t channels) {
  auto signExtend = [](uint32_t nibble) {
    return int8_t(int32_t(nibble << 28) >> 28);
  };
  const auto *bytes = reinterpret_cast<const uint8_t *>(words.data());
  std::vector<int8_t> codes(rows * channels);
  for (int64_t row = 0; row < rows; ++row) {
    for (int64_t step = 0; step < channels / kChannelsPerStep; ++step) {
      int8_t *group =
          codes.data() + row * channels + step * kChannelsPerStep;
      const uint8_t *in =
          bytes + (row * channels + step * kChannelsPerStep) / 2;
      for (int64_t b = 0; b < kBytesPerStep; ++b) {
        group[b] = signExtend(in[b] & 0xF);
        group[b + kBytesPerStep] = signExtend(in[b] >> 4);
      }
    }
  }
  return codes;
}
