//===- GpuWeightLayoutTest.cpp - interleaved INT4 layout --------------------===//
//
// The matmul kernels turn each weight word into two dp4a or mma.sync
// operands with a shift and a mask; these tests check, bit for bit on the
// CPU, that the layout the runtime writes makes those operands sixteen times
// the right codes in the channel order of an m16n8k32 B fragment.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Runtime/GpuWeightLayout.h"

#include "gtest/gtest.h"

#include <random>

using namespace lowbit::runtime;

namespace {

TEST(GpuWeightLayout, OneStepBitExact) {
  int8_t codes[32] = {};
  const int8_t low[4] = {1, -1, 7, -8}, high[4] = {2, -2, 0, 3};
  for (int j = 0; j < 4; ++j) {
    codes[4 + j] = low[j];
    codes[20 + j] = high[j];
  }
  std::vector<uint32_t> words = packInt4Interleaved(codes, 1, 32);
  ASSERT_EQ(words.size(), 4u);
  // Word 1, byte j: low nibble channel 4 + j, high nibble channel 20 + j.
  EXPECT_EQ(words[0], 0u);
  EXPECT_EQ(words[1], 0x3'8'0'7'E'F'2'1u);
  EXPECT_EQ(words[2], 0u);
  EXPECT_EQ(words[3], 0u);
}

TEST(GpuWeightLayout, RoundTripsEveryCode) {
  std::mt19937 generator(7);
  std::uniform_int_distribution<int> code(-8, 7);
  const int64_t rows = 3, channels = 64;
  std::vector<int8_t> codes(rows * channels);
  for (int8_t &c : codes)
    c = int8_t(code(generator));
  std::vector<uint32_t> words = packInt4Interleaved(codes.data(), rows,
                                                    channels);
  EXPECT_EQ(words.size(), size_t(rows * channels / 8));
  EXPECT_EQ(unpackInt4Interleaved(words, rows, channels), codes);
}

TEST(GpuWeightLayout, ShiftAndMaskGiveSixteenTimesTheCodes) {
  std::mt19937 generator(11);
  std::uniform_int_distribution<int> code(-8, 7);
  int8_t codes[32];
  for (int trial = 0; trial < 1000; ++trial) {
    for (int8_t &c : codes)
      c = int8_t(code(generator));
    std::vector<uint32_t> words = packInt4Interleaved(codes, 1, 32);
    // Word c feeds thread c of an mma quad: channels 4c..4c+3 (operand b0)
    // and 16+4c..16+4c+3 (operand b1).
    for (int c = 0; c < 4; ++c) {
      uint32_t low = (words[c] << 4) & 0xF0F0F0F0u;
      uint32_t high = words[c] & 0xF0F0F0F0u;
      for (int byte = 0; byte < 4; ++byte) {
        EXPECT_EQ(int8_t(low >> (8 * byte)), 16 * codes[4 * c + byte]);
        EXPECT_EQ(int8_t(high >> (8 * byte)), 16 * codes[16 + 4 * c + byte]);
      }
    }
  }
}

} // namespace
