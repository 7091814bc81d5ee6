//===- MatmulBench.cpp - checks and times the generated matmul kernels -----===//
//
// Loads the PTX that lowbit-compile wrote, runs its matmul kernels (the
// decode kernels and the tensor-core kernel) through the runtime's CUDA
// driver layer on seeded random codes and scales, checks each result against
// a plain CPU evaluation of the same quantized arithmetic, and times it with
// CUDA events. Weights rotate through enough copies to overflow the L2
// cache, so every call reads its weights from device memory as a decode step
// does. Builds without LLVM or MLIR; prints one markdown row per kernel and
// token count.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Runtime/CudaDriver.h"
#include "lowbit/Runtime/GpuWeightLayout.h"
#include "lowbit/Runtime/WireFormat.h"

#include "BenchCommandLine.h"
#include "MemrefArgument.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

using namespace lowbit::runtime;

namespace {

constexpr int64_t kWarpSize = 32;
/// The largest decode kernel of a shape is also timed over up to this many
/// blocks of tokens (the grid's y), beside the tensor-core kernels, which
/// shows where the tensor-core kernel starts to win.
constexpr int64_t kMaxDecodeTokenBlocks = 4;

/// A matmul kernel, as its name (DecodeMatmulKernel::getName or
/// TensorCoreMatmulKernel::getName) says.
struct KernelInfo {
  std::string name;
  bool tensorCore;
  int64_t outChannels, inChannels, actScaleGroup, weightScaleGroup;
  /// Decode kernels: tokens per block, and columns per warp (dot-product
  /// kernels) or warps along the input channels (tensor-core ones, 0 for
  /// the others).
  int64_t tokensPerBlock = 0, columnsPerWarp = 0, mmaWarpsAlongK = 0;
  /// Tensor-core kernels: tokens per block, input channels per pipeline
  /// step, and steps.
  int64_t blockRows = 0, tileChannels = 0, stages = 0;
  /// Tensor-core kernels: the width of each pipeline step's activation
  /// codes (4: s4 mma, codes in [-8, 7]; 8: s8 mma).
  std::vector<int64_t> actStepBits;
  /// Threads of a block: the kernel's `.maxntid`.
  unsigned threads = 0;
  bool resultIsF16;

