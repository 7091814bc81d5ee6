//===- Roofline.h - roofline cost model of lowbit ops -----------*- C++ -*-===//
//
// The roofline model behind `lowbit-roofline`, kept apart from the pass so
// that the runtime benchmarks can print measured against predicted times: a
// hardware model read from a JSON file of peak rates, the work and traffic of
// one lowbit op at bound shapes, and the roofline time of that work on that
// hardware. docs/roofline.md states what is counted and why.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_DIALECT_LOWBIT_ANALYSIS_ROOFLINE_H
#define LOWBIT_DIALECT_LOWBIT_ANALYSIS_ROOFLINE_H

#include "mlir/IR/Operation.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace lowbit {

/// The arithmetic classes work is counted in, narrowest last. Each has its
/// own peak rate on a machine, when the machine has one.
enum class Precision { FP32, FP16, BF16, INT8, INT4 };

/// Number of `Precision` values.
inline constexpr unsigned kNumPrecisions = 5;

/// The name of `precision` as written in hardware files and reports
/// (`fp32`, `fp16`, `bf16`, `int8`, `int4`).
llvm::StringRef stringifyPrecision(Precision precision);

/// Peak rates of one machine, read from a JSON file of
/// share/lowbit/hardware (format in docs/roofline.md). Rates are dense
/// datasheet values in units per second.
struct HardwareModel {
  /// Human-readable name of the machine.
  std::string name;
  /// The interconnect collectives run over, as the file describes it.
  std::string link;
  /// Peak operations per second of every precision the machine runs
  /// natively; absent where it has no native rate.
  std::array<std::optional<double>, kNumPrecisions> peakOpsPerSecond;
  /// Memory bandwidth in bytes per second.
  double memoryBytesPerSecond = 0;
  /// Bandwidth of one direction of the link in bytes per second.
  double linkBytesPerSecond = 0;
  /// Memory capacity in bytes.
  double memoryCapacityBytes = 0;

  /// The precision whose peak runs work of `precision`: `precision` itself
  /// when the machine has a native rate for it, otherwise the next wider one
  /// (int4 -> int8 -> fp16 -> fp32, bf16 -> fp32). fp32 always has a rate.
  Precision getExecutingPrecision(Precision precision) const;

  /// Parses a hardware file's text; `origin` names it in error messages,
  /// which say which field is missing or malformed.
  static llvm::Expected<HardwareModel> parse(llvm::StringRef text,
                                             llvm::StringRef origin);

  /// Reads the hardware model `nameOrPath`: a path to a JSON file when it
  /// contains a `/` or ends in `.json`, otherwise the name of a file
  /// `<name>.json` in `directory`.
  static llvm::Expected<HardwareModel> load(llvm::StringRef nameOrPath,
                                            llvm::StringRef directory);
};

/// What binds an op on the roofline.
enum class Bound { Memory, Compute, Link };

/// Work and traffic of one op execution at bound shapes.
struct OpCost {
  /// Arithmetic operations by precision (one multiply-add counts as two).
  std::array<int64_t, kNumPrecisions> ops{};
  /// Bytes read from and written to device memory.
  int64_t memoryBytes = 0;
  /// Bytes one rank sends over the link (collectives only).
  int64_t linkBytes = 0;
  /// A short description of the shapes, e.g. `M=1 N=4096 K=4096 A8 W4 g128`.
  std::string shape;

  /// All operations, every precision together.
  int64_t getTotalOps() const;
};

/// Where an op lands on the roofline of one machine.
struct RooflinePoint {
  /// Time of the arithmetic at the peak of each executing precision.
  double computeSeconds = 0;
  /// Time to move the memory traffic at full bandwidth.
  double memorySeconds = 0;
  /// Time to move the link traffic at full link bandwidth.
  double linkSeconds = 0;
  /// The executing precision that takes the longest compute time.
  Precision computePrecision = Precision::FP32;
  /// The roof that binds.
  Bound bound = Bound::Memory;

  /// Predicted time: the largest of the three.
  double getSeconds() const;
};

