//===- GpuWeightLayoutTest.cpp - interleaved INT4 layout --------------------===//
//
// The decode kernels turn each weight word into two dp4a operands with a
// shift and a mask; these tests check, bit for bit on the CPU, that the
// layout the runtime writes makes those operands sixteen times the right
// codes in the right channel order.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Runtime/GpuWeightLayout.h"

#include "gtest/gtest.h"

#include <random>

using namespace lowbit::runtime;

namespace {

TEST(GpuWeightLayout, OneWordBitExact) {
  const int8_t codes[8] = {1, -1, 7, -8, 2, -2, 0, 3};
  std::vector<uint32_t> words = packInt4Interleaved(codes, 1, 8);
  ASSERT_EQ(words.size(), 1u);
  // Byte b: low nibble channel b, high nibble channel 4 + b.
  EXPECT_EQ(words[0], 0x3'8'0'7'E'F'2'1u);
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
  int8_t codes[8];
  for (int trial = 0; trial < 1000; ++trial) {
    for (int8_t &c : codes)
      c = int8_t(code(generator));
    uint32_t word = packInt4Interleaved(codes, 1, 8)[0];
    uint32_t low = (word << 4) & 0xF0F0F0F0u;
    uint32_t high = word & 0xF0F0F0F0u;
    for (int byte = 0; byte < 4; ++byte) {
      EXPECT_EQ(int8_t(low >> (8 * byte)), 16 * codes[byte]);
      EXPECT_EQ(int8_t(high >> (8 * byte)), 16 * codes[4 + byte]);
    }
  }
}

} // namespace
