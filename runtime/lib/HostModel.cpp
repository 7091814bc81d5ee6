//===- HostModel.cpp - run a model compiled for this CPU ------------------===//
//
// The compiled code is a shared object inside the artifact. It is loaded
// from memory (memfd_create, then dlopen of /proc/self/fd/N), so running a
// model writes no files. Entry points take MLIR's C interface: a pointer to
// a memref descriptor per buffer.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Runtime/HostModel.h"
#include "lowbit/Runtime/Nccl.h"

#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <new>
#include <sstream>
#include <thread>

#if defined(__aarch64__)
#include <sys/auxv.h>
#endif

using namespace lowbit::runtime;

const char *lowbit::runtime::getHostArchitecture() {
#if defined(__x86_64__)
  return "x86_64";
#elif defined(__aarch64__)
  return "aarch64";
#else
  return "unknown";
#endif
}

/// Whether this CPU has the LLVM-named `feature`; unknown names are
/// reported as missing.
static bool hasCPUFeature(const std::string &feature) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (feature == "sse4.1")
    return __builtin_cpu_supports("sse4.1");
  if (feature == "sse4.2")
    return __builtin_cpu_supports("sse4.2");
  if (feature == "avx")
    return __builtin_cpu_supports("avx");
  if (feature == "avx2")
    return __builtin_cpu_supports("avx2");
  if (feature == "fma")
    return __builtin_cpu_supports("fma");
  if (feature == "f16c")
    return __builtin_cpu_supports("f16c");
  if (feature == "bmi2")
    return __builtin_cpu_supports("bmi2");
  if (feature == "avx512f")
    return __builtin_cpu_supports("avx512f");
  if (feature == "avx512bw")
    return __builtin_cpu_supports("avx512bw");
  if (feature == "avx512vl")
    return __builtin_cpu_supports("avx512vl");
  if (feature == "avx512vnni")
    return __builtin_cpu_supports("avx512vnni");
  if (feature == "avxvnni")
    return __builtin_cpu_supports("avxvnni");
#elif defined(__aarch64__)
  if (feature == "neon")
    return true;
  if (feature == "dotprod")
    return getauxval(AT_HWCAP) & (1ul << 20); // HWCAP_ASIMDDP
  if (feature == "i8mm")
    return getauxval(AT_HWCAP2) & (1ul << 13); // HWCAP2_I8MM
#endif
  return false;
}

std::string lowbit::runtime::findMissingCPUFeatures(const std::string &required) {
  std::string missing;
  std::stringstream features(required);
  std::string feature;
  while (std::getline(features, feature, ','))
    if (!feature.empty() && !hasCPUFeature(feature))
      missing += (missing.empty() ? "" : ",") + feature;
  return missing;
}

HostModel::~HostModel() {
  if (library)
    dlclose(library);
  if (codeDescriptor >= 0)
    close(codeDescriptor);
}

