//===- TensorCoreMatmulKernel.cpp - W4A8 tensor-core matmul -----------------===//
//
// Builds the tensor-core matmul kernel as a gpu.func of arith/memref/scf/
// vector ops and the NVGPU ops that map onto Ampere/Hopper warp-level
// instructions: `nvgpu.device_async_copy` (cp.async) fills a ring of
// shared-memory stages, `nvgpu.ldmatrix` moves 8x8 fragments to registers
// and `nvgpu.mma.sync` multiplies them on INT8 tensor cores.
//
// INT4 weights stay 4-bit in memory and in shared memory. In registers one
// ldmatrix word holds, in runtime::packInt4Interleaved's layout, exactly the
// channels 4c..4c+3 and 16+4c..16+4c+3 that thread c of an mma quad needs
// for its two B operands of m16n8k32, so `(word << 4) & 0xF0F0F0F0` and
// `word & 0xF0F0F0F0` are those operands, sixteen times the codes. This is
// the sm_90 design (4-bit storage, INT8 compute, as s4 mma is emulated
// there), and sm_80/sm_89 take it for INT8 activation blocks.
//
// sm_80 and sm_89 multiply 4-bit codes natively, at twice the s8 rate, so
// there the steps of 4-bit activations use `mma.sync.m16n8k64` s4. The
// activations still arrive as bytes (the layout every other kernel reads);
// the k32 A fragments of two consecutive k32 steps, which hold channels
// 4c..4c+3 and 16+4c..16+4c+3 in byte lanes, are packed into nibbles in the
// same interleaved order as the weight words, which then are the B operands
// as they are. Both operands thus list each thread's 64 channels in one
// order, which is all a dot product needs.
//
// Each pipeline step spans at most one scale group, so its INT32 sums are
// dequantized with one activation and one weight scale: the mma accumulate
// onto the bits of 1.5 * 2^23, so a sum (below 2^22 in magnitude) is an
// f32 exactly once 1.5 * 2^23 is subtracted, and is then scaled into an f32
// accumulator. A step takes the warp's m16 tiles one at a time and emits
// each tile's dequantization after the next tile's mma, which it can
// overlap: the dequantization does not wait for them.
//
// Shared-memory rows are XOR-swizzled in 16-byte chunks so that neither the
// cp.async writes nor the ldmatrix reads of a warp hit one bank twice.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Conversion/LowBitToNVGPU/TensorCoreMatmulKernel.h"

#include "KernelEmitter.h"
#include "lowbit/Conversion/Runs.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/SymbolTable.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace lowbit;

namespace {
using Kernel = TensorCoreMatmulKernel;
constexpr int64_t kWarpSize = 32;
constexpr int64_t kThreads = Kernel::kWarpsPerBlock * kWarpSize;
/// Warps along the output channels; the others lie along the tokens.
constexpr int64_t kWarpGridColumns = 4;
/// Warps along the tokens.
constexpr int64_t kWarpGridRows = Kernel::kWarpsPerBlock / kWarpGridColumns;
constexpr int64_t kWarpColumns = Kernel::kBlockColumns / kWarpGridColumns;
constexpr int64_t kMmaRows = 16;
constexpr int64_t kMmaColumns = 8;
constexpr int64_t kMmaTilesN = kWarpColumns / kMmaColumns;
/// Products of an s4 mma are the codes' products, one sixteenth of the s8
/// path's; s4 steps scale their activation scales by this (exactly) to
/// share the s8 steps' dequantization.
constexpr float kInt4SumScale = 16.0f;
/// Bytes of one cp.async copy and of one shared-memory chunk.
constexpr int64_t kChunkBytes = 16;
/// Chunks of one 128-byte line of shared memory (all 32 banks).
constexpr int64_t kChunksPerLine = 8;
/// The B operands carry sixteen times the weight codes.
constexpr float kNibbleScale = 1.0f / 16.0f;

/// Emits the kernel body; keeps the builder, location, the thread's
/// coordinates and the tiling in one place.
class TensorCoreMatmulEmitter : public KernelEmitter {
public:
  TensorCoreMatmulEmitter(OpBuilder &builder, Location loc,
                          const Kernel &kernel)
      : KernelEmitter(builder, loc), kernel(kernel),
        tileChannels(kernel.getTileChannels()),
        numTiles(kernel.getNumTiles()),
        warpRows(kernel.blockRows / kWarpGridRows),
        mmaTilesM(warpRows / kMmaRows),
        actStageBytes(kernel.blockRows * tileChannels),
        stageBytes(actStageBytes + Kernel::kBlockColumns * tileChannels / 2) {}

