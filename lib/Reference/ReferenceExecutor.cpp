//===- ReferenceExecutor.cpp - FP32 oracle for lowbit graph IR --------------===//
//
// Interprets lowbit graph IR one operation at a time with straightforward
// f32 loops written to be read and trusted, not to be fast. Only the linear
// layer, where nearly all the time goes, is split across threads. Quantized
// operations follow QuantizedArithmetic.h exactly; floating-point tensors
// of any element type are computed in f32.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Reference/ReferenceExecutor.h"
#include "lowbit/Dialect/LowBit/IR/LowBitOps.h"
#include "lowbit/Frontend/LlamaImporter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <thread>

using namespace mlir;
using namespace lowbit;
using llvm::createStringError;
using llvm::inconvertibleErrorCode;

//===----------------------------------------------------------------------===//
// Kernels
//===----------------------------------------------------------------------===//

/// Runs `body(begin, end)` over [0, count) split across the machine's cores.
template <typename Body>
static void parallelFor(int64_t count, Body body) {
  int64_t workers = std::max(1u, std::thread::hardware_concurrency());
  workers = std::min(workers, count);
  if (workers <= 1) {
    body(0, count);
    return;
  }
  std::vector<std::thread> threads;
  int64_t chunk = (count + workers - 1) / workers;
  for (int64_t begin = 0; begin < count; begin += chunk)
    threads.emplace_back(body, begin, std::min(count, begin + chunk));
  for (std::thread &thread : threads)
    thread.join();
}

/// result[t, n] = sum_k input[t, k] * weight[n, k].
static Tensor linear(const Tensor &input, const Tensor &weight) {
  int64_t rows = input.dim(0), in = input.dim(1), out = weight.dim(0);
  Tensor result{{rows, out}, std::vector<float>(rows * out)};
  parallelFor(out, [&](int64_t begin, int64_t end) {
    for (int64_t t = 0; t < rows; ++t) {
      const float *x = &input.data[t * in];
      for (int64_t n = begin; n < end; ++n) {
        const float *w = &weight.data[n * in];
        float sum = 0.0f;
        for (int64_t k = 0; k < in; ++k)
          sum += x[k] * w[k];
        result.data[t * out + n] = sum;
      }
    }
  });
  return result;
}

/// RMSNorm; with a permutation P, output channel i normalizes input channel
/// P[i] and scales it by weight[i].
static Tensor rmsNorm(const Tensor &input, const Tensor &weight,
                      float epsilon, llvm::ArrayRef<int64_t> permutation) {
  int64_t rows = input.dim(0), channels = input.dim(1);
  Tensor result{input.shape, std::vector<float>(input.data.size())};
  for (int64_t t = 0; t < rows; ++t) {
    const float *x = &input.data[t * channels];
    float sumOfSquares = 0.0f;
    for (int64_t c = 0; c < channels; ++c)
      sumOfSquares += x[c] * x[c];
    float inverseRms =
        1.0f / std::sqrt(sumOfSquares / static_cast<float>(channels) + epsilon);
    for (int64_t c = 0; c < channels; ++c)
      result.data[t * channels + c] =
          x[permutation.empty() ? c : permutation[c]] * inverseRms *
          weight.data[c];
  }
  return result;
}

/// The `part`-th of `parts` equal slices of `input` along `axis`.
static Tensor sliceAlong(const Tensor &input, int64_t axis, int64_t part,
                         int64_t parts) {
  int64_t rows = input.shape.size() == 1 ? 1 : input.dim(0);
  int64_t columns = input.shape.back();
  bool alongColumns = axis == static_cast<int64_t>(input.shape.size()) - 1;
  Tensor result{input.shape, {}};
  result.shape[axis] /= parts;
  int64_t sliceRows = alongColumns ? rows : rows / parts;
  int64_t sliceColumns = alongColumns ? columns / parts : columns;
  int64_t firstRow = alongColumns ? 0 : part * sliceRows;
  int64_t firstColumn = alongColumns ? part * sliceColumns : 0;
  for (int64_t row = firstRow; row < firstRow + sliceRows; ++row) {
    const float *begin = &input.data[row * columns + firstColumn];
    result.data.insert(result.data.end(), begin, begin + sliceColumns);
  }
  return result;
}

