//===- WireFormat.h - block-quantized messages of collectives ---*- C++ -*-===//
//
// A compressed collective sends each rank's data as blocks of 4-, 5- or
// 8-bit elements with one scale per block. This file defines the numbers
// (how a block is scaled and rounded) and the bytes (how a message is laid
// out) without LLVM or MLIR: the runtime packs and checks messages with it,
// the reference executor rounds with it, and the generated GPU kernels are
// checked against it bit for bit.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_RUNTIME_WIREFORMAT_H
#define LOWBIT_RUNTIME_WIREFORMAT_H

#include <cstdint>
#include <vector>

namespace lowbit::runtime {

/// Element formats, in the order of the dialect's WireElement.
enum class WireElement { FP4E2M1, FP5E2M2, FP5E3M1, INT4, INT8 };

/// Scale formats: IEEE half, bfloat16, single, and the power of two E8M0.
enum class WireScale { F16, BF16, F32, E8M0 };

/// A wire format: `element` in blocks of `blockSize` elements (8, 16 or 32)
/// with one `scale` each.
///
/// Numbers. Per block, scale = absmax / largestValue(), rounded to the
/// scale format: to nearest even for F16, BF16 and F32 (a scale past the
/// format's range saturates at its largest finite value), and up to a power
/// of two for E8M0 (so that no element overflows). Each element is
/// |value| / scale, saturated at largestValue(), rounded to the nearest
/// value of the element format (ties to the even code), with the sign of
/// value. Float elements have bias 2^(e-1) - 1, subnormals at exponent 0
/// and no infinities or NaNs; integers are symmetric, [-7, 7] and
/// [-127, 127]. A zero scale makes the whole block zero.
///
/// Bytes. A message of n blocks holds the codes of every block, block after
/// block, then, from the next multiple of 4 bytes, the n scales, and is
/// padded to a multiple of 16 bytes (getMessageBytes). A block's codes are
/// a little-endian bit stream: element i takes bits [i*b, (i+1)*b), so
/// 4-bit element 2j is the low nibble of byte j. Float codes are
/// sign-magnitude (sign in the top bit), integer codes two's complement.
/// Scales are stored as their format's bits; E8M0 as the biased exponent
/// (scale = 2^(code - 127), code 0 meaning a zero scale).
struct WireFormat {
  WireElement element = WireElement::FP4E2M1;
  int64_t blockSize = 16;
  WireScale scale = WireScale::F16;

  /// Bits of one element: 4, 5 or 8.
  int getElementBits() const;
  /// Bytes of one scale: 2, 2, 4 or 1.
  int getScaleBytes() const;
  /// Exponent bits of a float element (2 or 3); 0 for integers.
  int getExponentBits() const;
  /// Mantissa bits of a float element (1 or 2); 0 for integers.
  int getMantissaBits() const;
  /// The non-negative values of a float element in code order
  /// (increasing); empty for integers.
  std::vector<float> getGrid() const;
  /// Largest magnitude of an element at scale 1: 6 (FP4 e2m1), 7 (FP5
  /// e2m2), 24 (FP5 e3m1), 7 (INT4), 127 (INT8).
  float getLargestValue() const;
  /// Bytes of the codes of one block.
  int64_t getCodeBytesPerBlock() const { return blockSize * getElementBits() / 8; }
  /// Offset of the first scale in a message of `blocks` blocks.
  int64_t getScaleOffset(int64_t blocks) const;
  /// Bytes of a message of `blocks` blocks, padding included.
  int64_t getMessageBytes(int64_t blocks) const;
};

/// Rounds `count` values (a multiple of the block size) in place to what a
/// collective with `format` delivers.
void roundThroughWire(float *values, int64_t count, const WireFormat &format);

/// Writes `blocks` blocks of `values` as one message of
/// format.getMessageBytes(blocks) bytes.
void packWireMessage(const float *values, int64_t blocks,
                     const WireFormat &format, uint8_t *message);

/// Adds the decoded values of a message of `blocks` blocks to `sums`.
void addWireMessage(const uint8_t *message, int64_t blocks,
                    const WireFormat &format, float *sums);

/// IEEE half bits of `value`, rounded to nearest even.
uint16_t floatToHalf(float value);
/// The value of IEEE half bits.
float halfToFloat(uint16_t bits);
/// bfloat16 bits of `value`, rounded to nearest even.
uint16_t floatToBFloat16(float value);
/// The value of bfloat16 bits.
float bfloat16ToFloat(uint16_t bits);

} // namespace lowbit::runtime

#endif // LOWBIT_RUNTIME_WIREFORMAT_H
