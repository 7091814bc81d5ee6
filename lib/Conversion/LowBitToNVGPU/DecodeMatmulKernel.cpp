//===- DecodeMatmulKernel.cpp - W4 matmul kernel for decode -----------------===//
//
// Builds the decode matmul kernel as a gpu.func of arith/memref/scf/vector
// ops and NVVM's dp4a. Decode multiplies a handful of tokens by the whole
// weight matrix, so the kernel is bound by how fast it streams the INT4
// weights: each lane loads 16 bytes (32 channels) per step with the steps of
// a row fully unrolled, so that all of a warp's loads are in flight at once.
//
// The 4-bit codes are never sign-extended one by one. The interleaved layout
// (runtime::packInt4Interleaved, shared with the tensor-core kernel) puts
// channels 4q..4q+3 of a 32-channel step in the low and 16+4q..16+4q+3 in the
// high nibbles of word q, so `(word << 4) & 0xF0F0F0F0` and
// `word & 0xF0F0F0F0` are four signed bytes each, sixteen times the codes,
// that dp4a multiplies directly with four consecutive activation bytes. The
// factor 16 is exact and removed once at the end.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Conversion/LowBitToNVGPU/DecodeMatmulKernel.h"

#include "KernelEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace lowbit;

namespace {
constexpr int64_t kWarpSize = 32;
/// i32 words of INT4 weights one lane loads per step.
constexpr int64_t kWeightWordsPerStep = 4;
/// dp4a results carry sixteen times the weight codes (see the file comment).
constexpr float kNibbleScale = 1.0f / 16.0f;
/// Most tokens per block for which a row's lane steps are fully unrolled.
constexpr int64_t kMaxTokensUnrolled = 2;


/// Emits the kernel body; keeps the builder, location and the constants
/// every part needs in one place.
class DecodeMatmulEmitter : public KernelEmitter {
public:
  DecodeMatmulEmitter(OpBuilder &builder, Location loc,
                      const DecodeMatmulKernel &kernel)
      : KernelEmitter(builder, loc), kernel(kernel) {}

  void emit(gpu::GPUFuncOp func);

private:
  Value dp4a(Value weightBytes, Value actWord, Value accumulator) {
    auto signedType = NVVM::DotAccumulateType::SIGNED;
    return NVVM::DotAccumulate4WayOp::create(b, loc, b.getI32Type(),
                                             weightBytes, signedType,
                                             asBytes(actWord), signedType,
                                             accumulator);
  }
  /// Sum of `value` over the 32 lanes of the warp, in every lane.
  Value warpSum(Value value);
  /// Emits the blocks of weight `weightIndex` and the later ones: a block x
  /// below the end of that weight's blocks (which start at `firstBlock`)
  /// computes it.
  void emitWeightsFrom(size_t weightIndex, Value blockX, int64_t firstBlock);
  /// Emits the work of weight `weightIndex` for the warp's columns of
  /// `block`, the weight's own block number.
  void emitWeight(size_t weightIndex, Value block);
  /// Adds to `sums` (token-major, one per token and column) the lane's 32
  /// channels at chunk `step` of each row; with `partial`, steps past the
  /// row read its last chunk and count zero weights.
  void emitLaneStep(Value step, bool partial, MutableArrayRef<Value> sums);

  int64_t stepsPerRow = 0;
  /// The kernel's arguments.
  gpu::GPUFuncOp func;
  /// The buffers of the weight being emitted (see DecodeMatmulKernel).
  Value weights, weightScales;
  /// The activations (see DecodeMatmulKernel) and the step's token count.
  Value act, actScales, tokens;
  /// The thread's lane and warp in its block, and the block's first token.
  Value lane, warp, firstToken;
  /// Output channels of this warp, clamped to valid ones; token rows of
  /// this block, clamped likewise.
  SmallVector<Value> columns, rows;
  /// The weight words of lane steps past the row.
  Value zeroWords;

  const DecodeMatmulKernel &kernel;
};
} // namespace

std::string DecodeMatmulKernel::getName() const {
  std::string outputs;
  for (int64_t channels : outChannels)
    outputs += (outputs.empty() ? "" : "_") + std::to_string(channels);
  return llvm::formatv(
             "decode_matmul_w4_n{0}_k{1}_ga{2}_gw{3}_t{4}_c{5}_{6}_{7}",
             outputs, inChannels, actScaleGroup, weightScaleGroup,
             tokensPerBlock, columnsPerWarp, getTypeName(scaleType),
             getTypeName(resultType))
      .str();
}

