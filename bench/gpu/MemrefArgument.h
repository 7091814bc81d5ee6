//===- MemrefArgument.h - memref kernel arguments for the benchmarks -*- C++ -*-===//
//
// Generated kernels take MLIR's memref descriptors (docs/gpu.md); the
// benchmarks that launch them build those descriptors here.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_BENCH_GPU_MEMREFARGUMENT_H
#define LOWBIT_BENCH_GPU_MEMREFARGUMENT_H

#include "lowbit/Runtime/CudaDriver.h"

#include <vector>

namespace lowbit::runtime {

/// A kernel's memref argument: MLIR's descriptor of a 1-D memref, passed as
/// five parameters (allocated and aligned pointer, offset, size, stride).
struct MemrefArgument {
  DevicePointer allocated, aligned;
  int64_t offset, size, stride;
  MemrefArgument(DevicePointer pointer, int64_t elements)
      : allocated(pointer), aligned(pointer), offset(0), size(elements),
        stride(1) {}
  void append(std::vector<void *> &arguments) {
    for (void *field : {(void *)&allocated, (void *)&aligned, (void *)&offset,
                        (void *)&size, (void *)&stride})
      arguments.push_back(field);
  }
};

} // namespace lowbit::runtime

#endif // LOWBIT_BENCH_GPU_MEMREFARGUMENT_H
