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

/// The statistics of a row-parallel layer's local input channels, from
/// those of the whole layer cut into `numRanks` slices. The module is SPMD:
/// every rank applies the same permutation and block layout, so local
/// channel i describes channel i of every rank's slice: the largest absmax
/// and percentile over ranks, and the mean of their mean squares.
static ChannelStatistics combineRankSlices(const ChannelStatistics &whole,
                                           int64_t numRanks) {
  size_t local = whole.absMax.size() / numRanks;
  ChannelStatistics combined{std::vector<float>(local, 0.0f),
                             std::vector<float>(local, 0.0f),
                             std::vector<float>(local, 0.0f)};
  for (int64_t rank = 0; rank < numRanks; ++rank)
    for (size_t channel = 0; channel < local; ++channel) {
      size_t source = rank * local + channel;
      combined.absMax[channel] =
          std::max(combined.absMax[channel], whole.absMax[source]);
      combined.percentile[channel] =
          std::max(combined.percentile[channel], whole.percentile[source]);
      combined.meanSquare[channel] +=
          whole.meanSquare[source] / static_cast<float>(numRanks);
    }
  return combined;
}

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
    WeightOp weight = getSourceWeight(linear.getWeight());
    if (!weight)
      return WalkResult::advance();
    auto found = statistics->linears.find(weight.getName());
    if (found == statistics->linears.end()) {
      linear.emitError() << "calibration file '" << file
                         << "' has no statistics for " << weight.getName();
      return WalkResult::interrupt();
    }
    ChannelStatistics channels = found->getValue();
    int64_t inputs =
        cast<RankedTensorType>(weight.getType()).getDimSize(1);
    if (static_cast<int64_t>(channels.absMax.size()) != inputs) {
      linear.emitError() << "calibration file '" << file << "' describes "
                         << channels.absMax.size() << " input channels of "
                         << weight.getName() << "; the layer has " << inputs;
      return WalkResult::interrupt();
    }
    int64_t localInputs = cast<RankedTensorType>(linear.getWeight().getType())
                              .getDimSize(1);
    if (localInputs != inputs)
      channels = combineRankSlices(channels, inputs / localInputs);
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
