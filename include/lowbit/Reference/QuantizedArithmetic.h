//===- QuantizedArithmetic.h - lowbit's quantization numerics ---*- C++ -*-===//
//
// The exact arithmetic lowbit's quantized types stand for: how a tensor is
// cut into #lowbit.blocks scale groups and rounded to 4- or 8-bit codes, how
// a mixed-precision matmul accumulates in INT32 and applies its scales, how
// a KV cache rounds what it stores, and how a compressed collective rounds
// what it sends. The reference executor runs these;
// generated kernels are checked against them.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_REFERENCE_QUANTIZEDARITHMETIC_H
#define LOWBIT_REFERENCE_QUANTIZEDARITHMETIC_H

#include "lowbit/Dialect/LowBit/IR/LowBitDialect.h"

#include "llvm/ADT/SmallVector.h"

#include <cstdint>
#include <vector>

namespace lowbit {

/// A dense row-major f32 tensor.
struct Tensor {
  llvm::SmallVector<int64_t, 2> shape;
  std::vector<float> data;

  int64_t dim(unsigned index) const { return shape[index]; }
};

/// result[..., i, ...] = input[..., permutation[i], ...] along `axis` of a
/// rank-1 or rank-2 tensor (lowbit.permute_channels).
Tensor permuteAlong(const Tensor &input, llvm::ArrayRef<int64_t> permutation,
                    int64_t axis);

/// A [rows, channels] tensor in the storage a !lowbit.qtensor describes:
/// signed codes in stored (permuted) channel order and one scale per row and
/// scale group, already rounded to the scale type. An asymmetric layout
/// also has one zero point per row and scale group; its codes are then the
/// stored unsigned code minus the zero point (in [-15, 15]), so that every
/// value is code * scale in both forms.
struct QuantizedTensor {
  int64_t rows = 0;
  int64_t channels = 0;
  BlockLayoutAttr layout;
  std::vector<int8_t> codes;
  std::vector<float> scales;
  std::vector<uint8_t> zeroPoints;
};

/// `value` rounded to the nearest value of `type` (f16, bf16 or f32), ties
/// to even.
float roundToFloatType(float value, mlir::FloatType type);

/// Largest code of a symmetric `bits`-bit integer: 7 for 4 bits, 127 for 8.
inline int32_t largestCode(int64_t bits) { return (1 << (bits - 1)) - 1; }

/// How lowbit.quantize chooses its scales.
struct ScaleChoice {
  /// Search clipped scales (lowbit.quantize's `clip_search`).
  bool clipSearch = false;
  /// Error weight of each input channel (`channel_importance`); empty: 1.
  llvm::ArrayRef<float> channelImportance;
};

/// Clip ratios `clip_search` tries, largest first.
llvm::ArrayRef<float> clipRatios();

/// Quantizes `input` as `type` says: channels permuted by the layout, then
/// per row and scale group scale = absmax / largestCode (rounded to the
/// scale type) and code = round-to-even(x / scale) clamped to
/// [-largestCode, largestCode]. An asymmetric layout takes lo = min(x, 0)
/// and hi = max(x, 0) instead: scale = (hi - lo) / 15, zero point =
/// round-to-even(-lo / scale) and stored code = round-to-even(x / scale) +
/// zero clamped to [0, 15]. With a clip search, the range is the
/// clipRatios() multiple of that with the smallest weighted squared error.
QuantizedTensor quantize(const Tensor &input, QuantizedTensorType type,
                         const ScaleChoice &choice = {});

/// The packed storage of `input`'s codes (docs/quantization.md): each row
/// takes BlockLayoutAttr::getPackedRowBytes() bytes; its codes, in stored
/// order, are two's-complement fields of their block's width laid out
/// least significant bit first, so a 4-bit block puts code 2i in the low
/// and code 2i+1 in the high nibble of a byte. Asymmetric layouts store the
/// unsigned codes (code + zero point) the same way.
std::vector<uint8_t> packCodes(const QuantizedTensor &input);

/// The codes of `rows` rows packed by packCodes with `layout`; an
/// asymmetric layout needs the rows' `zeroPoints`.
std::vector<int8_t> unpackCodes(llvm::ArrayRef<uint8_t> packed,
                                BlockLayoutAttr layout, int64_t rows,
                                llvm::ArrayRef<uint8_t> zeroPoints = {});

/// codes * scales, with channels back in their original order.
Tensor dequantize(const QuantizedTensor &input);

/// result[m, n] = sum over scale segments of (INT32 sum of act * weight
/// codes) * act scale * weight scale, segments being the common refinement
/// of both operands' scale groups; rounded to `resultType` at the end.
Tensor quantizedMatmul(const QuantizedTensor &act,
                       const QuantizedTensor &weight,
                       mlir::FloatType resultType);

/// Rounds `count` values of one KV head the way a `bits`-bit KV cache stores
/// them: 32 keeps f32, 16 rounds to f16, 4 and 8 quantize every `group`
/// consecutive values with an f16 absmax scale, or, `asymmetric`, with an
/// f16 scale and an integer zero point over [min(x, 0), max(x, 0)].
void roundForKVCache(float *values, int64_t count, int64_t bits, int64_t group,
                     bool asymmetric = false);

/// Rounds `count` values, a multiple of the wire block size, to what a
/// collective with `wire` delivers (runtime::roundThroughWire): per block
/// an absmax scale rounded to the scale type (up to a power of two for
/// f8E8M0FNU), elements rounded to the nearest wire value, ties to the even
/// code, saturated at the largest.
void roundThroughWire(float *values, int64_t count, WireFormatAttr wire);

} // namespace lowbit

#endif // LOWBIT_REFERENCE_QUANTIZEDARITHMETIC_H
