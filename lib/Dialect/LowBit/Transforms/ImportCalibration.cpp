//===- ImportCalibration.cpp - calibration statistics into the IR -----------===//
//
// Calibration runs a model over sample text outside the compiler; this pass
// brings what it measured into the IR, next to the linear layers it
// describes, so that FMPQ and weight quantization read it from there.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Calibration/CalibrationStatistics.h"
#include "lowbit/Dialect/LowBit/IR/LowBitOps.h"
#include "lowbit/Dialect/LowBit/Transforms/Passes.h"

#include "mlir/IR/Builders.h"

namespace lowbit {
#define GEN_PASS_DEF_IMPORTCALIBRATION
#include "lowbit/Dialect/LowBit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
struct ImportCalibrationPass
    : public lowbit::impl::ImportCalibrationBase<ImportCalibrationPass> {
  using ImportCalibrationBase::ImportCalibrationBase;

  void runOnOperation() override;
};
} // namespace

void ImportCalibrationPass::runOnOperation() {
  if (file.empty()) {
    getOperation().emitError()
        << "lowbit-import-calibration needs a calibration file (file=...)";
    return signalPassFailure();
  }
  llvm::Expected<CalibrationStatistics> statistics =
      readCalibrationStatistics(file);
  if (!statistics) {
    getOperation().emitError() << llvm::toString(statistics.takeError());
    return signalPassFailure();
  }
  Builder builder(&getContext());
  WalkResult result = getOperation().walk([&](LinearOp linear) {
    auto weight = linear.getWeight().getDefiningOp<WeightOp>();
    if (!weight)
      return WalkResult::advance();
    auto found = statistics->linears.find(weight.getName());
    if (found == statistics->linears.end()) {
      linear.emitError() << "calibration file '" << file
                         << "' has no statistics for " << weight.getName();
      return WalkResult::interrupt();
    }
    const ChannelStatistics &channels = found->getValue();
    int64_t inputs = cast<RankedTensorType>(linear.getWeight().getType())
                         .getDimSize(1);
    if (static_cast<int64_t>(channels.absMax.size()) != inputs) {
      linear.emitError() << "calibration file '" << file << "' describes "
                         << channels.absMax.size() << " input channels of "
                         << weight.getName() << "; the layer has " << inputs;
      return WalkResult::interrupt();
    }
    linear->setAttr(kCalibrationAttrName,
                    ChannelStatisticsAttr::get(
                        &getContext(), statistics->tokens,
                        builder.getDenseF32ArrayAttr(channels.absMax),
                        builder.getDenseF32ArrayAttr(channels.percentile),
                        builder.getDenseF32ArrayAttr(channels.meanSquare)));
    return WalkResult::advance();
  });
  if (result.wasInterrupted())
    signalPassFailure();
}
