//===- TensorParallel.cpp - Megatron sharding of a Llama module -------------===//
//
// A model that outgrows one GPU is split by tensor parallelism: every rank
// runs the same module on its slice of the weights. This pass finds the
// attention and MLP blocks of an imported Llama module and rewrites them
// into that per-rank (SPMD) module, so quantization, code generation and
// the roofline see each rank's real shapes and collectives.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/LowBit/IR/LowBitOps.h"
#include "lowbit/Dialect/LowBit/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"

namespace lowbit {
#define GEN_PASS_DEF_TENSORPARALLEL
#include "lowbit/Dialect/LowBit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
/// The linear layers around one attention: q, k, v in, o out.
struct AttentionBlock {
  KVAttentionOp attention;
  KVAppendOp append;
  LinearOp query, key, value, output;
  RotaryOp queryRotary, keyRotary;
};

/// The linear layers of one SwiGLU MLP.
struct MLPBlock {
  SwiGLUOp swiglu;
  LinearOp gate, up, down;
};

/// Rewrites the functions of a module for one rank of `numRanks`.
class Sharder {
public:
  Sharder(RankGroupOp group, int64_t numRanks)
      : group(FlatSymbolRefAttr::get(group.getSymNameAttr())),
        numRanks(numRanks) {}

  LogicalResult shardFunction(func::FuncOp function);

private:
  FailureOr<AttentionBlock> matchAttention(KVAttentionOp attention);
  FailureOr<MLPBlock> matchMLP(SwiGLUOp swiglu);
  LogicalResult checkSplits(Operation *op, int64_t size, StringRef what);

  /// `value`'s type with `channels` columns.
  static RankedTensorType withChannels(Value value, int64_t channels);
  /// Takes this rank's rows (axis 0) or input channels (axis 1) of the
  /// linear's weight and sets the result's channels to match; with
  /// `replicas`, that many consecutive ranks share one slice.
  void shardWeight(LinearOp linear, int64_t axis, int64_t replicas = 1);
  /// Shards `rotary` to follow its (sharded) input.
  static void followInput(RotaryOp rotary);
  /// Replaces the uses of `partial` by its all-reduce over the group.
  void allReduceAfter(Value partial);
  /// Replaces the uses of `slice` by its all-gather along the channels.
  void allGatherAfter(Value slice, int64_t wholeChannels);

  FlatSymbolRefAttr group;
  int64_t numRanks;
};
} // namespace

LogicalResult Sharder::checkSplits(Operation *op, int64_t size,
                                   StringRef what) {
  if (size % numRanks == 0)
    return success();
  return op->emitError() << "cannot shard across " << numRanks
                         << " ranks: " << size << " " << what
                         << " do not divide by " << numRanks;
}

/// The linear layer that `value` is the output of, through a rotary
/// embedding when there is one; the rotary embedding is returned in
/// `rotary`.
static LinearOp getProjection(Value value, RotaryOp &rotary) {
  rotary = value.getDefiningOp<RotaryOp>();
  if (rotary)
    value = rotary.getInput();
  auto linear = value.getDefiningOp<LinearOp>();
  if (!linear || !linear.getResult().hasOneUse())
    return nullptr;
  return linear;
}

/// The only user of `value` when it is a linear layer reading it as input.
static LinearOp getOnlyConsumer(Value value) {
  if (!value.hasOneUse())
    return nullptr;
  auto linear = dyn_cast<LinearOp>(*value.getUsers().begin());
  return linear && linear.getInput() == value ? linear : nullptr;
}

FailureOr<AttentionBlock> Sharder::matchAttention(KVAttentionOp attention) {
  AttentionBlock block;
  block.attention = attention;
  block.query = getProjection(attention.getQuery(), block.queryRotary);
  block.append = attention.getCache().getDefiningOp<KVAppendOp>();
  if (block.append) {
    block.key = getProjection(block.append.getKeys(), block.keyRotary);
    RotaryOp valueRotary;
    block.value = getProjection(block.append.getValues(), valueRotary);
    if (valueRotary)
      block.value = nullptr;
  }
  block.output = getOnlyConsumer(attention.getResult());
  if (!block.query || !block.append || !block.key || !block.value ||
      !block.output || !isa<BlockArgument>(block.append.getCache()))
    return attention.emitError()
           << "cannot shard this attention: expected q, k and v linear "
              "layers (q and k through a rotary embedding) feeding "
              "lowbit.kv_append of a cache argument and this "
              "lowbit.kv_attention, and one output linear layer reading it";
  int64_t queryHeads = attention.getNumHeadsAttr().getInt();
  int64_t kvHeads = attention.getCache().getType().getNumHeads();
  if (failed(checkSplits(attention, queryHeads, "query heads")))
    return failure();
  if (kvHeads % numRanks != 0 && numRanks % kvHeads != 0)
    return attention.emitError()
           << "cannot shard across " << numRanks << " ranks: " << kvHeads
           << " KV heads neither divide by " << numRanks
           << " nor divide it (grouped-query attention: KV heads are split "
              "or replicated, choose a tp that divides or is a multiple of "
           << kvHeads << ")";
  return block;
}

