//===- NeonMatmul.cpp - the quantized matmul on AArch64 NEON --------------===//
//
// The matmul kernel for AArch64 with FEAT_DotProd (`sdot`) and FEAT_I8MM
// (`smmla`), in the style of Agile-Quant and KleidiAI: weights stay packed
// in memory in tiles of rows (getWeightTileRows), and one shift or mask
// turns 16 packed bytes into an operand sub-tile of 16 x code, so a 4-bit
// weight costs no more unpacking than that. The INT32 sum of a scale segment
// is shifted back by 4, exactly, before it is scaled, and every output sums
// its segments in the reference executor's order.
//
// Each tile computes 8 outputs for up to 6 tokens (sdot) or 4 outputs for
// up to 16 tokens (smmla), 32 channels per step:
// - neon-dotprod: weights in row quads; a 4x4 sub-tile (4 outputs x 4
//   channels) is dotted with 4 codes of a token by indexed `sdot`, so
//   activations are loaded 16 at a time and never rearranged.
// - neon-i8mm: weights in row pairs; two interleaved token rows (getQuantize
//   lays them out so) times a 2x8 sub-tile by `smmla` give a 2x2 block of
//   outputs. A lone token row (decode) takes two of its own 8-channel
//   chunks as the two rows of the `smmla` operand and keeps the lanes
//   where chunk and sub-tile match.
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
/// Outputs of one tile: two row quads for `sdot`, two row pairs for
/// `smmla`.
int64_t getTileOutputs(CPUMatmulISA isa) {
  return isa == CPUMatmulISA::NeonDot ? 8 : 4;
}
/// Token rows of a full `sdot` tile.
constexpr int64_t kDotTokens = 6;
/// Token rows of a full `smmla` tile.
constexpr int64_t kMatrixTokens = 16;
/// Channels one step of the inner loop covers.
constexpr int64_t kStepChannels = 32;

/// Emits the tiles of one NEON matmul kernel.
class NeonMatmulEmitter {
public:
  NeonMatmulEmitter(Emitter &e, CPUMatmulISA isa, QuantizedTensorType act,
                    QuantizedTensorType weight, FloatType resultType,
                    bool prescaled, ValueRange args)
      : isa(isa), weight(weight), resultType(resultType), prescaled(prescaled),
        actScales(args[1]), weightScales(args[3]), out(args[4]) {
    channels = weight.getLayout().getNumChannels();
    outputs = weight.getShape()[0];
    actGroup = act.getLayout().getScaleGroupChannels();
    weightGroup = weight.getLayout().getScaleGroupChannels();
    segment = std::gcd(actGroup, weightGroup);
    tileRows = getWeightTileRows(isa);
    tileBytes = tileRows * weight.getLayout().getPackedRowBytes();
    actCodes = collapse(e, args[0]);
    actScaleWords = collapse(e, args[1]);
    actGroups = act.getLayout().getScalesPerRow();
    weightCodes = collapse(e, args[2]);
  }

  /// The tiles of outputs firstTile * T.. (`valid` of them, at most
  /// getTileOutputs), over all tokens.
  void emitOutputTile(Emitter &e, Value firstTile, int64_t valid) {
    Value numRows = e.rows(out);
    Value two = e.index(2);
    if (isa == CPUMatmulISA::NeonDot) {
      Value full = arith::SubIOp::create(
          e, numRows, arith::RemUIOp::create(e, numRows, e.index(kDotTokens)));
      e.loop(e.index(0), full, kDotTokens, [&](Emitter &e, Value m) {
        emitQuadDotTile(e, m, kDotTokens, firstTile, valid);
      });
      e.loop(full, numRows, 1, [&](Emitter &e, Value m) {
        emitQuadDotTile(e, m, 1, firstTile, valid);
      });
      return;
    }
    Value paired = arith::SubIOp::create(
        e, numRows, arith::RemUIOp::create(e, numRows, two));
    Value full = arith::SubIOp::create(
        e, paired, arith::RemUIOp::create(e, paired, e.index(kMatrixTokens)));
    e.loop(e.index(0), full, kMatrixTokens, [&](Emitter &e, Value m) {
      emitMatrixTile(e, m, kMatrixTokens / 2, firstTile, valid);
    });
    e.loop(full, paired, 2, [&](Emitter &e, Value m) {
      emitMatrixTile(e, m, 1, firstTile, valid);
    });
    e.loop(paired, numRows, 1, [&](Emitter &e, Value m) {
      emitPairDotTile(e, m, firstTile, valid);
    });
  }