  void emit(gpu::GPUFuncOp func);

private:
  /// The chunk of a shared-memory row where logical chunk `chunk` lives:
  /// rows that share a 128-byte line get different XOR patterns.
  Value swizzle(Value row, Value chunk, int64_t chunksPerRow);
  /// Byte offset in a stage of activation row `row`, chunk `chunk`.
  Value actOffset(Value row, Value chunk);
  /// Byte offset in a stage of weight row `row`, chunk `chunk`.
  Value weightOffset(Value row, Value chunk);
  /// Starts the cp.async copies of pipeline step `tile` into `stage`; steps
  /// past the last one, and rows past the tokens or the output channels,
  /// copy nothing and zero-fill.
  void emitLoadTile(Value tile, Value stage);
  /// Copies `chunks` 16-byte chunks, `chunksPerRow` to a row, of one operand
  /// of step `tile`: row r of the tile is global row `firstRow + r` (valid
  /// below `rows`) at byte `rowBytes * row + tile offset`.
  void emitCopies(Value tile, Value stageBase, Value source, int64_t chunks,
                  int64_t chunksPerRow, Value firstRow, Value rows,
                  int64_t rowBytes,
                  llvm::function_ref<Value(Value, Value)> offset);
  /// Multiplies step `tile`, in `stage`, into the f32 accumulators `acc`,
  /// on s4 tensor cores when `actBits` is 4, else on s8 ones.
  void emitComputeTile(Value tile, Value stage, int64_t actBits,
                       MutableArrayRef<Value> acc);
  /// The A operand of the k32 step `step` of `stage` for m16 tile `m`: 16
  /// rows by 32 channels of byte codes.
  Value emitLoadActivations(Value stageBase, int64_t step, int64_t m);
  /// The weight words of the k32 step `step` for this lane: its row of each
  /// n8 tile, channels 4c..4c+3 in low and 16+4c..16+4c+3 in high nibbles.
  Value emitLoadWeightWords(Value stageBase, int64_t step);
  /// Word `n` of the ldmatrix result `fragments` as an i32.
  Value extractWord(Value fragments, int64_t n);
  /// Runs the pipeline's main loop over steps [begin, end) of width
  /// `actBits`, carrying the accumulators `acc`.
  void emitMainLoop(int64_t begin, int64_t end, int64_t actBits,
                    SmallVectorImpl<Value> &acc);
  /// Stores the accumulators, scaled by kNibbleScale, to the result.
  void emitStore(ArrayRef<Value> acc);

  const Kernel &kernel;
  const int64_t tileChannels, numTiles;
  /// Tokens of one warp's tile, and its m16 mma tiles.
  const int64_t warpRows, mmaTilesM;
  const int64_t actStageBytes, stageBytes;

  Value weights, weightScales, act, actScales, result, tokens;
  /// The last token: rows past it read its scales and store nothing.
  Value lastToken;
  Value shared;
  Value thread, lane;
  /// First token and output channel of this thread block.
  Value blockRow, blockColumn;
  /// First token and output channel of this warp's tile in the block.
  Value warpRow, warpColumn;
};
} // namespace

/// Calls `body(begin, end, actBits)` for each run [begin, end) of
/// consecutive pipeline steps of `kernel` whose activations are `actBits`
/// wide, in order.
static void
forEachStepRun(const Kernel &kernel,
               llvm::function_ref<void(int64_t, int64_t, int64_t)> body) {
  ArrayRef<int64_t> bits = kernel.actStepBits;
  if (bits.empty())
    return body(0, kernel.getNumTiles(), 8);
  forEachRun(bits, [&](size_t begin, size_t end) {
    body(begin, end, bits[begin]);
  });
}

int64_t TensorCoreMatmulKernel::getTileChannels() const {
  return std::min({actScaleGroup, weightScaleGroup, kMaxTileChannels});
}

int64_t TensorCoreMatmulKernel::getSharedMemoryBytes() const {
  int64_t channels = getTileChannels();
  return stages * (blockRows * channels + kBlockColumns * channels / 2);
}

