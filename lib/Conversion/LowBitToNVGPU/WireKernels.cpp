//===- WireKernels.cpp - kernels of compressed collectives ------------------===//
//
// Builds the pack and decode-and-sum kernels of a wire format from arith,
// memref and scf ops. One thread handles one wire block, fully unrolled:
// blocks are 8 to 32 elements, so every element, code and bit offset is a
// compile-time constant.
//
// The numbers follow runtime/lib/WireFormat.cpp exactly, so the benchmark
// can compare messages and sums bit for bit: the scale is rounded with the
// hardware's round-to-nearest conversions, a float element is found by
// counting the midpoints of its grid it passes (at a midpoint, the one
// with the even code above it counts), an integer element by the
// 1.5 * 2^23 round-to-even trick, and decoding rebuilds grid values from
// their exponent and mantissa fields. Decoded values times f16, bf16 or
// power-of-two scales are exact in f32, so whether the compiler fuses the
// multiply into the sum's add does not change a bit. Maxima and minima are
// compares and selects: arith.maxnumf would become a libdevice call
// (__nv_fmaxf) that only links where CUDA's libdevice is found.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Conversion/LowBitToNVGPU/WireKernels.h"

#include "KernelEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace lowbit;

namespace {
/// The scale type's name in kernel names.
std::string getScaleName(WireFormatAttr wire) {
  if (isa<Float8E8M0FNUType>(wire.getScaleType()))
    return "e8m0";
  return getTypeName(cast<FloatType>(wire.getScaleType()));
}

/// Elements of `dataType` (f16 or f32) in one 16-byte vector.
int64_t getDataVectorLanes(FloatType dataType) {
  return dataType.isF16() ? 8 : 4;
}

/// Why no kernel handles `wire` and `dataType`, or empty.
std::string checkWireKernel(WireFormatAttr wire, FloatType dataType) {
  if (!dataType.isF16() && !dataType.isF32())
    return "the data must be f16 or f32";
  // With f32 scales, decoded value times scale is not exact in f32, and a
  // fused multiply-add would round differently from the reference.
  if (wire.getScaleType().isF32())
    return "wire scales must be f16, bf16 or e8m0 (f32 scales are not "
           "generated)";
  return "";
}

/// Emits the body shared by both kernels: the thread's wire block and the
/// bit-level helpers.
class WireEmitter : public KernelEmitter {
protected:
  WireEmitter(OpBuilder &builder, Location loc, WireFormatAttr wire,
              FloatType dataType)
      : KernelEmitter(builder, loc), wire(wire),
        format(wire.getRuntimeFormat()), dataType(dataType),
        elementBits(format.getElementBits()),
        exponentBits(format.getExponentBits()),
        mantissaBits(format.getMantissaBits()) {}

  Value andI(Value lhs, Value rhs) {
    return arith::AndIOp::create(b, loc, lhs, rhs);
  }
  Value orI(Value lhs, Value rhs) {
    return arith::OrIOp::create(b, loc, lhs, rhs);
  }
  Value shl(Value value, int64_t bits) {
    return arith::ShLIOp::create(b, loc, value, i32(bits));
  }
  Value shru(Value value, int64_t bits) {
    return arith::ShRUIOp::create(b, loc, value, i32(bits));
  }
  Value cmpI(arith::CmpIPredicate predicate, Value lhs, Value rhs) {
    return arith::CmpIOp::create(b, loc, predicate, lhs, rhs);
  }
  Value cmpF(arith::CmpFPredicate predicate, Value lhs, Value rhs) {
    return arith::CmpFOp::create(b, loc, predicate, lhs, rhs);
  }
  Value select(Value condition, Value whenTrue, Value whenFalse) {
    return arith::SelectOp::create(b, loc, condition, whenTrue, whenFalse);
  }
  Value bitcast(Type type, Value value) {
    return arith::BitcastOp::create(b, loc, type, value);
  }
  Value extui(Value value) {
    return arith::ExtUIOp::create(b, loc, b.getI32Type(), value);
  }