  /// Weight tiles per output tile.
  int64_t tilesPerOutputTile() const { return getTileOutputs(isa) / tileRows; }

private:
  /// `memref` (2-D, contiguous) as 1-D bytes.
  static Value collapse(Emitter &e, Value memref) {
    return memref::CollapseShapeOp::create(
        e, memref, ArrayRef<ReassociationIndices>{{0, 1}});
  }
  static VectorType bytes(Emitter &e, int64_t count) {
    return VectorType::get({count}, e.getI8Type());
  }
  static VectorType sums(Emitter &e) {
    return VectorType::get({4}, e.getI32Type());
  }
  static VectorType floats(Emitter &e) {
    return VectorType::get({4}, e.getF32Type());
  }
  static Value splat(Emitter &e, VectorType type, Attribute value) {
    return arith::ConstantOp::create(e, type,
                                     DenseElementsAttr::get(type, value));
  }

  /// One 32-channel step of the inner loop: channel `k` of a run of
  /// `bits`-bit blocks that starts at channel `runBegin` and byte `runByte`
  /// of a row.
  struct Step {
    Value k;
    int64_t runBegin, runByte, bits;
  };

  /// The 2T sub-tiles of `count` weight tiles from `firstTile` at `step`.
  SmallVector<SmallVector<Value, 8>> loadWeightTiles(Emitter &e,
                                                     Value firstTile,
                                                     int64_t count,
                                                     const Step &step) {
    SmallVector<SmallVector<Value, 8>> tiles;
    for (int64_t i = 0; i < count; ++i)
      tiles.push_back(loadWeightTile(e, e.add(firstTile, e.index(i)), step));
    return tiles;
  }

  /// The 2T sub-tiles of weight tile `tile` at `step`.
  SmallVector<Value, 8> loadWeightTile(Emitter &e, Value tile,
                                       const Step &step) {
    int64_t bits = step.bits;
    Value offset = e.add(
        e.add(e.mul(tile, e.index(tileBytes)),
              e.index(tileRows * step.runByte)),
        arith::DivUIOp::create(
            e,
            e.mul(arith::SubIOp::create(e, step.k, e.index(step.runBegin)),
                  e.index(tileRows * bits)),
            e.index(8)));
    auto load = [&](int64_t byte) -> Value {
      return vector::LoadOp::create(e, bytes(e, 16), weightCodes,
                                    ValueRange{e.add(offset, e.index(byte))});
    };
    SmallVector<Value, 8> tiles;
    if (bits == 8) {
      for (int64_t j = 0; j < 2 * tileRows; ++j)
        tiles.push_back(load(16 * j));
      return tiles;
    }
    VectorType type = bytes(e, 16);
    Value four = splat(e, type, e.getI8IntegerAttr(4));
    Value highMask = splat(e, type, e.getI8IntegerAttr(-16));
    for (int64_t i = 0; i < tileRows; ++i) {
      Value packed = load(16 * i);
      tiles.push_back(arith::ShLIOp::create(e, packed, four));
      tiles.push_back(arith::AndIOp::create(e, packed, highMask));
    }
    return tiles;
  }

  /// The 16 activation codes at `offset`.
  Value loadCodes(Emitter &e, Value offset) {
    return vector::LoadOp::create(e, bytes(e, 16), actCodes,
                                  ValueRange{offset});
  }

