//===- PrefillAttentionKernel.cpp - prompt attention on tensor cores ------===//
//
// Builds the prefill attention kernel as a gpu.func of arith/math/memref/
// scf/vector ops, `nvgpu.mma.sync` on TF32 (m16n8k8) and NVVM's TF32
// rounding.
//
// A warp owns 16 query rows of one head; the block's 64 rows wait in shared
// memory, from where each step of 8 channels becomes the A operands of
// q . k once per tile (in registers they would leave too few for the rest).
// Each tile of kBlockKeys positions is read once per thread block: its 4- or
// 8-bit codes become f32 in shared memory with the scales beside them. All
// shared rows are padded by 4 floats, so that the operands a warp reads hit
// 32 different banks.
//
// Fragments (PTX ISA, mma.m16n8k8 .tf32): lane l is row l/4 (and l/4 + 8)
// of A and C and column l/4 of B; it holds A columns l%4 and l%4 + 4, B rows
// l%4 and l%4 + 4, and C columns 2(l%4) and 2(l%4) + 1. The weights of the
// values are the C fragments of q . k: a lane's C columns 2(l%4) and
// 2(l%4) + 1 of an n8 tile become its A columns l%4 and l%4 + 4 of the next
// product when B row r holds the values of position 2(r%4) + r/4 of the
// tile, a reordering of the summed positions that needs no shuffles.
//
// TF32 keeps 10 bits of mantissa. Codes are exact in it; every other
// operand x goes in as hi = rna(x) and lo = rna(x - hi) in two products
// into the same f32 accumulator.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Conversion/LowBitToNVGPU/PrefillAttentionKernel.h"

#include "KernelEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace lowbit;

namespace {
using Kernel = PrefillAttentionKernel;
constexpr int64_t kWarpSize = 32;
constexpr int64_t kThreads = Kernel::kWarpsPerBlock * kWarpSize;
/// Rows, columns and depth of one mma.sync on TF32.
constexpr int64_t kMmaRows = 16;
constexpr int64_t kMmaColumns = 8;
constexpr int64_t kMmaDepth = 8;
/// Floats of padding after each shared-memory row of codes.
constexpr int64_t kRowPadding = 4;
/// Bytes of one global load of codes.
constexpr int64_t kWordBytes = 4;

/// Emits the kernel body; keeps the builder, the thread's coordinates and
/// the buffers in one place.
class PrefillAttentionEmitter : public KernelEmitter {
public:
  PrefillAttentionEmitter(OpBuilder &builder, Location loc,
                          const Kernel &kernel)
      : KernelEmitter(builder, loc), kernel(kernel),
        groupsPerHead(kernel.headDim / kernel.groupSize),
        rowFloats(kernel.headDim + kRowPadding),
        rowBytes(kernel.getChannels() * kernel.bits / 8) {}

