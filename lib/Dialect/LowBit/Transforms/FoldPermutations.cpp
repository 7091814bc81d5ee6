//===- FoldPermutations.cpp - channel permutations into producers -----------===//
//
// FMPQ leaves an explicit channel permutation in front of every linear layer
// whose input it reordered. Most of them cost nothing once moved into the op
// that produces the activation: a norm can write its output in any order,
// an elementwise gate commutes with a permutation, and a linear layer's
// output order is the row order of its weight, fixed at compile time.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/LowBit/IR/LowBitOps.h"
#include "lowbit/Dialect/LowBit/Transforms/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace lowbit {
#define GEN_PASS_DEF_FOLDPERMUTATIONS
#include "lowbit/Dialect/LowBit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
/// The producer of a permuted activation, when the permutation is its only
/// user and reorders the channel (innermost) axis of a [rows, channels]
/// tensor.
template <typename ProducerOp>
ProducerOp getFoldableProducer(PermuteChannelsOp permutation) {
  auto inputType = cast<RankedTensorType>(permutation.getInput().getType());
  if (inputType.getRank() != 2 || permutation.getPermutedAxis() != 1 ||
      !permutation.getInput().hasOneUse())
    return nullptr;
  return permutation.getInput().getDefiningOp<ProducerOp>();
}

/// Matches permute_channels(rms_norm(h, w)) and makes the norm write its
/// output permuted: rms_norm(h, permute(w)) {output_permutation}.
struct FoldIntoRMSNorm : public OpRewritePattern<PermuteChannelsOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(PermuteChannelsOp permutation,
                                PatternRewriter &rewriter) const override {
    auto norm = getFoldableProducer<RMSNormOp>(permutation);
    if (!norm)
      return failure();
    ArrayRef<int64_t> outer = permutation.getPermutation();
    SmallVector<int64_t> composed(outer);
    if (std::optional<ArrayRef<int64_t>> inner = norm.getOutputPermutation())
      composed = llvm::map_to_vector(
          outer, [&](int64_t channel) { return (*inner)[channel]; });
    Value weight = PermuteChannelsOp::create(rewriter, norm.getLoc(),
                                             norm.getWeight(), outer,
                                             IntegerAttr());
    auto folded = RMSNormOp::create(rewriter, norm.getLoc(), norm.getInput(),
                                    weight, norm.getEpsilonAttr(),
                                    rewriter.getDenseI64ArrayAttr(composed));
    rewriter.replaceOp(permutation, folded.getResult());
    rewriter.eraseOp(norm);
    return success();
  }
};

/// Matches permute_channels(swiglu(g, u)) and permutes both operands instead.
struct FoldIntoSwiGLU : public OpRewritePattern<PermuteChannelsOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(PermuteChannelsOp permutation,
                                PatternRewriter &rewriter) const override {
    auto gate = getFoldableProducer<SwiGLUOp>(permutation);
    if (!gate)
      return failure();
    auto permute = [&](Value value) -> Value {
      return PermuteChannelsOp::create(rewriter, permutation.getLoc(), value,
                                       permutation.getPermutation(),
                                       IntegerAttr());
    };
    Value gateInput = permute(gate.getGate());
    Value upInput = permute(gate.getUp());
    rewriter.replaceOpWithNewOp<SwiGLUOp>(permutation, gateInput, upInput);
    rewriter.eraseOp(gate);
    return success();
  }
};

/// Matches permute_channels(linear(x, W)) and permutes the rows (output
/// channels) of W instead.
struct FoldIntoLinear : public OpRewritePattern<PermuteChannelsOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(PermuteChannelsOp permutation,
                                PatternRewriter &rewriter) const override {
    auto linear = getFoldableProducer<LinearOp>(permutation);
    if (!linear)
      return failure();
    rewriter.setInsertionPoint(linear);
    Value weight = PermuteChannelsOp::create(
        rewriter, linear.getLoc(), linear.getWeight(),
        permutation.getPermutation(), rewriter.getI64IntegerAttr(0));
    rewriter.modifyOpInPlace(linear,
                             [&] { linear.getWeightMutable().assign(weight); });
    rewriter.replaceOp(permutation, linear.getResult());
    return success();
  }
};

struct FoldPermutationsPass
    : public lowbit::impl::FoldPermutationsBase<FoldPermutationsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FoldIntoRMSNorm, FoldIntoSwiGLU, FoldIntoLinear>(
        &getContext());
    PermuteChannelsOp::getCanonicalizationPatterns(patterns, &getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
