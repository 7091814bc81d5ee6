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

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lowbit::runtime {

/// The device of a loaded GPU model and its buffers.
class GpuExecution {
public:
  ~GpuExecution();
  GpuExecution(const GpuExecution &) = delete;
  GpuExecution &operator=(const GpuExecution &) = delete;

  /// Opens GPU `ordinal`, connects the runtime functions the host code in
  /// `library` calls (the metadata's `gpu_runtime_functions`), loads its
  /// kernel modules and uploads `weights`; null with `error` set on failure
  /// (no GPU, a missing function, PTX the driver rejects). Decode steps run
  /// as CUDA graphs only when `allowGraphs` (a graph holds kernels, not the
  /// collectives of a tensor-parallel model).
  static std::unique_ptr<GpuExecution>
  create(void *library, const Artifact &artifact, std::string_view weights,
         int64_t stateBytes, int ordinal, bool allowGraphs, std::string &error);

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
  /// A `decodeStep` (decode, or batched decode) runs as a CUDA graph when the
  /// driver has them (and LOWBIT_GPU_GRAPHS is not 0, and the model is not
  /// profiled), its kernels linked by programmatic edges when the artifact
  /// allows: the first step records its launches as a graph, later steps replay
  /// it and update only the nodes whose parameters changed (the position, the
  /// KV cache views), so the step costs one launch instead of hundreds.
  template <typename Body>
  bool run(Body body, bool decodeStep, float *logits, int64_t logitsBytes,
           std::string &error) {
    activate();
    bool graphed = beginStepGraph(decodeStep);
    body();
    // A replay whose launches differ from the graph's records it anew.
    if (graphed && !launchStepGraph())
      body();
    if (graphed && graphMode != GraphMode::Off)
      launchStepGraph();
    return finish(logits, logitsBytes, error);
  }

  /// Zeroes the KV cache state.
  bool clearState(std::string &error);
  /// Replaces the KV cache state by `bytes` of zeroes; false with `error`
  /// set when the device cannot hold them (the state is then gone until a
  /// resize succeeds).
  bool resizeState(int64_t bytes, std::string &error);

  /// The GPU's name.
  std::string getDeviceName() const { return device->getName(); }

  /// Records the first failure of a runtime function (called by them).
  void recordError(const std::string &message);
  /// Launches `function` (looked up as kernel `name`) with `arguments`,
  /// timed with events when the model is profiled (called by the runtime
  /// functions).
  void launch(void *function, const unsigned grid[3], const unsigned block[3],
              std::vector<void *> &arguments, unsigned sharedBytes);
  /// Runs `collective` (a call that enqueues work on the default stream),
  /// timed with events as `name` in the profile when the model is
  /// profiled; returns its result.
  bool runCollective(const char *name, const std::function<bool()> &collective);
  /// Remembers that `function` is the kernel `name`, for the profile.
  void nameKernel(void *function, const std::string &name) {
    kernelNames[function] = name;
  }
  /// The device the runtime functions use (called by them).
  CudaDevice &getDevice() { return *device; }

private:
  GpuExecution() = default;
  void activate();

  /// What launch() does with a launch.
  enum class GraphMode {
    Off,    ///< launch it
    Record, ///< append it to stepGraph
    Replay  ///< check it against stepGraph's next node, update that node
  };
  /// One recorded kernel node and the launch it holds.
  struct GraphNode {
    void *node = nullptr;
    void *function = nullptr;
    /// Grid, block and dynamic shared memory (getLaunchShape).
    std::array<unsigned, 7> shape = {};
    std::vector<uint8_t> parameters;
  };
  /// A launch's grid, block and dynamic shared memory bytes.
  static std::array<unsigned, 7>
  getLaunchShape(const CudaDevice::KernelLaunch &launch) {
    return {launch.grid[0],    launch.grid[1],  launch.grid[2],
            launch.block[0],   launch.block[1], launch.block[2],
            launch.sharedBytes};
  }
  /// The launches of a decode step as an instantiated graph.
  struct StepGraph {
    void *graph = nullptr;
    void *executable = nullptr;
    std::vector<GraphNode> nodes;
  };
  /// Starts recording or replaying the step graph when `decodeStep` and
  /// graphs are on; false when the step launches directly.
  bool beginStepGraph(bool decodeStep);
  /// Replaces the step graph by an empty one to record into; false (with
  /// the error recorded) when the driver cannot create one.
  bool startRecording();
  /// Instantiates a recorded graph, or checks a replay, and launches it;
  /// false when the replay did not match (the graph is dropped and the next
  /// run of the step's host code records a new one).
  bool launchStepGraph();
  /// The values of `function`'s parameters, concatenated.
  std::vector<uint8_t> getParameterBytes(void *function,
                                         const std::vector<void *> &arguments);
  void recordLaunch(const CudaDevice::KernelLaunch &launch,
                    std::vector<uint8_t> parameters);
  void replayLaunch(const CudaDevice::KernelLaunch &launch,
                    std::vector<uint8_t> parameters);
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
  /// Whether decode steps run as CUDA graphs.
  bool graphsEnabled = false;
  /// Whether a step graph links its kernels by programmatic edges, so each
  /// starts while the one before it ends (the artifact's
  /// gpu_dependent_launch, unless LOWBIT_GPU_DEPENDENT_LAUNCH is 0).
  bool dependentLaunch = false;
  GraphMode graphMode = GraphMode::Off;
  StepGraph stepGraph;
  /// The next node a replay compares, and whether all so far matched.
  size_t replayNext = 0;
  bool replayMatches = true;
  /// Parameter sizes of every launched kernel.
  std::map<void *, std::vector<size_t>> parameterSizes;
};

} // namespace lowbit::runtime

#endif // LOWBIT_RUNTIME_GPUEXECUTION_H