  void emit(gpu::GPUFuncOp func);

private:
  Value mulf(Value lhs, Value rhs) {
    return arith::MulFOp::create(b, loc, lhs, rhs);
  }
  Value subf(Value lhs, Value rhs) {
    return arith::SubFOp::create(b, loc, lhs, rhs);
  }
  Value maxf(Value lhs, Value rhs) {
    return arith::MaximumFOp::create(b, loc, lhs, rhs);
  }
  Value exp(Value value) { return math::ExpOp::create(b, loc, value); }
  /// `value` folded with the other lanes of its quad (the lanes that hold
  /// the same C rows) by `combine`.
  Value combineOverQuad(Value value,
                        llvm::function_ref<Value(Value, Value)> combine);
  /// The A operands hi and lo (TF32 parts) of the four f32 values `a`.
  std::pair<Value, Value> splitTF32(ArrayRef<Value> a);
  /// The B operand of the f32 values `first` and `second` (exact in TF32).
  Value operandB(Value first, Value second);
  /// `acc` plus both TF32 parts of `a` times `b`.
  Value multiplyAccumulate(std::pair<Value, Value> a, Value b, Value acc);
  /// The f32 accumulator vector of one mma with `values` (row-major 2 x 2).
  Value accumulator(ArrayRef<Value> values);
  /// This lane's C column `e` (0 or 1) of n8 tile `n`: 8n + 2(l%4) + e.
  Value columnOf(int64_t n, int64_t e);
  /// Runs `body` for items 0..items-1, kThreads at a time, one per thread.
  void emitForEachItem(int64_t items, llvm::function_ref<void(Value)> body);
  /// Copies the codes and scales of positions tileStart.. of one cache
  /// region to shared memory, as f32.
  void emitLoadTile(Value codeWords, Value scaleTable, Value tileStart,
                    Value sharedCodes, Value sharedScales);
  /// q . k of the tile, scaled and masked: the C fragments of the warp's
  /// kBlockKeys / 8 n8 tiles, row-major 2 x 2 per tile.
  SmallVector<Value> emitScores(Value tileStart);
  /// Adds the weights `weights` (C fragments) times the tile's values to
  /// the output accumulators `out`.
  void emitWeightedValues(ArrayRef<Value> weights, MutableArrayRef<Value> out);

  const Kernel &kernel;
  const int64_t groupsPerHead, rowFloats, rowBytes;

  Value rows, start, lastPosition;
  Value queries, keyCodes, keyScales, valueCodes, valueScales;
  Value thread, quad, groupRow;
  /// This lane's two query rows, their positions, and the offsets of their
  /// channel l%4 in `queries`.
  Value queryRows[2], queryPositions[2], queryOffsets[2];
  /// The first channel of the head in the query rows and in the cache rows.
  Value queryBase, cacheBase;
};
} // namespace

int64_t PrefillAttentionKernel::getSharedMemoryBytes() const {
  int64_t rowFloats = headDim + kRowPadding;
  int64_t groups = headDim / groupSize;
  return 4 *
         (kBlockQueries * rowFloats + 2 * kBlockKeys * (rowFloats + groups));
}

std::string PrefillAttentionKernel::getName() const {
  return llvm::formatv("tc_prefill_attention_d{0}_h{1}_kv{2}_b{3}_g{4}_l{5}",
                       headDim, numHeads, numKVHeads, bits, groupSize,
                       maxLength)
      .str();
}

std::string PrefillAttentionKernel::checkSupported() const {
  if (bits != 4 && bits != 8)
    return llvm::formatv("{0}-bit caches are not supported; 4 and 8 are", bits)
        .str();
  if (headDim <= 0 || headDim % kMmaDepth != 0 || headDim > kMaxHeadDim)
    return llvm::formatv("heads of {0} channels are not supported; a "
                         "multiple of {1} up to {2} is",
                         headDim, kMmaDepth, kMaxHeadDim)
        .str();
  if (numKVHeads <= 0 || numHeads % numKVHeads != 0)
    return llvm::formatv("{0} heads do not share {1} KV heads evenly", numHeads,
                         numKVHeads)
        .str();
  if (groupSize <= 0 || groupSize % kMmaDepth != 0 || headDim % groupSize != 0)
    return llvm::formatv("scale groups of {0} channels are not a multiple of "
                         "{1} that divides the heads of {2}",
                         groupSize, kMmaDepth, headDim)
        .str();
  if (maxLength <= 0)
    return "the cache holds no positions";
  return "";
}

Value PrefillAttentionEmitter::combineOverQuad(
    Value value, llvm::function_ref<Value(Value, Value)> combine) {
  for (int32_t offset : {1, 2}) {
    Value other = gpu::ShuffleOp::create(b, loc, value, i32(offset),
                                         i32(kWarpSize), gpu::ShuffleMode::XOR)
                      .getShuffleResult();
    value = combine(value, other);
  }
  return value;
}

