//===- SafetensorsReader.cpp - Hugging Face Llama checkpoint reader ---------===//
//
// Reads Hugging Face Llama checkpoints: config.json for the hyperparameters
// and one or more .safetensors files (an 8-byte header length, a JSON header
// of dtype/shape/offsets, then raw data) for the tensors, which stay mapped.
// Tensors are renamed to GGUF names; q/k projections are reordered from the
// Hugging Face rotary layout (halves) to adjacent pairs, as llama.cpp does.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Frontend/Checkpoint.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/Path.h"

#include <cstring>

using namespace lowbit;
using llvm::createStringError;
using llvm::inconvertibleErrorCode;

namespace {

llvm::Error failure(const llvm::Twine &message) {
  return createStringError(inconvertibleErrorCode(), message);
}

llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
mapFile(llvm::StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return failure("cannot open '" + path + "': " +
                   buffer.getError().message());
  return std::move(*buffer);
}

llvm::Expected<llvm::json::Value> readJSONFile(llvm::StringRef path) {
  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> buffer = mapFile(path);
  if (!buffer)
    return buffer.takeError();
  llvm::Expected<llvm::json::Value> value =
      llvm::json::parse((*buffer)->getBuffer());
  if (!value)
    return failure("'" + path + "' is not valid JSON: " +
                   llvm::toString(value.takeError()));
  return value;
}

/// Reads the Llama hyperparameters of config.json.
llvm::Error readConfig(const llvm::json::Object &json, LlamaConfig &config,
                       bool &tiedEmbeddings) {
  if (std::optional<llvm::StringRef> type = json.getString("model_type");
      type && *type != "llama")
    return failure("config.json model_type '" + *type +
                   "' is not supported (lowbit reads 'llama')");
  auto integer = [&](llvm::StringRef key, int64_t &field,
                     std::optional<int64_t> fallback = {}) -> llvm::Error {
    if (std::optional<int64_t> value = json.getInteger(key)) {
      field = *value;
      return llvm::Error::success();
    }
    if (fallback) {
      field = *fallback;
      return llvm::Error::success();
    }
    return failure("config.json has no integer '" + key + "'");
  };
  if (llvm::Error error = integer("hidden_size", config.dim))
    return error;
  if (llvm::Error error = integer("num_hidden_layers", config.numLayers))
    return error;
  if (llvm::Error error = integer("num_attention_heads", config.numHeads))
    return error;
  if (llvm::Error error = integer("num_key_value_heads", config.numKVHeads,
                                  config.numHeads))
    return error;
  if (llvm::Error error = integer("intermediate_size", config.hiddenDim))
    return error;
  if (llvm::Error error = integer("vocab_size", config.vocabSize))
    return error;
  if (llvm::Error error =
          integer("max_position_embeddings", config.contextLength))
    return error;
  config.ropeTheta =
      static_cast<float>(json.getNumber("rope_theta").value_or(10000.0));
  config.rmsEpsilon =
      static_cast<float>(json.getNumber("rms_norm_eps").value_or(1e-6));
  tiedEmbeddings = json.getBoolean("tie_word_embeddings").value_or(false);
  if (const llvm::json::Object *scaling = json.getObject("rope_scaling")) {
    std::optional<llvm::StringRef> kind = scaling->getString("rope_type");
    if (!kind)
      kind = scaling->getString("type");
    if (!kind || *kind != "llama3")
      return failure("config.json rope_scaling of type '" +
                     kind.value_or("(none)") +
                     "' is not supported (lowbit reads 'llama3')");
    config.ropeScaling.factor =
        static_cast<float>(scaling->getNumber("factor").value_or(0.0));
    config.ropeScaling.lowFreqFactor =
        static_cast<float>(scaling->getNumber("low_freq_factor").value_or(1.0));
    config.ropeScaling.highFreqFactor = static_cast<float>(
        scaling->getNumber("high_freq_factor").value_or(4.0));
    config.ropeScaling.originalContextLength =
        scaling->getInteger("original_max_position_embeddings").value_or(8192);
    if (!(config.ropeScaling.factor > 0.0f))
      return failure("config.json rope_scaling needs a positive 'factor'");
  }
  return llvm::Error::success();
}

/// The GGUF name of a Hugging Face Llama tensor, or "" for tensors lowbit
/// does not use (e.g. rotary caches some exports include).
std::string ggufName(llvm::StringRef name) {
  if (name == "model.embed_tokens.weight")
    return "token_embd.weight";
  if (name == "model.norm.weight")
    return "output_norm.weight";
  if (name == "lm_head.weight")
    return "output.weight";
  if (!name.consume_front("model.layers."))
    return "";
  auto [layer, rest] = name.split('.');
  static const std::pair<llvm::StringLiteral, llvm::StringLiteral> suffixes[] =
      {{"input_layernorm.weight", "attn_norm.weight"},
       {"self_attn.q_proj.weight", "attn_q.weight"},
       {"self_attn.k_proj.weight", "attn_k.weight"},
       {"self_attn.v_proj.weight", "attn_v.weight"},
       {"self_attn.o_proj.weight", "attn_output.weight"},
       {"post_attention_layernorm.weight", "ffn_norm.weight"},
       {"mlp.gate_proj.weight", "ffn_gate.weight"},
       {"mlp.up_proj.weight", "ffn_up.weight"},
       {"mlp.down_proj.weight", "ffn_down.weight"}};
  for (const auto &[hf, gguf] : suffixes)
    if (rest == hf)
      return ("blk." + layer + "." + gguf).str();
  return "";
}

/// Reorders the rows of a q or k projection from Hugging Face's rotary
/// layout (each head's first half pairs with its second half) to adjacent
/// pairs: row (head, i, half) of the result is row (head, half, i).
std::vector<uint8_t> toAdjacentPairs(const CheckpointTensor &tensor,
                                     int64_t numHeads) {
  int64_t rows = tensor.shape[0];
  size_t rowBytes = tensor.bytes.size() / rows;
  int64_t headDim = rows / numHeads;
  std::vector<uint8_t> reordered(tensor.bytes.size());
  for (int64_t head = 0; head < numHeads; ++head)
    for (int64_t i = 0; i < headDim / 2; ++i)
      for (int64_t half = 0; half < 2; ++half) {
        int64_t from = head * headDim + half * (headDim / 2) + i;
        int64_t to = head * headDim + 2 * i + half;
        std::memcpy(&reordered[to * rowBytes], &tensor.bytes[from * rowBytes],
                    rowBytes);
      }
  return reordered;
}

/// Adds the tensors of one .safetensors file to `checkpoint`.
llvm::Error readShard(llvm::StringRef path, Checkpoint &checkpoint) {
  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> buffer = mapFile(path);
  if (!buffer)
    return buffer.takeError();
  llvm::StringRef data = (*buffer)->getBuffer();
  uint64_t headerLength;
  if (data.size() < 8)
    return failure("truncated safetensors file '" + path +
                   "': no header length");
  std::memcpy(&headerLength, data.data(), 8);
  if (headerLength > data.size() - 8)
    return failure("truncated safetensors file '" + path + "': the header of " +
                   llvm::Twine(headerLength) + " bytes does not fit in " +
                   llvm::Twine(data.size()) + " bytes");
  llvm::Expected<llvm::json::Value> header =
      llvm::json::parse(data.substr(8, headerLength));
  if (!header)
    return failure("safetensors file '" + path + "' has an invalid header: " +
                   llvm::toString(header.takeError()));
  const llvm::json::Object *entries = header->getAsObject();
  if (!entries)
    return failure("safetensors header of '" + path + "' is not an object");
  llvm::StringRef payload = data.drop_front(8 + headerLength);

  for (const auto &[key, value] : *entries) {
    llvm::StringRef name = key;
    if (name == "__metadata__")
      continue;
    const llvm::json::Object *entry = value.getAsObject();
    const llvm::json::Array *shape = entry ? entry->getArray("shape") : nullptr;
    const llvm::json::Array *offsets =
        entry ? entry->getArray("data_offsets") : nullptr;
    std::optional<llvm::StringRef> dtype =
        entry ? entry->getString("dtype") : std::nullopt;
    if (!shape || !offsets || offsets->size() != 2 || !dtype)
      return failure("safetensors entry '" + name + "' in '" + path +
                     "' lacks dtype, shape or data_offsets");
    std::string target = ggufName(name);
    if (target.empty())
      continue;
    CheckpointTensor tensor;
    if (*dtype == "F32")
      tensor.type = StoredType::F32;
    else if (*dtype == "F16")
      tensor.type = StoredType::F16;
    else if (*dtype == "BF16")
      tensor.type = StoredType::BF16;
    else
      return failure("tensor '" + name + "' is stored as " + *dtype +
                     ", which lowbit does not import (supported: F32, F16, "
                     "BF16)");
    for (const llvm::json::Value &dim : *shape) {
      std::optional<int64_t> size = dim.getAsInteger();
      if (!size || *size <= 0)
        return failure("tensor '" + name + "' has an invalid shape");
      tensor.shape.push_back(*size);
    }
    std::optional<int64_t> begin = (*offsets)[0].getAsInteger();
    std::optional<int64_t> end = (*offsets)[1].getAsInteger();
    std::optional<uint64_t> bytes =
        storedByteSize(tensor.type, tensor.numElements());
    if (!begin || !end || *begin < 0 || *end < *begin ||
        static_cast<uint64_t>(*end - *begin) != bytes)
      return failure("tensor '" + name + "' has data_offsets that do not "
                     "match its shape and dtype");
    if (static_cast<uint64_t>(*end) > payload.size())
      return failure("truncated safetensors file '" + path + "': tensor '" +
                     name + "' ends at byte " + llvm::Twine(*end) +
                     " of a data section of " + llvm::Twine(payload.size()));
    tensor.bytes = llvm::ArrayRef<uint8_t>(
        reinterpret_cast<const uint8_t *>(payload.data()) + *begin, *bytes);
    checkpoint.addTensor(target, std::move(tensor));
  }
  checkpoint.retain(std::move(*buffer));
  return llvm::Error::success();
}

} // namespace

