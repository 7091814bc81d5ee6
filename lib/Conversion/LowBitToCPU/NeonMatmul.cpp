//===- NeonMatmul.cpp - the quantized matmul on AArch64 NEON --------------===//
//
// The matmul kernel for AArch64 with FEAT_DotProd (`sdot`) and FEAT_I8MM
// (`smmla`), in the style of Agile-Quant and KleidiAI: weights stay packed
// in memory in the row-pair layout (getRowPairBytes), and one shift or mask
// turns 16 packed bytes into a 2x8 operand tile of 16 x code, so a 4-bit
// weight costs no more unpacking than that. The INT32 sum of a scale segment
// is shifted back by 4, exactly, before it is scaled, and every output sums
// its segments in the reference executor's order.
//
// Tiles: 4 outputs (two row pairs) by 4 tokens. With `sdot` each token's
// 8-channel chunk is replicated into both halves of a register and dotted
// with a 2x8 weight tile (two outputs per instruction); with `smmla` two
// interleaved token rows (getQuantize lays them out so) multiply a 2x8
// weight tile into a 2x2 block of outputs. Decode (one token) uses `sdot`.
//
//===----------------------------------------------------------------------===//

#include "CPUEmitter.h"
#include "CPUKernels.h"

#include "mlir/Dialect/ArmNeon/ArmNeonDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace lowbit;
using namespace lowbit::cpu;

namespace {
/// Outputs of a tile come in this many row pairs.
constexpr int64_t kTilePairs = 2;
/// Channels one step of the inner loop covers.
constexpr int64_t kStepChannels = 32;

/// Emits the tiles of one NEON matmul kernel.
class NeonMatmulEmitter {
public:
  NeonMatmulEmitter(Emitter &e, QuantizedTensorType act,
                    QuantizedTensorType weight, FloatType resultType,
                    ValueRange args)
      : act(act), weight(weight), resultType(resultType),
        actScales(args[1]), weightScales(args[3]), out(args[4]) {
    channels = weight.getLayout().getNumChannels();
    outputs = weight.getShape()[0];
    actGroup = act.getLayout().getScaleGroupChannels();
    weightGroup = weight.getLayout().getScaleGroupChannels();
    segment = std::gcd(actGroup, weightGroup);
    pairBytes = getRowPairBytes(weight.getLayout());
    actCodes = collapse(e, args[0]);
    weightCodes = collapse(e, args[2]);
  }

  /// Tiles of `pairs` row pairs from pair `firstPair`, over all tokens;
  /// `padded`: the last row of the last pair is padding.
  void emitPairTile(Emitter &e, Value firstPair, int64_t pairs, bool padded,
                    bool matrix) {
    Value numRows = e.rows(out);
    Value two = e.index(2), four = e.index(4);
    if (!matrix) {
      Value quads = arith::SubIOp::create(
          e, numRows, arith::RemUIOp::create(e, numRows, four));
      e.loop(e.index(0), quads, 4, [&](Emitter &e, Value m) {
        emitDotTile(e, m, 4, firstPair, pairs, padded);
      });
      e.loop(quads, numRows, 1, [&](Emitter &e, Value m) {
        emitDotTile(e, m, 1, firstPair, pairs, padded);
      });
      return;
    }
    Value paired = arith::SubIOp::create(
        e, numRows, arith::RemUIOp::create(e, numRows, two));
    Value quads = arith::SubIOp::create(
        e, paired, arith::RemUIOp::create(e, paired, four));
    e.loop(e.index(0), quads, 4, [&](Emitter &e, Value m) {
      emitMatrixTile(e, m, 2, firstPair, pairs, padded);
    });
    e.loop(quads, paired, 2, [&](Emitter &e, Value m) {
      emitMatrixTile(e, m, 1, firstPair, pairs, padded);
    });
    e.loop(paired, numRows, 1, [&](Emitter &e, Value m) {
      emitDotTile(e, m, 1, firstPair, pairs, padded);
    });
  }

private:
  /// `memref` (2-D, contiguous) as 1-D bytes.
  static Value collapse(Emitter &e, Value memref) {
    return memref::CollapseShapeOp::create(
        e, memref, ArrayRef<ReassociationIndices>{{0, 1}});
  }
  VectorType bytes(Emitter &e, int64_t count) {
    return VectorType::get({count}, e.getI8Type());
  }
  VectorType sums(Emitter &e) { return VectorType::get({4}, e.getI32Type()); }
  VectorType floats(Emitter &e) { return VectorType::get({4}, e.getF32Type()); }
  Value splat(Emitter &e, VectorType type, Attribute value) {
    return arith::ConstantOp::create(
        e, type, DenseElementsAttr::get(type, value));
  }