std::unique_ptr<HostModel> HostModel::load(std::unique_ptr<Artifact> artifact,
                                           std::string &error) {
  const std::string path = artifact->getPath();
  auto fail = [&](const std::string &message) -> std::unique_ptr<HostModel> {
    error = "'" + path + "' " + message;
    return nullptr;
  };
  int64_t worldSize = 1;
  if (!artifact->metadata("tensor_parallel").empty() &&
      (!artifact->metadataInteger("tensor_parallel", worldSize) ||
       worldSize < 1 || worldSize > 1024))
    return fail("has a bad tensor_parallel value '" +
                artifact->metadata("tensor_parallel") + "'");
  bool onGPU = artifact->metadata("format") == "lowbit-gpu";
  // A sharded GPU model started by a launcher is one rank per process;
  // otherwise this process runs every rank.
  std::optional<RankEnvironment> environment;
  if (worldSize > 1 && onGPU) {
    std::string reason;
    environment = RankEnvironment::read(reason);
    if (!reason.empty())
      return fail("cannot find its rank: " + reason);
    if (environment && environment->worldSize != worldSize)
      return fail("is sharded over " + std::to_string(worldSize) +
                  " GPUs, but the launcher started " +
                  std::to_string(environment->worldSize) + " ranks");
  }
  int rank = environment ? environment->rank : 0;
  int ordinal = environment ? environment->localRank : 0;
  if (const char *chosen = std::getenv("LOWBIT_GPU"))
    ordinal = std::atoi(chosen);

  std::shared_ptr<Artifact> shared(std::move(artifact));
  // Loads rank `r` and, for a GPU model, opens its GPU.
  auto loadOn = [&](int r) -> std::unique_ptr<HostModel> {
    std::unique_ptr<HostModel> model =
        loadRank(shared, r, static_cast<int>(worldSize), error);
    if (!model)
      return nullptr;
    if (!onGPU) {
      model->state.assign(static_cast<size_t>(model->stateBytes), 0);
      return model;
    }
    std::string reason;
    model->gpu = GpuExecution::create(
        model->library, *shared, model->weights, model->stateBytes, ordinal,
        /*allowGraphs=*/model->worldSize == 1, reason);
    if (!model->gpu)
      return fail("cannot run on a GPU: " + reason);
    return model;
  };
  std::unique_ptr<HostModel> model = loadOn(rank);
  if (!model || worldSize == 1)
    return model;

  if (!environment) {
    // Every rank here, one thread each, exchanging through host memory.
    std::shared_ptr<ThreadRankGroup> group =
        ThreadRankGroup::create(model->worldSize);
    auto accessOf = [](HostModel &rankModel) {
      if (!rankModel.gpu)
        return BufferAccess::host();
      GpuExecution *execution = rankModel.gpu.get();
      return BufferAccess{
          [execution](void *to, uintptr_t from, size_t bytes) {
            CudaDevice &device = execution->getDevice();
            return device.synchronize() && device.copyToHost(to, from, bytes);
          },
          [execution](uintptr_t to, const void *from, size_t bytes) {
            return execution->getDevice().copyToDevice(to, from, bytes);
          }};
    };
    model->collectives = group->join(0, accessOf(*model));
    for (int peer = 1; peer < model->worldSize; ++peer) {
      std::unique_ptr<HostModel> other = loadOn(peer);
      if (!other)
        return nullptr;
      other->collectives = group->join(peer, accessOf(*other));
      model->peers.push_back(std::move(other));
    }
    return model;
  }

  const char *idFile = std::getenv("LOWBIT_NCCL_ID_FILE");
  if (!idFile)
    return fail("is sharded over GPUs: set LOWBIT_NCCL_ID_FILE to a file "
                "every rank sees, through which they share the NCCL id");
  std::string reason;
  NcclUniqueId id{};
  if ((rank == 0 && !NcclCommunicator::makeUniqueId(id, reason)) ||
      !NcclCommunicator::exchangeUniqueId(id, rank, idFile,
                                          /*timeoutSeconds=*/120, reason))
    return fail("cannot share the NCCL id: " + reason);
  std::unique_ptr<NcclCommunicator> communicator =
      NcclCommunicator::create(id, rank, model->worldSize, reason);
  if (!communicator)
    return fail("cannot join the NCCL communicator: " + reason);
  GpuExecution *execution = model->gpu.get();
  model->collectives = createNcclCollectives(
      std::move(communicator),
      [execution](const char *name, const std::function<bool()> &call) {
        return execution->runCollective(name, call);
      });
  return model;
}