void TensorCoreMatmulKernel::selectActivationSteps(
    StringRef chip, int64_t blockSize, ArrayRef<int64_t> blockBits) {
  actStepBits.clear();
  const int64_t tileChannels = getTileChannels();
  if ((chip != "sm_80" && chip != "sm_89") ||
      tileChannels % kInt4MmaChannels != 0 || !llvm::is_contained(blockBits, 4))
    return;
  for (int64_t tile = 0; tile < getNumTiles(); ++tile) {
    int64_t firstBlock = tile * tileChannels / blockSize;
    int64_t endBlock = llvm::divideCeil((tile + 1) * tileChannels, blockSize);
    bool int4 = endBlock <= int64_t(blockBits.size()) &&
                llvm::all_of(blockBits.slice(firstBlock, endBlock - firstBlock),
                             [](int64_t bits) { return bits == 4; });
    actStepBits.push_back(int4 ? 4 : 8);
  }
}

std::string TensorCoreMatmulKernel::getName() const {
  std::string activations;
  llvm::raw_string_ostream os(activations);
  forEachStepRun(*this, [&](int64_t begin, int64_t end, int64_t actBits) {
    os << "a" << actBits;
    if (end - begin != getNumTiles())
      os << "x" << end - begin;
  });
  return llvm::formatv(
             "tc_matmul_w4{9}_n{0}_k{1}_ga{2}_gw{3}_m{4}_kt{5}_s{6}_{7}_{8}",
             outChannels, inChannels, actScaleGroup, weightScaleGroup,
             blockRows, getTileChannels(), stages, getTypeName(scaleType),
             getTypeName(resultType), activations)
      .str();
}

std::string TensorCoreMatmulKernel::checkSupported() const {
  std::string groups = checkScaleGroups(actScaleGroup, weightScaleGroup,
                                        inChannels, kMmaChannels);
  if (!groups.empty())
    return groups;
  // Each pipeline step must lie in one group of either kind.
  if (std::max(actScaleGroup, weightScaleGroup) % getTileChannels() != 0)
    return llvm::formatv("scale groups of {0} and {1} channels do not nest",
                         actScaleGroup, weightScaleGroup)
        .str();
  if (outChannels <= 0 || outChannels % kMmaColumns != 0)
    return llvm::formatv("{0} output channels are not a multiple of {1}",
                         outChannels, kMmaColumns)
        .str();
  if (!llvm::is_contained(kBlockRowChoices, blockRows))
    return llvm::formatv("{0} tokens per thread block; 64 or 128 are "
                         "supported",
                         blockRows)
        .str();
  if (stages < 2 || stages > 4)
    return llvm::formatv("{0} pipeline stages; 2 to 4 are supported", stages)
        .str();
  if (!actStepBits.empty()) {
    if (int64_t(actStepBits.size()) != getNumTiles())
      return llvm::formatv("{0} activation step widths for {1} steps",
                           actStepBits.size(), getNumTiles())
          .str();
    if (llvm::any_of(actStepBits,
                     [](int64_t bits) { return bits != 4 && bits != 8; }))
      return "activation steps must be 4 or 8 bits wide";
    if (llvm::is_contained(actStepBits, 4) &&
        getTileChannels() % kInt4MmaChannels != 0)
      return llvm::formatv("4-bit activation steps of {0} channels are not a "
                           "multiple of the s4 mma's {1}",
                           getTileChannels(), kInt4MmaChannels)
          .str();
  }
  return checkScaleAndResultTypes(scaleType, resultType);
}

Value TensorCoreMatmulEmitter::swizzle(Value row, Value chunk,
                                       int64_t chunksPerRow) {
  if (chunksPerRow == 1)
    return chunk;
  int64_t rowsPerLine = std::max<int64_t>(1, kChunksPerLine / chunksPerRow);
  Value pattern = rem(div(row, rowsPerLine), chunksPerRow);
  return arith::XOrIOp::create(b, loc, chunk, pattern);
}

Value TensorCoreMatmulEmitter::actOffset(Value row, Value chunk) {
  int64_t chunksPerRow = tileChannels / kChunkBytes;
  return add(mul(row, index(tileChannels)),
             mul(swizzle(row, chunk, chunksPerRow), index(kChunkBytes)));
}

Value TensorCoreMatmulEmitter::weightOffset(Value row, Value chunk) {
  int64_t rowBytes = tileChannels / 2;
  return add(add(index(actStageBytes), mul(row, index(rowBytes))),
             mul(swizzle(row, chunk, rowBytes / kChunkBytes),
                 index(kChunkBytes)));
}

