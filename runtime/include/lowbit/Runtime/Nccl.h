//===- Nccl.h - NCCL collectives, loaded at run time ------------*- C++ -*-===//
//
// Tensor-parallel ranks exchange partial results through NCCL. Like the CUDA
// driver, NCCL is loaded from libnccl.so.2 when a communicator is made, so
// the runtime builds everywhere (Debian does not package NCCL) and the same
// binary runs on one GPU without it. Each process drives one GPU; it learns
// its place the way multi-node launchers tell it (RankEnvironment).
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_RUNTIME_NCCL_H
#define LOWBIT_RUNTIME_NCCL_H

#include "lowbit/Runtime/CudaDriver.h"

#include <array>
#include <memory>
#include <optional>
#include <string>

namespace lowbit::runtime {

/// This process's place among the tensor-parallel ranks, from the
/// environment of the launcher that started it: torchrun (RANK,
/// WORLD_SIZE, LOCAL_RANK), Open MPI's mpirun (OMPI_COMM_WORLD_RANK, _SIZE,
/// _LOCAL_RANK) or Slurm's srun (SLURM_PROCID, SLURM_NTASKS,
/// SLURM_LOCALID), checked in that order.
struct RankEnvironment {
  int rank = 0;
  int worldSize = 1;
  /// The GPU of this process on its host.
  int localRank = 0;

  /// The environment's ranks, none when no launcher set them, or an error
  /// in `error` when they are malformed (not numbers, rank outside the
  /// world).
  static std::optional<RankEnvironment> read(std::string &error);
};

/// The 128 bytes that name one NCCL communicator (ncclUniqueId).
using NcclUniqueId = std::array<char, 128>;

/// One rank's NCCL communicator on the default stream of the current
/// CUDA context. Calls that can fail return false and leave NCCL's message
/// in getError().
class NcclCommunicator {
public:
  /// A new unique id, made by one rank and handed to all of them.
  static bool makeUniqueId(NcclUniqueId &id, std::string &error);

  /// Shares `id` through the file `path`: rank 0 writes it (atomically,
  /// by renaming), the other ranks wait for it for up to `timeoutSeconds`.
  /// The file system must be one every rank sees.
  static bool exchangeUniqueId(NcclUniqueId &id, int rank,
                               const std::string &path, int timeoutSeconds,
                               std::string &error);

  /// Joins communicator `id` as `rank` of `worldSize`; null with the
  /// reason in `error` (no libnccl.so.2, an NCCL error).
  static std::unique_ptr<NcclCommunicator>
  create(const NcclUniqueId &id, int rank, int worldSize, std::string &error);

  ~NcclCommunicator();
  NcclCommunicator(const NcclCommunicator &) = delete;
  NcclCommunicator &operator=(const NcclCommunicator &) = delete;

  int getRank() const { return rank; }
  int getWorldSize() const { return worldSize; }
  const std::string &getError() const { return error; }

  /// Every rank's `bytes` bytes at `send`, concatenated in rank order at
  /// `receive`.
  bool allGatherBytes(DevicePointer send, DevicePointer receive, size_t bytes);
  /// The sum over ranks of `count` halves at `send`, into `receive`.
  bool allReduceHalf(DevicePointer send, DevicePointer receive, size_t count);
  /// The sum over ranks of `count` floats at `send`, into `receive`.
  bool allReduceFloat(DevicePointer send, DevicePointer receive, size_t count);

private:
  struct Api;
  NcclCommunicator(Api &api, void *communicator, int rank, int worldSize);
  bool check(int result, const char *what);

  Api &api;
  void *communicator;
  int rank;
  int worldSize;
  std::string error;
};

} // namespace lowbit::runtime

#endif // LOWBIT_RUNTIME_NCCL_H