/// `parts` concatenated along `axis` of rank-2 tensors.
static Tensor concatenateAlong(llvm::ArrayRef<Tensor> parts, int64_t axis) {
  Tensor result{parts.front().shape, {}};
  result.shape[axis] *= static_cast<int64_t>(parts.size());
  if (axis == 0) {
    for (const Tensor &part : parts)
      result.data.insert(result.data.end(), part.data.begin(),
                         part.data.end());
    return result;
  }
  int64_t columns = parts.front().dim(1);
  for (int64_t row = 0; row < result.dim(0); ++row)
    for (const Tensor &part : parts)
      result.data.insert(result.data.end(),
                         part.data.begin() + row * columns,
                         part.data.begin() + (row + 1) * columns);
  return result;
}

/// Rotates channel pairs (2i, 2i+1) of every head by position * frequency_i,
/// frequency_i divided by factors[i] when there are factors.
static Tensor rotary(const Tensor &input, llvm::ArrayRef<int64_t> positions,
                     int64_t headDim, float theta, const Tensor *factors) {
  int64_t rows = input.dim(0), channels = input.dim(1);
  Tensor result = input;
  for (int64_t t = 0; t < rows; ++t) {
    for (int64_t i = 0; i < headDim / 2; ++i) {
      float frequency =
          1.0f / std::pow(theta, static_cast<float>(2 * i) /
                                     static_cast<float>(headDim));
      if (factors)
        frequency /= factors->data[i];
      float angle = static_cast<float>(positions[t]) * frequency;
      float cosine = std::cos(angle), sine = std::sin(angle);
      for (int64_t head = 0; head < channels / headDim; ++head) {
        float *pair = &result.data[t * channels + head * headDim + 2 * i];
        float x0 = pair[0], x1 = pair[1];
        pair[0] = x0 * cosine - x1 * sine;
        pair[1] = x0 * sine + x1 * cosine;
      }
    }
  }
  return result;
}

/// Causal grouped-query attention of query rows at positions
/// firstPosition + t over key/value rows 0..firstPosition + t.
static Tensor attention(const Tensor &query, const float *keys,
                        const float *values, int64_t kvChannels,
                        int64_t numHeads, int64_t numKVHeads,
                        int64_t firstPosition, int64_t numKeys) {
  int64_t rows = query.dim(0), channels = query.dim(1);
  int64_t headDim = channels / numHeads;
  int64_t group = numHeads / numKVHeads;
  float scale = 1.0f / std::sqrt(static_cast<float>(headDim));
  Tensor result{query.shape, std::vector<float>(query.data.size(), 0.0f)};
  std::vector<float> scores(numKeys);
  for (int64_t t = 0; t < rows; ++t) {
    int64_t visible = std::min(numKeys, firstPosition + t + 1);
    for (int64_t head = 0; head < numHeads; ++head) {
      const float *q = &query.data[t * channels + head * headDim];
      int64_t kvOffset = (head / group) * headDim;
      float maximum = -INFINITY;
      for (int64_t s = 0; s < visible; ++s) {
        const float *k = keys + s * kvChannels + kvOffset;
        float dot = 0.0f;
        for (int64_t d = 0; d < headDim; ++d)
          dot += q[d] * k[d];
        scores[s] = dot * scale;
        maximum = std::max(maximum, scores[s]);
      }
      float total = 0.0f;
      for (int64_t s = 0; s < visible; ++s) {
        scores[s] = std::exp(scores[s] - maximum);
        total += scores[s];
      }
      float *out = &result.data[t * channels + head * headDim];
      for (int64_t s = 0; s < visible; ++s) {
        const float *v = values + s * kvChannels + kvOffset;
        float weight = scores[s] / total;
        for (int64_t d = 0; d < headDim; ++d)
          out[d] += weight * v[d];
      }
    }
  }
  return result;
}

//===----------------------------------------------------------------------===//
// Interpreter
//===----------------------------------------------------------------------===//

/// The values of one call of an entry point on one rank.
class ReferenceExecutor::Frame {
public:
  Frame(ReferenceExecutor &executor, int64_t rank)
      : executor(executor), rank(rank), state(executor.ranks[rank]) {}

  llvm::Error execute(Operation *op);

  llvm::DenseMap<Value, Tensor> tensors;
  llvm::DenseMap<Value, const Tensor *> weightTensors;
  llvm::DenseMap<Value, int64_t> indices;
  llvm::DenseMap<Value, KVCache *> caches;
  /// Token positions, kept as integers for the rotary embedding.
  llvm::DenseMap<Value, std::vector<int64_t>> integerVectors;
  llvm::DenseMap<Value, const QuantizedTensor *> quantizedTensors;
  /// Quantized values made during this call (activations).
  std::vector<std::unique_ptr<QuantizedTensor>> ownedQuantized;

