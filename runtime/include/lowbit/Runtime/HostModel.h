//===- HostModel.h - run a compiled model from this CPU ---------*- C++ -*-===//
//
// Loads the code of an artifact (x86-64 or AArch64, matching the machine),
// owns the weights, the KV cache state and the activation scratch (in
// device memory for a GPU model, see GpuExecution.h), and runs the compiled
// entry points. It does no model arithmetic itself: each step is one call
// of @lowbit_prefill, @lowbit_decode or @lowbit_decode_batch.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_RUNTIME_HOSTMODEL_H
#define LOWBIT_RUNTIME_HOSTMODEL_H

#include "lowbit/Runtime/Artifact.h"
#include "lowbit/Runtime/Collectives.h"
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
  ///
  /// A GPU model sharded over N tensor-parallel ranks (metadata
  /// `tensor_parallel`) started by a launcher (RankEnvironment: torchrun,
  /// mpirun or srun variables) is the one rank the launcher says, on GPU
  /// LOWBIT_GPU or else its local rank, and the ranks exchange data
  /// through NCCL, finding each other through the NCCL id in the file
  /// LOWBIT_NCCL_ID_FILE. Otherwise (a CPU model, or a GPU model started
  /// without a launcher) this process runs all N ranks, one thread each
  /// (GPU models all on GPU LOWBIT_GPU, default 0), exchanging partial
  /// results through host memory.
  static std::unique_ptr<HostModel> load(std::unique_ptr<Artifact> artifact,
                                         std::string &error);

  /// Runs entry point `entry` ("prefill" or "decode") on `count` tokens at
  /// positions start.. of sequence `sequence`, appending to its KV caches,
  /// and writes count x vocabSize() logits; false with `error` set for bad
  /// tokens, positions or sequences.
  bool run(const std::string &entry, const int32_t *tokens, int64_t count,
           int64_t start, std::vector<float> &logits, std::string &error,
           int64_t sequence = 0);

  /// Runs one decode step of sequences 0..count-1 together (the batched
  /// decode entry point): tokens[t] at position positions[t] of sequence t,
  /// and writes count x vocabSize() logits; false with `error` set for bad
  /// tokens or positions, more rows than sequences, or a model compiled
  /// without the entry point.
  bool runBatchedDecode(const int32_t *tokens, const int64_t *positions,
                        int64_t count, std::vector<float> &logits,
                        std::string &error);

  /// Makes room for `count` sequences, each with KV caches of its own, all
  /// empty, on every rank; false with `error` set when `count` is out of
  /// range or the memory cannot be had (every rank then goes back to the
  /// sequences it had, emptied, or, when even that fails, to none, and
  /// steps are refused until a later call succeeds). A model starts with
  /// one. The memory is taken at once (on a CPU, zeroed pages).
  bool setSequences(int64_t count, std::string &error);
  /// The most sequences setSequences takes.
  static constexpr int64_t kMaxSequences = 4096;
  int64_t getSequences() const { return sequences; }

  /// Forgets the KV caches of every sequence (clears the state).
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

  /// This process's tensor-parallel rank (0 when all ranks run here) and
  /// the number of ranks.
  int getRank() const { return rank; }
  int getWorldSize() const { return worldSize; }

  int64_t vocabSize() const { return vocab; }
  int64_t contextLength() const { return context; }
  const Artifact &getArtifact() const { return *artifact; }

private:
  HostModel() = default;

  /// Loads the code and the weights of `rank` of `worldSize` (checked
  /// metadata; the GPU, collectives and peers are set up by load()).
  static std::unique_ptr<HostModel> loadRank(std::shared_ptr<Artifact> artifact,
                                             int rank, int worldSize,
                                             std::string &error);
  /// One step of an entry point for one rank.
  struct Step {
    std::string entry;
    const int32_t *tokens;
    int64_t count;
    /// The first position of a one-sequence step, and its sequence.
    int64_t start = 0, sequence = 0;
    /// The position of each row of a batched decode step (row t is
    /// sequence t's); null for one-sequence steps.
    const int64_t *rowPositions = nullptr;
  };
  /// `step` on every rank (each on a thread of its own when the ranks run
  /// here), each ending with the whole logits.
  bool runOnRanks(const Step &step, std::vector<float> &logits,
                  std::string &error);
  /// Makes this rank's state hold `count` empty sequences; on failure it
  /// holds none (every step is refused) and `error` is set.
  bool resizeState(int64_t count, std::string &error);
  /// `step` for this rank alone, with its collectives active.
  bool runRank(const Step &step, std::vector<float> &logits,
               std::string &error);
  /// Checks `step`'s entry point, tokens and positions and fills
  /// `positions`; false with `error` set.
  bool checkStep(const Step &step, std::string &error);

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

  std::shared_ptr<Artifact> artifact;
  /// The memfd the code was loaded from, open while it is loaded, so that
  /// no other model's code gets the same /proc/self/fd path (dlopen would
  /// return this library again).
  int codeDescriptor = -1;
  void *library = nullptr;
  int rank = 0, worldSize = 1;
  /// How this rank exchanges partial results with the others.
  std::unique_ptr<Collectives> collectives;
  /// A sharded CPU model's other ranks, run on threads of their own.
  std::vector<std::unique_ptr<HostModel>> peers;
  EntryPoint prefill = nullptr, decode = nullptr, batchedDecode = nullptr;
  /// `stateBytes` is one sequence's state; the state holds `sequences`.
  int64_t vocab = 0, context = 0, scratchBytesPerToken = 0, stateBytes = 0;
  int64_t sequences = 1;
  /// This rank's weights section (host memory; a GPU model uploads it).
  std::string_view weights;
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
