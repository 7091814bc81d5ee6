//===- LlamaImporter.cpp - Llama checkpoint to lowbit IR --------------------===//
//
// Emits a Llama model as lowbit graph IR: embedding, per layer RMSNorm,
// q/k/v projections, rotary embedding, KV cache append and grouped-query
// attention over the cache, output projection and residual, RMSNorm, SwiGLU
// MLP and residual; then the final norm and the LM head.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Frontend/LlamaImporter.h"
#include "lowbit/Dialect/LowBit/IR/LowBitOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#include <cmath>

using namespace mlir;
using namespace lowbit;

namespace {
/// Builds one entry point of the model.
class ForwardBuilder {
public:
  ForwardBuilder(OpBuilder &builder, const Checkpoint &checkpoint)
      : builder(builder), checkpoint(checkpoint), config(checkpoint.config),
        loc(builder.getUnknownLoc()), f32(builder.getF32Type()) {}

  void build(StringRef name, int64_t rows);

private:
  RankedTensorType activation(int64_t channels) {
    return RankedTensorType::get({rows, channels}, f32);
  }

  Value weight(StringRef name, ArrayRef<int64_t> shape) {
    return builder.create<WeightOp>(loc, RankedTensorType::get(shape, f32),
                                    name);
  }

  Value linear(Value input, StringRef weightName, int64_t outChannels) {
    int64_t inChannels = cast<RankedTensorType>(input.getType()).getDimSize(1);
    return builder.create<LinearOp>(
        loc, activation(outChannels), input,
        weight(weightName, {outChannels, inChannels}));
  }

  Value rmsNorm(Value input, StringRef weightName) {
    return builder.create<RMSNormOp>(
        loc, input.getType(), input, weight(weightName, {config.dim}),
        builder.getF32FloatAttr(config.rmsEpsilon),
        /*output_permutation=*/nullptr);
  }

  Value rotary(Value input, Value positions) {
    return builder.create<RotaryOp>(
        loc, input.getType(), input, positions, frequencyFactors,
        builder.getI64IntegerAttr(config.headDim()),
        builder.getF32FloatAttr(config.ropeTheta));
  }

  /// The RoPE frequency factors of the model, or null when it has none:
  /// GGUF carries them as `rope_freqs.weight`; a Llama-3 `rope_scaling`
  /// section of config.json defines them by formula.
  Value buildFrequencyFactors();

  OpBuilder &builder;
  const Checkpoint &checkpoint;
  const LlamaConfig &config;
  Location loc;
  Type f32;
  int64_t rows = 0;
  Value frequencyFactors;
};
} // namespace

