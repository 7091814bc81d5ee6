//===- ReferenceExecutor.h - FP32 oracle for lowbit graph IR ----*- C++ -*-===//
//
// A plain, deliberately simple FP32 interpreter of lowbit graph-level IR on
// the CPU. It is the oracle every quantization and code generation step is
// checked against, and it is kept apart from the runtime: the runtime runs
// compiled code, this reads the IR op by op.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_REFERENCE_REFERENCEEXECUTOR_H
#define LOWBIT_REFERENCE_REFERENCEEXECUTOR_H

#include "lowbit/Frontend/Checkpoint.h"
#include "lowbit/Reference/QuantizedArithmetic.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringMap.h"

#include <functional>
#include <vector>

namespace lowbit {

/// Interprets the entry points of a module built by importLlama, keeping one
/// KV cache per layer across calls.
class ReferenceExecutor {
public:
  /// Prepares to run `module`, reading its weights from `checkpoint`.
  static llvm::Expected<std::unique_ptr<ReferenceExecutor>>
  create(mlir::ModuleOp module, const Checkpoint &checkpoint);

  /// Runs entry point `function` on `tokens` at positions start, start+1, ...
  /// and returns the logits, one row per token. The KV caches keep what the
  /// call appended.
  llvm::Expected<Tensor> run(llvm::StringRef function,
                             llvm::ArrayRef<int32_t> tokens, int64_t start);

  /// Forgets everything the KV caches hold.
  void resetCaches();

  /// Called with the checkpoint name of a linear layer's weight and the
  /// layer's input, before every floating-point linear layer whose weight is
  /// a lowbit.weight: how calibration sees activations.
  using LinearInputObserver =
      std::function<void(llvm::StringRef weightName, const Tensor &input)>;
  void setLinearInputObserver(LinearInputObserver observer) {
    linearInputObserver = std::move(observer);
  }

private:
  ReferenceExecutor(mlir::ModuleOp module, const Checkpoint &checkpoint)
      : module(module), checkpoint(checkpoint) {}

  struct KVCache {
    int64_t maxLength = 0;
    int64_t channels = 0;
    int64_t bits = 32;
    int64_t groupSize = 0;
    std::vector<float> keys;
    std::vector<float> values;
  };

  class Frame;

  mlir::ModuleOp module;
  const Checkpoint &checkpoint;
  /// Weights converted to f32, by checkpoint tensor name.
  llvm::StringMap<Tensor> weights;
  /// Tensors computed from weights alone (permuted weights), by the op
  /// that makes them: computed once, not on every call.
  llvm::DenseMap<mlir::Operation *, Tensor> constantTensors;
  /// Quantized weights, by the lowbit.quantize op that makes them from a
  /// weight: computed once, not on every call.
  llvm::DenseMap<mlir::Operation *, QuantizedTensor> quantizedWeights;
  LinearInputObserver linearInputObserver;
  /// One cache per cache argument of the entry points.
  std::vector<KVCache> caches;
};

} // namespace lowbit

#endif // LOWBIT_REFERENCE_REFERENCEEXECUTOR_H
