//===- LowBitOps.cpp - lowbit operations ------------------------------------===//
//
// Verifiers, folders and canonicalization patterns of the lowbit operations.
// Every verifier message names the operand, the expected and the found value.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/LowBit/IR/LowBitOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>

using namespace mlir;
using namespace lowbit;

#define GET_OP_CLASSES
#include "lowbit/Dialect/LowBit/IR/LowBitOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Shape helpers
//===----------------------------------------------------------------------===//

/// Whether two dimensions may be equal at run time.
static bool areCompatible(int64_t lhs, int64_t rhs) {
  return ShapedType::isDynamic(lhs) || ShapedType::isDynamic(rhs) ||
         lhs == rhs;
}

/// A dimension as printed in IR: a number or `?`.
static std::string formatDim(int64_t dim) {
  return ShapedType::isDynamic(dim) ? "?" : std::to_string(dim);
}

static RankedTensorType tensorTypeOf(Value value) {
  return cast<RankedTensorType>(value.getType());
}

/// Checks that `rows` of `what` matches `expectedRows` of `reference`.
static LogicalResult verifyRows(Operation *op, StringRef what, int64_t rows,
                                StringRef reference, int64_t expectedRows) {
  if (areCompatible(rows, expectedRows))
    return success();
  return op->emitOpError() << what << " has " << formatDim(rows)
                           << " rows but " << reference << " has "
                           << formatDim(expectedRows);
}

/// Checks that a tensor and its quantized form agree in shape.
static LogicalResult verifyQuantizedShape(Operation *op,
                                          RankedTensorType tensorType,
                                          QuantizedTensorType quantizedType) {
  if (tensorType.getDimSize(1) != quantizedType.getNumChannels())
    return op->emitOpError()
           << "quantized tensor has " << quantizedType.getNumChannels()
           << " channels but the float tensor has "
           << formatDim(tensorType.getDimSize(1));
  return verifyRows(op, "quantized tensor", quantizedType.getNumRows(),
                    "the float tensor", tensorType.getDimSize(0));
}

WeightOp lowbit::getSourceWeight(Value value) {
  while (Operation *op = value.getDefiningOp()) {
    if (auto permutation = dyn_cast<PermuteChannelsOp>(op))
      value = permutation.getInput();
    else if (auto shard = dyn_cast<ShardOp>(op))
      value = shard.getInput();
    else
      break;
  }
  return value.getDefiningOp<WeightOp>();
}

//===----------------------------------------------------------------------===//
// Graph-level operations
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::verify() {
  RankedTensorType tableType = tensorTypeOf(getTable());
  RankedTensorType resultType = tensorTypeOf(getResult());
  if (resultType.getElementType() != tableType.getElementType())
    return emitOpError() << "result element type "
                         << resultType.getElementType()
                         << " differs from the table element type "
                         << tableType.getElementType();
  if (!areCompatible(resultType.getDimSize(1), tableType.getDimSize(1)))
    return emitOpError() << "result has " << formatDim(resultType.getDimSize(1))
                         << " channels but the table has "
                         << formatDim(tableType.getDimSize(1));
  return verifyRows(*this, "result", resultType.getDimSize(0), "tokens",
                    tensorTypeOf(getTokens()).getDimSize(0));
}

LogicalResult RMSNormOp::verify() {
  int64_t channels = tensorTypeOf(getInput()).getDimSize(1);
  int64_t weights = tensorTypeOf(getWeight()).getDimSize(0);
  if (!areCompatible(channels, weights))
    return emitOpError() << "weight has " << formatDim(weights)
                         << " elements; expected one per input channel ("
                         << formatDim(channels) << ")";
  if (!(getEpsilon().convertToDouble() > 0.0))
    return emitOpError() << "epsilon must be positive, found "
                         << getEpsilon().convertToDouble();
  if (std::optional<ArrayRef<int64_t>> permutation = getOutputPermutation()) {
    if (ShapedType::isDynamic(channels))
      return emitOpError() << "an output permutation needs a static channel "
                              "axis";
    return verifyChannelPermutation([&] { return emitOpError(); },
                                    *permutation, channels);
  }
  return success();
}