int64_t DecodeMatmulKernel::getBlocksX() const {
  int64_t blocks = 0;
  for (int64_t channels : outChannels)
    blocks += llvm::divideCeil(channels, getColumnsPerBlock());
  return blocks;
}

std::string DecodeMatmulKernel::checkSupported() const {
  if (inChannels % kChannelsPerLaneStep != 0)
    return llvm::formatv("{0} input channels are not a multiple of {1}",
                         inChannels, kChannelsPerLaneStep)
        .str();
  std::string groups = checkScaleGroups(actScaleGroup, weightScaleGroup,
                                        inChannels, kChannelsPerLaneStep);
  if (!groups.empty())
    return groups;
  if (tokensPerBlock <= 0 || columnsPerWarp <= 0)
    return "tokens per block and columns per warp must be positive";
  if (outChannels.empty() ||
      llvm::any_of(outChannels, [](int64_t channels) { return channels <= 0; }))
    return "every weight needs a positive number of output channels";
  return checkScaleAndResultTypes(scaleType, resultType);
}

Value DecodeMatmulEmitter::warpSum(Value value) {
  Value width = i32(kWarpSize);
  for (int64_t offset = kWarpSize / 2; offset > 0; offset /= 2) {
    auto shuffle = gpu::ShuffleOp::create(b, loc, value, i32(offset), width,
                                          gpu::ShuffleMode::XOR);
    value = arith::AddFOp::create(b, loc, value, shuffle.getShuffleResult());
  }
  return value;
}

void DecodeMatmulEmitter::emitLaneStep(Value step, bool partial,
                                       MutableArrayRef<Value> sums) {
  const int64_t numTokens = kernel.tokensPerBlock;
  const int64_t numColumns = kernel.columnsPerWarp;
  const int64_t actScalesPerRow = kernel.inChannels / kernel.actScaleGroup;
  const int64_t weightScalesPerRow =
      kernel.inChannels / kernel.weightScaleGroup;
  Value inRow;
  if (partial) {
    inRow = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, step,
                                  index(stepsPerRow));
    step = arith::MinUIOp::create(b, loc, step, index(stepsPerRow - 1));
  }
  Value channel =
      mul(step, index(DecodeMatmulKernel::kChannelsPerLaneStep));
  Value actGroup = arith::DivUIOp::create(b, loc, channel,
                                          index(kernel.actScaleGroup));
  Value weightGroup = arith::DivUIOp::create(b, loc, channel,
                                             index(kernel.weightScaleGroup));

  // Low and high nibbles of each weight word, as dp4a operands in channel
  // order: word q's low nibbles are channels 4q..4q+3 of the step, its high
  // nibbles channels 16+4q..16+4q+3.
  SmallVector<SmallVector<Value>> weightBytes(
      numColumns, SmallVector<Value>(2 * kWeightWordsPerStep));
  SmallVector<Value> weightScale(numColumns);
  for (int64_t c = 0; c < numColumns; ++c) {
    Value words = memref::LoadOp::create(
        b, loc, weights, ValueRange{add(mul(columns[c], index(stepsPerRow)),
                                        step)});
    if (partial)
      words = arith::SelectOp::create(b, loc, inRow, words, zeroWords);
    for (int64_t q = 0; q < kWeightWordsPerStep; ++q) {
      Value word = vector::ExtractOp::create(b, loc, words, q);
      std::tie(weightBytes[c][q], weightBytes[c][kWeightWordsPerStep + q]) =
          splitNibbles(word);
    }
    weightScale[c] = toF32(memref::LoadOp::create(
        b, loc, weightScales,
        ValueRange{add(mul(columns[c], index(weightScalesPerRow)),
                       weightGroup)}));
  }

  for (int64_t r = 0; r < numTokens; ++r) {
    // 32 activation bytes: words 0..7 hold channels 4j..4j+3.
    Value actChunk = mul(add(mul(rows[r], index(stepsPerRow)), step),
                         index(2));
    SmallVector<Value> actWords;
    for (int64_t half = 0; half < 2; ++half) {
      Value words = memref::LoadOp::create(
          b, loc, act, ValueRange{add(actChunk, index(half))});
      for (int64_t q = 0; q < kWeightWordsPerStep; ++q)
        actWords.push_back(vector::ExtractOp::create(b, loc, words, q));
    }
    Value actScale = toF32(memref::LoadOp::create(
        b, loc, actScales,
        ValueRange{add(mul(rows[r], index(actScalesPerRow)), actGroup)}));
    for (int64_t c = 0; c < numColumns; ++c) {
      Value dot = i32(0);
      for (int64_t j = 0; j < 2 * kWeightWordsPerStep; ++j)
        dot = dp4a(weightBytes[c][j], actWords[j], dot);
      Value scale = arith::MulFOp::create(b, loc, actScale, weightScale[c]);
      Value product = arith::MulFOp::create(
          b, loc, arith::SIToFPOp::create(b, loc, b.getF32Type(), dot),
          scale);
      Value &sum = sums[r * numColumns + c];
      sum = arith::AddFOp::create(b, loc, sum, product);
    }
  }
}

