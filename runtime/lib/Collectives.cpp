//===- Collectives.cpp - data exchange between tensor-parallel ranks ------===//
//
// The collective functions of compiled code and their two implementations:
// threads of one process (host memory) and NCCL (one GPU per process).
//
//===----------------------------------------------------------------------===//

#include "lowbit/Runtime/Collectives.h"
#include "lowbit/Runtime/Artifact.h"
#include "lowbit/Runtime/Nccl.h"

#include <cstring>
#include <map>
#include <optional>

using namespace lowbit::runtime;

namespace {
/// The collectives of the model whose code runs on this thread, and the
/// first failure of one of its calls.
thread_local Collectives *active = nullptr;
thread_local std::string activeError;

/// Records `message` unless an earlier failure is recorded.
void recordFailure(const std::string &message) {
  if (activeError.empty())
    activeError = message;
}

/// Records the first failure of the active collectives.
void check(bool succeeded, const char *what) {
  if (!succeeded)
    recordFailure(std::string(what) + " failed: " +
                  (active ? active->getError() : "no collectives are active"));
}

void allReduceFloat(int64_t send, int64_t receive, int64_t count) {
  check(active && active->allReduceFloat(static_cast<uintptr_t>(send),
                                         static_cast<uintptr_t>(receive),
                                         static_cast<size_t>(count)),
        "an all-reduce");
}

void allGather(int64_t send, int64_t receive, int64_t bytes) {
  check(active && active->allGather(static_cast<uintptr_t>(send),
                                    static_cast<uintptr_t>(receive),
                                    static_cast<size_t>(bytes)),
        "an all-gather");
}

/// The wire format of a compressed all-reduce's arguments (WireElement and
/// WireScale numbers), or none when they name no format.
std::optional<WireFormat> getWireFormat(int64_t element, int64_t blockSize,
                                        int64_t scale) {
  if (element < 0 || element > static_cast<int64_t>(WireElement::INT8) ||
      scale < 0 || scale > static_cast<int64_t>(WireScale::E8M0) ||
      (blockSize != 8 && blockSize != 16 && blockSize != 32))
    return std::nullopt;
  return WireFormat{static_cast<WireElement>(element), blockSize,
                    static_cast<WireScale>(scale)};
}

void allReduceWire(int64_t send, int64_t receive, int64_t count,
                   int64_t element, int64_t blockSize, int64_t scale) {
  std::optional<WireFormat> format = getWireFormat(element, blockSize, scale);
  if (!format)
    return recordFailure("a compressed all-reduce failed: element " +
                         std::to_string(element) + ", block size " +
                         std::to_string(blockSize) + " and scale " +
                         std::to_string(scale) + " name no wire format");
  check(active && active->allReduceWire(static_cast<uintptr_t>(send),
                                        static_cast<uintptr_t>(receive),
                                        static_cast<size_t>(count), *format),
        "a compressed all-reduce");
}

/// The collective functions compiled code may call, by name.
const std::map<std::string, void *> &getCollectiveFunctions() {
  static const std::map<std::string, void *> functions = {
      {"lowbit_collective_all_reduce_f32",
       reinterpret_cast<void *>(&allReduceFloat)},
      {"lowbit_collective_all_gather", reinterpret_cast<void *>(&allGather)},
      {"lowbit_collective_all_reduce_wire_f32",
       reinterpret_cast<void *>(&allReduceWire)},
  };
  return functions;
}

/// NCCL between the GPUs of one process each.
class NcclCollectives : public Collectives {
public:
  NcclCollectives(
      std::unique_ptr<NcclCommunicator> communicator,
      std::function<bool(const char *, const std::function<bool()> &)> timed)
      : communicator(std::move(communicator)), timed(std::move(timed)) {}

  int getRank() const override { return communicator->getRank(); }
  int getWorldSize() const override { return communicator->getWorldSize(); }

  bool allReduceFloat(uintptr_t send, uintptr_t receive,
                      size_t count) override {
    return finish(timed("nccl_all_reduce_f32", [&] {
      return communicator->allReduceFloat(send, receive, count);
    }));
  }
  bool allGather(uintptr_t send, uintptr_t receive, size_t bytes) override {
    return finish(timed("nccl_all_gather", [&] {
      return communicator->allGatherBytes(send, receive, bytes);
    }));
  }
  bool allReduceWire(uintptr_t, uintptr_t, size_t,
                     const WireFormat &) override {
    error = "GPU models compress all-reduces with generated kernels around "
            "an all-gather, not through the runtime";
    return false;
  }

private:
  bool abandoned() {
    error = kAbandonedMessage;
    return false;
  }
  bool finish(bool succeeded) {
    if (!succeeded)
      error = communicator->getError();
    return succeeded;
  }

  std::unique_ptr<NcclCommunicator> communicator;
  std::function<bool(const char *, const std::function<bool()> &)> timed;
};
} // namespace

/// One rank of a ThreadRankGroup.
class ThreadRankGroup::Member : public Collectives {
public:
  Member(std::shared_ptr<ThreadRankGroup> group, int rank, BufferAccess access)
      : group(std::move(group)), rank(rank), access(std::move(access)) {}

