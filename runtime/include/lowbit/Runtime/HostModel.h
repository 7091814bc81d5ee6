//===- HostModel.h - run a model compiled for this CPU ----------*- C++ -*-===//
//
// Loads the code of a CPU artifact (x86-64 or AArch64, matching the
// machine), owns the weights, the KV cache state and the activation
// scratch, and runs the compiled entry points. It does no model arithmetic
// itself: each step is one call of @lowbit_prefill or @lowbit_decode.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_RUNTIME_HOSTMODEL_H
#define LOWBIT_RUNTIME_HOSTMODEL_H

#include "lowbit/Runtime/Artifact.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lowbit::runtime {

/// The CPU features (LLVM names: avx2, fma, dotprod, i8mm, ...) this
/// machine lacks among `required` (comma-separated), comma-separated; empty
/// when it has them all.
std::string findMissingCPUFeatures(const std::string &required);

/// The architecture this runtime was built for: "x86_64" or "aarch64".
const char *getHostArchitecture();

/// A compiled model ready to run on this CPU.
class HostModel {
public:
  ~HostModel();
  HostModel(const HostModel &) = delete;
  HostModel &operator=(const HostModel &) = delete;

  /// Loads `artifact`'s code and weights; on failure returns null and sets
  /// `error` (wrong architecture, missing CPU features, bad metadata).
  static std::unique_ptr<HostModel> load(std::unique_ptr<Artifact> artifact,
                                         std::string &error);

  /// Runs entry point `entry` ("prefill" or "decode") on `count` tokens at
  /// positions start.., appending to the KV caches, and writes count x
  /// vocabSize() logits; false with `error` set for bad tokens or positions.
  bool run(const std::string &entry, const int32_t *tokens, int64_t count,
           int64_t start, std::vector<float> &logits, std::string &error);

  /// Forgets the KV caches (clears the state).
  void resetCaches();

  int64_t vocabSize() const { return vocab; }
  int64_t contextLength() const { return context; }
  const Artifact &getArtifact() const { return *artifact; }

private:
  HostModel() = default;

  /// The signature of a compiled entry point's C interface.
  struct MemRef1D {
    void *allocated;
    void *aligned;
    int64_t offset;
    int64_t size;
    int64_t stride;
  };
  using EntryPoint = void (*)(MemRef1D *weights, MemRef1D *state,
                              MemRef1D *scratch, MemRef1D *tokens,
                              MemRef1D *positions, int64_t start,
                              MemRef1D *logits);

  std::unique_ptr<Artifact> artifact;
  void *library = nullptr;
  EntryPoint prefill = nullptr, decode = nullptr;
  int64_t vocab = 0, context = 0, scratchBytesPerToken = 0;
  std::vector<uint8_t> state, scratch;
  std::vector<int32_t> positions;
};

} // namespace lowbit::runtime

#endif // LOWBIT_RUNTIME_HOSTMODEL_H
