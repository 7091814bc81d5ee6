//===- FMPQ.cpp - outlier channels into INT8 blocks -------------------------===//
//
// Fine-grained mixed-precision quantization (COMET): a few activation
// channels of large language models carry values far larger than the rest,
// and per-token INT4 scales sized for them would round everything else to
// zero. This pass finds those channels from calibration statistics and
// permutes them together into as few blocks as possible, which are then
// quantized to INT8 while every other block stays INT4.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/LowBit/IR/LowBitOps.h"
#include "lowbit/Dialect/LowBit/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/MapVector.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace lowbit {
#define GEN_PASS_DEF_FMPQ
#include "lowbit/Dialect/LowBit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
/// What FMPQ decided for one activation: the channel order and the width
/// of each block in that order.
struct ChannelPlan {
  SmallVector<int64_t> permutation;
  SmallVector<int64_t> blockBits;
};

struct FMPQPass : public lowbit::impl::FMPQBase<FMPQPass> {
  using FMPQBase::FMPQBase;

  void runOnOperation() override;

  /// The per-channel statistic of an activation feeding `linears`: the
  /// largest over the layers (they see the same input).
  SmallVector<float> channelStatistic(ArrayRef<LinearOp> linears);

  /// Chooses outlier channels and the permutation from `statistic`; warns
  /// at `linear` when the INT8 budget leaves outliers in INT4 blocks.
  ChannelPlan plan(LinearOp linear, ArrayRef<float> statistic);

  /// Rewrites `linears` to read `input` and their weights permuted by `plan`
  /// and records the chosen layout on each.
  void apply(Value input, ArrayRef<LinearOp> linears, const ChannelPlan &plan);
};
} // namespace

SmallVector<float> FMPQPass::channelStatistic(ArrayRef<LinearOp> linears) {
  SmallVector<float> largest;
  for (LinearOp linear : linears) {
    auto stats = linear->getAttrOfType<ChannelStatisticsAttr>(
        kCalibrationAttrName);
    ArrayRef<float> values = statistic == "percentile"
                                 ? stats.getPercentile().asArrayRef()
                                 : stats.getAbsMax().asArrayRef();
    if (largest.empty())
      largest.assign(values.begin(), values.end());
    else
      for (auto [current, value] : llvm::zip(largest, values))
        current = std::max(current, value);
  }
  return largest;
}

ChannelPlan FMPQPass::plan(LinearOp linear, ArrayRef<float> statistic) {
  int64_t channels = statistic.size();
  int64_t numBlocks = channels / blockSize;
  SmallVector<float> sorted(statistic);
  std::nth_element(sorted.begin(), sorted.begin() + channels / 2, sorted.end());
  float median = sorted[channels / 2];

  // Channels by decreasing statistic; ties keep channel order.
  SmallVector<int64_t> byMagnitude(channels);
  std::iota(byMagnitude.begin(), byMagnitude.end(), 0);
  std::stable_sort(byMagnitude.begin(), byMagnitude.end(),
                   [&](int64_t a, int64_t b) {
                     return statistic[a] > statistic[b];
                   });
  int64_t outliers = llvm::count_if(statistic, [&](float value) {
    return value > threshold * median;
  });
  int64_t maxInt8Blocks =
      static_cast<int64_t>(std::floor(maxInt8Fraction * numBlocks));
  int64_t int8Blocks =
      std::min((outliers + blockSize - 1) / blockSize, maxInt8Blocks);

  ChannelPlan result;
  int64_t kept = std::min(outliers, int8Blocks * blockSize);
  if (kept < outliers)
    linear.emitWarning() << "input of "
                         << getSourceWeight(linear.getWeight()).getName()
                         << ": " << outliers << " outlier channels but "
                         << "max-int8-fraction " << double(maxInt8Fraction)
                         << " allows " << int8Blocks << " INT8 block(s) of "
                         << int64_t(blockSize) << " channels out of "
                         << numBlocks << "; " << outliers - kept
                         << " outliers stay in INT4 blocks";
  if (sortChannels) {
    result.permutation = byMagnitude;
  } else {
    result.permutation.assign(byMagnitude.begin(), byMagnitude.begin() + kept);
    SmallVector<int64_t> rest(byMagnitude.begin() + kept, byMagnitude.end());
    llvm::sort(rest);
    result.permutation.append(rest);
  }
  result.blockBits.assign(numBlocks, 4);
  std::fill_n(result.blockBits.begin(), int8Blocks, 8);
  return result;
}