std::pair<Value, Value> PrefillAttentionEmitter::splitTF32(ArrayRef<Value> a) {
  SmallVector<Value> high, low;
  auto round = [&](Value value) -> Value {
    Value bits = NVVM::ConvertFloatToTF32Op::create(
        b, loc, b.getI32Type(), value, NVVM::FPRoundingMode::RNA);
    return arith::BitcastOp::create(b, loc, b.getF32Type(), bits);
  };
  for (Value part : a) {
    Value rounded = round(part);
    high.push_back(rounded);
    low.push_back(round(subf(part, rounded)));
  }
  auto type = VectorType::get({4, 1}, b.getF32Type());
  return {vector::FromElementsOp::create(b, loc, type, high),
          vector::FromElementsOp::create(b, loc, type, low)};
}

Value PrefillAttentionEmitter::operandB(Value first, Value second) {
  return vector::FromElementsOp::create(b, loc,
                                        VectorType::get({2, 1}, b.getF32Type()),
                                        ValueRange{first, second});
}

Value PrefillAttentionEmitter::multiplyAccumulate(std::pair<Value, Value> a,
                                                  Value operand, Value acc) {
  for (Value part : {a.first, a.second})
    acc = nvgpu::MmaSyncOp::create(
        b, loc, part, operand, acc,
        ArrayRef<int64_t>{kMmaRows, kMmaColumns, kMmaDepth},
        /*tf32Enabled=*/true);
  return acc;
}

Value PrefillAttentionEmitter::accumulator(ArrayRef<Value> values) {
  return vector::FromElementsOp::create(
      b, loc, VectorType::get({2, 2}, b.getF32Type()), values);
}

Value PrefillAttentionEmitter::columnOf(int64_t n, int64_t e) {
  return add(index(n * kMmaColumns + e), mul(quad, index(2)));
}