LogicalResult LinearOp::verify() {
  RankedTensorType inputType = tensorTypeOf(getInput());
  RankedTensorType weightType = tensorTypeOf(getWeight());
  RankedTensorType resultType = tensorTypeOf(getResult());
  if (inputType.getElementType() != weightType.getElementType() ||
      inputType.getElementType() != resultType.getElementType())
    return emitOpError() << "input, weight and result element types must "
                            "match, found "
                         << inputType.getElementType() << ", "
                         << weightType.getElementType() << " and "
                         << resultType.getElementType();
  if (!areCompatible(weightType.getDimSize(1), inputType.getDimSize(1)))
    return emitOpError() << "weight has " << formatDim(weightType.getDimSize(1))
                         << " input channels but the input has "
                         << formatDim(inputType.getDimSize(1));
  if (!areCompatible(resultType.getDimSize(1), weightType.getDimSize(0)))
    return emitOpError() << "result has " << formatDim(resultType.getDimSize(1))
                         << " channels; expected "
                         << formatDim(weightType.getDimSize(0))
                         << " (the weight's output channels)";
  return verifyRows(*this, "result", resultType.getDimSize(0), "the input",
                    inputType.getDimSize(0));
}

LogicalResult RotaryOp::verify() {
  int64_t headDim = getHeadDimAttr().getInt();
  if (headDim <= 0 || headDim % 2 != 0)
    return emitOpError() << "head_dim must be positive and even, found "
                         << headDim;
  RankedTensorType inputType = tensorTypeOf(getInput());
  int64_t channels = inputType.getDimSize(1);
  if (!ShapedType::isDynamic(channels) && channels % headDim != 0)
    return emitOpError() << "head_dim " << headDim << " does not divide "
                         << channels << " input channels";
  if (!(getTheta().convertToDouble() > 0.0))
    return emitOpError() << "theta must be positive, found "
                         << getTheta().convertToDouble();
  if (Value factors = getFrequencyFactors()) {
    int64_t count = tensorTypeOf(factors).getDimSize(0);
    if (count != headDim / 2)
      return emitOpError() << "frequency factors have " << formatDim(count)
                           << " elements; expected head_dim / 2 = "
                           << headDim / 2;
  }
  return verifyRows(*this, "input", inputType.getDimSize(0), "positions",
                    tensorTypeOf(getPositions()).getDimSize(0));
}

/// Checks that `numHeads` query heads can share `numKVHeads` KV heads and
/// returns the head dimension implied by `queryChannels`, or failure.
static FailureOr<int64_t> verifyGroupedHeads(Operation *op,
                                             int64_t queryChannels,
                                             int64_t numHeads,
                                             int64_t numKVHeads) {
  if (numHeads <= 0 || numKVHeads <= 0)
    return op->emitOpError() << "head counts must be positive, found "
                             << numHeads << " query and " << numKVHeads
                             << " KV heads";
  if (numHeads % numKVHeads != 0)
    return op->emitOpError() << "num_heads " << numHeads
                             << " is not a multiple of the " << numKVHeads
                             << " KV heads";
  if (ShapedType::isDynamic(queryChannels))
    return op->emitOpError() << "query channels must be static";
  if (queryChannels % numHeads != 0)
    return op->emitOpError() << "query has " << queryChannels
                             << " channels, not a multiple of num_heads "
                             << numHeads;
  return queryChannels / numHeads;
}

