//===- ConvertToCPU.cpp - graph entry points to CPU kernel calls ----------===//
//
// Implements lowbit-convert-to-cpu. Graph values become views into three
// flat buffers the runtime owns (weights, KV cache state, activation
// scratch), so the compiled code allocates nothing and the runtime holds no
// model arithmetic: it passes buffers to @lowbit_prefill, @lowbit_decode and
// @lowbit_decode_batch (the prefill graph with a row per sequence).
//
//===----------------------------------------------------------------------===//

#include "CPUKernels.h"
#include "lowbit/Conversion/Passes.h"
#include "lowbit/Dialect/LowBit/IR/LowBitOps.h"
#include "lowbit/Runtime/WireFormat.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/TypeSwitch.h"

namespace lowbit {
#define GEN_PASS_DEF_CONVERTLOWBITTOCPU
#include "lowbit/Conversion/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {

/// Buffers are aligned to cache lines.
constexpr int64_t kAlignment = 64;

int64_t alignUp(int64_t bytes) {
  return (bytes + kAlignment - 1) / kAlignment * kAlignment;
}

/// Bytes of the code and scale parts of a quantized [rows, channels] tensor
/// stored in tiles of `tileRows` rows (getWeightTileRows).
std::pair<int64_t, int64_t> getQuantizedBytes(QuantizedTensorType type,
                                              int64_t rows,
                                              int64_t tileRows = 1) {
  BlockLayoutAttr layout = type.getLayout();
  int64_t paddedRows = (rows + tileRows - 1) / tileRows * tileRows;
  return {alignUp(paddedRows * layout.getPackedRowBytes()),
          alignUp(paddedRows * layout.getScalesPerRow() * 4)};
}

/// Bytes of one side (keys or values) of a KV cache in the state buffer.
int64_t getKVRegionBytes(KVCacheType type) {
  int64_t length = type.getMaxLength(), channels = type.getChannels();
  int64_t bytes = alignUp(length * getKVRowBytes(type.getBits(), channels));
  if (type.getBits() <= 8)
    bytes += alignUp(length * (channels / type.getGroupSize()) * 4);
  return bytes;
}

/// A weight as the graph reads it: a checkpoint tensor, possibly cut to a
/// tensor-parallel rank's slice and with its channels or rows permuted at
/// compile time.
struct WeightSource {
  WeightOp weight;
  /// The rank's slice of the weight, taken before any permutation, or null.
  ShardOp shard;
  /// The permutations applied to it, the first one applied first.
  SmallVector<PermuteChannelsOp> permutations;

  /// The type the graph reads: the slice's when sharded.
  RankedTensorType getType() {
    return cast<RankedTensorType>(shard ? shard.getType() : weight.getType());
  }
};

/// The weight `value` stands for, or nothing when it is computed at run
/// time.
std::optional<WeightSource> getWeightSource(Value value) {
  WeightSource source;
  while (auto permute = value.getDefiningOp<PermuteChannelsOp>()) {
    source.permutations.insert(source.permutations.begin(), permute);
    value = permute.getInput();
  }
  if ((source.shard = value.getDefiningOp<ShardOp>()))
    value = source.shard.getInput();
  source.weight = value.getDefiningOp<WeightOp>();
  if (!source.weight)
    return std::nullopt;
  return source;
}

/// Ranks in the group `op` (a shard or a collective) names.
template <typename OpTy> int64_t getGroupSize(OpTy op) {
  return SymbolTable::lookupNearestSymbolFrom<RankGroupOp>(op,
                                                           op.getGroupAttr())
      .getRanks()
      .size();
}

/// Whether the NEON kernels read the scales of the 4-bit groups of weight
/// `quantize` divided by 16. Their 4-bit sums are 16 x the dot product, and
/// with f16 scales on both sides (normal numbers far from the f32 limits)
/// (16 d * a) * (w / 16) rounds exactly as (d * a) * w: scaling by 16 is
/// exact, so no shift back is needed.
bool hasPrescaledScales(QuantizeOp quantize, CPUMatmulISA isa) {
  QuantizedTensorType type = quantize.getResult().getType();
  if (!isNeon(isa) || !type.getScaleType().isF16() ||
      !llvm::is_contained(type.getLayout().getBlockBits(), 4))
    return false;
  return llvm::all_of(quantize->getUsers(), [](Operation *user) {
    auto matmul = dyn_cast<MatmulOp>(user);
    return matmul && matmul.getAct().getType().getScaleType().isF16();
  });
}

/// Whether the weight `quantize` feeds lowbit's GPU matmul kernels: with
/// `isa` nvgpu, when every user is a matmul they take.
bool usesGPUMatmul(QuantizeOp quantize, CPUMatmulISA isa) {
  if (isa != CPUMatmulISA::NVGPU || quantize->use_empty())
    return false;
  return llvm::all_of(quantize->getUsers(), [](Operation *user) {
    auto matmul = dyn_cast<MatmulOp>(user);
    return matmul &&
           fitsGPUMatmul(matmul.getAct().getType(),
                         matmul.getWeight().getType(),
                         cast<FloatType>(matmul.getType().getElementType()));
  });
}

/// The quantized weight `matmul` multiplies by when lowbit's GPU matmul
/// kernels take it (usesGPUMatmul), else null.
QuantizeOp getGPUMatmulWeight(MatmulOp matmul, CPUMatmulISA isa) {
  auto quantize = matmul.getWeight().getDefiningOp<QuantizeOp>();
  if (!quantize || !getWeightSource(quantize.getInput()) ||
      !usesGPUMatmul(quantize, isa))
    return {};
  return quantize;
}

/// The producer whose kernel `quantize` absorbs, or null. On a GPU the
/// quantization of an RMSNorm's or a SwiGLU's output (its only use) reads
/// that op's inputs directly: one kernel instead of two, and no row stored
/// between them. On a CPU each op keeps its kernel: the fused RMSNorm
/// recomputes a row's sum of squares for every scale group, which a GPU's
/// parallel groups hide and a CPU's loops would pay for.
Operation *getFusedProducer(QuantizeOp quantize, CPUMatmulISA isa) {
  if (isa != CPUMatmulISA::NVGPU || quantize.getClipSearch() ||
      getWeightSource(quantize.getInput()))
    return nullptr;
  Operation *producer = quantize.getInput().getDefiningOp();
  if (!producer || !isa_and_present<RMSNormOp, SwiGLUOp>(producer) ||
      !producer->hasOneUse() || producer->getBlock() != quantize->getBlock())
    return nullptr;
  return producer;
}

/// The residual sum that the kernel of `quantize`, fused with the RMSNorm
/// `producer` (getFusedProducer), computes and stores too, or null: the
/// norm's input when it is an addition of two [tokens, channels] rows whose
/// other users all come after `quantize`.
arith::AddFOp getFusedSum(QuantizeOp quantize, Operation *producer) {
  auto norm = dyn_cast_if_present<RMSNormOp>(producer);
  if (!norm)
    return {};
  auto sum = norm.getInput().getDefiningOp<arith::AddFOp>();
  if (!sum || sum->getBlock() != quantize->getBlock())
    return {};
  auto type = dyn_cast<RankedTensorType>(sum.getType());
  if (!type || type.getRank() != 2)
    return {};
  for (Operation *user : sum->getUsers())
    if (user != norm && !quantize->isBeforeInBlock(user))
      return {};
  return sum;
}

/// The rotary embeddings that the kernel of a KV append applies itself
/// (getFusedRotaries).
struct FusedRotaries {
  /// The rotary embedding of the appended keys.
  RotaryOp keys;
  /// The rotary embedding of the query of an attention over the appended
  /// cache, or null.
  RotaryOp query;
};

/// The rotary embeddings `append`'s kernel applies, or none. On a GPU, a
/// 4- or 8-bit cache (of even groups) whose keys come from a rotary
/// embedding (their only use) turns them itself, one launch instead of two;
/// the query of an attention over the appended cache, turned alike (its
/// only use) and computed before `append`, is turned by the same launch. On
/// a CPU the rotary kernel computes each angle once for all heads, which
/// the fused kernel would not.
FusedRotaries getFusedRotaries(KVAppendOp append, CPUMatmulISA isa) {
  KVCacheType type = append.getCache().getType();
  if (isa != CPUMatmulISA::NVGPU || type.getBits() > 8 ||
      type.getGroupSize() % 2 != 0)
    return {};
  auto keys = append.getKeys().getDefiningOp<RotaryOp>();
  if (!keys || !keys->hasOneUse() || keys->getBlock() != append->getBlock())
    return {};
  auto turnsAlike = [&](RotaryOp query) {
    Operation *input = query.getInput().getDefiningOp();
    return query->hasOneUse() && query->getBlock() == append->getBlock() &&
           (!input || input->isBeforeInBlock(append)) &&
           query.getPositions() == keys.getPositions() &&
           query.getHeadDimAttr() == keys.getHeadDimAttr() &&
           query.getThetaAttr() == keys.getThetaAttr() &&
           query.getFrequencyFactors() == keys.getFrequencyFactors() &&
           cast<ShapedType>(query.getType()).getDimSize(1) %
                   type.getChannels() ==
               0;
  };
  for (Operation *user : append->getUsers())
    if (auto attention = dyn_cast<KVAttentionOp>(user))
      if (auto query = attention.getQuery().getDefiningOp<RotaryOp>();
          query && turnsAlike(query))
        return {keys, query};
  return {keys, {}};
}

/// The weight buffer: every stored form of every weight, placed once and
/// shared by all entry points.
class WeightPlan {
public:
  explicit WeightPlan(MLIRContext *context) : builder(context) {}