  int64_t getVectorLanes() const { return getDataVectorLanes(dataType); }

  /// What every thread of both kernels starts from.
  struct ThreadBlock {
    /// Index of this thread's wire block.
    Value block;
    /// The `blocks` argument (the last of both kernels) as an index.
    Value blocks;
    /// The body of the `scf.if` that skips threads past the last block.
    Block *body;
  };
  /// Emits this thread's block index and the guard against threads past
  /// the last block.
  ThreadBlock beginThreadBlock(gpu::GPUFuncOp func) {
    Value blocks = arith::IndexCastOp::create(
        b, loc, b.getIndexType(), func.getArguments().back());
    Value thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
    Value threadBlock = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
    Value block = add(mul(threadBlock, index(kWireThreadsPerBlock)), thread);
    auto ifOp = scf::IfOp::create(
        b, loc, cmpI(arith::CmpIPredicate::ult, block, blocks),
        /*withElseRegion=*/false);
    return {block, blocks, &ifOp.getThenRegion().front()};
  }

  /// Byte offset of the first scale and bytes of a message of `blocks`
  /// blocks.
  std::pair<Value, Value> getMessageLayout(Value blocks) {
    return emitWireMessageLayout(b, loc, format, blocks);
  }

  /// Whether a block's codes are whole i32 words (all but FP5 blocks of 8
  /// and 16); then they move as words, not bytes.
  bool hasWordCodes() const { return format.getCodeBytesPerBlock() % 4 == 0; }

  /// The i8 message buffer `bytes` seen as i32 words (messages and code
  /// regions start at multiples of 4 bytes).
  Value viewAsWords(Value bytes) {
    Value byteCount = memref::DimOp::create(b, loc, bytes, 0);
    Value wordCount =
        arith::DivUIOp::create(b, loc, byteCount, index(4));
    return memref::ViewOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic}, b.getI32Type()),
        bytes, index(0), ValueRange{wordCount});
  }

  /// Stores the low `count` bytes of the i32 `value` at `offset`.
  void storeBytes(Value memory, Value offset, Value value, int64_t count) {
    for (int64_t byte = 0; byte < count; ++byte) {
      Value part = arith::TruncIOp::create(b, loc, b.getI8Type(),
                                           shru(value, 8 * byte));
      memref::StoreOp::create(b, loc, part, memory,
                              ValueRange{add(offset, index(byte))});
    }
  }
  /// Loads `count` bytes at `offset` as the low bytes of an i32.
  Value loadBytes(Value memory, Value offset, int64_t count) {
    Value word = i32(0);
    for (int64_t byte = 0; byte < count; ++byte) {
      Value part = memref::LoadOp::create(b, loc, memory,
                                          ValueRange{add(offset, index(byte))});
      word = orI(word, shl(extui(part), 8 * byte));
    }
    return word;
  }

  /// The i32 words of one block's code bit stream.
  int64_t getCodeWords() const {
    return (format.blockSize * elementBits + 31) / 32;
  }

  /// The scale's value from its stored bits (in the low bits of an i32).
  Value decodeScale(Value bits) {
    switch (format.scale) {
    case runtime::WireScale::F16:
    case runtime::WireScale::BF16: {
      Type halfType = format.scale == runtime::WireScale::F16
                          ? Type(b.getF16Type())
                          : Type(b.getBF16Type());
      Value half = arith::TruncIOp::create(b, loc, b.getI16Type(), bits);
      return toF32(bitcast(halfType, half));
    }
    case runtime::WireScale::F32:
      return bitcast(b.getF32Type(), bits);
    case runtime::WireScale::E8M0:
      return select(cmpI(arith::CmpIPredicate::eq, bits, i32(0)), f32(0.0f),
                    bitcast(b.getF32Type(), shl(bits, 23)));
    }
    llvm_unreachable("unknown wire scale");
  }

  WireFormatAttr wire;
  runtime::WireFormat format;
  FloatType dataType;
  int64_t elementBits;
  /// Exponent and mantissa bits of a float element; 0 for integers.
  int exponentBits, mantissaBits;
};

