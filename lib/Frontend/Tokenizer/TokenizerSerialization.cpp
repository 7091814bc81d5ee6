//===- TokenizerSerialization.cpp - tokenizers inside model artifacts -----===//
//
// A compiled model carries its tokenizer, so that running it needs no
// checkpoint. The bytes are a kind tag and a payload: 'V' and a vocabulary
// (docs/artifact.md), or 'S' and a SentencePiece model file.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Frontend/Tokenizer.h"

#include <cstring>

using namespace lowbit;

namespace {
template <typename T> void append(std::string &out, T value) {
  out.append(reinterpret_cast<const char *>(&value), sizeof(T));
}

/// Reads values from the front of a byte range, remembering overruns.
struct Reader {
  std::string_view bytes;
  bool overrun = false;

  template <typename T> T next() {
    T value{};
    if (bytes.size() < sizeof(T)) {
      overrun = true;
      return value;
    }
    std::memcpy(&value, bytes.data(), sizeof(T));
    bytes.remove_prefix(sizeof(T));
    return value;
  }
  std::string_view take(size_t size) {
    if (bytes.size() < size) {
      overrun = true;
      return {};
    }
    std::string_view result = bytes.substr(0, size);
    bytes.remove_prefix(size);
    return result;
  }
};
} // namespace

std::string lowbit::serializeTokenizer(const Vocabulary &vocabulary) {
  std::string out = "V";
  append<uint32_t>(out, static_cast<uint32_t>(vocabulary.pieces.size()));
  append<int32_t>(out, vocabulary.bosId);
  append<int32_t>(out, vocabulary.eosId);
  append<int32_t>(out, vocabulary.unknownId);
  append<uint8_t>(out, vocabulary.addBos ? 1 : 0);
  for (size_t i = 0; i < vocabulary.pieces.size(); ++i) {
    append<uint32_t>(out, static_cast<uint32_t>(vocabulary.pieces[i].size()));
    out += vocabulary.pieces[i];
    append<float>(out, vocabulary.scores[i]);
    append<int32_t>(out, static_cast<int32_t>(vocabulary.kinds[i]));
  }
  return out;
}

std::string lowbit::serializeSentencePieceTokenizer(std::string_view modelFile) {
  return "S" + std::string(modelFile);
}

std::unique_ptr<Tokenizer>
lowbit::loadSerializedTokenizer(std::string_view bytes, std::string &error) {
  if (bytes.empty()) {
    error = "the tokenizer is empty";
    return nullptr;
  }
  if (bytes.front() == 'S')
    return loadSentencePieceModelFromBytes(bytes.substr(1), error);
  if (bytes.front() != 'V') {
    error = "the tokenizer has an unknown kind";
    return nullptr;
  }
  Reader reader{bytes.substr(1)};
  Vocabulary vocabulary;
  uint32_t count = reader.next<uint32_t>();
  vocabulary.bosId = reader.next<int32_t>();
  vocabulary.eosId = reader.next<int32_t>();
  vocabulary.unknownId = reader.next<int32_t>();
  vocabulary.addBos = reader.next<uint8_t>() != 0;
  // Each piece takes at least 12 bytes: this bounds `count` before reserving.
  if (reader.overrun || count > reader.bytes.size() / 12) {
    error = "the tokenizer is truncated";
    return nullptr;
  }
  for (uint32_t i = 0; i < count && !reader.overrun; ++i) {
    vocabulary.pieces.emplace_back(reader.take(reader.next<uint32_t>()));
    vocabulary.scores.push_back(reader.next<float>());
    vocabulary.kinds.push_back(static_cast<TokenKind>(reader.next<int32_t>()));
  }
  if (reader.overrun || !reader.bytes.empty()) {
    error = "the tokenizer is truncated or has trailing bytes";
    return nullptr;
  }
  return std::make_unique<VocabularyTokenizer>(std::move(vocabulary));
}
