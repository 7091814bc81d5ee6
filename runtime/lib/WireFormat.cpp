//===- WireFormat.cpp - block-quantized messages of collectives -------------===//
//
// Plain C++ of the numbers and bytes WireFormat.h defines: small float grids
// built from their exponent and mantissa widths, round-to-nearest-even
// conversions to half and bfloat16 written on the bits, and the bit-stream
// packing of codes.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Runtime/WireFormat.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

using namespace lowbit::runtime;

namespace {
uint32_t bitsOf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

float floatOf(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

/// The elements and scale of one block, as they travel.
struct QuantizedBlock {
  /// Codes in the element's encoding (sign-magnitude or two's complement),
  /// in the low getElementBits() bits.
  uint32_t codes[32];
  /// The scale's bits in its format.
  uint32_t scaleBits;
};

/// Encodes and decodes blocks of one wire format.
class BlockCodec {
public:
  explicit BlockCodec(const WireFormat &format)
      : format(format), isFloat(format.getExponentBits() != 0),
        grid(format.getGrid()), largest(format.getLargestValue()),
        bits(format.getElementBits()) {}

  QuantizedBlock quantize(const float *values) const {
    QuantizedBlock block;
    float absmax = 0.0f;
    for (int64_t i = 0; i < format.blockSize; ++i)
      absmax = std::max(absmax, std::fabs(values[i]));
    float scale = roundScale(absmax / largest, block.scaleBits);
    for (int64_t i = 0; i < format.blockSize; ++i) {
      float magnitude =
          scale == 0.0f ? 0.0f : std::min(std::fabs(values[i]) / scale, largest);
      bool negative = std::signbit(values[i]) && scale != 0.0f;
      block.codes[i] = encode(magnitude, negative);
    }
    return block;
  }

  float getScale(uint32_t scaleBits) const {
    switch (format.scale) {
    case WireScale::F16:
      return halfToFloat(static_cast<uint16_t>(scaleBits));
    case WireScale::BF16:
      return bfloat16ToFloat(static_cast<uint16_t>(scaleBits));
    case WireScale::F32:
      return floatOf(scaleBits);
    case WireScale::E8M0:
      return scaleBits == 0 ? 0.0f : floatOf(scaleBits << 23);
    }
    return 0.0f;
  }

  /// The value of `code` at scale 1.
  float decode(uint32_t code) const {
    if (isFloat) {
      float magnitude = grid[code & ((1u << (bits - 1)) - 1)];
      return (code >> (bits - 1)) & 1 ? -magnitude : magnitude;
    }
    // Sign-extend the two's complement field.
    int32_t value = static_cast<int32_t>(code << (32 - bits)) >> (32 - bits);
    return static_cast<float>(value);
  }

private:
  /// `scale` rounded to the scale format; its bits in `scaleBits`.
  float roundScale(float scale, uint32_t &scaleBits) const {
    switch (format.scale) {
    case WireScale::F16: {
      uint16_t half = floatToHalf(scale);
      if ((half & 0x7fff) == 0x7c00) // Past 65504: saturate.
        half = (half & 0x8000) | 0x7bff;
      scaleBits = half;
      break;
    }
    case WireScale::BF16: {
      uint16_t brain = floatToBFloat16(scale);
      if ((brain & 0x7fff) == 0x7f80)
        brain = (brain & 0x8000) | 0x7f7f;
      scaleBits = brain;
      break;
    }
    case WireScale::F32:
      scaleBits = bitsOf(scale);
      break;
    case WireScale::E8M0: {
      // Up to a power of two: the exponent, plus one unless exact.
      uint32_t single = bitsOf(scale);
      uint32_t exponent = (single >> 23) & 0xff;
      uint32_t mantissa = single & 0x7fffff;
      scaleBits = scale == 0.0f
                      ? 0
                      : std::min<uint32_t>(exponent + (mantissa != 0), 254);
      break;
    }
    }
    return getScale(scaleBits);
  }

  /// The code of `magnitude` (scaled, at most `largest`) with its sign.
  uint32_t encode(float magnitude, bool negative) const {
    if (!isFloat) {
      int32_t value = static_cast<int32_t>(std::nearbyint(magnitude));
      if (negative)
        value = -value;
      return static_cast<uint32_t>(value) & ((1u << bits) - 1);
    }
    // The grid value nearest to the magnitude, ties to the even code.
    auto upper = std::lower_bound(grid.begin(), grid.end(), magnitude);
    uint32_t code;
    if (upper == grid.begin()) {
      code = 0;
    } else if (upper == grid.end()) {
      code = static_cast<uint32_t>(grid.size() - 1);
    } else {
      uint32_t above = static_cast<uint32_t>(upper - grid.begin());
      float toLower = magnitude - grid[above - 1];
      float toUpper = grid[above] - magnitude;
      code = toLower < toUpper   ? above - 1
             : toUpper < toLower ? above
             : (above % 2 == 0)  ? above
                                 : above - 1;
    }
    return code | (negative ? 1u << (bits - 1) : 0u);
  }

  const WireFormat &format;
  bool isFloat;
  std::vector<float> grid;
  float largest;
  int bits;
};

/// Writes `count` `bits`-bit codes as a little-endian bit stream.
void writeCodes(const uint32_t *codes, int64_t count, int bits,
                uint8_t *bytes) {
  std::memset(bytes, 0, count * bits / 8);
  for (int64_t i = 0; i < count; ++i)
    for (int bit = 0; bit < bits; ++bit)
      if ((codes[i] >> bit) & 1) {
        int64_t position = i * bits + bit;
        bytes[position / 8] |= static_cast<uint8_t>(1u << (position % 8));
      }
}

/// Reads code `index` of a little-endian bit stream of `bits`-bit codes.
uint32_t readCode(const uint8_t *bytes, int64_t index, int bits) {
  uint32_t code = 0;
  for (int bit = 0; bit < bits; ++bit) {
    int64_t position = index * bits + bit;
    code |= ((bytes[position / 8] >> (position % 8)) & 1u) << bit;
  }
  return code;
}
} // namespace

int WireFormat::getElementBits() const {
  switch (element) {
  case WireElement::FP4E2M1:
  case WireElement::INT4:
    return 4;
  case WireElement::FP5E2M2:
  case WireElement::FP5E3M1:
    return 5;
  case WireElement::INT8:
    return 8;
  }
  return 0;
}

int WireFormat::getScaleBytes() const {
  switch (scale) {
  case WireScale::F16:
  case WireScale::BF16:
    return 2;
  case WireScale::F32:
    return 4;
  case WireScale::E8M0:
    return 1;
  }
  return 0;
}

int WireFormat::getExponentBits() const {
  switch (element) {
  case WireElement::FP4E2M1:
  case WireElement::FP5E2M2:
    return 2;
  case WireElement::FP5E3M1:
    return 3;
  case WireElement::INT4:
  case WireElement::INT8:
    return 0;
  }
  return 0;
}

int WireFormat::getMantissaBits() const {
  int exponentBits = getExponentBits();
  return exponentBits == 0 ? 0 : getElementBits() - 1 - exponentBits;
}

std::vector<float> WireFormat::getGrid() const {
  int exponentBits = getExponentBits(), mantissaBits = getMantissaBits();
  std::vector<float> grid;
  if (exponentBits == 0)
    return grid;
  int bias = (1 << (exponentBits - 1)) - 1;
  int mantissas = 1 << mantissaBits;
  for (int exponent = 0; exponent < (1 << exponentBits); ++exponent)
    for (int mantissa = 0; mantissa < mantissas; ++mantissa) {
      float fraction = static_cast<float>(mantissa) / mantissas;
      grid.push_back(exponent == 0
                         ? std::ldexp(fraction, 1 - bias)
                         : std::ldexp(1.0f + fraction, exponent - bias));
    }
  return grid;
}

float WireFormat::getLargestValue() const {
  if (getExponentBits() != 0)
    return getGrid().back();
  return element == WireElement::INT4 ? 7.0f : 127.0f;
}

int64_t WireFormat::getScaleOffset(int64_t blocks) const {
  return (blocks * getCodeBytesPerBlock() + 3) / 4 * 4;
}

int64_t WireFormat::getMessageBytes(int64_t blocks) const {
  return (getScaleOffset(blocks) + blocks * getScaleBytes() + 15) / 16 * 16;
}

void lowbit::runtime::roundThroughWire(float *values, int64_t count,
                                       const WireFormat &format) {
  BlockCodec codec(format);
  for (float *block = values; block < values + count;
       block += format.blockSize) {
    QuantizedBlock quantized = codec.quantize(block);
    float scale = codec.getScale(quantized.scaleBits);
    for (int64_t i = 0; i < format.blockSize; ++i)
      block[i] = codec.decode(quantized.codes[i]) * scale;
  }
}

void lowbit::runtime::packWireMessage(const float *values, int64_t blocks,
                                      const WireFormat &format,
                                      uint8_t *message) {
  BlockCodec codec(format);
  std::memset(message, 0, format.getMessageBytes(blocks));
  uint8_t *scales = message + format.getScaleOffset(blocks);
  for (int64_t block = 0; block < blocks; ++block) {
    QuantizedBlock quantized = codec.quantize(values + block * format.blockSize);
    writeCodes(quantized.codes, format.blockSize, format.getElementBits(),
               message + block * format.getCodeBytesPerBlock());
    // Scales are little-endian, as on every GPU host.
    std::memcpy(scales + block * format.getScaleBytes(), &quantized.scaleBits,
                format.getScaleBytes());
  }
}

void lowbit::runtime::addWireMessage(const uint8_t *message, int64_t blocks,
                                     const WireFormat &format, float *sums) {
  BlockCodec codec(format);
  const uint8_t *scales = message + format.getScaleOffset(blocks);
  for (int64_t block = 0; block < blocks; ++block) {
    uint32_t scaleBits = 0;
    std::memcpy(&scaleBits, scales + block * format.getScaleBytes(),
                format.getScaleBytes());
    float scale = codec.getScale(scaleBits);
    const uint8_t *codes = message + block * format.getCodeBytesPerBlock();
    for (int64_t i = 0; i < format.blockSize; ++i)
      sums[block * format.blockSize + i] +=
          codec.decode(readCode(codes, i, format.getElementBits())) * scale;
  }
}

uint16_t lowbit::runtime::floatToHalf(float value) {
  uint32_t bits = bitsOf(value);
  uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
  uint32_t magnitude = bits & 0x7fffffff;
  if (magnitude > 0x7f800000) // NaN stays a (quiet) NaN.
    return sign | 0x7e00;
  if (magnitude >= 0x477ff000) // From 65520 up: infinity.
    return sign | 0x7c00;
  if (magnitude < 0x38800000) // Below 2^-14: a subnormal (units of 2^-24).
    return sign | static_cast<uint16_t>(
                      std::nearbyint(floatOf(magnitude) * 16777216.0f));
  // Rebias the exponent (127 -> 15) and round the 13 dropped bits to even.
  uint32_t rebiased = magnitude - 0x38000000;
  return sign | static_cast<uint16_t>(
                    (rebiased + 0xfff + ((rebiased >> 13) & 1)) >> 13);
}

float lowbit::runtime::halfToFloat(uint16_t bits) {
  uint32_t sign = static_cast<uint32_t>(bits & 0x8000) << 16;
  uint32_t exponent = (bits >> 10) & 0x1f;
  uint32_t mantissa = bits & 0x3ff;
  if (exponent == 0) {
    float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 31)
    return floatOf(sign | 0x7f800000 | (mantissa << 13));
  return floatOf(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

uint16_t lowbit::runtime::floatToBFloat16(float value) {
  uint32_t bits = bitsOf(value);
  if ((bits & 0x7fffffff) > 0x7f800000)
    return static_cast<uint16_t>((bits >> 16) | 0x40);
  return static_cast<uint16_t>((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}

float lowbit::runtime::bfloat16ToFloat(uint16_t bits) {
  return floatOf(static_cast<uint32_t>(bits) << 16);
}
