//===- BenchCommandLine.h - the GPU benchmarks' command line ----*- C++ -*-===//
//
// The kernel benchmarks take `kernels.ptx [tokens,...] [iterations]`: the
// PTX lowbit-compile wrote, the token counts to run and the calls to time;
// most then open GPU 0 with that PTX loaded.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_BENCH_GPU_BENCHCOMMANDLINE_H
#define LOWBIT_BENCH_GPU_BENCHCOMMANDLINE_H

#include "lowbit/Runtime/CudaDriver.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace lowbit::runtime {

/// A parsed benchmark command line.
struct BenchCommandLine {
  /// The PTX text.
  std::string ptx;
  std::vector<int64_t> tokenCounts;
  int iterations;

  /// Parses `argv`; on a missing argument prints the usage line and
  /// `description`, on an unreadable PTX file the error, and returns none
  /// with the exit code in `exitCode`.
  static std::optional<BenchCommandLine>
  parse(int argc, char **argv, const char *description,
        std::vector<int64_t> defaultTokenCounts, int defaultIterations,
        int &exitCode) {
    if (argc < 2) {
      std::fprintf(stderr, "usage: %s kernels.ptx [tokens,...] [iterations]\n%s",
                   argv[0], description);
      exitCode = 2;
      return std::nullopt;
    }
    std::ifstream file(argv[1]);
    if (!file) {
      std::fprintf(stderr, "error: cannot read %s\n", argv[1]);
      exitCode = 1;
      return std::nullopt;
    }
    std::stringstream text;
    text << file.rdbuf();
    BenchCommandLine line{text.str(), std::move(defaultTokenCounts),
                          argc > 3 ? std::atoi(argv[3]) : defaultIterations};
    if (argc > 2) {
      line.tokenCounts.clear();
      std::stringstream list(argv[2]);
      for (std::string item; std::getline(list, item, ',');)
        line.tokenCounts.push_back(std::stoll(item));
    }
    return line;
  }
};

/// GPU 0 with `ptx` loaded as `module`, or null after printing why not.
inline std::unique_ptr<CudaDevice> openDeviceWithModule(const std::string &ptx,
                                                        void *&module) {
  std::string error;
  std::unique_ptr<CudaDevice> device = CudaDevice::open(0, error);
  if (!device) {
    std::fprintf(stderr, "error: no GPU: %s\n", error.c_str());
    return nullptr;
  }
  if (!device->loadModule(ptx, module)) {
    std::fprintf(stderr, "error: %s\n", device->getError().c_str());
    return nullptr;
  }
  return device;
}

} // namespace lowbit::runtime

#endif // LOWBIT_BENCH_GPU_BENCHCOMMANDLINE_H