  /// The byte offset of `source` stored as `form` ("f32", "transposed" or a
  /// packed form of getWeightForm in tiles of `tileRows` rows); `quantize`
  /// describes the packed forms.
  int64_t place(WeightSource source, StringRef form, QuantizeOp quantize = {},
                int64_t tileRows = 1, bool prescaled = false) {
    WeightOp weight = source.weight;
    std::string key = (weight.getName() + "/" + form).str();
    {
      llvm::raw_string_ostream os(key);
      if (source.shard)
        source.shard->getAttrDictionary().print(os);
      for (PermuteChannelsOp permute : source.permutations)
        permute->getAttrDictionary().print(os);
      if (quantize) {
        os << "/" << quantize.getResult().getType();
        quantize->getAttrDictionary().print(os);
      }
    }
    auto [it, inserted] = offsets.try_emplace(key, size);
    if (!inserted)
      return it->second;
    int64_t bytes;
    SmallVector<NamedAttribute> entry = {
        builder.getNamedAttr("name", weight.getNameAttr()),
        builder.getNamedAttr("offset", builder.getI64IntegerAttr(size)),
        builder.getNamedAttr("form", builder.getStringAttr(form))};
    if (ShardOp shard = source.shard) {
      // Rank r stores slice r / replicas of `slices` along the axis.
      int64_t replicas = shard.getReplicaCount();
      entry.push_back(builder.getNamedAttr(
          "shard",
          builder.getDenseI64ArrayAttr(
              {static_cast<int64_t>(shard.getAxis()),
               getGroupSize(shard) / replicas, replicas})));
      entry.push_back(builder.getNamedAttr(
          "source_shape",
          builder.getDenseI64ArrayAttr(
              cast<RankedTensorType>(weight.getType()).getShape())));
    }
    if (!source.permutations.empty()) {
      SmallVector<Attribute> permutations;
      SmallVector<int64_t> axes;
      for (PermuteChannelsOp permute : source.permutations) {
        permutations.push_back(permute.getPermutationAttr());
        axes.push_back(permute.getPermutedAxis());
      }
      entry.push_back(builder.getNamedAttr(
          "permutations", builder.getArrayAttr(permutations)));
      entry.push_back(
          builder.getNamedAttr("axes", builder.getDenseI64ArrayAttr(axes)));
    }
    if (quantize) {
      QuantizedTensorType type = quantize.getResult().getType();
      auto [codes, scales] =
          getQuantizedBytes(type, type.getShape()[0], tileRows);
      bytes = codes + scales;
      entry.push_back(builder.getNamedAttr("type", TypeAttr::get(type)));
      if (quantize.getClipSearch())
        entry.push_back(
            builder.getNamedAttr("clip_search", builder.getUnitAttr()));
      if (prescaled)
        entry.push_back(
            builder.getNamedAttr("prescaled", builder.getUnitAttr()));
      if (auto importance = quantize.getChannelImportanceAttr())
        entry.push_back(
            builder.getNamedAttr("channel_importance", importance));
    } else {
      RankedTensorType type = source.getType();
      bytes = alignUp(type.getNumElements() * 4);
      entry.push_back(builder.getNamedAttr("type", TypeAttr::get(type)));
    }
    entries.push_back(builder.getDictionaryAttr(entry));
    size += bytes;
    return it->second;
  }

  Builder builder;
  llvm::StringMap<int64_t> offsets;
  SmallVector<Attribute> entries;
  int64_t size = 0;
};

/// Where a graph value lives in the lowered function: `data` (an f32
/// tensor, the codes of a quantized tensor or a KV cache's key region) and
/// `extra` (the scales of a quantized tensor, a KV cache's value region).
struct Lowered {
  Value data, extra;
};

/// Lowers one graph entry point.
class EntryPointLowering {
public:
  /// `counter`: the LLVM intrinsic that times kernel calls, or empty.
  EntryPointLowering(func::FuncOp graph, CPUKernelBuilder &kernels,
                     WeightPlan &weights, StringRef counter)
      : graph(graph), kernels(kernels), weights(weights), counter(counter),
        entryName(("lowbit_" + graph.getName()).str()) {}