  const Tensor &tensor(Value value) {
    if (auto it = weightTensors.find(value); it != weightTensors.end())
      return *it->second;
    return tensors.find(value)->second;
  }

private:
  llvm::Error weight(WeightOp op);
  llvm::Error quantize(QuantizeOp op);
  /// Sets `result` of `op` to `reshape` of `input` (a permutation or a
  /// slice); when `input` is a weight, computed once for all calls.
  void defineReshaped(mlir::Operation *op, mlir::Value input,
                      mlir::Value result,
                      llvm::function_ref<Tensor(const Tensor &)> reshape);
  llvm::Error permuteChannels(PermuteChannelsOp op);
  llvm::Error shard(ShardOp op);
  llvm::Error kvAppend(KVAppendOp op);
  llvm::Error kvAttention(KVAttentionOp op);

  ReferenceExecutor &executor;
  /// Position of this frame's rank in the rank group.
  int64_t rank;
  RankState &state;
};

static llvm::Error unsupported(Operation *op) {
  return createStringError(inconvertibleErrorCode(),
                           "the reference executor does not run '%s'",
                           op->getName().getStringRef().str().c_str());
}

llvm::Error ReferenceExecutor::Frame::weight(WeightOp op) {
  auto type = cast<RankedTensorType>(op.getType());
  auto [it, inserted] = executor.weights.try_emplace(op.getName());
  if (inserted) {
    llvm::Expected<std::vector<float>> values =
        executor.checkpoint.readFloat(op.getName(), type.getShape());
    if (!values) {
      executor.weights.erase(it);
      return values.takeError();
    }
    it->second = Tensor{llvm::SmallVector<int64_t, 2>(type.getShape()),
                        std::move(*values)};
  }
  weightTensors[op.getResult()] = &it->second;
  return llvm::Error::success();
}

void ReferenceExecutor::Frame::defineReshaped(
    Operation *op, Value input, Value result,
    llvm::function_ref<Tensor(const Tensor &)> reshape) {
  // Reshaped weights are constant: compute them once for all calls.
  if (weightTensors.count(input)) {
    auto [it, inserted] = state.constantTensors.try_emplace(op);
    if (inserted)
      it->second = reshape(tensor(input));
    weightTensors[result] = &it->second;
    return;
  }
  tensors[result] = reshape(tensor(input));
}

llvm::Error ReferenceExecutor::Frame::permuteChannels(PermuteChannelsOp op) {
  defineReshaped(op, op.getInput(), op.getResult(), [&](const Tensor &input) {
    return permuteAlong(input, op.getPermutation(), op.getPermutedAxis());
  });
  return llvm::Error::success();
}

llvm::Error ReferenceExecutor::Frame::shard(ShardOp op) {
  int64_t replicas = op.getReplicaCount();
  defineReshaped(op, op.getInput(), op.getResult(), [&](const Tensor &input) {
    return sliceAlong(input, op.getAxisAttr().getInt(), rank / replicas,
                      executor.getNumRanks() / replicas);
  });
  return llvm::Error::success();
}

llvm::Error ReferenceExecutor::Frame::quantize(QuantizeOp op) {
  QuantizedTensorType type = op.getResult().getType();
  ScaleChoice choice{op.getClipSearch(),
                     op.getChannelImportance().value_or(ArrayRef<float>())};
  // Weights are constant: quantize them once for all calls.
  if (weightTensors.count(op.getInput())) {
    auto [it, inserted] = state.quantizedWeights.try_emplace(op);
    if (inserted)
      it->second = lowbit::quantize(tensor(op.getInput()), type, choice);
    quantizedTensors[op.getResult()] = &it->second;
    return llvm::Error::success();
  }
  ownedQuantized.push_back(std::make_unique<QuantizedTensor>(
      lowbit::quantize(tensor(op.getInput()), type, choice)));
  quantizedTensors[op.getResult()] = ownedQuantized.back().get();
  return llvm::Error::success();
}