/// Checks that `what` holds `numKVHeads` heads of `headDim` channels.
static LogicalResult verifyKVChannels(Operation *op, StringRef what,
                                      int64_t channels, int64_t numKVHeads,
                                      int64_t headDim) {
  if (areCompatible(channels, numKVHeads * headDim))
    return success();
  return op->emitOpError() << what << " have " << formatDim(channels)
                           << " channels; expected " << numKVHeads
                           << " KV heads * head_dim " << headDim << " = "
                           << numKVHeads * headDim;
}

LogicalResult AttentionOp::verify() {
  RankedTensorType queryType = tensorTypeOf(getQuery());
  RankedTensorType keysType = tensorTypeOf(getKeys());
  RankedTensorType valuesType = tensorTypeOf(getValues());
  int64_t numKVHeads = getNumKvHeadsAttr().getInt();
  FailureOr<int64_t> headDim =
      verifyGroupedHeads(*this, queryType.getDimSize(1),
                         getNumHeadsAttr().getInt(), numKVHeads);
  if (failed(headDim))
    return failure();
  if (keysType.getElementType() != queryType.getElementType() ||
      valuesType.getElementType() != queryType.getElementType())
    return emitOpError() << "query, keys and values element types must "
                            "match, found "
                         << queryType.getElementType() << ", "
                         << keysType.getElementType() << " and "
                         << valuesType.getElementType();
  if (failed(verifyKVChannels(*this, "keys", keysType.getDimSize(1),
                              numKVHeads, *headDim)) ||
      failed(verifyKVChannels(*this, "values", valuesType.getDimSize(1),
                              numKVHeads, *headDim)))
    return failure();
  return verifyRows(*this, "values", valuesType.getDimSize(0), "keys",
                    keysType.getDimSize(0));
}

LogicalResult WeightOp::verify() {
  if (getName().empty())
    return emitOpError() << "weight name must not be empty";
  if (!tensorTypeOf(getResult()).hasStaticShape())
    return emitOpError() << "weight shape must be static, found "
                         << getResult().getType();
  return success();
}

//===----------------------------------------------------------------------===//
// KV cache operations
//===----------------------------------------------------------------------===//

LogicalResult KVAppendOp::verify() {
  KVCacheType cacheType = getCache().getType();
  RankedTensorType keysType = tensorTypeOf(getKeys());
  RankedTensorType valuesType = tensorTypeOf(getValues());
  if (failed(verifyKVChannels(*this, "keys", keysType.getDimSize(1),
                              cacheType.getNumHeads(),
                              cacheType.getHeadDim())) ||
      failed(verifyKVChannels(*this, "values", valuesType.getDimSize(1),
                              cacheType.getNumHeads(),
                              cacheType.getHeadDim())) ||
      failed(verifyRows(*this, "values", valuesType.getDimSize(0), "keys",
                        keysType.getDimSize(0))))
    return failure();
  int64_t rows = keysType.getDimSize(0);
  if (!ShapedType::isDynamic(rows) && rows > cacheType.getMaxLength())
    return emitOpError() << "appending " << rows
                         << " positions exceeds the KV cache length "
                         << cacheType.getMaxLength();
  return success();
}

LogicalResult KVAttentionOp::verify() {
  KVCacheType cacheType = getCache().getType();
  FailureOr<int64_t> headDim = verifyGroupedHeads(
      *this, tensorTypeOf(getQuery()).getDimSize(1),
      getNumHeadsAttr().getInt(), cacheType.getNumHeads());
  if (failed(headDim))
    return failure();
  if (*headDim != cacheType.getHeadDim())
    return emitOpError() << "query heads have " << *headDim
                         << " channels but the KV cache head_dim is "
                         << cacheType.getHeadDim();
  return success();
}

//===----------------------------------------------------------------------===//
// Quantization operations
//===----------------------------------------------------------------------===//