  /// Lowers `graph` as entry point @lowbit_<name> of batched decode instead:
  /// row t of a step is the next token of sequence t, at position
  /// positions[t]; the state holds the sequences' states one after another,
  /// `sequenceStateBytes` each.
  void lowerAsBatchedDecode(StringRef name, int64_t sequenceStateBytes) {
    entryName = ("lowbit_" + name).str();
    kvRows = KVRows::PerSequence;
    sequenceStride = sequenceStateBytes;
  }

  /// The kernels the entry point calls, in order (when profiling).
  ArrayRef<Attribute> getProfiledKernels() const { return profiledKernels; }

  /// Emits the entry point; returns the scratch bytes per token it needs,
  /// the KV cache types of its arguments and the bytes of attention
  /// workspace it keeps in the state after the caches.
  LogicalResult lower(int64_t &scratchBytesPerToken,
                      SmallVector<KVCacheType> &caches,
                      int64_t &workspaceBytes);

private:
  LogicalResult lowerOp(Operation *op, OpBuilder &b);
  /// A scratch (or, for the returned logits, output) view of `rows` x
  /// `channels` elements of `element` for `value`, `extraBytes` per token
  /// after it.
  Value allocate(OpBuilder &b, Value value, Type element, int64_t channels,
                 int64_t extraBytes = 0, Value *extraStart = nullptr);
  /// `count` x the step's token count.
  Value perToken(OpBuilder &b, int64_t count);
  /// Scratch bytes from `start` (a value of allocate's `extraStart`),
  /// `bytesPerToken` per token, as a 1-D i8 view.
  Value scratchBytes(OpBuilder &b, Value start, int64_t bytesPerToken);
  /// The bytes of `rows`, a [tokens, channels] view that allocate made, as
  /// a 1-D i8 view.
  Value bytesOf(OpBuilder &b, Value rows);
  Value weightView(OpBuilder &b, Value weight, StringRef form);
  /// What the KV kernels take after the cache: the start position, or for
  /// batched decode the sequence stride.
  Value getStartOrSequenceStride(OpBuilder &b) {
    if (kvRows == KVRows::OneSequence)
      return start;
    return arith::ConstantIndexOp::create(b, loc, sequenceStride);
  }
  /// Frees the scratch of values whose last use is `op`.
  void release(Operation *op);
  /// Groups the GPU matmuls that read the same activations (a layer's q, k
  /// and v; its gate and up) into one launch: the later ones, and the
  /// compile-time ops that give their weights, move next to the first.
  void groupGPUMatmuls();

  /// Stores the counter at the next index of the ticks buffer.
  void recordTicks(OpBuilder &b);

  func::FuncOp graph;
  CPUKernelBuilder &kernels;
  WeightPlan &weights;
  StringRef counter;
  Location loc = graph.getLoc();
  std::string entryName;
  /// How the rows of a step use the KV caches (lowerAsBatchedDecode).
  KVRows kvRows = KVRows::OneSequence;
  int64_t sequenceStride = 0;
  Value ticks;
  SmallVector<Attribute> profiledKernels;

  Value weightBuffer, stateBuffer, scratchBuffer, tokens, positions, start,
      logitsBuffer, numTokens;
  /// The attention kernels' workspace in the state, or null.
  Value attentionWorkspace;
  DenseMap<Value, Lowered> lowered;
  /// Producers that the kernel of their quantization computes
  /// (getFusedProducer, getFusedSum).
  DenseSet<Operation *> fusedProducers;
  /// The rotary embeddings each KV append's kernel applies
  /// (getFusedRotaries).
  DenseMap<Operation *, FusedRotaries> fusedRotaries;
  /// The GPU matmuls one launch computes, by the first of them
  /// (groupGPUMatmuls).
  DenseMap<Operation *, SmallVector<MatmulOp>> gpuMatmulGroups;
  /// The matmuls of those groups other than the first, which the first's
  /// launch computes.
  DenseSet<Operation *> groupedMatmuls;
  /// Per-token scratch offsets of live values and their sizes.
  DenseMap<Value, std::pair<int64_t, int64_t>> liveScratch;
  DenseMap<Value, Operation *> lastUse;
  int64_t peakBytesPerToken = 0;
};
} // namespace

Value EntryPointLowering::allocate(OpBuilder &b, Value value, Type element,
                                   int64_t channels, int64_t extraBytes,
                                   Value *extraStart) {
  auto type = MemRefType::get({ShapedType::kDynamic, channels}, element);
  // The returned logits go to the logits buffer; only their extra bytes
  // take scratch.
  bool returned = llvm::any_of(value.getUsers(), [](Operation *user) {
    return isa<func::ReturnOp>(user);
  });
  auto logitsView = [&] {
    return memref::ViewOp::create(b, loc, type, logitsBuffer,
                                  arith::ConstantIndexOp::create(b, loc, 0),
                                  numTokens);
  };
  int64_t dataBytes =
      returned ? 0 : alignUp(channels * element.getIntOrFloatBitWidth() / 8);
  int64_t bytes = dataBytes + alignUp(extraBytes);
  if (bytes == 0)
    return logitsView();
  // First fit among the gaps between live values.
  SmallVector<std::pair<int64_t, int64_t>> used;
  for (auto &entry : liveScratch)
    used.push_back(entry.second);
  llvm::sort(used);
  int64_t offset = 0;
  for (auto [begin, size] : used) {
    if (offset + bytes <= begin)
      break;
    offset = std::max(offset, begin + size);
  }
  liveScratch[value] = {offset, bytes};
  peakBytesPerToken = std::max(peakBytesPerToken, offset + bytes);
  if (extraStart)
    *extraStart = perToken(b, offset + dataBytes);
  if (returned)
    return logitsView();
  return memref::ViewOp::create(b, loc, type, scratchBuffer,
                                perToken(b, offset), numTokens);
}

Value EntryPointLowering::perToken(OpBuilder &b, int64_t count) {
  return arith::MulIOp::create(b, loc, numTokens,
                               arith::ConstantIndexOp::create(b, loc, count));
}

Value EntryPointLowering::scratchBytes(OpBuilder &b, Value start,
                                       int64_t bytesPerToken) {
  return memref::ViewOp::create(
      b, loc, MemRefType::get({ShapedType::kDynamic}, b.getI8Type()),
      scratchBuffer, start, ValueRange{perToken(b, bytesPerToken)});
}

Value EntryPointLowering::bytesOf(OpBuilder &b, Value rows) {
  auto view = rows.getDefiningOp<memref::ViewOp>();
  auto type = cast<MemRefType>(rows.getType());
  return memref::ViewOp::create(
      b, loc, MemRefType::get({ShapedType::kDynamic}, b.getI8Type()),
      view.getSource(), view.getByteShift(),
      ValueRange{
          perToken(b, type.getDimSize(1) * type.getElementTypeBitWidth() / 8)});
}

void EntryPointLowering::release(Operation *op) {
  for (Value operand : op->getOperands())
    if (lastUse.lookup(operand) == op)
      liveScratch.erase(operand);
}

