//===- AttentionBench.cpp - checks and times the prefill attention kernel -===//
//
// Loads the PTX that lowbit-compile wrote, runs its tensor-core prefill
// attention kernels (PrefillAttentionKernel) through the runtime's CUDA
// driver layer over a KV cache of seeded random codes and scales, checks
// the result against a plain CPU evaluation in double precision, and times
// it with CUDA events. Builds without LLVM or MLIR; prints one markdown row
// per kernel, query row count and start position.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Runtime/CudaDriver.h"

#include "BenchCommandLine.h"
#include "MemrefArgument.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

using namespace lowbit::runtime;

namespace {

/// A prefill attention kernel, as PrefillAttentionKernel::getName says.
struct AttentionKernelInfo {
  std::string name;
  int64_t headDim, numHeads, numKVHeads, bits, groupSize, maxLength;
  /// Threads of a block: the kernel's `.maxntid`.
  unsigned threads = 0;

  int64_t getChannels() const { return numKVHeads * headDim; }
  int64_t getRowBytes() const { return getChannels() * bits / 8; }
  int64_t getGroupsPerRow() const { return getChannels() / groupSize; }
  /// Bytes of one cache region: codes, then f32 scales.
  int64_t getRegionBytes() const {
    return maxLength * (getRowBytes() + 4 * getGroupsPerRow());
  }
  /// Dynamic shared memory of a launch (PrefillAttentionKernel's layout).
  unsigned getSharedBytes() const {
    int64_t rowFloats = headDim + kRowPadding;
    int64_t chunks = headDim / std::min(groupSize, headDim);
    return unsigned(4 * (kBlockQueries * rowFloats +
                         2 * kBlockKeys * (rowFloats + chunks)));
  }
  static constexpr int64_t kBlockQueries = 64;
  static constexpr int64_t kBlockKeys = 32;
  static constexpr int64_t kRowPadding = 4;
};

/// Every prefill attention kernel of the PTX.
std::vector<AttentionKernelInfo> findKernels(const std::string &ptx) {
  std::regex entry(
      R"(\.entry (tc_prefill_attention_d(\d+)_h(\d+)_kv(\d+)_b(\d+)_g(\d+)_l(\d+))\([^)]*\)\s*\.maxntid (\d+), 1, 1)");
  std::vector<AttentionKernelInfo> kernels;
  for (auto it = std::sregex_iterator(ptx.begin(), ptx.end(), entry);
       it != std::sregex_iterator(); ++it) {
    const std::smatch &m = *it;
    kernels.push_back({m[1], std::stoll(m[2]), std::stoll(m[3]),
                       std::stoll(m[4]), std::stoll(m[5]), std::stoll(m[6]),
                       std::stoll(m[7]), unsigned(std::stoul(m[8]))});
  }
  return kernels;
}

/// One benchmark case: a kernel, the query rows and the first row's
/// position.
class AttentionCase {
public:
  AttentionCase(CudaDevice &device, void *function,
                const AttentionKernelInfo &info, int64_t rows, int64_t start)
      : device(device), function(function), info(info), rows(rows),
        start(start) {}

  /// Runs, checks and times the case; prints its row, or the error.
  bool run(int iterations);

private:
  bool setUp();
  bool launch();
  /// The code and scale of `channel` at `position` of one region.
  double cached(const std::vector<uint8_t> &region, int64_t position,
                int64_t channel) const;
  /// The CPU's output of query row `t`, head `head`, in double precision.
  std::vector<double> reference(int64_t t, int64_t head) const;