  /// What the kernel computes, apart from how: kernels with equal shapes
  /// are interchangeable.
  std::tuple<int64_t, int64_t, int64_t, int64_t, bool> getShape() const {
    return {outChannels, inChannels, actScaleGroup, weightScaleGroup,
            resultIsF16};
  }
  /// Dynamic shared memory of a launch (TensorCoreMatmulKernel).
  unsigned getSharedBytes() const {
    return tensorCore
               ? unsigned(stages * (blockRows * tileChannels +
                                    kTensorCoreColumns * tileChannels / 2))
               : 0;
  }
  /// Output channels of one thread block.
  int64_t getColumnsPerBlock() const {
    if (tensorCore)
      return kTensorCoreColumns;
    int64_t warps = threads / kWarpSize;
    return mmaWarpsAlongK ? kMmaColumns * (warps / mmaWarpsAlongK)
                          : warps * columnsPerWarp;
  }
  /// Output channels of a tensor-core kernel's block.
  static constexpr int64_t kTensorCoreColumns = 128;
  /// Output channels of a decode mma kernel's warp tile.
  static constexpr int64_t kMmaColumns = 16;
};

/// Bytes of weight copies to rotate through: several times H100/H200 L2.
constexpr size_t kRotationBytes = size_t(512) << 20;
/// Results larger than this are checked on sampled rows and columns.
constexpr int64_t kFullCheckElements = int64_t(1) << 18;
constexpr int64_t kSampledLines = 8;

/// The width of each of the `steps` pipeline steps' activations that a
/// tensor-core kernel's name spells: `a8`, `a4`, or runs such as
/// `a8x1a4x31`.
std::vector<int64_t> parseActivationSteps(const std::string &name,
                                          int64_t steps) {
  std::smatch activations;
  std::regex_search(name, activations,
                    std::regex(R"(^tc_matmul_w4((?:a\d+(?:x\d+)?)+)_)"));
  std::string runs = activations[1];
  std::regex run(R"(a(\d+)(?:x(\d+))?)");
  std::vector<int64_t> bits;
  for (auto it = std::sregex_iterator(runs.begin(), runs.end(), run);
       it != std::sregex_iterator(); ++it) {
    int64_t count = (*it)[2].matched ? std::stoll((*it)[2]) : steps;
    bits.insert(bits.end(), count, std::stoll((*it)[1]));
  }
  return bits;
}

/// Every matmul kernel of the PTX (f16 scales only).
std::vector<KernelInfo> findKernels(const std::string &ptx) {
  // The entry, its parameters, then its block size.
  const char *tail = R"(\([^)]*\)\s*\.maxntid (\d+), 1, 1)";
  std::regex decode(
      std::string(R"(\.entry (decode_matmul_w4_n(\d+)_k(\d+)_ga(\d+)_gw(\d+)_t(\d+)_c(\d+)_f16_(f16|f32)))") +
      tail);
  std::regex decodeMma(
      std::string(R"(\.entry (decode_matmul_mma_w4_n(\d+)_k(\d+)_ga(\d+)_gw(\d+)_t(\d+)_kw(\d+)_f16_(f16|f32)))") +
      tail);
  std::regex tensorCore(
      std::string(
          R"(\.entry (tc_matmul_w4(?:a\d+(?:x\d+)?)+_n(\d+)_k(\d+)_ga(\d+)_gw(\d+)_m(\d+)_kt(\d+)_s(\d+)_f16_(f16|f32)))") +
      tail);
  std::vector<KernelInfo> kernels;
  for (const std::regex *entry : {&decode, &decodeMma, &tensorCore}) {
    for (auto it = std::sregex_iterator(ptx.begin(), ptx.end(), *entry);
         it != std::sregex_iterator(); ++it) {
      const std::smatch &m = *it;
      KernelInfo info;
      info.name = m[1];
      info.tensorCore = entry == &tensorCore;
      info.outChannels = std::stoll(m[2]);
      info.inChannels = std::stoll(m[3]);
      info.actScaleGroup = std::stoll(m[4]);
      info.weightScaleGroup = std::stoll(m[5]);
      // Decode kernels have one number fewer (t, c against m, kt, s).
      size_t next = 6;
      if (info.tensorCore) {
        info.blockRows = std::stoll(m[next++]);
        info.tileChannels = std::stoll(m[next++]);
        info.stages = std::stoll(m[next++]);
        info.actStepBits = parseActivationSteps(
            info.name, info.inChannels / info.tileChannels);
      } else {
        info.tokensPerBlock = std::stoll(m[next++]);
        (entry == &decodeMma ? info.mmaWarpsAlongK : info.columnsPerWarp) =
            std::stoll(m[next++]);
      }
      info.resultIsF16 = m[next++] == "f16";
      info.threads = unsigned(std::stoul(m[next]));
      kernels.push_back(info);
    }
  }
  return kernels;
}

/// A random normal f16 bit pattern in [2^-10, 2^-6).
uint16_t randomScale(std::mt19937 &generator) {
  std::uniform_int_distribution<int> exponent(5, 8), mantissa(0, 1023);
  return uint16_t(exponent(generator) << 10 | mantissa(generator));
}


/// One benchmark case: a kernel and a token count.
class MatmulCase {
public:
  MatmulCase(CudaDevice &device, void *function, const KernelInfo &info,
                   int64_t tokens)
      : device(device), function(function), info(info), tokens(tokens) {}

  /// Runs, checks and times the case; prints its row, or the error.
  bool run(int iterations);

private:
  bool setUp();
  bool launch(int64_t copy);
  /// Compares `result` with the CPU's evaluation in double precision (every
  /// element of small results; whole rows and columns spread over the tiles
  /// of large ones): sets the largest error relative to the largest
  /// reference value, and returns whether every element is within f32
  /// summation error plus, for an f16 result, the rounding to f16.
  bool checkResult(const std::vector<float> &result, double &relativeError);
  /// The CPU's value of result element (t, col).
  double reference(int64_t t, int64_t col) const;