void PrefillAttentionEmitter::emitForEachItem(
    int64_t items, llvm::function_ref<void(Value)> body) {
  for (int64_t first = 0; first < items; first += kThreads) {
    Value item = add(thread, index(first));
    if (first + kThreads <= items) {
      body(item);
      continue;
    }
    auto inRange = scf::IfOp::create(b, loc, less(item, index(items)),
                                     /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(inRange.thenBlock());
    body(item);
  }
}

void PrefillAttentionEmitter::emitLoadTile(Value codeWords, Value scaleTable,
                                           Value tileStart, Value sharedCodes,
                                           Value sharedScales) {
  // Codes of one word, and words of one head's row.
  const int64_t codesPerWord = kWordBytes * 8 / kernel.bits;
  const int64_t wordsPerRow = kernel.headDim / codesPerWord;
  Value firstWord = div(cacheBase, codesPerWord);
  // Positions past the cache's last written row read that row instead: they
  // are masked, but must not read uninitialised memory.
  auto positionOf = [&](Value key) {
    return min(add(tileStart, key), lastPosition);
  };
  emitForEachItem(Kernel::kBlockKeys * wordsPerRow, [&](Value item) {
    Value key = div(item, wordsPerRow);
    Value word = rem(item, wordsPerRow);
    Value packed = memref::LoadOp::create(
        b, loc, codeWords,
        ValueRange{add(mul(positionOf(key), index(rowBytes / kWordBytes)),
                       add(firstWord, word))});
    // Code i of the word is bits i*bits.. (channel 2j in the low nibble of
    // byte j): shifted to the top, then arithmetically back down.
    SmallVector<Value> codes;
    for (int64_t i = 0; i < codesPerWord; ++i) {
      Value top = arith::ShLIOp::create(b, loc, packed,
                                        i32(32 - (i + 1) * kernel.bits));
      Value code = arith::ShRSIOp::create(b, loc, top, i32(32 - kernel.bits));
      codes.push_back(arith::SIToFPOp::create(b, loc, b.getF32Type(), code));
    }
    Value offset =
        add(mul(key, index(rowFloats)), mul(word, index(codesPerWord)));
    auto four = VectorType::get({4}, b.getF32Type());
    for (int64_t i = 0; i < codesPerWord; i += 4)
      vector::StoreOp::create(b, loc,
                              vector::FromElementsOp::create(
                                  b, loc, four, ArrayRef(codes).slice(i, 4)),
                              sharedCodes, ValueRange{add(offset, index(i))},
                              /*nontemporal=*/false, llvm::MaybeAlign(16));
  });
  const int64_t groupsPerRow = kernel.getChannels() / kernel.groupSize;
  emitForEachItem(Kernel::kBlockKeys * groupsPerHead, [&](Value item) {
    Value key = div(item, groupsPerHead);
    Value groupOfHead = rem(item, groupsPerHead);
    Value group = add(div(cacheBase, kernel.groupSize), groupOfHead);
    Value scale = memref::LoadOp::create(
        b, loc, scaleTable,
        ValueRange{add(mul(positionOf(key), index(groupsPerRow)), group)});
    memref::StoreOp::create(b, loc, scale, sharedScales, ValueRange{item});
  });
}

SmallVector<Value> PrefillAttentionEmitter::emitScores(Value tileStart) {
  const int64_t tiles = Kernel::kBlockKeys / kMmaColumns;
  const int64_t stepsPerGroup = kernel.groupSize / kMmaDepth;
  const float scoreScale = 1.0f / std::sqrt(static_cast<float>(kernel.headDim));
  Value zero = f32(0.0f);
  Value minusInfinity = f32(-std::numeric_limits<float>::infinity());
  // Per n8 tile of positions: the sums of q . k so far, C layout.
  SmallVector<SmallVector<Value>> sums(tiles, SmallVector<Value>(4, zero));
  for (int64_t group = 0; group < groupsPerHead; ++group) {
    // One scale per position and group: the group's products are summed
    // apart, then scaled.
    SmallVector<Value> partial(tiles, accumulator(SmallVector<Value>(4, zero)));
    for (int64_t s = 0; s < stepsPerGroup; ++s) {
      int64_t step = group * stepsPerGroup + s;
      // A: rows l/4 and l/4 + 8, channels l%4 and l%4 + 4 of the step.
      SmallVector<Value> a;
      for (int64_t second = 0; second < 2; ++second)
        for (int64_t half = 0; half < 2; ++half)
          a.push_back(memref::LoadOp::create(
              b, loc, queries,
              ValueRange{add(queryOffsets[half],
                             index(step * kMmaDepth + 4 * second))}));
      std::pair<Value, Value> operandA = splitTF32(a);
      for (int64_t n = 0; n < tiles; ++n) {
        // B: row k of the n8 tile is channel k, column j position n*8 + j.
        Value channel =
            add(mul(add(index(n * kMmaColumns), groupRow), index(rowFloats)),
                add(quad, index(step * kMmaDepth)));
        Value first = memref::LoadOp::create(b, loc, keyCodes, channel);
        Value second =
            memref::LoadOp::create(b, loc, keyCodes, add(channel, index(4)));
        Value operand = operandB(first, second);
        partial[n] = multiplyAccumulate(operandA, operand, partial[n]);
      }
    }
    for (int64_t n = 0; n < tiles; ++n) {
      for (int64_t e = 0; e < 2; ++e) {
        Value key = columnOf(n, e);
        Value scale = memref::LoadOp::create(
            b, loc, keyScales,
            ValueRange{add(mul(key, index(groupsPerHead)), index(group))});
        for (int64_t half = 0; half < 2; ++half) {
          Value value = vector::ExtractOp::create(b, loc, partial[n],
                                                  ArrayRef<int64_t>{half, e});
          sums[n][2 * half + e] = arith::AddFOp::create(
              b, loc, sums[n][2 * half + e], mulf(value, scale));
        }
      }
    }
  }
  SmallVector<Value> scores;
  for (int64_t n = 0; n < tiles; ++n) {
    for (int64_t half = 0; half < 2; ++half) {
      for (int64_t e = 0; e < 2; ++e) {
        Value position = add(tileStart, columnOf(n, e));
        Value visible = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule,
                                              position, queryPositions[half]);
        scores.push_back(arith::SelectOp::create(
            b, loc, visible, mulf(sums[n][2 * half + e], f32(scoreScale)),
            minusInfinity));
      }
    }
  }
  return scores;
}