FailureOr<MLPBlock> Sharder::matchMLP(SwiGLUOp swiglu) {
  MLPBlock block;
  block.swiglu = swiglu;
  RotaryOp gateRotary, upRotary;
  block.gate = getProjection(swiglu.getGate(), gateRotary);
  block.up = getProjection(swiglu.getUp(), upRotary);
  block.down = getOnlyConsumer(swiglu.getResult());
  if (!block.gate || !block.up || !block.down || gateRotary || upRotary)
    return swiglu.emitError()
           << "cannot shard this MLP: expected gate and up linear layers "
              "feeding lowbit.swiglu and one down linear layer reading it";
  if (failed(checkSplits(
          swiglu,
          cast<RankedTensorType>(swiglu.getResult().getType()).getDimSize(1),
          "MLP channels")))
    return failure();
  return block;
}

RankedTensorType Sharder::withChannels(Value value, int64_t channels) {
  auto type = cast<RankedTensorType>(value.getType());
  return RankedTensorType::get({type.getDimSize(0), channels},
                               type.getElementType());
}

void Sharder::shardWeight(LinearOp linear, int64_t axis, int64_t replicas) {
  Value weight = linear.getWeight();
  auto weightType = cast<RankedTensorType>(weight.getType());
  SmallVector<int64_t, 2> shape(weightType.getShape());
  shape[axis] /= numRanks / replicas;
  OpBuilder builder(linear);
  auto shard = ShardOp::create(
      builder, linear.getLoc(),
      RankedTensorType::get(shape, weightType.getElementType()), weight, group,
      builder.getI64IntegerAttr(axis),
      replicas == 1 ? IntegerAttr() : builder.getI64IntegerAttr(replicas));
  linear.getWeightMutable().assign(shard);
  linear.getResult().setType(withChannels(linear.getResult(), shape[0]));
}

void Sharder::followInput(RotaryOp rotary) {
  if (rotary)
    rotary.getResult().setType(rotary.getInput().getType());
}

void Sharder::allReduceAfter(Value partial) {
  OpBuilder builder(partial.getContext());
  builder.setInsertionPointAfterValue(partial);
  auto reduce = AllReduceOp::create(builder, partial.getLoc(),
                                    partial.getType(), partial, group,
                                    WireFormatAttr());
  partial.replaceAllUsesExcept(reduce.getResult(), reduce);
}

void Sharder::allGatherAfter(Value slice, int64_t wholeChannels) {
  OpBuilder builder(slice.getContext());
  builder.setInsertionPointAfterValue(slice);
  auto gather = AllGatherOp::create(
      builder, slice.getLoc(), withChannels(slice, wholeChannels), slice,
      group, builder.getI64IntegerAttr(1), WireFormatAttr());
  slice.replaceAllUsesExcept(gather.getResult(), gather);
}