/// Emits the pack kernel.
class WirePackEmitter : public WireEmitter {
public:
  WirePackEmitter(OpBuilder &builder, Location loc, const WirePackKernel &kernel)
      : WireEmitter(builder, loc, kernel.wire, kernel.dataType) {}

  void emit(gpu::GPUFuncOp func);

private:
  /// |value| of an f32, by clearing the sign bit.
  Value absolute(Value value) {
    return bitcast(b.getF32Type(),
                   andI(bitcast(b.getI32Type(), value), i32(0x7fffffff)));
  }
  /// The scale for `absmax`, rounded to the scale format: its value and
  /// its stored bits.
  std::pair<Value, Value> roundScale(Value absmax);
  /// The code of `magnitude` (in [0, largest]), with the sign when
  /// `negative`.
  Value encode(Value magnitude, Value negative);
};

std::pair<Value, Value> WirePackEmitter::roundScale(Value absmax) {
  Value scale =
      arith::DivFOp::create(b, loc, absmax, f32(format.getLargestValue()));
  if (format.scale == runtime::WireScale::E8M0) {
    // Up to a power of two: the exponent, plus one unless exact; 0 for 0.
    Value single = bitcast(b.getI32Type(), scale);
    Value exponent = andI(shru(single, 23), i32(0xff));
    Value inexact = cmpI(arith::CmpIPredicate::ne,
                         andI(single, i32(0x7fffff)), i32(0));
    Value code = arith::MinUIOp::create(b, loc, add(exponent, extui(inexact)),
                                        i32(254));
    code = select(cmpF(arith::CmpFPredicate::OEQ, scale, f32(0.0f)), i32(0),
                  code);
    return {decodeScale(code), code};
  }
  // f16 or bf16: round to nearest even; past the range, the largest finite.
  bool isHalf = format.scale == runtime::WireScale::F16;
  Type halfType = isHalf ? Type(b.getF16Type()) : Type(b.getBF16Type());
  Value half = arith::TruncFOp::create(b, loc, halfType, scale);
  Value bits = extui(bitcast(b.getI16Type(), half));
  Value isInfinite = cmpI(arith::CmpIPredicate::eq, andI(bits, i32(0x7fff)),
                          i32(isHalf ? 0x7c00 : 0x7f80));
  bits = select(isInfinite, i32(isHalf ? 0x7bff : 0x7f7f), bits);
  return {decodeScale(bits), bits};
}

Value WirePackEmitter::encode(Value magnitude, Value negative) {
  if (exponentBits == 0) {
    // Round half to even by adding and removing 1.5 * 2^23.
    Value magic = f32(12582912.0f);
    Value rounded = arith::SubFOp::create(
        b, loc, arith::AddFOp::create(b, loc, magnitude, magic), magic);
    Value code = arith::FPToSIOp::create(b, loc, b.getI32Type(), rounded);
    code = select(negative, arith::SubIOp::create(b, loc, i32(0), code), code);
    return andI(code, i32((1 << elementBits) - 1));
  }
  // Count the midpoints of the grid below the magnitude.
  std::vector<float> grid = format.getGrid();
  Value code = i32(0);
  for (size_t upper = 1; upper < grid.size(); ++upper) {
    float midpoint = (grid[upper - 1] + grid[upper]) / 2;
    auto predicate = upper % 2 == 0 ? arith::CmpFPredicate::OGE
                                    : arith::CmpFPredicate::OGT;
    code = add(code, extui(cmpF(predicate, magnitude, f32(midpoint))));
  }
  return orI(code, shl(extui(negative), elementBits - 1));
}

