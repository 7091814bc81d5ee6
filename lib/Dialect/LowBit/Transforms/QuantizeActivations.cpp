//===- QuantizeActivations.cpp - integer matmuls for quantized layers -------===//
//
// Turns a linear layer over dequantized weights into a mixed-precision
// matmul: its input is quantized per token at run time in the weight's
// blocks and permutation, and the product accumulates in INT32.
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

/// Name of the linear attribute through which FMPQ chooses per-block
/// activation widths.
static constexpr llvm::StringLiteral kActivationBitsAttr =
    "lowbit.activation_bits";

namespace {
struct QuantizeActivationsPass
    : public lowbit::impl::QuantizeActivationsBase<QuantizeActivationsPass> {
  using QuantizeActivationsBase::QuantizeActivationsBase;

  void runOnOperation() override;
};
} // namespace

void QuantizeActivationsPass::runOnOperation() {
  if (bits != 4 && bits != 8) {
    getOperation().emitError() << "activation bits must be 4 or 8, found "
                               << int64_t(bits);
    return signalPassFailure();
  }
  SmallVector<LinearOp> linears;
  getOperation().walk([&](LinearOp linear) {
    if (linear.getWeight().getDefiningOp<DequantizeOp>())
      linears.push_back(linear);
  });
  for (LinearOp linear : linears) {
    auto dequantize = linear.getWeight().getDefiningOp<DequantizeOp>();
    QuantizedTensorType weightType = dequantize.getInput().getType();
    BlockLayoutAttr weightLayout = weightType.getLayout();
    SmallVector<int64_t> blockBits(weightLayout.getNumBlocks(), int64_t(bits));
    if (auto chosen = linear->getAttrOfType<DenseI64ArrayAttr>(
            kActivationBitsAttr))
      blockBits.assign(chosen.asArrayRef().begin(), chosen.asArrayRef().end());
    auto emitError = [&] { return linear.emitError(); };
    auto layout = BlockLayoutAttr::getChecked(
        emitError, &getContext(), weightLayout.getBlockSize(),
        ArrayRef<int64_t>(blockBits), ScaleGranularity::PerToken,
        /*groupSize=*/int64_t(0), weightLayout.getPermutation());
    if (!layout)
      return signalPassFailure();
    auto inputType = cast<RankedTensorType>(linear.getInput().getType());
    auto actType = QuantizedTensorType::getChecked(
        emitError, &getContext(), inputType.getShape(),
        FloatType(Float16Type::get(&getContext())), layout);
    if (!actType)
      return signalPassFailure();

    OpBuilder builder(linear);
    Value act = QuantizeOp::create(builder, linear.getLoc(), actType,
                                   linear.getInput());
    Value product = MatmulOp::create(builder, linear.getLoc(), linear.getType(),
                                     act, dequantize.getInput());
    linear.replaceAllUsesWith(product);
    linear.erase();
    if (dequantize.use_empty())
      dequantize.erase();
  }
}