LogicalResult Sharder::shardFunction(func::FuncOp function) {
  SmallVector<AttentionBlock> attentions;
  SmallVector<MLPBlock> mlps;
  SmallVector<EmbeddingOp> embeddings;
  WalkResult matched = function.walk([&](Operation *op) {
    if (auto attention = dyn_cast<KVAttentionOp>(op)) {
      FailureOr<AttentionBlock> block = matchAttention(attention);
      if (failed(block))
        return WalkResult::interrupt();
      attentions.push_back(*block);
    } else if (auto swiglu = dyn_cast<SwiGLUOp>(op)) {
      FailureOr<MLPBlock> block = matchMLP(swiglu);
      if (failed(block))
        return WalkResult::interrupt();
      mlps.push_back(*block);
    } else if (auto embedding = dyn_cast<EmbeddingOp>(op)) {
      embeddings.push_back(embedding);
    } else if (isa<AttentionOp>(op)) {
      op->emitError() << "cannot shard lowbit.attention: tensor parallelism "
                         "needs the KV-cache form (lowbit.kv_attention)";
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  if (matched.wasInterrupted())
    return failure();

  // The LM head: the linear layer whose logits the function returns first
  // (the updated KV caches follow).
  auto ret = dyn_cast<func::ReturnOp>(function.getBody().front().getTerminator());
  LinearOp lmHead;
  if (ret && ret.getNumOperands() > 0)
    lmHead = ret.getOperand(0).getDefiningOp<LinearOp>();
  if (lmHead &&
      failed(checkSplits(
          lmHead,
          cast<RankedTensorType>(lmHead.getResult().getType()).getDimSize(1),
          "vocabulary entries")))
    return failure();
  for (EmbeddingOp embedding : embeddings)
    if (failed(checkSplits(
            embedding,
            cast<RankedTensorType>(embedding.getResult().getType())
                .getDimSize(1),
            "model channels")))
      return failure();

  SmallVector<Type> argumentTypes(function.getArgumentTypes());
  for (AttentionBlock &block : attentions) {
    KVCacheType cacheType = block.attention.getCache().getType();
    // Fewer KV heads than ranks: each rank keeps the one KV head its query
    // heads read, shared by numRanks / kvHeads ranks.
    int64_t kvHeads = cacheType.getNumHeads();
    int64_t kvReplicas = kvHeads % numRanks == 0 ? 1 : numRanks / kvHeads;
    shardWeight(block.query, 0);
    shardWeight(block.key, 0, kvReplicas);
    shardWeight(block.value, 0, kvReplicas);
    followInput(block.queryRotary);
    followInput(block.keyRotary);
    auto localCacheType = KVCacheType::get(
        cacheType.getContext(), cacheType.getBits(), cacheType.getGroupSize(),
        kvHeads * kvReplicas / numRanks, cacheType.getHeadDim(),
        cacheType.getMaxLength(), cacheType.getAsymmetric());
    auto cacheArgument = cast<BlockArgument>(block.append.getCache());
    cacheArgument.setType(localCacheType);
    argumentTypes[cacheArgument.getArgNumber()] = localCacheType;
    block.append.getResult().setType(localCacheType);
    block.attention.setNumHeadsAttr(IntegerAttr::get(
        block.attention.getNumHeadsAttr().getType(),
        block.attention.getNumHeadsAttr().getInt() / numRanks));
    block.attention.getResult().setType(block.attention.getQuery().getType());
    shardWeight(block.output, 1);
    allReduceAfter(block.output.getResult());
  }
  for (MLPBlock &block : mlps) {
    shardWeight(block.gate, 0);
    shardWeight(block.up, 0);
    block.swiglu.getResult().setType(block.gate.getResult().getType());
    shardWeight(block.down, 1);
    allReduceAfter(block.down.getResult());
  }
  for (EmbeddingOp embedding : embeddings) {
    Value table = embedding.getTable();
    auto tableType = cast<RankedTensorType>(table.getType());
    int64_t channels = tableType.getDimSize(1);
    OpBuilder builder(embedding);
    auto shard = ShardOp::create(
        builder, embedding.getLoc(),
        RankedTensorType::get({tableType.getDimSize(0), channels / numRanks},
                              tableType.getElementType()),
        table, group, builder.getI64IntegerAttr(1), IntegerAttr());
    embedding.getTableMutable().assign(shard);
    embedding.getResult().setType(
        withChannels(embedding.getResult(), channels / numRanks));
    allGatherAfter(embedding.getResult(), channels);
  }
  if (lmHead) {
    int64_t vocabulary =
        cast<RankedTensorType>(lmHead.getResult().getType()).getDimSize(1);
    shardWeight(lmHead, 0);
    allGatherAfter(lmHead.getResult(), vocabulary);
  }
  function.setType(FunctionType::get(
      function.getContext(), argumentTypes,
      ret ? TypeRange(ret.getOperandTypes()) : function.getResultTypes()));
  return success();
}

namespace {
struct TensorParallelPass
    : public lowbit::impl::TensorParallelBase<TensorParallelPass> {
  using TensorParallelBase::TensorParallelBase;

  void runOnOperation() override;
};
} // namespace

void TensorParallelPass::runOnOperation() {
  ModuleOp module = getOperation();
  if (tp < 1) {
    module.emitError() << "tp must be at least 1, got " << tp;
    return signalPassFailure();
  }
  for (auto existing : module.getOps<RankGroupOp>()) {
    existing.emitError() << "the module is already sharded (it has "
                            "lowbit.rank_group @"
                         << existing.getSymName() << ")";
    return signalPassFailure();
  }
  WalkResult quantized = module.walk([](Operation *op) {
    if (!isa<QuantizeOp, MatmulOp>(op))
      return WalkResult::advance();
    op->emitError() << "lowbit-tensor-parallel shards floating-point "
                       "modules: run it before quantization";
    return WalkResult::interrupt();
  });
  if (quantized.wasInterrupted())
    return signalPassFailure();

  // Created detached: the symbol table renames it if @tp is taken.
  OpBuilder builder(&getContext());
  auto group = RankGroupOp::create(
      builder, module.getLoc(), builder.getStringAttr("tp"),
      builder.getDenseI64ArrayAttr(llvm::to_vector(llvm::seq<int64_t>(0, tp))));
  SymbolTable(module).insert(group, module.getBody()->begin());
  Sharder sharder(group, tp);
  for (auto function : module.getOps<func::FuncOp>())
    if (!function.isExternal() && failed(sharder.shardFunction(function)))
      return signalPassFailure();
}