std::unique_ptr<HostModel>
HostModel::loadRank(std::shared_ptr<Artifact> artifact, int rank, int worldSize,
                    std::string &error) {
  const std::string &path = artifact->getPath();
  auto fail = [&](const std::string &message) -> std::unique_ptr<HostModel> {
    error = "'" + path + "' " + message;
    return nullptr;
  };
  std::string format = artifact->metadata("format");
  if (format != "lowbit-cpu" && format != "lowbit-gpu")
    return fail("is not a lowbit model (format '" + format + "')");
  std::string target = artifact->metadata("target");
  if (target != getHostArchitecture())
    return fail("was compiled for " + target + "; this machine is " +
                getHostArchitecture() + " (recompile with --target=" +
                getHostArchitecture() + ")");
  std::string missing = findMissingCPUFeatures(artifact->metadata("cpu_features"));
  if (!missing.empty())
    return fail("needs CPU features this machine lacks: " + missing +
                " (compiled for cpu '" + artifact->metadata("cpu") +
                "'; recompile with a lower --cpu)");

  std::unique_ptr<HostModel> model(new HostModel());
  model->rank = rank;
  model->worldSize = worldSize;
  int64_t weightBytes = 0;
  if (!artifact->metadataInteger("vocab_size", model->vocab) ||
      !artifact->metadataInteger("context_length", model->context) ||
      !artifact->metadataInteger("weight_bytes", weightBytes) ||
      !artifact->metadataInteger("state_bytes", model->stateBytes) ||
      !artifact->metadataInteger("scratch_bytes_per_token",
                                 model->scratchBytesPerToken) ||
      model->vocab <= 0 || model->context <= 0 || model->stateBytes < 0 ||
      model->scratchBytesPerToken < 0)
    return fail("has incomplete metadata (vocab_size, context_length, "
                "weight_bytes, state_bytes, scratch_bytes_per_token)");
  std::string weightsSection = getWeightsSectionName(rank, worldSize);
  if (!artifact->hasSection(weightsSection))
    return fail("has no section '" + weightsSection +
                "' (the weights of rank " + std::to_string(rank) + " of " +
                std::to_string(worldSize) + ")");
  if (static_cast<int64_t>(artifact->section(weightsSection).size()) !=
      weightBytes)
    return fail("has a " + weightsSection + " section of " +
                std::to_string(artifact->section(weightsSection).size()) +
                " bytes; the code expects " + std::to_string(weightBytes));
  model->weights = artifact->section(weightsSection);

  std::string_view code = artifact->section(kCodeSection);
  if (code.empty())
    return fail("has no code section");
  model->codeDescriptor = memfd_create("lowbit-model", MFD_CLOEXEC);
  if (model->codeDescriptor < 0)
    return fail("cannot be loaded: memfd_create failed: " +
                std::string(std::strerror(errno)));
  size_t written = 0;
  while (written < code.size()) {
    ssize_t step = write(model->codeDescriptor, code.data() + written,
                         code.size() - written);
    if (step <= 0)
      return fail("cannot be loaded: writing its code failed");
    written += static_cast<size_t>(step);
  }
  std::string codePath =
      "/proc/self/fd/" + std::to_string(model->codeDescriptor);
  model->library = dlopen(codePath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!model->library)
    return fail(std::string("has code that does not load: ") + dlerror());
  model->prefill = reinterpret_cast<EntryPoint>(
      dlsym(model->library, "_mlir_ciface_lowbit_prefill"));
  model->decode = reinterpret_cast<EntryPoint>(
      dlsym(model->library, "_mlir_ciface_lowbit_decode"));
  model->batchedDecode = reinterpret_cast<EntryPoint>(
      dlsym(model->library, "_mlir_ciface_lowbit_decode_batch"));
  if (!model->prefill)
    return fail("has no compiled prefill entry point");
  std::string reason;
  if (!bindCollectiveSlots(model->library,
                           artifact->metadata("collective_functions"), reason))
    return fail(reason);
  for (const char *entry : {"prefill", "decode", "decode_batch"}) {
    std::string kernels = artifact->metadata(std::string("profile_") + entry);
    if (kernels.empty())
      continue;
    KernelTicks &profile = model->profiles[entry];
    for (size_t begin = 0; begin <= kernels.size();) {
      size_t end = std::min(kernels.find(',', begin), kernels.size());
      profile.kernels.push_back(kernels.substr(begin, end - begin));
      begin = end + 1;
    }
    profile.ticks.assign(profile.kernels.size(), 0);
  }
  model->artifact = std::move(artifact);
  return model;
}

bool HostModel::run(const std::string &entry, const int32_t *tokens,
                    int64_t count, int64_t start, std::vector<float> &logits,
                    std::string &error, int64_t sequence) {
  return runOnRanks(Step{entry, tokens, count, start, sequence}, logits, error);
}

bool HostModel::runBatchedDecode(const int32_t *tokens,
                                 const int64_t *positions, int64_t count,
                                 std::vector<float> &logits,
                                 std::string &error) {
  Step step{"decode_batch", tokens, count};
  step.rowPositions = positions;
  return runOnRanks(step, logits, error);
}

bool HostModel::setSequences(int64_t count, std::string &error) {
  // Positions and sequence offsets must stay within the code's index
  // arithmetic.
  if (count < 1 || count > kMaxSequences) {
    error = "the number of sequences must be in [1, " +
            std::to_string(kMaxSequences) + "], given " + std::to_string(count);
    return false;
  }
  // Every rank, or none: on failure all ranks go back to the sequences
  // they had, emptied.
  std::vector<HostModel *> ranks = {this};
  for (std::unique_ptr<HostModel> &peer : peers)
    ranks.push_back(peer.get());
  int64_t before = sequences;
  for (HostModel *rankModel : ranks) {
    if (rankModel->resizeState(count, error))
      continue;
    for (HostModel *other : ranks) {
      std::string ignored;
      if (!other->resizeState(before, ignored))
        other->sequences = 0;
    }
    return false;
  }
  return true;
}

