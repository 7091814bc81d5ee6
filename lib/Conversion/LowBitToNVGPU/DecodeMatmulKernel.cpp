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
// From 8 tokens a block, dp4a would bound the kernel, so it multiplies on
// tensor cores instead: `mma.sync.m16n8k32` s8, the weights as the 16-row A
// operand and 8 tokens as the B operand. The same layout serves: lane
// (g, q) of an mma quad (g = lane / 4, q = lane % 4) loads the 16-byte word
// 4s + q of weight rows g and g + 8, and the split nibbles of its word j are
// exactly A's registers for channels 4q..4q+3 and 16+4q..16+4q+3 of mma j,
// if mma j's k-slots of lane q stand for channels 4j..4j+3 and
// 16+4j..16+4j+3 of that lane's word. The lane loads the same 32 channels
// of token g's activations, whose words j and 4 + j are then its B
// registers. The four mma of a step thus cover 128 channels, one scale group
// or less of each kind: their sums accumulate onto the bits of 1.5 * 2^23 and
// are dequantized once per step.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Conversion/LowBitToNVGPU/DecodeMatmulKernel.h"

#include "KernelEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace lowbit;

namespace {
constexpr int64_t kWarpLanes = 32;
/// i32 words of INT4 weights one lane loads per step.
constexpr int64_t kWeightWordsPerStep = 4;
/// dp4a results carry sixteen times the weight codes (see the file comment).
constexpr float kNibbleScale = 1.0f / 16.0f;
/// Most tokens per block for which a row's lane steps are fully unrolled.
constexpr int64_t kMaxTokensUnrolled = 2;
/// Tensor-core kernels unroll as many steps per loop iteration as keep their
/// weight and activation loads, all issued before the first mma, within
/// this many registers (and at most kMaxMmaStepsUnrolled).
constexpr int64_t kMmaLoadRegisters = 96;
constexpr int64_t kMaxMmaStepsUnrolled = 4;


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
  void emitWeight(size_t weightIndex, Value block) {
    if (kernel.mmaWarpsAlongK)
      emitMmaWeight(weightIndex, block);
    else
      emitDotProductWeight(weightIndex, block);
  }
  /// emitWeight of a dot-product kernel.
  void emitDotProductWeight(size_t weightIndex, Value block);
  /// emitWeight of a tensor-core kernel.
  void emitMmaWeight(size_t weightIndex, Value block);
  /// Adds to `acc` (per token tile n, row half h and column e, at
  /// (n * 2 + h) * 2 + e) the tensor-core steps `steps` of the warp: rows
  /// `mmaRows` of the weight, tokens `loadTokens` (one per token tile) and
  /// `sumTokens` (two per tile). Where `valid` has an entry, the step counts
  /// zero weights unless it holds.
  void emitMmaSteps(ArrayRef<Value> steps, ArrayRef<Value> valid,
                    MutableArrayRef<Value> acc);
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
  /// The thread in its block, its lane and warp, the block's first token
  /// and the step's last one.
  Value thread, lane, warp, firstToken, lastToken;
  /// Output channels of this warp, clamped to valid ones; dot-product
  /// kernels: token rows of this block, clamped likewise.
  SmallVector<Value> columns, rows;
  /// The weight words of lane steps past the row.
  Value zeroWords;
  /// Tensor-core kernels: the lane's weight rows (g and g + 8 of its tile,
  /// clamped), the token whose activations it loads for each token tile
  /// and the two tokens of each tile whose sums it holds (clamped likewise),
  /// and the sums of the warps of a tile (shared memory).
  Value mmaRows[2];
  SmallVector<Value> loadTokens, sumTokens;
  Value partialSums;

  const DecodeMatmulKernel &kernel;
};
} // namespace

DecodeMatmulKernel DecodeMatmulKernel::get(std::vector<int64_t> outChannels,
                                           int64_t inChannels,
                                           int64_t actScaleGroup,
                                           int64_t weightScaleGroup,
                                           int64_t tokens, FloatType scaleType,
                                           FloatType resultType) {
  DecodeMatmulKernel kernel{std::move(outChannels),
                            inChannels,
                            actScaleGroup,
                            weightScaleGroup,
                            tokens,
                            getColumnsPerWarp(tokens),
                            scaleType,
                            resultType};
  if (tokens >= kMinMmaTokens && tokens % kMmaTokens == 0 &&
      actScaleGroup % kMmaStepChannels == 0 &&
      weightScaleGroup % kMmaStepChannels == 0) {
    kernel.columnsPerWarp = 0;
    kernel.mmaWarpsAlongK = getMmaWarpsAlongK(tokens);
  }
  return kernel;
}

