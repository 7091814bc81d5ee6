//===- Nccl.cpp - NCCL collectives, loaded at run time ----------------------===//
//
// Resolves the few NCCL entry points the runtime uses from libnccl.so.2
// with dlopen/dlsym. The declarations below restate NCCL's C ABI (nccl.h:
// ncclUniqueId is 128 bytes passed by value, ncclComm_t and cudaStream_t
// are pointers, ncclUint8 = 1, ncclFloat16 = 6, ncclSum = 0), so that no
// NCCL header is needed to build.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Runtime/Nccl.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <fstream>
#include <iterator>
#include <thread>
#include <type_traits>

using namespace lowbit::runtime;

namespace {
using Result = int;
constexpr Result kSuccess = 0;
constexpr int kUint8 = 1;
constexpr int kFloat16 = 6;
constexpr int kFloat32 = 7;
constexpr int kSum = 0;

/// ncclUniqueId, passed by value.
struct UniqueId {
  char internal[128];
};

/// The integer value of environment variable `name`, if set; `valid` turns
/// false when it is set but not a number.
std::optional<int> readInteger(const char *name, bool &valid) {
  const char *text = std::getenv(name);
  if (!text)
    return std::nullopt;
  char *end = nullptr;
  long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0') {
    valid = false;
    return std::nullopt;
  }
  return static_cast<int>(value);
}
} // namespace

std::optional<RankEnvironment> RankEnvironment::read(std::string &error) {
  struct Launcher {
    const char *rank, *worldSize, *localRank;
  };
  for (const Launcher &launcher :
       {Launcher{"RANK", "WORLD_SIZE", "LOCAL_RANK"},
        Launcher{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
                 "OMPI_COMM_WORLD_LOCAL_RANK"},
        Launcher{"SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"}}) {
    bool valid = true;
    std::optional<int> rank = readInteger(launcher.rank, valid);
    std::optional<int> worldSize = readInteger(launcher.worldSize, valid);
    std::optional<int> localRank = readInteger(launcher.localRank, valid);
    if (!valid || (rank.has_value() != worldSize.has_value())) {
      error = std::string("malformed ") + launcher.rank + "/" +
              launcher.worldSize + "/" + launcher.localRank + " environment";
      return std::nullopt;
    }
    if (!rank)
      continue;
    if (*worldSize < 1 || *rank < 0 || *rank >= *worldSize) {
      error = std::string(launcher.rank) + "=" + std::to_string(*rank) +
              " is not a rank of " + launcher.worldSize + "=" +
              std::to_string(*worldSize);
      return std::nullopt;
    }
    return RankEnvironment{*rank, *worldSize, localRank.value_or(*rank)};
  }
  return std::nullopt;
}

/// The NCCL entry points, resolved by name. Loaded once and never closed:
/// ncclGetUniqueId leaves a bootstrap thread running inside the library.
struct NcclCommunicator::Api {
  void *library = nullptr;
  Result (*getUniqueId)(UniqueId *);
  Result (*commInitRank)(void **, int, UniqueId, int);
  Result (*commDestroy)(void *);
  Result (*allGather)(const void *, void *, size_t, int, void *, void *);
  Result (*allReduce)(const void *, void *, size_t, int, int, void *, void *);
  const char *(*getErrorString)(Result);

  /// The process's NCCL, loaded on first use; null with the reason in
  /// `error` when libnccl.so.2 or one of its entry points is missing.
  static Api *get(std::string &error) {
    static std::string loadError;
    static Api *api = [] {
      auto *loaded = new Api;
      if (loaded->load(loadError))
        return loaded;
      delete loaded;
      return static_cast<Api *>(nullptr);
    }();
    if (!api)
      error = loadError;
    return api;
  }

private:
  /// Loads libnccl.so.2 and every entry point; false with the reason in
  /// `error` when one is missing.
  bool load(std::string &error) {
    library = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
      error = "cannot load libnccl.so.2 (NCCL is needed for more than one "
              "rank): " +
              std::string(dlerror());
      return false;
    }
    bool found = true;
    auto get = [&](auto &function, const char *name) {
      function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(
          dlsym(library, name));
      if (!function) {
        error = std::string("libnccl.so.2 has no ") + name;
        found = false;
      }
    };
    get(getUniqueId, "ncclGetUniqueId");
    get(commInitRank, "ncclCommInitRank");
    get(commDestroy, "ncclCommDestroy");
    get(allGather, "ncclAllGather");
    get(allReduce, "ncclAllReduce");
    get(getErrorString, "ncclGetErrorString");
    return found;
  }
};

