//===- EmbeddedModel.h - the embedded model in reference tests --*- C++ -*-===//
//
// Tests that check a transformation on the embedded model all open the
// checkpoint, make a prompt, import the model through a pass pipeline and
// compare logits; these are those steps, written once.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_UNITTESTS_REFERENCE_EMBEDDEDMODEL_H
#define LOWBIT_UNITTESTS_REFERENCE_EMBEDDEDMODEL_H

#include "lowbit/Frontend/Checkpoint.h"
#include "lowbit/Frontend/LlamaImporter.h"
#include "lowbit/Reference/QuantizedArithmetic.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "gtest/gtest.h"

#include <cmath>
#include <random>

namespace lowbit {

/// The embedded model's checkpoint (models/austen.gguf); fails the test
/// when it cannot be read.
inline std::unique_ptr<Checkpoint> openEmbeddedModel() {
  llvm::Expected<std::unique_ptr<Checkpoint>> loaded =
      openCheckpoint(LOWBIT_SOURCE_DIR "/models/austen.gguf");
  EXPECT_TRUE(static_cast<bool>(loaded)) << llvm::toString(loaded.takeError());
  return loaded ? std::move(*loaded) : nullptr;
}

/// `count` random token ids of `checkpoint`'s vocabulary, special tokens
/// (0-2) left out.
inline std::vector<int32_t> randomTokens(const Checkpoint &checkpoint,
                                         unsigned seed, int count) {
  std::mt19937 generator(seed);
  std::uniform_int_distribution<int32_t> token(
      3, checkpoint.config.vocabSize - 1);
  std::vector<int32_t> tokens;
  for (int i = 0; i < count; ++i)
    tokens.push_back(token(generator));
  return tokens;
}

/// `checkpoint` imported and transformed by `pipeline` (none when empty).
inline mlir::OwningOpRef<mlir::ModuleOp>
importWithPipeline(mlir::MLIRContext &context, const Checkpoint &checkpoint,
                   const std::string &pipeline) {
  mlir::OwningOpRef<mlir::ModuleOp> module =
      importLlama(context, checkpoint, "austen.gguf");
  if (pipeline.empty())
    return module;
  mlir::PassManager passes(&context);
  std::string errors;
  llvm::raw_string_ostream errorStream(errors);
  EXPECT_TRUE(succeeded(mlir::parsePassPipeline(pipeline, passes, errorStream)))
      << errors;
  EXPECT_TRUE(succeeded(passes.run(*module)));
  return module;
}

/// Largest |a - b| over all tensors, relative to the largest |b|.
inline double relativeDifference(llvm::ArrayRef<Tensor> actual,
                                 llvm::ArrayRef<Tensor> expected) {
  double difference = 0.0, largest = 0.0;
  EXPECT_EQ(actual.size(), expected.size());
  for (size_t t = 0; t < std::min(actual.size(), expected.size()); ++t) {
    EXPECT_EQ(actual[t].shape, expected[t].shape);
    for (size_t i = 0; i < expected[t].data.size(); ++i) {
      difference = std::max(difference, std::fabs(double(actual[t].data[i]) -
                                                   expected[t].data[i]));
      largest = std::max(largest, std::fabs(double(expected[t].data[i])));
    }
  }
  return difference / largest;
}

} // namespace lowbit

#endif // LOWBIT_UNITTESTS_REFERENCE_EMBEDDEDMODEL_H