llvm::Expected<std::unique_ptr<Checkpoint>>
lowbit::readSafetensors(llvm::StringRef path) {
  std::string directory = llvm::sys::fs::is_directory(path)
                              ? path.str()
                              : llvm::sys::path::parent_path(path).str();
  if (directory.empty())
    directory = ".";
  auto inDirectory = [&](llvm::StringRef name) {
    llvm::SmallString<256> file(directory);
    llvm::sys::path::append(file, name);
    return std::string(file);
  };

  auto checkpoint = std::make_unique<Checkpoint>();
  checkpoint->format = "safetensors";
  llvm::Expected<llvm::json::Value> config =
      readJSONFile(inDirectory("config.json"));
  if (!config)
    return config.takeError();
  if (!config->getAsObject())
    return failure("config.json is not a JSON object");
  bool tiedEmbeddings = false;
  if (llvm::Error error =
          readConfig(*config->getAsObject(), checkpoint->config, tiedEmbeddings))
    return std::move(error);

  std::vector<std::string> shards;
  if (!llvm::sys::fs::is_directory(path)) {
    shards.push_back(path.str());
  } else if (llvm::sys::fs::exists(inDirectory("model.safetensors"))) {
    shards.push_back(inDirectory("model.safetensors"));
  } else {
    llvm::Expected<llvm::json::Value> index =
        readJSONFile(inDirectory("model.safetensors.index.json"));
    if (!index)
      return index.takeError();
    const llvm::json::Object *weightMap =
        index->getAsObject() ? index->getAsObject()->getObject("weight_map")
                             : nullptr;
    if (!weightMap)
      return failure("model.safetensors.index.json has no weight_map");
    for (const auto &entry : *weightMap)
      if (std::optional<llvm::StringRef> file = entry.second.getAsString())
        if (!llvm::is_contained(shards, inDirectory(*file)))
          shards.push_back(inDirectory(*file));
    llvm::sort(shards);
  }
  for (const std::string &shard : shards)
    if (llvm::Error error = readShard(shard, *checkpoint))
      return std::move(error);

  const LlamaConfig &model = checkpoint->config;
  for (int64_t layer = 0; layer < model.numLayers; ++layer) {
    for (auto [name, heads] :
         {std::pair<std::string, int64_t>{"attn_q.weight", model.numHeads},
          {"attn_k.weight", model.numKVHeads}}) {
      std::string full = "blk." + std::to_string(layer) + "." + name;
      const CheckpointTensor *tensor = checkpoint->lookup(full);
      if (!tensor || heads <= 0 || tensor->shape.size() != 2 ||
          tensor->shape[0] % (2 * heads) != 0)
        continue; // verifyLlamaCheckpoint reports it.
      CheckpointTensor reordered = *tensor;
      reordered.bytes = checkpoint->retain(toAdjacentPairs(*tensor, heads));
      checkpoint->addTensor(full, std::move(reordered));
    }
  }
  if (!checkpoint->lookup("output.weight") && !tiedEmbeddings)
    return failure("checkpoint has no lm_head.weight and config.json does not "
                   "tie it to the embeddings");
  if (llvm::sys::fs::exists(inDirectory("tokenizer.model")))
    checkpoint->tokenizerModelPath = inDirectory("tokenizer.model");
  return checkpoint;
}
