//===- GoldenLogitsTest.cpp - reference executor vs PyTorch ---------------===//
//
// The embedded default model, imported to lowbit IR and run by the reference
// executor, must reproduce the logits PyTorch computed for fixed prompts in
// the training run that produced the checkpoint (models/austen-golden.bin),
// both in one prefill and token by token through the KV cache.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Frontend/Checkpoint.h"
#include "lowbit/Frontend/LlamaImporter.h"
#include "lowbit/Frontend/Tokenizer.h"
#include "lowbit/Reference/ReferenceExecutor.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/MemoryBuffer.h"
#include "gtest/gtest.h"

#include <cmath>
#include <cstring>

using namespace lowbit;

namespace {

/// One prompt of the golden file: token ids (BOS first) and the logits row
/// predicting each next token.
struct GoldenPrompt {
  std::vector<int32_t> ids;
  std::vector<float> logits;
};

/// Reads models/austen-golden.bin (format in docs/default-model.md).
std::vector<GoldenPrompt> readGolden(int64_t &vocab) {
  auto buffer = llvm::MemoryBuffer::getFile(LOWBIT_SOURCE_DIR
                                            "/models/austen-golden.bin");
  if (!buffer)
    return {};
  const char *data = (*buffer)->getBufferStart();
  const char *end = (*buffer)->getBufferEnd();
  auto take = [&](void *out, size_t bytes) {
    if (static_cast<size_t>(end - data) < bytes)
      return false;
    std::memcpy(out, data, bytes);
    data += bytes;
    return true;
  };
  char magic[8];
  uint32_t header[4];
  if (!take(magic, 8) || std::memcmp(magic, "LBGOLDEN", 8) != 0 ||
      !take(header, sizeof(header)) || header[0] != 1)
    return {};
  vocab = header[2];
  std::vector<GoldenPrompt> prompts(header[1]);
  for (GoldenPrompt &prompt : prompts) {
    uint32_t tokens;
    if (!take(&tokens, 4))
      return {};
    prompt.ids.resize(tokens);
    prompt.logits.resize(static_cast<size_t>(tokens) * vocab);
    if (!take(prompt.ids.data(), tokens * 4) ||
        !take(prompt.logits.data(), prompt.logits.size() * 4))
      return {};
  }
  return prompts;
}

/// Largest |a - b| over a row, relative to the row's largest |b|.
double relativeError(const float *actual, const float *expected,
                     int64_t count) {
  double maxDiff = 0.0, maxExpected = 0.0;
  for (int64_t i = 0; i < count; ++i) {
    maxDiff = std::max(maxDiff, std::fabs(double(actual[i]) - expected[i]));
    maxExpected = std::max(maxExpected, std::fabs(double(expected[i])));
  }
  return maxDiff / maxExpected;
}

int64_t argmax(const float *row, int64_t count) {
  return std::max_element(row, row + count) - row;
}

/// Bound on the relative logit error: float32 summation order differs from
/// PyTorch's, nothing else should.
constexpr double kTolerance = 1e-5;

class GoldenLogitsTest : public ::testing::Test {
protected:
  void SetUp() override {
    prompts = readGolden(vocab);
    ASSERT_EQ(prompts.size(), 4u) << "cannot read models/austen-golden.bin";
    llvm::Expected<std::unique_ptr<Checkpoint>> loaded =
        openCheckpoint(LOWBIT_SOURCE_DIR "/models/austen.gguf");
    ASSERT_TRUE(static_cast<bool>(loaded)) << llvm::toString(loaded.takeError());
    checkpoint = std::move(*loaded);
    ASSERT_EQ(checkpoint->config.vocabSize, vocab);
    module = importLlama(context, *checkpoint, "models/austen.gguf");
    llvm::Expected<std::unique_ptr<ReferenceExecutor>> created =
        ReferenceExecutor::create(*module, *checkpoint);
    ASSERT_TRUE(static_cast<bool>(created)) << llvm::toString(created.takeError());
    executor = std::move(*created);
  }

  int64_t vocab = 0;
  std::vector<GoldenPrompt> prompts;
  std::unique_ptr<Checkpoint> checkpoint;
  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::unique_ptr<ReferenceExecutor> executor;
};

TEST_F(GoldenLogitsTest, PrefillMatchesPyTorch) {
  double worst = 0.0;
  for (const GoldenPrompt &prompt : prompts) {
    executor->resetCaches();
    llvm::Expected<Tensor> logits = executor->run("prefill", prompt.ids, 0);
    ASSERT_TRUE(static_cast<bool>(logits)) << llvm::toString(logits.takeError());
    ASSERT_EQ(logits->dim(0), static_cast<int64_t>(prompt.ids.size()));
    for (size_t t = 0; t < prompt.ids.size(); ++t) {
      const float *actual = &logits->data[t * vocab];
      const float *expected = &prompt.logits[t * vocab];
      worst = std::max(worst, relativeError(actual, expected, vocab));
      EXPECT_EQ(argmax(actual, vocab), argmax(expected, vocab))
          << "position " << t;
    }
  }
  std::printf("prefill: max relative logit error %.3g (bound %.0e)\n", worst,
              kTolerance);
  EXPECT_LT(worst, kTolerance);
}

TEST_F(GoldenLogitsTest, TokenByTokenDecodeMatchesPyTorch) {
  double worst = 0.0;
  for (const GoldenPrompt &prompt : prompts) {
    executor->resetCaches();
    for (size_t t = 0; t < prompt.ids.size(); ++t) {
      llvm::Expected<Tensor> logits =
          executor->run("decode", {prompt.ids[t]}, static_cast<int64_t>(t));
      ASSERT_TRUE(static_cast<bool>(logits))
          << llvm::toString(logits.takeError());
      worst = std::max(worst, relativeError(logits->data.data(),
                                            &prompt.logits[t * vocab], vocab));
    }
  }
  std::printf("decode: max relative logit error %.3g (bound %.0e)\n", worst,
              kTolerance);
  EXPECT_LT(worst, kTolerance);
}

TEST_F(GoldenLogitsTest, PromptsTokenizeToGoldenIds) {
  VocabularyTokenizer tokenizer(*checkpoint->vocabulary);
  const char *texts[] = {
      "It is a truth universally acknowledged", "Elizabeth", "The weather was",
      "Mr. Darcy had walked away to another part of the room, and she was "
      "left to consider how little she knew of the gentleman who had so "
      "lately been the object of her contempt."};
  for (size_t i = 0; i < prompts.size(); ++i) {
    std::vector<int32_t> ids = {tokenizer.bosId()};
    std::vector<int32_t> body = tokenizer.encode(texts[i]);
    ids.insert(ids.end(), body.begin(), body.end());
    EXPECT_EQ(ids, prompts[i].ids) << texts[i];
  }
}

TEST_F(GoldenLogitsTest, RefusesPositionsBeyondTheContext) {
  llvm::Expected<Tensor> logits =
      executor->run("decode", {1}, checkpoint->config.contextLength);
  ASSERT_FALSE(static_cast<bool>(logits));
  EXPECT_EQ(llvm::toString(logits.takeError()),
            "positions 512 to 512 do not fit a KV cache of 512 positions");
}

} // namespace