void ForwardBuilder::build(StringRef name, int64_t numRows) {
  rows = numRows;
  auto cacheType =
      KVCacheType::get(builder.getContext(), /*bits=*/32,
                       /*groupSize=*/config.headDim(), config.numKVHeads,
                       config.headDim(), config.contextLength,
                       /*asymmetric=*/false);
  auto tokensType = RankedTensorType::get({rows}, builder.getI32Type());
  SmallVector<Type> inputs = {tokensType, tokensType, builder.getIndexType()};
  SmallVector<Type> results = {activation(config.vocabSize)};
  inputs.append(config.numLayers, cacheType);
  results.append(config.numLayers, cacheType);

  OpBuilder::InsertionGuard guard(builder);
  auto function = builder.create<func::FuncOp>(
      loc, name, builder.getFunctionType(inputs, results));
  Block *body = function.addEntryBlock();
  builder.setInsertionPointToStart(body);
  frequencyFactors = buildFrequencyFactors();
  Value tokens = body->getArgument(0);
  Value positions = body->getArgument(1);
  Value start = body->getArgument(2);

  Value hidden = builder.create<EmbeddingOp>(
      loc, activation(config.dim),
      weight("token_embd.weight", {config.vocabSize, config.dim}), tokens);
  SmallVector<Value> returned = {Value()};
  for (int64_t layer = 0; layer < config.numLayers; ++layer) {
    std::string prefix = "blk." + std::to_string(layer) + ".";
    Value x = rmsNorm(hidden, prefix + "attn_norm.weight");
    Value q = rotary(linear(x, prefix + "attn_q.weight", config.dim),
                     positions);
    Value k = rotary(linear(x, prefix + "attn_k.weight", config.kvDim()),
                     positions);
    Value v = linear(x, prefix + "attn_v.weight", config.kvDim());
    Value cache = builder.create<KVAppendOp>(
        loc, cacheType, k, v, body->getArgument(3 + layer), start);
    returned.push_back(cache);
    Value attention = builder.create<KVAttentionOp>(
        loc, activation(config.dim), q, cache, start,
        builder.getI64IntegerAttr(config.numHeads));
    hidden = builder.create<arith::AddFOp>(
        loc, hidden, linear(attention, prefix + "attn_output.weight",
                            config.dim));
    Value y = rmsNorm(hidden, prefix + "ffn_norm.weight");
    Value gate = linear(y, prefix + "ffn_gate.weight", config.hiddenDim);
    Value up = linear(y, prefix + "ffn_up.weight", config.hiddenDim);
    Value activated =
        builder.create<SwiGLUOp>(loc, gate.getType(), gate, up);
    hidden = builder.create<arith::AddFOp>(
        loc, hidden, linear(activated, prefix + "ffn_down.weight", config.dim));
  }
  Value normalized = rmsNorm(hidden, "output_norm.weight");
  StringRef headName =
      checkpoint.lookup("output.weight") ? "output.weight" : "token_embd.weight";
  returned[0] = linear(normalized, headName, config.vocabSize);
  builder.create<func::ReturnOp>(loc, returned);
}

Value ForwardBuilder::buildFrequencyFactors() {
  int64_t pairs = config.headDim() / 2;
  if (checkpoint.lookup("rope_freqs.weight"))
    return weight("rope_freqs.weight", {pairs});
  const RopeScaling &scaling = config.ropeScaling;
  if (scaling.factor <= 0.0f)
    return nullptr;
  // Llama 3.1's scaling: long wavelengths are slowed down by `factor`, short
  // ones kept, and the band between interpolates smoothly.
  double lowWavelength = scaling.originalContextLength / scaling.lowFreqFactor;
  double highWavelength =
      scaling.originalContextLength / scaling.highFreqFactor;
  SmallVector<float> factors;
  for (int64_t i = 0; i < pairs; ++i) {
    double frequency =
        std::pow(double(config.ropeTheta), -2.0 * i / config.headDim());
    double wavelength = 2.0 * M_PI / frequency;
    double scaled = frequency;
    if (wavelength > lowWavelength) {
      scaled = frequency / scaling.factor;
    } else if (wavelength >= highWavelength) {
      double smooth =
          (scaling.originalContextLength / wavelength - scaling.lowFreqFactor) /
          (scaling.highFreqFactor - scaling.lowFreqFactor);
      scaled = (1.0 - smooth) * frequency / scaling.factor + smooth * frequency;
    }
    factors.push_back(static_cast<float>(frequency / scaled));
  }
  auto type = RankedTensorType::get({pairs}, f32);
  return builder.create<arith::ConstantOp>(
      loc, type, DenseElementsAttr::get(type, ArrayRef<float>(factors)));
}

OwningOpRef<ModuleOp> lowbit::importLlama(MLIRContext &context,
                                          const Checkpoint &checkpoint,
                                          StringRef checkpointPath) {
  context.loadDialect<LowBitDialect, arith::ArithDialect, func::FuncDialect>();
  OpBuilder builder(&context);
  OwningOpRef<ModuleOp> module = ModuleOp::create(builder.getUnknownLoc());
  (*module)->setAttr(kCheckpointAttrName,
                     builder.getStringAttr(checkpointPath));
  builder.setInsertionPointToEnd(module->getBody());
  ForwardBuilder forward(builder, checkpoint);
  forward.build("prefill", ShapedType::kDynamic);
  forward.build("decode", 1);
  return module;
}