std::string DecodeMatmulKernel::getName() const {
  std::string outputs;
  for (int64_t channels : outChannels)
    outputs += (outputs.empty() ? "" : "_") + std::to_string(channels);
  // Dot-product kernels name their columns per warp, tensor-core ones their
  // warps along the input channels.
  std::string split = mmaWarpsAlongK ? "kw" + std::to_string(mmaWarpsAlongK)
                                     : "c" + std::to_string(columnsPerWarp);
  return llvm::formatv("decode_matmul_{0}w4_n{1}_k{2}_ga{3}_gw{4}_t{5}_{6}_"
                       "{7}_{8}",
                       mmaWarpsAlongK ? "mma_" : "", outputs, inChannels,
                       actScaleGroup, weightScaleGroup, tokensPerBlock, split,
                       getTypeName(scaleType), getTypeName(resultType))
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
  if (tokensPerBlock <= 0 || (columnsPerWarp <= 0) == (mmaWarpsAlongK <= 0))
    return "tokens per block must be positive, and either columns per warp "
           "(dp4a) or warps along the input channels (mma)";
  if (mmaWarpsAlongK) {
    if (tokensPerBlock % kMmaTokens != 0 ||
        kWarpsPerBlock % mmaWarpsAlongK != 0)
      return llvm::formatv("an mma kernel needs a multiple of {0} tokens per "
                           "block and a divisor of {1} warps along the input "
                           "channels, not {2} and {3}",
                           kMmaTokens, kWarpsPerBlock, tokensPerBlock,
                           mmaWarpsAlongK)
          .str();
    std::string mmaGroups = checkScaleGroups(actScaleGroup, weightScaleGroup,
                                             inChannels, kMmaStepChannels);
    if (!mmaGroups.empty())
      return mmaGroups;
  }
  if (outChannels.empty() ||
      llvm::any_of(outChannels, [](int64_t channels) { return channels <= 0; }))
    return "every weight needs a positive number of output channels";
  return checkScaleAndResultTypes(scaleType, resultType);
}