LogicalResult QuantizeOp::verify() {
  QuantizedTensorType resultType = getResult().getType();
  if (std::optional<ArrayRef<float>> importance = getChannelImportance()) {
    if (!getClipSearch())
      return emitOpError() << "channel_importance needs clip_search";
    if (static_cast<int64_t>(importance->size()) !=
        resultType.getNumChannels())
      return emitOpError() << "channel_importance has " << importance->size()
                           << " entries; expected one per channel ("
                           << resultType.getNumChannels() << ")";
    for (auto [channel, value] : llvm::enumerate(*importance))
      if (!(value >= 0.0f) || std::isinf(value))
        return emitOpError() << "channel_importance of channel " << channel
                             << " is " << value
                             << "; expected a finite non-negative number";
  }
  return verifyQuantizedShape(*this, tensorTypeOf(getInput()), resultType);
}

OpFoldResult QuantizeOp::fold(FoldAdaptor) {
  // lowbit.quantize maps the largest magnitude of every scale group to the
  // largest code, so re-quantizing dequantized data with the same layout
  // recomputes the same scales and codes.
  // A clipped scale need not be the largest magnitude: no such guarantee.
  if (getClipSearch())
    return {};
  if (auto dequantize = getInput().getDefiningOp<DequantizeOp>())
    if (dequantize.getInput().getType() == getResult().getType())
      return dequantize.getInput();
  return {};
}

LogicalResult DequantizeOp::verify() {
  return verifyQuantizedShape(*this, tensorTypeOf(getResult()),
                              getInput().getType());
}

LogicalResult PermuteChannelsOp::verify() {
  RankedTensorType inputType = tensorTypeOf(getInput());
  int64_t axis = getPermutedAxis();
  if (axis < 0 || axis >= inputType.getRank())
    return emitOpError() << "axis " << axis << " is out of range for a tensor "
                         << "of rank " << inputType.getRank();
  int64_t channels = inputType.getDimSize(axis);
  if (ShapedType::isDynamic(channels))
    return emitOpError() << "permuted axis " << axis << " must be static";
  return verifyChannelPermutation([&] { return emitOpError(); },
                                  getPermutation(), channels);
}

OpFoldResult PermuteChannelsOp::fold(FoldAdaptor) {
  if (llvm::equal(getPermutation(),
                  llvm::seq<int64_t>(0, getPermutation().size())))
    return getInput();
  return {};
}

namespace {
/// Replaces a permutation of a permutation by their composition, so that a
/// permutation followed by its inverse becomes the identity and folds away.
struct ComposePermutations : public OpRewritePattern<PermuteChannelsOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(PermuteChannelsOp op,
                                PatternRewriter &rewriter) const override {
    auto producer = op.getInput().getDefiningOp<PermuteChannelsOp>();
    if (!producer || producer.getPermutedAxis() != op.getPermutedAxis())
      return failure();
    ArrayRef<int64_t> inner = producer.getPermutation();
    SmallVector<int64_t> composed = llvm::map_to_vector(
        op.getPermutation(), [&](int64_t channel) { return inner[channel]; });
    rewriter.replaceOpWithNewOp<PermuteChannelsOp>(op, producer.getInput(),
                                                   composed, op.getAxisAttr());
    return success();
  }
};
} // namespace

void PermuteChannelsOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                                    MLIRContext *context) {
  results.add<ComposePermutations>(context);
}

