//===- CollectiveBench.cpp - compressed all-reduce against NCCL's ----------===//
//
// Loads the PTX that lowbit-compile wrote for compressed all-reduces, and
// for every wire format in it:
//
// - alone (no launcher environment): simulates the ranks on one GPU, packs
//   every rank's partial result and sums the messages with the generated
//   kernels, checks messages and sums bit for bit against the runtime's
//   WireFormat (the reference executor's numbers), and times both kernels;
// - as one of WORLD_SIZE processes (torchrun, mpirun or srun variables, and
//   LOWBIT_NCCL_ID_FILE naming a file every rank sees): runs the compressed
//   all-reduce for real, pack, ncclAllGather of the messages, decode-and-
//   sum, checks the result bit for bit on every rank, and times it against
//   NCCL's own f16 all-reduce of the same partial results.
//
// Partial results are f16 [tokens, 4096], seeded per rank, normal with a
// few large channels as row-parallel outputs have. Builds without LLVM or
// MLIR; rank 0 prints one markdown row per format and token count.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Runtime/CudaDriver.h"
#include "lowbit/Runtime/Nccl.h"
#include "lowbit/Runtime/WireFormat.h"

#include "BenchCommandLine.h"
#include "MemrefArgument.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

using namespace lowbit::runtime;

namespace {

constexpr int64_t kChannels = 4096;
constexpr unsigned kThreadsPerBlock = 256;

/// A pack and decode-and-sum kernel pair, as their names
/// (WirePackKernel::getName, WireSumKernel::getName) say.
struct WireKernels {
  std::string formatName;
  WireFormat format;
  int64_t numRanks = 0;
  std::string packName, sumName;
  void *pack = nullptr, *sum = nullptr;
};

/// Every decode-and-sum kernel of the PTX with f16 data, and its pack kernel.
std::vector<WireKernels> findKernels(const std::string &ptx) {
  std::regex entry(R"(\.entry wire_sum_((fp4_e2m1|fp5_e2m2|fp5_e3m1|int4|int8)_b(\d+)_(f16|bf16|e8m0))_n(\d+)_f16\b)");
  std::vector<WireKernels> found;
  for (auto it = std::sregex_iterator(ptx.begin(), ptx.end(), entry);
       it != std::sregex_iterator(); ++it) {
    const std::smatch &m = *it;
    WireKernels pair;
    pair.formatName = m[1];
    std::string element = m[2], scale = m[4];
    pair.format.element = element == "fp4_e2m1"   ? WireElement::FP4E2M1
                              : element == "fp5_e2m2" ? WireElement::FP5E2M2
                              : element == "fp5_e3m1" ? WireElement::FP5E3M1
                              : element == "int4"     ? WireElement::INT4
                                                      : WireElement::INT8;
    pair.format.blockSize = std::stoll(m[3]);
    pair.format.scale = scale == "f16"    ? WireScale::F16
                            : scale == "bf16" ? WireScale::BF16
                                              : WireScale::E8M0;
    pair.numRanks = std::stoll(m[5]);
    pair.packName = "wire_pack_" + pair.formatName + "_f16";
    pair.sumName = "wire_sum_" + pair.formatName + "_n" +
                       std::to_string(pair.numRanks) + "_f16";
    found.push_back(pair);
  }
  return found;
}

/// Rank `rank`'s partial results: f16 bits of normal values, every 97th
/// channel 30 times larger.
std::vector<uint16_t> makePartials(int rank, int64_t tokens) {
  std::mt19937 generator(1000 + rank);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<uint16_t> values(tokens * kChannels);
  for (int64_t i = 0; i < tokens * kChannels; ++i)
    values[i] = floatToHalf(normal(generator) *
                            ((i % kChannels) % 97 == 13 ? 30.0f : 1.0f));
  return values;
}

/// The runtime's messages of every rank, one after another.
std::vector<uint8_t> expectedMessages(const WireFormat &format, int numRanks,
                                      int64_t tokens) {
  int64_t blocks = tokens * kChannels / format.blockSize;
  int64_t messageBytes = format.getMessageBytes(blocks);
  std::vector<uint8_t> messages(numRanks * messageBytes);
  for (int rank = 0; rank < numRanks; ++rank) {
    std::vector<uint16_t> partials = makePartials(rank, tokens);
    std::vector<float> values(partials.size());
    for (size_t i = 0; i < partials.size(); ++i)
      values[i] = halfToFloat(partials[i]);
    packWireMessage(values.data(), blocks, format,
                    messages.data() + rank * messageBytes);
  }
  return messages;
}

/// The f16 sum of the messages in rank order.
std::vector<uint16_t> expectedSum(const WireFormat &format,
                                  const std::vector<uint8_t> &messages,
                                  int numRanks, int64_t tokens) {
  int64_t blocks = tokens * kChannels / format.blockSize;
  int64_t messageBytes = format.getMessageBytes(blocks);
  std::vector<float> sums(tokens * kChannels, 0.0f);
  for (int rank = 0; rank < numRanks; ++rank)
    addWireMessage(messages.data() + rank * messageBytes, blocks, format,
                   sums.data());
  std::vector<uint16_t> result(sums.size());
  for (size_t i = 0; i < sums.size(); ++i)
    result[i] = floatToHalf(sums[i]);
  return result;
}

/// Device buffers of one case; freed on destruction.
class Buffers {
public:
  explicit Buffers(CudaDevice &device) : device(device) {}
  ~Buffers() {
    for (DevicePointer pointer : pointers)
      device.free(pointer);
  }
  bool allocate(size_t bytes, DevicePointer &pointer) {
    if (!device.allocate(bytes, pointer))
      return false;
    pointers.push_back(pointer);
    return true;
  }

private:
  CudaDevice &device;
  std::vector<DevicePointer> pointers;
};

/// One wire format at one token count, on this process's GPU.
class CollectiveCase {
public:
  CollectiveCase(CudaDevice &device, const WireKernels &kernels,
                 int64_t tokens, int rank)
      : device(device), kernels(kernels), tokens(tokens), rank(rank),
        blocks(tokens * kChannels / kernels.format.blockSize),
        messageBytes(kernels.format.getMessageBytes(blocks)),
        buffers(device) {}

