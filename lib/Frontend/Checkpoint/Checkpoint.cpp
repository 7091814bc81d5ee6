//===- Checkpoint.cpp - Llama checkpoints in memory -------------------------===//
//
// What every checkpoint reader shares: conversion of stored tensors to f32
// (including GGUF's Q4_0 and Q8_0 block formats), the check that a
// checkpoint is a complete Llama model, and the choice of reader by content.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Frontend/Checkpoint.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"

#include <cstring>

using namespace lowbit;
using llvm::createStringError;
using llvm::inconvertibleErrorCode;

llvm::StringRef lowbit::storedTypeName(StoredType type) {
  switch (type) {
  case StoredType::F32:
    return "F32";
  case StoredType::F16:
    return "F16";
  case StoredType::BF16:
    return "BF16";
  case StoredType::Q4_0:
    return "Q4_0";
  case StoredType::Q8_0:
    return "Q8_0";
  }
  llvm_unreachable("unknown stored type");
}

/// Elements per block of GGUF's Q4_0 and Q8_0 formats.
static constexpr uint64_t kGGMLBlockElements = 32;

std::optional<uint64_t> lowbit::storedByteSize(StoredType type,
                                               uint64_t numElements) {
  switch (type) {
  case StoredType::F32:
    return numElements * 4;
  case StoredType::F16:
  case StoredType::BF16:
    return numElements * 2;
  case StoredType::Q4_0:
  case StoredType::Q8_0:
    if (numElements % kGGMLBlockElements != 0)
      return std::nullopt;
    return numElements / kGGMLBlockElements *
           (type == StoredType::Q4_0 ? 18 : 34);
  }
  llvm_unreachable("unknown stored type");
}

float lowbit::halfToFloat(uint16_t bits) {
  uint32_t sign = (bits & 0x8000u) << 16;
  uint32_t exponent = (bits >> 10) & 0x1f;
  uint32_t mantissa = bits & 0x3ff;
  uint32_t result;
  if (exponent == 0x1f) {
    result = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent != 0) {
    result = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    result = sign;
  } else {
    // Subnormal half: normalise into a float exponent.
    exponent = 113;
    while (!(mantissa & 0x400)) {
      mantissa <<= 1;
      --exponent;
    }
    result = sign | (exponent << 23) | ((mantissa & 0x3ff) << 13);
  }
  float value;
  std::memcpy(&value, &result, sizeof(value));
  return value;
}

float lowbit::bfloat16ToFloat(uint16_t bits) {
  uint32_t widened = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &widened, sizeof(value));
  return value;
}

int64_t CheckpointTensor::numElements() const {
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  return count;
}

void Checkpoint::addTensor(llvm::StringRef name, CheckpointTensor tensor) {
  tensors[name] = std::move(tensor);
}

const CheckpointTensor *Checkpoint::lookup(llvm::StringRef name) const {
  auto it = tensors.find(name);
  return it == tensors.end() ? nullptr : &it->second;
}

std::vector<std::string> Checkpoint::tensorNames() const {
  std::vector<std::string> names;
  for (const auto &entry : tensors)
    names.push_back(entry.getKey().str());
  llvm::sort(names);
  return names;
}

/// Formats a shape as `[a, b]`.
static std::string formatShape(llvm::ArrayRef<int64_t> shape) {
  std::string text = "[";
  llvm::interleave(
      shape, [&](int64_t dim) { text += std::to_string(dim); },
      [&] { text += ", "; });
  return text + "]";
}

static uint16_t loadU16(const uint8_t *bytes) {
  return static_cast<uint16_t>(bytes[0] | (bytes[1] << 8));
}

