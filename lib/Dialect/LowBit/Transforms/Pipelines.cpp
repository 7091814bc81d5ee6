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
#include "llvm/ADT/StringExtras.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;
using namespace lowbit;

namespace {
/// A scheme: weight bits (0: float), activation bits (0: float), KV bits,
/// and whether activations use FMPQ's mixed INT4/INT8 blocks.
struct Scheme {
  llvm::StringLiteral name;
  int64_t weightBits;
  int64_t activationBits;
  int64_t kvBits;
  bool fmpq;
  llvm::StringLiteral summary;
};

constexpr Scheme kSchemes[] = {
    {"w8a8", 8, 8, 32, false, "INT8 weights and activations"},
    {"w4a16", 4, 0, 32, false, "INT4 weights, floating-point activations"},
    {"w4a8", 4, 8, 32, false, "INT4 weights, INT8 activations"},
    {"w4a4", 4, 4, 32, false, "INT4 weights and activations"},
    {"w4ax", 4, 4, 32, true,
     "INT4 weights, INT4 activations with INT8 outlier blocks (FMPQ)"},
    {"w4ax-kv4", 4, 4, 4, true,
     "INT4 weights, FMPQ activations, INT4 KV cache"},
    {"w4a4-kv4", 4, 4, 4, false, "INT4 weights, activations and KV cache"},
    {"w8a8-kv8", 8, 8, 8, false, "INT8 weights, activations and KV cache"},
    {"kv4", 0, 0, 4, false, "floating-point layers, INT4 KV cache"},
};

void addSchemePasses(OpPassManager &pm, const Scheme &scheme,
                     const QuantizationPipelineOptions &options) {
  if (!options.calibration.empty()) {
    ImportCalibrationOptions calibration;
    calibration.file = options.calibration;
    pm.addPass(createImportCalibration(calibration));
  }
  if (scheme.fmpq) {
    FMPQOptions fmpq;
    fmpq.blockSize = options.blockSize;
    fmpq.threshold = options.threshold;
    fmpq.maxInt8Fraction = options.maxInt8Fraction;
    fmpq.sortChannels = options.sortChannels;
    fmpq.statistic = options.statistic;
    pm.addPass(createFMPQ(fmpq));
    pm.addPass(createFoldPermutations());
  }
  if (scheme.weightBits) {
    QuantizeWeightsOptions weights;
    weights.bits = scheme.weightBits;
    weights.blockSize = options.blockSize;
    weights.groupSize = options.groupSize;
    weights.clipSearch = options.clipSearch;
    weights.int8OutlierBlocks = options.int8OutlierWeights;
    weights.asymmetric = options.asymmetricWeights;
    weights.includeLMHead = options.includeLMHead;
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
    kv.asymmetric = options.asymmetricKV;
    pm.addPass(createQuantizeKV(kv));
  }
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

const Scheme *findScheme(StringRef name) {
  for (const Scheme &scheme : kSchemes)
    if (scheme.name == name)
      return &scheme;
  return nullptr;
}
} // namespace

llvm::SmallVector<llvm::StringRef> lowbit::getQuantizationSchemes() {
  return llvm::map_to_vector(kSchemes,
                             [](const Scheme &scheme) -> llvm::StringRef {
                               return scheme.name;
                             });
}

bool lowbit::schemeNeedsCalibration(StringRef name) {
  const Scheme *scheme = findScheme(name);
  return scheme && scheme->fmpq;
}

llvm::Expected<std::string>
lowbit::getSchemePipelineText(StringRef scheme, StringRef calibrationPath) {
  auto [name, options] = scheme.split('{');
  if (!findScheme(name))
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(), "unknown scheme '%s' (known: %s)",
        name.str().c_str(), llvm::join(getQuantizationSchemes(), ", ").c_str());
  if (schemeNeedsCalibration(name) && calibrationPath.empty() &&
      !options.contains("calibration="))
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "scheme %s needs calibration statistics: run 'lowbit-run calibrate' "
        "and pass the file with --calibration",
        name.str().c_str());
  std::string pipeline = ("lowbit-" + name).str();
  std::string optionText = options.rtrim('}').str();
  if (!calibrationPath.empty())
    optionText += " calibration=" + calibrationPath.str();
  if (!StringRef(optionText).trim().empty())
    pipeline += "{" + optionText + "}";
  return pipeline;
}

llvm::Expected<std::string>
lowbit::getModelPipelineText(int64_t tensorParallel, StringRef scheme,
                             StringRef calibrationPath,
                             StringRef compressCollectives) {
  if (tensorParallel < 1)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "--tensor-parallel must be at least 1");
  if (!compressCollectives.empty() && tensorParallel < 2)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "--compress-collectives needs --tensor-parallel of 2 or more");
  SmallVector<std::string> stages;
  if (tensorParallel > 1)
    stages.push_back(
        "lowbit-tensor-parallel{tp=" + std::to_string(tensorParallel) + "}");
  if (!scheme.empty()) {
    llvm::Expected<std::string> schemePipeline =
        getSchemePipelineText(scheme, calibrationPath);
    if (!schemePipeline)
      return schemePipeline.takeError();
    stages.push_back(*schemePipeline);
  }
  if (!compressCollectives.empty())
    stages.push_back(
        compressCollectives == "default"
            ? std::string("lowbit-compress-collectives")
            : ("lowbit-compress-collectives{" + compressCollectives + "}")
                  .str());
  return llvm::join(stages, ",");
}

LogicalResult
lowbit::buildQuantizationPipeline(OpPassManager &pm, StringRef name,
                                  const QuantizationPipelineOptions &options) {
  const Scheme *scheme = findScheme(name);
  if (!scheme)
    return failure();
  addSchemePasses(pm, *scheme, options);
  return success();
}

void lowbit::registerLowBitPipelines() {
  for (const Scheme &scheme : kSchemes)
    PassPipelineRegistration<QuantizationPipelineOptions>(
        ("lowbit-" + scheme.name).str(),
        ("Quantize to " + scheme.name + ": " + scheme.summary).str(),
        [&scheme](OpPassManager &pm,
                  const QuantizationPipelineOptions &options) {
          addSchemePasses(pm, scheme, options);
        });
}