void WirePackEmitter::emit(gpu::GPUFuncOp func) {
  Value data = func.getArgument(0), message = func.getArgument(1);
  auto [block, blocks, body] = beginThreadBlock(func);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(body);

  int64_t blockSize = format.blockSize;
  int64_t lanes = getVectorLanes();
  Value first = mul(block, index(blockSize / lanes));
  SmallVector<Value> values;
  for (int64_t vector = 0; vector < blockSize / lanes; ++vector) {
    Value loaded = memref::LoadOp::create(
        b, loc, data, ValueRange{add(first, index(vector))});
    for (int64_t lane = 0; lane < lanes; ++lane)
      values.push_back(
          toF32(vector::ExtractOp::create(b, loc, loaded, lane)));
  }
  Value absmax = f32(0.0f);
  for (int64_t i = 0; i < blockSize; ++i) {
    Value magnitude = absolute(values[i]);
    absmax = select(cmpF(arith::CmpFPredicate::OGT, magnitude, absmax),
                    magnitude, absmax);
  }
  auto [scale, scaleBits] = roundScale(absmax);
  Value nonzero = cmpF(arith::CmpFPredicate::ONE, scale, f32(0.0f));
  Value largest = f32(format.getLargestValue());

  SmallVector<Value> words(getCodeWords(), i32(0));
  for (int64_t i = 0; i < blockSize; ++i) {
    Value quotient =
        arith::DivFOp::create(b, loc, absolute(values[i]), scale);
    Value saturated = select(
        cmpF(arith::CmpFPredicate::OLT, quotient, largest), quotient, largest);
    Value magnitude = select(nonzero, saturated, f32(0.0f));
    Value signBit = shru(bitcast(b.getI32Type(), values[i]), 31);
    Value negative = arith::AndIOp::create(
        b, loc, cmpI(arith::CmpIPredicate::ne, signBit, i32(0)), nonzero);
    Value code = encode(magnitude, negative);
    int64_t offset = i * elementBits, word = offset / 32, shift = offset % 32;
    words[word] = orI(words[word], shl(code, shift));
    if (shift + elementBits > 32)
      words[word + 1] = orI(words[word + 1], shru(code, 32 - shift));
  }
  int64_t codeBytes = format.getCodeBytesPerBlock();
  Value codeOffset = mul(block, index(codeBytes));
  if (hasWordCodes()) {
    Value messageWords = viewAsWords(message);
    Value firstWord = mul(block, index(codeBytes / 4));
    for (int64_t word = 0; word < getCodeWords(); ++word)
      memref::StoreOp::create(b, loc, words[word], messageWords,
                              ValueRange{add(firstWord, index(word))});
  } else {
    for (int64_t word = 0; word < getCodeWords(); ++word)
      storeBytes(message, add(codeOffset, index(4 * word)), words[word],
                 std::min<int64_t>(4, codeBytes - 4 * word));
  }
  Value scaleOffset = getMessageLayout(blocks).first;
  storeBytes(message,
             add(scaleOffset, mul(block, index(format.getScaleBytes()))),
             scaleBits, format.getScaleBytes());
}

/// Emits the decode-and-sum kernel.
class WireSumEmitter : public WireEmitter {
public:
  WireSumEmitter(OpBuilder &builder, Location loc, const WireSumKernel &kernel)
      : WireEmitter(builder, loc, kernel.wire, kernel.dataType),
        numRanks(kernel.numRanks) {}

  void emit(gpu::GPUFuncOp func);

private:
  /// The value of `code` at scale 1.
  Value decode(Value code);

  int64_t numRanks;
};

