//===- Llama2cReader.cpp - llama2.c checkpoint reader -----------------------===//
//
// Reads the float32 checkpoints of Karpathy's llama2.c (the format run.c
// maps): seven int32 hyperparameters, then every weight class stacked over
// layers, two unused RoPE tables, and the classifier when it is not shared
// with the embedding (negative vocab_size). Weights stay mapped; each
// layer's tensor is a slice of its stack. The vocabulary comes from the
// tokenizer.bin beside the checkpoint.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Frontend/Checkpoint.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/Path.h"

#include <cstring>

using namespace lowbit;
using llvm::createStringError;
using llvm::inconvertibleErrorCode;

static llvm::Error failure(const llvm::Twine &message) {
  return createStringError(inconvertibleErrorCode(), message);
}

/// Reads llama2.c's tokenizer.bin: the longest piece length, then for every
/// token its score, byte length and bytes (spaces where SentencePiece has
/// U+2581; BOS/EOS written as "\n<s>\n" and "\n</s>\n").
static llvm::Expected<Vocabulary> readTokenizerBin(llvm::StringRef path,
                                                   int64_t vocabSize) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return failure("llama2.c checkpoints need their tokenizer.bin: cannot "
                   "open '" + path + "': " + buffer.getError().message());
  llvm::StringRef data = (*buffer)->getBuffer();
  size_t offset = 4; // The longest piece length is not needed.
  Vocabulary vocabulary;
  for (int64_t id = 0; id < vocabSize; ++id) {
    float score;
    int32_t length;
    if (data.size() < offset + 8)
      return failure("truncated tokenizer.bin '" + path + "': token " +
                     llvm::Twine(id) + " of " + llvm::Twine(vocabSize) +
                     " is missing");
    std::memcpy(&score, data.data() + offset, 4);
    std::memcpy(&length, data.data() + offset + 4, 4);
    offset += 8;
    if (length < 0 || data.size() - offset < static_cast<size_t>(length))
      return failure("truncated tokenizer.bin '" + path + "': token " +
                     llvm::Twine(id) + " claims " + llvm::Twine(length) +
                     " bytes");
    std::string text = data.substr(offset, length).str();
    offset += length;

    TokenKind kind = TokenKind::Normal;
    if (id == vocabulary.unknownId) {
      kind = TokenKind::Unknown;
    } else if (id == vocabulary.bosId || id == vocabulary.eosId) {
      kind = TokenKind::Control;
      text = id == vocabulary.bosId ? "<s>" : "</s>";
    } else if (text.size() == 6 && text.rfind("<0x", 0) == 0 &&
               text.back() == '>') {
      kind = TokenKind::Byte;
    }
    std::string piece;
    for (char c : text) {
      if (c == ' ')
        piece += "\xE2\x96\x81";
      else
        piece += c;
    }
    vocabulary.pieces.push_back(std::move(piece));
    vocabulary.scores.push_back(score);
    vocabulary.kinds.push_back(kind);
  }
  return vocabulary;
}

