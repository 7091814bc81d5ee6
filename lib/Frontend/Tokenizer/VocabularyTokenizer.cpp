//===- VocabularyTokenizer.cpp - SentencePiece BPE from a vocabulary -------===//
//
// SentencePiece's BPE encoding driven only by the pieces and scores of a
// vocabulary: the text is cut into UTF-8 characters, and the adjacent pair
// whose concatenation is the best-scoring piece is merged until no pair is a
// piece. Symbols left without a piece become byte tokens (`<0xAB>`).
//
//===----------------------------------------------------------------------===//

#include "lowbit/Frontend/Tokenizer.h"

#include <cstdio>
#include <queue>

using namespace lowbit;

/// SentencePiece's visible space, U+2581.
static constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";

Tokenizer::~Tokenizer() = default;

std::string Tokenizer::decode(const std::vector<int32_t> &ids) const {
  std::string text;
  for (int32_t id : ids)
    text += tokenText(id);
  if (!text.empty() && text.front() == ' ')
    text.erase(0, 1);
  return text;
}

VocabularyTokenizer::VocabularyTokenizer(Vocabulary vocabularyIn)
    : vocabulary(std::move(vocabularyIn)) {
  std::fill(std::begin(byteIds), std::end(byteIds), -1);
  for (size_t id = 0; id < vocabulary.pieces.size(); ++id) {
    const std::string &piece = vocabulary.pieces[id];
    if (vocabulary.kinds[id] == TokenKind::Byte) {
      unsigned value;
      if (std::sscanf(piece.c_str(), "<0x%02X>", &value) == 1 && value < 256)
        byteIds[value] = static_cast<int32_t>(id);
      continue;
    }
    if (vocabulary.kinds[id] == TokenKind::Normal ||
        vocabulary.kinds[id] == TokenKind::UserDefined)
      pieceIds.emplace(piece, static_cast<int32_t>(id));
  }
}

/// Length of the UTF-8 character that starts with byte `lead`.
static size_t utf8Length(unsigned char lead) {
  if (lead < 0x80)
    return 1;
  if ((lead >> 5) == 0x6)
    return 2;
  if ((lead >> 4) == 0xE)
    return 3;
  if ((lead >> 3) == 0x1E)
    return 4;
  return 1; // A stray continuation byte stands alone.
}

namespace {
/// A symbol of the text being merged, linked to its neighbours.
struct Symbol {
  size_t offset;
  size_t length;
  int previous;
  int next;
};

/// A candidate merge of symbol `left` with its right neighbour.
struct Bigram {
  float score;
  int left;
  size_t length;

  /// Higher scores first; among equal scores the leftmost pair.
  bool operator<(const Bigram &other) const {
    if (score != other.score)
      return score < other.score;
    return left > other.left;
  }
};
} // namespace

std::vector<int32_t> VocabularyTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  if (text.empty())
    return ids;
  std::string normalized(kSpaceMarker);
  for (char c : text) {
    if (c == ' ')
      normalized += kSpaceMarker;
    else
      normalized += c;
  }

  std::vector<Symbol> symbols;
  for (size_t offset = 0; offset < normalized.size();) {
    size_t length = std::min(utf8Length(normalized[offset]),
                             normalized.size() - offset);
    int index = static_cast<int>(symbols.size());
    symbols.push_back({offset, length, index - 1, index + 1});
    offset += length;
  }
  symbols.back().next = -1;

  std::priority_queue<Bigram> queue;
  auto propose = [&](int left) {
    if (left < 0 || symbols[left].next < 0)
      return;
    const Symbol &first = symbols[left];
    const Symbol &second = symbols[first.next];
    std::string merged =
        normalized.substr(first.offset, first.length + second.length);
    auto it = pieceIds.find(merged);
    if (it == pieceIds.end())
      return;
    queue.push({vocabulary.scores[it->second], left, merged.size()});
  };
  for (int i = 0; i + 1 < static_cast<int>(symbols.size()); ++i)
    propose(i);

  while (!queue.empty()) {
    Bigram bigram = queue.top();
    queue.pop();
    Symbol &left = symbols[bigram.left];
    // Skip merges made stale by an earlier merge of either symbol.
    if (left.length == 0 || left.next < 0 ||
        left.length + symbols[left.next].length != bigram.length)
      continue;
    Symbol &right = symbols[left.next];
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0)
      symbols[right.next].previous = bigram.left;
    propose(left.previous);
    propose(bigram.left);
  }

  for (int i = 0; i >= 0; i = symbols[i].next)
    emitSymbol(std::string_view(normalized).substr(symbols[i].offset,
                                                   symbols[i].length),
               ids);
  return ids;
}

void VocabularyTokenizer::emitSymbol(std::string_view symbol,
                                     std::vector<int32_t> &ids) const {
  auto it = pieceIds.find(std::string(symbol));
  if (it != pieceIds.end()) {
    ids.push_back(it->second);
    return;
  }
  for (unsigned char byte : symbol)
    ids.push_back(byteIds[byte] >= 0 ? byteIds[byte] : vocabulary.unknownId);
}

std::string VocabularyTokenizer::tokenText(int32_t id) const {
  if (id < 0 || id >= vocabSize())
    return "";
  switch (vocabulary.kinds[id]) {
  case TokenKind::Control:
  case TokenKind::Unused:
    return "";
  case TokenKind::Unknown:
    return " \xE2\x81\x87 "; // SentencePiece renders <unk> as " ⁇ ".
  case TokenKind::Byte:
    for (int value = 0; value < 256; ++value)
      if (byteIds[value] == id)
        return std::string(1, static_cast<char>(value));
    return "";
  case TokenKind::Normal:
  case TokenKind::UserDefined:
    break;
  }
  std::string text;
  const std::string &piece = vocabulary.pieces[id];
  for (size_t i = 0; i < piece.size();) {
    if (piece.compare(i, kSpaceMarker.size(), kSpaceMarker) == 0) {
      text += ' ';
      i += kSpaceMarker.size();
    } else {
      text += piece[i++];
    }
  }
  return text;
}