  /// Group `lane` (4 codes) of `codes` in every group of a register, the
  /// operand of an indexed `sdot`.
  static Value broadcastGroup(Emitter &e, Value codes, int64_t lane) {
    Value words = vector::BitCastOp::create(e, sums(e), codes);
    Value broadcast = vector::ShuffleOp::create(
        e, words, words, ArrayRef<int64_t>{lane, lane, lane, lane});
    return vector::BitCastOp::create(e, bytes(e, 16), broadcast);
  }

  /// The index of output `output` of the output tile from `firstTile`.
  Value outputIndex(Emitter &e, Value firstTile, int64_t output) {
    return e.add(e.mul(firstTile, e.index(tileRows)), e.index(output));
  }

  /// The scales of the rows of weight tile `tile` for the segment at
  /// `first`: 4 for a quad; for a pair, the 2 repeated (2p, 2p+1, 2p,
  /// 2p+1).
  Value loadWeightScales(Emitter &e, Value tile, Value first) {
    Value column = e.mul(arith::DivUIOp::create(e, first, e.index(weightGroup)),
                         e.index(tileRows));
    if (tileRows == 4)
      return vector::LoadOp::create(e, floats(e), weightScales,
                                    ValueRange{tile, column});
    Value pair = vector::LoadOp::create(e, VectorType::get({2}, e.getF32Type()),
                                        weightScales, ValueRange{tile, column});
    return vector::ShuffleOp::create(e, pair, pair,
                                     ArrayRef<int64_t>{0, 1, 0, 1});
  }

  /// The activation scale of token row `row` for the segment at `first`.
  Value loadActScale(Emitter &e, Value row, Value first) {
    return e.load(actScales,
                  {row, arith::DivUIOp::create(e, first, e.index(actGroup))});
  }

  /// The INT32 sums `acc` of a segment of `bits`-bit weights as f32 (16 x
  /// the dot products for 4-bit weights with prescaled scales).
  Value segmentSums(Emitter &e, Value acc, int64_t bits) {
    if (bits == 4 && !prescaled)
      acc = arith::ShRSIOp::create(e, acc,
                                   splat(e, sums(e), e.getI32IntegerAttr(4)));
    return arith::SIToFPOp::create(e, floats(e), acc);
  }

  /// Runs the steps of every scale segment with `accumulators` INT32
  /// vectors: `step` updates them for one 32-channel step; `finish` adds
  /// a segment's sums to the f32 totals (one vector per accumulator).
  /// Returns the totals.
  SmallVector<Value> accumulate(
      Emitter &e, int64_t accumulators,
      llvm::function_ref<void(Emitter &, const Step &, SmallVector<Value> &acc)>
          step,
      llvm::function_ref<SmallVector<Value>(Emitter &, Value first,
                                            int64_t bits, ValueRange acc,
                                            ValueRange totals)>
          finish,
      int64_t totalsCount) {
    SmallVector<Value> totals(totalsCount,
                              splat(e, floats(e), e.getF32FloatAttr(0)));
    int64_t runByte = 0;
    for (auto [begin, end, bits] : getBitRuns(weight.getLayout())) {
      int64_t runBegin = begin, runBits = bits, runFirstByte = runByte;
      totals = llvm::to_vector_of<Value>(
          e.loop(e.index(begin), e.index(end), segment, totals,
                 [&](Emitter &e, Value first, ValueRange current) {
                   SmallVector<Value> zero(
                       accumulators, splat(e, sums(e), e.getI32IntegerAttr(0)));
                   ValueRange acc =
                       e.loop(first, e.add(first, e.index(segment)),
                              kStepChannels, zero,
                              [&](Emitter &e, Value k, ValueRange acc) {
                                SmallVector<Value> next(acc);
                                step(e,
                                     Step{k, runBegin, runFirstByte, runBits},
                                     next);
                                return next;
                              })
                           .getResults();
                   return finish(e, first, runBits, acc, current);
                 })
              .getResults());
      runByte += (end - begin) * bits / 8;
    }
    return totals;
  }