void PrefillAttentionEmitter::emitWeightedValues(ArrayRef<Value> weights,
                                                 MutableArrayRef<Value> out) {
  const int64_t tilesPerGroup = kernel.groupSize / kMmaColumns;
  for (int64_t step = 0; step < Kernel::kBlockKeys / kMmaDepth; ++step) {
    // A column q (q < 4) is position 2q of the 8, column q + 4 position
    // 2q + 1: this lane's C columns of n8 tile `step`.
    ArrayRef<Value> c = weights.slice(4 * step, 4);
    Value positions[2] = {columnOf(step, 0), columnOf(step, 1)};
    for (int64_t group = 0; group < groupsPerHead; ++group) {
      Value scales[2];
      for (int64_t i = 0; i < 2; ++i)
        scales[i] = memref::LoadOp::create(
            b, loc, valueScales,
            ValueRange{
                add(mul(positions[i], index(groupsPerHead)), index(group))});
      std::pair<Value, Value> operandA =
          splitTF32({mulf(c[0], scales[0]), mulf(c[2], scales[0]),
                     mulf(c[1], scales[1]), mulf(c[3], scales[1])});
      for (int64_t t = 0; t < tilesPerGroup; ++t) {
        int64_t n = group * tilesPerGroup + t;
        Value column = add(groupRow, index(n * kMmaColumns));
        auto codeAt = [&](Value position) -> Value {
          return memref::LoadOp::create(
              b, loc, valueCodes,
              ValueRange{add(mul(position, index(rowFloats)), column)});
        };
        Value first = codeAt(positions[0]);
        Value second = codeAt(positions[1]);
        out[n] = multiplyAccumulate(operandA, operandB(first, second), out[n]);
      }
    }
  }
}