Value DecodeMatmulEmitter::warpSum(Value value) {
  Value width = i32(kWarpLanes);
  for (int64_t offset = kWarpLanes / 2; offset > 0; offset /= 2) {
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

  thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  lane = arith::RemUIOp::create(b, loc, thread, index(kWarpLanes));
  warp = arith::DivUIOp::create(b, loc, thread, index(kWarpLanes));
  Value blockX = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  Value blockY = gpu::BlockIdOp::create(b, loc, gpu::Dimension::y);
  firstToken = mul(blockY, index(kernel.tokensPerBlock));
  // Tokens past the step's count clamp to the last one: they load valid
  // memory and their results are never stored.
  lastToken = arith::SubIOp::create(b, loc, tokens, index(1));
  if (kernel.mmaWarpsAlongK) {
    partialSums = func.getWorkgroupAttributions().front();
  } else {
    for (int64_t r = 0; r < kernel.tokensPerBlock; ++r)
      rows.push_back(
          arith::MinUIOp::create(b, loc, add(firstToken, index(r)), lastToken));
  }
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

void DecodeMatmulEmitter::emitDotProductWeight(size_t weightIndex,
                                               Value block) {
  const int64_t numWeights = kernel.outChannels.size();
  const int64_t numTokens = kernel.tokensPerBlock;
  const int64_t numColumns = kernel.columnsPerWarp;
  const int64_t outChannels = kernel.outChannels[weightIndex];
  const int64_t laneSteps = llvm::divideCeil(stepsPerRow, kWarpLanes);
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
  const bool partial = stepsPerRow % kWarpLanes != 0;
  if (numTokens <= kMaxTokensUnrolled) {
    for (int64_t laneStep = 0; laneStep < laneSteps; ++laneStep)
      emitLaneStep(add(lane, index(laneStep * kWarpLanes)),
                   (laneStep + 1) * kWarpLanes > stepsPerRow, sums);
  } else {
    auto loop = scf::ForOp::create(
        b, loc, index(0), index(laneSteps * kWarpLanes), index(kWarpLanes),
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

void DecodeMatmulEmitter::emitMmaSteps(ArrayRef<Value> steps,
                                       ArrayRef<Value> valid,
                                       MutableArrayRef<Value> acc) {
  using Kernel = DecodeMatmulKernel;
  const int64_t tokenTiles = kernel.tokensPerBlock / Kernel::kMmaTokens;
  const int64_t numSteps = kernel.inChannels / Kernel::kMmaStepChannels;
  const int64_t wordsPerStep =
      Kernel::kMmaStepChannels / Kernel::kChannelsPerLaneStep;
  const int64_t actScalesPerRow = kernel.inChannels / kernel.actScaleGroup;
  const int64_t weightScalesPerRow =
      kernel.inChannels / kernel.weightScaleGroup;
  Value quad = rem(lane, 4);

  // Every load of every step first, so that they are all in flight at once.
  struct StepOperands {
    Value weightWords[2], weightScale[2];
    SmallVector<Value> actWords, actScale;
  };
  SmallVector<StepOperands> operands(steps.size());
  for (auto [i, step] : llvm::enumerate(steps)) {
    StepOperands &op = operands[i];
    Value clamped = valid[i] ? min(step, index(numSteps - 1)) : step;
    Value word = add(mul(clamped, index(wordsPerStep)), quad);
    Value channel = mul(clamped, index(Kernel::kMmaStepChannels));
    Value actGroup = div(channel, kernel.actScaleGroup);
    Value weightGroup = div(channel, kernel.weightScaleGroup);
    for (int64_t half = 0; half < 2; ++half) {
      Value words = memref::LoadOp::create(
          b, loc, weights,
          ValueRange{add(mul(mmaRows[half], index(stepsPerRow)), word)});
      if (valid[i])
        words = arith::SelectOp::create(b, loc, valid[i], words, zeroWords);
      op.weightWords[half] = words;
    }
    for (Value token : loadTokens) {
      Value first = mul(add(mul(token, index(stepsPerRow)), word), index(2));
      for (int64_t part = 0; part < 2; ++part)
        op.actWords.push_back(memref::LoadOp::create(
            b, loc, act, ValueRange{add(first, index(part))}));
    }
    for (int64_t half = 0; half < 2; ++half)
      op.weightScale[half] = toF32(memref::LoadOp::create(
          b, loc, weightScales,
          ValueRange{add(mul(mmaRows[half], index(weightScalesPerRow)),
                         weightGroup)}));
    for (Value token : sumTokens)
      op.actScale.push_back(toF32(memref::LoadOp::create(
          b, loc, actScales,
          ValueRange{add(mul(token, index(actScalesPerRow)), actGroup)})));
  }

  auto i8x4x4 = VectorType::get({4, 4}, b.getI8Type());
  auto i8x2x4 = VectorType::get({2, 4}, b.getI8Type());
  auto rowsOf = [&](VectorType type, ArrayRef<Value> registers) -> Value {
    Value vector = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(type, b.getI8IntegerAttr(0)));
    for (auto [r, word] : llvm::enumerate(registers))
      vector = vector::InsertOp::create(b, loc, word, vector, int64_t(r));
    return vector;
  };
  auto contract = arith::FastMathFlagsAttr::get(b.getContext(),
                                                arith::FastMathFlags::contract);
  emitMagicConstants();
  for (StepOperands &op : operands) {
    // A of mma j: registers (row g, channels 4q..), (row g + 8, 4q..),
    // (row g, 16+4q..), (row g + 8, 16+4q..) of word j's nibbles.
    SmallVector<Value> weightOperands;
    for (int64_t j = 0; j < wordsPerStep; ++j) {
      auto [lowG, highG] =
          splitNibbles(vector::ExtractOp::create(b, loc, op.weightWords[0], j));
      auto [lowG8, highG8] =
          splitNibbles(vector::ExtractOp::create(b, loc, op.weightWords[1], j));
      weightOperands.push_back(rowsOf(i8x4x4, {lowG, lowG8, highG, highG8}));
    }
    for (int64_t n = 0; n < tokenTiles; ++n) {
      Value sums = getMagicSums();
      for (int64_t j = 0; j < wordsPerStep; ++j) {
        Value actOperand = rowsOf(
            i8x2x4,
            {asBytes(vector::ExtractOp::create(b, loc, op.actWords[2 * n], j)),
             asBytes(vector::ExtractOp::create(b, loc, op.actWords[2 * n + 1],
                                               j))});
        sums = nvgpu::MmaSyncOp::create(
            b, loc, weightOperands[j], actOperand, sums,
            ArrayRef<int64_t>{Kernel::kMmaColumns, Kernel::kMmaTokens,
                              Kernel::kMmaStepChannels / wordsPerStep});
      }
      for (int64_t half = 0; half < 2; ++half) {
        for (int64_t e = 0; e < 2; ++e) {
          Value sum = sumFromMagicBits(vector::ExtractOp::create(
              b, loc, sums, ArrayRef<int64_t>{half, e}));
          Value scale = arith::MulFOp::create(b, loc, op.weightScale[half],
                                              op.actScale[2 * n + e]);
          Value &accumulator = acc[(n * 2 + half) * 2 + e];
          accumulator = arith::AddFOp::create(
              b, loc, accumulator,
              arith::MulFOp::create(b, loc, sum, scale, contract), contract);
        }
      }
    }
  }
}

void DecodeMatmulEmitter::emitMmaWeight(size_t weightIndex, Value block) {
  using Kernel = DecodeMatmulKernel;
  const int64_t numWeights = kernel.outChannels.size();
  const int64_t outChannels = kernel.outChannels[weightIndex];
  const int64_t warpsAlongK = kernel.mmaWarpsAlongK;
  const int64_t tokenTiles = kernel.tokensPerBlock / Kernel::kMmaTokens;
  const int64_t numSteps = kernel.inChannels / Kernel::kMmaStepChannels;
  const int64_t sumsPerLane = tokenTiles * 4;
  weights = func.getArgument(2 * weightIndex);
  weightScales = func.getArgument(2 * weightIndex + 1);
  Value result = func.getArgument(2 * numWeights + 2 + weightIndex);

  Value group = div(lane, 4), quad = rem(lane, 4);
  Value warpAlongK = rem(warp, warpsAlongK);
  Value blockColumn = mul(block, index(kernel.getColumnsPerBlock()));
  Value tileColumn =
      add(blockColumn, mul(div(warp, warpsAlongK), index(Kernel::kMmaColumns)));
  // Rows past N (the last block's spare tiles) and tokens past the step's
  // count clamp to the last ones: they load valid memory and their results
  // are never stored.
  for (int64_t half = 0; half < 2; ++half)
    mmaRows[half] = min(add(tileColumn, add(group, index(8 * half))),
                        index(outChannels - 1));
  loadTokens.clear();
  sumTokens.clear();
  for (int64_t n = 0; n < tokenTiles; ++n) {
    Value tileToken = add(firstToken, index(n * Kernel::kMmaTokens));
    loadTokens.push_back(min(add(tileToken, group), lastToken));
    for (int64_t e = 0; e < 2; ++e)
      sumTokens.push_back(
          min(add(tileToken, add(mul(quad, index(2)), index(e))), lastToken));
  }

  // Warp k of a tile takes steps k, k + warpsAlongK, ...: `unguarded` of
  // them lie below the row's end for every warp, the last one may not.
  const int64_t budget = kMmaLoadRegisters / (8 + 8 * tokenTiles);
  const int64_t unroll =
      std::clamp<int64_t>(budget, 1, kMaxMmaStepsUnrolled);
  const int64_t unguarded = numSteps / warpsAlongK;
  const int64_t perWarp = llvm::divideCeil(numSteps, warpsAlongK);
  const int64_t looped = unguarded / unroll * unroll;
  auto stepOf = [&](Value slot) {
    return add(warpAlongK, mul(slot, index(warpsAlongK)));
  };
  SmallVector<Value> acc(sumsPerLane, f32(0.0f));
  if (looped > 0) {
    auto loop = scf::ForOp::create(
        b, loc, index(0), index(looped), index(unroll), acc,
        [&](OpBuilder &, Location, Value slot, ValueRange carried) {
          SmallVector<Value> loopAcc(carried), steps;
          for (int64_t u = 0; u < unroll; ++u)
            steps.push_back(stepOf(add(slot, index(u))));
          emitMmaSteps(steps, SmallVector<Value>(unroll), loopAcc);
          scf::YieldOp::create(b, loc, loopAcc);
        });
    acc.assign(loop.getResults().begin(), loop.getResults().end());
  }
  SmallVector<Value> tailSteps, tailValid;
  for (int64_t slot = looped; slot < perWarp; ++slot) {
    Value step = stepOf(index(slot));
    tailSteps.push_back(step);
    tailValid.push_back(slot < unguarded ? Value()
                                         : less(step, index(numSteps)));
  }
  if (!tailSteps.empty())
    emitMmaSteps(tailSteps, tailValid, acc);

  // The warps of a tile add up their sums through shared memory: lane l of
  // warp w writes sum i at (w * sumsPerLane + i) * 32 + l.
  auto partialIndex = [&](Value sourceWarp, Value sumIndex, Value sumLane) {
    return add(mul(add(mul(sourceWarp, index(sumsPerLane)), sumIndex),
                   index(kWarpLanes)),
               sumLane);
  };
  for (int64_t i = 0; i < sumsPerLane; ++i)
    memref::StoreOp::create(b, loc, acc[i], partialSums,
                            ValueRange{partialIndex(warp, index(i), lane)});
  gpu::BarrierOp::create(b, loc);
  const int64_t tileOutputs = sumsPerLane * kWarpLanes;
  const int64_t outputs =
      tileOutputs * (Kernel::kWarpsPerBlock / warpsAlongK);
  const int64_t threads = Kernel::kWarpsPerBlock * kWarpLanes;
  Value nibbleScale = f32(kNibbleScale);
  for (int64_t first = 0; first < outputs; first += threads) {
    Value output = add(thread, index(first));
    Value tile = div(output, tileOutputs);
    Value inTile = rem(output, tileOutputs);
    Value sumIndex = div(inTile, kWarpLanes);
    Value sumLane = rem(inTile, kWarpLanes);
    // Sum i = (n * 2 + half) * 2 + e of lane l: row l / 4 + 8 * half of
    // the tile, token 8 * n + 2 * (l % 4) + e. Threads past the outputs
    // (fewer than the block's threads at 8 tokens) read nothing.
    Value row = add(add(blockColumn, mul(tile, index(Kernel::kMmaColumns))),
                    add(div(sumLane, 4), mul(rem(div(sumIndex, 2), 2),
                                             index(8))));
    Value token = add(
        add(firstToken, mul(div(sumIndex, 4), index(Kernel::kMmaTokens))),
        add(mul(rem(sumLane, 4), index(2)), rem(sumIndex, 2)));
    Value inRange = arith::AndIOp::create(
        b, loc, less(output, index(outputs)),
        arith::AndIOp::create(b, loc, less(row, index(outChannels)),
                              less(token, tokens)));
    auto store = scf::IfOp::create(b, loc, inRange, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(store.thenBlock());
    Value sum = f32(0.0f);
    for (int64_t k = 0; k < warpsAlongK; ++k) {
      Value sourceWarp = add(mul(tile, index(warpsAlongK)), index(k));
      Value partial = memref::LoadOp::create(
          b, loc, partialSums,
          ValueRange{partialIndex(sourceWarp, sumIndex, sumLane)});
      sum = arith::AddFOp::create(b, loc, sum, partial);
    }
    Value value = arith::MulFOp::create(b, loc, sum, nibbleScale);
    if (!kernel.resultType.isF32())
      value = arith::TruncFOp::create(b, loc, kernel.resultType, value);
    memref::StoreOp::create(b, loc, value, result,
                            ValueRange{add(mul(token, index(outChannels)), row)});
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
      {int32_t(DecodeMatmulKernel::kWarpsPerBlock * kWarpLanes), 1, 1}));
  // Tensor-core kernels: every lane's sums of every warp, in f32.
  if (kernel.mmaWarpsAlongK)
    func.addWorkgroupAttribution(
        MemRefType::get(
            {DecodeMatmulKernel::kWarpsPerBlock * kWarpLanes * 4 *
             (kernel.tokensPerBlock / DecodeMatmulKernel::kMmaTokens)},
            builder.getF32Type(), AffineMap(),
            gpu::AddressSpaceAttr::get(builder.getContext(),
                                       gpu::AddressSpace::Workgroup)),
        loc);

  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(&func.getBody().front());
  DecodeMatmulEmitter(builder, loc, kernel).emit(func);
  gpu::ReturnOp::create(builder, loc);
  return func;
}