void TensorCoreMatmulEmitter::emitCopies(
    Value tile, Value stageBase, Value source, int64_t chunks,
    int64_t chunksPerRow, Value firstRow, Value rows, int64_t rowBytes,
    llvm::function_ref<Value(Value, Value)> offset) {
  Value tileInRange = less(tile, index(numTiles));
  Value tileByte = mul(min(tile, index(numTiles - 1)),
                       index(chunksPerRow * kChunkBytes));
  Value lastRow = arith::SubIOp::create(b, loc, rows, index(1));
  auto tokenType = nvgpu::DeviceAsyncTokenType::get(b.getContext());
  auto emitCopy = [&](Value id) {
    Value row = div(id, chunksPerRow);
    Value chunk = rem(id, chunksPerRow);
    Value globalRow = add(firstRow, row);
    Value valid = arith::AndIOp::create(b, loc, tileInRange,
                                        less(globalRow, rows));
    Value sourceByte =
        add(add(mul(min(globalRow, lastRow), index(rowBytes)), tileByte),
            mul(chunk, index(kChunkBytes)));
    Value bytes = arith::SelectOp::create(b, loc, valid, index(kChunkBytes),
                                          index(0));
    nvgpu::DeviceAsyncCopyOp::create(
        b, loc, tokenType, shared, ValueRange{add(stageBase, offset(row, chunk))},
        source, ValueRange{sourceByte}, b.getIndexAttr(kChunkBytes), bytes,
        b.getUnitAttr());
  };
  if (chunks < kThreads) {
    auto inRange = scf::IfOp::create(b, loc, less(thread, index(chunks)),
                                     /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(inRange.thenBlock());
    emitCopy(thread);
    return;
  }
  for (int64_t i = 0; i < chunks / kThreads; ++i)
    emitCopy(add(thread, index(i * kThreads)));
}

void TensorCoreMatmulEmitter::emitLoadTile(Value tile, Value stage) {
  Value stageBase = mul(stage, index(stageBytes));
  int64_t actChunksPerRow = tileChannels / kChunkBytes;
  emitCopies(tile, stageBase, act, kernel.blockRows * actChunksPerRow,
             actChunksPerRow, blockRow, tokens, kernel.inChannels,
             [&](Value row, Value chunk) { return actOffset(row, chunk); });
  int64_t weightChunksPerRow = tileChannels / 2 / kChunkBytes;
  emitCopies(tile, stageBase, weights,
             Kernel::kBlockColumns * weightChunksPerRow, weightChunksPerRow,
             blockColumn, index(kernel.outChannels), kernel.inChannels / 2,
             [&](Value row, Value chunk) { return weightOffset(row, chunk); });
  NVVM::CpAsyncCommitGroupOp::create(b, loc);
}

Value TensorCoreMatmulEmitter::emitLoadActivations(Value stageBase,
                                                   int64_t step, int64_t m) {
  // ldmatrix x4 on A: lane l addresses row l % 16 of the m16 tile, the
  // k-step's first 16 bytes for l < 16 and its last 16 for the others.
  Value row = add(add(warpRow, index(m * kMmaRows)), rem(lane, 16));
  Value offset =
      add(stageBase, actOffset(row, add(div(lane, 16), index(2 * step))));
  return nvgpu::LdMatrixOp::create(b, loc,
                                   VectorType::get({4, 4}, b.getI8Type()),
                                   shared, ValueRange{offset},
                                   /*transpose=*/false, /*numTiles=*/4);
}

Value TensorCoreMatmulEmitter::emitLoadWeightWords(Value stageBase,
                                                   int64_t step) {
  // ldmatrix x4 on B: matrix n is the n8 tile n; lane l addresses weight
  // row l of the warp's 32 and receives word lane % 4 of row lane / 4.
  Value offset =
      add(stageBase, weightOffset(add(warpColumn, lane), index(step)));
  return nvgpu::LdMatrixOp::create(
      b, loc, VectorType::get({4, 4}, b.getI8Type()), shared,
      ValueRange{offset}, /*transpose=*/false, /*numTiles=*/4);
}

Value TensorCoreMatmulEmitter::extractWord(Value fragments, int64_t n) {
  return vector::ExtractOp::create(
      b, loc,
      vector::BitCastOp::create(b, loc, VectorType::get({1}, b.getI32Type()),
                                vector::ExtractOp::create(b, loc, fragments, n)),
      0);
}

void TensorCoreMatmulEmitter::emitComputeTile(Value tile, Value stage,
                                              int64_t actBits,
                                              MutableArrayRef<Value> acc) {
  // Scales first: their loads are in flight while the tensor cores work.
  // Thread (lane) holds rows lane/4 and lane/4 + 8 of each m16 tile and
  // columns 2 * (lane % 4) and the next of each n8 tile.
  Value channel = mul(tile, index(tileChannels));
  Value actGroup = div(channel, kernel.actScaleGroup);
  Value weightGroup = div(channel, kernel.weightScaleGroup);
  Value rowInTile = add(warpRow, div(lane, 4));
  Value columnInTile = add(warpColumn, mul(rem(lane, 4), index(2)));
  SmallVector<Value> actScale, weightScale;
  for (int64_t m = 0; m < mmaTilesM; ++m) {
    for (int64_t half = 0; half < 2; ++half) {
      Value row = min(add(add(blockRow, rowInTile), index(m * kMmaRows + half * 8)),
                      lastToken);
      Value scale = toF32(memref::LoadOp::create(
          b, loc, actScales,
          ValueRange{add(mul(row, index(kernel.inChannels /
                                        kernel.actScaleGroup)),
                         actGroup)}));
      // Exact: a power of two.
      if (actBits == 4)
        scale = arith::MulFOp::create(b, loc, scale, f32(kInt4SumScale));
      actScale.push_back(scale);
    }
  }
  for (int64_t n = 0; n < kMmaTilesN; ++n) {
    for (int64_t e = 0; e < 2; ++e) {
      Value column =
          min(add(add(blockColumn, columnInTile), index(n * kMmaColumns + e)),
              index(kernel.outChannels - 1));
      weightScale.push_back(toF32(memref::LoadOp::create(
          b, loc, weightScales,
          ValueRange{add(mul(column, index(kernel.inChannels /
                                           kernel.weightScaleGroup)),
                         weightGroup)})));
    }
  }

  Value stageBase = mul(stage, index(stageBytes));
  // The B operands of every mma step of the tile, [step][n], loaded once.
  SmallVector<SmallVector<Value>> operands;
  auto i4 = b.getIntegerType(4);
  auto asNibbles = [&](Value word) -> Value {
    return LLVM::BitcastOp::create(b, loc, VectorType::get({8}, i4), word);
  };
  auto zeroNibbles = [&](ArrayRef<int64_t> shape) -> Value {
    return arith::ConstantOp::create(
        b, loc,
        DenseElementsAttr::get(VectorType::get(shape, i4),
                               b.getIntegerAttr(i4, 0)));
  };
  const int64_t k32Steps = tileChannels / Kernel::kMmaChannels;
  if (actBits == 8) {
    auto i8x2x4 = VectorType::get({2, 4}, b.getI8Type());
    Value zeroOperand = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(i8x2x4, b.getI8IntegerAttr(0)));
    for (int64_t step = 0; step < k32Steps; ++step) {
      Value packed = emitLoadWeightWords(stageBase, step);
      SmallVector<Value> &stepOperands = operands.emplace_back();
      for (int64_t n = 0; n < kMmaTilesN; ++n) {
        auto [low, high] = splitNibbles(extractWord(packed, n));
        stepOperands.push_back(vector::InsertOp::create(
            b, loc, high,
            vector::InsertOp::create(b, loc, low, zeroOperand, int64_t(0)),
            int64_t(1)));
      }
    }
  } else {
    // Two k32 steps make one k64 step: B register h is step h's weight
    // word.
    for (int64_t step = 0; step < k32Steps; step += 2) {
      SmallVector<Value> &stepOperands = operands.emplace_back(
          kMmaTilesN, zeroNibbles({2, 8}));
      for (int64_t half = 0; half < 2; ++half) {
        Value words = emitLoadWeightWords(stageBase, step + half);
        for (int64_t n = 0; n < kMmaTilesN; ++n)
          stepOperands[n] = vector::InsertOp::create(
              b, loc, asNibbles(extractWord(words, n)), stepOperands[n], half);
      }
    }
  }

  // The A operand of mma step `step` for m16 tile `m`.
  auto loadActivations = [&](int64_t step, int64_t m) -> Value {
    if (actBits == 8)
      return emitLoadActivations(stageBase, step, m);
    // A register 2 * h + r (r = 0 for row lane / 4, 1 for the row 8 below)
    // packs registers r (channels 4c..4c+3) and r + 2 (16+4c..16+4c+3) of
    // k32 step 2 * step + h's fragment.
    Value a = zeroNibbles({4, 8});
    for (int64_t half = 0; half < 2; ++half) {
      Value bytes = emitLoadActivations(stageBase, 2 * step + half, m);
      for (int64_t row = 0; row < 2; ++row)
        a = vector::InsertOp::create(
            b, loc,
            asNibbles(packNibbles(extractWord(bytes, row),
                                  extractWord(bytes, row + 2))),
            a, 2 * half + row);
    }
    return a;
  };

  // Each m16 tile's sums start at the bits of 1.5 * 2^23, so that they are
  // the bits of that plus the sum as an f32; dequantized, they are scaled
  // into the f32 accumulators.
  emitMagicConstants();
  Value magicSums = getMagicSums();
  // Scaling and accumulating may fuse into one fma.
  auto contract = arith::FastMathFlagsAttr::get(b.getContext(),
                                                arith::FastMathFlags::contract);
  auto dequantize = [&](int64_t m, ArrayRef<Value> sums) {
    for (int64_t n = 0; n < kMmaTilesN; ++n) {
      for (int64_t half = 0; half < 2; ++half) {
        for (int64_t e = 0; e < 2; ++e) {
          Value bits = vector::ExtractOp::create(b, loc, sums[n],
                                                 ArrayRef<int64_t>{half, e});
          Value exact = sumFromMagicBits(bits);
          Value scale = arith::MulFOp::create(b, loc, actScale[2 * m + half],
                                              weightScale[2 * n + e]);
          Value &accumulator =
              acc[((m * kMmaTilesN + n) * 2 + half) * 2 + e];
          accumulator = arith::AddFOp::create(
              b, loc, accumulator,
              arith::MulFOp::create(b, loc, exact, scale, contract), contract);
        }
      }
    }
  };

  // One m16 tile at a time: the dequantization of a tile's sums is emitted
  // after the next tile's mma, which it can overlap.
  const int64_t mmaChannels =
      actBits == 8 ? Kernel::kMmaChannels : Kernel::kInt4MmaChannels;
  SmallVector<Value> pending;
  for (int64_t m = 0; m < mmaTilesM; ++m) {
    SmallVector<Value> sums(kMmaTilesN, magicSums);
    for (auto [step, stepOperands] : llvm::enumerate(operands)) {
      Value a = loadActivations(step, m);
      for (int64_t n = 0; n < kMmaTilesN; ++n)
        sums[n] = nvgpu::MmaSyncOp::create(
            b, loc, a, stepOperands[n], sums[n],
            ArrayRef<int64_t>{kMmaRows, kMmaColumns, mmaChannels});
    }
    if (m > 0)
      dequantize(m - 1, pending);
    pending = std::move(sums);
  }
  dequantize(mmaTilesM - 1, pending);
}

