//===- Passes.h - lowbit transformation passes ------------------*- C++ -*-===//
//
// Declarations and registration of the passes that transform lowbit IR; the
// passes themselves are declared in Passes.td.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_DIALECT_LOWBIT_TRANSFORMS_PASSES_H
#define LOWBIT_DIALECT_LOWBIT_TRANSFORMS_PASSES_H

#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassOptions.h"
#include "llvm/Support/Error.h"

namespace lowbit {

#define GEN_PASS_DECL
#include "lowbit/Dialect/LowBit/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "lowbit/Dialect/LowBit/Transforms/Passes.h.inc"

/// Options every quantization pipeline (`lowbit-<scheme>`) takes.
struct QuantizationPipelineOptions
    : public mlir::PassPipelineOptions<QuantizationPipelineOptions> {
  Option<std::string> calibration{
      *this, "calibration",
      llvm::cl::desc("calibration file of lowbit-run calibrate; needed by "
                     "FMPQ schemes, used by clip-search otherwise")};
  Option<int64_t> blockSize{*this, "block-size",
                            llvm::cl::desc("channels per block"),
                            llvm::cl::init(128)};
  Option<int64_t> groupSize{
      *this, "group-size",
      llvm::cl::desc("input channels per weight scale (divides block-size); "
                     "0: one per output channel and block"),
      llvm::cl::init(128)};
  Option<bool> clipSearch{
      *this, "clip-search",
      llvm::cl::desc("search clipped weight scales of least "
                     "activation-weighted error"),
      llvm::cl::init(false)};
  Option<double> threshold{
      *this, "threshold",
      llvm::cl::desc("FMPQ: outlier above this multiple of the median"),
      llvm::cl::init(8.0)};
  Option<double> maxInt8Fraction{
      *this, "max-int8-fraction",
      llvm::cl::desc("FMPQ: largest fraction of INT8 blocks"),
      llvm::cl::init(0.25)};
  Option<bool> sortChannels{
      *this, "sort-channels",
      llvm::cl::desc("FMPQ: order INT4 channels by decreasing statistic"),
      llvm::cl::init(false)};
  Option<std::string> statistic{
      *this, "statistic",
      llvm::cl::desc("FMPQ: outlier statistic, absmax or percentile"),
      llvm::cl::init("absmax")};
  Option<bool> int8OutlierWeights{
      *this, "int8-outlier-weights",
      llvm::cl::desc("FMPQ: 8-bit weights in blocks that face INT8 "
                     "activations"),
      llvm::cl::init(false)};
  Option<bool> asymmetricWeights{
      *this, "asymmetric-weights",
      llvm::cl::desc("4-bit weights with a zero point per scale group"),
      llvm::cl::init(false)};
  Option<bool> asymmetricKV{
      *this, "asymmetric-kv",
      llvm::cl::desc("4/8-bit KV cache groups with a zero point"),
      llvm::cl::init(false)};
  Option<bool> includeLMHead{
      *this, "include-lm-head",
      llvm::cl::desc("quantize the LM head (output.weight) like the decoder "
                     "layers' linears; it stays f32 otherwise"),
      llvm::cl::init(false)};
};

/// Names of the quantization schemes that have a pipeline, e.g. "w4a8".
llvm::SmallVector<llvm::StringRef> getQuantizationSchemes();

/// Whether `scheme` needs calibration statistics (FMPQ schemes do).
bool schemeNeedsCalibration(llvm::StringRef scheme);

/// The pass pipeline text of a scheme as users write it, optionally with
/// pipeline options ("w4ax{block-size=32}"), with `calibrationPath` (may be
/// empty) added; an error names unknown schemes and missing calibration.
llvm::Expected<std::string>
getSchemePipelineText(llvm::StringRef scheme, llvm::StringRef calibrationPath);

/// The pipeline text that prepares an imported model: lowbit-tensor-parallel
/// for `tensorParallel` ranks (when more than 1), then `scheme`'s pipeline
/// (when not empty; see getSchemePipelineText), then
/// lowbit-compress-collectives with `compressCollectives` as its options
/// ("default" for the defaults; empty: no compression). Empty when there is
/// nothing to do; an error for a bad combination.
llvm::Expected<std::string>
getModelPipelineText(int64_t tensorParallel, llvm::StringRef scheme,
                     llvm::StringRef calibrationPath,
                     llvm::StringRef compressCollectives);

/// Adds the passes that quantize a graph-level module to `scheme` to `pm`;
/// fails for a scheme getQuantizationSchemes() does not list.
llvm::LogicalResult
buildQuantizationPipeline(mlir::OpPassManager &pm, llvm::StringRef scheme,
                          const QuantizationPipelineOptions &options = {});

/// Registers every scheme as a pipeline `lowbit-<scheme>` (lowbit-w4a8, ...)
/// taking QuantizationPipelineOptions.
void registerLowBitPipelines();

} // namespace lowbit

#endif // LOWBIT_DIALECT_LOWBIT_TRANSFORMS_PASSES_H
