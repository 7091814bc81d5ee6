//===- QuantizedArithmetic.cpp - lowbit's quantization numerics -------------===//
//
// Straightforward loops for quantize, dequantize, the mixed-precision matmul
// and KV cache rounding, written to define the numbers rather than to be
// fast.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Reference/QuantizedArithmetic.h"

#include "llvm/ADT/APFloat.h"

#include <cmath>
#include <numeric>

using namespace lowbit;

/// result[..., i, ...] = input[..., permutation[i], ...] along `axis` of a
/// rank-1 or rank-2 tensor.
Tensor lowbit::permuteAlong(const Tensor &input,
                           llvm::ArrayRef<int64_t> permutation, int64_t axis) {
  Tensor result = input;
  int64_t rows = input.shape.size() == 1 ? 1 : input.dim(0);
  int64_t columns = input.shape.back();
  for (int64_t row = 0; row < rows; ++row)
    for (int64_t column = 0; column < columns; ++column) {
      int64_t sourceRow = row, sourceColumn = column;
      if (axis == static_cast<int64_t>(input.shape.size()) - 1)
        sourceColumn = permutation[column];
      else
        sourceRow = permutation[row];
      result.data[row * columns + column] =
          input.data[sourceRow * columns + sourceColumn];
    }
  return result;
}

/// `value` rounded to the nearest value of `semantics`, ties to even.
static float roundTo(float value, const llvm::fltSemantics &semantics) {
  llvm::APFloat rounded(value);
  bool losesInfo;
  rounded.convert(semantics, llvm::APFloat::rmNearestTiesToEven, &losesInfo);
  rounded.convert(llvm::APFloat::IEEEsingle(),
                  llvm::APFloat::rmNearestTiesToEven, &losesInfo);
  return rounded.convertToFloat();
}

float lowbit::roundToFloatType(float value, mlir::FloatType type) {
  return type.isF32() ? value : roundTo(value, type.getFloatSemantics());
}

/// The code of `value` at `scale`: round-to-even(value / scale) clamped to
/// [-limit, limit]; 0 for a zero scale.
static int8_t codeOf(float value, float scale, int32_t limit) {
  float code = scale > 0.0f ? std::nearbyint(value / scale) : 0.0f;
  return static_cast<int8_t>(
      std::clamp(code, -static_cast<float>(limit), static_cast<float>(limit)));
}

/// Quantizes one scale group of `count` values to codes in [-limit, limit]
/// with an absmax scale rounded to `scaleSemantics`; returns the scale.
static float quantizeGroup(const float *values, int64_t count, int32_t limit,
                           const llvm::fltSemantics &scaleSemantics,
                           int8_t *codes) {
  float absmax = 0.0f;
  for (int64_t i = 0; i < count; ++i)
    absmax = std::max(absmax, std::fabs(values[i]));
  float scale = roundTo(absmax / static_cast<float>(limit), scaleSemantics);
  for (int64_t i = 0; i < count; ++i)
    codes[i] = codeOf(values[i], scale, limit);
  return scale;
}

llvm::ArrayRef<float> lowbit::clipRatios() {
  static const std::vector<float> ratios = [] {
    std::vector<float> result;
    for (int step = 0; step <= 20; ++step)
      result.push_back(1.0f - 0.025f * static_cast<float>(step));
    return result;
  }();
  return ratios;
}

/// quantizeGroup with the clipped scale of smallest weighted squared error;
/// `weights` holds one error weight per value, or is null for all ones.
static float quantizeGroupWithClipSearch(
    const float *values, const float *weights, int64_t count, int32_t limit,
    const llvm::fltSemantics &scaleSemantics, int8_t *codes) {
  float absmax = 0.0f;
  for (int64_t i = 0; i < count; ++i)
    absmax = std::max(absmax, std::fabs(values[i]));
  float bestScale = 0.0f;
  double bestError = INFINITY;
  for (float ratio : clipRatios()) {
    float scale =
        roundTo(ratio * absmax / static_cast<float>(limit), scaleSemantics);
    double error = 0.0;
    for (int64_t i = 0; i < count; ++i) {
      double difference =
          values[i] - static_cast<float>(codeOf(values[i], scale, limit)) * scale;
      error += (weights ? weights[i] : 1.0) * difference * difference;
    }
    if (error < bestError) {
      bestError = error;
      bestScale = scale;
    }
  }
  for (int64_t i = 0; i < count; ++i)
    codes[i] = codeOf(values[i], bestScale, limit);
  return bestScale;
}