void TensorCoreMatmulEmitter::emitStore(ArrayRef<Value> acc) {
  Value nibbleScale = f32(kNibbleScale);
  auto pairType = VectorType::get({2}, kernel.resultType);
  Value firstRow = add(add(blockRow, warpRow), div(lane, 4));
  Value firstColumn =
      add(add(blockColumn, warpColumn), mul(rem(lane, 4), index(2)));
  for (int64_t m = 0; m < mmaTilesM; ++m) {
    for (int64_t half = 0; half < 2; ++half) {
      Value row = add(firstRow, index(m * kMmaRows + half * 8));
      for (int64_t n = 0; n < kMmaTilesN; ++n) {
        Value column = add(firstColumn, index(n * kMmaColumns));
        Value inRange = arith::AndIOp::create(
            b, loc, less(row, tokens),
            less(column, index(kernel.outChannels)));
        auto store = scf::IfOp::create(b, loc, inRange,
                                       /*withElseRegion=*/false);
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(store.thenBlock());
        SmallVector<Value> pair;
        for (int64_t e = 0; e < 2; ++e) {
          Value value = arith::MulFOp::create(
              b, loc, acc[((m * kMmaTilesN + n) * 2 + half) * 2 + e],
              nibbleScale);
          if (!kernel.resultType.isF32())
            value = arith::TruncFOp::create(b, loc, kernel.resultType, value);
          pair.push_back(value);
        }
        Value vector = vector::FromElementsOp::create(b, loc, pairType, pair);
        int64_t alignment =
            2 * kernel.resultType.getIntOrFloatBitWidth() / 8;
        vector::StoreOp::create(
            b, loc, vector, result,
            ValueRange{add(mul(row, index(kernel.outChannels)), column)},
            /*nontemporal=*/false, llvm::MaybeAlign(alignment));
      }
    }
  }
}