llvm::Error ReferenceExecutor::Frame::kvAppend(KVAppendOp op) {
  if (!op.getCache().hasOneUse())
    return createStringError(inconvertibleErrorCode(),
                             "the reference executor appends to KV caches in "
                             "place, so a cache must not be used after "
                             "lowbit.kv_append");
  KVCache *cache = caches.lookup(op.getCache());
  const Tensor &keys = tensor(op.getKeys());
  const Tensor &values = tensor(op.getValues());
  int64_t start = indices.lookup(op.getPosition());
  int64_t rows = keys.dim(0);
  if (start < 0 || start + rows > cache->maxLength)
    return createStringError(inconvertibleErrorCode(),
                             "positions %lld to %lld do not fit a KV cache of "
                             "%lld positions",
                             static_cast<long long>(start),
                             static_cast<long long>(start + rows - 1),
                             static_cast<long long>(cache->maxLength));
  // Storage grows with the positions in use, not the whole context.
  size_t needed = static_cast<size_t>((start + rows) * cache->channels);
  if (cache->keys.size() < needed) {
    cache->keys.resize(needed, 0.0f);
    cache->values.resize(needed, 0.0f);
  }
  std::copy(keys.data.begin(), keys.data.end(),
            cache->keys.begin() + start * cache->channels);
  std::copy(values.data.begin(), values.data.end(),
            cache->values.begin() + start * cache->channels);
  // Groups divide head_dim, so rounding a whole row keeps them within heads.
  for (int64_t row = start; row < start + rows; ++row) {
    roundForKVCache(&cache->keys[row * cache->channels], cache->channels,
                    cache->bits, cache->groupSize, cache->asymmetric);
    roundForKVCache(&cache->values[row * cache->channels], cache->channels,
                    cache->bits, cache->groupSize, cache->asymmetric);
  }
  caches[op.getResult()] = cache;
  return llvm::Error::success();
}

llvm::Error ReferenceExecutor::Frame::kvAttention(KVAttentionOp op) {
  KVCacheType type = op.getCache().getType();
  KVCache *cache = caches.lookup(op.getCache());
  const Tensor &query = tensor(op.getQuery());
  int64_t start = indices.lookup(op.getPosition());
  int64_t numKeys = start + query.dim(0);
  int64_t held = static_cast<int64_t>(cache->keys.size()) / cache->channels;
  if (start < 0 || numKeys > held)
    return createStringError(inconvertibleErrorCode(),
                             "attention at positions up to %lld reads a KV "
                             "cache that holds %lld positions",
                             static_cast<long long>(numKeys - 1),
                             static_cast<long long>(held));
  tensors[op.getResult()] =
      attention(query, cache->keys.data(), cache->values.data(),
                cache->channels, op.getNumHeadsAttr().getInt(),
                type.getNumHeads(), start, numKeys);
  return llvm::Error::success();
}