/// Largest unsigned code of an asymmetric `bits`-bit integer: 15 for 4 bits.
static int32_t largestUnsignedCode(int64_t bits) { return (1 << bits) - 1; }

/// Quantizes one group of `count` values asymmetrically to stored codes in
/// [0, levels] over the range [min(x, 0), max(x, 0)] times the clipRatios()
/// entry of smallest weighted squared error (only the first, 1, without
/// `clipSearch`); writes code minus zero point to `codes` and the zero
/// point to `zero`, and returns the scale, rounded to `scaleSemantics`.
static float quantizeGroupAsymmetric(const float *values, const float *weights,
                                     int64_t count, int32_t levels,
                                     bool clipSearch,
                                     const llvm::fltSemantics &scaleSemantics,
                                     int32_t *codes, int32_t &zero) {
  float lowest = 0.0f, highest = 0.0f;
  for (int64_t i = 0; i < count; ++i) {
    lowest = std::min(lowest, values[i]);
    highest = std::max(highest, values[i]);
  }
  auto codesAt = [&](float ratio, float &scale, int32_t &zeroPoint,
                     int32_t *out) {
    scale = roundTo(ratio * (highest - lowest) / static_cast<float>(levels),
                    scaleSemantics);
    zeroPoint = scale > 0.0f ? static_cast<int32_t>(std::clamp(
                                   std::nearbyint(-ratio * lowest / scale),
                                   0.0f, static_cast<float>(levels)))
                             : 0;
    double error = 0.0;
    for (int64_t i = 0; i < count; ++i) {
      float stored = scale > 0.0f ? std::nearbyint(values[i] / scale) : 0.0f;
      stored = std::clamp(stored + static_cast<float>(zeroPoint), 0.0f,
                          static_cast<float>(levels));
      out[i] = static_cast<int32_t>(stored) - zeroPoint;
      double difference = values[i] - static_cast<float>(out[i]) * scale;
      error += (weights ? weights[i] : 1.0) * difference * difference;
    }
    return error;
  };
  std::vector<int32_t> candidate(count);
  float bestScale = 0.0f;
  int32_t bestZero = 0;
  double bestError = INFINITY;
  for (float ratio : clipSearch ? clipRatios() : clipRatios().take_front()) {
    float scale;
    int32_t zeroPoint;
    double error = codesAt(ratio, scale, zeroPoint, candidate.data());
    if (error < bestError) {
      bestError = error;
      bestScale = scale;
      bestZero = zeroPoint;
      std::copy(candidate.begin(), candidate.end(), codes);
    }
  }
  zero = bestZero;
  return bestScale;
}