bool HostModel::resizeState(int64_t count, std::string &error) {
  if (gpu) {
    if (!gpu->resizeState(count * stateBytes, error)) {
      // No state: every step is refused until a resize succeeds.
      sequences = 0;
      return false;
    }
    sequences = count;
    return true;
  }
  try {
    state.assign(static_cast<size_t>(count * stateBytes), 0);
  } catch (const std::bad_alloc &) {
    state.clear();
    sequences = 0;
    error = "cannot hold the KV caches of " + std::to_string(count) +
            " sequences (" + std::to_string(count * stateBytes) + " bytes)";
    return false;
  }
  sequences = count;
  return true;
}

bool HostModel::runOnRanks(const Step &step, std::vector<float> &logits,
                           std::string &error) {
  if (peers.empty())
    return runRank(step, logits, error);
  // Every rank runs the step; each ends with the whole logits.
  std::vector<std::thread> threads;
  std::vector<std::vector<float>> peerLogits(peers.size());
  std::vector<std::string> peerErrors(peers.size());
  std::vector<char> peerSucceeded(peers.size(), 0);
  for (size_t i = 0; i < peers.size(); ++i)
    threads.emplace_back([&, i] {
      peerSucceeded[i] = peers[i]->runRank(step, peerLogits[i], peerErrors[i]);
      if (!peerSucceeded[i])
        peers[i]->collectives->abandon();
    });
  bool succeeded = runRank(step, logits, error);
  if (!succeeded)
    collectives->abandon();
  for (std::thread &thread : threads)
    thread.join();
  // Report the rank that failed first: the others only saw it abandon.
  for (size_t i = 0; i < peers.size(); ++i)
    if (!peerSucceeded[i] &&
        (succeeded || error.find(kAbandonedMessage) != std::string::npos) &&
        peerErrors[i].find(kAbandonedMessage) == std::string::npos) {
      error = "rank " + std::to_string(i + 1) + ": " + peerErrors[i];
      succeeded = false;
    }
  return succeeded;
}

bool HostModel::checkStep(const Step &step, std::string &error) {
  int64_t count = step.count;
  bool batched = step.rowPositions != nullptr;
  if (sequences == 0) {
    error = "the model holds no KV caches (making room for sequences "
            "failed); setSequences first";
    return false;
  }
  if (count < 1) {
    error = "a step takes at least one token, given " + std::to_string(count);
    return false;
  }
  if (step.entry == "decode" && count != 1) {
    error = "decode takes one token, given " + std::to_string(count);
    return false;
  }
  // The counts first: they bound what the token and position arrays hold.
  if (batched && count > sequences) {
    error = "batched decode of " + std::to_string(count) +
            " sequences, but the model holds " + std::to_string(sequences) +
            " (setSequences)";
    return false;
  }
  if (!batched) {
    if (step.sequence < 0 || step.sequence >= sequences) {
      error = "sequence " + std::to_string(step.sequence) +
              " is not one of the model's " + std::to_string(sequences);
      return false;
    }
    if (step.start < 0 || count > context || step.start > context - count) {
      error = "positions " + std::to_string(step.start) + " to " +
              std::to_string(step.start + count - 1) +
              " do not fit the model's context of " + std::to_string(context);
      return false;
    }
  }
  for (int64_t t = 0; t < count; ++t)
    if (step.tokens[t] < 0 || step.tokens[t] >= vocab) {
      error = "token id " + std::to_string(step.tokens[t]) +
              " is outside the vocabulary of " + std::to_string(vocab);
      return false;
    }
  positions.resize(static_cast<size_t>(count));
  for (int64_t t = 0; t < count; ++t) {
    int64_t position = batched ? step.rowPositions[t] : step.start + t;
    if (batched && (position < 0 || position >= context)) {
      error = "position " + std::to_string(position) + " of sequence " +
              std::to_string(t) + " does not fit the model's context of " +
              std::to_string(context);
      return false;
    }
    positions[t] = static_cast<int32_t>(position);
  }
  return true;
}