void EntryPointLowering::groupGPUMatmuls() {
  CPUMatmulISA isa = kernels.getISA();
  auto matmuls = llvm::to_vector(graph.getBody().front().getOps<MatmulOp>());
  for (MatmulOp first : matmuls) {
    QuantizeOp firstWeight = getGPUMatmulWeight(first, isa);
    if (!firstWeight || groupedMatmuls.contains(first))
      continue;
    int64_t scaleGroup =
        firstWeight.getType().getLayout().getScaleGroupChannels();
    SmallVector<MatmulOp> group = {first};
    for (MatmulOp other : matmuls) {
      QuantizeOp weight = getGPUMatmulWeight(other, isa);
      if (other.getAct() == first.getAct() && first->isBeforeInBlock(other) &&
          weight &&
          weight.getType().getLayout().getScaleGroupChannels() == scaleGroup)
        group.push_back(other);
    }
    if (group.size() == 1)
      continue;
    Operation *previous = first;
    for (MatmulOp member : llvm::drop_begin(group)) {
      // The weight's ops have no run-time operands: they may come anywhere
      // before the launch.
      SmallVector<Operation *> weightOps;
      for (Operation *op = member.getWeight().getDefiningOp(); op;
           op = op->getNumOperands() ? op->getOperand(0).getDefiningOp()
                                     : nullptr)
        weightOps.push_back(op);
      for (Operation *op : llvm::reverse(weightOps))
        if (!op->isBeforeInBlock(first))
          op->moveBefore(first);
      member->moveAfter(previous);
      previous = member;
      groupedMatmuls.insert(member);
    }
    gpuMatmulGroups[first] = std::move(group);
  }
}

Value EntryPointLowering::weightView(OpBuilder &b, Value weight,
                                     StringRef form) {
  WeightSource source = *getWeightSource(weight);
  SmallVector<int64_t> shape(source.getType().getShape());
  if (form == "transposed")
    std::swap(shape[0], shape[1]);
  int64_t offset = weights.place(source, form);
  return memref::ViewOp::create(
      b, loc, MemRefType::get(shape, b.getF32Type()), weightBuffer,
      arith::ConstantIndexOp::create(b, loc, offset), ValueRange());
}

void EntryPointLowering::recordTicks(OpBuilder &b) {
  Value now = LLVM::CallIntrinsicOp::create(b, loc, b.getI64Type(),
                                            b.getStringAttr(counter),
                                            ValueRange())
                  .getResult(0);
  Value index = arith::ConstantIndexOp::create(
      b, loc, static_cast<int64_t>(profiledKernels.size()));
  memref::StoreOp::create(b, loc, now, ticks, ValueRange{index});
}