  /// The four 2x8 weight tiles of pair `pair` at channel `k` of a run of
  /// `bits`-bit blocks that starts at channel `runBegin` and byte
  /// `runByte` of a row.
  SmallVector<Value, 4> loadWeightTiles(Emitter &e, Value pair, Value k,
                                        int64_t runBegin, int64_t runByte,
                                        int64_t bits) {
    Value offset =
        e.add(e.add(e.mul(pair, e.index(pairBytes)), e.index(2 * runByte)),
              arith::DivUIOp::create(
                  e, e.mul(arith::SubIOp::create(e, k, e.index(runBegin)),
                           e.index(bits)),
                  e.index(4)));
    auto load = [&](int64_t byte) -> Value {
      return vector::LoadOp::create(e, bytes(e, 16), weightCodes,
                                    ValueRange{e.add(offset, e.index(byte))});
    };
    if (bits == 8)
      return {load(0), load(16), load(32), load(48)};
    VectorType type = bytes(e, 16);
    Value four = splat(e, type, e.getI8IntegerAttr(4));
    Value highMask = splat(e, type, e.getI8IntegerAttr(-16));
    SmallVector<Value, 4> tiles;
    for (int64_t half : {0, 16}) {
      Value packed = load(half);
      tiles.push_back(arith::ShLIOp::create(e, packed, four));
      tiles.push_back(arith::AndIOp::create(e, packed, highMask));
    }
    return tiles;
  }

  /// The 8 activation codes at `offset`, in both halves of a register:
  /// one 64-bit load and broadcast (`ld1r`).
  Value loadReplicated(Emitter &e, Value offset) {
    Value chunk =
        vector::LoadOp::create(e, bytes(e, 8), actCodes, ValueRange{offset});
    Value word = vector::ExtractOp::create(
        e, vector::BitCastOp::create(e, VectorType::get({1}, e.getI64Type()),
                                     chunk),
        0);
    Value both = vector::BroadcastOp::create(
        e, VectorType::get({2}, e.getI64Type()), word);
    return vector::BitCastOp::create(e, bytes(e, 16), both);
  }

  /// The f32 weight scales of the given outputs for the segment at
  /// `first`, as a vector.
  Value loadWeightScales(Emitter &e, ArrayRef<Value> rows, Value first) {
    Value group = arith::DivUIOp::create(e, first, e.index(weightGroup));
    SmallVector<Value, 4> scales;
    for (Value row : rows)
      scales.push_back(e.load(weightScales, {row, group}));
    return vector::FromElementsOp::create(e, floats(e), scales);
  }

  /// The weight row of output `lane` of a tile of `pairs` row pairs from
  /// `firstPair`; the padding row reads as the row before it.
  Value outputRow(Emitter &e, Value firstPair, int64_t lane, bool padded,
                  int64_t pairs) {
    int64_t pair = lane / 2, half = lane % 2;
    if (padded && pair == pairs - 1)
      half = 0;
    return e.add(e.mul(e.add(firstPair, e.index(pair)), e.index(2)),
                 e.index(half));
  }