Value WireSumEmitter::decode(Value code) {
  if (exponentBits == 0) {
    // Sign-extend the two's complement field.
    Value extended = arith::ShRSIOp::create(
        b, loc, shl(code, 32 - elementBits), i32(32 - elementBits));
    return arith::SIToFPOp::create(b, loc, b.getF32Type(), extended);
  }
  // (mantissa, with the implicit one unless subnormal) * 2^(max(e, 1) -
  // bias - mantissa bits), the power of two built from its exponent field.
  int bias = (1 << (exponentBits - 1)) - 1;
  Value mantissa = andI(code, i32((1 << mantissaBits) - 1));
  Value exponent = andI(shru(code, mantissaBits), i32((1 << exponentBits) - 1));
  Value normal = cmpI(arith::CmpIPredicate::ne, exponent, i32(0));
  Value significand =
      orI(mantissa, shl(extui(normal), mantissaBits));
  Value power = add(arith::MaxUIOp::create(b, loc, exponent, i32(1)),
                    i32(127 - bias - mantissaBits));
  Value magnitude = arith::MulFOp::create(
      b, loc, arith::UIToFPOp::create(b, loc, b.getF32Type(), significand),
      bitcast(b.getF32Type(), shl(power, 23)));
  Value negative = cmpI(arith::CmpIPredicate::ne,
                        andI(code, i32(1 << (elementBits - 1))), i32(0));
  return select(negative, arith::NegFOp::create(b, loc, magnitude), magnitude);
}

void WireSumEmitter::emit(gpu::GPUFuncOp func) {
  Value messages = func.getArgument(0), result = func.getArgument(1);
  auto [block, blocks, body] = beginThreadBlock(func);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(body);

  auto [scaleOffset, messageBytes] = getMessageLayout(blocks);
  Value messageWords = hasWordCodes() ? viewAsWords(messages) : Value();
  int64_t blockSize = format.blockSize, codeBytes = format.getCodeBytesPerBlock();
  Value codeMask = i32((1 << elementBits) - 1);
  SmallVector<Value> sums(blockSize, f32(0.0f));
  for (int64_t rank = 0; rank < numRanks; ++rank) {
    Value base = mul(index(rank), messageBytes);
    Value scale = decodeScale(loadBytes(
        messages,
        add(base, add(scaleOffset, mul(block, index(format.getScaleBytes())))),
        format.getScaleBytes()));
    Value codeOffset = add(base, mul(block, index(codeBytes)));
    SmallVector<Value> words;
    for (int64_t word = 0; word < getCodeWords(); ++word) {
      Value byteOffset = add(codeOffset, index(4 * word));
      words.push_back(
          messageWords
              ? Value(memref::LoadOp::create(
                    b, loc, messageWords,
                    ValueRange{arith::DivUIOp::create(b, loc, byteOffset,
                                                      index(4))}))
              : loadBytes(messages, byteOffset,
                          std::min<int64_t>(4, codeBytes - 4 * word)));
    }
    for (int64_t i = 0; i < blockSize; ++i) {
      int64_t offset = i * elementBits, word = offset / 32, shift = offset % 32;
      Value code = shru(words[word], shift);
      if (shift + elementBits > 32)
        code = orI(code, shl(words[word + 1], 32 - shift));
      Value value =
          arith::MulFOp::create(b, loc, decode(andI(code, codeMask)), scale);
      sums[i] = arith::AddFOp::create(b, loc, sums[i], value);
    }
  }
  int64_t lanes = getVectorLanes();
  Value first = mul(block, index(blockSize / lanes));
  for (int64_t vector = 0; vector < blockSize / lanes; ++vector) {
    SmallVector<Value> elements;
    for (int64_t lane = 0; lane < lanes; ++lane) {
      Value sum = sums[vector * lanes + lane];
      elements.push_back(dataType.isF32()
                             ? sum
                             : arith::TruncFOp::create(b, loc, dataType, sum));
    }
    Value packed = vector::FromElementsOp::create(
        b, loc, VectorType::get({lanes}, dataType), elements);
    memref::StoreOp::create(b, loc, packed, result,
                            ValueRange{add(first, index(vector))});
  }
}