  /// Allocates the buffers and uploads this rank's partial results.
  bool setUp() {
    std::vector<uint16_t> partials = makePartials(rank, tokens);
    return buffers.allocate(partials.size() * 2, partialsBuffer) &&
           buffers.allocate(partials.size() * 2, resultBuffer) &&
           buffers.allocate(kernels.numRanks * messageBytes, messagesBuffer) &&
           device.copyToDevice(partialsBuffer, partials.data(),
                               partials.size() * 2);
  }
  /// Packs `partials` into message slot `slot`.
  bool pack(DevicePointer partials, int slot) {
    // f16 partial results travel as vector<8xf16> (WirePackKernel).
    MemrefArgument data(partials, tokens * kChannels / 8);
    MemrefArgument message(messagesBuffer + slot * messageBytes, messageBytes);
    int32_t blockCount = static_cast<int32_t>(blocks);
    std::vector<void *> arguments;
    data.append(arguments);
    message.append(arguments);
    arguments.push_back(&blockCount);
    return launch(kernels.pack, arguments);
  }
  /// Decodes and sums every message slot into the result.
  bool sum() {
    MemrefArgument messages(messagesBuffer, kernels.numRanks * messageBytes);
    MemrefArgument result(resultBuffer, tokens * kChannels / 8);
    int32_t blockCount = static_cast<int32_t>(blocks);
    std::vector<void *> arguments;
    messages.append(arguments);
    result.append(arguments);
    arguments.push_back(&blockCount);
    return launch(kernels.sum, arguments);
  }
  /// Compares the message slots and the result with the runtime's.
  bool check(std::string &mismatch) {
    std::vector<uint8_t> messages(kernels.numRanks * messageBytes);
    std::vector<uint16_t> result(tokens * kChannels);
    if (!device.copyToHost(messages.data(), messagesBuffer, messages.size()) ||
        !device.copyToHost(result.data(), resultBuffer, result.size() * 2))
      return false;
    std::vector<uint8_t> expected =
        expectedMessages(kernels.format, kernels.numRanks, tokens);
    for (size_t i = 0; i < expected.size(); ++i)
      if (messages[i] != expected[i]) {
        mismatch = "message byte " + std::to_string(i) + " is " +
                   std::to_string(messages[i]) + ", expected " +
                   std::to_string(expected[i]);
        return true;
      }
    std::vector<uint16_t> sum =
        expectedSum(kernels.format, expected, kernels.numRanks, tokens);
    for (size_t i = 0; i < sum.size(); ++i)
      if (result[i] != sum[i]) {
        mismatch = "sum " + std::to_string(i) + " has f16 bits " +
                   std::to_string(result[i]) + ", expected " +
                   std::to_string(sum[i]);
        return true;
      }
    return true;
  }