LogicalResult EntryPointLowering::lowerOp(Operation *op, OpBuilder &b) {
  // A fused sum has its buffer now; its quantization's kernel fills it.
  if (auto sum = dyn_cast<arith::AddFOp>(op);
      sum && fusedProducers.contains(op)) {
    lowered[sum.getResult()] = {
        allocate(b, sum.getResult(), b.getF32Type(),
                 cast<ShapedType>(sum.getType()).getDimSize(1)),
        {}};
    return success();
  }
  if (fusedProducers.contains(op))
    return success();
  // Operands the kernels read must have been computed by earlier kernels;
  // a weight or a value of an unsupported producer has no buffer.
  bool missingOperand = false;
  auto call = [&](func::FuncOp kernel, ValueRange operands) {
    if (llvm::any_of(operands, [](Value operand) { return !operand; })) {
      missingOperand = true;
      return;
    }
    func::CallOp::create(b, loc, kernel, operands);
    if (ticks) {
      profiledKernels.push_back(kernel.getSymNameAttr());
      recordTicks(b);
    }
  };
  auto channelsOf = [](Value value) {
    return cast<ShapedType>(value.getType()).getShape().back();
  };
  auto isWeight = [](Value value) {
    return getWeightSource(value).has_value();
  };
  auto requireWeight = [&](Value value, StringRef what) -> LogicalResult {
    if (isWeight(value))
      return success();
    return op->emitOpError() << "lowbit-convert-to-cpu needs the " << what
                             << " to be a lowbit.weight (possibly permuted)";
  };
  LogicalResult lowering =
      llvm::TypeSwitch<Operation *, LogicalResult>(op)
          // Weights are placed when a user says in which form it reads them.
          .Case([&](WeightOp) { return success(); })
          .Case([&](PermuteChannelsOp permute) -> LogicalResult {
            if (isWeight(permute.getResult()))
              return success();
            auto type = cast<ShapedType>(permute.getType());
            if (type.getRank() != 2 || permute.getPermutedAxis() != 1)
              return permute.emitOpError()
                     << "lowbit-convert-to-cpu permutes activations only along "
                        "their channels";
            int64_t channels = type.getDimSize(1);
            Value out =
                allocate(b, permute.getResult(), b.getF32Type(), channels);
            call(kernels.getPermute(channels, permute.getPermutation()),
                 {lowered[permute.getInput()].data, out});
            lowered[permute.getResult()] = {out, {}};
            return success();
          })
          .Case([&](EmbeddingOp embedding) -> LogicalResult {
            if (failed(requireWeight(embedding.getTable(), "embedding table")))
              return failure();
            auto table = cast<RankedTensorType>(embedding.getTable().getType());
            Value out = allocate(b, embedding.getResult(), b.getF32Type(),
                                 table.getDimSize(1));
            call(kernels.getEmbedding(table.getDimSize(0), table.getDimSize(1)),
                 {weightView(b, embedding.getTable(), "f32"), tokens, out});
            lowered[embedding.getResult()] = {out, {}};
            return success();
          })
          .Case([&](RMSNormOp norm) -> LogicalResult {
            if (failed(requireWeight(norm.getWeight(), "norm weight")))
              return failure();
            int64_t channels = channelsOf(norm.getInput());
            Value out = allocate(b, norm.getResult(), b.getF32Type(), channels);
            call(kernels.getRMSNorm(
                     channels, norm.getEpsilon().convertToFloat(),
                     norm.getOutputPermutation().value_or(ArrayRef<int64_t>())),
                 {lowered[norm.getInput()].data,
                  weightView(b, norm.getWeight(), "f32"), out});
            lowered[norm.getResult()] = {out, {}};
            return success();
          })
          .Case([&](LinearOp linear) -> LogicalResult {
            if (failed(requireWeight(linear.getWeight(), "linear weight")))
              return failure();
            auto weight = cast<RankedTensorType>(linear.getWeight().getType());
            Value out = allocate(b, linear.getResult(), b.getF32Type(),
                                 weight.getDimSize(0));
            call(kernels.getLinear(weight.getDimSize(1), weight.getDimSize(0)),
                 {lowered[linear.getInput()].data,
                  weightView(b, linear.getWeight(), "transposed"), out});
            lowered[linear.getResult()] = {out, {}};
            return success();
          })
          .Case([&](RotaryOp rotary) -> LogicalResult {
            Value factors = rotary.getFrequencyFactors();
            if (factors && failed(requireWeight(factors, "frequency factors")))
              return failure();
            int64_t channels = channelsOf(rotary.getInput());
            Value out =
                allocate(b, rotary.getResult(), b.getF32Type(), channels);
            SmallVector<Value> operands = {lowered[rotary.getInput()].data,
                                           positions, out};
            if (factors)
              operands.push_back(weightView(b, factors, "f32"));
            call(kernels.getRotary(channels, rotary.getHeadDimAttr().getInt(),
                                   rotary.getTheta().convertToFloat(),
                                   static_cast<bool>(factors)),
                 operands);
            lowered[rotary.getResult()] = {out, {}};
            return success();
          })
          .Case([&](SwiGLUOp swiglu) {
            int64_t channels = channelsOf(swiglu.getGate());
            Value out =
                allocate(b, swiglu.getResult(), b.getF32Type(), channels);
            call(kernels.getSwiGLU(channels),
                 {lowered[swiglu.getGate()].data, lowered[swiglu.getUp()].data,
                  out});
            lowered[swiglu.getResult()] = {out, {}};
            return success();
          })
          .Case([&](arith::AddFOp addf) -> LogicalResult {
            if (!isa<RankedTensorType>(addf.getType()) ||
                cast<ShapedType>(addf.getType()).getRank() != 2)
              return addf.emitOpError()
                     << "lowbit-convert-to-cpu lowers only additions of "
                        "[tokens, channels] tensors";
            int64_t channels = channelsOf(addf.getResult());
            Value out = allocate(b, addf.getResult(), b.getF32Type(), channels);
            call(kernels.getAdd(channels), {lowered[addf.getLhs()].data,
                                            lowered[addf.getRhs()].data, out});
            lowered[addf.getResult()] = {out, {}};
            return success();
          })
          .Case([&](QuantizeOp quantize) -> LogicalResult {
            QuantizedTensorType type = quantize.getResult().getType();
            if (std::optional<WeightSource> source =
                    getWeightSource(quantize.getInput())) {
              int64_t tileRows = getWeightTileRows(kernels.getISA());
              StringRef form = usesGPUMatmul(quantize, kernels.getISA())
                                   ? StringRef(kGPUInterleavedWeightForm)
                                   : getWeightForm(kernels.getISA());
              int64_t offset =
                  weights.place(*source, form, quantize, tileRows,
                                hasPrescaledScales(quantize, kernels.getISA()));
              int64_t rows = type.getShape()[0];
              BlockLayoutAttr layout = type.getLayout();
              int64_t codeBytes = getQuantizedBytes(type, rows, tileRows).first;
              lowered[quantize.getResult()] = {
                  memref::ViewOp::create(
                      b, loc,
                      MemRefType::get({(rows + tileRows - 1) / tileRows,
                                       tileRows * layout.getPackedRowBytes()},
                                      b.getI8Type()),
                      weightBuffer,
                      arith::ConstantIndexOp::create(b, loc, offset),
                      ValueRange()),
                  memref::ViewOp::create(
                      b, loc,
                      MemRefType::get({(rows + tileRows - 1) / tileRows,
                                       tileRows * layout.getScalesPerRow()},
                                      b.getF32Type()),
                      weightBuffer,
                      arith::ConstantIndexOp::create(b, loc,
                                                     offset + codeBytes),
                      ValueRange())};
              return success();
            }
            if (quantize.getClipSearch())
              return quantize.emitOpError() << "lowbit-convert-to-cpu does not "
                                               "search clipped scales of "
                                               "activations at run time";
            BlockLayoutAttr layout = type.getLayout();
            Operation *producer = quantize.getInput().getDefiningOp();
            auto norm = dyn_cast_if_present<RMSNormOp>(producer);
            bool fusedNorm = norm && fusedProducers.contains(norm);
            // After the scales, a fused norm keeps each row's inverse RMS.
            int64_t scaleBytes = layout.getScalesPerRow() * 4;
            Value scalesStart;
            Value codes = allocate(
                b, quantize.getResult(), b.getI8Type(), layout.getNumChannels(),
                scaleBytes + (fusedNorm ? 4 : 0), &scalesStart);
            Value scales = memref::ViewOp::create(
                b, loc,
                MemRefType::get(
                    {ShapedType::kDynamic, layout.getScalesPerRow()},
                    b.getF32Type()),
                scratchBuffer, scalesStart, numTokens);
            if (fusedNorm) {
              if (failed(requireWeight(norm.getWeight(), "norm weight")))
                return failure();
              float epsilon = norm.getEpsilon().convertToFloat();
              ArrayRef<int64_t> normPermutation =
                  norm.getOutputPermutation().value_or(ArrayRef<int64_t>());
              Value weight = weightView(b, norm.getWeight(), "f32");
              Value inverseRms = memref::ViewOp::create(
                  b, loc,
                  MemRefType::get({ShapedType::kDynamic}, b.getF32Type()),
                  scratchBuffer,
                  arith::AddIOp::create(b, loc, scalesStart,
                                        perToken(b, scaleBytes)),
                  numTokens);
              auto sum = norm.getInput().getDefiningOp<arith::AddFOp>();
              if (sum && fusedProducers.contains(sum))
                call(kernels.getRMSNormQuantize(type, epsilon, normPermutation,
                                                /*residualSum=*/true),
                     {lowered[sum.getLhs()].data, lowered[sum.getRhs()].data,
                      weight, lowered[sum.getResult()].data, codes, scales,
                      inverseRms});
              else
                call(kernels.getRMSNormQuantize(type, epsilon, normPermutation,
                                                /*residualSum=*/false),
                     {lowered[norm.getInput()].data, weight, codes, scales,
                      inverseRms});
            } else if (auto swiglu = dyn_cast_if_present<SwiGLUOp>(producer);
                       swiglu && fusedProducers.contains(swiglu)) {
              call(kernels.getSwiGLUQuantize(type),
                   {lowered[swiglu.getGate()].data,
                    lowered[swiglu.getUp()].data, codes, scales});
            } else {
              call(kernels.getQuantize(type),
                   {lowered[quantize.getInput()].data, codes, scales});
            }
            lowered[quantize.getResult()] = {codes, scales};
            return success();
          })
          .Case([&](MatmulOp matmul) -> LogicalResult {
            if (!matmul.getWeight().getDefiningOp<QuantizeOp>() ||
                !isWeight(
                    matmul.getWeight().getDefiningOp<QuantizeOp>().getInput()))
              return matmul.emitOpError() << "lowbit-convert-to-cpu needs the "
                                             "weight operand to be a "
                                             "quantized lowbit.weight";
            // The launch of its group's first matmul computed it.
            if (groupedMatmuls.contains(matmul))
              return success();
            Lowered act = lowered[matmul.getAct()];
            if (getGPUMatmulWeight(matmul, kernels.getISA())) {
              SmallVector<MatmulOp> group = gpuMatmulGroups.lookup(matmul);
              if (group.empty())
                group.push_back(matmul);
              SmallVector<QuantizedTensorType> weightTypes;
              SmallVector<Value> operands = {act.data, act.extra};
              for (MatmulOp member : group) {
                QuantizedTensorType weight = member.getWeight().getType();
                Lowered packed = lowered[member.getWeight()];
                Value out = allocate(b, member.getResult(), b.getF32Type(),
                                     weight.getShape()[0]);
                weightTypes.push_back(weight);
                operands.append({packed.data, packed.extra, out});
                lowered[member.getResult()] = {out, {}};
              }
              call(kernels.getGPUMatmul(matmul.getAct().getType(), weightTypes),
                   operands);
              return success();
            }
            QuantizedTensorType weight = matmul.getWeight().getType();
            auto resultType = cast<RankedTensorType>(matmul.getType());
            Value out = allocate(b, matmul.getResult(), b.getF32Type(),
                                 weight.getShape()[0]);
            Lowered packed = lowered[matmul.getWeight()];
            auto weightQuantize =
                matmul.getWeight().getDefiningOp<QuantizeOp>();
            call(kernels.getMatmul(
                     matmul.getAct().getType(), weight,
                     cast<FloatType>(resultType.getElementType()),
                     hasPrescaledScales(weightQuantize, kernels.getISA())),
                 {act.data, act.extra, packed.data, packed.extra, out});
            lowered[matmul.getResult()] = {out, {}};
            return success();
          })
          .Case([&](KVAppendOp append) -> LogicalResult {
            Lowered cache = lowered[append.getCache()];
            lowered[append.getResult()] = cache;
            KVCacheType type = append.getCache().getType();
            RotaryOp keys = fusedRotaries.lookup(append).keys;
            bool perSequence = kvRows == KVRows::PerSequence;
            Value startOrStride = getStartOrSequenceStride(b);
            if (!keys) {
              SmallVector<Value> operands = {lowered[append.getKeys()].data,
                                             lowered[append.getValues()].data,
                                             cache.data, cache.extra,
                                             startOrStride};
              if (perSequence)
                operands.push_back(positions);
              call(kernels.getKVAppend(type, std::nullopt, 0, kvRows),
                   operands);
              return success();
            }
            Value factors = keys.getFrequencyFactors();
            if (factors && failed(requireWeight(factors, "frequency factors")))
              return failure();
            SmallVector<Value> operands = {lowered[keys.getInput()].data,
                                           lowered[append.getValues()].data,
                                           cache.data,
                                           cache.extra,
                                           startOrStride,
                                           positions};
            if (factors)
              operands.push_back(weightView(b, factors, "f32"));
            int64_t queryChannels = 0;
            if (RotaryOp query = fusedRotaries.lookup(append).query) {
              queryChannels = channelsOf(query.getInput());
              Value out =
                  allocate(b, query.getResult(), b.getF32Type(), queryChannels);
              operands.append({lowered[query.getInput()].data, out});
              lowered[query.getResult()] = {out, {}};
            }
            call(kernels.getKVAppend(
                     type,
                     RotaryEmbedding{keys.getHeadDimAttr().getInt(),
                                     keys.getTheta().convertToFloat(),
                                     static_cast<bool>(factors)},
                     queryChannels, kvRows),
                 operands);
            return success();
          })
          .Case([&](KVAttentionOp attention) {
            int64_t channels = channelsOf(attention.getQuery());
            Value out =
                allocate(b, attention.getResult(), b.getF32Type(), channels);
            Lowered cache = lowered[attention.getCache()];
            KVCacheType type = attention.getCache().getType();
            int64_t numHeads = attention.getNumHeadsAttr().getInt();
            bool perSequence = kvRows == KVRows::PerSequence;
            Value startOrStride = getStartOrSequenceStride(b);
            SmallVector<Value> operands = {lowered[attention.getQuery()].data,
                                           cache.data, cache.extra,
                                           startOrStride, out};
            if (kernels.getDecodeAttentionWorkspaceBytes(type, channels,
                                                         numHeads))
              operands.push_back(attentionWorkspace);
            if (perSequence)
              operands.push_back(positions);
            call(kernels.getKVAttention(type, channels, numHeads, kvRows),
                 operands);
            lowered[attention.getResult()] = {out, {}};
            return success();
          })
          .Case([&](ShardOp shard) -> LogicalResult {
            if (isWeight(shard.getResult()))
              return success();
            return shard.emitOpError()
                   << "lowbit-convert-to-cpu takes slices of weights only "
                      "(cut once, when the artifact is written)";
          })
          .Case([&](AllReduceOp reduce) -> LogicalResult {
            Value input = lowered[reduce.getInput()].data;
            if (!input) {
              missingOperand = true;
              return success();
            }
            int64_t channels = channelsOf(reduce.getResult());
            WireFormatAttr wire = reduce.getWireAttr();
            // Exact sums, and CPU models' compressed ones, are runtime
            // calls: the runtime packs, exchanges and decodes the messages
            // (the verifier has checked that blocks fill the channels).
            if (!wire || kernels.getISA() != CPUMatmulISA::NVGPU) {
              SmallVector<int64_t, 3> format;
              if (wire) {
                runtime::WireFormat runtimeFormat = wire.getRuntimeFormat();
                format = {static_cast<int64_t>(runtimeFormat.element),
                          runtimeFormat.blockSize,
                          static_cast<int64_t>(runtimeFormat.scale)};
              }
              Value out =
                  allocate(b, reduce.getResult(), b.getF32Type(), channels);
              createCollectiveCall(
                  b, loc, wire ? kAllReduceWireFunction : kAllReduceFunction,
                  input, out, perToken(b, channels), format);
              lowered[reduce.getResult()] = {out, {}};
              return success();
            }
            int64_t blockSize = wire.getBlockSize();
            if (channels % blockSize != 0 || channels % 4 != 0)
              return reduce.emitOpError()
                     << "has " << channels
                     << " channels, not a multiple of the "
                     << "wire block of " << blockSize << " and of 4";
            int64_t ranks = getGroupSize(reduce);
            // One token's message, rounded up as a message of many tokens may
            // be, then this rank's message and every rank's after it.
            int64_t messageBytes =
                wire.getRuntimeFormat().getMessageBytes(channels / blockSize);
            int64_t workspaceBytes = (ranks + 1) * messageBytes;
            Value workspaceStart;
            Value out = allocate(b, reduce.getResult(), b.getF32Type(),
                                 channels, workspaceBytes, &workspaceStart);
            call(kernels.getGPUWireAllReduce(wire, ranks),
                 {bytesOf(b, input),
                  scratchBytes(b, workspaceStart, workspaceBytes),
                  bytesOf(b, out)});
            lowered[reduce.getResult()] = {out, {}};
            return success();
          })
          .Case([&](AllGatherOp gather) -> LogicalResult {
            if (gather.getWire())
              return gather.emitOpError()
                     << "lowbit-convert-to-cpu gathers whole activations "
                        "uncompressed only";
            if (gather.getAxis() != 1)
              return gather.emitOpError() << "lowbit-convert-to-cpu gathers "
                                             "along the channels (axis "
                                             "1) only";
            Value input = lowered[gather.getInput()].data;
            if (!input) {
              missingOperand = true;
              return success();
            }
            int64_t channels = channelsOf(gather.getInput());
            int64_t ranks = getGroupSize(gather);
            // Every rank's rows one rank after another, then interleaved.
            Value gatheredStart;
            Value out = allocate(b, gather.getResult(), b.getF32Type(),
                                 ranks * channels, ranks * channels * 4,
                                 &gatheredStart);
            Value gathered = memref::ViewOp::create(
                b, loc,
                MemRefType::get({ShapedType::kDynamic, channels},
                                b.getF32Type()),
                scratchBuffer, gatheredStart, ValueRange{perToken(b, ranks)});
            createCollectiveCall(b, loc, kAllGatherFunction, input, gathered,
                                 perToken(b, channels * 4));
            call(kernels.getInterleaveRanks(ranks, channels), {gathered, out});
            lowered[gather.getResult()] = {out, {}};
            return success();
          })
          .Case([&](ReduceScatterOp scatter) {
            return scatter.emitOpError()
                   << "lowbit-convert-to-cpu does not lower reduce-scatters; "
                      "compress with algorithm=all-gather";
          })
          .Case([&](func::ReturnOp) { return success(); })
          .Default([&](Operation *op) {
            return op->emitOpError()
                   << "lowbit-convert-to-cpu cannot lower this operation yet";
          });
  if (succeeded(lowering) && missingOperand)
    return op->emitOpError()
           << "lowbit-convert-to-cpu needs the activation operands of this "
              "operation to be computed at run time";
  return lowering;
}

