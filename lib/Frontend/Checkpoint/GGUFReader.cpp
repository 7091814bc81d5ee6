//===- GGUFReader.cpp - GGUF checkpoint reader ------------------------------===//
//
// Reads GGUF v2/v3 files of architecture `llama`: metadata, the embedded
// SentencePiece-style vocabulary and tensor descriptors. Tensor data stays in
// the memory-mapped file. Every read is bounds-checked, so a truncated or
// corrupt file ends in an error that says what was being read and where.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Frontend/Checkpoint.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FormatVariadic.h"

#include <cstring>
#include <variant>

using namespace lowbit;
using llvm::createStringError;
using llvm::inconvertibleErrorCode;

namespace {

/// GGUF metadata value types.
enum class ValueType : uint32_t {
  UInt8 = 0,
  Int8 = 1,
  UInt16 = 2,
  Int16 = 3,
  UInt32 = 4,
  Int32 = 5,
  Float32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  UInt64 = 10,
  Int64 = 11,
  Float64 = 12,
};

/// A scalar metadata value; integers widen to int64, floats to double.
using Scalar = std::variant<int64_t, double, bool, std::string>;

/// A metadata value: a scalar or an array of scalars.
struct Value {
  Scalar scalar;
  std::vector<Scalar> array;
  bool isArray = false;
};

/// A bounds-checked little-endian cursor over the file.
class Cursor {
public:
  Cursor(llvm::StringRef data) : data(data) {}

  uint64_t offset() const { return position; }

  llvm::Error need(uint64_t bytes, const llvm::Twine &what) {
    if (bytes <= data.size() - position)
      return llvm::Error::success();
    return createStringError(
        inconvertibleErrorCode(),
        "truncated GGUF file: %s needs %llu bytes at offset %llu but the file "
        "has %zu",
        what.str().c_str(), static_cast<unsigned long long>(bytes),
        static_cast<unsigned long long>(position), data.size());
  }

  template <typename T>
  llvm::Expected<T> read(const llvm::Twine &what) {
    if (llvm::Error error = need(sizeof(T), what))
      return std::move(error);
    T value;
    std::memcpy(&value, data.data() + position, sizeof(T));
    position += sizeof(T);
    return value;
  }

  llvm::Expected<std::string> readString(const llvm::Twine &what) {
    llvm::Expected<uint64_t> length = read<uint64_t>(what + " length");
    if (!length)
      return length.takeError();
    if (llvm::Error error = need(*length, what))
      return std::move(error);
    std::string text(data.data() + position, *length);
    position += *length;
    return text;
  }

private:
  llvm::StringRef data;
  uint64_t position = 0;
};

/// Reads one scalar of `type`.
llvm::Expected<Scalar> readScalar(Cursor &cursor, ValueType type,
                                  const llvm::Twine &what) {
  auto widen = [&](auto tag) -> llvm::Expected<Scalar> {
    using T = decltype(tag);
    llvm::Expected<T> value = cursor.read<T>(what);
    if (!value)
      return value.takeError();
    if constexpr (std::is_floating_point_v<T>)
      return Scalar(static_cast<double>(*value));
    else
      return Scalar(static_cast<int64_t>(*value));
  };
  switch (type) {
  case ValueType::UInt8:
    return widen(uint8_t());
  case ValueType::Int8:
    return widen(int8_t());
  case ValueType::UInt16:
    return widen(uint16_t());
  case ValueType::Int16:
    return widen(int16_t());
  case ValueType::UInt32:
    return widen(uint32_t());
  case ValueType::Int32:
    return widen(int32_t());
  case ValueType::UInt64:
    return widen(uint64_t());
  case ValueType::Int64:
    return widen(int64_t());
  case ValueType::Float32:
    return widen(float());
  case ValueType::Float64:
    return widen(double());
  case ValueType::Bool: {
    llvm::Expected<uint8_t> value = cursor.read<uint8_t>(what);
    if (!value)
      return value.takeError();
    return Scalar(*value != 0);
  }
  case ValueType::String: {
    llvm::Expected<std::string> value = cursor.readString(what);
    if (!value)
      return value.takeError();
    return Scalar(std::move(*value));
  }
  case ValueType::Array:
    break;
  }
  return createStringError(inconvertibleErrorCode(),
                           "GGUF %s has unknown value type %u",
                           what.str().c_str(), static_cast<unsigned>(type));
}

/// Reads a metadata value of `type`, which may be an array.
llvm::Expected<Value> readValue(Cursor &cursor, uint32_t type,
                                const llvm::Twine &what, uint64_t fileSize) {
  Value value;
  if (static_cast<ValueType>(type) != ValueType::Array) {
    llvm::Expected<Scalar> scalar =
        readScalar(cursor, static_cast<ValueType>(type), what);
    if (!scalar)
      return scalar.takeError();
    value.scalar = std::move(*scalar);
    return value;
  }
  llvm::Expected<uint32_t> elementType = cursor.read<uint32_t>(what + " type");
  if (!elementType)
    return elementType.takeError();
  llvm::Expected<uint64_t> count = cursor.read<uint64_t>(what + " count");
  if (!count)
    return count.takeError();
  if (static_cast<ValueType>(*elementType) == ValueType::Array)
    return createStringError(inconvertibleErrorCode(),
                             "GGUF %s is an array of arrays, which lowbit "
                             "does not read",
                             what.str().c_str());
  // Every element takes at least one byte: a larger count is corrupt.
  if (*count > fileSize)
    return createStringError(inconvertibleErrorCode(),
                             "GGUF %s claims %llu elements, more than the "
                             "file has bytes",
                             what.str().c_str(),
                             static_cast<unsigned long long>(*count));
  value.isArray = true;
  value.array.reserve(*count);
  for (uint64_t i = 0; i < *count; ++i) {
    llvm::Expected<Scalar> element =
        readScalar(cursor, static_cast<ValueType>(*elementType),
                   what + " element " + llvm::Twine(i));
    if (!element)
      return element.takeError();
    value.array.push_back(std::move(*element));
  }
  return value;
}

/// Typed access to the metadata with messages that name the key.
class Metadata {
public:
  llvm::StringMap<Value> values;