  CudaDevice &device;
  void *function;
  const KernelInfo &info;
  int64_t tokens;
  std::vector<int8_t> weightCodes, actCodes;
  std::vector<uint16_t> weightScales, actScales;
  std::vector<DevicePointer> weightCopies, weightScaleCopies;
  DevicePointer act = 0, actScale = 0, result = 0;
  size_t weightBytes = 0, weightScaleBytes = 0;
};

bool MatmulCase::setUp() {
  const int64_t n = info.outChannels, k = info.inChannels;
  std::mt19937 generator(uint32_t(n * 31 + k * 7 + tokens));
  std::uniform_int_distribution<int> weightCode(-7, 7), actCode(-127, 127),
      int4ActCode(-7, 7);
  weightCodes.resize(n * k);
  for (int8_t &c : weightCodes)
    c = int8_t(weightCode(generator));
  // Channels of 4-bit steps hold 4-bit codes, as an FMPQ layout's INT4
  // blocks do.
  actCodes.resize(tokens * k);
  for (int64_t i = 0; i < tokens * k; ++i) {
    int64_t step = i % k / std::max<int64_t>(info.tileChannels, 1);
    bool int4 = info.tensorCore && info.actStepBits[step] == 4;
    actCodes[i] = int8_t(int4 ? int4ActCode(generator) : actCode(generator));
  }
  weightScales.resize(n * (k / info.weightScaleGroup));
  for (uint16_t &s : weightScales)
    s = randomScale(generator);
  actScales.resize(tokens * (k / info.actScaleGroup));
  for (uint16_t &s : actScales)
    s = randomScale(generator);

  std::vector<uint32_t> packed =
      packInt4Interleaved(weightCodes.data(), n, k);
  weightBytes = packed.size() * sizeof(uint32_t);
  weightScaleBytes = weightScales.size() * sizeof(uint16_t);
  size_t copies = std::max<size_t>(
      1, kRotationBytes / (weightBytes + weightScaleBytes));
  for (size_t copy = 0; copy < copies; ++copy) {
    DevicePointer weights, scales;
    if (!device.allocate(weightBytes, weights) ||
        !device.allocate(weightScaleBytes, scales) ||
        !device.copyToDevice(weights, packed.data(), weightBytes) ||
        !device.copyToDevice(scales, weightScales.data(), weightScaleBytes))
      return false;
    weightCopies.push_back(weights);
    weightScaleCopies.push_back(scales);
  }
  size_t resultBytes = tokens * n * (info.resultIsF16 ? 2 : 4);
  return device.allocate(actCodes.size(), act) &&
         device.allocate(actScales.size() * 2, actScale) &&
         device.allocate(resultBytes, result) &&
         device.copyToDevice(act, actCodes.data(), actCodes.size()) &&
         device.copyToDevice(actScale, actScales.data(),
                             actScales.size() * 2);
}

bool MatmulCase::launch(int64_t copy) {
  const int64_t n = info.outChannels, k = info.inChannels;
  // Decode kernels read weights and activations as 16-byte vectors, the
  // tensor-core kernel as bytes.
  const int64_t unit = info.tensorCore ? 1 : 16;
  MemrefArgument weights(weightCopies[copy], n * k / 2 / unit),
      weightScale(weightScaleCopies[copy], int64_t(weightScales.size())),
      actArg(act, tokens * k / unit),
      actScaleArg(actScale, int64_t(actScales.size())),
      resultArg(result, tokens * n);
  int32_t tokenCount = int32_t(tokens);
  std::vector<void *> arguments;
  weights.append(arguments);
  weightScale.append(arguments);
  actArg.append(arguments);
  actScaleArg.append(arguments);
  resultArg.append(arguments);
  arguments.push_back(&tokenCount);
  int64_t columnsPerBlock = info.getColumnsPerBlock();
  int64_t rowsPerBlock = info.tensorCore ? info.blockRows : info.tokensPerBlock;
  unsigned grid[3] = {unsigned((n + columnsPerBlock - 1) / columnsPerBlock),
                      unsigned((tokens + rowsPerBlock - 1) / rowsPerBlock),
                      1};
  unsigned block[3] = {info.threads, 1, 1};
  return device.launch(function, grid, block, arguments,
                       info.getSharedBytes());
}

double MatmulCase::reference(int64_t t, int64_t col) const {
  const int64_t k = info.inChannels;
  double sum = 0;
  for (int64_t chunk = 0; chunk < k; chunk += 32) {
    int64_t dot = 0;
    for (int64_t c = chunk; c < chunk + 32; ++c)
      dot += int64_t(actCodes[t * k + c]) * weightCodes[col * k + c];
    double scale =
        double(halfToFloat(actScales[t * (k / info.actScaleGroup) +
                                     chunk / info.actScaleGroup])) *
        halfToFloat(weightScales[col * (k / info.weightScaleGroup) +
                                 chunk / info.weightScaleGroup]);
    sum += double(dot) * scale;
  }
  return sum;
}

bool MatmulCase::checkResult(const std::vector<float> &gpu,
                             double &relativeError) {
  const int64_t n = info.outChannels;
  // The elements to check: all, or whole rows and columns at the first and
  // last token and channel and spread in between, so every tile edge and
  // every warp position is covered.
  std::vector<std::pair<int64_t, int64_t>> elements;
  if (tokens * n <= kFullCheckElements) {
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t col = 0; col < n; ++col)
        elements.push_back({t, col});
  } else {
    auto spread = [](int64_t count) {
      std::set<int64_t> lines;
      for (int64_t i = 0; i < kSampledLines; ++i)
        lines.insert(i * (count - 1) / (kSampledLines - 1));
      lines.insert(count / 2 + 37 < count ? count / 2 + 37 : count - 1);
      return lines;
    };
    for (int64_t t : spread(tokens))
      for (int64_t col = 0; col < n; ++col)
        elements.push_back({t, col});
    for (int64_t col : spread(n))
      for (int64_t t = 0; t < tokens; ++t)
        elements.push_back({t, col});
  }
  std::vector<double> expected(elements.size());
  double largest = 0, worst = 0;
  for (size_t i = 0; i < elements.size(); ++i) {
    expected[i] = reference(elements[i].first, elements[i].second);
    largest = std::max(largest, std::fabs(expected[i]));
  }
  // f16 keeps 11 significant bits: rounding moves a value by 2^-11 of it.
  double roundingToResult = info.resultIsF16 ? std::ldexp(1.0, -11) : 0.0;
  bool within = true;
  for (size_t i = 0; i < elements.size(); ++i) {
    double value = gpu[elements[i].first * n + elements[i].second];
    double error = std::fabs(expected[i] - value);
    worst = std::max(worst, error);
    within &= error <= 1e-5 * largest +
                           roundingToResult * std::fabs(expected[i]);
  }
  relativeError = largest > 0 ? worst / largest : worst;
  return within;
}

