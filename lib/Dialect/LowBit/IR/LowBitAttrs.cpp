//===- LowBitAttrs.cpp - lowbit attributes ----------------------------------===//
//
// Parsing, printing and verification of the mixed-precision block layout and
// of the compressed-collective wire format.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/LowBit/IR/LowBitDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;
using namespace lowbit;

#include "lowbit/Dialect/LowBit/IR/LowBitEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "lowbit/Dialect/LowBit/IR/LowBitAttrs.cpp.inc"

void LowBitDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "lowbit/Dialect/LowBit/IR/LowBitAttrs.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// BlockLayoutAttr
//===----------------------------------------------------------------------===//

/// Parses `[a, b, ...]` into `values`.
static ParseResult parseIntegerList(AsmParser &parser,
                                    SmallVectorImpl<int64_t> &values) {
  return parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&] {
    return parser.parseInteger(values.emplace_back());
  });
}

Attribute BlockLayoutAttr::parse(AsmParser &parser, Type) {
  SMLoc loc = parser.getCurrentLocation();
  int64_t blockSize = 0;
  SmallVector<int64_t> blockBits;
  if (parser.parseLess() || parser.parseInteger(blockSize) ||
      parser.parseComma() || parseIntegerList(parser, blockBits) ||
      parser.parseComma())
    return {};

  SMLoc granularityLoc = parser.getCurrentLocation();
  StringRef keyword;
  if (parser.parseKeyword(&keyword))
    return {};
  std::optional<ScaleGranularity> granularity =
      symbolizeScaleGranularity(keyword);
  if (!granularity) {
    parser.emitError(granularityLoc)
        << "expected scale granularity per_token, per_channel or per_group, "
           "found '"
        << keyword << "'";
    return {};
  }
  int64_t groupSize = 0;
  if (*granularity == ScaleGranularity::PerGroup &&
      (parser.parseEqual() || parser.parseInteger(groupSize)))
    return {};

  // Optional `, perm = [...]` and `, asymmetric`, in this order.
  SmallVector<int64_t> permutation;
  bool asymmetric = false;
  while (succeeded(parser.parseOptionalComma())) {
    SMLoc optionLoc = parser.getCurrentLocation();
    StringRef option;
    if (parser.parseKeyword(&option))
      return {};
    if (option == "perm" && permutation.empty() && !asymmetric) {
      if (parser.parseEqual() || parseIntegerList(parser, permutation))
        return {};
      continue;
    }
    if (option == "asymmetric" && !asymmetric) {
      asymmetric = true;
      continue;
    }
    parser.emitError(optionLoc)
        << "expected 'perm = [...]' and then 'asymmetric', each at most "
           "once, found '"
        << option << "'";
    return {};
  }
  if (parser.parseGreater())
    return {};
  return parser.getChecked<BlockLayoutAttr>(loc, parser.getContext(), blockSize,
                                            blockBits, *granularity, groupSize,
                                            permutation, asymmetric);
}

void BlockLayoutAttr::print(AsmPrinter &printer) const {
  printer << "<" << getBlockSize() << ", [";
  llvm::interleaveComma(getBlockBits(), printer);
  printer << "], " << stringifyScaleGranularity(getGranularity());
  if (getGranularity() == ScaleGranularity::PerGroup)
    printer << " = " << getGroupSize();
  if (!getPermutation().empty()) {
    printer << ", perm = [";
    llvm::interleaveComma(getPermutation(), printer);
    printer << "]";
  }
  if (getAsymmetric())
    printer << ", asymmetric";
  printer << ">";
}

LogicalResult
BlockLayoutAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                        int64_t blockSize, ArrayRef<int64_t> blockBits,
                        ScaleGranularity granularity, int64_t groupSize,
                        ArrayRef<int64_t> permutation, bool asymmetric) {
  if (blockSize <= 0)
    return emitError() << "block size must be positive, found " << blockSize;
  if (blockBits.empty())
    return emitError() << "block layout needs the bit width of at least one "
                          "block";
  for (auto [block, bits] : llvm::enumerate(blockBits))
    if (bits != 4 && bits != 8)
      return emitError() << "block " << block << " is stored in " << bits
                         << " bits; expected 4 or 8";
  if (granularity == ScaleGranularity::PerGroup) {
    if (groupSize <= 0 || blockSize % groupSize != 0)
      return emitError() << "scale group size " << groupSize
                         << " does not divide block size " << blockSize;
  } else if (groupSize != 0) {
    return emitError() << "a scale group size (" << groupSize
                       << ") needs per_group scales, found "
                       << stringifyScaleGranularity(granularity);
  }
  if (asymmetric) {
    if (granularity == ScaleGranularity::PerToken)
      return emitError() << "asymmetric (zero-point) scales are for stored "
                            "weights: expected per_channel or per_group, "
                            "found per_token";
    for (auto [block, bits] : llvm::enumerate(blockBits))
      if (bits != 4)
        return emitError() << "asymmetric layouts store 4-bit blocks only; "
                              "block "
                           << block << " is " << bits << "-bit";
  }
  if (permutation.empty())
    return success();
  return verifyChannelPermutation(emitError, permutation,
                                  blockSize * blockBits.size());
}

