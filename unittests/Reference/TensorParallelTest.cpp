//===- TensorParallelTest.cpp - sharded models compute what one device does -===//
//
// lowbit-tensor-parallel rewrites a model into the module each rank runs;
// the reference executor simulates the ranks. Uncompressed, the sharded
// embedded model must give the logits of the unsharded one up to float
// summation order, in prefill and in decode; compressed collectives must
// change them, by less for wider formats.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/LowBit/Transforms/Passes.h"
#include "lowbit/Reference/ReferenceExecutor.h"

#include "EmbeddedModel.h"

using namespace lowbit;

namespace {

class TensorParallelTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    registerLowBitPasses();
    registerLowBitPipelines();
  }

  void SetUp() override {
    checkpoint = openEmbeddedModel();
    ASSERT_TRUE(checkpoint);
    prompt = randomTokens(*checkpoint, 11, 40);
  }

  /// The logits of the embedded model after `pipeline`: the prompt's
  /// prefill, then three decode steps, one after another.
  std::vector<Tensor> run(const std::string &pipeline,
                          int64_t expectedRanks = 1) {
    mlir::OwningOpRef<mlir::ModuleOp> module =
        importWithPipeline(context, *checkpoint, pipeline);
    auto executor = ReferenceExecutor::create(*module, *checkpoint);
    EXPECT_TRUE(static_cast<bool>(executor)) << llvm::toString(executor.takeError());
    EXPECT_EQ((*executor)->getNumRanks(), expectedRanks);
    std::vector<Tensor> logits;
    llvm::Expected<Tensor> prefill = (*executor)->run("prefill", prompt, 0);
    EXPECT_TRUE(static_cast<bool>(prefill)) << llvm::toString(prefill.takeError());
    logits.push_back(std::move(*prefill));
    for (int32_t step = 0; step < 3; ++step) {
      llvm::Expected<Tensor> decode = (*executor)->run(
          "decode", {prompt[step]}, static_cast<int64_t>(prompt.size()) + step);
      EXPECT_TRUE(static_cast<bool>(decode)) << llvm::toString(decode.takeError());
      logits.push_back(std::move(*decode));
    }
    return logits;
  }

  std::unique_ptr<Checkpoint> checkpoint;
  mlir::MLIRContext context;
  std::vector<int32_t> prompt;
};

TEST_F(TensorParallelTest, ShardedModelKeepsItsLogits) {
  std::vector<Tensor> expected = run("");
  // Eight ranks share the model's four KV heads two by two.
  for (int64_t ranks : {2, 4, 8}) {
    std::vector<Tensor> actual =
        run("lowbit-tensor-parallel{tp=" + std::to_string(ranks) + "}", ranks);
    double difference = relativeDifference(actual, expected);
    std::printf("TP=%lld: max relative logit difference %.3g\n",
                static_cast<long long>(ranks), difference);
    EXPECT_LT(difference, 1e-5);
  }
}

TEST_F(TensorParallelTest, ShardedWeightQuantizationIsTheSame) {
  // W4A16 scales each output row per group of input channels; shards cut
  // whole rows and whole groups, so only float summation order changes.
  std::string w4a16 = "lowbit-w4a16{block-size=32 group-size=32}";
  std::vector<Tensor> expected = run(w4a16);
  std::vector<Tensor> actual =
      run("lowbit-tensor-parallel{tp=2}," + w4a16, 2);
  EXPECT_LT(relativeDifference(actual, expected), 1e-5);
}

TEST_F(TensorParallelTest, CompressionErrorFollowsTheWireFormat) {
  std::vector<Tensor> expected = run("lowbit-tensor-parallel{tp=2}", 2);
  auto errorOf = [&](const std::string &options) {
    double difference = relativeDifference(
        run("lowbit-tensor-parallel{tp=2},lowbit-compress-collectives{" +
                options + " compress-decode=true}",
            2),
        expected);
    std::printf("%s: max relative logit difference %.3g\n", options.c_str(),
                difference);
    return difference;
  };
  double int8 = errorOf("format=int8 block-size=16");
  double fp5 = errorOf("format=fp5_e2m2 block-size=16");
  double fp4 = errorOf("format=fp4_e2m1 block-size=16");
  double fp4Scattered =
      errorOf("format=fp4_e2m1 block-size=16 algorithm=reduce-scatter");
  EXPECT_GT(int8, 0.0);
  EXPECT_LT(int8, fp5);
  EXPECT_LT(fp5, fp4);
  // Rounding twice (reduce-scatter, then all-gather) costs accuracy.
  EXPECT_GT(fp4Scattered, fp4);
  // Still a model: FP4 with blocks of 16 moves logits by a few percent.
  EXPECT_LT(fp4Scattered, 0.25);
}

} // namespace