bool MatmulCase::run(int iterations) {
  auto fail = [&](const char *what) {
    std::printf("| %s | tokens %lld | error in %s: %s |\n", info.name.c_str(),
                (long long)tokens, what, device.getError().c_str());
    return false;
  };
  if (!setUp())
    return fail("set-up");
  if (info.tensorCore &&
      !device.allowDynamicSharedMemory(function, int(info.getSharedBytes())))
    return fail("set-up");
  if (!launch(0) || !device.synchronize())
    return fail("first launch");
  const int64_t n = info.outChannels;
  std::vector<float> gpu(tokens * n);
  if (info.resultIsF16) {
    std::vector<uint16_t> half(tokens * n);
    if (!device.copyToHost(half.data(), result, half.size() * 2))
      return fail("copy back");
    std::transform(half.begin(), half.end(), gpu.begin(), halfToFloat);
  } else if (!device.copyToHost(gpu.data(), result, gpu.size() * 4)) {
    return fail("copy back");
  }
  double error = 0;
  bool correct = checkResult(gpu, error);

  int64_t copies = int64_t(weightCopies.size());
  for (int64_t copy = 0; copy < copies; ++copy)
    if (!launch(copy))
      return fail("warm-up");
  float milliseconds = 0;
  bool timed = device.time(
      [&] {
        for (int i = 0; i < iterations; ++i)
          if (!launch(i % copies))
            return false;
        return true;
      },
      milliseconds);
  if (!timed)
    return fail("timing");
  double microseconds = 1000.0 * milliseconds / iterations;
  double bytes = double(weightBytes + weightScaleBytes) +
                 double(actCodes.size() + 2 * actScales.size()) +
                 double(tokens * n * (info.resultIsF16 ? 2 : 4));
  char kernel[64];
  if (info.tensorCore)
    std::snprintf(kernel, sizeof(kernel), "tensor core m%lld kt%lld s%lld",
                  (long long)info.blockRows, (long long)info.tileChannels,
                  (long long)info.stages);
  else if (info.mmaWarpsAlongK)
    std::snprintf(kernel, sizeof(kernel), "decode mma t%lld kw%lld",
                  (long long)info.tokensPerBlock,
                  (long long)info.mmaWarpsAlongK);
  else
    std::snprintf(kernel, sizeof(kernel), "decode t%lld c%lld",
                  (long long)info.tokensPerBlock,
                  (long long)info.columnsPerWarp);
  double operations = 2.0 * double(tokens) * double(n) * info.inChannels;
  std::printf("| %lld | %lld | %lld | %s | %.2f | %.0f | %.1f | %.1e | %s |\n",
              (long long)n, (long long)info.inChannels, (long long)tokens,
              kernel, microseconds, bytes / microseconds / 1e3,
              operations / microseconds / 1e6, error,
              correct ? "ok" : "WRONG");
  for (DevicePointer p : weightCopies)
    device.free(p);
  for (DevicePointer p : weightScaleCopies)
    device.free(p);
  device.free(act);
  device.free(actScale);
  device.free(result);
  return correct;
}