  /// Iterates the scale segments of every run: `body` gets the run and
  /// the segment's first channel and returns the next carried sums.
  SmallVector<Value> forEachSegment(
      Emitter &e, SmallVector<Value> carried,
      llvm::function_ref<SmallVector<Value>(Emitter &, int64_t, int64_t,
                                            int64_t, Value, ValueRange)>
          body) {
    int64_t runByte = 0;
    for (auto [begin, end, bits] : getBitRuns(weight.getLayout())) {
      int64_t runBegin = begin, runBits = bits, runFirstByte = runByte;
      carried = llvm::to_vector_of<Value>(
          e.loop(e.index(begin), e.index(end), segment, carried,
                 [&](Emitter &e, Value first, ValueRange sums) {
                   return body(e, runBegin, runFirstByte, runBits, first,
                               sums);
                 })
              .getResults());
      runByte += (end - begin) * bits / 8;
    }
    return carried;
  }

  /// The INT32 sums `acc` of a segment of `bits`-bit weights as f32.
  Value segmentSums(Emitter &e, Value acc, int64_t bits) {
    if (bits == 4)
      acc = arith::ShRSIOp::create(e, acc,
                                   splat(e, sums(e), e.getI32IntegerAttr(4)));
    return arith::SIToFPOp::create(e, floats(e), acc);
  }

  /// Tokens m.. m+rows-1 (plain rows) times `pairs` row pairs, with `sdot`:
  /// accumulator lanes are (output 2p, 2p, 2p+1, 2p+1), two halves of each
  /// output's 8-channel dot products.
  void emitDotTile(Emitter &e, Value m, int64_t rows, Value firstPair,
                   int64_t pairs, bool padded) {
    SmallVector<Value> zero(rows, splat(e, floats(e), e.getF32FloatAttr(0)));
    SmallVector<Value> totals = forEachSegment(
        e, zero,
        [&](Emitter &e, int64_t runBegin, int64_t runByte, int64_t bits,
            Value first, ValueRange current) -> SmallVector<Value> {
          SmallVector<Value> accs(rows * pairs,
                                  splat(e, sums(e), e.getI32IntegerAttr(0)));
          accs = llvm::to_vector_of<Value>(
              e.loop(first, e.add(first, e.index(segment)), kStepChannels,
                     accs,
                     [&](Emitter &e, Value k, ValueRange acc) {
                       SmallVector<SmallVector<Value, 4>> tiles;
                       for (int64_t p = 0; p < pairs; ++p)
                         tiles.push_back(loadWeightTiles(
                             e, e.add(firstPair, e.index(p)), k, runBegin,
                             runByte, bits));
                       SmallVector<Value> next(acc);
                       for (int64_t r = 0; r < rows; ++r) {
                         Value base = e.add(
                             e.mul(e.add(m, e.index(r)), e.index(channels)), k);
                         for (int64_t q = 0; q < 4; ++q) {
                           Value chunk =
                               loadReplicated(e, e.add(base, e.index(8 * q)));
                           for (int64_t p = 0; p < pairs; ++p)
                             next[r * pairs + p] = arm_neon::SdotOp::create(
                                 e, sums(e), next[r * pairs + p], tiles[p][q],
                                 chunk);
                         }
                       }
                       return next;
                     })
                  .getResults());
          SmallVector<Value, 4> rowsOfLanes;
          for (int64_t lane = 0; lane < 4; ++lane)
            rowsOfLanes.push_back(
                outputRow(e, firstPair, lane % (2 * pairs), padded, pairs));
          Value weightScale = loadWeightScales(e, rowsOfLanes, first);
          SmallVector<Value> next;
          for (int64_t r = 0; r < rows; ++r) {
            // Lane pairs add up to outputs: (2p, 2p+1, 2p+2, 2p+3).
            Value lhs = accs[r * pairs];
            Value rhs = pairs > 1 ? accs[r * pairs + 1] : lhs;
            Value even = vector::ShuffleOp::create(e, lhs, rhs,
                                                   ArrayRef<int64_t>{0, 2, 4, 6});
            Value odd = vector::ShuffleOp::create(e, lhs, rhs,
                                                  ArrayRef<int64_t>{1, 3, 5, 7});
            Value dots = segmentSums(e, e.add(even, odd), bits);
            Value actScale = vector::BroadcastOp::create(
                e, floats(e),
                e.load(actScales,
                       {e.add(m, e.index(r)),
                        arith::DivUIOp::create(e, first, e.index(actGroup))}));
            next.push_back(e.addf(current[r],
                                  e.mulf(e.mulf(dots, actScale), weightScale)));
          }
          return next;
        });
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t lane = 0; lane < 2 * pairs; ++lane) {
        if (padded && lane == 2 * pairs - 1)
          continue;
        Value value = vector::ExtractOp::create(e, totals[r], lane);
        Value column = e.add(e.mul(firstPair, e.index(2)), e.index(lane));
        e.store(e.roundTo(value, resultType), out,
                {e.add(m, e.index(r)), column});
      }
  }