  CudaDevice &device;
  void *function;
  const AttentionKernelInfo &info;
  int64_t rows, start;
  std::vector<float> queries;
  std::vector<uint8_t> keys, values;
  DevicePointer query = 0, keyRegion = 0, valueRegion = 0, out = 0;
};

bool AttentionCase::setUp() {
  std::mt19937 generator(uint32_t(rows * 131 + start));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t queryChannels = info.numHeads * info.headDim;
  queries.resize(rows * queryChannels);
  for (float &q : queries)
    q = normal(generator);
  // Codes in [-7, 7] as the KV quantizer writes them; scales in [0.05, 0.3].
  const int32_t largest = (1 << (info.bits - 1)) - 1;
  std::uniform_int_distribution<int> code(-largest, largest);
  std::uniform_real_distribution<float> scale(0.05f, 0.3f);
  for (std::vector<uint8_t> *region : {&keys, &values}) {
    region->assign(info.getRegionBytes(), 0);
    for (int64_t p = 0; p < start + rows; ++p) {
      uint8_t *row = region->data() + p * info.getRowBytes();
      for (int64_t c = 0; c < info.getChannels(); ++c) {
        int value = code(generator);
        if (info.bits == 8)
          row[c] = uint8_t(int8_t(value));
        else
          row[c / 2] |= uint8_t((value & 0xF) << (4 * (c % 2)));
      }
      auto *scales = reinterpret_cast<float *>(
          region->data() + info.maxLength * info.getRowBytes());
      for (int64_t g = 0; g < info.getGroupsPerRow(); ++g)
        scales[p * info.getGroupsPerRow() + g] = scale(generator);
    }
  }
  size_t queryBytes = queries.size() * sizeof(float);
  return device.allocate(queryBytes, query) &&
         device.allocate(queryBytes, out) &&
         device.allocate(keys.size(), keyRegion) &&
         device.allocate(values.size(), valueRegion) &&
         device.copyToDevice(query, queries.data(), queryBytes) &&
         device.copyToDevice(keyRegion, keys.data(), keys.size()) &&
         device.copyToDevice(valueRegion, values.data(), values.size());
}

bool AttentionCase::launch() {
  const int64_t elements = rows * info.numHeads * info.headDim;
  MemrefArgument queryArg(query, elements),
      keyArg(keyRegion, int64_t(keys.size())),
      valueArg(valueRegion, int64_t(values.size())), outArg(out, elements);
  int32_t rowCount = int32_t(rows), startPosition = int32_t(start);
  std::vector<void *> arguments;
  queryArg.append(arguments);
  keyArg.append(arguments);
  valueArg.append(arguments);
  outArg.append(arguments);
  arguments.push_back(&rowCount);
  arguments.push_back(&startPosition);
  unsigned grid[3] = {unsigned((rows + AttentionKernelInfo::kBlockQueries - 1) /
                               AttentionKernelInfo::kBlockQueries),
                      unsigned(info.numHeads), 1};
  unsigned block[3] = {info.threads, 1, 1};
  return device.launch(function, grid, block, arguments, info.getSharedBytes());
}

double AttentionCase::cached(const std::vector<uint8_t> &region,
                             int64_t position, int64_t channel) const {
  const uint8_t *row = region.data() + position * info.getRowBytes();
  int code = info.bits == 8
                 ? int(int8_t(row[channel]))
                 : (int(int8_t(uint8_t(row[channel / 2]
                                       << (4 * (1 - channel % 2))))) >>
                    4);
  const auto *scales = reinterpret_cast<const float *>(
      region.data() + info.maxLength * info.getRowBytes());
  return double(code) *
         scales[position * info.getGroupsPerRow() + channel / info.groupSize];
}

std::vector<double> AttentionCase::reference(int64_t t, int64_t head) const {
  const int64_t d = info.headDim;
  const int64_t kvBase = head / (info.numHeads / info.numKVHeads) * d;
  const float *q = queries.data() + (t * info.numHeads + head) * d;
  const int64_t visible = start + t + 1;
  std::vector<double> scores(visible);
  double maximum = -INFINITY;
  for (int64_t s = 0; s < visible; ++s) {
    double dot = 0;
    for (int64_t c = 0; c < d; ++c)
      dot += double(q[c]) * cached(keys, s, kvBase + c);
    scores[s] = dot / std::sqrt(double(d));
    maximum = std::max(maximum, scores[s]);
  }
  double total = 0;
  for (double &score : scores)
    total += score = std::exp(score - maximum);
  std::vector<double> result(d, 0.0);
  for (int64_t s = 0; s < visible; ++s)
    for (int64_t c = 0; c < d; ++c)
      result[c] += scores[s] / total * cached(values, s, kvBase + c);
  return result;
}

bool AttentionCase::run(int iterations) {
  auto fail = [&](const char *what) {
    std::printf("| %s | rows %lld | error in %s: %s |\n", info.name.c_str(),
                (long long)rows, what, device.getError().c_str());
    return false;
  };
  if (!setUp())
    return fail("set-up");
  if (!device.allowDynamicSharedMemory(function, int(info.getSharedBytes())))
    return fail("set-up");
  if (!launch() || !device.synchronize())
    return fail("first launch");
  std::vector<float> gpu(queries.size());
  if (!device.copyToHost(gpu.data(), out, gpu.size() * sizeof(float)))
    return fail("copy back");

  // Every row of small cases; rows spread over the blocks of large ones.
  std::set<int64_t> checkedRows;
  for (int64_t i = 0; i < 12; ++i)
    checkedRows.insert(i * (rows - 1) / 11);
  checkedRows.insert(std::min<int64_t>(rows - 1, 63));
  checkedRows.insert(std::min<int64_t>(rows - 1, 64));
  double largest = 0, worst = 0;
  for (int64_t t : checkedRows) {
    for (int64_t head = 0; head < info.numHeads; ++head) {
      std::vector<double> expected = reference(t, head);
      for (int64_t c = 0; c < info.headDim; ++c) {
        double value = gpu[(t * info.numHeads + head) * info.headDim + c];
        largest = std::max(largest, std::fabs(expected[c]));
        worst = std::max(worst, std::fabs(value - expected[c]));
      }
    }
  }
  double relativeError = largest > 0 ? worst / largest : worst;
  // Two TF32 parts keep products to about 2^-21; sums in f32.
  bool correct = std::isfinite(relativeError) && relativeError <= 1e-5;

  if (!launch())
    return fail("warm-up");
  float milliseconds = 0;
  bool timed = device.time(
      [&] {
        for (int i = 0; i < iterations; ++i)
          if (!launch())
            return false;
        return true;
      },
      milliseconds);
  if (!timed)
    return fail("timing");
  double microseconds = 1000.0 * milliseconds / iterations;
  // q . k and the weighted values: 4 flops per channel per visible position.
  double visiblePairs =
      double(rows) * double(start) + double(rows) * double(rows + 1) / 2;
  double operations =
      4.0 * visiblePairs * double(info.headDim) * double(info.numHeads);
  std::printf("| %s | %lld | %lld | %.1f | %.1f | %.1e | %s |\n",
              info.name.c_str(), (long long)rows, (long long)start,
              microseconds, operations / microseconds / 1e6, relativeError,
              correct ? "ok" : "WRONG");
  for (DevicePointer p : {query, keyRegion, valueRegion, out})
    device.free(p);
  return correct;
}

} // namespace

