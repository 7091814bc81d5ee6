//===- LinearKernel.cpp - f32 linear of many token rows on CUDA cores -----===//
//
// Builds the linear kernel as a gpu.func of arith/memref/scf/vector ops.
//
// Thread t of a block is output group t % 16 and row group t / 16: it sums
// rows 4 (t / 16).. by outputs 4 (t % 16).. and 64 + 4 (t % 16).., so that
// the 16 threads of a row group read 256 contiguous shared bytes per
// vector load. The input tile is stored transposed (k-major, rows padded by
// 4 floats against bank conflicts of the transposing stores), so a thread
// reads its 4 rows of one k as one vector.
//
// Global reads: each step's input tile is 64 rows x 16 channels, one
// vector<4xf32> per thread (row t / 4, channels 4 (t % 4)..); its weight
// tile 16 x 128, two vectors per thread along the weight rows, which are
// contiguous in weightT.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Conversion/LowBitToNVGPU/LinearKernel.h"

#include "KernelEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace lowbit;

namespace {
using Kernel = LinearKernel;
/// Floats of one global or shared vector access.
constexpr int64_t kVector = 4;
/// Output groups of a block (threads along the outputs), each 2 x kVector
/// outputs.
constexpr int64_t kOutputGroups = Kernel::kBlockColumns / (2 * kVector);
/// Row groups of a block (threads along the rows), each kVector rows.
constexpr int64_t kRowGroups = Kernel::kThreads / kOutputGroups;
static_assert(kRowGroups * kVector == Kernel::kBlockRows,
              "every row of a tile has a thread");
/// Floats of one transposed input row in shared memory: the tile's rows
/// and a padding of one vector.
constexpr int64_t kInputStride = Kernel::kBlockRows + kVector;
/// Floats of one buffer of the transposed input tile and of the weight
/// tile.
constexpr int64_t kInputTileFloats = Kernel::kStepChannels * kInputStride;
constexpr int64_t kWeightTileFloats =
    Kernel::kStepChannels * Kernel::kBlockColumns;
/// Weight vectors each thread reads per step.
constexpr int64_t kWeightVectorsPerThread =
    kWeightTileFloats / kVector / Kernel::kThreads;
static_assert(Kernel::kBlockRows * Kernel::kStepChannels ==
                  Kernel::kThreads * kVector,
              "one input vector a thread and step");
/// Bytes every vector access of the kernel is aligned to.
constexpr uint64_t kVectorAlignment = kVector * 4;

/// Emits the kernel body.
class LinearEmitter : public KernelEmitter {
public:
  LinearEmitter(OpBuilder &builder, Location loc, const Kernel &kernel)
      : KernelEmitter(builder, loc), kernel(kernel) {}