void DecodeMatmulEmitter::emit(gpu::GPUFuncOp kernelFunc) {
  func = kernelFunc;
  const int64_t numWeights = kernel.outChannels.size();
  stepsPerRow = kernel.inChannels / DecodeMatmulKernel::kChannelsPerLaneStep;
  act = func.getArgument(2 * numWeights);
  actScales = func.getArgument(2 * numWeights + 1);
  tokens = arith::IndexCastOp::create(b, loc, b.getIndexType(),
                                      func.getArgument(3 * numWeights + 2));

  Value thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  lane = arith::RemUIOp::create(b, loc, thread, index(kWarpSize));
  warp = arith::DivUIOp::create(b, loc, thread, index(kWarpSize));
  Value blockX = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  Value blockY = gpu::BlockIdOp::create(b, loc, gpu::Dimension::y);
  firstToken = mul(blockY, index(kernel.tokensPerBlock));
  // Tokens past the step's count clamp to the last one: they load valid
  // memory and their results are never stored.
  Value lastToken = arith::SubIOp::create(b, loc, tokens, index(1));
  for (int64_t r = 0; r < kernel.tokensPerBlock; ++r)
    rows.push_back(
        arith::MinUIOp::create(b, loc, add(firstToken, index(r)), lastToken));

  emitNibbleConstants();
  zeroWords = arith::ConstantOp::create(
      b, loc,
      DenseElementsAttr::get(
          VectorType::get({kWeightWordsPerStep}, b.getI32Type()),
          b.getI32IntegerAttr(0)));
  emitWeightsFrom(0, blockX, 0);
}

void DecodeMatmulEmitter::emitWeightsFrom(size_t weightIndex, Value blockX,
                                          int64_t firstBlock) {
  auto blockOfWeight = [&] {
    return firstBlock ? arith::SubIOp::create(b, loc, blockX, index(firstBlock))
                            .getResult()
                      : blockX;
  };
  if (weightIndex + 1 == kernel.outChannels.size())
    return emitWeight(weightIndex, blockOfWeight());
  int64_t endBlock =
      firstBlock + llvm::divideCeil(kernel.outChannels[weightIndex],
                                    kernel.getColumnsPerBlock());
  Value isThisWeight = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                             blockX, index(endBlock));
  scf::IfOp::create(
      b, loc, isThisWeight,
      [&](OpBuilder &, Location) {
        emitWeight(weightIndex, blockOfWeight());
        scf::YieldOp::create(b, loc);
      },
      [&](OpBuilder &, Location) {
        emitWeightsFrom(weightIndex + 1, blockX, endBlock);
        scf::YieldOp::create(b, loc);
      });
}