void TensorCoreMatmulEmitter::emit(gpu::GPUFuncOp func) {
  weights = func.getArgument(0);
  weightScales = func.getArgument(1);
  act = func.getArgument(2);
  actScales = func.getArgument(3);
  result = func.getArgument(4);
  tokens = arith::IndexCastOp::create(b, loc, b.getIndexType(),
                                      func.getArgument(5));
  lastToken = arith::SubIOp::create(b, loc, tokens, index(1));
  emitNibbleConstants();
  shared = getDynamicSharedMemory(kernel.getSharedMemoryBytes());

  thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  lane = rem(thread, kWarpSize);
  Value warp = div(thread, kWarpSize);
  warpRow = mul(div(warp, kWarpGridColumns), index(warpRows));
  warpColumn = mul(rem(warp, kWarpGridColumns), index(kWarpColumns));
  blockRow = mul(gpu::BlockIdOp::create(b, loc, gpu::Dimension::y),
                 index(kernel.blockRows));
  blockColumn = mul(gpu::BlockIdOp::create(b, loc, gpu::Dimension::x),
                    index(Kernel::kBlockColumns));

  // Prologue: the first stages - 1 steps in flight.
  for (int64_t s = 0; s + 1 < kernel.stages; ++s)
    emitLoadTile(index(s), index(s));

  SmallVector<Value> acc(mmaTilesM * kMmaTilesN * 4, f32(0.0f));
  // One loop per run of steps of one activation width; the copies in
  // flight run on across loops.
  forEachStepRun(kernel, [&](int64_t begin, int64_t end, int64_t actBits) {
    emitMainLoop(begin, end, actBits, acc);
  });
  NVVM::CpAsyncWaitGroupOp::create(b, loc, 0);
  emitStore(acc);
}