  int64_t getMessageBytes() const { return messageBytes; }
  DevicePointer getPartials() const { return partialsBuffer; }
  DevicePointer getResult() const { return resultBuffer; }
  DevicePointer getMessages() const { return messagesBuffer; }

private:
  bool launch(void *function, std::vector<void *> &arguments) {
    unsigned grid[3] = {unsigned((blocks + kThreadsPerBlock - 1) /
                                 kThreadsPerBlock),
                        1, 1};
    unsigned block[3] = {kThreadsPerBlock, 1, 1};
    return device.launch(function, grid, block, arguments);
  }

  CudaDevice &device;
  const WireKernels &kernels;
  int64_t tokens;
  int rank;
  int64_t blocks, messageBytes;
  Buffers buffers;
  DevicePointer partialsBuffer = 0, resultBuffer = 0, messagesBuffer = 0;
};

/// Microseconds per call of `body`, over `iterations` calls after one
/// warm-up call; negative on failure.
template <typename Body>
double timeCalls(CudaDevice &device, int iterations, Body body) {
  if (!body() || !device.synchronize())
    return -1.0;
  float milliseconds = 0.0f;
  bool ok = device.time(
      [&] {
        for (int i = 0; i < iterations; ++i)
          if (!body())
            return false;
        return true;
      },
      milliseconds);
  return ok ? 1000.0 * milliseconds / iterations : -1.0;
}

/// Checks and times the kernels with every rank simulated on one GPU.
bool runAlone(CudaDevice &device, std::vector<WireKernels> &kernels,
              const std::vector<int64_t> &tokenCounts, int iterations) {
  std::printf("| format | ranks | tokens | bytes per rank: f16 / wire | pack "
              "us | pack GB/s | sum us | sum GB/s | check |\n"
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  bool allPassed = true;
  for (const WireKernels &pair : kernels)
    for (int64_t tokens : tokenCounts) {
      CollectiveCase one(device, pair, tokens, 0);
      std::string mismatch;
      bool ok = one.setUp();
      // Rank r's partial results go to slot r, packed by the kernel.
      Buffers uploads(device);
      for (int rank = 0; ok && rank < pair.numRanks; ++rank) {
        std::vector<uint16_t> partials = makePartials(rank, tokens);
        DevicePointer buffer = 0;
        ok = uploads.allocate(partials.size() * 2, buffer) &&
             device.copyToDevice(buffer, partials.data(), partials.size() * 2) &&
             one.pack(buffer, rank);
      }
      ok = ok && one.sum() && device.synchronize() && one.check(mismatch);
      double packUs = ok ? timeCalls(device, iterations,
                                     [&] { return one.pack(one.getPartials(), 0); })
                         : -1;
      double sumUs = ok ? timeCalls(device, iterations, [&] { return one.sum(); })
                        : -1;
      if (!ok || packUs < 0 || sumUs < 0) {
        std::printf("| %s | %lld | %lld | error: %s |\n", pair.formatName.c_str(),
                    (long long)pair.numRanks, (long long)tokens,
                    device.getError().c_str());
        allPassed = false;
        continue;
      }
      double dataBytes = 2.0 * tokens * kChannels;
      double packBytes = dataBytes + one.getMessageBytes();
      double sumBytes = pair.numRanks * one.getMessageBytes() + dataBytes;
      std::printf("| %s | %lld | %lld | %.0f / %lld | %.2f | %.0f | %.2f | %.0f "
                  "| %s |\n",
                  pair.formatName.c_str(), (long long)pair.numRanks,
                  (long long)tokens, dataBytes,
                  (long long)one.getMessageBytes(), packUs, packBytes / packUs / 1e3, sumUs,
                  sumBytes / sumUs / 1e3,
                  mismatch.empty() ? "ok" : ("FAILED: " + mismatch).c_str());
      allPassed &= mismatch.empty();
    }
  return allPassed;
}

/// Runs the compressed all-reduce through NCCL as one of the ranks.
bool runRank(CudaDevice &device, NcclCommunicator &nccl,
             std::vector<WireKernels> &kernels,
             const std::vector<int64_t> &tokenCounts, int iterations) {
  int rank = nccl.getRank();
  if (rank == 0)
    std::printf("| format | ranks | tokens | bytes per rank: f16 / wire | "
                "NCCL f16 all-reduce us | pack us | all-gather us | sum us | "
                "compressed us | speedup | check |\n"
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- "
                "| --- |\n");
  bool allPassed = true;
  for (const WireKernels &pair : kernels) {
    if (pair.numRanks != nccl.getWorldSize())
      continue;
    for (int64_t tokens : tokenCounts) {
      CollectiveCase one(device, pair, tokens, rank);
      std::string mismatch;
      int64_t count = tokens * kChannels;
      int64_t messageBytes = one.getMessageBytes();
      auto pack = [&] { return one.pack(one.getPartials(), rank); };
      auto gather = [&] {
        return nccl.allGatherBytes(one.getMessages() + rank * messageBytes,
                                   one.getMessages(), messageBytes);
      };
      auto sum = [&] { return one.sum(); };
      bool ok = one.setUp() && pack() && gather() && sum() &&
                device.synchronize() && one.check(mismatch);
      double reduceUs = timeCalls(device, iterations, [&] {
        return nccl.allReduceHalf(one.getPartials(), one.getResult(), count);
      });
      double packUs = timeCalls(device, iterations, pack);
      double gatherUs = timeCalls(device, iterations, gather);
      double sumUs = timeCalls(device, iterations, sum);
      double totalUs = timeCalls(device, iterations,
                                 [&] { return pack() && gather() && sum(); });
      ok = ok && reduceUs > 0 && packUs > 0 && gatherUs > 0 && sumUs > 0 &&
           totalUs > 0;
      if (!ok) {
        std::fprintf(stderr, "rank %d: %s at %lld tokens: %s %s\n", rank,
                     pair.formatName.c_str(), (long long)tokens,
                     device.getError().c_str(), nccl.getError().c_str());
        allPassed = false;
        continue;
      }
      allPassed &= mismatch.empty();
      if (!mismatch.empty())
        std::fprintf(stderr, "rank %d: %s at %lld tokens: %s\n", rank,
                     pair.formatName.c_str(), (long long)tokens,
                     mismatch.c_str());
      if (rank == 0)
        std::printf("| %s | %d | %lld | %lld / %lld | %.1f | %.1f | %.1f | %.1f "
                    "| %.1f | %.2fx | %s |\n",
                    pair.formatName.c_str(), nccl.getWorldSize(),
                    (long long)tokens, (long long)(2 * count),
                    (long long)messageBytes, reduceUs, packUs, gatherUs, sumUs,
                    totalUs, reduceUs / totalUs,
                    mismatch.empty() ? "ok" : "FAILED");
    }
  }
  return allPassed;
}
} // namespace

int main(int argc, char **argv) {
  int exitCode = 0;
  std::optional<BenchCommandLine> commandLine = BenchCommandLine::parse(
      argc, argv,
      "Checks and times the compressed all-reduce kernels of the PTX: "
      "alone, on one GPU;\nunder a launcher (RANK, WORLD_SIZE, LOCAL_RANK "
      "and LOWBIT_NCCL_ID_FILE), through NCCL.\n",
      {1, 2048}, 100, exitCode);
  if (!commandLine)
    return exitCode;
  const std::string &ptx = commandLine->ptx;
  const std::vector<int64_t> &tokenCounts = commandLine->tokenCounts;
  int iterations = commandLine->iterations;

  std::string error;
  std::optional<RankEnvironment> environment = RankEnvironment::read(error);
  if (!error.empty()) {
    std::fprintf(stderr, "error: %s\n", error.c_str());
    return 1;
  }
  std::vector<WireKernels> kernels = findKernels(ptx);
  if (kernels.empty()) {
    std::fprintf(stderr, "error: %s has no wire_sum_*_f16 kernel\n", argv[1]);
    return 1;
  }
  int ordinal = environment ? environment->localRank : 0;
  std::unique_ptr<CudaDevice> device = CudaDevice::open(ordinal, error);
  if (!device) {
    std::fprintf(stderr, "error: no GPU %d: %s\n", ordinal, error.c_str());
    return 1;
  }
  auto loadKernels = [&] {
    void *module = nullptr;
    if (!device->loadModule(ptx, module)) {
      std::fprintf(stderr, "error: %s\n", device->getError().c_str());
      return false;
    }
    for (WireKernels &pair : kernels)
      if (!device->getFunction(module, pair.packName, pair.pack) ||
          !device->getFunction(module, pair.sumName, pair.sum)) {
        std::fprintf(stderr, "error: %s\n", device->getError().c_str());
        return false;
      }
    return true;
  };

  if (!environment || environment->worldSize == 1) {
    if (!loadKernels())
      return 1;
    std::printf("device: %s (sm_%d), ranks simulated on one GPU, %d "
                "iterations per case\n\n",
                device->getName().c_str(), device->getComputeCapability(),
                iterations);
    return runAlone(*device, kernels, tokenCounts, iterations) ? 0 : 1;
  }
  const char *idFile = std::getenv("LOWBIT_NCCL_ID_FILE");
  if (!idFile) {
    std::fprintf(stderr, "error: set LOWBIT_NCCL_ID_FILE to a file every "
                         "rank sees\n");
    return 1;
  }
  NcclUniqueId id{};
  if ((environment->rank == 0 && !NcclCommunicator::makeUniqueId(id, error)) ||
      !NcclCommunicator::exchangeUniqueId(id, environment->rank, idFile, 60,
                                          error)) {
    std::fprintf(stderr, "error: %s\n", error.c_str());
    return 1;
  }
  // The id goes out before the driver compiles the PTX, which other ranks
  // would otherwise wait for.
  std::unique_ptr<NcclCommunicator> nccl = NcclCommunicator::create(
      id, environment->rank, environment->worldSize, error);
  if (!nccl) {
    std::fprintf(stderr, "error: %s\n", error.c_str());
    return 1;
  }
  if (!loadKernels())
    return 1;
  if (environment->rank == 0)
    std::printf("device: %s (sm_%d), %d ranks through NCCL, %d iterations "
                "per case\n\n",
                device->getName().c_str(), device->getComputeCapability(),
                environment->worldSize, iterations);
  return runRank(*device, *nccl, kernels, tokenCounts, iterations) ? 0 : 1;
}
