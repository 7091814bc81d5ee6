//===- TokenizerTest.cpp - vocabulary tokenizer vs libsentencepiece -------===//
//
// lowbit's own SentencePiece BPE, driven by the vocabulary embedded in the
// default model's GGUF file, must produce exactly the tokens libsentencepiece
// produces from the `.model` file the vocabulary was exported from.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Frontend/Checkpoint.h"
#include "lowbit/Frontend/Tokenizer.h"

#include "llvm/Support/MemoryBuffer.h"
#include "gtest/gtest.h"

using namespace lowbit;

namespace {

class TokenizerTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    llvm::Expected<std::unique_ptr<Checkpoint>> checkpoint =
        readGGUF(LOWBIT_SOURCE_DIR "/models/austen.gguf");
    ASSERT_TRUE(static_cast<bool>(checkpoint))
        << llvm::toString(checkpoint.takeError());
    ASSERT_TRUE((*checkpoint)->vocabulary.has_value());
    ours = new VocabularyTokenizer(*(*checkpoint)->vocabulary);
    std::string error;
    reference = loadSentencePieceModel(
                    LOWBIT_SOURCE_DIR "/models/austen-tokenizer.model", error)
                    .release();
    ASSERT_NE(reference, nullptr) << error;
  }

  static void TearDownTestSuite() {
    delete ours;
    delete reference;
  }

  static Tokenizer *ours;
  static Tokenizer *reference;
};

Tokenizer *TokenizerTest::ours = nullptr;
Tokenizer *TokenizerTest::reference = nullptr;

TEST_F(TokenizerTest, SpecialTokensAgree) {
  EXPECT_EQ(ours->vocabSize(), reference->vocabSize());
  EXPECT_EQ(ours->bosId(), reference->bosId());
  EXPECT_EQ(ours->eosId(), reference->eosId());
}

TEST_F(TokenizerTest, EdgeCasesMatchSentencePiece) {
  const char *texts[] = {
      "",
      "a",
      " leading space",
      "two  spaces and trailing ",
      "Mr. Darcy's \xC2\xBD caf\xC3\xA9 \xE2\x80\x94 na\xC3\xAFve \xF0\x9F\x98\x80",
      "1816, 42 and 3.14159",
      "\"Quoted,\" she said; (parenthetical) [bracketed] {braced}",
      "line one\nline two\ttabbed",
      "\xE2\x96\x81 literal marker",
  };
  for (const char *text : texts)
    EXPECT_EQ(ours->encode(text), reference->encode(text)) << "text: " << text;
}

TEST_F(TokenizerTest, HeldOutNovelMatchesSentencePieceTokenForToken) {
  auto buffer =
      llvm::MemoryBuffer::getFile(LOWBIT_SOURCE_DIR "/models/persuasion.txt");
  ASSERT_TRUE(static_cast<bool>(buffer));
  llvm::StringRef text = (*buffer)->getBuffer();
  size_t lines = 0, tokens = 0;
  while (!text.empty()) {
    auto [line, rest] = text.split('\n');
    text = rest;
    std::vector<int32_t> expected = reference->encode(line.str());
    ASSERT_EQ(ours->encode(line.str()), expected) << "line: " << line.str();
    ++lines;
    tokens += expected.size();
  }
  EXPECT_GT(lines, 1000u);
  EXPECT_GT(tokens, 100000u);
}

TEST_F(TokenizerTest, DecodeInvertsEncode) {
  std::string text = "It is a truth universally acknowledged, that a single "
                     "man in possession of a good fortune \xE2\x80\x94 caf\xC3\xA9.";
  EXPECT_EQ(ours->decode(ours->encode(text)), text);
  EXPECT_EQ(reference->decode(reference->encode(text)), text);
}

} // namespace