  bool has(llvm::StringRef key) const { return values.count(key); }

  llvm::Expected<int64_t> integer(llvm::StringRef key,
                                  std::optional<int64_t> fallback = {}) const {
    auto it = values.find(key);
    if (it == values.end()) {
      if (fallback)
        return *fallback;
      return missing(key);
    }
    if (const int64_t *value = std::get_if<int64_t>(&it->second.scalar);
        value && !it->second.isArray)
      return *value;
    return wrongType(key, "an integer");
  }

  llvm::Expected<double> real(llvm::StringRef key,
                              std::optional<double> fallback = {}) const {
    auto it = values.find(key);
    if (it == values.end()) {
      if (fallback)
        return *fallback;
      return missing(key);
    }
    if (const double *value = std::get_if<double>(&it->second.scalar);
        value && !it->second.isArray)
      return *value;
    return wrongType(key, "a float");
  }

  llvm::Expected<std::string> string(llvm::StringRef key) const {
    auto it = values.find(key);
    if (it == values.end())
      return missing(key);
    if (const std::string *value = std::get_if<std::string>(&it->second.scalar);
        value && !it->second.isArray)
      return *value;
    return wrongType(key, "a string");
  }

  /// The array under `key` with elements of type T, or an error.
  template <typename T>
  llvm::Expected<std::vector<T>> array(llvm::StringRef key) const {
    auto it = values.find(key);
    if (it == values.end())
      return missing(key);
    if (!it->second.isArray)
      return wrongType(key, "an array");
    std::vector<T> result;
    result.reserve(it->second.array.size());
    for (const Scalar &element : it->second.array) {
      const T *value = std::get_if<T>(&element);
      if (!value)
        return wrongType(key, "an array of the expected element type");
      result.push_back(*value);
    }
    return result;
  }

private:
  static llvm::Error missing(llvm::StringRef key) {
    return createStringError(inconvertibleErrorCode(),
                             "GGUF metadata has no key '%s'",
                             key.str().c_str());
  }
  static llvm::Error wrongType(llvm::StringRef key, llvm::StringRef expected) {
    return createStringError(inconvertibleErrorCode(),
                             "GGUF metadata '%s' is not %s", key.str().c_str(),
                             expected.str().c_str());
  }
};

/// Maps a ggml tensor type id to the stored types lowbit reads, or names the
/// type it refuses.
llvm::Expected<StoredType> storedTypeOf(uint32_t ggmlType,
                                        llvm::StringRef tensorName) {
  switch (ggmlType) {
  case 0:
    return StoredType::F32;
  case 1:
    return StoredType::F16;
  case 2:
    return StoredType::Q4_0;
  case 8:
    return StoredType::Q8_0;
  case 30:
    return StoredType::BF16;
  }
  static const char *const names[] = {
      "F32",  "F16",  "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1",
      "Q8_0", "Q8_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K"};
  std::string name = ggmlType < std::size(names)
                         ? std::string(names[ggmlType])
                         : "ggml type " + std::to_string(ggmlType);
  return createStringError(inconvertibleErrorCode(),
                           "tensor '%s' is stored as %s, which lowbit does not "
                           "import (supported: F32, F16, BF16, Q4_0, Q8_0)",
                           tensorName.str().c_str(), name.c_str());
}

/// Reads the llama hyperparameters out of the metadata.
llvm::Error readConfig(const Metadata &metadata, LlamaConfig &config) {
  llvm::Expected<std::string> architecture =
      metadata.string("general.architecture");
  if (!architecture)
    return architecture.takeError();
  if (*architecture != "llama")
    return createStringError(inconvertibleErrorCode(),
                             "GGUF architecture '%s' is not supported "
                             "(lowbit reads 'llama')",
                             architecture->c_str());
  auto integer = [&](llvm::StringRef key, int64_t &field,
                     std::optional<int64_t> fallback = {}) -> llvm::Error {
    llvm::Expected<int64_t> value = metadata.integer(key, fallback);
    if (!value)
      return value.takeError();
    field = *value;
    return llvm::Error::success();
  };
  if (llvm::Error error = integer("llama.embedding_length", config.dim))
    return error;
  if (llvm::Error error = integer("llama.block_count", config.numLayers))
    return error;
  if (llvm::Error error = integer("llama.attention.head_count", config.numHeads))
    return error;
  if (llvm::Error error = integer("llama.attention.head_count_kv",
                                  config.numKVHeads, config.numHeads))
    return error;
  if (llvm::Error error =
          integer("llama.feed_forward_length", config.hiddenDim))
    return error;
  if (llvm::Error error = integer("llama.context_length", config.contextLength))
    return error;
  if (llvm::Error error = integer("llama.vocab_size", config.vocabSize, 0))
    return error;
  llvm::Expected<double> theta = metadata.real("llama.rope.freq_base", 10000.0);
  if (!theta)
    return theta.takeError();
  config.ropeTheta = static_cast<float>(*theta);
  llvm::Expected<double> epsilon =
      metadata.real("llama.attention.layer_norm_rms_epsilon", 1e-5);
  if (!epsilon)
    return epsilon.takeError();
  config.rmsEpsilon = static_cast<float>(*epsilon);
  if (metadata.has("llama.rope.scaling.type"))
    return createStringError(inconvertibleErrorCode(),
                             "GGUF RoPE scaling ('llama.rope.scaling.type') is "
                             "not supported yet");
  return llvm::Error::success();
}

/// Reads the embedded SentencePiece-style vocabulary, when there is one.
llvm::Expected<std::optional<Vocabulary>>
readVocabulary(const Metadata &metadata) {
  if (!metadata.has("tokenizer.ggml.tokens"))
    return std::nullopt;
  llvm::Expected<std::string> model = metadata.string("tokenizer.ggml.model");
  if (!model)
    return model.takeError();
  if (*model != "llama")
    return createStringError(inconvertibleErrorCode(),
                             "GGUF tokenizer model '%s' is not supported "
                             "(lowbit reads the SentencePiece 'llama' model)",
                             model->c_str());
  Vocabulary vocabulary;
  llvm::Expected<std::vector<std::string>> pieces =
      metadata.array<std::string>("tokenizer.ggml.tokens");
  if (!pieces)
    return pieces.takeError();
  vocabulary.pieces = std::move(*pieces);
  size_t size = vocabulary.pieces.size();

  if (metadata.has("tokenizer.ggml.scores")) {
    llvm::Expected<std::vector<double>> scores =
        metadata.array<double>("tokenizer.ggml.scores");
    if (!scores)
      return scores.takeError();
    if (scores->size() != size)
      return createStringError(inconvertibleErrorCode(),
                               "GGUF vocabulary has %zu tokens but %zu scores",
                               size, scores->size());
    vocabulary.scores.assign(scores->begin(), scores->end());
  } else {
    vocabulary.scores.assign(size, 0.0f);
  }
  vocabulary.kinds.assign(size, TokenKind::Normal);
  if (metadata.has("tokenizer.ggml.token_type")) {
    llvm::Expected<std::vector<int64_t>> kinds =
        metadata.array<int64_t>("tokenizer.ggml.token_type");
    if (!kinds)
      return kinds.takeError();
    if (kinds->size() != size)
      return createStringError(inconvertibleErrorCode(),
                               "GGUF vocabulary has %zu tokens but %zu token "
                               "types",
                               size, kinds->size());
    for (size_t i = 0; i < size; ++i) {
      if ((*kinds)[i] < 1 || (*kinds)[i] > 6)
        return createStringError(inconvertibleErrorCode(),
                                 "GGUF token %zu has unknown type %lld", i,
                                 static_cast<long long>((*kinds)[i]));
      vocabulary.kinds[i] = static_cast<TokenKind>((*kinds)[i]);
    }
  }
  auto tokenId = [&](llvm::StringRef key, int32_t &field) -> llvm::Error {
    llvm::Expected<int64_t> id = metadata.integer(key, field);
    if (!id)
      return id.takeError();
    if (*id < 0 || static_cast<size_t>(*id) >= size)
      return createStringError(inconvertibleErrorCode(),
                               "GGUF '%s' is %lld, outside the vocabulary of "
                               "%zu tokens",
                               key.str().c_str(), static_cast<long long>(*id),
                               size);
    field = static_cast<int32_t>(*id);
    return llvm::Error::success();
  };
  if (llvm::Error error = tokenId("tokenizer.ggml.bos_token_id",
                                  vocabulary.bosId))
    return std::move(error);
  if (llvm::Error error = tokenId("tokenizer.ggml.eos_token_id",
                                  vocabulary.eosId))
    return std::move(error);
  if (llvm::Error error = tokenId("tokenizer.ggml.unknown_token_id",
                                  vocabulary.unknownId))
    return std::move(error);
  if (auto it = metadata.values.find("tokenizer.ggml.add_bos_token");
      it != metadata.values.end())
    if (const bool *addBos = std::get_if<bool>(&it->second.scalar))
      vocabulary.addBos = *addBos;
  return vocabulary;
}

} // namespace

