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
/// KV cache per layer across calls. A tensor-parallel module (one
/// lowbit.rank_group) runs on as many simulated ranks as its group has, in
/// lockstep: every rank executes each op on its own values, and collectives
/// combine the ranks' values the way the wire would.
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

  /// How many ranks the executor simulates: the size of the module's rank
  /// group, or 1.
  int64_t getNumRanks() const { return static_cast<int64_t>(ranks.size()); }

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
    bool asymmetric = false;
    std::vector<float> keys;
    std::vector<float> values;
  };

  /// What one simulated rank keeps across calls.
  struct RankState {
    /// Tensors computed from weights alone (permuted weights, shards), by
    /// the op that makes them: computed once, not on every call.
    llvm::DenseMap<mlir::Operation *, Tensor> constantTensors;
    /// Quantized weights, by the lowbit.quantize op that makes them from a
    /// weight: computed once, not on every call.
    llvm::DenseMap<mlir::Operation *, QuantizedTensor> quantizedWeights;
    /// One cache per cache argument of the entry points.
    std::vector<KVCache> caches;
  };

  class Frame;

  /// Runs a collective on the values of every rank's frame.
  static void runCollective(mlir::Operation *op,
                            llvm::MutableArrayRef<Frame> frames);

  mlir::ModuleOp module;
  const Checkpoint &checkpoint;
  /// Weights converted to f32, by checkpoint tensor name, shared by all
  /// ranks.
  llvm::StringMap<Tensor> weights;
  LinearInputObserver linearInputObserver;
  /// One state per simulated rank, in the order of the rank group.
  std::vector<RankState> ranks;
};

} // namespace lowbit

#endif // LOWBIT_REFERENCE_REFERENCEEXECUTOR_H