/// A kernel function with `arguments` and the block size of both kernels.
gpu::GPUFuncOp createKernelFunction(OpBuilder &builder, Location loc,
                                    StringRef name, TypeRange arguments) {
  auto func = gpu::GPUFuncOp::create(builder, loc, name,
                                     builder.getFunctionType(arguments, {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(),
                builder.getUnitAttr());
  func.setKnownBlockSizeAttr(builder.getDenseI32ArrayAttr(
      {int32_t(kWireThreadsPerBlock), 1, 1}));
  return func;
}

MemRefType getDynamicMemRef(Type element) {
  return MemRefType::get({ShapedType::kDynamic}, element);
}

/// The partial results as 16-byte vectors of getDataVectorLanes elements:
/// each thread reads and writes its block in whole, aligned 16-byte
/// accesses, which a warp's scattered scalar accesses would not be.
MemRefType getDataMemRef(FloatType dataType) {
  return getDynamicMemRef(
      VectorType::get({getDataVectorLanes(dataType)}, dataType));
}
} // namespace

std::pair<Value, Value>
lowbit::emitWireMessageLayout(OpBuilder &builder, Location loc,
                              const runtime::WireFormat &format, Value blocks) {
  auto index = [&](int64_t value) -> Value {
    return arith::ConstantIndexOp::create(builder, loc, value);
  };
  auto alignTo = [&](Value value, int64_t alignment) -> Value {
    Value rounded =
        arith::AddIOp::create(builder, loc, value, index(alignment - 1));
    return arith::MulIOp::create(
        builder, loc,
        arith::DivUIOp::create(builder, loc, rounded, index(alignment)),
        index(alignment));
  };
  auto times = [&](int64_t bytes) -> Value {
    return arith::MulIOp::create(builder, loc, blocks, index(bytes));
  };
  Value scaleOffset = alignTo(times(format.getCodeBytesPerBlock()), 4);
  Value messageBytes =
      alignTo(arith::AddIOp::create(builder, loc, scaleOffset,
                                    times(format.getScaleBytes())),
              16);
  return {scaleOffset, messageBytes};
}

std::string WirePackKernel::getName() const {
  return llvm::formatv("wire_pack_{0}_b{1}_{2}_{3}",
                       stringifyWireElement(wire.getElement()),
                       wire.getBlockSize(), getScaleName(wire),
                       getTypeName(dataType))
      .str();
}

std::string WirePackKernel::checkSupported() const {
  return checkWireKernel(wire, dataType);
}

std::string WireSumKernel::getName() const {
  return llvm::formatv("wire_sum_{0}_b{1}_{2}_n{3}_{4}",
                       stringifyWireElement(wire.getElement()),
                       wire.getBlockSize(), getScaleName(wire), numRanks,
                       getTypeName(dataType))
      .str();
}

std::string WireSumKernel::checkSupported() const {
  return checkWireKernel(wire, dataType);
}

gpu::GPUFuncOp lowbit::buildWirePackKernel(OpBuilder &builder, Location loc,
                                           const WirePackKernel &kernel) {
  auto func = createKernelFunction(
      builder, loc, kernel.getName(),
      {getDataMemRef(kernel.dataType),
       getDynamicMemRef(builder.getI8Type()), builder.getI32Type()});
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(&func.getBody().front());
  WirePackEmitter(builder, loc, kernel).emit(func);
  gpu::ReturnOp::create(builder, loc);
  return func;
}

gpu::GPUFuncOp lowbit::buildWireSumKernel(OpBuilder &builder, Location loc,
                                          const WireSumKernel &kernel) {
  auto func = createKernelFunction(
      builder, loc, kernel.getName(),
      {getDynamicMemRef(builder.getI8Type()),
       getDataMemRef(kernel.dataType), builder.getI32Type()});
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(&func.getBody().front());
  WireSumEmitter(builder, loc, kernel).emit(func);
  gpu::ReturnOp::create(builder, loc);
  return func;
}
