//===- Pipelines.cpp - named quantization schemes ---------------------------===//
//
// The common quantization schemes as pass pipelines, so that users ask for
// "w4a8" rather than assembling passes and options themselves. lowbit-opt
// registers each as `--lowbit-<scheme>`; lowbit-run applies them with
// `--scheme`.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/LowBit/Transforms/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

using namespace mlir;
using namespace lowbit;

namespace {
/// A scheme: weight bits (0: float), activation bits (0: float), KV bits.
struct Scheme {
  llvm::StringLiteral name;
  int64_t weightBits;
  int64_t activationBits;
  int64_t kvBits;
  llvm::StringLiteral summary;
};

/// Weights use one scale per 128 input channels; activations one per token
/// and 128-channel block; KV caches one per 32 elements of a head.
constexpr Scheme kSchemes[] = {
    {"w8a8", 8, 8, 32, "INT8 weights and activations"},
    {"w4a16", 4, 0, 32, "INT4 weights, floating-point activations"},
    {"w4a8", 4, 8, 32, "INT4 weights, INT8 activations"},
    {"w4a4", 4, 4, 32, "INT4 weights and activations"},
    {"w4a4-kv4", 4, 4, 4, "INT4 weights, activations and KV cache"},
    {"w8a8-kv8", 8, 8, 8, "INT8 weights, activations and KV cache"},
    {"kv4", 0, 0, 4, "floating-point layers, INT4 KV cache"},
};

void addSchemePasses(OpPassManager &pm, const Scheme &scheme) {
  if (scheme.weightBits) {
    QuantizeWeightsOptions weights;
    weights.bits = scheme.weightBits;
    pm.addPass(createQuantizeWeights(weights));
  }
  if (scheme.activationBits) {
    QuantizeActivationsOptions activations;
    activations.bits = scheme.activationBits;
    pm.addPass(createQuantizeActivations(activations));
  }
  if (scheme.kvBits != 32) {
    QuantizeKVOptions kv;
    kv.bits = scheme.kvBits;
    pm.addPass(createQuantizeKV(kv));
  }
}
} // namespace

llvm::SmallVector<llvm::StringRef> lowbit::getQuantizationSchemes() {
  return llvm::map_to_vector(kSchemes,
                             [](const Scheme &scheme) -> llvm::StringRef {
                               return scheme.name;
                             });
}

LogicalResult lowbit::buildQuantizationPipeline(OpPassManager &pm,
                                                StringRef name) {
  for (const Scheme &scheme : kSchemes) {
    if (scheme.name == name) {
      addSchemePasses(pm, scheme);
      return success();
    }
  }
  return failure();
}

void lowbit::registerLowBitPipelines() {
  for (const Scheme &scheme : kSchemes)
    PassPipelineRegistration<>(
        ("lowbit-" + scheme.name).str(),
        ("Quantize to " + scheme.name + ": " + scheme.summary).str(),
        [&scheme](OpPassManager &pm) { addSchemePasses(pm, scheme); });
}