LogicalResult MatmulOp::verify() {
  QuantizedTensorType actType = getAct().getType();
  QuantizedTensorType weightType = getWeight().getType();
  BlockLayoutAttr actLayout = actType.getLayout();
  BlockLayoutAttr weightLayout = weightType.getLayout();
  if (actLayout.getGranularity() == ScaleGranularity::PerChannel)
    return emitOpError() << "activation scales must be per_token or "
                            "per_group, found per_channel";
  if (weightLayout.getGranularity() == ScaleGranularity::PerToken)
    return emitOpError() << "weight scales must be per_channel or per_group, "
                            "found per_token";
  if (weightType.getNumChannels() != actType.getNumChannels())
    return emitOpError() << "weight has " << weightType.getNumChannels()
                         << " channels but the activation has "
                         << actType.getNumChannels();
  if (weightLayout.getBlockSize() != actLayout.getBlockSize())
    return emitOpError() << "weight block size " << weightLayout.getBlockSize()
                         << " differs from the activation block size "
                         << actLayout.getBlockSize();
  if (weightLayout.getPermutation() != actLayout.getPermutation())
    return emitOpError() << "weight and activation blocks must use the same "
                            "channel permutation";
  if (ShapedType::isDynamic(weightType.getNumRows()))
    return emitOpError() << "weight rows (output channels) must be static";
  RankedTensorType resultType = tensorTypeOf(getResult());
  if (!areCompatible(resultType.getDimSize(1), weightType.getNumRows()))
    return emitOpError() << "result has " << formatDim(resultType.getDimSize(1))
                         << " channels; expected " << weightType.getNumRows()
                         << " (the weight's rows)";
  return verifyRows(*this, "result", resultType.getDimSize(0), "the activation",
                    actType.getNumRows());
}

//===----------------------------------------------------------------------===//
// Collectives
//===----------------------------------------------------------------------===//

LogicalResult RankGroupOp::verify() {
  ArrayRef<int64_t> ranks = getRanks();
  if (ranks.empty())
    return emitOpError() << "rank group @" << getSymName() << " has no ranks";
  llvm::SmallDenseSet<int64_t> seen;
  for (int64_t rank : ranks) {
    if (rank < 0)
      return emitOpError() << "rank " << rank << " of rank group @"
                           << getSymName() << " is negative";
    if (!seen.insert(rank).second)
      return emitOpError() << "rank " << rank << " appears twice in rank group @"
                           << getSymName();
  }
  return success();
}

/// Resolves the rank group a collective names.
static FailureOr<RankGroupOp> lookupRankGroup(Operation *op,
                                              FlatSymbolRefAttr group,
                                              SymbolTableCollection &symbols) {
  auto rankGroup = symbols.lookupNearestSymbolFrom<RankGroupOp>(op, group);
  if (!rankGroup)
    return op->emitOpError() << group << " does not name a lowbit.rank_group";
  return rankGroup;
}

/// Checks the local shape rules every collective shares: the wire blocks
/// tile the innermost axis and the concatenation axis exists.
static LogicalResult verifyCollectiveShape(Operation *op,
                                           RankedTensorType inputType,
                                           std::optional<WireFormatAttr> wire,
                                           std::optional<int64_t> axis) {
  int64_t innermost = inputType.getDimSize(inputType.getRank() - 1);
  if (wire && !ShapedType::isDynamic(innermost) &&
      innermost % wire->getBlockSize() != 0)
    return op->emitOpError() << "wire block size " << wire->getBlockSize()
                             << " does not divide the " << innermost
                             << " innermost elements of the input";
  if (axis && (*axis < 0 || *axis >= inputType.getRank()))
    return op->emitOpError() << "axis " << *axis
                             << " is out of range for a rank-"
                             << inputType.getRank() << " tensor";
  return success();
}

/// Checks that `result` equals `input` except along `axis`, where it is
/// `input * numRanks` (gather) or `input / numRanks` (scatter).
static LogicalResult verifyAxisResize(Operation *op, RankedTensorType input,
                                      RankedTensorType result, int64_t axis,
                                      int64_t numRanks, bool gather) {
  for (int64_t dim = 0; dim < input.getRank(); ++dim) {
    int64_t in = input.getDimSize(dim), out = result.getDimSize(dim);
    if (dim != axis) {
      if (!areCompatible(in, out))
        return op->emitOpError()
               << "result dimension " << dim << " is " << formatDim(out)
               << " but the input's is " << formatDim(in);
      continue;
    }
    if (ShapedType::isDynamic(in) || ShapedType::isDynamic(out))
      continue;
    if (!gather && in % numRanks != 0)
      return op->emitOpError() << "input dimension " << axis << " (" << in
                               << ") does not split across " << numRanks
                               << " ranks";
    int64_t expected = gather ? in * numRanks : in / numRanks;
    if (out != expected)
      return op->emitOpError() << "result dimension " << axis << " is " << out
                               << "; expected " << expected << " for "
                               << numRanks << " ranks";
  }
  return success();
}