LogicalResult EntryPointLowering::lower(int64_t &scratchBytesPerToken,
                                        SmallVector<KVCacheType> &caches,
                                        int64_t &workspaceBytes) {
  FunctionType type = graph.getFunctionType();
  auto isTokenVector = [](Type type) {
    auto tensor = dyn_cast<RankedTensorType>(type);
    return tensor && tensor.getRank() == 1 &&
           tensor.getElementType().isInteger(32);
  };
  if (type.getNumInputs() < 3 || !isTokenVector(type.getInput(0)) ||
      !isTokenVector(type.getInput(1)) || !type.getInput(2).isIndex() ||
      type.getNumResults() < 1)
    return graph.emitOpError()
           << "is not a graph entry point (tokens, positions, start, KV "
              "caches -> logits, KV caches)";
  auto logitsType = dyn_cast<RankedTensorType>(type.getResult(0));
  if (!logitsType || logitsType.getRank() != 2 ||
      !logitsType.getElementType().isF32())
    return graph.emitOpError() << "must return f32 logits [tokens, vocab]";
  for (Type input : type.getInputs().drop_front(3)) {
    auto cache = dyn_cast<KVCacheType>(input);
    if (!cache)
      return graph.emitOpError()
             << "arguments after the start position must be KV caches";
    caches.push_back(cache);
  }

  if (kernels.getISA() == CPUMatmulISA::NVGPU)
    groupGPUMatmuls();
  for (Operation &op : graph.getBody().front())
    for (Value operand : op.getOperands())
      lastUse[operand] = &op;
  // A fused producer's inputs are read by its quantization's kernel.
  graph.walk([&](QuantizeOp quantize) {
    Operation *producer = getFusedProducer(quantize, kernels.getISA());
    if (!producer)
      return;
    SmallVector<Operation *, 2> fused = {producer};
    if (arith::AddFOp sum = getFusedSum(quantize, producer))
      fused.push_back(sum);
    for (Operation *op : fused) {
      fusedProducers.insert(op);
      for (Value operand : op->getOperands())
        if (lastUse[operand]->isBeforeInBlock(quantize))
          lastUse[operand] = quantize;
    }
  });
  graph.walk([&](KVAppendOp append) {
    FusedRotaries rotaries = getFusedRotaries(append, kernels.getISA());
    if (!rotaries.keys)
      return;
    fusedRotaries[append] = rotaries;
    for (RotaryOp rotary : {rotaries.keys, rotaries.query}) {
      if (!rotary)
        continue;
      fusedProducers.insert(rotary);
      for (Value operand : rotary->getOperands())
        if (lastUse[operand]->isBeforeInBlock(append))
          lastUse[operand] = append;
    }
  });

  OpBuilder b(graph);
  MLIRContext *context = graph.getContext();
  auto bytes = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
  auto i32s = MemRefType::get({ShapedType::kDynamic}, b.getI32Type());
  SmallVector<Type> arguments = {bytes, bytes, bytes,  i32s,
                                 i32s,  b.getIndexType(), bytes};
  if (!counter.empty())
    arguments.push_back(MemRefType::get({ShapedType::kDynamic}, b.getI64Type()));
  auto entry =
      func::FuncOp::create(b, loc, entryName, b.getFunctionType(arguments, {}));
  entry->setAttr("llvm.emit_c_interface", UnitAttr::get(context));
  Block *body = entry.addEntryBlock();
  b.setInsertionPointToStart(body);
  weightBuffer = body->getArgument(0);
  stateBuffer = body->getArgument(1);
  scratchBuffer = body->getArgument(2);
  tokens = body->getArgument(3);
  positions = body->getArgument(4);
  start = body->getArgument(5);
  logitsBuffer = body->getArgument(6);
  numTokens = memref::DimOp::create(b, loc, tokens, 0);
  if (!counter.empty()) {
    ticks = body->getArgument(7);
    recordTicks(b);
  }

  // The state from byte `offset` on: `bytes` of it, or for batched decode
  // all of it, the other sequences' states included.
  auto stateView = [&](int64_t offset, int64_t viewBytes) -> Value {
    Value size = arith::ConstantIndexOp::create(b, loc, viewBytes);
    if (kvRows == KVRows::PerSequence)
      size = arith::SubIOp::create(
          b, loc, memref::DimOp::create(b, loc, stateBuffer, 0),
          arith::ConstantIndexOp::create(b, loc, offset));
    return memref::ViewOp::create(
        b, loc, bytes, stateBuffer,
        arith::ConstantIndexOp::create(b, loc, offset), ValueRange{size});
  };
  int64_t stateOffset = 0;
  for (auto [index, cache] : llvm::enumerate(caches)) {
    int64_t regionBytes = getKVRegionBytes(cache);
    lowered[graph.getArgument(3 + index)] = {
        stateView(stateOffset, regionBytes),
        stateView(stateOffset + regionBytes, regionBytes)};
    stateOffset += 2 * regionBytes;
  }
  // One workspace serves every attention op: they run one after another.
  workspaceBytes = 0;
  graph.walk([&](KVAttentionOp attention) {
    workspaceBytes = std::max(
        workspaceBytes, alignUp(kernels.getDecodeAttentionWorkspaceBytes(
                            attention.getCache().getType(),
                            cast<ShapedType>(attention.getType()).getDimSize(1),
                            attention.getNumHeadsAttr().getInt())));
  });
  if (workspaceBytes)
    attentionWorkspace = stateView(stateOffset, workspaceBytes);

  for (Operation &op : graph.getBody().front()) {
    if (failed(lowerOp(&op, b)))
      return failure();
    release(&op);
  }
  func::ReturnOp::create(b, loc);
  scratchBytesPerToken = peakBytesPerToken;
  return success();
}