llvm::Expected<std::vector<float>>
Checkpoint::readFloat(llvm::StringRef name,
                      llvm::ArrayRef<int64_t> expectedShape) const {
  const CheckpointTensor *tensor = lookup(name);
  if (!tensor)
    return createStringError(inconvertibleErrorCode(),
                             "checkpoint has no tensor '%s'",
                             name.str().c_str());
  if (!llvm::equal(tensor->shape, expectedShape))
    return createStringError(
        inconvertibleErrorCode(), "tensor '%s' has shape %s; expected %s",
        name.str().c_str(), formatShape(tensor->shape).c_str(),
        formatShape(expectedShape).c_str());
  uint64_t count = tensor->numElements();
  std::optional<uint64_t> bytes = storedByteSize(tensor->type, count);
  if (!bytes || *bytes != tensor->bytes.size())
    return createStringError(inconvertibleErrorCode(),
                             "tensor '%s' holds %zu bytes, which do not store "
                             "%llu %s elements",
                             name.str().c_str(), tensor->bytes.size(),
                             static_cast<unsigned long long>(count),
                             storedTypeName(tensor->type).str().c_str());

  std::vector<float> values(count);
  const uint8_t *data = tensor->bytes.data();
  switch (tensor->type) {
  case StoredType::F32:
    std::memcpy(values.data(), data, count * sizeof(float));
    break;
  case StoredType::F16:
    for (uint64_t i = 0; i < count; ++i)
      values[i] = halfToFloat(loadU16(data + 2 * i));
    break;
  case StoredType::BF16:
    for (uint64_t i = 0; i < count; ++i)
      values[i] = bfloat16ToFloat(loadU16(data + 2 * i));
    break;
  case StoredType::Q4_0:
    // 18-byte blocks: an f16 scale, then 16 bytes whose low nibbles are
    // elements 0..15 and high nibbles elements 16..31, offset by 8.
    for (uint64_t block = 0; block < count / kGGMLBlockElements; ++block) {
      const uint8_t *blockData = data + block * 18;
      float scale = halfToFloat(loadU16(blockData));
      float *out = values.data() + block * kGGMLBlockElements;
      for (int j = 0; j < 16; ++j) {
        out[j] = static_cast<float>((blockData[2 + j] & 0xf) - 8) * scale;
        out[j + 16] = static_cast<float>((blockData[2 + j] >> 4) - 8) * scale;
      }
    }
    break;
  case StoredType::Q8_0:
    // 34-byte blocks: an f16 scale, then 32 signed bytes.
    for (uint64_t block = 0; block < count / kGGMLBlockElements; ++block) {
      const uint8_t *blockData = data + block * 34;
      float scale = halfToFloat(loadU16(blockData));
      for (uint64_t j = 0; j < kGGMLBlockElements; ++j)
        values[block * kGGMLBlockElements + j] =
            static_cast<float>(static_cast<int8_t>(blockData[2 + j])) * scale;
    }
    break;
  }
  return values;
}