QuantizedTensor lowbit::quantize(const Tensor &input,
                                 QuantizedTensorType type,
                                 const ScaleChoice &choice) {
  BlockLayoutAttr layout = type.getLayout();
  QuantizedTensor result;
  result.rows = input.dim(0);
  result.channels = input.dim(1);
  result.layout = layout;
  result.codes.resize(result.rows * result.channels);
  int64_t group = layout.getScaleGroupChannels();
  int64_t groups = layout.getScalesPerRow();
  result.scales.resize(result.rows * groups);
  if (layout.getAsymmetric())
    result.zeroPoints.resize(result.rows * groups);
  llvm::ArrayRef<int64_t> permutation = layout.getPermutation();
  auto sourceChannel = [&](int64_t c) {
    return permutation.empty() ? c : permutation[c];
  };
  std::vector<float> storedImportance;
  for (int64_t c = 0; c < static_cast<int64_t>(choice.channelImportance.size());
       ++c)
    storedImportance.push_back(choice.channelImportance[sourceChannel(c)]);
  const llvm::fltSemantics &scaleSemantics =
      type.getScaleType().getFloatSemantics();
  std::vector<float> stored(result.channels);
  std::vector<int32_t> wideCodes(group);
  for (int64_t row = 0; row < result.rows; ++row) {
    const float *source = &input.data[row * result.channels];
    for (int64_t c = 0; c < result.channels; ++c)
      stored[c] = source[sourceChannel(c)];
    for (int64_t g = 0; g < groups; ++g) {
      int64_t bits = layout.getBlockBits()[g * group / layout.getBlockSize()];
      int32_t limit = largestCode(bits);
      int8_t *codes = &result.codes[row * result.channels + g * group];
      const float *importance =
          storedImportance.empty() ? nullptr : &storedImportance[g * group];
      if (layout.getAsymmetric()) {
        // 4-bit only (the layout verifier): codes - zero fit in [-15, 15].
        int32_t zero;
        result.scales[row * groups + g] = quantizeGroupAsymmetric(
            &stored[g * group], importance, group, largestUnsignedCode(bits),
            choice.clipSearch, scaleSemantics, wideCodes.data(), zero);
        std::copy(wideCodes.begin(), wideCodes.end(), codes);
        result.zeroPoints[row * groups + g] = static_cast<uint8_t>(zero);
        continue;
      }
      result.scales[row * groups + g] =
          choice.clipSearch
              ? quantizeGroupWithClipSearch(&stored[g * group], importance,
                                            group, limit, scaleSemantics, codes)
              : quantizeGroup(&stored[g * group], group, limit, scaleSemantics,
                              codes);
    }
  }
  return result;
}

std::vector<uint8_t> lowbit::packCodes(const QuantizedTensor &input) {
  BlockLayoutAttr layout = input.layout;
  int64_t rowBytes = layout.getPackedRowBytes();
  int64_t group = layout.getScaleGroupChannels();
  int64_t groups = layout.getScalesPerRow();
  std::vector<uint8_t> packed(input.rows * rowBytes, 0);
  for (int64_t row = 0; row < input.rows; ++row) {
    int64_t bitOffset = row * rowBytes * 8;
    for (int64_t c = 0; c < input.channels; ++c) {
      int64_t bits = layout.getBlockBits()[c / layout.getBlockSize()];
      int32_t code = input.codes[row * input.channels + c];
      if (layout.getAsymmetric())
        code += input.zeroPoints[row * groups + c / group];
      uint32_t field = static_cast<uint32_t>(code) & ((1u << bits) - 1);
      for (int64_t bit = 0; bit < bits; ++bit, ++bitOffset)
        packed[bitOffset / 8] |= ((field >> bit) & 1u) << (bitOffset % 8);
    }
  }
  return packed;
}

std::vector<int8_t> lowbit::unpackCodes(llvm::ArrayRef<uint8_t> packed,
                                        BlockLayoutAttr layout, int64_t rows,
                                        llvm::ArrayRef<uint8_t> zeroPoints) {
  int64_t channels = layout.getNumChannels();
  int64_t rowBytes = layout.getPackedRowBytes();
  int64_t group = layout.getScaleGroupChannels();
  int64_t groups = layout.getScalesPerRow();
  std::vector<int8_t> codes(rows * channels);
  for (int64_t row = 0; row < rows; ++row) {
    int64_t bitOffset = row * rowBytes * 8;
    for (int64_t c = 0; c < channels; ++c) {
      int64_t bits = layout.getBlockBits()[c / layout.getBlockSize()];
      int32_t field = 0;
      for (int64_t bit = 0; bit < bits; ++bit, ++bitOffset)
        field |= ((packed[bitOffset / 8] >> (bitOffset % 8)) & 1) << bit;
      if (layout.getAsymmetric())
        field -= zeroPoints[row * groups + c / group];
      else if (field & (1 << (bits - 1)))
        field -= 1 << bits; // Sign-extend the two's-complement field.
      codes[row * channels + c] = static_cast<int8_t>(field);
    }
  }
  return codes;
}

