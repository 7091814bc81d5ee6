//===- PermutationFoldingTest.cpp - FMPQ permutations preserve outputs ------===//
//
// FMPQ reorders the input channels of every linear layer and
// lowbit-fold-permutations moves those reorderings into norms, gates and
// weight rows. Both must leave the model's function exactly as it was; this
// runs the embedded model on the reference executor to show it.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Calibration/CalibrationStatistics.h"
#include "lowbit/Dialect/LowBit/IR/LowBitOps.h"
#include "lowbit/Dialect/LowBit/Transforms/Passes.h"
#include "lowbit/Reference/ReferenceExecutor.h"

#include "EmbeddedModel.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

using namespace lowbit;

namespace {

/// FMPQ options that make every activation non-trivially permuted: a low
/// threshold finds outliers everywhere and sorting reorders the rest.
constexpr const char *kFMPQ =
    "lowbit-fmpq{block-size=32 max-int8-fraction=0.5 threshold=1.5 "
    "sort-channels=true}";

class PermutationFoldingTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() { registerLowBitPasses(); }

  void SetUp() override {
    checkpoint = openEmbeddedModel();
    ASSERT_TRUE(checkpoint);
    prompt = randomTokens(*checkpoint, 7, 48);
    calibrate();
  }

  void TearDown() override { llvm::sys::fs::remove(calibrationPath); }

  /// Writes statistics of the FP model over random tokens to a file.
  void calibrate() {
    mlir::OwningOpRef<mlir::ModuleOp> module =
        importLlama(context, *checkpoint, "austen.gguf");
    auto executor = ReferenceExecutor::create(*module, *checkpoint);
    ASSERT_TRUE(static_cast<bool>(executor));
    CalibrationCollector collector(99.0, 256);
    (*executor)->setLinearInputObserver(
        [&](llvm::StringRef weight, const Tensor &input) {
          collector.observe(weight, input.data.data(), input.dim(0),
                            input.dim(1));
        });
    std::vector<int32_t> tokens(prompt);
    tokens.resize(256, prompt.front());
    ASSERT_TRUE(static_cast<bool>((*executor)->run("prefill", tokens, 0)));
    llvm::Expected<CalibrationStatistics> statistics =
        collector.finish("austen.gguf");
    ASSERT_TRUE(static_cast<bool>(statistics));
    int descriptor;
    ASSERT_FALSE(llvm::sys::fs::createTemporaryFile("calibration", "json",
                                                     descriptor, calibrationPath));
    llvm::raw_fd_ostream file(descriptor, /*shouldClose=*/true);
    writeCalibrationStatistics(*statistics, file);
  }

  /// The embedded model after `pipeline` (with `{calibration}` replaced by
  /// the calibration pass), run on the prompt: the logits.
  Tensor run(std::string pipeline, mlir::OwningOpRef<mlir::ModuleOp> &module) {
    module = importWithPipeline(context, *checkpoint, pipeline);
    auto executor = ReferenceExecutor::create(*module, *checkpoint);
    EXPECT_TRUE(static_cast<bool>(executor));
    llvm::Expected<Tensor> logits = (*executor)->run("prefill", prompt, 0);
    EXPECT_TRUE(static_cast<bool>(logits)) << llvm::toString(logits.takeError());
    return std::move(*logits);
  }

  std::string importCalibration() const {
    return ("lowbit-import-calibration{file=" + calibrationPath + "}").str();
  }

  std::unique_ptr<Checkpoint> checkpoint;
  mlir::MLIRContext context;
  std::vector<int32_t> prompt;
  llvm::SmallString<128> calibrationPath;
};

TEST_F(PermutationFoldingTest, FloatModelKeepsItsLogits) {
  mlir::OwningOpRef<mlir::ModuleOp> original, permuted;
  Tensor expected = run("", original);
  Tensor actual = run(importCalibration() + "," + kFMPQ +
                          ",lowbit-fold-permutations",
                      permuted);
  // The permutations are really there: every norm writes permuted output
  // and the attention outputs keep a runtime permutation.
  int64_t permutedNorms = 0, runtimePermutations = 0;
  permuted->walk([&](RMSNormOp norm) {
    permutedNorms += norm.getOutputPermutation().has_value();
  });
  permuted->walk([&](PermuteChannelsOp permutation) {
    runtimePermutations +=
        static_cast<bool>(permutation.getInput().getDefiningOp<KVAttentionOp>());
  });
  int64_t layers = checkpoint->config.numLayers;
  EXPECT_EQ(permutedNorms, 2 * 2 * layers); // two norms, @prefill and @decode
  EXPECT_EQ(runtimePermutations, 2 * layers);
  // Only the order of float summation inside linear layers changes.
  double difference = relativeDifference(actual, expected);
  std::printf("FMPQ + folding: max relative logit difference %.3g\n",
              difference);
  EXPECT_LT(difference, 1e-5);
}

TEST_F(PermutationFoldingTest, FoldingIsBitExactOnTheQuantizedModel) {
  // Folded or fused into activation quantization, a permutation puts the
  // same values in the same stored order: the integer model is unchanged
  // to the last bit.
  std::string quantize =
      ",lowbit-quantize-weights{group-size=32},lowbit-quantize-activations{bits=4}";
  mlir::OwningOpRef<mlir::ModuleOp> fused, folded;
  Tensor expected = run(importCalibration() + "," + kFMPQ + quantize, fused);
  Tensor actual = run(importCalibration() + "," + kFMPQ +
                          ",lowbit-fold-permutations" + quantize,
                      folded);
  ASSERT_EQ(actual.data.size(), expected.data.size());
  EXPECT_EQ(actual.data, expected.data);
}

} // namespace