namespace {
struct ConvertLowBitToCPUPass
    : lowbit::impl::ConvertLowBitToCPUBase<ConvertLowBitToCPUPass> {
  using ConvertLowBitToCPUBase::ConvertLowBitToCPUBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto groups = llvm::to_vector(module.getOps<RankGroupOp>());
    if (groups.size() > 1) {
      groups[1].emitOpError()
          << "is a second rank group; lowbit-convert-to-cpu lowers models "
             "sharded over one group";
      return signalPassFailure();
    }
    WalkResult asymmetric = module.walk([](Operation *op) {
      auto isAsymmetric = [](Type type) {
        if (auto quantized = dyn_cast<QuantizedTensorType>(type))
          return quantized.getLayout().getAsymmetric();
        auto cache = dyn_cast<KVCacheType>(type);
        return cache && cache.getAsymmetric();
      };
      if (llvm::none_of(op->getResultTypes(), isAsymmetric) &&
          llvm::none_of(op->getOperandTypes(), isAsymmetric))
        return WalkResult::advance();
      op->emitOpError() << "lowbit-convert-to-cpu does not lower asymmetric "
                           "(zero-point) weights or KV caches yet; the "
                           "reference executor runs them";
      return WalkResult::interrupt();
    });
    if (asymmetric.wasInterrupted())
      return signalPassFailure();
    SmallVector<func::FuncOp> graphs;
    for (auto function : module.getOps<func::FuncOp>())
      if (!function.isDeclaration() && !function.isPrivate())
        graphs.push_back(function);
    if (graphs.empty()) {
      module.emitError() << "lowbit-convert-to-cpu found no graph entry point";
      return signalPassFailure();
    }

    std::optional<CPUMatmulISA> matmulISA = parseCPUMatmulISA(isa);
    if (!matmulISA) {
      module.emitError() << "lowbit-convert-to-cpu: unknown isa '" << isa
                         << "' (known: generic, neon-dotprod, neon-i8mm, "
                            "x86-avx512vnni, nvgpu)";
      return signalPassFailure();
    }
    if (isNeon(*matmulISA)) {
      WalkResult unfit = module.walk([](MatmulOp matmul) {
        if (fitsNeonMatmul(matmul.getAct().getType().getLayout()) &&
            fitsNeonMatmul(matmul.getWeight().getType().getLayout()))
          return WalkResult::advance();
        matmul.emitWarning()
            << "has blocks or scale groups that are not multiples of 32 "
               "channels; the NEON matmul cannot take them, so the module "
               "uses the generic matmul";
        return WalkResult::interrupt();
      });
      if (unfit.wasInterrupted())
        matmulISA = CPUMatmulISA::Generic;
    }
    StringRef counterIntrinsic =
        llvm::StringSwitch<StringRef>(profileCounter)
            .Case("none", "")
            .Case("cycle", "llvm.readcyclecounter")
            .Case("steady", "llvm.readsteadycounter")
            .Default("?");
    if (counterIntrinsic == "?") {
      module.emitError() << "lowbit-convert-to-cpu: unknown profile-counter '"
                         << profileCounter << "' (known: none, cycle, steady)";
      return signalPassFailure();
    }
    CPUKernelBuilder kernels(module, *matmulISA);
    SmallVector<NamedAttribute> profile;
    WeightPlan weights(&getContext());
    int64_t scratchBytesPerToken = 0;
    std::optional<SmallVector<KVCacheType>> sharedCaches;
    int64_t workspaceBytes = 0;
    // Lowers `graph` as entry point `name`, batched decode when
    // `batchedStateBytes` (a sequence's state) is not 0; records its profile
    // name and scratch, and returns its KV caches and attention workspace.
    auto lowerEntryPoint = [&](func::FuncOp graph, StringAttr name,
                               int64_t batchedStateBytes,
                               SmallVector<KVCacheType> &caches,
                               int64_t &graphWorkspaceBytes) {
      EntryPointLowering lowering(graph, kernels, weights, counterIntrinsic);
      if (batchedStateBytes)
        lowering.lowerAsBatchedDecode(name, batchedStateBytes);
      int64_t bytesPerToken = 0;
      if (failed(lowering.lower(bytesPerToken, caches, graphWorkspaceBytes)))
        return failure();
      if (!counterIntrinsic.empty())
        profile.push_back(NamedAttribute(
            name,
            ArrayAttr::get(&getContext(), lowering.getProfiledKernels())));
      scratchBytesPerToken = std::max(scratchBytesPerToken, bytesPerToken);
      return success();
    };
    for (func::FuncOp graph : graphs) {
      int64_t graphWorkspaceBytes = 0;
      SmallVector<KVCacheType> caches;
      if (failed(lowerEntryPoint(graph, graph.getSymNameAttr(), 0, caches,
                                 graphWorkspaceBytes)))
        return signalPassFailure();
      workspaceBytes = std::max(workspaceBytes, graphWorkspaceBytes);
      if (sharedCaches && *sharedCaches != caches) {
        graph.emitOpError() << "takes other KV caches than the entry points "
                               "before it; they must share one state";
        return signalPassFailure();
      }
      sharedCaches = caches;
    }
    int64_t stateBytes = workspaceBytes;
    for (KVCacheType cache : *sharedCaches)
      stateBytes += 2 * getKVRegionBytes(cache);
    // Batched decode runs the prompt graph with a row per sequence.
    auto prompt = llvm::find_if(graphs, [](func::FuncOp graph) {
      return graph.getName() == "prefill";
    });
    if (prompt != graphs.end() && !sharedCaches->empty()) {
      int64_t graphWorkspaceBytes = 0;
      SmallVector<KVCacheType> caches;
      if (failed(lowerEntryPoint(
              *prompt, StringAttr::get(&getContext(), kBatchedDecodeEntryName),
              stateBytes, caches, graphWorkspaceBytes)))
        return signalPassFailure();
    }
    for (func::FuncOp graph : graphs)
      graph.erase();

    Builder b(&getContext());
    module->setAttr("lowbit.cpu.weights", b.getArrayAttr(weights.entries));
    module->setAttr("lowbit.cpu.weight_bytes",
                    b.getI64IntegerAttr(weights.size));
    module->setAttr("lowbit.cpu.state_bytes", b.getI64IntegerAttr(stateBytes));
    module->setAttr("lowbit.cpu.scratch_bytes_per_token",
                    b.getI64IntegerAttr(scratchBytesPerToken));
    if (!profile.empty())
      module->setAttr("lowbit.cpu.profile", b.getDictionaryAttr(profile));
    if (!groups.empty()) {
      module->setAttr("lowbit.cpu.tensor_parallel",
                      b.getI64IntegerAttr(groups[0].getRanks().size()));
      groups[0].erase();
    }
  }
};
} // namespace
