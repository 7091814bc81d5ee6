//===- LowBitTypes.cpp - lowbit types ---------------------------------------===//
//
// Parsing, printing and verification of the quantized tensor and KV cache
// types.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/LowBit/IR/LowBitDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace lowbit;

#define GET_TYPEDEF_CLASSES
#include "lowbit/Dialect/LowBit/IR/LowBitTypes.cpp.inc"

void LowBitDialect::registerTypes() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "lowbit/Dialect/LowBit/IR/LowBitTypes.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// QuantizedTensorType
//===----------------------------------------------------------------------===//

Type QuantizedTensorType::parse(AsmParser &parser) {
  SMLoc loc = parser.getCurrentLocation();
  SmallVector<int64_t> shape;
  Type scaleType;
  BlockLayoutAttr layout;
  if (parser.parseLess() ||
      parser.parseDimensionList(shape, /*allowDynamic=*/true,
                                /*withTrailingX=*/false) ||
      parser.parseComma())
    return {};
  SMLoc scaleLoc = parser.getCurrentLocation();
  if (parser.parseType(scaleType) || parser.parseComma() ||
      parser.parseAttribute(layout) || parser.parseGreater())
    return {};
  auto floatScaleType = dyn_cast<FloatType>(scaleType);
  if (!floatScaleType) {
    parser.emitError(scaleLoc)
        << "expected a floating-point scale type, found " << scaleType;
    return {};
  }
  return parser.getChecked<QuantizedTensorType>(loc, parser.getContext(), shape,
                                                floatScaleType, layout);
}

void QuantizedTensorType::print(AsmPrinter &printer) const {
  printer << "<";
  printer.printDimensionList(getShape());
  printer << ", " << getScaleType() << ", " << getLayout() << ">";
}

LogicalResult
QuantizedTensorType::verify(function_ref<InFlightDiagnostic()> emitError,
                            ArrayRef<int64_t> shape, FloatType scaleType,
                            BlockLayoutAttr layout) {
  if (shape.size() != 2)
    return emitError() << "quantized tensor needs a [rows, channels] shape, "
                          "found rank "
                       << shape.size();
  int64_t channels = shape[1];
  if (ShapedType::isDynamic(channels) || channels <= 0)
    return emitError() << "quantized tensor needs a static, positive channel "
                          "count";
  if (!isa<Float16Type, BFloat16Type, Float32Type>(scaleType))
    return emitError() << "scale type must be f16, bf16 or f32, found "
                       << scaleType;
  if (channels % layout.getBlockSize() != 0)
    return emitError() << "block size " << layout.getBlockSize()
                       << " does not divide " << channels << " channels";
  if (channels != layout.getNumChannels())
    return emitError() << channels << " channels form "
                       << channels / layout.getBlockSize() << " blocks of "
                       << layout.getBlockSize() << " but the layout gives "
                       << layout.getNumBlocks() << " block bit widths";
  return success();
}

//===----------------------------------------------------------------------===//
// KVCacheType
//===----------------------------------------------------------------------===//

LogicalResult KVCacheType::verify(function_ref<InFlightDiagnostic()> emitError,
                                  int64_t bits, int64_t groupSize,
                                  int64_t numHeads, int64_t headDim,
                                  int64_t maxLength, bool asymmetric) {
  if (bits != 4 && bits != 8 && bits != 16 && bits != 32)
    return emitError() << "KV cache bit width " << bits
                       << " is not one of 4, 8, 16, 32";
  if (asymmetric && bits > 8)
    return emitError() << "an asymmetric KV cache stores 4- or 8-bit codes, "
                          "found "
                       << bits << " bits";
  if (numHeads <= 0)
    return emitError() << "KV cache heads must be positive, found "
                       << numHeads;
  if (headDim <= 0)
    return emitError() << "KV cache head_dim must be positive, found "
                       << headDim;
  if (maxLength <= 0)
    return emitError() << "KV cache max_len must be positive, found "
                       << maxLength;
  if (groupSize <= 0 || headDim % groupSize != 0)
    return emitError() << "KV cache group size " << groupSize
                       << " does not divide head_dim " << headDim;
  return success();
}