bool HostModel::runRank(const Step &step, std::vector<float> &logits,
                        std::string &error) {
  bool batched = step.rowPositions != nullptr;
  EntryPoint function = batched                   ? batchedDecode
                        : step.entry == "prefill" ? prefill
                        : step.entry == "decode"  ? decode
                                                  : nullptr;
  if (!function) {
    error = batched ? "the model has no batched decode entry point "
                      "(compiled without KV caches, or by an older lowbit)"
                    : "the model has no entry point '" + step.entry + "'";
    return false;
  }
  if (!checkStep(step, error))
    return false;
  const int32_t *tokens = step.tokens;
  int64_t count = step.count, start = step.start;
  // A one-sequence step sees its sequence's state alone; batched decode
  // sees all of them.
  int64_t stateOffset = batched ? 0 : step.sequence * stateBytes;
  int64_t stepStateBytes = batched ? sequences * stateBytes : stateBytes;
  logits.resize(static_cast<size_t>(count * vocab));
  ActiveCollectives activeCollectives(collectives.get());
  auto collectiveFailure = [&] {
    if (activeCollectives.getError().empty())
      return false;
    error = activeCollectives.getError();
    return true;
  };
  if (gpu) {
    GpuExecution::Buffers buffers;
    int64_t logitsBytes = count * vocab * 4;
    if (!gpu->prepare(tokens, positions.data(), count,
                      count * scratchBytesPerToken, logitsBytes, buffers,
                      error))
      return false;
    auto onDevice = [](DevicePointer pointer, int64_t size) {
      void *address = reinterpret_cast<void *>(pointer);
      return MemRef1D{address, address, 0, size, 1};
    };
    MemRef1D weightRef = onDevice(buffers.weights, buffers.weightBytes);
    MemRef1D stateRef = onDevice(buffers.state + stateOffset, stepStateBytes);
    MemRef1D scratchRef = onDevice(buffers.scratch, buffers.scratchBytes);
    MemRef1D tokenRef = onDevice(buffers.tokens, count);
    MemRef1D positionRef = onDevice(buffers.positions, count);
    MemRef1D logitsRef = onDevice(buffers.logits, logitsBytes);
    bool succeeded = gpu->run(
        [&] {
          function(&weightRef, &stateRef, &scratchRef, &tokenRef, &positionRef,
                   start, &logitsRef);
        },
        /*decodeStep=*/step.entry != "prefill", logits.data(), logitsBytes,
        error);
    return !collectiveFailure() && succeeded;
  }
  scratch.resize(static_cast<size_t>(count * scratchBytesPerToken));

  auto describe = [](const void *data, int64_t size) {
    void *pointer = const_cast<void *>(data);
    return MemRef1D{pointer, pointer, 0, size, 1};
  };
  MemRef1D weightRef = describe(weights.data(),
                                static_cast<int64_t>(weights.size()));
  MemRef1D stateRef = describe(state.data() + stateOffset, stepStateBytes);
  MemRef1D scratchRef =
      describe(scratch.data(), static_cast<int64_t>(scratch.size()));
  MemRef1D tokenRef = describe(tokens, count);
  MemRef1D positionRef = describe(positions.data(), count);
  MemRef1D logitsRef = describe(logits.data(), count * vocab * 4);
  auto profile = profiles.find(step.entry);
  if (profile == profiles.end()) {
    function(&weightRef, &stateRef, &scratchRef, &tokenRef, &positionRef,
             start, &logitsRef);
    return !collectiveFailure();
  }
  KernelTicks &kernels = profile->second;
  counters.assign(kernels.kernels.size() + 1, 0);
  MemRef1D counterRef =
      describe(counters.data(), static_cast<int64_t>(counters.size()));
  reinterpret_cast<ProfiledEntryPoint>(function)(
      &weightRef, &stateRef, &scratchRef, &tokenRef, &positionRef, start,
      &logitsRef, &counterRef);
  for (size_t i = 0; i < kernels.ticks.size(); ++i)
    kernels.ticks[i] = counters[i + 1] - counters[i];
  return !collectiveFailure();
}

const HostModel::KernelTicks *
HostModel::getLastProfile(const std::string &entry) const {
  auto profile = profiles.find(entry);
  return profile == profiles.end() ? nullptr : &profile->second;
}

void HostModel::resetCaches() {
  std::fill(state.begin(), state.end(), 0);
  for (std::unique_ptr<HostModel> &peer : peers)
    peer->resetCaches();
  std::string error;
  if (gpu)
    gpu->clearState(error);
}