  /// Stores `value` (f32) at (`row`, `column`) rounded to the result type.
  void storeOutput(Emitter &e, Value value, Value row, Value column) {
    e.store(e.roundTo(value, resultType), out, {row, column});
  }

  /// neon-dotprod: tokens m..m+rows-1 (plain rows) times the row quads of
  /// an output tile. Accumulator lanes are a quad's 4 outputs.
  void emitQuadDotTile(Emitter &e, Value m, int64_t rows, Value firstTile,
                       int64_t valid) {
    int64_t quads = (valid + 3) / 4;
    SmallVector<Value> totals = accumulate(
        e, rows * quads,
        [&](Emitter &e, const Step &step, SmallVector<Value> &acc) {
          SmallVector<SmallVector<Value, 8>> tiles =
              loadWeightTiles(e, firstTile, quads, step);
          for (int64_t r = 0; r < rows; ++r) {
            Value base =
                e.add(e.mul(e.add(m, e.index(r)), e.index(channels)), step.k);
            for (int64_t half = 0; half < 2; ++half) {
              Value codes = loadCodes(e, e.add(base, e.index(16 * half)));
              for (int64_t lane = 0; lane < 4; ++lane) {
                Value group = broadcastGroup(e, codes, lane);
                for (int64_t q = 0; q < quads; ++q)
                  acc[r * quads + q] = arm_neon::SdotOp::create(
                      e, sums(e), acc[r * quads + q], tiles[q][4 * half + lane],
                      group);
              }
            }
          }
        },
        [&](Emitter &e, Value first, int64_t bits, ValueRange acc,
            ValueRange current) {
          SmallVector<Value> weightScales;
          for (int64_t q = 0; q < quads; ++q)
            weightScales.push_back(
                loadWeightScales(e, e.add(firstTile, e.index(q)), first));
          SmallVector<Value> next;
          for (int64_t r = 0; r < rows; ++r) {
            Value actScale = vector::BroadcastOp::create(
                e, floats(e), loadActScale(e, e.add(m, e.index(r)), first));
            for (int64_t q = 0; q < quads; ++q)
              next.push_back(
                  e.addf(current[r * quads + q],
                         e.mulf(e.mulf(segmentSums(e, acc[r * quads + q], bits),
                                       actScale),
                                weightScales[q])));
          }
          return next;
        },
        rows * quads);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t output = 0; output < valid; ++output)
        storeOutput(e,
                    vector::ExtractOp::create(e, totals[r * quads + output / 4],
                                              output % 4),
                    e.add(m, e.index(r)), outputIndex(e, firstTile, output));
  }

  /// neon-i8mm, a lone token row m times the row pairs of an output tile,
  /// with `smmla` on 16 consecutive codes of the row (two 8-channel chunks
  /// as the operand's two "rows"): with sub-tiles S0..S3, the products of
  /// chunk 0 with S0 and of chunk 2 with S2 land in lanes 0, 1 of one
  /// accumulator, those of chunks 1 and 3 with S1 and S3 in lanes 2, 3 of
  /// another; the other lanes are discarded.
  void emitPairDotTile(Emitter &e, Value m, Value firstTile, int64_t valid) {
    int64_t pairs = (valid + 1) / 2;
    SmallVector<Value> totals = accumulate(
        e, 2 * pairs,
        [&](Emitter &e, const Step &step, SmallVector<Value> &acc) {
          Value base = e.add(e.mul(m, e.index(channels)), step.k);
          Value low = loadCodes(e, base);
          Value high = loadCodes(e, e.add(base, e.index(16)));
          SmallVector<SmallVector<Value, 8>> tiles =
              loadWeightTiles(e, firstTile, pairs, step);
          for (int64_t p = 0; p < pairs; ++p) {
            Value &even = acc[2 * p], &odd = acc[2 * p + 1];
            even =
                arm_neon::SmmlaOp::create(e, sums(e), even, low, tiles[p][0]);
            odd = arm_neon::SmmlaOp::create(e, sums(e), odd, low, tiles[p][1]);
            even =
                arm_neon::SmmlaOp::create(e, sums(e), even, high, tiles[p][2]);
            odd = arm_neon::SmmlaOp::create(e, sums(e), odd, high, tiles[p][3]);
          }
        },
        [&](Emitter &e, Value first, int64_t bits, ValueRange acc,
            ValueRange current) -> SmallVector<Value> {
          // Outputs (2p, 2p+1) of each pair, then the pairs side by side.
          SmallVector<Value, 2> pairSums;
          for (int64_t p = 0; p < pairs; ++p)
            pairSums.push_back(e.add(
                acc[2 * p],
                vector::ShuffleOp::create(e, acc[2 * p + 1], acc[2 * p + 1],
                                          ArrayRef<int64_t>{2, 3, 2, 3})));
          Value dots = vector::ShuffleOp::create(
              e, pairSums[0], pairSums.back(), ArrayRef<int64_t>{0, 1, 4, 5});
          Value left = loadWeightScales(e, firstTile, first);
          Value right =
              pairs > 1
                  ? loadWeightScales(e, e.add(firstTile, e.index(1)), first)
                  : left;
          Value weightScale = vector::ShuffleOp::create(
              e, left, right, ArrayRef<int64_t>{0, 1, 4, 5});
          Value actScale = vector::BroadcastOp::create(
              e, floats(e), loadActScale(e, m, first));
          return {e.addf(current[0],
                         e.mulf(e.mulf(segmentSums(e, dots, bits), actScale),
                                weightScale))};
        },
        1);
    for (int64_t lane = 0; lane < valid; ++lane)
      storeOutput(e, vector::ExtractOp::create(e, totals[0], lane), m,
                  outputIndex(e, firstTile, lane));
  }

  /// neon-i8mm: token row pairs m.., `rowPairs` of them (interleaved by
  /// getQuantize), times the row pairs of an output tile, with `smmla`:
  /// accumulator lanes are (token 2i, output 2p), (2i, 2p+1), (2i+1, 2p),
  /// (2i+1, 2p+1).
  void emitMatrixTile(Emitter &e, Value m, int64_t rowPairs, Value firstTile,
                      int64_t valid) {
    int64_t pairs = (valid + 1) / 2;
    SmallVector<Value> totals = accumulate(
        e, rowPairs * pairs,
        [&](Emitter &e, const Step &step, SmallVector<Value> &acc) {
          SmallVector<SmallVector<Value, 8>> tiles =
              loadWeightTiles(e, firstTile, pairs, step);
          for (int64_t i = 0; i < rowPairs; ++i) {
            // Chunk c / 8 of a token row pair lies at 16 * (c / 8).
            Value base =
                e.add(e.mul(e.add(m, e.index(2 * i)), e.index(channels)),
                      e.mul(step.k, e.index(2)));
            for (int64_t q = 0; q < 4; ++q) {
              Value tokens = loadCodes(e, e.add(base, e.index(16 * q)));
              for (int64_t p = 0; p < pairs; ++p)
                acc[i * pairs + p] = arm_neon::SmmlaOp::create(
                    e, sums(e), acc[i * pairs + p], tokens, tiles[p][q]);
            }
          }
        },
        [&](Emitter &e, Value first, int64_t bits, ValueRange acc,
            ValueRange current) {
          SmallVector<Value> next;
          Value group = arith::DivUIOp::create(e, first, e.index(actGroup));
          for (int64_t i = 0; i < rowPairs; ++i) {
            // The scales of a token row pair lie side by side.
            Value pairScales = vector::LoadOp::create(
                e, VectorType::get({2}, e.getF32Type()), actScaleWords,
                ValueRange{
                    e.add(e.mul(e.add(m, e.index(2 * i)), e.index(actGroups)),
                          e.mul(group, e.index(2)))});
            Value actScale = vector::ShuffleOp::create(
                e, pairScales, pairScales, ArrayRef<int64_t>{0, 0, 1, 1});
            for (int64_t p = 0; p < pairs; ++p) {
              Value weightScale =
                  loadWeightScales(e, e.add(firstTile, e.index(p)), first);
              next.push_back(
                  e.addf(current[i * pairs + p],
                         e.mulf(e.mulf(segmentSums(e, acc[i * pairs + p], bits),
                                       actScale),
                                weightScale)));
            }
          }
          return next;
        },
        rowPairs * pairs);
    for (int64_t i = 0; i < rowPairs; ++i)
      for (int64_t p = 0; p < pairs; ++p)
        for (int64_t lane = 0; lane < 4; ++lane) {
          int64_t output = 2 * p + lane % 2;
          if (output >= valid)
            continue;
          storeOutput(e,
                      vector::ExtractOp::create(e, totals[i * pairs + p], lane),
                      e.add(m, e.index(2 * i + lane / 2)),
                      outputIndex(e, firstTile, output));
        }
  }

  CPUMatmulISA isa;
  QuantizedTensorType weight;
  FloatType resultType;
  bool prescaled;
  Value actCodes, actScales, actScaleWords, weightCodes, weightScales, out;
  int64_t channels, outputs, actGroup, actGroups, weightGroup, segment,
      tileRows, tileBytes;
};
} // namespace