  void emit(gpu::GPUFuncOp func) {
    Value input = func.getArgument(0), weightT = func.getArgument(1);
    Value out = func.getArgument(2);
    Value rows = arith::IndexCastUIOp::create(b, loc, b.getIndexType(),
                                              func.getArgument(3));
    // Two buffers each: the transposed input tiles, then the weight tiles.
    Value shared = getDynamicSharedMemory(kernel.getSharedMemoryBytes());
    Value inputTiles =
        viewAs(shared, 0, 2 * kInputTileFloats, b.getF32Type());
    Value weightTiles = viewAs(shared, 2 * kInputTileFloats * 4,
                               2 * kWeightTileFloats, b.getF32Type());
    Value thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
    Value firstColumn =
        mul(gpu::BlockIdOp::create(b, loc, gpu::Dimension::x),
            index(Kernel::kBlockColumns));
    Value firstRow = mul(gpu::BlockIdOp::create(b, loc, gpu::Dimension::y),
                         index(Kernel::kBlockRows));
    Value lastRow = arith::SubIOp::create(b, loc, rows, index(1));

    // What this thread reads of each step: one input vector (a row, clamped
    // to the last, and 4 channels) and its weight vectors.
    Value loadRow = min(add(firstRow, div(thread, kVector)), lastRow);
    Value loadChannel = mul(rem(thread, kVector), index(kVector));
    Value inputBase = add(mul(loadRow, index(kernel.inChannels)), loadChannel);
    SmallVector<std::pair<Value, Value>> weightReads; // (tile row, column)
    for (int64_t v = 0; v < kWeightVectorsPerThread; ++v) {
      Value vector = add(thread, index(v * Kernel::kThreads));
      constexpr int64_t vectorsPerRow = Kernel::kBlockColumns / kVector;
      weightReads.push_back({div(vector, vectorsPerRow),
                             mul(rem(vector, vectorsPerRow), index(kVector))});
    }
    auto readStep = [&](Value step) {
      Value channel = mul(step, index(Kernel::kStepChannels));
      SmallVector<Value> values = {loadVector(input, add(inputBase, channel))};
      for (auto [row, column] : weightReads)
        values.push_back(loadVector(
            weightT, add(mul(add(channel, row), index(kernel.outChannels)),
                         add(firstColumn, column))));
      return values;
    };
    auto storeStep = [&](ValueRange values, Value buffer) {
      // The input vector transposed: channel c of it to row c.
      Value inputTile = mul(buffer, index(kInputTileFloats));
      Value tileRow = div(thread, kVector);
      for (int64_t c = 0; c < kVector; ++c)
        memref::StoreOp::create(
            b, loc, vector::ExtractOp::create(b, loc, values[0], c),
            inputTiles,
            ValueRange{add(inputTile,
                           add(mul(add(loadChannel, index(c)),
                                   index(kInputStride)),
                               tileRow))});
      Value weightTile = mul(buffer, index(kWeightTileFloats));
      for (auto [value, read] : llvm::zip(values.drop_front(), weightReads))
        storeVector(value, weightTiles,
                    add(weightTile,
                        add(mul(read.first, index(Kernel::kBlockColumns)),
                            read.second)));
    };

    Value rowGroup = div(thread, kOutputGroups);
    Value outputGroup = rem(thread, kOutputGroups);
    Value sumRow = mul(rowGroup, index(kVector));
    Value sumColumn = mul(outputGroup, index(kVector));
    constexpr int64_t halfColumns = Kernel::kBlockColumns / 2;

    const int64_t steps = kernel.inChannels / Kernel::kStepChannels;
    storeStep(readStep(index(0)), index(0));
    gpu::BarrierOp::create(b, loc);
    // Sums of row r: runs 0 (outputs sumColumn..) and 1 (64 further) at
    // 2r and 2r + 1.
    auto sumsType = VectorType::get({kVector}, b.getF32Type());
    SmallVector<Value> zeros(
        2 * kVector,
        arith::ConstantOp::create(b, loc, sumsType,
                                  DenseElementsAttr::get(sumsType, 0.0f)));
    // The body builds through `b`, the builder scf.for hands in.
    auto loop = scf::ForOp::create(
        b, loc, index(0), index(steps), index(1), zeros,
        [&](OpBuilder &, Location, Value step, ValueRange sums) {
          // The next step's tiles (the last step's again at the end) load
          // while this step's sum.
          Value next = min(add(step, index(1)), index(steps - 1));
          SmallVector<Value> prefetched = readStep(next);
          Value buffer = rem(step, 2);
          Value inputTile = mul(buffer, index(kInputTileFloats));
          Value weightTile = mul(buffer, index(kWeightTileFloats));
          SmallVector<Value> acc(sums);
          for (int64_t k = 0; k < Kernel::kStepChannels; ++k) {
            Value a = loadVector(
                inputTiles,
                add(inputTile, add(index(k * kInputStride), sumRow)));
            Value weightRow =
                add(weightTile, index(k * Kernel::kBlockColumns));
            Value w[2] = {
                loadVector(weightTiles, add(weightRow, sumColumn)),
                loadVector(weightTiles, add(weightRow, add(sumColumn,
                                                           index(halfColumns))))};
            for (int64_t r = 0; r < kVector; ++r) {
              Value x = vector::BroadcastOp::create(
                  b, loc, sumsType, vector::ExtractOp::create(b, loc, a, r));
              for (int64_t run = 0; run < 2; ++run)
                acc[2 * r + run] = vector::FMAOp::create(b, loc, x, w[run],
                                                         acc[2 * r + run]);
            }
          }
          storeStep(prefetched, rem(add(step, index(1)), 2));
          gpu::BarrierOp::create(b, loc);
          scf::YieldOp::create(b, loc, acc);
        });

    for (int64_t r = 0; r < kVector; ++r) {
      Value row = add(firstRow, add(sumRow, index(r)));
      auto inside = scf::IfOp::create(b, loc, less(row, rows),
                                      /*withElseRegion=*/false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(inside.thenBlock());
      Value base = add(mul(row, index(kernel.outChannels)),
                       add(firstColumn, sumColumn));
      storeVector(loop.getResult(2 * r), out, base);
      storeVector(loop.getResult(2 * r + 1), out,
                  add(base, index(halfColumns)));
    }
  }

private:
  Value loadVector(Value memref, Value offset) {
    return vector::LoadOp::create(
        b, loc, VectorType::get({kVector}, b.getF32Type()), memref,
        ValueRange{offset}, /*nontemporal=*/false,
        llvm::MaybeAlign(kVectorAlignment));
  }
  void storeVector(Value value, Value memref, Value offset) {
    vector::StoreOp::create(b, loc, value, memref, ValueRange{offset},
                            /*nontemporal=*/false,
                            llvm::MaybeAlign(kVectorAlignment));
  }

  const Kernel &kernel;
};
} // namespace

std::string LinearKernel::getName() const {
  return llvm::formatv("simt_linear_n{0}_k{1}", outChannels, inChannels).str();
}

int64_t LinearKernel::getSharedMemoryBytes() const {
  return 2 * (kInputTileFloats + kWeightTileFloats) * 4;
}

gpu::GPUFuncOp lowbit::buildLinearKernel(OpBuilder &builder, Location loc,
                                         const LinearKernel &kernel) {
  Type f32 = builder.getF32Type();
  auto dynamic = MemRefType::get({ShapedType::kDynamic}, f32);
  auto type = builder.getFunctionType(
      {dynamic, dynamic, dynamic, builder.getI32Type()}, {});
  declareDynamicSharedMemory(builder, loc);
  auto func = gpu::GPUFuncOp::create(builder, loc, kernel.getName(), type);
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(),
                builder.getUnitAttr());
  func.setKnownBlockSizeAttr(
      builder.getDenseI32ArrayAttr({int32_t(LinearKernel::kThreads), 1, 1}));

  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(&func.getBody().front());
  LinearEmitter(builder, loc, kernel).emit(func);
  gpu::ReturnOp::create(builder, loc);
  return func;
}