void TensorCoreMatmulEmitter::emitMainLoop(int64_t begin, int64_t end,
                                           int64_t actBits,
                                           SmallVectorImpl<Value> &acc) {
  auto loop = scf::ForOp::create(
      b, loc, index(begin), index(end), index(1), acc,
      [&](OpBuilder &, Location, Value tile, ValueRange carried) {
        SmallVector<Value> tileAcc(carried);
        // Step `tile` has landed once at most stages - 2 groups are pending;
        // the barrier also tells every warp that the stage the next copies
        // overwrite was consumed in the previous iteration.
        NVVM::CpAsyncWaitGroupOp::create(b, loc, kernel.stages - 2);
        gpu::BarrierOp::create(b, loc);
        Value next = add(tile, index(kernel.stages - 1));
        emitLoadTile(next, rem(next, kernel.stages));
        emitComputeTile(tile, rem(tile, kernel.stages), actBits, tileAcc);
        scf::YieldOp::create(b, loc, tileAcc);
      });
  acc.assign(loop.getResults().begin(), loop.getResults().end());
}

gpu::GPUFuncOp
lowbit::buildTensorCoreMatmulKernel(OpBuilder &builder, Location loc,
                                    const TensorCoreMatmulKernel &kernel) {
  auto dynamic = [&](Type element) {
    return MemRefType::get({ShapedType::kDynamic}, element);
  };
  auto type = builder.getFunctionType(
      {dynamic(builder.getI8Type()), dynamic(kernel.scaleType),
       dynamic(builder.getI8Type()), dynamic(kernel.scaleType),
       dynamic(kernel.resultType), builder.getI32Type()},
      {});
  declareDynamicSharedMemory(builder, loc);
  auto func = gpu::GPUFuncOp::create(builder, loc, kernel.getName(), type);
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), builder.getUnitAttr());
  func.setKnownBlockSizeAttr(
      builder.getDenseI32ArrayAttr({int32_t(kThreads), 1, 1}));

  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(&func.getBody().front());
  TensorCoreMatmulEmitter(builder, loc, kernel).emit(func);
  gpu::ReturnOp::create(builder, loc);
  return func;
}
