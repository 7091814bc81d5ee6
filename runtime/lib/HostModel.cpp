//===- HostModel.cpp - run a model compiled for this CPU ------------------===//
//
// The compiled code is a shared object inside the artifact. It is loaded
// from memory (memfd_create, then dlopen of /proc/self/fd/N), so running a
// model writes no files. Entry points take MLIR's C interface: a pointer to
// a memref descriptor per buffer.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Runtime/HostModel.h"

#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <sstream>

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
}

std::unique_ptr<HostModel> HostModel::load(std::unique_ptr<Artifact> artifact,
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
  int64_t weightBytes = 0, stateBytes = 0;
  if (!artifact->metadataInteger("vocab_size", model->vocab) ||
      !artifact->metadataInteger("context_length", model->context) ||
      !artifact->metadataInteger("weight_bytes", weightBytes) ||
      !artifact->metadataInteger("state_bytes", stateBytes) ||
      !artifact->metadataInteger("scratch_bytes_per_token",
                                 model->scratchBytesPerToken) ||
      model->vocab <= 0 || model->context <= 0 || stateBytes < 0 ||
      model->scratchBytesPerToken < 0)
    return fail("has incomplete metadata (vocab_size, context_length, "
                "weight_bytes, state_bytes, scratch_bytes_per_token)");
  if (static_cast<int64_t>(artifact->section(kWeightsSection).size()) !=
      weightBytes)
    return fail("has a weights section of " +
                std::to_string(artifact->section(kWeightsSection).size()) +
                " bytes; the code expects " + std::to_string(weightBytes));

  std::string_view code = artifact->section(kCodeSection);
  if (code.empty())
    return fail("has no code section");
  int descriptor = memfd_create("lowbit-model", MFD_CLOEXEC);
  if (descriptor < 0)
    return fail("cannot be loaded: memfd_create failed: " +
                std::string(std::strerror(errno)));
  size_t written = 0;
  while (written < code.size()) {
    ssize_t step = write(descriptor, code.data() + written,
                         code.size() - written);
    if (step <= 0) {
      close(descriptor);
      return fail("cannot be loaded: writing its code failed");
    }
    written += static_cast<size_t>(step);
  }
  std::string codePath = "/proc/self/fd/" + std::to_string(descriptor);
  model->library = dlopen(codePath.c_str(), RTLD_NOW | RTLD_LOCAL);
  close(descriptor);
  if (!model->library)
    return fail(std::string("has code that does not load: ") + dlerror());
  model->prefill = reinterpret_cast<EntryPoint>(
      dlsym(model->library, "_mlir_ciface_lowbit_prefill"));
  model->decode = reinterpret_cast<EntryPoint>(
      dlsym(model->library, "_mlir_ciface_lowbit_decode"));
  if (!model->prefill)
    return fail("has no compiled prefill entry point");
  for (const char *entry : {"prefill", "decode"}) {
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
  if (format == "lowbit-gpu") {
    std::string reason;
    model->gpu = GpuExecution::create(model->library, *artifact, stateBytes,
                                      reason);
    if (!model->gpu)
      return fail("cannot run on a GPU: " + reason);
  } else {
    model->state.assign(static_cast<size_t>(stateBytes), 0);
  }
  model->artifact = std::move(artifact);
  return model;
}

bool HostModel::run(const std::string &entry, const int32_t *tokens,
                    int64_t count, int64_t start, std::vector<float> &logits,
                    std::string &error) {
  EntryPoint function = entry == "prefill" ? prefill
                        : entry == "decode" ? decode
                                            : nullptr;
  if (!function) {
    error = "the model has no entry point '" + entry + "'";
    return false;
  }
  if (entry == "decode" && count != 1) {
    error = "decode takes one token, given " + std::to_string(count);
    return false;
  }
  if (count < 1 || start < 0 || start + count > context) {
    error = "positions " + std::to_string(start) + " to " +
            std::to_string(start + count - 1) +
            " do not fit the model's context of " + std::to_string(context);
    return false;
  }
  for (int64_t t = 0; t < count; ++t)
    if (tokens[t] < 0 || tokens[t] >= vocab) {
      error = "token id " + std::to_string(tokens[t]) +
              " is outside the vocabulary of " + std::to_string(vocab);
      return false;
    }
  positions.resize(static_cast<size_t>(count));
  for (int64_t t = 0; t < count; ++t)
    positions[t] = static_cast<int32_t>(start + t);
  logits.resize(static_cast<size_t>(count * vocab));
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
    MemRef1D stateRef = onDevice(buffers.state, buffers.stateBytes);
    MemRef1D scratchRef = onDevice(buffers.scratch, buffers.scratchBytes);
    MemRef1D tokenRef = onDevice(buffers.tokens, count);
    MemRef1D positionRef = onDevice(buffers.positions, count);
    MemRef1D logitsRef = onDevice(buffers.logits, logitsBytes);
    return gpu->run(
        [&] {
          function(&weightRef, &stateRef, &scratchRef, &tokenRef, &positionRef,
                   start, &logitsRef);
        },
        /*decodeStep=*/count == 1, logits.data(), logitsBytes, error);
  }
  scratch.resize(static_cast<size_t>(count * scratchBytesPerToken));

  auto describe = [](const void *data, int64_t size) {
    void *pointer = const_cast<void *>(data);
    return MemRef1D{pointer, pointer, 0, size, 1};
  };
  std::string_view weights = artifact->section(kWeightsSection);
  MemRef1D weightRef = describe(weights.data(),
                                static_cast<int64_t>(weights.size()));
  MemRef1D stateRef = describe(state.data(), static_cast<int64_t>(state.size()));
  MemRef1D scratchRef =
      describe(scratch.data(), static_cast<int64_t>(scratch.size()));
  MemRef1D tokenRef = describe(tokens, count);
  MemRef1D positionRef = describe(positions.data(), count);
  MemRef1D logitsRef = describe(logits.data(), count * vocab * 4);
  auto profile = profiles.find(entry);
  if (profile == profiles.end()) {
    function(&weightRef, &stateRef, &scratchRef, &tokenRef, &positionRef,
             start, &logitsRef);
    return true;
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
  return true;
}

const HostModel::KernelTicks *
HostModel::getLastProfile(const std::string &entry) const {
  auto profile = profiles.find(entry);
  return profile == profiles.end() ? nullptr : &profile->second;
}

void HostModel::resetCaches() {
  std::fill(state.begin(), state.end(), 0);
  std::string error;
  if (gpu)
    gpu->clearState(error);
}