/// The decode kernel of `shape` that serves `tokens`: the smallest power of
/// two that holds them, or the largest there is.
const KernelInfo *pickKernel(const std::vector<KernelInfo> &kernels,
                             const KernelInfo &shape, int64_t tokens) {
  const KernelInfo *smallestFitting = nullptr, *largest = nullptr;
  for (const KernelInfo &k : kernels) {
    if (k.tensorCore || k.getShape() != shape.getShape())
      continue;
    if (k.tokensPerBlock >= tokens &&
        (!smallestFitting || k.tokensPerBlock < smallestFitting->tokensPerBlock))
      smallestFitting = &k;
    if (!largest || k.tokensPerBlock > largest->tokensPerBlock)
      largest = &k;
  }
  return smallestFitting ? smallestFitting : largest;
}

/// The tensor-core kernels of `shape` (one per tile height) in the PTX.
std::vector<const KernelInfo *>
findTensorCoreKernels(const std::vector<KernelInfo> &kernels,
                      const KernelInfo &shape) {
  std::vector<const KernelInfo *> found;
  for (const KernelInfo &k : kernels)
    if (k.tensorCore && k.getShape() == shape.getShape())
      found.push_back(&k);
  return found;
}

} // namespace

int main(int argc, char **argv) {
  int exitCode = 0;
  std::optional<BenchCommandLine> commandLine = BenchCommandLine::parse(
      argc, argv,
      "Runs, checks and times the matmul kernels of the PTX that "
      "lowbit-compile wrote:\nthe decode kernels up to 4 blocks of their "
      "largest token count, the tensor-core kernels at every count.\n",
      {1, 16, 256}, 200, exitCode);
  if (!commandLine)
    return exitCode;
  const std::string &ptx = commandLine->ptx;
  const std::vector<int64_t> &tokenCounts = commandLine->tokenCounts;
  int iterations = commandLine->iterations;

  std::vector<KernelInfo> kernels = findKernels(ptx);
  if (kernels.empty()) {
    std::fprintf(stderr, "error: %s has no matmul kernel\n", argv[1]);
    return 1;
  }
  void *module = nullptr;
  std::unique_ptr<CudaDevice> device = openDeviceWithModule(ptx, module);
  if (!device)
    return 1;
  std::printf("device: %s (sm_%d), %d iterations per case, weights rotated "
              "through %zu MiB\n\n",
              device->getName().c_str(), device->getComputeCapability(),
              iterations, kRotationBytes >> 20);
  std::printf("| N | K | tokens | kernel | us | GB/s | TOPS | max rel err "
              "| check |\n"
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");

  std::set<decltype(KernelInfo().getShape())> shapesSeen;
  bool allPassed = true;
  for (const KernelInfo &shape : kernels) {
    if (!shapesSeen.insert(shape.getShape()).second)
      continue;
    for (int64_t tokens : tokenCounts) {
      std::vector<const KernelInfo *> cases;
      const KernelInfo *decode = pickKernel(kernels, shape, tokens);
      if (decode &&
          tokens <= kMaxDecodeTokenBlocks * decode->tokensPerBlock)
        cases.push_back(decode);
      for (const KernelInfo *tensorCore : findTensorCoreKernels(kernels, shape))
        cases.push_back(tensorCore);
      for (const KernelInfo *kernel : cases) {
        void *function = nullptr;
        if (!device->getFunction(module, kernel->name, function)) {
          std::fprintf(stderr, "error: %s\n", device->getError().c_str());
          return 1;
        }
        allPassed &=
            MatmulCase(*device, function, *kernel, tokens).run(iterations);
      }
    }
  }
  return allPassed ? 0 : 1;
}
