//===- QuantizedArithmeticTest.cpp - lowbit's quantization numerics ---------===//
//
// The numbers QuantizedArithmetic.h defines are what generated kernels are
// checked against, so they are checked here against first principles:
// rounding error bounds, exact matmul accumulation, the clip search never
// doing worse than absmax, bit-exact packing, and the value grids and
// rounding of the compressed-collective wire formats.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Reference/QuantizedArithmetic.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/MLIRContext.h"
#include "gtest/gtest.h"

#include <cmath>
#include <random>

using namespace lowbit;

namespace {

class QuantizedArithmeticTest : public ::testing::Test {
protected:
  QuantizedArithmeticTest() { context.loadDialect<LowBitDialect>(); }

  /// A [rows, channels] qtensor type with f16 scales (and zero points when
  /// `asymmetric`).
  QuantizedTensorType type(int64_t rows, int64_t blockSize,
                           llvm::ArrayRef<int64_t> blockBits,
                           ScaleGranularity granularity, int64_t groupSize = 0,
                           llvm::ArrayRef<int64_t> permutation = {},
                           bool asymmetric = false) {
    auto layout =
        BlockLayoutAttr::get(&context, blockSize, blockBits, granularity,
                             groupSize, permutation, asymmetric);
    int64_t channels = blockSize * static_cast<int64_t>(blockBits.size());
    return QuantizedTensorType::get(&context, {rows, channels},
                                    mlir::Float16Type::get(&context), layout);
  }

