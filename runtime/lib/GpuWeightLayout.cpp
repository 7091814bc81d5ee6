//===- GpuWeightLayout.cpp - weight layouts of the GPU kernels --------------===//
//
// The interleaved INT4 layout lets a kernel turn one 32-bit word into two
// dp4a operands with a shift and two masks (see DecodeMatmulKernel.cpp).
//
//===----------------------------------------------------------------------===//

#include "lowbit/Runtime/GpuWeightLayout.h"

using namespace lowbit::runtime;

namespace {
constexpr int64_t kChannelsPerWord = 8;
} // namespace

std::vector<uint32_t> lowbit::runtime::packInt4Interleaved(const int8_t *codes,
                                                           int64_t rows,
                                                           int64_t channels) {
  int64_t wordsPerRow = channels / kChannelsPerWord;
  std::vector<uint32_t> words(rows * wordsPerRow);
  for (int64_t row = 0; row < rows; ++row) {
    for (int64_t q = 0; q < wordsPerRow; ++q) {
      const int8_t *group = codes + row * channels + q * kChannelsPerWord;
      uint32_t word = 0;
      for (int64_t byte = 0; byte < 4; ++byte) {
        uint32_t low = uint32_t(group[byte]) & 0xF;
        uint32_t high = uint32_t(group[byte + 4]) & 0xF;
        word |= (low | high << 4) << (8 * byte);
      }
      words[row * wordsPerRow + q] = word;
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
  int64_t wordsPerRow = channels / kChannelsPerWord;
  std::vector<int8_t> codes(rows * channels);
  for (int64_t row = 0; row < rows; ++row) {
    for (int64_t q = 0; q < wordsPerRow; ++q) {
      uint32_t word = words[row * wordsPerRow + q];
      int8_t *group = codes.data() + row * channels + q * kChannelsPerWord;
      for (int64_t byte = 0; byte < 4; ++byte) {
        uint32_t bits = word >> (8 * byte);
        group[byte] = signExtend(bits & 0xF);
        group[byte + 4] = signExtend(bits >> 4 & 0xF);
      }
    }
  }
  return codes;
}