bool NcclCommunicator::makeUniqueId(NcclUniqueId &id, std::string &error) {
  Api *api = Api::get(error);
  if (!api)
    return false;
  UniqueId unique;
  if (Result result = api->getUniqueId(&unique); result != kSuccess) {
    error = std::string("ncclGetUniqueId: ") + api->getErrorString(result);
    return false;
  }
  std::copy(std::begin(unique.internal), std::end(unique.internal),
            id.begin());
  return true;
}

bool NcclCommunicator::exchangeUniqueId(NcclUniqueId &id, int rank,
                                        const std::string &path,
                                        int timeoutSeconds,
                                        std::string &error) {
  if (rank == 0) {
    std::string partial = path + ".partial";
    {
      std::ofstream file(partial, std::ios::binary | std::ios::trunc);
      file.write(id.data(), id.size());
      if (!file) {
        error = "cannot write the NCCL id to " + partial;
        return false;
      }
    }
    if (std::rename(partial.c_str(), path.c_str()) != 0) {
      error = "cannot rename " + partial + " to " + path;
      return false;
    }
    return true;
  }
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(timeoutSeconds);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream file(path, std::ios::binary);
    if (file.read(id.data(), id.size()) && file.gcount() == 128)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  error = "rank " + std::to_string(rank) + " waited " +
          std::to_string(timeoutSeconds) + " s for rank 0's NCCL id in " +
          path;
  return false;
}

std::unique_ptr<NcclCommunicator>
NcclCommunicator::create(const NcclUniqueId &id, int rank, int worldSize,
                         std::string &error) {
  Api *api = Api::get(error);
  if (!api)
    return nullptr;
  UniqueId unique;
  std::copy(id.begin(), id.end(), unique.internal);
  void *communicator = nullptr;
  if (Result result =
          api->commInitRank(&communicator, worldSize, unique, rank);
      result != kSuccess) {
    error = std::string("ncclCommInitRank: ") + api->getErrorString(result);
    return nullptr;
  }
  return std::unique_ptr<NcclCommunicator>(
      new NcclCommunicator(*api, communicator, rank, worldSize));
}

NcclCommunicator::NcclCommunicator(Api &api, void *communicator, int rank,
                                   int worldSize)
    : api(api), communicator(communicator), rank(rank), worldSize(worldSize) {}

NcclCommunicator::~NcclCommunicator() { api.commDestroy(communicator); }

bool NcclCommunicator::check(int result, const char *what) {
  if (result == kSuccess)
    return true;
  error = std::string(what) + ": " + api.getErrorString(result);
  return false;
}

bool NcclCommunicator::allGatherBytes(DevicePointer send,
                                      DevicePointer receive, size_t bytes) {
  return check(api.allGather(reinterpret_cast<const void *>(send),
                              reinterpret_cast<void *>(receive), bytes, kUint8,
                              communicator, /*stream=*/nullptr),
               "ncclAllGather");
}

bool NcclCommunicator::allReduceHalf(DevicePointer send, DevicePointer receive,
                                     size_t count) {
  return check(api.allReduce(reinterpret_cast<const void *>(send),
                              reinterpret_cast<void *>(receive), count,
                              kFloat16, kSum, communicator, /*stream=*/nullptr),
               "ncclAllReduce");
}

bool NcclCommunicator::allReduceFloat(DevicePointer send, DevicePointer receive,
                                      size_t count) {
  return check(api.allReduce(reinterpret_cast<const void *>(send),
                             reinterpret_cast<void *>(receive), count, kFloat32,
                             kSum, communicator, /*stream=*/nullptr),
               "ncclAllReduce");
}