  /// Normal random data with a few channels scaled up, as activations have.
  static Tensor randomTensor(int64_t rows, int64_t channels, unsigned seed) {
    std::mt19937 generator(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    Tensor tensor{{rows, channels}, std::vector<float>(rows * channels)};
    for (int64_t i = 0; i < rows * channels; ++i)
      tensor.data[i] = normal(generator) * ((i % channels) % 7 == 3 ? 20.0f : 1.0f);
    return tensor;
  }

  mlir::MLIRContext context;
};

TEST_F(QuantizedArithmeticTest, RoundingErrorIsAtMostHalfAScale) {
  std::vector<int64_t> permutation = {5, 3, 1, 7, 0, 2, 4, 6};
  for (auto qtype :
       {type(6, 4, {8, 4}, ScaleGranularity::PerToken, 0, permutation),
        type(6, 8, {4}, ScaleGranularity::PerGroup, 2),
        type(6, 4, {4, 8}, ScaleGranularity::PerChannel)}) {
    Tensor input = randomTensor(6, 8, 1);
    QuantizedTensor quantized = quantize(input, qtype);
    Tensor restored = dequantize(quantized);
    int64_t group = qtype.getLayout().getScaleGroupChannels();
    int64_t groups = qtype.getLayout().getScalesPerRow();
    for (int64_t row = 0; row < 6; ++row)
      for (int64_t stored = 0; stored < 8; ++stored) {
        llvm::ArrayRef<int64_t> order = qtype.getLayout().getPermutation();
        int64_t channel = order.empty() ? stored : order[stored];
        float scale = quantized.scales[row * groups + stored / group];
        // f16 rounding of the scale may push the largest value one code
        // past its exact position, never further than half a scale plus
        // the scale's own rounding.
        EXPECT_LE(std::fabs(input.data[row * 8 + channel] -
                            restored.data[row * 8 + channel]),
                  0.5f * scale * (1.0f + 1e-2f))
            << "row " << row << " channel " << channel;
      }
  }
}

TEST_F(QuantizedArithmeticTest, CodesStayWithinTheirBlockWidth) {
  QuantizedTensor quantized =
      quantize(randomTensor(5, 16, 2), type(5, 8, {8, 4}, ScaleGranularity::PerToken));
  for (int64_t row = 0; row < 5; ++row) {
    int largest8 = 0, largest4 = 0;
    for (int64_t c = 0; c < 16; ++c) {
      int code = std::abs(quantized.codes[row * 16 + c]);
      (c < 8 ? largest8 : largest4) = std::max(c < 8 ? largest8 : largest4, code);
    }
    // The largest magnitude of a group maps to (about) the largest code.
    EXPECT_GE(largest8, 126);
    EXPECT_LE(largest8, 127);
    EXPECT_GE(largest4, 6);
    EXPECT_LE(largest4, 7);
  }
}

TEST_F(QuantizedArithmeticTest, MatmulAccumulatesExactlyInIntegers) {
  auto actType = type(3, 4, {8, 4}, ScaleGranularity::PerToken);
  auto weightType = type(5, 4, {4, 4}, ScaleGranularity::PerGroup, 2);
  QuantizedTensor act = quantize(randomTensor(3, 8, 3), actType);
  QuantizedTensor weight = quantize(randomTensor(5, 8, 4), weightType);
  Tensor product =
      quantizedMatmul(act, weight, mlir::Float32Type::get(&context));
  // Against double-precision sums of the dequantized operands: integer
  // accumulation inside each scale segment loses nothing.
  Tensor a = dequantize(act), w = dequantize(weight);
  for (int64_t m = 0; m < 3; ++m)
    for (int64_t n = 0; n < 5; ++n) {
      double expected = 0.0;
      for (int64_t k = 0; k < 8; ++k)
        expected += static_cast<double>(a.data[m * 8 + k]) * w.data[n * 8 + k];
      EXPECT_NEAR(product.data[m * 5 + n], expected,
                  1e-5 * (1.0 + std::fabs(expected)));
    }
}

TEST_F(QuantizedArithmeticTest, ClipSearchNeverLosesToAbsmax) {
  auto weightType = type(16, 32, {4}, ScaleGranularity::PerGroup, 32);
  Tensor weights = randomTensor(16, 32, 5);
  std::vector<float> importance(32);
  for (int64_t c = 0; c < 32; ++c)
    importance[c] = 0.1f + static_cast<float>(c % 5);
  auto weightedError = [&](const QuantizedTensor &quantized) {
    Tensor restored = dequantize(quantized);
    double error = 0.0;
    for (int64_t i = 0; i < 16 * 32; ++i) {
      double difference = weights.data[i] - restored.data[i];
      error += importance[i % 32] * difference * difference;
    }
    return error;
  };
  double absmaxError = weightedError(quantize(weights, weightType));
  double searchedError = weightedError(
      quantize(weights, weightType, ScaleChoice{true, importance}));
  EXPECT_LE(searchedError, absmaxError);
  // Gaussian weights with large tails: clipping clearly pays.
  EXPECT_LT(searchedError, 0.9 * absmaxError);
}

TEST_F(QuantizedArithmeticTest, PackingRoundTripsBitExactly) {
  auto qtype = type(3, 4, {4, 8, 4}, ScaleGranularity::PerToken);
  QuantizedTensor quantized = quantize(randomTensor(3, 12, 6), qtype);
  std::vector<uint8_t> packed = packCodes(quantized);
  // 4 + 8 + 4 bits per channel group of 4: 8 bytes a row.
  ASSERT_EQ(packed.size(), 3u * qtype.getLayout().getPackedRowBytes());
  EXPECT_EQ(qtype.getLayout().getPackedRowBytes(), 8);
  EXPECT_EQ(unpackCodes(packed, qtype.getLayout(), 3), quantized.codes);
  // Low nibble first: codes 0 and 1 of row 0 share byte 0.
  EXPECT_EQ(packed[0], static_cast<uint8_t>((quantized.codes[0] & 0xF) |
                                            ((quantized.codes[1] & 0xF) << 4)));
  // The 8-bit block starts at byte 2 and stores plain bytes.
  EXPECT_EQ(static_cast<int8_t>(packed[2]), quantized.codes[4]);
}

/// One-sided data (every value positive), where a zero point pays most.
static Tensor positiveTensor(int64_t rows, int64_t channels, unsigned seed) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> uniform(0.5f, 3.0f);
  Tensor tensor{{rows, channels}, std::vector<float>(rows * channels)};
  for (float &value : tensor.data)
    value = uniform(generator);
  return tensor;
}

/// Sum of squared differences between two tensors of one shape.
static double squaredError(const Tensor &a, const Tensor &b) {
  double sum = 0.0;
  for (size_t i = 0; i < a.data.size(); ++i)
    sum += (a.data[i] - b.data[i]) * (a.data[i] - b.data[i]);
  return sum;
}

TEST_F(QuantizedArithmeticTest, AsymmetricCodesUseAllSixteenLevels) {
  std::vector<int64_t> permutation = {5, 3, 1, 7, 0, 2, 4, 6};
  for (auto qtype : {type(4, 8, {4}, ScaleGranularity::PerGroup, 4, {}, true),
                     type(4, 4, {4, 4}, ScaleGranularity::PerChannel, 0,
                          permutation, true)}) {
    for (const Tensor &input :
         {randomTensor(4, 8, 11), positiveTensor(4, 8, 12)}) {
      QuantizedTensor quantized = quantize(input, qtype);
      Tensor restored = dequantize(quantized);
      int64_t group = qtype.getLayout().getScaleGroupChannels();
      int64_t groups = qtype.getLayout().getScalesPerRow();
      ASSERT_EQ(quantized.zeroPoints.size(), 4u * groups);
      for (int64_t row = 0; row < 4; ++row)
        for (int64_t stored = 0; stored < 8; ++stored) {
          int64_t index = row * groups + stored / group;
          int32_t code =
              quantized.codes[row * 8 + stored] + quantized.zeroPoints[index];
          EXPECT_GE(code, 0);
          EXPECT_LE(code, 15);
          EXPECT_LE(quantized.zeroPoints[index], 15);
          llvm::ArrayRef<int64_t> order = qtype.getLayout().getPermutation();
          int64_t channel = order.empty() ? stored : order[stored];
          EXPECT_LE(std::fabs(input.data[row * 8 + channel] -
                              restored.data[row * 8 + channel]),
                    0.5f * quantized.scales[index] * (1.0f + 2e-2f))
              << "row " << row << " channel " << channel;
        }
    }
  }
}

TEST_F(QuantizedArithmeticTest, AsymmetricBeatsSymmetricOnOneSidedGroups) {
  Tensor input = positiveTensor(8, 64, 13);
  double symmetric = squaredError(
      input, dequantize(quantize(
                 input, type(8, 64, {4}, ScaleGranularity::PerGroup, 32))));
  double asymmetric = squaredError(
      input,
      dequantize(quantize(
          input, type(8, 64, {4}, ScaleGranularity::PerGroup, 32, {}, true))));
  // Symmetric codes spend half their levels on negative values that never
  // occur: about 7 steps over [0, max] against 15 over [0, max].
  EXPECT_LT(asymmetric, symmetric / 3.0);
}

TEST_F(QuantizedArithmeticTest, AsymmetricPackingStoresUnsignedCodes) {
  auto qtype = type(3, 8, {4, 4}, ScaleGranularity::PerGroup, 4, {}, true);
  QuantizedTensor quantized = quantize(randomTensor(3, 16, 14), qtype);
  std::vector<uint8_t> packed = packCodes(quantized);
  ASSERT_EQ(packed.size(), 3u * qtype.getLayout().getPackedRowBytes());
  EXPECT_EQ(qtype.getLayout().getZeroPointRowBytes(), 2);
  EXPECT_EQ(unpackCodes(packed, qtype.getLayout(), 3, quantized.zeroPoints),
            quantized.codes);
  EXPECT_EQ(packed[0] & 0xF, quantized.codes[0] + quantized.zeroPoints[0]);
}

TEST_F(QuantizedArithmeticTest, AsymmetricKVCacheKeepsHalfAStep) {
  std::vector<float> values(64);
  std::mt19937 generator(15);
  std::uniform_real_distribution<float> uniform(-0.5f, 4.0f);
  for (float &value : values)
    value = uniform(generator);
  for (int64_t bits : {4, 8}) {
    std::vector<float> rounded = values;
    roundForKVCache(rounded.data(), 64, bits, 32, /*asymmetric=*/true);
    for (int64_t begin = 0; begin < 64; begin += 32) {
      float lowest = 0.0f, highest = 0.0f;
      for (int64_t i = begin; i < begin + 32; ++i) {
        lowest = std::min(lowest, values[i]);
        highest = std::max(highest, values[i]);
      }
      float step = (highest - lowest) / static_cast<float>((1 << bits) - 1);
      for (int64_t i = begin; i < begin + 32; ++i)
        EXPECT_LE(std::fabs(rounded[i] - values[i]), 0.5f * step * 1.02f)
            << bits << " bits, value " << i;
    }
  }
}

/// The wire format `element` with blocks of `blockSize` and `scaleType`.
WireFormatAttr wire(mlir::MLIRContext &context, WireElement element,
                    int64_t blockSize, mlir::Type scaleType) {
  return WireFormatAttr::get(&context, element, blockSize, scaleType);
}

TEST_F(QuantizedArithmeticTest, FP4RoundsToItsGridWithTiesToEven) {
  // absmax 6 gives scale 1: values land on 0, 0.5, 1, 1.5, 2, 3, 4, 6.
  // 1.25, 2.5, 5 and 0.75 are ties: each goes to the value with the even
  // code (1, 2, 4 and 1).
  std::vector<float> values = {6.0f,  1.25f, 2.5f, 5.0f,
                               -0.75f, 0.2f, -3.4f, 1.6f};
  roundThroughWire(values.data(), 8,
                   wire(context, WireElement::FP4E2M1, 8,
                        mlir::Float16Type::get(&context)));
  EXPECT_EQ(values, (std::vector<float>{6.0f, 1.0f, 2.0f, 4.0f, -1.0f, 0.0f,
                                        -3.0f, 1.5f}));
}

TEST_F(QuantizedArithmeticTest, FP5GridsHoldTheirSubnormals) {
  // e2m2: 0.25 steps below 1, 5 and 7 at the top; e3m1: 0.125 and 24.
  std::vector<float> e2m2 = {7.0f, 0.25f, 0.74f, 5.2f, 0, 0, 0, 0};
  roundThroughWire(e2m2.data(), 8,
                   wire(context, WireElement::FP5E2M2, 8,
                        mlir::Float32Type::get(&context)));
  EXPECT_EQ(e2m2, (std::vector<float>{7.0f, 0.25f, 0.75f, 5.0f, 0, 0, 0, 0}));
  std::vector<float> e3m1 = {24.0f, 0.125f, 13.0f, 0.3f, 0, 0, 0, 0};
  roundThroughWire(e3m1.data(), 8,
                   wire(context, WireElement::FP5E3M1, 8,
                        mlir::Float32Type::get(&context)));
  EXPECT_EQ(e3m1,
            (std::vector<float>{24.0f, 0.125f, 12.0f, 0.25f, 0, 0, 0, 0}));
}

TEST_F(QuantizedArithmeticTest, PowerOfTwoScalesRoundUp) {
  // absmax 5 in FP4 wants scale 5/6; e8m0 rounds it up to 1 so nothing
  // overflows, and 5 is then a tie between 4 and 6 (to 4).
  std::vector<float> values = {5.0f, -5.0f, 0.5f, 2.9f, 0, 0, 0, 0};
  roundThroughWire(values.data(), 8,
                   wire(context, WireElement::FP4E2M1, 8,
                        mlir::Float8E8M0FNUType::get(&context)));
  EXPECT_EQ(values,
            (std::vector<float>{4.0f, -4.0f, 0.5f, 3.0f, 0, 0, 0, 0}));
}

TEST_F(QuantizedArithmeticTest, WireBlocksScaleIndependently) {
  // INT4 blocks of 8, each scaled by its own absmax / 7: the first block
  // has scale 1 and rounds half to even; the second, 100 times smaller,
  // keeps its values; the third is all zeros and stays so.
  std::vector<float> values = {7.0f, -6.5f, 2.4f, -0.5f, 1.5f, 3.2f, -2.5f,
                               0.49f};
  for (int i = 0; i < 8; ++i)
    values.push_back(0.07f * (i % 2 ? 1 : -1));
  values.resize(24, 0.0f);
  std::vector<float> small(values.begin() + 8, values.begin() + 16);
  roundThroughWire(values.data(), 24,
                   wire(context, WireElement::INT4, 8,
                        mlir::Float32Type::get(&context)));
  EXPECT_EQ(std::vector<float>(values.begin(), values.begin() + 8),
            (std::vector<float>{7.0f, -6.0f, 2.0f, -0.0f, 2.0f, 3.0f, -2.0f,
                                0.0f}));
  for (int i = 0; i < 8; ++i)
    EXPECT_NEAR(values[8 + i], small[i], 1e-7f) << i;
  for (int i = 16; i < 24; ++i)
    EXPECT_EQ(values[i], 0.0f);
}

TEST_F(QuantizedArithmeticTest, WireErrorShrinksWithBitsAndBlockSize) {
  // Mean squared error over activations with outlier channels: more bits
  // and smaller blocks must both help, as the paper's table shows.
  Tensor input = randomTensor(64, 256, 3);
  auto meanSquaredError = [&](WireElement element, int64_t blockSize) {
    std::vector<float> sent = input.data;
    roundThroughWire(sent.data(), static_cast<int64_t>(sent.size()),
                     wire(context, element, blockSize,
                          mlir::Float16Type::get(&context)));
    double total = 0.0;
    for (size_t i = 0; i < sent.size(); ++i)
      total += std::pow(double(sent[i]) - input.data[i], 2.0);
    return total / static_cast<double>(sent.size());
  };
  EXPECT_LT(meanSquaredError(WireElement::INT8, 32),
            meanSquaredError(WireElement::FP5E2M2, 32));
  EXPECT_LT(meanSquaredError(WireElement::FP5E2M2, 32),
            meanSquaredError(WireElement::FP4E2M1, 32));
  EXPECT_LT(meanSquaredError(WireElement::FP4E2M1, 8),
            meanSquaredError(WireElement::FP4E2M1, 16));
  EXPECT_LT(meanSquaredError(WireElement::FP4E2M1, 16),
            meanSquaredError(WireElement::FP4E2M1, 32));
}

} // namespace