llvm::Expected<std::unique_ptr<Checkpoint>>
lowbit::readLlama2c(llvm::StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return failure("cannot open '" + path + "': " +
                   buffer.getError().message());
  llvm::StringRef data = (*buffer)->getBuffer();
  int32_t header[7];
  if (data.size() < sizeof(header))
    return failure("truncated llama2.c checkpoint: the header needs 28 bytes, "
                   "the file has " + llvm::Twine(data.size()));
  std::memcpy(header, data.data(), sizeof(header));

  auto checkpoint = std::make_unique<Checkpoint>();
  checkpoint->format = "llama2.c";
  LlamaConfig &config = checkpoint->config;
  config.dim = header[0];
  config.hiddenDim = header[1];
  config.numLayers = header[2];
  config.numHeads = header[3];
  config.numKVHeads = header[4];
  bool sharedClassifier = header[5] > 0;
  config.vocabSize = header[5] > 0 ? header[5] : -static_cast<int64_t>(header[5]);
  config.contextLength = header[6];
  for (int32_t value : header)
    if (value == 0)
      return failure("llama2.c header has a zero field; this is not a "
                     "llama2.c checkpoint");
  if (config.dim < 0 || config.hiddenDim < 0 || config.numLayers < 0 ||
      config.numHeads < 0 || config.numKVHeads < 0 || config.contextLength < 0 ||
      config.dim % config.numHeads != 0)
    return failure("llama2.c header describes no valid model");

  int64_t dim = config.dim, kvDim = config.kvDim(), hidden = config.hiddenDim,
          layers = config.numLayers, vocab = config.vocabSize;
  // Stacked weight classes in file order: GGUF name suffix (or a whole name)
  // and the shape of one layer's slice.
  struct Section {
    const char *name;
    bool perLayer;
    llvm::SmallVector<int64_t, 2> shape;
  };
  std::vector<Section> sections = {
      {"token_embd.weight", false, {vocab, dim}},
      {"attn_norm.weight", true, {dim}},
      {"attn_q.weight", true, {dim, dim}},
      {"attn_k.weight", true, {kvDim, dim}},
      {"attn_v.weight", true, {kvDim, dim}},
      {"attn_output.weight", true, {dim, dim}},
      {"ffn_norm.weight", true, {dim}},
      {"ffn_gate.weight", true, {hidden, dim}},
      {"ffn_down.weight", true, {dim, hidden}},
      {"ffn_up.weight", true, {hidden, dim}},
      {"output_norm.weight", false, {dim}},
      {nullptr, false, {config.contextLength, config.headDim()}},
  };
  if (!sharedClassifier)
    sections.push_back({"output.weight", false, {vocab, dim}});

  uint64_t offset = sizeof(header);
  for (const Section &section : sections) {
    // Sizes are checked in floating point first: a corrupt header must not
    // overflow the integer arithmetic below.
    double expected = static_cast<double>(offset);
    uint64_t elements = 1;
    for (int64_t size : section.shape)
      elements *= size;
    uint64_t copies = section.perLayer ? layers : 1;
    double sectionBytes = sizeof(float) * static_cast<double>(copies);
    for (int64_t size : section.shape)
      sectionBytes *= static_cast<double>(size);
    uint64_t bytes = elements * sizeof(float);
    if (expected + sectionBytes > static_cast<double>(data.size()))
      return failure("truncated llama2.c checkpoint: '" +
                     llvm::Twine(section.name ? section.name : "freq_cis") +
                     "' needs " + llvm::Twine(static_cast<uint64_t>(sectionBytes)) +
                     " bytes at offset " + llvm::Twine(offset) +
                     " but the file has " + llvm::Twine(data.size()));
    for (uint64_t copy = 0; copy < copies && section.name; ++copy) {
      CheckpointTensor tensor{section.shape, StoredType::F32,
                              llvm::ArrayRef<uint8_t>(
                                  reinterpret_cast<const uint8_t *>(
                                      data.data() + offset + copy * bytes),
                                  bytes)};
      std::string name = section.perLayer ? "blk." + std::to_string(copy) +
                                                "." + section.name
                                          : section.name;
      checkpoint->addTensor(name, std::move(tensor));
    }
    offset += bytes * copies;
  }
  if (offset != data.size())
    return failure("llama2.c checkpoint has " +
                   llvm::Twine(data.size() - offset) +
                   " bytes after its last tensor; the header does not match "
                   "the file");

  llvm::SmallString<256> tokenizerPath(llvm::sys::path::parent_path(path));
  llvm::sys::path::append(tokenizerPath, "tokenizer.bin");
  llvm::Expected<Vocabulary> vocabulary =
      readTokenizerBin(tokenizerPath, config.vocabSize);
  if (!vocabulary)
    return vocabulary.takeError();
  checkpoint->vocabulary = std::move(*vocabulary);
  checkpoint->retain(std::move(*buffer));
  return checkpoint;
}
