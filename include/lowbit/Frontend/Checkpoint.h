//===- Checkpoint.h - Llama checkpoints in memory ---------------*- C++ -*-===//
//
// A checkpoint as lowbit sees it whatever file it came from: the model's
// hyperparameters, its vocabulary when the file embeds one, and its tensors
// under GGUF names, still in their stored element type and mapped from disk.
// The readers for GGUF, safetensors and llama2.c files all produce this.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_FRONTEND_CHECKPOINT_H
#define LOWBIT_FRONTEND_CHECKPOINT_H

#include "lowbit/Frontend/Tokenizer.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lowbit {

/// Element types a checkpoint tensor may be stored in. Q4_0 and Q8_0 are
/// GGUF's block formats (32 elements per block, one f16 scale), which lowbit
/// dequantizes on import.
enum class StoredType { F32, F16, BF16, Q4_0, Q8_0 };

/// Name of a stored type as checkpoint formats spell it.
llvm::StringRef storedTypeName(StoredType type);

/// Bytes `numElements` elements occupy when stored as `type`, or nullopt when
/// the count does not fill whole blocks of a block format.
std::optional<uint64_t> storedByteSize(StoredType type, uint64_t numElements);

/// Llama-3 style frequency-dependent RoPE scaling; `factor` 0 means none.
struct RopeScaling {
  float factor = 0.0f;
  float lowFreqFactor = 1.0f;
  float highFreqFactor = 4.0f;
  int64_t originalContextLength = 8192;
};

/// Hyperparameters of a Llama-architecture model.
struct LlamaConfig {
  int64_t vocabSize = 0;
  int64_t dim = 0;
  int64_t numLayers = 0;
  int64_t numHeads = 0;
  int64_t numKVHeads = 0;
  int64_t hiddenDim = 0;
  int64_t contextLength = 0;
  float ropeTheta = 10000.0f;
  float rmsEpsilon = 1e-5f;
  RopeScaling ropeScaling;

  int64_t headDim() const { return dim / numHeads; }
  int64_t kvDim() const { return numKVHeads * headDim(); }
};

/// One tensor of a checkpoint: its shape outermost dimension first (the
/// PyTorch order, [out, in] for a linear weight) and its stored bytes.
struct CheckpointTensor {
  llvm::SmallVector<int64_t, 2> shape;
  StoredType type = StoredType::F32;
  llvm::ArrayRef<uint8_t> bytes;

  int64_t numElements() const;
};

/// A checkpoint: configuration, optional vocabulary and tensors by GGUF name.
class Checkpoint {
public:
  LlamaConfig config;
  std::optional<Vocabulary> vocabulary;
  /// File format the checkpoint was read from ("gguf", "safetensors", ...).
  std::string format;
  /// A SentencePiece model that came with the checkpoint, when it carries no
  /// vocabulary of its own (Hugging Face directories), or "".
  std::string tokenizerModelPath;

  /// Adds a tensor whose bytes live in memory the checkpoint owns or maps.
  void addTensor(llvm::StringRef name, CheckpointTensor tensor);
  /// The tensor called `name`, or null.
  const CheckpointTensor *lookup(llvm::StringRef name) const;
  /// Names of all tensors, sorted.
  std::vector<std::string> tensorNames() const;
  /// Reads tensor `name` as f32 after checking that it has `expectedShape`.
  llvm::Expected<std::vector<float>>
  readFloat(llvm::StringRef name, llvm::ArrayRef<int64_t> expectedShape) const;
  /// Keeps a mapped file alive as long as the checkpoint.
  void retain(std::unique_ptr<llvm::MemoryBuffer> buffer) {
    buffers.push_back(std::move(buffer));
  }
  /// Keeps converted tensor data alive as long as the checkpoint; returns it.
  llvm::ArrayRef<uint8_t> retain(std::vector<uint8_t> data) {
    ownedData.push_back(std::make_unique<std::vector<uint8_t>>(std::move(data)));
    return *ownedData.back();
  }

private:
  llvm::StringMap<CheckpointTensor> tensors;
  std::vector<std::unique_ptr<llvm::MemoryBuffer>> buffers;
  std::vector<std::unique_ptr<std::vector<uint8_t>>> ownedData;
};

/// Checks that `checkpoint` holds every tensor a Llama model of its
/// configuration needs, with the right shape, and that the configuration is
/// consistent (heads divide the dimension, KV heads divide heads, ...).
llvm::Error verifyLlamaCheckpoint(const Checkpoint &checkpoint);

/// Reads a GGUF (v2 or v3) file of architecture `llama`.
llvm::Expected<std::unique_ptr<Checkpoint>> readGGUF(llvm::StringRef path);

/// Reads a Hugging Face Llama checkpoint: `path` is its directory or one of
/// its `.safetensors` files, with `config.json` (and optionally
/// `tokenizer.model`) beside it. Sharded checkpoints are read through
/// `model.safetensors.index.json`. q/k projections are converted from the
/// Hugging Face rotary layout to GGUF's.
llvm::Expected<std::unique_ptr<Checkpoint>>
readSafetensors(llvm::StringRef path);

/// Reads a llama2.c checkpoint (`.bin`, the float32 format of run.c) with
/// the `tokenizer.bin` beside it.
llvm::Expected<std::unique_ptr<Checkpoint>> readLlama2c(llvm::StringRef path);

/// Reads a checkpoint, choosing the reader from the file's contents, and
/// verifies it.
llvm::Expected<std::unique_ptr<Checkpoint>>
openCheckpoint(llvm::StringRef path);

/// Converts IEEE half and bfloat16 bit patterns to float.
float halfToFloat(uint16_t bits);
float bfloat16ToFloat(uint16_t bits);

} // namespace lowbit

#endif // LOWBIT_FRONTEND_CHECKPOINT_H