  /// Token row pairs m.., `rowPairs` of them (interleaved by getQuantize),
  /// times `pairs` row pairs of weights, with `smmla`: accumulator lanes
  /// are (token 2i, output 2p), (2i, 2p+1), (2i+1, 2p), (2i+1, 2p+1).
  void emitMatrixTile(Emitter &e, Value m, int64_t rowPairs, Value firstPair,
                      int64_t pairs, bool padded) {
    int64_t blocks = rowPairs * pairs;
    SmallVector<Value> zero(blocks, splat(e, floats(e), e.getF32FloatAttr(0)));
    SmallVector<Value> totals = forEachSegment(
        e, zero,
        [&](Emitter &e, int64_t runBegin, int64_t runByte, int64_t bits,
            Value first, ValueRange current) -> SmallVector<Value> {
          SmallVector<Value> accs(blocks,
                                  splat(e, sums(e), e.getI32IntegerAttr(0)));
          accs = llvm::to_vector_of<Value>(
              e.loop(first, e.add(first, e.index(segment)), kStepChannels,
                     accs,
                     [&](Emitter &e, Value k, ValueRange acc) {
                       SmallVector<SmallVector<Value, 4>> tiles;
                       for (int64_t p = 0; p < pairs; ++p)
                         tiles.push_back(loadWeightTiles(
                             e, e.add(firstPair, e.index(p)), k, runBegin,
                             runByte, bits));
                       SmallVector<Value> next(acc);
                       for (int64_t i = 0; i < rowPairs; ++i) {
                         // Chunk c / 8 of a row pair lies at 16 * (c / 8).
                         Value base = e.add(
                             e.mul(e.add(m, e.index(2 * i)), e.index(channels)),
                             e.mul(k, e.index(2)));
                         for (int64_t q = 0; q < 4; ++q) {
                           Value tokens = vector::LoadOp::create(
                               e, bytes(e, 16), actCodes,
                               ValueRange{e.add(base, e.index(16 * q))});
                           for (int64_t p = 0; p < pairs; ++p)
                             next[i * pairs + p] = arm_neon::SmmlaOp::create(
                                 e, sums(e), next[i * pairs + p], tokens,
                                 tiles[p][q]);
                         }
                       }
                       return next;
                     })
                  .getResults());
          Value group = arith::DivUIOp::create(e, first, e.index(actGroup));
          SmallVector<Value> next;
          for (int64_t i = 0; i < rowPairs; ++i) {
            Value top = e.load(actScales, {e.add(m, e.index(2 * i)), group});
            Value bottom =
                e.load(actScales, {e.add(m, e.index(2 * i + 1)), group});
            Value actScale = vector::FromElementsOp::create(
                e, floats(e), ValueRange{top, top, bottom, bottom});
            for (int64_t p = 0; p < pairs; ++p) {
              Value row0 = outputRow(e, firstPair, 2 * p, padded, pairs);
              Value row1 = outputRow(e, firstPair, 2 * p + 1, padded, pairs);
              Value weightScale =
                  loadWeightScales(e, {row0, row1, row0, row1}, first);
              Value dots = segmentSums(e, accs[i * pairs + p], bits);
              next.push_back(
                  e.addf(current[i * pairs + p],
                         e.mulf(e.mulf(dots, actScale), weightScale)));
            }
          }
          return next;
        });
    for (int64_t i = 0; i < rowPairs; ++i)
      for (int64_t p = 0; p < pairs; ++p)
        for (int64_t lane = 0; lane < 4; ++lane) {
          if (padded && p == pairs - 1 && lane % 2 == 1)
            continue;
          Value value = vector::ExtractOp::create(e, totals[i * pairs + p], lane);
          Value row = e.add(m, e.index(2 * i + lane / 2));
          Value column = e.add(e.mul(e.add(firstPair, e.index(p)), e.index(2)),
                               e.index(lane % 2));
          e.store(e.roundTo(value, resultType), out, {row, column});
        }
  }

