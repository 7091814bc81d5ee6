//===- Collectives.h - data exchange between tensor-parallel ranks -*- C++
//-*-===//
//
// The code of a tensor-parallel model calls collective functions
// (`lowbit_collective_all_reduce_f32`, `lowbit_collective_all_gather`,
// `lowbit_collective_all_reduce_wire_f32`) through pointer slots. The
// runtime binds those slots to the functions here, which forward to the
// Collectives that the calling thread has made active: NCCL between the GPUs
// of one process each, or shared memory between ranks that are threads of
// one process (CPU models).
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_RUNTIME_COLLECTIVES_H
#define LOWBIT_RUNTIME_COLLECTIVES_H

#include "lowbit/Runtime/WireFormat.h"

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace lowbit::runtime {

class NcclCommunicator;

/// The error of a collective that ended because another rank abandoned it.
constexpr const char *kAbandonedMessage = "another rank failed";

/// One rank's side of the collectives of a rank group. Addresses are the
/// rank's buffers (device addresses for a GPU model).
class Collectives {
public:
  virtual ~Collectives() = default;

  virtual int getRank() const = 0;
  virtual int getWorldSize() const = 0;

  /// `count` f32 at `receive` become the sum over ranks of theirs at
  /// `send`, the same bits on every rank; false on failure (getError()).
  virtual bool allReduceFloat(uintptr_t send, uintptr_t receive,
                              size_t count) = 0;
  /// Every rank's `bytes` bytes at `send`, in rank order at `receive`.
  virtual bool allGather(uintptr_t send, uintptr_t receive, size_t bytes) = 0;
  /// As allReduceFloat, but every rank sends its `count` f32 (a multiple of
  /// the block size) as one message of `format` (packWireMessage), and the
  /// sum is of the decoded messages, in rank order; false on failure.
  virtual bool allReduceWire(uintptr_t send, uintptr_t receive, size_t count,
                             const WireFormat &format) = 0;

  /// Tells the other ranks that this one failed and will not join the
  /// collectives of this step, so that none waits for it forever (ranks
  /// in other processes are not told).
  virtual void abandon() {}

  const std::string &getError() const { return error; }

protected:
  std::string error;
};

/// How a rank's thread moves data between its buffers and host memory.
struct BufferAccess {
  /// Copies `bytes` from the rank's buffer at `from` to host memory `to`,
  /// after the rank's work before it; false on failure.
  std::function<bool(void *to, uintptr_t from, size_t bytes)> read;
  /// Copies `bytes` from host memory `from` to the rank's buffer at `to`.
  std::function<bool(uintptr_t to, const void *from, size_t bytes)> write;

  /// Buffers in host memory: plain copies.
  static BufferAccess host();
};

/// Ranks that are threads of one process, exchanging their partial results
/// through host memory (their buffers may be on a CPU or on GPUs, see
/// BufferAccess). Every rank's thread must make the same calls in the same
/// order.
class ThreadRankGroup : public std::enable_shared_from_this<ThreadRankGroup> {
public:
  /// A group of `worldSize` ranks.
  static std::shared_ptr<ThreadRankGroup> create(int worldSize);

  /// The collectives of `rank`, to be used by that rank's thread only,
  /// reaching its buffers through `access`.
  std::unique_ptr<Collectives> join(int rank, BufferAccess access);

  int getWorldSize() const { return worldSize; }

private:
  explicit ThreadRankGroup(int worldSize)
      : worldSize(worldSize), staged(static_cast<size_t>(worldSize)) {}

  class Member;
  /// Waits until every rank has arrived; false when a rank has abandoned
  /// the group.
  bool barrier();
  /// Marks the group failed and wakes every waiting rank.
  void abandon();

  int worldSize;
  std::mutex mutex;
  std::condition_variable arrived;
  int waiting = 0;
  uint64_t generation = 0;
  bool abandoned = false;
  /// Each rank's data of the collective in progress, in host memory.
  std::vector<std::vector<char>> staged;
};

/// The collectives of this process's GPU through `communicator`, on the
/// default stream. `timed` wraps every NCCL call (for the GPU profile) and
/// returns its result.
std::unique_ptr<Collectives> createNcclCollectives(
    std::unique_ptr<NcclCommunicator> communicator,
    std::function<bool(const char *name, const std::function<bool()> &call)>
        timed);

/// Sets the pointer slot of every collective function named in `names`
/// (comma-separated, the metadata's `collective_functions`) in the loaded
/// code `library`; false with `error` set for a function this runtime does
/// not provide or a missing slot.
bool bindCollectiveSlots(void *library, const std::string &names,
                         std::string &error);

/// Makes `collectives` the target of the collective functions called on
/// this thread while it lives, and remembers the first failure among them.
class ActiveCollectives {
public:
  explicit ActiveCollectives(Collectives *collectives);
  ~ActiveCollectives();
  ActiveCollectives(const ActiveCollectives &) = delete;
  ActiveCollectives &operator=(const ActiveCollectives &) = delete;

  /// The first failed collective's message, or empty.
  const std::string &getError() const;
};

} // namespace lowbit::runtime

#endif // LOWBIT_RUNTIME_COLLECTIVES_H
