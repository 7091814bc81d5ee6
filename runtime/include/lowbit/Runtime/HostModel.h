//===- HostModel.h - run a compiled model from this CPU ---------*- C++ -*-===//
//
// Loads the code of an artifact (x86-64 or AArch64, matching the machine),
// owns the weights, the KV cache state and the activation scratch (in
// device memory for a GPU model, see GpuExecution.h), and runs the compiled
// entry points. It does no model arithmetic itself: each step is one call
// of @lowbit_prefill or @lowbit_decode.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_RUNTIME_HOSTMODEL_H
#define LOWBIT_RUNTIME_HOSTMODEL_H

#include "lowbit/Runtime/Artifact.h"
#include "lowbit/Runtime/GpuExecution.h"

#include <cstdint>
#include <map>
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

/// A compiled model ready to run: on this CPU, or on an NVIDIA GPU whose
/// kernels its host code launches (GpuExecution).
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

  /// Whether the code times its kernel calls (lowbit-compile --profile).
  bool isProfiled() const { return !profiles.empty(); }

  /// The kernels entry point `entry` calls, in order, and the counter ticks
  /// each took in the last run of it (empty without profiling). Ticks are
  /// the x86-64 TSC or the AArch64 virtual counter: proportional to time.
  struct KernelTicks {
    std::vector<std::string> kernels;
    std::vector<uint64_t> ticks;
  };
  const KernelTicks *getLastProfile(const std::string &entry) const;

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
  /// An entry point of profiled code: counter values before the first and
  /// after every kernel call go to `counters`.
  using ProfiledEntryPoint = void (*)(MemRef1D *weights, MemRef1D *state,
                                      MemRef1D *scratch, MemRef1D *tokens,
                                      MemRef1D *positions, int64_t start,
                                      MemRef1D *logits, MemRef1D *counters);

  std::unique_ptr<Artifact> artifact;
  void *library = nullptr;
  EntryPoint prefill = nullptr, decode = nullptr;
  int64_t vocab = 0, context = 0, scratchBytesPerToken = 0;
  std::vector<uint8_t> state, scratch;
  std::vector<int32_t> positions;
  /// Per profiled entry point ("prefill", "decode").
  std::map<std::string, KernelTicks> profiles;
  std::vector<uint64_t> counters;
  /// The device of a GPU model (format `lowbit-gpu`), whose entry points
  /// take device buffers and launch kernels.
  std::unique_ptr<GpuExecution> gpu;
};

} // namespace lowbit::runtime

#endif // LOWBIT_RUNTIME_HOSTMODEL_H