  QuantizedTensorType act, weight;
  FloatType resultType;
  Value actCodes, actScales, weightCodes, weightScales, out;
  int64_t channels, outputs, actGroup, weightGroup, segment, pairBytes;
};
} // namespace

func::FuncOp CPUKernelBuilder::getNeonMatmul(QuantizedTensorType act,
                                             QuantizedTensorType weight,
                                             FloatType resultType) {
  Builder b(module.getContext());
  Type f32 = b.getF32Type(), i8 = b.getI8Type();
  BlockLayoutAttr actLayout = act.getLayout(), weightLayout = weight.getLayout();
  int64_t channels = weightLayout.getNumChannels();
  int64_t outputs = weight.getShape()[0];
  std::string bitsName;
  for (int64_t bits : weightLayout.getBlockBits())
    bitsName += std::to_string(bits);
  bool matrix = isa == CPUMatmulISA::NeonMatrix;
  return getOrCreate(
      llvm::formatv("lowbit_cpu_matmul_{0}x{1}_b{2}_ga{3}_gw{4}_{5}_{6}_{7}",
                    outputs, channels, weightLayout.getBlockSize(),
                    actLayout.getScaleGroupChannels(),
                    weightLayout.getScaleGroupChannels(),
                    bitsName.size() > 24
                        ? llvm::formatv("{0:x}", llvm::hash_value(bitsName)).str()
                        : bitsName,
                    getTypeName(resultType), matrix ? "smmla" : "sdot")
          .str(),
      {rowsOf(channels, i8), rowsOf(actLayout.getScalesPerRow(), f32),
       MemRefType::get({(outputs + 1) / 2, getRowPairBytes(weightLayout)}, i8),
       MemRefType::get({outputs, weightLayout.getScalesPerRow()}, f32),
       rowsOf(outputs, f32)},
      [&](OpBuilder &builder, Location loc, ValueRange args) {
        Emitter e(builder, loc);
        NeonMatmulEmitter tiles(e, act, weight, resultType, args);
        // Output pairs outside, tokens inside: a tile of packed weight rows
        // is read from memory once and reused from cache for every token.
        int64_t fullPairs = outputs / 2;
        int64_t tiled = fullPairs - fullPairs % kTilePairs;
        e.loop(0, tiled, kTilePairs, [&](Emitter &e, Value pair) {
          tiles.emitPairTile(e, pair, kTilePairs, /*padded=*/false, matrix);
        });
        if (fullPairs > tiled)
          tiles.emitPairTile(e, e.index(tiled), fullPairs - tiled,
                             /*padded=*/false, matrix);
        if (outputs % 2)
          tiles.emitPairTile(e, e.index(fullPairs), 1, /*padded=*/true, matrix);
      });
}