llvm::Error ReferenceExecutor::Frame::execute(Operation *op) {
  return llvm::TypeSwitch<Operation *, llvm::Error>(op)
      .Case([&](WeightOp op) { return weight(op); })
      .Case([&](EmbeddingOp op) -> llvm::Error {
        const Tensor &table = tensor(op.getTable());
        const std::vector<int64_t> &tokens = integerVectors[op.getTokens()];
        int64_t dim = table.dim(1);
        Tensor result{{static_cast<int64_t>(tokens.size()), dim}, {}};
        for (int64_t token : tokens) {
          if (token < 0 || token >= table.dim(0))
            return createStringError(inconvertibleErrorCode(),
                                     "token id %lld is outside the vocabulary "
                                     "of %lld",
                                     static_cast<long long>(token),
                                     static_cast<long long>(table.dim(0)));
          result.data.insert(result.data.end(),
                             table.data.begin() + token * dim,
                             table.data.begin() + (token + 1) * dim);
        }
        tensors[op.getResult()] = std::move(result);
        return llvm::Error::success();
      })
      .Case([&](RMSNormOp op) {
        tensors[op.getResult()] = rmsNorm(
            tensor(op.getInput()), tensor(op.getWeight()),
            op.getEpsilon().convertToFloat(),
            op.getOutputPermutation().value_or(ArrayRef<int64_t>()));
        return llvm::Error::success();
      })
      .Case([&](LinearOp op) {
        if (executor.linearInputObserver)
          if (auto weight = op.getWeight().getDefiningOp<WeightOp>())
            executor.linearInputObserver(weight.getName(),
                                         tensor(op.getInput()));
        tensors[op.getResult()] =
            linear(tensor(op.getInput()), tensor(op.getWeight()));
        return llvm::Error::success();
      })
      .Case([&](RotaryOp op) {
        Value factors = op.getFrequencyFactors();
        tensors[op.getResult()] = rotary(
            tensor(op.getInput()), integerVectors[op.getPositions()],
            op.getHeadDimAttr().getInt(), op.getTheta().convertToFloat(),
            factors ? &tensor(factors) : nullptr);
        return llvm::Error::success();
      })
      .Case([&](arith::ConstantOp op) -> llvm::Error {
        auto elements = dyn_cast<DenseFPElementsAttr>(op.getValue());
        if (!elements || !elements.getElementType().isF32())
          return unsupported(op);
        auto type = cast<RankedTensorType>(elements.getType());
        auto values = elements.getValues<float>();
        tensors[op.getResult()] =
            Tensor{llvm::SmallVector<int64_t, 2>(type.getShape()),
                   std::vector<float>(values.begin(), values.end())};
        return llvm::Error::success();
      })
      .Case([&](SwiGLUOp op) {
        Tensor result = tensor(op.getGate());
        const Tensor &up = tensor(op.getUp());
        for (size_t i = 0; i < result.data.size(); ++i) {
          float gate = result.data[i];
          result.data[i] = gate / (1.0f + std::exp(-gate)) * up.data[i];
        }
        tensors[op.getResult()] = std::move(result);
        return llvm::Error::success();
      })
      .Case([&](arith::AddFOp op) -> llvm::Error {
        if (!isa<RankedTensorType>(op.getType()))
          return unsupported(op);
        Tensor result = tensor(op.getLhs());
        const Tensor &rhs = tensor(op.getRhs());
        for (size_t i = 0; i < result.data.size(); ++i)
          result.data[i] += rhs.data[i];
        tensors[op.getResult()] = std::move(result);
        return llvm::Error::success();
      })
      .Case([&](QuantizeOp op) { return quantize(op); })
      .Case([&](DequantizeOp op) {
        tensors[op.getResult()] =
            lowbit::dequantize(*quantizedTensors.lookup(op.getInput()));
        return llvm::Error::success();
      })
      .Case([&](MatmulOp op) {
        auto resultType = cast<RankedTensorType>(op.getType());
        tensors[op.getResult()] = quantizedMatmul(
            *quantizedTensors.lookup(op.getAct()),
            *quantizedTensors.lookup(op.getWeight()),
            cast<FloatType>(resultType.getElementType()));
        return llvm::Error::success();
      })
      .Case([&](PermuteChannelsOp op) { return permuteChannels(op); })
      .Case([&](ShardOp op) { return shard(op); })
      .Case([&](KVAppendOp op) { return kvAppend(op); })
      .Case([&](KVAttentionOp op) { return kvAttention(op); })
      .Default([&](Operation *op) { return unsupported(op); });
}

/// `input` as every rank sends it through a collective with `wire`.
static Tensor sent(const Tensor &input, std::optional<WireFormatAttr> wire) {
  Tensor result = input;
  if (wire)
    roundThroughWire(result.data.data(),
                     static_cast<int64_t>(result.data.size()), *wire);
  return result;
}

/// The sum of `inputs` in rank order, so every rank gets the same bits.
static Tensor sumInRankOrder(llvm::ArrayRef<Tensor> inputs) {
  Tensor result = inputs.front();
  for (const Tensor &input : inputs.drop_front())
    for (size_t i = 0; i < result.data.size(); ++i)
      result.data[i] += input.data[i];
  return result;
}

void ReferenceExecutor::runCollective(Operation *op,
                                      llvm::MutableArrayRef<Frame> frames) {
  auto inputsAsSent = [&](Value input, std::optional<WireFormatAttr> wire) {
    std::vector<Tensor> inputs;
    for (Frame &frame : frames)
      inputs.push_back(sent(frame.tensor(input), wire));
    return inputs;
  };
  int64_t parts = static_cast<int64_t>(frames.size());
  llvm::TypeSwitch<Operation *>(op)
      .Case([&](AllReduceOp reduce) {
        Tensor sum = sumInRankOrder(
            inputsAsSent(reduce.getInput(), reduce.getWire()));
        for (Frame &frame : frames)
          frame.tensors[reduce.getResult()] = sum;
      })
      .Case([&](AllGatherOp gather) {
        Tensor whole =
            concatenateAlong(inputsAsSent(gather.getInput(), gather.getWire()),
                             gather.getAxisAttr().getInt());
        for (Frame &frame : frames)
          frame.tensors[gather.getResult()] = whole;
      })
      .Case([&](ReduceScatterOp scatter) {
        Tensor sum = sumInRankOrder(
            inputsAsSent(scatter.getInput(), scatter.getWire()));
        for (int64_t rank = 0; rank < parts; ++rank)
          frames[rank].tensors[scatter.getResult()] = sliceAlong(
              sum, scatter.getAxisAttr().getInt(), rank, parts);
      });
}