Tensor lowbit::dequantize(const QuantizedTensor &input) {
  Tensor result{{input.rows, input.channels},
                std::vector<float>(input.rows * input.channels)};
  int64_t group = input.layout.getScaleGroupChannels();
  int64_t groups = input.layout.getScalesPerRow();
  llvm::ArrayRef<int64_t> permutation = input.layout.getPermutation();
  for (int64_t row = 0; row < input.rows; ++row)
    for (int64_t c = 0; c < input.channels; ++c) {
      float value = static_cast<float>(input.codes[row * input.channels + c]) *
                    input.scales[row * groups + c / group];
      result.data[row * input.channels +
                  (permutation.empty() ? c : permutation[c])] = value;
    }
  return result;
}

Tensor lowbit::quantizedMatmul(const QuantizedTensor &act,
                               const QuantizedTensor &weight,
                               mlir::FloatType resultType) {
  int64_t rows = act.rows, outputs = weight.rows, channels = act.channels;
  int64_t actGroup = act.layout.getScaleGroupChannels();
  int64_t weightGroup = weight.layout.getScaleGroupChannels();
  int64_t segment = std::gcd(actGroup, weightGroup);
  int64_t actGroups = act.layout.getScalesPerRow();
  int64_t weightGroups = weight.layout.getScalesPerRow();
  Tensor result{{rows, outputs}, std::vector<float>(rows * outputs)};
  for (int64_t m = 0; m < rows; ++m) {
    const int8_t *a = &act.codes[m * channels];
    for (int64_t n = 0; n < outputs; ++n) {
      const int8_t *w = &weight.codes[n * channels];
      float sum = 0.0f;
      for (int64_t begin = 0; begin < channels; begin += segment) {
        int32_t accumulator = 0;
        for (int64_t k = begin; k < begin + segment; ++k)
          accumulator += static_cast<int32_t>(a[k]) * w[k];
        sum += static_cast<float>(accumulator) *
               act.scales[m * actGroups + begin / actGroup] *
               weight.scales[n * weightGroups + begin / weightGroup];
      }
      result.data[m * outputs + n] = roundToFloatType(sum, resultType);
    }
  }
  return result;
}

void lowbit::roundForKVCache(float *values, int64_t count, int64_t bits,
                             int64_t group, bool asymmetric) {
  if (bits == 32)
    return;
  if (bits == 16) {
    for (int64_t i = 0; i < count; ++i)
      values[i] = roundTo(values[i], llvm::APFloat::IEEEhalf());
    return;
  }
  std::vector<int8_t> codes(group);
  std::vector<int32_t> wideCodes(group);
  for (int64_t begin = 0; begin < count; begin += group) {
    if (asymmetric) {
      int32_t zero;
      float scale = quantizeGroupAsymmetric(
          values + begin, /*weights=*/nullptr, group, largestUnsignedCode(bits),
          /*clipSearch=*/false, llvm::APFloat::IEEEhalf(), wideCodes.data(),
          zero);
      for (int64_t i = 0; i < group; ++i)
        values[begin + i] = static_cast<float>(wideCodes[i]) * scale;
      continue;
    }
    float scale = quantizeGroup(values + begin, group, largestCode(bits),
                                llvm::APFloat::IEEEhalf(), codes.data());
    for (int64_t i = 0; i < group; ++i)
      values[begin + i] = static_cast<float>(codes[i]) * scale;
  }
}

//===----------------------------------------------------------------------===//
// Compressed collectives
//===----------------------------------------------------------------------===//

void lowbit::roundThroughWire(float *values, int64_t count,
                              WireFormatAttr wire) {
  runtime::roundThroughWire(values, count, wire.getRuntimeFormat());
}