void PrefillAttentionEmitter::emit(gpu::GPUFuncOp func) {
  Value query = func.getArgument(0);
  Value keyRegion = func.getArgument(1), valueRegion = func.getArgument(2);
  Value out = func.getArgument(3);
  rows =
      arith::IndexCastOp::create(b, loc, b.getIndexType(), func.getArgument(4));
  start =
      arith::IndexCastOp::create(b, loc, b.getIndexType(), func.getArgument(5));
  Value lastRow = arith::SubIOp::create(b, loc, rows, index(1));
  lastPosition = add(start, lastRow);

  // Shared memory: query rows, key codes, value codes, key scales, value
  // scales.
  const int64_t queryFloats = Kernel::kBlockQueries * rowFloats;
  const int64_t codeFloats = Kernel::kBlockKeys * rowFloats;
  const int64_t scaleFloats = Kernel::kBlockKeys * groupsPerHead;
  Value shared = getDynamicSharedMemory(kernel.getSharedMemoryBytes());
  Type f32Type = b.getF32Type();
  queries = viewAs(shared, 0, queryFloats, f32Type);
  int64_t offset = 4 * queryFloats;
  for (Value *view : {&keyCodes, &valueCodes}) {
    *view = viewAs(shared, offset, codeFloats, f32Type);
    offset += 4 * codeFloats;
  }
  for (Value *view : {&keyScales, &valueScales}) {
    *view = viewAs(shared, offset, scaleFloats, f32Type);
    offset += 4 * scaleFloats;
  }
  assert(offset == kernel.getSharedMemoryBytes() &&
         "the views must fill getSharedMemoryBytes()");
  // The cache regions: codes as words, then f32 scales.
  const int64_t codeBytes = kernel.maxLength * rowBytes;
  const int64_t scaleEntries =
      kernel.maxLength * kernel.getChannels() / kernel.groupSize;
  Value keyWords = viewAs(keyRegion, 0, codeBytes / kWordBytes, b.getI32Type());
  Value keyScaleTable = viewAs(keyRegion, codeBytes, scaleEntries, f32Type);
  Value valueWords =
      viewAs(valueRegion, 0, codeBytes / kWordBytes, b.getI32Type());
  Value valueScaleTable = viewAs(valueRegion, codeBytes, scaleEntries, f32Type);

  thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value lane = rem(thread, kWarpSize);
  quad = rem(lane, 4);
  groupRow = div(lane, 4);
  Value warp = div(thread, kWarpSize);
  Value head = gpu::BlockIdOp::create(b, loc, gpu::Dimension::y);
  Value blockRow = mul(gpu::BlockIdOp::create(b, loc, gpu::Dimension::x),
                       index(Kernel::kBlockQueries));
  queryBase = mul(head, index(kernel.headDim));
  cacheBase = mul(div(head, kernel.numHeads / kernel.numKVHeads),
                  index(kernel.headDim));
  const int64_t queryChannels = kernel.numHeads * kernel.headDim;
  for (int64_t half = 0; half < 2; ++half) {
    Value rowInBlock =
        add(mul(warp, index(kMmaRows)), add(groupRow, index(8 * half)));
    queryRows[half] = add(blockRow, rowInBlock);
    queryPositions[half] = add(start, queryRows[half]);
    queryOffsets[half] = add(mul(rowInBlock, index(rowFloats)), quad);
  }

  // The block's query rows to shared memory, 4 channels a copy; rows past
  // the last read it.
  const int64_t copiesPerRow = kernel.headDim / 4;
  auto four = VectorType::get({4}, f32Type);
  emitForEachItem(Kernel::kBlockQueries * copiesPerRow, [&](Value item) {
    Value row = div(item, copiesPerRow);
    Value channel = mul(rem(item, copiesPerRow), index(4));
    Value source = min(add(blockRow, row), lastRow);
    Value values =
        vector::LoadOp::create(b, loc, four, query,
                               ValueRange{add(mul(source, index(queryChannels)),
                                              add(queryBase, channel))});
    vector::StoreOp::create(
        b, loc, values, queries,
        ValueRange{add(mul(row, index(rowFloats)), channel)},
        /*nontemporal=*/false, llvm::MaybeAlign(16));
  });
  // Positions up to that of the block's last row.
  Value blockEnd = min(add(blockRow, index(Kernel::kBlockQueries)), rows);
  Value tiles = arith::CeilDivUIOp::create(b, loc, add(start, blockEnd),
                                           index(Kernel::kBlockKeys));
  const int64_t outTiles = kernel.headDim / kMmaColumns;
  Value zero = f32(0.0f);
  SmallVector<Value> initial(outTiles,
                             accumulator(SmallVector<Value>(4, zero)));
  // Per row half: the running maximum and this lane's sum of weights.
  initial.append({f32(-std::numeric_limits<float>::infinity()),
                  f32(-std::numeric_limits<float>::infinity()), zero, zero});
  auto loop = scf::ForOp::create(
      b, loc, index(0), tiles, index(1), initial,
      [&](OpBuilder &, Location, Value tile, ValueRange carried) {
        SmallVector<Value> acc(carried.take_front(outTiles));
        Value maximum[2] = {carried[outTiles], carried[outTiles + 1]};
        Value total[2] = {carried[outTiles + 2], carried[outTiles + 3]};
        Value tileStart = mul(tile, index(Kernel::kBlockKeys));
        // The previous tile is consumed before it is overwritten.
        gpu::BarrierOp::create(b, loc);
        emitLoadTile(keyWords, keyScaleTable, tileStart, keyCodes, keyScales);
        emitLoadTile(valueWords, valueScaleTable, tileStart, valueCodes,
                     valueScales);
        gpu::BarrierOp::create(b, loc);

        SmallVector<Value> scores = emitScores(tileStart);
        // Online softmax per row: the new maximum, the factor that rescales
        // what was summed under the old one, and the weights.
        Value rescale[2];
        for (int64_t half = 0; half < 2; ++half) {
          Value largest = maximum[half];
          for (int64_t n = 0; n < Kernel::kBlockKeys / kMmaColumns; ++n)
            for (int64_t e = 0; e < 2; ++e)
              largest = maxf(largest, scores[4 * n + 2 * half + e]);
          largest = combineOverQuad(
              largest, [&](Value lhs, Value rhs) { return maxf(lhs, rhs); });
          rescale[half] = exp(subf(maximum[half], largest));
          Value sum = mulf(total[half], rescale[half]);
          for (int64_t n = 0; n < Kernel::kBlockKeys / kMmaColumns; ++n) {
            for (int64_t e = 0; e < 2; ++e) {
              Value &score = scores[4 * n + 2 * half + e];
              score = exp(subf(score, largest));
              sum = arith::AddFOp::create(b, loc, sum, score);
            }
          }
          maximum[half] = largest;
          total[half] = sum;
        }
        for (Value &tileAcc : acc) {
          SmallVector<Value> values;
          for (int64_t half = 0; half < 2; ++half)
            for (int64_t e = 0; e < 2; ++e)
              values.push_back(
                  mulf(vector::ExtractOp::create(b, loc, tileAcc,
                                                 ArrayRef<int64_t>{half, e}),
                       rescale[half]));
          tileAcc = accumulator(values);
        }
        emitWeightedValues(scores, acc);
        acc.append({maximum[0], maximum[1], total[0], total[1]});
        scf::YieldOp::create(b, loc, acc);
      });

  auto pairType = VectorType::get({2}, f32Type);
  for (int64_t half = 0; half < 2; ++half) {
    Value total = combineOverQuad(
        loop.getResult(outTiles + 2 + half), [&](Value lhs, Value rhs) {
          return arith::AddFOp::create(b, loc, lhs, rhs);
        });
    auto store = scf::IfOp::create(b, loc, less(queryRows[half], rows),
                                   /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(store.thenBlock());
    Value rowBase = add(mul(queryRows[half], index(queryChannels)), queryBase);
    for (int64_t n = 0; n < outTiles; ++n) {
      SmallVector<Value> pair;
      for (int64_t e = 0; e < 2; ++e)
        pair.push_back(arith::DivFOp::create(
            b, loc,
            vector::ExtractOp::create(b, loc, loop.getResult(n),
                                      ArrayRef<int64_t>{half, e}),
            total));
      vector::StoreOp::create(
          b, loc, vector::FromElementsOp::create(b, loc, pairType, pair), out,
          ValueRange{
              add(rowBase, add(index(n * kMmaColumns), mul(quad, index(2))))},
          /*nontemporal=*/false, llvm::MaybeAlign(8));
    }
  }
}

gpu::GPUFuncOp
lowbit::buildPrefillAttentionKernel(OpBuilder &builder, Location loc,
                                    const PrefillAttentionKernel &kernel) {
  auto dynamic = [&](Type element) {
    return MemRefType::get({ShapedType::kDynamic}, element);
  };
  Type f32 = builder.getF32Type(), i8 = builder.getI8Type();
  auto type = builder.getFunctionType({dynamic(f32), dynamic(i8), dynamic(i8),
                                       dynamic(f32), builder.getI32Type(),
                                       builder.getI32Type()},
                                      {});
  declareDynamicSharedMemory(builder, loc);
  auto func = gpu::GPUFuncOp::create(builder, loc, kernel.getName(), type);
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(),
                builder.getUnitAttr());
  func.setKnownBlockSizeAttr(
      builder.getDenseI32ArrayAttr({int32_t(kThreads), 1, 1}));

  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(&func.getBody().front());
  PrefillAttentionEmitter(builder, loc, kernel).emit(func);
  gpu::ReturnOp::create(builder, loc);
  return func;
}
