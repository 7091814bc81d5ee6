//===- WireFormatTest.cpp - numbers and bytes of compressed collectives ----===//
//
// The runtime's wire formats are what the generated GPU kernels are checked
// against, so they are checked here: the half and bfloat16 conversions over
// every value and every tie, the byte layout of a message on known blocks,
// and packing then decoding giving exactly what roundThroughWire defines.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Runtime/WireFormat.h"

#include "gtest/gtest.h"

#include <cmath>
#include <random>
#include <vector>

using namespace lowbit::runtime;

namespace {

TEST(WireFormatTest, ElementsHaveTheirLargestValues) {
  auto largest = [](WireElement element) {
    return WireFormat{element, 16, WireScale::F16}.getLargestValue();
  };
  EXPECT_EQ(largest(WireElement::FP4E2M1), 6.0f);
  EXPECT_EQ(largest(WireElement::FP5E2M2), 7.0f);
  EXPECT_EQ(largest(WireElement::FP5E3M1), 24.0f);
  EXPECT_EQ(largest(WireElement::INT4), 7.0f);
  EXPECT_EQ(largest(WireElement::INT8), 127.0f);
}

TEST(WireFormatTest, HalfConversionRoundsEveryTieToEven) {
  for (uint32_t bits = 0; bits < 0x7c00; ++bits) {
    uint16_t half = static_cast<uint16_t>(bits);
    float value = halfToFloat(half);
    ASSERT_EQ(floatToHalf(value), half) << bits;
    ASSERT_EQ(floatToHalf(-value), half | 0x8000) << bits;
    // The midpoint to the next half goes to the even one of the two; a
    // hair either side goes to the nearer.
    float next = bits + 1 == 0x7c00 ? 65536.0f : halfToFloat(half + 1);
    float midpoint = (value + next) / 2;
    uint16_t even = (bits % 2 == 0) ? half : static_cast<uint16_t>(half + 1);
    ASSERT_EQ(floatToHalf(midpoint), even) << bits;
    ASSERT_EQ(floatToHalf(std::nextafter(midpoint, 0.0f)), half) << bits;
    ASSERT_EQ(floatToHalf(std::nextafter(midpoint, 1e9f)), half + 1) << bits;
  }
  EXPECT_EQ(floatToHalf(65519.0f), 0x7bff);
  EXPECT_EQ(floatToHalf(65520.0f), 0x7c00);
  EXPECT_EQ(floatToHalf(INFINITY), 0x7c00);
  EXPECT_TRUE(std::isnan(halfToFloat(floatToHalf(NAN))));
}

TEST(WireFormatTest, BFloat16ConversionRoundsEveryTieToEven) {
  for (uint32_t bits = 0; bits < 0x7f80; ++bits) {
    uint16_t brain = static_cast<uint16_t>(bits);
    float value = bfloat16ToFloat(brain);
    ASSERT_EQ(floatToBFloat16(value), brain) << bits;
    float next = bfloat16ToFloat(brain + 1);
    float midpoint = value + (next - value) / 2;
    uint16_t even = (bits % 2 == 0) ? brain : static_cast<uint16_t>(brain + 1);
    ASSERT_EQ(floatToBFloat16(midpoint), even) << bits;
  }
}

TEST(WireFormatTest, MessagesHaveTheDocumentedBytes) {
  WireFormat fp4{WireElement::FP4E2M1, 8, WireScale::F16};
  // 8 codes of 4 bits, then at offset 4 one f16 scale, padded to 16.
  EXPECT_EQ(fp4.getScaleOffset(1), 4);
  EXPECT_EQ(fp4.getMessageBytes(1), 16);
  // The Llama-2-7B partial result of one token: 4096 channels in blocks of
  // 16 is 256 blocks of 8 code bytes and a 2-byte scale.
  EXPECT_EQ((WireFormat{WireElement::FP4E2M1, 16, WireScale::F16})
                .getMessageBytes(256),
            2560);
  // absmax 6: scale 1.0 (f16 0x3c00). Codes: 6 -> 7, -6 -> 8 | 7, 0.5 -> 1,
  // 1.25 -> 2 (tie to even), 3 -> 5, -0.25 -> sign with 0 (tie to even).
  std::vector<float> values = {6.0f, -6.0f, 0.5f, 1.25f, 3.0f, -0.25f, 0.0f,
                               4.0f};
  std::vector<uint8_t> message(16);
  packWireMessage(values.data(), 1, fp4, message.data());
  EXPECT_EQ(message[0], 0xF7);
  EXPECT_EQ(message[1], 0x21);
  EXPECT_EQ(message[2], 0x85);
  EXPECT_EQ(message[3], 0x60);
  EXPECT_EQ(message[4] | message[5] << 8, 0x3c00);

  // INT8 with a power-of-two scale: absmax 254 wants 2.0, code 128.
  WireFormat int8{WireElement::INT8, 8, WireScale::E8M0};
  std::vector<float> wide = {254.0f, -3.0f, 0, 0, 0, 0, 0, 0};
  std::vector<uint8_t> wideMessage(int8.getMessageBytes(1));
  packWireMessage(wide.data(), 1, int8, wideMessage.data());
  EXPECT_EQ(wideMessage[0], 127);
  EXPECT_EQ(wideMessage[1], 0xFE); // -3 / 2 = -1.5 -> -2
  EXPECT_EQ(wideMessage[int8.getScaleOffset(1)], 128);
}

TEST(WireFormatTest, DecodedMessagesAreExactlyTheRoundedValues) {
  std::mt19937 generator(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (WireElement element :
       {WireElement::FP4E2M1, WireElement::FP5E2M2, WireElement::FP5E3M1,
        WireElement::INT4, WireElement::INT8})
    for (int64_t blockSize : {8, 16, 32})
      for (WireScale scale :
           {WireScale::F16, WireScale::BF16, WireScale::F32, WireScale::E8M0}) {
        WireFormat format{element, blockSize, scale};
        int64_t blocks = 24;
        std::vector<float> values(blocks * blockSize);
        for (size_t i = 0; i < values.size(); ++i)
          values[i] = normal(generator) * (i % 37 == 5 ? 40.0f : 1.0f);
        std::fill(values.begin(), values.begin() + blockSize, 0.0f);
        std::vector<uint8_t> message(format.getMessageBytes(blocks));
        packWireMessage(values.data(), blocks, format, message.data());
        std::vector<float> decoded(values.size(), 0.0f);
        addWireMessage(message.data(), blocks, format, decoded.data());
        roundThroughWire(values.data(), static_cast<int64_t>(values.size()),
                         format);
        for (size_t i = 0; i < values.size(); ++i)
          ASSERT_EQ(decoded[i], values[i])
              << "element " << static_cast<int>(element) << " block "
              << blockSize << " scale " << static_cast<int>(scale) << " at "
              << i;
      }
}

} // namespace