int main(int argc, char **argv) {
  int exitCode = 0;
  std::optional<BenchCommandLine> commandLine = BenchCommandLine::parse(
      argc, argv,
      "Runs, checks and times the prefill attention kernels of the PTX that "
      "lowbit-compile wrote:\neach query row count from position 0 and from "
      "position 100.\n",
      {16, 128, 2048}, 20, exitCode);
  if (!commandLine)
    return exitCode;
  std::vector<AttentionKernelInfo> kernels = findKernels(commandLine->ptx);
  if (kernels.empty()) {
    std::fprintf(stderr, "error: %s has no prefill attention kernel\n",
                 argv[1]);
    return 1;
  }
  void *module = nullptr;
  std::unique_ptr<CudaDevice> device =
      openDeviceWithModule(commandLine->ptx, module);
  if (!device)
    return 1;
  std::printf("device: %s (sm_%d), %d iterations per case\n\n",
              device->getName().c_str(), device->getComputeCapability(),
              commandLine->iterations);
  std::printf("| kernel | rows | start | us | TFLOPS | max rel err | check |\n"
              "| --- | --- | --- | --- | --- | --- | --- |\n");
  bool allPassed = true;
  for (const AttentionKernelInfo &kernel : kernels) {
    void *function = nullptr;
    if (!device->getFunction(module, kernel.name, function)) {
      std::fprintf(stderr, "error: %s\n", device->getError().c_str());
      return 1;
    }
    for (int64_t rows : commandLine->tokenCounts)
      for (int64_t start : {int64_t(0), int64_t(100)})
        if (start + rows <= kernel.maxLength)
          allPassed &= AttentionCase(*device, function, kernel, rows, start)
                           .run(commandLine->iterations);
  }
  return allPassed ? 0 : 1;
}
