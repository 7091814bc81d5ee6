//===- QuantizeActivations.cpp - integer matmuls for quantized layers -------===//
//
// Turns a linear layer over dequantized weights into a mixed-precision
// matmul: its input is quantized per token at run time in the weight's
// blocks and permutation, and the product accumulates in INT32. A channel
// permutation left in front of the layer is fused into the quantization.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/LowBit/IR/LowBitOps.h"
#include "lowbit/Dialect/LowBit/Transforms/Passes.h"

#include "mlir/IR/Builders.h"

namespace lowbit {
#define GEN_PASS_DEF_QUANTIZEACTIVATIONS
#include "lowbit/Dialect/LowBit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
struct QuantizeActivationsPass
    : public lowbit::impl::QuantizeActivationsBase<QuantizeActivationsPass> {
  using QuantizeActivationsBase::QuantizeActivationsBase;

  void runOnOperation() override;

  /// Rewrites one linear over the dequantized `weight`; fails after
  /// reporting why.
  LogicalResult rewrite(LinearOp linear, QuantizeOp weight);
};

/// The permutation P when `input` is permute_channels(x, P) of the channel
/// axis; null otherwise.
PermuteChannelsOp getChannelPermutation(Value input) {
  auto permutation = input.getDefiningOp<PermuteChannelsOp>();
  if (!permutation || permutation.getPermutedAxis() != 1)
    return nullptr;
  return permutation;
}
} // namespace

LogicalResult QuantizeActivationsPass::rewrite(LinearOp linear,
                                               QuantizeOp weight) {
  BlockLayoutAttr weightLayout = weight.getResult().getType().getLayout();
  SmallVector<int64_t> blockBits(weightLayout.getNumBlocks(), int64_t(bits));
  if (auto chosen =
          linear->getAttrOfType<BlockLayoutAttr>(kActivationLayoutAttrName))
    blockBits.assign(chosen.getBlockBits().begin(),
                     chosen.getBlockBits().end());
  auto emitError = [&] { return linear.emitError(); };

  // permute(x, P) times permute(W, P): quantize x and W with P in their
  // layouts, so the gather happens inside activation quantization.
  Value activation = linear.getInput();
  ArrayRef<int64_t> permutation = weightLayout.getPermutation();
  PermuteChannelsOp activationPermutation = getChannelPermutation(activation);
  PermuteChannelsOp weightPermutation =
      getChannelPermutation(weight.getInput());
  OpBuilder builder(linear);
  if (activationPermutation && weightPermutation && permutation.empty() &&
      activationPermutation.getPermutation() ==
          weightPermutation.getPermutation()) {
    permutation = activationPermutation.getPermutation();
    activation = activationPermutation.getInput();
    auto layout = BlockLayoutAttr::getChecked(
        emitError, &getContext(), weightLayout.getBlockSize(),
        weightLayout.getBlockBits(), weightLayout.getGranularity(),
        weightLayout.getGroupSize(), permutation, weightLayout.getAsymmetric());
    if (!layout)
      return failure();
    QuantizedTensorType oldType = weight.getResult().getType();
    auto permutedType = QuantizedTensorType::get(
        &getContext(), oldType.getShape(), oldType.getScaleType(), layout);
    // Importance is indexed by the quantized tensor's input channels.
    DenseF32ArrayAttr importance;
    if (std::optional<ArrayRef<float>> permuted =
            weight.getChannelImportance()) {
      SmallVector<float> original(permuted->size());
      for (auto [position, channel] : llvm::enumerate(permutation))
        original[channel] = (*permuted)[position];
      importance = builder.getDenseF32ArrayAttr(original);
    }
    weight = QuantizeOp::create(builder, weight.getLoc(), permutedType,
                                weightPermutation.getInput(),
                                weight.getClipSearchAttr(), importance);
  }

  auto layout = BlockLayoutAttr::getChecked(
      emitError, &getContext(), weightLayout.getBlockSize(),
      ArrayRef<int64_t>(blockBits), ScaleGranularity::PerToken,
      /*groupSize=*/int64_t(0), permutation, /*asymmetric=*/false);
  if (!layout)
    return failure();
  auto inputType = cast<RankedTensorType>(activation.getType());
  auto actType = QuantizedTensorType::getChecked(
      emitError, &getContext(), inputType.getShape(),
      FloatType(Float16Type::get(&getContext())), layout);
  if (!actType)
    return failure();
  Value act = QuantizeOp::create(builder, linear.getLoc(), actType, activation);
  Value product = MatmulOp::create(builder, linear.getLoc(), linear.getType(),
                                   act, weight.getResult());
  linear.replaceAllUsesWith(product);
  return success();
}

void QuantizeActivationsPass::runOnOperation() {
  if (bits != 4 && bits != 8) {
    getOperation().emitError()
        << "activation bits must be 4 or 8, found " << int64_t(bits);
    return signalPassFailure();
  }
  SmallVector<LinearOp> linears;
  getOperation().walk([&](LinearOp linear) {
    if (linear.getWeight().getDefiningOp<DequantizeOp>())
      linears.push_back(linear);
  });
  for (LinearOp linear : linears) {
    auto dequantize = linear.getWeight().getDefiningOp<DequantizeOp>();
    auto weight = dequantize.getInput().getDefiningOp<QuantizeOp>();
    if (!weight) {
      linear.emitError() << "the weight of this layer is dequantized from "
                            "something other than a lowbit.quantize";
      return signalPassFailure();
    }
    if (failed(rewrite(linear, weight)))
      return signalPassFailure();
    linear.erase();
    for (Operation *dead :
         {dequantize.getOperation(), weight.getOperation()})
      if (dead->use_empty())
        dead->erase();
  }
  // Permutations fused into quantization are left without users.
  SmallVector<PermuteChannelsOp> permutations;
  getOperation().walk(
      [&](PermuteChannelsOp permutation) { permutations.push_back(permutation); });
  for (PermuteChannelsOp permutation : llvm::reverse(permutations))
    if (permutation->use_empty())
      permutation.erase();
}