llvm::Error lowbit::verifyLlamaCheckpoint(const Checkpoint &checkpoint) {
  const LlamaConfig &config = checkpoint.config;
  auto fail = [](const llvm::Twine &message) {
    return createStringError(inconvertibleErrorCode(), message);
  };
  struct {
    const char *name;
    int64_t value;
  } sizes[] = {{"vocabulary size", config.vocabSize},
               {"embedding dimension", config.dim},
               {"layer count", config.numLayers},
               {"head count", config.numHeads},
               {"KV head count", config.numKVHeads},
               {"feed-forward dimension", config.hiddenDim},
               {"context length", config.contextLength}};
  for (const auto &size : sizes)
    if (size.value <= 0)
      return fail(llvm::formatv("model {0} must be positive, found {1}",
                                size.name, size.value));
  if (config.dim % config.numHeads != 0)
    return fail(llvm::formatv("{0} heads do not divide the embedding "
                              "dimension {1}",
                              config.numHeads, config.dim));
  if (config.numHeads % config.numKVHeads != 0)
    return fail(llvm::formatv("{0} KV heads do not divide the {1} query heads",
                              config.numKVHeads, config.numHeads));
  if (config.headDim() % 2 != 0)
    return fail(llvm::formatv("head dimension {0} must be even for rotary "
                              "embedding",
                              config.headDim()));
  if (!(config.rmsEpsilon > 0.0f) || !(config.ropeTheta > 0.0f))
    return fail("RMS epsilon and RoPE theta must be positive");

  int64_t dim = config.dim, kvDim = config.kvDim(),
          hidden = config.hiddenDim, vocab = config.vocabSize;
  auto check = [&](const std::string &name,
                   llvm::ArrayRef<int64_t> shape) -> llvm::Error {
    const CheckpointTensor *tensor = checkpoint.lookup(name);
    if (!tensor)
      return fail("checkpoint is missing tensor '" + name + "'");
    if (!llvm::equal(tensor->shape, shape))
      return fail("tensor '" + name + "' has shape " +
                  formatShape(tensor->shape) + "; expected " +
                  formatShape(shape));
    return llvm::Error::success();
  };
  if (llvm::Error error = check("token_embd.weight", {vocab, dim}))
    return error;
  if (llvm::Error error = check("output_norm.weight", {dim}))
    return error;
  if (checkpoint.lookup("output.weight"))
    if (llvm::Error error = check("output.weight", {vocab, dim}))
      return error;
  if (checkpoint.lookup("rope_freqs.weight"))
    if (llvm::Error error =
            check("rope_freqs.weight", {config.headDim() / 2}))
      return error;
  for (int64_t layer = 0; layer < config.numLayers; ++layer) {
    std::string prefix = "blk." + std::to_string(layer) + ".";
    std::pair<const char *, llvm::SmallVector<int64_t, 2>> expected[] = {
        {"attn_norm.weight", {dim}},          {"attn_q.weight", {dim, dim}},
        {"attn_k.weight", {kvDim, dim}},      {"attn_v.weight", {kvDim, dim}},
        {"attn_output.weight", {dim, dim}},   {"ffn_norm.weight", {dim}},
        {"ffn_gate.weight", {hidden, dim}},   {"ffn_up.weight", {hidden, dim}},
        {"ffn_down.weight", {dim, hidden}}};
    for (const auto &[name, shape] : expected)
      if (llvm::Error error = check(prefix + name, shape))
        return error;
  }
  if (checkpoint.vocabulary &&
      static_cast<int64_t>(checkpoint.vocabulary->pieces.size()) != vocab)
    return fail(llvm::formatv("vocabulary has {0} pieces but the model has "
                              "{1} embedding rows",
                              checkpoint.vocabulary->pieces.size(), vocab));
  return llvm::Error::success();
}

llvm::Expected<std::unique_ptr<Checkpoint>>
lowbit::openCheckpoint(llvm::StringRef path) {
  auto withPath = [&](llvm::Error error) {
    return createStringError(inconvertibleErrorCode(), "%s: %s",
                             path.str().c_str(),
                             llvm::toString(std::move(error)).c_str());
  };
  llvm::Expected<std::unique_ptr<Checkpoint>> checkpoint = nullptr;
  if (llvm::sys::fs::is_directory(path)) {
    checkpoint = readSafetensors(path);
  } else {
    auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                              /*RequiresNullTerminator=*/false);
    if (!buffer)
      return createStringError(buffer.getError(), "cannot open '%s': %s",
                               path.str().c_str(),
                               buffer.getError().message().c_str());
    llvm::StringRef head = (*buffer)->getBuffer().take_front(9);
    uint64_t headerLength = 0;
    if (head.size() == 9)
      std::memcpy(&headerLength, head.data(), 8);
    if (head.starts_with("GGUF"))
      checkpoint = readGGUF(path);
    else if (head.size() == 9 && head.back() == '{' &&
             headerLength < (*buffer)->getBufferSize())
      checkpoint = readSafetensors(path);
    else if (path.ends_with(".bin"))
      checkpoint = readLlama2c(path);
    else
      return withPath(createStringError(
          inconvertibleErrorCode(),
          "not a checkpoint lowbit can read (expected GGUF, safetensors or a "
          "llama2.c .bin)"));
  }
  if (!checkpoint)
    return withPath(checkpoint.takeError());
  if (llvm::Error error = verifyLlamaCheckpoint(**checkpoint))
    return withPath(std::move(error));
  return checkpoint;
}