llvm::Expected<std::unique_ptr<ReferenceExecutor>>
ReferenceExecutor::create(ModuleOp module, const Checkpoint &checkpoint) {
  std::unique_ptr<ReferenceExecutor> executor(
      new ReferenceExecutor(module, checkpoint));
  auto prefill = module.lookupSymbol<func::FuncOp>("prefill");
  if (!prefill)
    return createStringError(inconvertibleErrorCode(),
                             "module has no @prefill entry point");
  auto rankGroups = llvm::to_vector(module.getOps<RankGroupOp>());
  if (rankGroups.size() > 1)
    return createStringError(inconvertibleErrorCode(),
                             "the reference executor simulates one rank "
                             "group; the module has %zu",
                             rankGroups.size());
  executor->ranks.resize(
      rankGroups.empty() ? 1 : rankGroups.front().getRanks().size());
  for (Type type : prefill.getArgumentTypes().drop_front(3)) {
    auto cacheType = dyn_cast<KVCacheType>(type);
    if (!cacheType)
      return createStringError(inconvertibleErrorCode(),
                               "entry point arguments after the first three "
                               "must be KV caches");
    KVCache cache;
    cache.maxLength = cacheType.getMaxLength();
    cache.channels = cacheType.getChannels();
    cache.bits = cacheType.getBits();
    cache.groupSize = cacheType.getGroupSize();
    cache.asymmetric = cacheType.getAsymmetric();
    for (RankState &rank : executor->ranks)
      rank.caches.push_back(cache);
  }
  return executor;
}

void ReferenceExecutor::resetCaches() {
  for (RankState &rank : ranks)
    for (KVCache &cache : rank.caches) {
      cache.keys.clear();
      cache.values.clear();
    }
}

llvm::Expected<Tensor> ReferenceExecutor::run(llvm::StringRef name,
                                              llvm::ArrayRef<int32_t> tokens,
                                              int64_t start) {
  auto function = module.lookupSymbol<func::FuncOp>(name);
  if (!function)
    return createStringError(inconvertibleErrorCode(),
                             "module has no entry point @%s",
                             name.str().c_str());
  size_t numCaches = ranks.front().caches.size();
  if (function.getNumArguments() != 3 + numCaches)
    return createStringError(inconvertibleErrorCode(),
                             "entry point @%s does not have the signature "
                             "importLlama gives",
                             name.str().c_str());
  auto tokensType = cast<RankedTensorType>(function.getArgument(0).getType());
  if (!tokensType.isDynamicDim(0) &&
      tokensType.getDimSize(0) != static_cast<int64_t>(tokens.size()))
    return createStringError(inconvertibleErrorCode(),
                             "entry point @%s takes %lld tokens, given %zu",
                             name.str().c_str(),
                             static_cast<long long>(tokensType.getDimSize(0)),
                             tokens.size());

  std::vector<int64_t> positions(tokens.size());
  for (size_t t = 0; t < tokens.size(); ++t)
    positions[t] = start + static_cast<int64_t>(t);
  // Not std::vector, which copies elements whose move may throw (DenseMap).
  llvm::SmallVector<Frame, 0> frames;
  frames.reserve(ranks.size());
  for (int64_t rank = 0; rank < getNumRanks(); ++rank) {
    Frame &frame = frames.emplace_back(*this, rank);
    frame.integerVectors[function.getArgument(0)] =
        std::vector<int64_t>(tokens.begin(), tokens.end());
    frame.integerVectors[function.getArgument(1)] = positions;
    frame.indices[function.getArgument(2)] = start;
    for (size_t layer = 0; layer < numCaches; ++layer)
      frame.caches[function.getArgument(3 + layer)] =
          &ranks[rank].caches[layer];
  }

  for (Operation &op : function.getBody().front()) {
    // Every rank returns the same logits (the module gathers them).
    if (auto ret = dyn_cast<func::ReturnOp>(op))
      return frames.front().tensor(ret.getOperand(0));
    if (isa<AllReduceOp, AllGatherOp, ReduceScatterOp>(op)) {
      runCollective(&op, frames);
      continue;
    }
    for (Frame &frame : frames)
      if (llvm::Error error = frame.execute(&op))
        return std::move(error);
  }
  return createStringError(inconvertibleErrorCode(),
                           "entry point @%s has no return",
                           name.str().c_str());
}
