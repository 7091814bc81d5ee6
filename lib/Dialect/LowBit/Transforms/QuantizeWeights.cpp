//===- QuantizeWeights.cpp - 4/8-bit weights for linear layers --------------===//
//
// Stores the weights of linear layers as block-quantized tensors: the linear
// then reads lowbit.dequantize(lowbit.quantize(weight)), which is W4A16 (or
// W8A16) and the starting point of activation quantization.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/LowBit/IR/LowBitOps.h"
#include "lowbit/Dialect/LowBit/Transforms/Passes.h"

#include "mlir/IR/Builders.h"

namespace lowbit {
#define GEN_PASS_DEF_QUANTIZEWEIGHTS
#include "lowbit/Dialect/LowBit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
struct QuantizeWeightsPass
    : public lowbit::impl::QuantizeWeightsBase<QuantizeWeightsPass> {
  using QuantizeWeightsBase::QuantizeWeightsBase;

  void runOnOperation() override;

  /// The stored type of a [outputs, inputs] weight, or null after reporting
  /// why the options do not fit it.
  QuantizedTensorType storedType(LinearOp linear, RankedTensorType weightType);
};
} // namespace

QuantizedTensorType
QuantizeWeightsPass::storedType(LinearOp linear, RankedTensorType weightType) {
  StringRef name = getSourceWeight(linear.getWeight()).getName();
  int64_t inputs = weightType.getDimSize(1);
  // FMPQ's blocks, when it chose them, else uniform blocks of `blockSize`.
  auto activationLayout =
      linear->getAttrOfType<BlockLayoutAttr>(kActivationLayoutAttrName);
  int64_t layerBlockSize =
      activationLayout ? activationLayout.getBlockSize() : int64_t(blockSize);
  if (inputs % layerBlockSize != 0) {
    linear.emitError() << "block size " << layerBlockSize
                       << " does not divide the " << inputs
                       << " input channels of " << name;
    return nullptr;
  }
  SmallVector<int64_t> blockBits(inputs / layerBlockSize, int64_t(bits));
  if (activationLayout && int8OutlierBlocks)
    for (auto [weightBits, activationBits] :
         llvm::zip(blockBits, activationLayout.getBlockBits()))
      weightBits = std::max(weightBits, activationBits);
  ScaleGranularity granularity =
      groupSize ? ScaleGranularity::PerGroup : ScaleGranularity::PerChannel;
  auto emitError = [&] { return linear.emitError(); };
  auto layout = BlockLayoutAttr::getChecked(
      emitError, &getContext(), layerBlockSize, ArrayRef<int64_t>(blockBits),
      granularity, int64_t(groupSize), /*permutation=*/ArrayRef<int64_t>(),
      bool(asymmetric));
  if (!layout)
    return nullptr;
  return QuantizedTensorType::getChecked(
      emitError, &getContext(), weightType.getShape(),
      FloatType(Float16Type::get(&getContext())), layout);
}

void QuantizeWeightsPass::runOnOperation() {
  if (bits != 4 && bits != 8) {
    getOperation().emitError()
        << "weight bits must be 4 or 8, found " << int64_t(bits);
    return signalPassFailure();
  }
  if (asymmetric && (bits != 4 || int8OutlierBlocks)) {
    getOperation().emitError() << "asymmetric weights are 4-bit only: "
                                  "bits=8 and int8-outlier-blocks do not "
                                  "combine with asymmetric";
    return signalPassFailure();
  }
  WalkResult result = getOperation().walk([&](LinearOp linear) {
    WeightOp source = getSourceWeight(linear.getWeight());
    if (!source || (!source.getName().starts_with("blk.") && !includeLMHead))
      return WalkResult::advance();
    auto weightType = cast<RankedTensorType>(linear.getWeight().getType());
    QuantizedTensorType type = storedType(linear, weightType);
    if (!type)
      return WalkResult::interrupt();
    OpBuilder builder(linear);
    auto stored =
        QuantizeOp::create(builder, linear.getLoc(), type, linear.getWeight());
    if (clipSearch) {
      stored.setClipSearch(true);
      if (auto stats = linear->getAttrOfType<ChannelStatisticsAttr>(
              kCalibrationAttrName))
        stored.setChannelImportanceAttr(stats.getMeanSquare());
    }
    Value restored =
        DequantizeOp::create(builder, linear.getLoc(), weightType, stored);
    linear.getWeightMutable().assign(restored);
    return WalkResult::advance();
  });
  if (result.wasInterrupted())
    signalPassFailure();
}