llvm::Expected<std::unique_ptr<Checkpoint>>
lowbit::readGGUF(llvm::StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return createStringError(buffer.getError(), "cannot open '%s': %s",
                             path.str().c_str(),
                             buffer.getError().message().c_str());
  llvm::StringRef data = (*buffer)->getBuffer();
  Cursor cursor(data);

  llvm::Expected<uint32_t> magic = cursor.read<uint32_t>("magic");
  if (!magic)
    return magic.takeError();
  if (*magic != 0x46554747u) // "GGUF" little-endian
    return createStringError(inconvertibleErrorCode(),
                             "'%s' is not a GGUF file (wrong magic)",
                             path.str().c_str());
  llvm::Expected<uint32_t> version = cursor.read<uint32_t>("version");
  if (!version)
    return version.takeError();
  if (*version != 2 && *version != 3)
    return createStringError(inconvertibleErrorCode(),
                             "GGUF version %u is not supported (lowbit reads "
                             "versions 2 and 3)",
                             *version);
  llvm::Expected<uint64_t> tensorCount = cursor.read<uint64_t>("tensor count");
  if (!tensorCount)
    return tensorCount.takeError();
  llvm::Expected<uint64_t> metadataCount =
      cursor.read<uint64_t>("metadata count");
  if (!metadataCount)
    return metadataCount.takeError();
  if (*tensorCount > data.size() || *metadataCount > data.size())
    return createStringError(inconvertibleErrorCode(),
                             "GGUF header claims %llu tensors and %llu "
                             "metadata entries, more than the file can hold",
                             static_cast<unsigned long long>(*tensorCount),
                             static_cast<unsigned long long>(*metadataCount));

  Metadata metadata;
  for (uint64_t i = 0; i < *metadataCount; ++i) {
    llvm::Expected<std::string> key =
        cursor.readString("key of metadata entry " + llvm::Twine(i));
    if (!key)
      return key.takeError();
    llvm::Expected<uint32_t> type =
        cursor.read<uint32_t>("type of metadata '" + *key + "'");
    if (!type)
      return type.takeError();
    llvm::Expected<Value> value =
        readValue(cursor, *type, "metadata '" + *key + "'", data.size());
    if (!value)
      return value.takeError();
    metadata.values[*key] = std::move(*value);
  }

  auto checkpoint = std::make_unique<Checkpoint>();
  checkpoint->format = "gguf";
  if (llvm::Error error = readConfig(metadata, checkpoint->config))
    return std::move(error);
  llvm::Expected<std::optional<Vocabulary>> vocabulary =
      readVocabulary(metadata);
  if (!vocabulary)
    return vocabulary.takeError();
  checkpoint->vocabulary = std::move(*vocabulary);

  struct TensorInfo {
    std::string name;
    llvm::SmallVector<int64_t, 2> shape;
    StoredType type;
    uint64_t offset;
  };
  std::vector<TensorInfo> infos;
  for (uint64_t i = 0; i < *tensorCount; ++i) {
    llvm::Expected<std::string> name =
        cursor.readString("name of tensor " + llvm::Twine(i));
    if (!name)
      return name.takeError();
    llvm::Expected<uint32_t> rank =
        cursor.read<uint32_t>("rank of tensor '" + *name + "'");
    if (!rank)
      return rank.takeError();
    if (*rank == 0 || *rank > 4)
      return createStringError(inconvertibleErrorCode(),
                               "tensor '%s' has rank %u; GGUF tensors have "
                               "rank 1 to 4",
                               name->c_str(), *rank);
    TensorInfo info{*name, {}, StoredType::F32, 0};
    uint64_t elements = 1;
    for (uint32_t d = 0; d < *rank; ++d) {
      llvm::Expected<uint64_t> dim =
          cursor.read<uint64_t>("dimensions of tensor '" + *name + "'");
      if (!dim)
        return dim.takeError();
      if (*dim == 0 || *dim > data.size() || elements * *dim > data.size() * 2)
        return createStringError(inconvertibleErrorCode(),
                                 "tensor '%s' has dimension %llu, which does "
                                 "not fit the file",
                                 name->c_str(),
                                 static_cast<unsigned long long>(*dim));
      elements *= *dim;
      // GGUF lists the fastest-varying dimension first.
      info.shape.insert(info.shape.begin(), static_cast<int64_t>(*dim));
    }
    llvm::Expected<uint32_t> ggmlType =
        cursor.read<uint32_t>("type of tensor '" + *name + "'");
    if (!ggmlType)
      return ggmlType.takeError();
    llvm::Expected<StoredType> type = storedTypeOf(*ggmlType, *name);
    if (!type)
      return type.takeError();
    info.type = *type;
    llvm::Expected<uint64_t> offset =
        cursor.read<uint64_t>("offset of tensor '" + *name + "'");
    if (!offset)
      return offset.takeError();
    info.offset = *offset;
    infos.push_back(std::move(info));
  }

  llvm::Expected<int64_t> alignment =
      metadata.integer("general.alignment", 32);
  if (!alignment)
    return alignment.takeError();
  if (*alignment <= 0 || (*alignment & (*alignment - 1)) != 0)
    return createStringError(inconvertibleErrorCode(),
                             "GGUF alignment %lld is not a power of two",
                             static_cast<long long>(*alignment));
  uint64_t dataStart = llvm::alignTo(cursor.offset(), *alignment);
  for (TensorInfo &info : infos) {
    CheckpointTensor tensor{info.shape, info.type, {}};
    std::optional<uint64_t> bytes =
        storedByteSize(info.type, tensor.numElements());
    if (!bytes)
      return createStringError(inconvertibleErrorCode(),
                               "tensor '%s' has %lld elements, not whole %s "
                               "blocks",
                               info.name.c_str(),
                               static_cast<long long>(tensor.numElements()),
                               storedTypeName(info.type).str().c_str());
    if (dataStart > data.size() || info.offset > data.size() - dataStart ||
        *bytes > data.size() - dataStart - info.offset)
      return createStringError(inconvertibleErrorCode(),
                               "truncated GGUF file: tensor '%s' needs bytes "
                               "up to offset %llu but the file has %zu",
                               info.name.c_str(),
                               static_cast<unsigned long long>(
                                   dataStart + info.offset + *bytes),
                               data.size());
    tensor.bytes = llvm::ArrayRef<uint8_t>(
        reinterpret_cast<const uint8_t *>(data.data()) + dataStart +
            info.offset,
        *bytes);
    checkpoint->addTensor(info.name, std::move(tensor));
  }

  if (!checkpoint->config.vocabSize) {
    if (const CheckpointTensor *embedding =
            checkpoint->lookup("token_embd.weight"))
      checkpoint->config.vocabSize = embedding->shape.front();
  }
  checkpoint->retain(std::move(*buffer));
  return checkpoint;
}