void FMPQPass::apply(Value input, ArrayRef<LinearOp> linears,
                     const ChannelPlan &plan) {
  MLIRContext *context = &getContext();
  auto layout = BlockLayoutAttr::get(context, blockSize, plan.blockBits,
                                     ScaleGranularity::PerToken,
                                     /*groupSize=*/0, ArrayRef<int64_t>(),
                                     /*asymmetric=*/false);
  bool identity = llvm::equal(plan.permutation,
                              llvm::seq<int64_t>(0, plan.permutation.size()));
  Value permuted = input;
  if (!identity) {
    OpBuilder builder(context);
    builder.setInsertionPointAfterValue(input);
    permuted = PermuteChannelsOp::create(builder, input.getLoc(), input,
                                         plan.permutation, IntegerAttr());
  }
  auto reorder = [&](DenseF32ArrayAttr values) {
    return DenseF32ArrayAttr::get(
        context, llvm::map_to_vector(plan.permutation, [&](int64_t channel) {
          return values[channel];
        }));
  };
  for (LinearOp linear : linears) {
    linear->setAttr(kActivationLayoutAttrName, layout);
    if (identity)
      continue;
    OpBuilder builder(linear);
    Value weight = PermuteChannelsOp::create(builder, linear.getLoc(),
                                             linear.getWeight(),
                                             plan.permutation, IntegerAttr());
    linear.getInputMutable().assign(permuted);
    linear.getWeightMutable().assign(weight);
    auto stats = linear->getAttrOfType<ChannelStatisticsAttr>(
        kCalibrationAttrName);
    linear->setAttr(kCalibrationAttrName,
                    ChannelStatisticsAttr::get(
                        context, stats.getTokens(), reorder(stats.getAbsMax()),
                        reorder(stats.getPercentile()),
                        reorder(stats.getMeanSquare())));
  }
}

void FMPQPass::runOnOperation() {
  if (statistic != "absmax" && statistic != "percentile") {
    getOperation().emitError() << "statistic must be absmax or percentile, "
                                  "found '"
                               << statistic << "'";
    return signalPassFailure();
  }
  if (blockSize <= 0 || !(threshold > 0.0) ||
      !(maxInt8Fraction >= 0.0 && maxInt8Fraction <= 1.0)) {
    getOperation().emitError()
        << "FMPQ needs block-size > 0, threshold > 0 and max-int8-fraction in "
           "[0, 1]; found "
        << int64_t(blockSize) << ", " << double(threshold) << ", "
        << double(maxInt8Fraction);
    return signalPassFailure();
  }

  // Linears that read the same activation share one permutation.
  llvm::MapVector<Value, SmallVector<LinearOp>> consumers;
  bool uncalibrated = false;
  getOperation().walk([&](LinearOp linear) {
    WeightOp weight = getSourceWeight(linear.getWeight());
    if (!weight || !weight.getName().starts_with("blk.") ||
        linear->hasAttr(kActivationLayoutAttrName))
      return;
    if (!linear->hasAttr(kCalibrationAttrName)) {
      linear.emitError() << "linear layer has no calibration statistics "
                            "(run lowbit-import-calibration first)";
      uncalibrated = true;
      return;
    }
    consumers[linear.getInput()].push_back(linear);
  });
  if (uncalibrated)
    return signalPassFailure();

  for (auto &[input, linears] : consumers) {
    int64_t channels =
        cast<RankedTensorType>(input.getType()).getDimSize(1);
    if (channels % blockSize != 0) {
      linears.front().emitError()
          << "block size " << int64_t(blockSize) << " does not divide the "
          << channels << " input channels of "
          << getSourceWeight(linears.front().getWeight()).getName();
      return signalPassFailure();
    }
    apply(input, linears, plan(linears.front(), channelStatistic(linears)));
  }
}
