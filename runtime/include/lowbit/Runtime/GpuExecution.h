//===- GpuExecution.h - the device side of a GPU model ----------*- C++ -*-===//
//
// A GPU model artifact (format `lowbit-gpu`) holds x86-64 host code whose
// kernel functions launch PTX kernels through MLIR's GPU runtime interface
// (mgpuModuleLoadJIT, mgpuLaunchKernel, ...). GpuExecution provides those
// functions on top of CudaDevice, owns the device buffers the entry points
// take (weights, KV cache state, scratch, tokens, positions, logits), and
// loads the kernel modules once the device is ready. It does no model
// arithmetic itself.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_RUNTIME_GPUEXECUTION_H
#define LOWBIT_RUNTIME_GPUEXECUTION_H

#include "lowbit/Runtime/Artifact.h"
#include "lowbit/Runtime/CudaDriver.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace lowbit::runtime {

/// The device of a loaded GPU model and its buffers.
class GpuExecution {
public:
  ~GpuExecution();
  GpuExecution(const GpuExecution &) = delete;
  GpuExecution &operator=(const GpuExecution &) = delete;

  /// Opens the GPU (ordinal from LOWBIT_GPU, default 0), connects the
  /// runtime functions the host code in `library` calls (the metadata's
  /// `gpu_runtime_functions`), loads its kernel modules and uploads the
  /// weights; null with `error` set on failure (no GPU, a missing function,
  /// PTX the driver rejects).
  static std::unique_ptr<GpuExecution> create(void *library,
                                              const Artifact &artifact,
                                              int64_t stateBytes,
                                              std::string &error);

  /// Device buffers of one step.
  struct Buffers {
    DevicePointer weights, state, scratch, tokens, positions, logits;
    int64_t weightBytes, stateBytes, scratchBytes, logitsBytes;
  };

  /// Uploads the step's `count` tokens and positions and makes the scratch
  /// and logits buffers large enough; false with `error` set on failure.
  bool prepare(const int32_t *tokens, const int32_t *positions, int64_t count,
               int64_t scratchBytes, int64_t logitsBytes, Buffers &buffers,
               std::string &error);

  /// Makes the calls of the host code that runs `body` go to this device,
  /// waits for the kernels it launched and copies `logitsBytes` of logits
  /// to `logits`; false with the first failed launch's error otherwise.
  template <typename Body>
  bool run(Body body, float *logits, int64_t logitsBytes, std::string &error) {
    activate();
    body();
    return finish(logits, logitsBytes, error);
  }

  /// Zeroes the KV cache state.
  bool clearState(std::string &error);

  /// The GPU's name.
  std::string getDeviceName() const { return device->getName(); }

  /// Records the first failure of a runtime function (called by them).
  void recordError(const std::string &message);
  /// Launches `function` (looked up as kernel `name`) with `arguments`,
  /// timed with events when the model is profiled (called by the runtime
  /// functions).
  void launch(void *function, const unsigned grid[3], const unsigned block[3],
              std::vector<void *> &arguments, unsigned sharedBytes);
  /// Remembers that `function` is the kernel `name`, for the profile.
  void nameKernel(void *function, const std::string &name) {
    kernelNames[function] = name;
  }
  /// The device the runtime functions use (called by them).
  CudaDevice &getDevice() { return *device; }

private:
  GpuExecution() = default;
  void activate();
  bool finish(float *logits, int64_t logitsBytes, std::string &error);
  /// Grows `buffer` (of `capacity` bytes) to at least `bytes`.
  bool reserve(DevicePointer &buffer, int64_t &capacity, int64_t bytes);

  /// GPU time of the launches of one kernel.
  struct KernelTime {
    int64_t launches = 0;
    double milliseconds = 0;
  };
  /// Writes the profile to `profilePath` as a Markdown table, slowest
  /// kernel first.
  void writeProfile() const;

  std::unique_ptr<CudaDevice> device;
  /// Where the kernel profile goes (LOWBIT_GPU_PROFILE); empty: none.
  std::string profilePath;
  std::map<void *, std::string> kernelNames;
  std::map<std::string, KernelTime> profile;
  void *library = nullptr;
  DevicePointer weights = 0, state = 0, scratch = 0, tokens = 0,
                positions = 0, logits = 0;
  int64_t weightBytes = 0, stateBytes = 0, scratchCapacity = 0,
          tokenCapacity = 0, positionCapacity = 0,
          logitsCapacity = 0;
  std::string firstError;
};

} // namespace lowbit::runtime

#endif // LOWBIT_RUNTIME_GPUEXECUTION_H