  int getRank() const override { return rank; }
  int getWorldSize() const override { return group->worldSize; }

  void abandon() override { group->abandon(); }

  bool allReduceFloat(uintptr_t send, uintptr_t receive,
                      size_t count) override {
    bool staged = stage(send, count * sizeof(float));
    if (!group->barrier())
      return abandoned();
    std::vector<float> sum(count, 0.0f);
    for (const std::vector<char> &source : group->staged) {
      const auto *values = reinterpret_cast<const float *>(source.data());
      for (size_t i = 0; i < count; ++i)
        sum[i] += values[i];
    }
    bool written = access.write(receive, sum.data(), count * sizeof(float));
    // No rank may stage its next data before every rank has read this.
    if (!group->barrier())
      return abandoned();
    return finish(staged && written);
  }

  bool allGather(uintptr_t send, uintptr_t receive, size_t bytes) override {
    bool staged = stage(send, bytes);
    if (!group->barrier())
      return abandoned();
    bool written = true;
    for (size_t source = 0; source < group->staged.size(); ++source)
      written &= access.write(receive + source * bytes,
                              group->staged[source].data(), bytes);
    if (!group->barrier())
      return abandoned();
    return finish(staged && written);
  }

  bool allReduceWire(uintptr_t send, uintptr_t receive, size_t count,
                     const WireFormat &format) override {
    if (count % static_cast<size_t>(format.blockSize) != 0) {
      error = std::to_string(count) + " values do not fill blocks of " +
              std::to_string(format.blockSize);
      return false;
    }
    int64_t blocks = static_cast<int64_t>(count) / format.blockSize;
    std::vector<float> values(count, 0.0f);
    bool read = access.read(values.data(), send, count * sizeof(float));
    std::vector<char> &mine = group->staged[rank];
    mine.assign(format.getMessageBytes(blocks), 0);
    packWireMessage(values.data(), blocks, format,
                    reinterpret_cast<uint8_t *>(mine.data()));
    if (!group->barrier())
      return abandoned();
    std::vector<float> sum(count, 0.0f);
    for (const std::vector<char> &message : group->staged)
      addWireMessage(reinterpret_cast<const uint8_t *>(message.data()), blocks,
                     format, sum.data());
    bool written = access.write(receive, sum.data(), count * sizeof(float));
    if (!group->barrier())
      return abandoned();
    return finish(read && written);
  }

private:
  /// Copies this rank's `bytes` at `send` to its staging buffer (zeroes on
  /// failure, so that the others still see data of the right size).
  bool stage(uintptr_t send, size_t bytes) {
    std::vector<char> &mine = group->staged[rank];
    mine.assign(bytes, 0);
    return access.read(mine.data(), send, bytes);
  }
  bool abandoned() {
    error = kAbandonedMessage;
    return false;
  }
  bool finish(bool succeeded) {
    if (!succeeded)
      error = "copying rank " + std::to_string(rank) +
              "'s data to or from host memory failed";
    return succeeded;
  }

  std::shared_ptr<ThreadRankGroup> group;
  int rank;
  BufferAccess access;
};

BufferAccess BufferAccess::host() {
  return {[](void *to, uintptr_t from, size_t bytes) {
            std::memcpy(to, reinterpret_cast<const void *>(from), bytes);
            return true;
          },
          [](uintptr_t to, const void *from, size_t bytes) {
            std::memcpy(reinterpret_cast<void *>(to), from, bytes);
            return true;
          }};
}

std::shared_ptr<ThreadRankGroup> ThreadRankGroup::create(int worldSize) {
  return std::shared_ptr<ThreadRankGroup>(new ThreadRankGroup(worldSize));
}

std::unique_ptr<Collectives> ThreadRankGroup::join(int rank,
                                                   BufferAccess access) {
  return std::make_unique<Member>(shared_from_this(), rank, std::move(access));
}

bool ThreadRankGroup::barrier() {
  std::unique_lock<std::mutex> lock(mutex);
  if (abandoned)
    return false;
  uint64_t current = generation;
  if (++waiting == worldSize) {
    waiting = 0;
    ++generation;
    arrived.notify_all();
    return true;
  }
  arrived.wait(lock, [&] { return generation != current || abandoned; });
  return !abandoned;
}

void ThreadRankGroup::abandon() {
  std::lock_guard<std::mutex> lock(mutex);
  abandoned = true;
  arrived.notify_all();
}

std::unique_ptr<Collectives> lowbit::runtime::createNcclCollectives(
    std::unique_ptr<NcclCommunicator> communicator,
    std::function<bool(const char *, const std::function<bool()> &)> timed) {
  return std::make_unique<NcclCollectives>(std::move(communicator),
                                           std::move(timed));
}

bool lowbit::runtime::bindCollectiveSlots(void *library,
                                          const std::string &names,
                                          std::string &error) {
  return bindSlots(library, names, getCollectiveFunctions(),
                   kCollectiveSlotPrefix, "collective function", error);
}

ActiveCollectives::ActiveCollectives(Collectives *collectives) {
  active = collectives;
  activeError.clear();
}

ActiveCollectives::~ActiveCollectives() { active = nullptr; }

const std::string &ActiveCollectives::getError() const { return activeError; }