/// Places `cost` on the roofline of `hardware`.
RooflinePoint evaluateRoofline(const OpCost &cost,
                               const HardwareModel &hardware);

/// The roof that binds `point` as reports name it: `memory`, `link` or
/// `compute(<precision>)`.
std::string describeBound(const RooflinePoint &point);

/// Inference phase: prefill processes a prompt, decode one new token per
/// sequence against a filled KV cache.
enum class Phase { Prefill, Decode };

/// The phase as options and reports spell it: `prefill` or `decode`.
llvm::StringRef stringifyPhase(Phase phase);

/// How dynamic sizes are bound when costs are computed.
struct ShapeBinding {
  /// Phase the function runs in.
  Phase phase = Phase::Prefill;
  /// Independent sequences; multiplies every activation's token rows.
  int64_t batch = 1;
  /// Prompt tokens per sequence at prefill (dynamic rows at prefill).
  int64_t promptTokens = 512;
  /// KV positions each sequence attends to at decode, the new one included.
  int64_t contextLength = 512;
};

/// Computes the work and traffic of lowbit ops (and tensor-wide arith ops) at
/// the sizes of a `ShapeBinding`. Activation rows are token rows: a dynamic
/// row count is the phase's tokens per sequence (prefill: the prompt, decode:
/// 1), a static one is taken as the tokens of one sequence; both are
/// multiplied by the batch. Weights are read once, at their stored size.
class RooflineCostModel {
public:
  /// A cost model for shapes bound by `binding`.
  explicit RooflineCostModel(const ShapeBinding &binding) : binding(binding) {}

  /// The cost of one execution of `op`: all zero when `op` moves no data of
  /// its own (weight references, returns, constants, rank groups, weights
  /// quantized at compile time, ops without tensor results); std::nullopt
  /// when `op` yields tensor data the model does not know. Fails, with an
  /// error on `op`, when the binding does not fit the op (e.g. a context
  /// longer than its KV cache).
  mlir::FailureOr<std::optional<OpCost>> getCost(mlir::Operation *op) const;

  /// Bytes of a KV cache of `type` holding the phase's KV length for every
  /// sequence of the batch: keys and values at the cache's bit width plus
  /// one f16 scale per group of 4- and 8-bit caches.
  int64_t getKVCacheBytes(mlir::Type type) const;

  /// Bytes a weight value of `type` (a tensor or a quantized tensor)
  /// occupies in memory, scales included.
  static int64_t getWeightBytes(mlir::Type type);

  /// Whether `op` runs at compile time rather than in the model: taking a
  /// rank's shard of a checkpoint weight, permuting a weight's channels, or
  /// quantizing a weight, shard or permuted weight.
  static bool isCompileTime(mlir::Operation *op);

private:
  ShapeBinding binding;
};

/// One op of a report: a row of the table, a point of the plot.
struct OpReport {
  /// Position of the op in its function, counting every nested op.
  int64_t index = 0;
  /// The op's name, e.g. `lowbit.matmul`.
  std::string opName;
  /// `file:line:col` (file name only) or a name location; `-` when unknown.
  std::string location;
  /// Work and traffic at the report's binding.
  OpCost cost;
  /// Where that lands on the hardware's roofline.
  RooflinePoint point;
};

/// The report of one function at one phase.
struct FunctionReport {
  /// The function's symbol name.
  std::string function;
  /// The phase and sizes it is reported at.
  ShapeBinding binding;
  /// One row per op that does work or moves data, in IR order.
  std::vector<OpReport> rows;
  /// Sum of the rows' costs (the shape is unused).
  OpCost total;
  /// Sum of the rows' predicted times.
  double seconds = 0;
  /// Predicted time of the rows bound by each roof, in `Bound` order.
  std::array<double, 3> secondsByBound{};
  /// Bytes of every distinct weight the function reads, packed.
  int64_t weightBytes = 0;
  /// Bytes of every KV cache the function reads, at the phase's KV length.
  int64_t kvCacheBytes = 0;
};

} // namespace lowbit

#endif // LOWBIT_DIALECT_LOWBIT_ANALYSIS_ROOFLINE_H