func::FuncOp CPUKernelBuilder::getNeonMatmul(QuantizedTensorType act,
                                             QuantizedTensorType weight,
                                             FloatType resultType,
                                             bool prescaled) {
  Builder b(module.getContext());
  Type f32 = b.getF32Type(), i8 = b.getI8Type();
  BlockLayoutAttr actLayout = act.getLayout(),
                  weightLayout = weight.getLayout();
  int64_t channels = weightLayout.getNumChannels();
  int64_t outputs = weight.getShape()[0];
  int64_t tileRows = getWeightTileRows(isa);
  std::string bitsName;
  for (int64_t bits : weightLayout.getBlockBits())
    bitsName += std::to_string(bits);
  return getOrCreate(
      llvm::formatv(
          "lowbit_cpu_matmul_{0}x{1}_b{2}_ga{3}_gw{4}_{5}_{6}_{7}{8}", outputs,
          channels, weightLayout.getBlockSize(),
          actLayout.getScaleGroupChannels(),
          weightLayout.getScaleGroupChannels(),
          bitsName.size() > 24
              ? llvm::formatv("{0:x}", llvm::hash_value(bitsName)).str()
              : bitsName,
          getTypeName(resultType),
          isa == CPUMatmulISA::NeonMatrix ? "smmla" : "sdot",
          prescaled ? "_ps" : "")
          .str(),
      {rowsOf(channels, i8), rowsOf(actLayout.getScalesPerRow(), f32),
       MemRefType::get({(outputs + tileRows - 1) / tileRows,
                        tileRows * weightLayout.getPackedRowBytes()},
                       i8),
       MemRefType::get({(outputs + tileRows - 1) / tileRows,
                        tileRows * weightLayout.getScalesPerRow()},
                       f32),
       rowsOf(outputs, f32)},
      [&](OpBuilder &builder, Location loc, ValueRange args) {
        Emitter e(builder, loc);
        NeonMatmulEmitter tiles(e, isa, act, weight, resultType, prescaled,
                                args);
        // Outputs outside, tokens inside: a tile of packed weight rows is
        // read from memory once and reused from cache for every token.
        int64_t step = tiles.tilesPerOutputTile();
        int64_t tileOutputs = getTileOutputs(isa);
        int64_t full = outputs / tileOutputs;
        e.loop(0, full * step, step, [&](Emitter &e, Value tile) {
          tiles.emitOutputTile(e, tile, tileOutputs);
        });
        if (outputs % tileOutputs)
          tiles.emitOutputTile(e, e.index(full * step), outputs % tileOutputs);
      });
}