LogicalResult AllReduceOp::verify() {
  return verifyCollectiveShape(*this, tensorTypeOf(getInput()), getWire(),
                               std::nullopt);
}

LogicalResult AllReduceOp::verifySymbolUses(SymbolTableCollection &symbols) {
  return lookupRankGroup(*this, getGroupAttr(), symbols);
}

LogicalResult AllGatherOp::verify() {
  return verifyCollectiveShape(*this, tensorTypeOf(getInput()), getWire(),
                               getAxisAttr().getInt());
}

LogicalResult AllGatherOp::verifySymbolUses(SymbolTableCollection &symbols) {
  FailureOr<RankGroupOp> group = lookupRankGroup(*this, getGroupAttr(), symbols);
  if (failed(group))
    return failure();
  return verifyAxisResize(*this, tensorTypeOf(getInput()),
                          tensorTypeOf(getResult()), getAxisAttr().getInt(),
                          group->getRanks().size(), /*gather=*/true);
}

LogicalResult ReduceScatterOp::verify() {
  return verifyCollectiveShape(*this, tensorTypeOf(getInput()), getWire(),
                               getAxisAttr().getInt());
}

LogicalResult
ReduceScatterOp::verifySymbolUses(SymbolTableCollection &symbols) {
  FailureOr<RankGroupOp> group = lookupRankGroup(*this, getGroupAttr(), symbols);
  if (failed(group))
    return failure();
  // Every rank's slice must hold whole wire blocks.
  RankedTensorType resultType = tensorTypeOf(getResult());
  int64_t innermost = resultType.getDimSize(resultType.getRank() - 1);
  if (std::optional<WireFormatAttr> wire = getWire();
      wire && !ShapedType::isDynamic(innermost) &&
      innermost % wire->getBlockSize() != 0)
    return emitOpError() << "wire block size " << wire->getBlockSize()
                         << " does not divide the " << innermost
                         << " innermost elements of a rank's slice";
  return verifyAxisResize(*this, tensorTypeOf(getInput()),
                          tensorTypeOf(getResult()), getAxisAttr().getInt(),
                          group->getRanks().size(), /*gather=*/false);
}

LogicalResult ShardOp::verify() {
  RankedTensorType inputType = tensorTypeOf(getInput());
  RankedTensorType resultType = tensorTypeOf(getResult());
  if (resultType.getElementType() != inputType.getElementType())
    return emitOpError() << "result element type "
                         << resultType.getElementType()
                         << " differs from the input's "
                         << inputType.getElementType();
  if (resultType.getRank() != inputType.getRank())
    return emitOpError() << "result has rank " << resultType.getRank()
                         << "; the input has rank " << inputType.getRank();
  return verifyCollectiveShape(*this, inputType, std::nullopt,
                               getAxisAttr().getInt());
}

LogicalResult ShardOp::verifySymbolUses(SymbolTableCollection &symbols) {
  FailureOr<RankGroupOp> group = lookupRankGroup(*this, getGroupAttr(), symbols);
  if (failed(group))
    return failure();
  int64_t ranks = group->getRanks().size();
  int64_t replicas = getReplicaCount();
  if (replicas < 1 || ranks % replicas != 0)
    return emitOpError() << replicas << " replicas do not divide the "
                         << ranks << " ranks of @" << group->getSymName();
  return verifyAxisResize(*this, tensorTypeOf(getInput()),
                          tensorTypeOf(getResult()), getAxisAttr().getInt(),
                          ranks / replicas, /*gather=*/false);
}
