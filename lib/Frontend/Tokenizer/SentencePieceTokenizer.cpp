//===- SentencePieceTokenizer.cpp - libsentencepiece tokenizer -------------===//
//
// Tokenizes with Debian's libsentencepiece for checkpoints that come with a
// SentencePiece `.model` file (llama2.c, Hugging Face), and serves as the
// reference the vocabulary-driven tokenizer is tested against.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Frontend/Tokenizer.h"

#include <sentencepiece_processor.h>

using namespace lowbit;

namespace {
/// A Tokenizer backed by a loaded SentencePiece model.
class SentencePieceTokenizer : public Tokenizer {
public:
  sentencepiece::SentencePieceProcessor processor;

  std::vector<int32_t> encode(std::string_view text) const override {
    std::vector<int> ids;
    if (!processor.Encode(text, &ids).ok())
      return {};
    return std::vector<int32_t>(ids.begin(), ids.end());
  }

  std::string tokenText(int32_t id) const override {
    if (id < 0 || id >= vocabSize() || processor.IsControl(id))
      return "";
    if (processor.IsUnknown(id))
      return " \xE2\x81\x87 ";
    const std::string &piece = processor.IdToPiece(id);
    if (processor.IsByte(id)) {
      unsigned value = std::stoul(piece.substr(3, 2), nullptr, 16);
      return std::string(1, static_cast<char>(value));
    }
    std::string text;
    for (size_t i = 0; i < piece.size();) {
      if (piece.compare(i, 3, "\xE2\x96\x81") == 0) {
        text += ' ';
        i += 3;
      } else {
        text += piece[i++];
      }
    }
    return text;
  }

  int32_t vocabSize() const override { return processor.GetPieceSize(); }
  int32_t bosId() const override { return processor.bos_id(); }
  int32_t eosId() const override { return processor.eos_id(); }
};
} // namespace

std::unique_ptr<Tokenizer> lowbit::loadSentencePieceModel(const std::string &path,
                                                          std::string &error) {
  auto tokenizer = std::make_unique<SentencePieceTokenizer>();
  sentencepiece::util::Status status = tokenizer->processor.Load(path);
  if (!status.ok()) {
    error = "cannot load SentencePiece model '" + path +
            "': " + status.ToString();
    return nullptr;
  }
  return tokenizer;
}

std::unique_ptr<Tokenizer>
lowbit::loadSentencePieceModelFromBytes(std::string_view modelFile,
                                        std::string &error) {
  auto tokenizer = std::make_unique<SentencePieceTokenizer>();
  sentencepiece::util::Status status =
      tokenizer->processor.LoadFromSerializedProto(modelFile);
  if (!status.ok()) {
    error = "cannot load the SentencePiece model: " + status.ToString();
    return nullptr;
  }
  return tokenizer;
}
