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
  int64_t inputs = weightType.getDimSize(1);
  if (inputs % blockSize != 0) {
    linear.emitError() << "block size " << int64_t(blockSize) << " does not divide the "
                       << inputs << " input channels of this layer";
    return nullptr;
  }
  SmallVector<int64_t> blockBits(inputs / blockSize, int64_t(bits));
  ScaleGranularity granularity =
      groupSize ? ScaleGranularity::PerGroup : ScaleGranularity::PerChannel;
  auto emitError = [&] { return linear.emitError(); };
  auto layout = BlockLayoutAttr::getChecked(
      emitError, &getContext(), int64_t(blockSize), ArrayRef<int64_t>(blockBits),
      granularity, int64_t(groupSize), /*permutation=*/ArrayRef<int64_t>());
  if (!layout)
    return nullptr;
  return QuantizedTensorType::getChecked(
      emitError, &getContext(), weightType.getShape(),
      FloatType(Float16Type::get(&getContext())), layout);
}

void QuantizeWeightsPass::runOnOperation() {
  if (bits != 4 && bits != 8) {
    getOperation().emitError() << "weight bits must be 4 or 8, found " << int64_t(bits);
    return signalPassFailure();
  }
  WalkResult result = getOperation().walk([&](LinearOp linear) {
    auto weight = linear.getWeight().getDefiningOp<WeightOp>();
    if (!weight ||
        (!weight.getName().starts_with("blk.") && !includeLMHead))
      return WalkResult::advance();
    auto weightType = cast<RankedTensorType>(weight.getType());
    QuantizedTensorType type = storedType(linear, weightType);
    if (!type)
      return WalkResult::interrupt();
    OpBuilder builder(linear);
    Value stored = QuantizeOp::create(builder, linear.getLoc(), type, weight);
    Value restored =
        DequantizeOp::create(builder, linear.getLoc(), weightType, stored);
    linear.getWeightMutable().assign(restored);
    return WalkResult::advance();
  });
  if (result.wasInterrupted())
    signalPassFailure();
}
