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
  /// The wire format of `element`, `wireBlockSize` and `scaleName`, or
  /// failure after reporting why they do not describe one.
  FailureOr<WireFormatAttr> getWireFormat(StringRef element,
                                          int64_t wireBlockSize,
                                          StringRef scaleName);
  /// The formats of layer-formats by layer, or failure after reporting a
  /// malformed entry.
  FailureOr<llvm::SmallDenseMap<int64_t, WireFormatAttr>> getLayerFormats();
  /// Compresses one all-reduce as `algorithm` says.
  LogicalResult compress(AllReduceOp reduce, WireFormatAttr wire);
};
} // namespace

FailureOr<WireFormatAttr>
CompressCollectivesPass::getWireFormat(StringRef elementName,
                                       int64_t wireBlockSize,
                                       StringRef scaleName) {
  ModuleOp module = getOperation();
  std::optional<WireElement> element = symbolizeWireElement(elementName);
  if (!element) {
    module.emitError() << "unknown wire format '" << elementName
                       << "' (known: fp4_e2m1, fp5_e2m2, fp5_e3m1, int4, "
                          "int8)";
    return failure();
  }
  Builder builder(&getContext());
  Type scaleType = llvm::StringSwitch<Type>(scaleName)
                       .Case("f16", builder.getF16Type())
                       .Case("bf16", builder.getBF16Type())
                       .Case("f32", builder.getF32Type())
                       .Case("e8m0", Float8E8M0FNUType::get(&getContext()))
                       .Default(Type());
  if (!scaleType) {
    module.emitError() << "unknown wire scale type '" << scaleName
                       << "' (known: f16, bf16, f32, e8m0)";
    return failure();
  }
  auto emitError = [&] { return module.emitError(); };
  if (failed(WireFormatAttr::verify(emitError, *element, wireBlockSize,
                                    scaleType)))
    return failure();
  return WireFormatAttr::get(&getContext(), *element, wireBlockSize,
                             scaleType);
}

FailureOr<llvm::SmallDenseMap<int64_t, WireFormatAttr>>
CompressCollectivesPass::getLayerFormats() {
  llvm::SmallDenseMap<int64_t, WireFormatAttr> formats;
  for (StringRef entry : layerFormats) {
    auto [layerText, formatText] = entry.split(':');
    SmallVector<StringRef, 3> parts;
    formatText.split(parts, '-');
    int64_t layer = 0, layerBlockSize = blockSize;
    if (formatText.empty() || parts.size() > 3 ||
        layerText.getAsInteger(10, layer) || layer < 0 ||
        (parts.size() > 1 && !parts[1].empty() &&
         parts[1].getAsInteger(10, layerBlockSize))) {
      getOperation().emitError()
          << "layer format '" << entry
          << "' is not LAYER:ELEMENT[-BLOCK[-SCALE]] (e.g. 0:int8-32-f16)";
      return failure();
    }
    if (llvm::is_contained(excludeLayers, layer)) {
      getOperation().emitError() << "layer " << layer
                                 << " is both excluded and given a format";
      return failure();
    }
    StringRef layerScale =
        parts.size() > 2 && !parts[2].empty() ? parts[2] : StringRef(scale);
    FailureOr<WireFormatAttr> wire =
        getWireFormat(parts[0], layerBlockSize, layerScale);
    if (failed(wire))
      return failure();
    if (!formats.try_emplace(layer, *wire).second) {
      getOperation().emitError()
          << "layer " << layer << " is given two formats";
      return failure();
    }
  }
  return formats;
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
  if (algorithm != "all-gather" && algorithm != "reduce-scatter") {
    getOperation().emitError() << "unknown algorithm '" << algorithm
                               << "' (known: all-gather, reduce-scatter)";
    return signalPassFailure();
  }
  FailureOr<WireFormatAttr> wire = getWireFormat(format, blockSize, scale);
  if (failed(wire))
    return signalPassFailure();
  FailureOr<llvm::SmallDenseMap<int64_t, WireFormatAttr>> layerWires =
      getLayerFormats();
  if (failed(layerWires))
    return signalPassFailure();
  int64_t lastFormattedLayer = -1;
  for (const auto &layerWire : *layerWires)
    lastFormattedLayer = std::max(lastFormattedLayer, layerWire.first);
  llvm::SmallDenseSet<int64_t> excluded(excludeLayers.begin(),
                                        excludeLayers.end());
  for (auto function : getOperation().getOps<func::FuncOp>()) {
    if (function.getSymName() == "decode" && !compressDecode)
      continue;
    // All-reduces in program order: two per decoder layer.
    SmallVector<AllReduceOp> reduces;
    function.walk([&](AllReduceOp reduce) { reduces.push_back(reduce); });
    int64_t layers = static_cast<int64_t>(reduces.size()) / 2;
    if (!reduces.empty() && lastFormattedLayer >= layers) {
      function.emitError() << "layer-formats names layer "
                           << lastFormattedLayer << ", but this function has "
                           << layers << " decoder layers";
      return signalPassFailure();
    }
    for (auto [index, reduce] : llvm::enumerate(reduces)) {
      int64_t layer = static_cast<int64_t>(index) / 2;
      if (reduce.getWire() || excluded.contains(layer))
        continue;
      auto layerWire = layerWires->find(layer);
      if (failed(compress(reduce, layerWire != layerWires->end()
                                      ? layerWire->second
                                      : *wire)))
        return signalPassFailure();
    }
  }
}
