//===- CompressCollectives.cpp - block-quantized all-reduces ----------------===//
//
// On PCIe-class links the all-reduce after every row-parallel layer
// dominates time-to-first-token. This pass chooses how those partial
// results travel: block-quantized to 4, 5 or 8 bits with one scale per
// block, sent by a quantized all-gather or by a quantized reduce-scatter
// and all-gather.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/LowBit/IR/LowBitOps.h"
#include "lowbit/Dialect/LowBit/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/StringSwitch.h"

namespace lowbit {
#define GEN_PASS_DEF_COMPRESSCOLLECTIVES
#include "lowbit/Dialect/LowBit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
struct CompressCollectivesPass
    : public lowbit::impl::CompressCollectivesBase<CompressCollectivesPass> {
  using CompressCollectivesBase::CompressCollectivesBase;

  void runOnOperation() override;

private:
  /// The wire format the options describe, or failure after reporting why
  /// they do not describe one.
  FailureOr<WireFormatAttr> getWireFormat();
  /// Compresses one all-reduce as `algorithm` says.
  LogicalResult compress(AllReduceOp reduce, WireFormatAttr wire);
};
} // namespace

FailureOr<WireFormatAttr> CompressCollectivesPass::getWireFormat() {
  ModuleOp module = getOperation();
  std::optional<WireElement> element = symbolizeWireElement(format);
  if (!element) {
    module.emitError() << "unknown wire format '" << format
                       << "' (known: fp4_e2m1, fp5_e2m2, fp5_e3m1, int4, "
                          "int8)";
    return failure();
  }
  Builder builder(&getContext());
  Type scaleType = llvm::StringSwitch<Type>(scale)
                       .Case("f16", builder.getF16Type())
                       .Case("bf16", builder.getBF16Type())
                       .Case("f32", builder.getF32Type())
                       .Case("e8m0", Float8E8M0FNUType::get(&getContext()))
                       .Default(Type());
  if (!scaleType) {
    module.emitError() << "unknown wire scale type '" << scale
                       << "' (known: f16, bf16, f32, e8m0)";
    return failure();
  }
  if (algorithm != "all-gather" && algorithm != "reduce-scatter") {
    module.emitError() << "unknown algorithm '" << algorithm
                       << "' (known: all-gather, reduce-scatter)";
    return failure();
  }
  auto emitError = [&] { return module.emitError(); };
  if (failed(WireFormatAttr::verify(emitError, *element, blockSize,
                                    scaleType)))
    return failure();
  return WireFormatAttr::get(&getContext(), *element, blockSize, scaleType);
}

LogicalResult CompressCollectivesPass::compress(AllReduceOp reduce,
                                                WireFormatAttr wire) {
  auto type = cast<RankedTensorType>(reduce.getType());
  int64_t channels = type.getDimSize(1);
  if (ShapedType::isDynamic(channels) || channels % wire.getBlockSize() != 0)
    return reduce.emitError()
           << "cannot compress: wire blocks of " << wire.getBlockSize()
           << " do not tile " << type.getDimSize(1) << " channels";
  if (algorithm == "all-gather") {
    reduce.setWireAttr(wire);
    return success();
  }
  auto group = SymbolTable::lookupNearestSymbolFrom<RankGroupOp>(
      reduce, reduce.getGroupAttr());
  int64_t numRanks = group.getRanks().size();
  if (channels % (numRanks * wire.getBlockSize()) != 0)
    return reduce.emitError()
           << "cannot reduce-scatter: " << channels << " channels do not "
           << "split into " << numRanks << " slices of whole wire blocks of "
           << wire.getBlockSize();
  OpBuilder builder(reduce);
  auto sliceType = RankedTensorType::get(
      {type.getDimSize(0), channels / numRanks}, type.getElementType());
  IntegerAttr axis = builder.getI64IntegerAttr(1);
  auto scatter =
      ReduceScatterOp::create(builder, reduce.getLoc(), sliceType,
                              reduce.getInput(), reduce.getGroupAttr(), axis,
                              wire);
  auto gather = AllGatherOp::create(builder, reduce.getLoc(), type, scatter,
                                    reduce.getGroupAttr(), axis, wire);
  reduce.replaceAllUsesWith(gather.getResult());
  reduce.erase();
  return success();
}

void CompressCollectivesPass::runOnOperation() {
  FailureOr<WireFormatAttr> wire = getWireFormat();
  if (failed(wire))
    return signalPassFailure();
  llvm::SmallDenseSet<int64_t> excluded(excludeLayers.begin(),
                                        excludeLayers.end());
  for (auto function : getOperation().getOps<func::FuncOp>()) {
    if (function.getSymName() == "decode" && !compressDecode)
      continue;
    // All-reduces in program order: two per decoder layer.
    SmallVector<AllReduceOp> reduces;
    function.walk([&](AllReduceOp reduce) { reduces.push_back(reduce); });
    for (auto [index, reduce] : llvm::enumerate(reduces)) {
      if (reduce.getWire() ||
          excluded.contains(static_cast<int64_t>(index) / 2))
        continue;
      if (failed(compress(reduce, *wire)))
        return signalPassFailure();
    }
  }
}