int64_t BlockLayoutAttr::getNumInt8Blocks() const {
  return llvm::count(getBlockBits(), 8);
}

int64_t BlockLayoutAttr::getScaleGroupChannels() const {
  return getGranularity() == ScaleGranularity::PerGroup ? getGroupSize()
                                                        : getBlockSize();
}

int64_t BlockLayoutAttr::getPackedRowBytes() const {
  int64_t bits = 0;
  for (int64_t blockBits : getBlockBits())
    bits += blockBits * getBlockSize();
  return llvm::divideCeil(bits, 8);
}

int64_t BlockLayoutAttr::getZeroPointRowBytes() const {
  return getAsymmetric() ? llvm::divideCeil(getScalesPerRow(), 2) : 0;
}

//===----------------------------------------------------------------------===//
// WireFormatAttr
//===----------------------------------------------------------------------===//

LogicalResult
WireFormatAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                       WireElement element, int64_t blockSize,
                       Type scaleType) {
  if (blockSize != 8 && blockSize != 16 && blockSize != 32)
    return emitError() << "wire block size " << blockSize
                       << " is not one of 8, 16, 32";
  if (!isa<Float16Type, BFloat16Type, Float32Type, Float8E8M0FNUType>(
          scaleType))
    return emitError() << "wire scale type " << scaleType
                       << " is not one of f16, bf16, f32, f8E8M0FNU";
  return success();
}

runtime::WireFormat WireFormatAttr::getRuntimeFormat() const {
  runtime::WireFormat format;
  switch (getElement()) {
  case WireElement::FP4E2M1:
    format.element = runtime::WireElement::FP4E2M1;
    break;
  case WireElement::FP5E2M2:
    format.element = runtime::WireElement::FP5E2M2;
    break;
  case WireElement::FP5E3M1:
    format.element = runtime::WireElement::FP5E3M1;
    break;
  case WireElement::INT4:
    format.element = runtime::WireElement::INT4;
    break;
  case WireElement::INT8:
    format.element = runtime::WireElement::INT8;
    break;
  }
  format.blockSize = getBlockSize();
  Type scaleType = getScaleType();
  format.scale = scaleType.isF16()    ? runtime::WireScale::F16
                 : scaleType.isBF16() ? runtime::WireScale::BF16
                 : scaleType.isF32()  ? runtime::WireScale::F32
                                      : runtime::WireScale::E8M0;
  return format;
}

int64_t WireFormatAttr::getElementBits() const {
  return getRuntimeFormat().getElementBits();
}

int64_t WireFormatAttr::getBlockBits() const {
  runtime::WireFormat format = getRuntimeFormat();
  return format.getElementBits() * format.blockSize +
         8 * format.getScaleBytes();
}

//===----------------------------------------------------------------------===//
// ChannelStatisticsAttr
//===----------------------------------------------------------------------===//

LogicalResult
ChannelStatisticsAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                              int64_t tokens, DenseF32ArrayAttr absMax,
                              DenseF32ArrayAttr percentile,
                              DenseF32ArrayAttr meanSquare) {
  if (tokens <= 0)
    return emitError() << "channel statistics over " << tokens
                       << " tokens; expected at least one";
  for (auto [name, values] :
       {std::pair{"percentile", percentile}, {"mean_square", meanSquare}})
    if (values.size() != absMax.size())
      return emitError() << name << " has " << values.size()
                         << " channels but absmax has " << absMax.size();
  for (auto [name, values] : {std::pair{"absmax", absMax},
                              {"percentile", percentile},
                              {"mean_square", meanSquare}})
    for (auto [channel, value] : llvm::enumerate(values.asArrayRef()))
      if (!(value >= 0.0f) || std::isinf(value))
        return emitError() << name << " of channel " << channel
                           << " is " << value
                           << "; expected a finite non-negative number";
  return success();
}
