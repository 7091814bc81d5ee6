//===- Tokenizer.h - Llama tokenizers ---------------------------*- C++ -*-===//
//
// Text to token ids and back for Llama-family models. The vocabulary-driven
// tokenizer implements SentencePiece's BPE (merges by piece score, byte
// fallback, dummy-prefix whitespace) from a vocabulary alone, as GGUF files
// carry it; a second implementation wraps libsentencepiece for `.model`
// files. This header depends on the C++ standard library only, so the
// runtime can use it without LLVM.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_FRONTEND_TOKENIZER_H
#define LOWBIT_FRONTEND_TOKENIZER_H

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lowbit {

/// Kinds of vocabulary entries, numbered as GGUF's tokenizer.ggml.token_type.
enum class TokenKind : int32_t {
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
};

/// A SentencePiece-style vocabulary: pieces with merge scores and kinds.
struct Vocabulary {
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<TokenKind> kinds;
  int32_t bosId = 1;
  int32_t eosId = 2;
  int32_t unknownId = 0;
  bool addBos = true;
};

/// Converts between text and token ids.
class Tokenizer {
public:
  virtual ~Tokenizer();

  /// Token ids of `text`, without a beginning-of-sequence token.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  /// The text token `id` stands for (control tokens stand for nothing).
  virtual std::string tokenText(int32_t id) const = 0;
  virtual int32_t vocabSize() const = 0;
  virtual int32_t bosId() const = 0;
  virtual int32_t eosId() const = 0;

  /// The text of a whole sequence; the space SentencePiece puts before the
  /// first word is dropped.
  std::string decode(const std::vector<int32_t> &ids) const;
};

/// SentencePiece BPE over a vocabulary of pieces and scores, as llama.cpp
/// runs GGUF's `llama` tokenizer model.
class VocabularyTokenizer : public Tokenizer {
public:
  explicit VocabularyTokenizer(Vocabulary vocabulary);

  std::vector<int32_t> encode(std::string_view text) const override;
  std::string tokenText(int32_t id) const override;
  int32_t vocabSize() const override {
    return static_cast<int32_t>(vocabulary.pieces.size());
  }
  int32_t bosId() const override { return vocabulary.bosId; }
  int32_t eosId() const override { return vocabulary.eosId; }

private:
  /// Appends the ids of one final BPE symbol, falling back to byte tokens.
  void emitSymbol(std::string_view symbol, std::vector<int32_t> &ids) const;

  Vocabulary vocabulary;
  std::unordered_map<std::string, int32_t> pieceIds;
  /// Token id of each byte value (`<0xAB>` pieces), or -1.
  int32_t byteIds[256];
};

/// Loads a SentencePiece `.model` file through libsentencepiece. On failure
/// returns null and sets `error`.
std::unique_ptr<Tokenizer> loadSentencePieceModel(const std::string &path,
                                                  std::string &error);

/// Loads a SentencePiece model from the contents of a `.model` file. On
/// failure returns null and sets `error`.
std::unique_ptr<Tokenizer> loadSentencePieceModelFromBytes(
    std::string_view modelFile, std::string &error);

/// The bytes of a tokenizer as a model artifact stores it: `vocabulary`,
/// for tokenizers that GGUF files embed.
std::string serializeTokenizer(const Vocabulary &vocabulary);
/// The bytes of a tokenizer as a model artifact stores it: the contents of a
/// SentencePiece `.model` file.
std::string serializeSentencePieceTokenizer(std::string_view modelFile);
/// The tokenizer serialized in `bytes`; on failure returns null and sets
/// `error`.
std::unique_ptr<Tokenizer> loadSerializedTokenizer(std::string_view bytes,
                                                   std::string &error);

} // namespace lowbit

#endif // LOWBIT_FRONTEND_TOKENIZER_H