void DecodeMatmulEmitter::emitWeight(size_t weightIndex, Value block) {
  const int64_t numWeights = kernel.outChannels.size();
  const int64_t numTokens = kernel.tokensPerBlock;
  const int64_t numColumns = kernel.columnsPerWarp;
  const int64_t outChannels = kernel.outChannels[weightIndex];
  const int64_t laneSteps = llvm::divideCeil(stepsPerRow, kWarpSize);
  weights = func.getArgument(2 * weightIndex);
  weightScales = func.getArgument(2 * weightIndex + 1);
  Value result = func.getArgument(2 * numWeights + 2 + weightIndex);
  Value firstColumn =
      mul(add(mul(block, index(DecodeMatmulKernel::kWarpsPerBlock)), warp),
          index(numColumns));

  // Output channels past N (the last block's spare warps) clamp to N - 1:
  // they load valid memory and their results are never stored.
  columns.clear();
  for (int64_t c = 0; c < numColumns; ++c)
    columns.push_back(arith::MinUIOp::create(b, loc, add(firstColumn, index(c)),
                                             index(outChannels - 1)));

  SmallVector<Value> sums(numTokens * numColumns, f32(0.0f));
  // Few tokens: unroll the row so that all of a warp's weight loads are in
  // flight at once. More tokens: a loop, or the unrolled loads of every
  // token's activations exhaust the registers.
  const bool partial = stepsPerRow % kWarpSize != 0;
  if (numTokens <= kMaxTokensUnrolled) {
    for (int64_t laneStep = 0; laneStep < laneSteps; ++laneStep)
      emitLaneStep(add(lane, index(laneStep * kWarpSize)),
                   (laneStep + 1) * kWarpSize > stepsPerRow, sums);
  } else {
    auto loop = scf::ForOp::create(
        b, loc, index(0), index(laneSteps * kWarpSize), index(kWarpSize),
        sums, [&](OpBuilder &, Location, Value offset, ValueRange carried) {
          SmallVector<Value> stepSums(carried);
          emitLaneStep(add(lane, offset), partial, stepSums);
          scf::YieldOp::create(b, loc, stepSums);
        });
    sums.assign(loop.getResults().begin(), loop.getResults().end());
  }

  Value nibbleScale = f32(kNibbleScale);
  for (Value &sum : sums)
    sum = arith::MulFOp::create(b, loc, warpSum(sum), nibbleScale);

  // Lane 0 stores what is real: tokens below the count, channels below N.
  Value isLaneZero = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                           lane, index(0));
  auto storeIf = scf::IfOp::create(b, loc, isLaneZero, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(storeIf.thenBlock());
  for (int64_t r = 0; r < numTokens; ++r) {
    for (int64_t c = 0; c < numColumns; ++c) {
      Value token = add(firstToken, index(r));
      Value column = add(firstColumn, index(c));
      Value inRange = arith::AndIOp::create(
          b, loc,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, token,
                                tokens),
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, column,
                                index(outChannels)));
      auto store = scf::IfOp::create(b, loc, inRange, false);
      OpBuilder::InsertionGuard storeGuard(b);
      b.setInsertionPointToStart(store.thenBlock());
      Value value = sums[r * numColumns + c];
      if (!kernel.resultType.isF32())
        value = arith::TruncFOp::create(b, loc, kernel.resultType, value);
      memref::StoreOp::create(
          b, loc, value, result,
          ValueRange{add(mul(token, index(outChannels)), column)});
    }
  }
}

gpu::GPUFuncOp lowbit::buildDecodeMatmulKernel(OpBuilder &builder,
                                               Location loc,
                                               const DecodeMatmulKernel &kernel) {
  auto dynamic = [&](Type element) {
    return MemRefType::get({ShapedType::kDynamic}, element);
  };
  auto words = VectorType::get({kWeightWordsPerStep}, builder.getI32Type());
  SmallVector<Type> arguments;
  for (size_t i = 0; i < kernel.outChannels.size(); ++i)
    arguments.append({dynamic(words), dynamic(kernel.scaleType)});
  arguments.append({dynamic(words), dynamic(kernel.scaleType)});
  arguments.append(kernel.outChannels.size(), dynamic(kernel.resultType));
  arguments.push_back(builder.getI32Type());
  auto type = builder.getFunctionType(arguments, {});
  auto func = gpu::GPUFuncOp::create(builder, loc, kernel.getName(), type);
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), builder.getUnitAttr());
  func.setKnownBlockSizeAttr(builder.getDenseI32ArrayAttr(
      {int32_t(DecodeMatmulKernel::kWarpsPerBlock * kWarpSize), 1, 1}));

  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(&func.getBody().front());
  DecodeMatmulEmitter(builder, loc, kernel).emit(func);
  gpu::ReturnOp::create(builder, loc);
  return func;
}
