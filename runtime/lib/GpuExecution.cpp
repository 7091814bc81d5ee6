//===- GpuExecution.cpp - the device side of a GPU model ------------------===//
//
// The host code of a GPU model calls MLIR's GPU runtime interface through
// pointer slots (`lowbit_gpu_<name>`, set here) instead of linking MLIR's
// CUDA runtime wrappers: the functions below implement that interface on
// CudaDevice. All kernels go to the device's default stream in launch
// order, so the per-launch stream synchronisation the host code asks for
// is not needed: GpuExecution::finish synchronises once per step. Decode
// steps run as a CUDA graph built from the same launches (run()).
//
//===----------------------------------------------------------------------===//

#include "lowbit/Runtime/GpuExecution.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>

using namespace lowbit::runtime;

namespace {
/// The model whose host code is running on this thread.
thread_local GpuExecution *active = nullptr;

void *loadModule(void *ptx, int32_t /*optLevel*/) {
  void *module = nullptr;
  if (!active->getDevice().loadModule(static_cast<const char *>(ptx), module))
    active->recordError("loading a kernel module failed: " +
                        active->getDevice().getError());
  return module;
}

void unloadModule(void * /*module*/) {
  // Modules live as long as the device's context.
}

void *getFunction(void *module, const char *name) {
  static thread_local std::map<std::pair<void *, std::string>, void *> cache;
  auto key = std::make_pair(module, std::string(name));
  auto found = cache.find(key);
  if (found != cache.end())
    return found->second;
  void *function = nullptr;
  if (!module || !active->getDevice().getFunction(module, name, function)) {
    active->recordError("kernel '" + std::string(name) +
                        "' not found: " + active->getDevice().getError());
    return nullptr;
  }
  cache.emplace(key, function);
  active->nameKernel(function, name);
  return function;
}

void *createStream() { return nullptr; }

void synchronizeStream(void * /*stream*/) {}

void destroyStream(void * /*stream*/) {}

void launchKernel(void *function, intptr_t gridX, intptr_t gridY,
                  intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                  intptr_t blockZ, int32_t sharedBytes, void * /*stream*/,
                  void **parameters, void ** /*extra*/, size_t count) {
  if (!function)
    return;
  // A dimension of 0 (no tokens) launches nothing.
  if (gridX <= 0 || gridY <= 0 || gridZ <= 0)
    return;
  unsigned grid[3] = {static_cast<unsigned>(gridX),
                      static_cast<unsigned>(gridY),
                      static_cast<unsigned>(gridZ)};
  unsigned block[3] = {static_cast<unsigned>(blockX),
                       static_cast<unsigned>(blockY),
                       static_cast<unsigned>(blockZ)};
  // Beyond 48 KiB of dynamic shared memory a kernel must opt in, once.
  constexpr int32_t kDefaultSharedBytesLimit = 48 * 1024;
  static thread_local std::set<void *> optedIn;
  if (sharedBytes > kDefaultSharedBytesLimit &&
      optedIn.insert(function).second &&
      !active->getDevice().allowDynamicSharedMemory(function, sharedBytes)) {
    active->recordError("raising a kernel's shared memory limit failed: " +
                        active->getDevice().getError());
    return;
  }
  std::vector<void *> arguments(parameters, parameters + count);
  active->launch(function, grid, block, arguments,
                 static_cast<unsigned>(sharedBytes));
}

/// Whether the environment variable `name` is 0, which turns a feature off.
bool isTurnedOff(const char *name) {
  const char *value = std::getenv(name);
  return value && std::string(value) == "0";
}

/// The runtime functions the compiled host code may call, by name.
const std::map<std::string, void *> &getRuntimeFunctions() {
  static const std::map<std::string, void *> functions = {
      {"mgpuModuleLoadJIT", reinterpret_cast<void *>(&loadModule)},
      {"mgpuModuleUnload", reinterpret_cast<void *>(&unloadModule)},
      {"mgpuModuleGetFunction", reinterpret_cast<void *>(&getFunction)},
      {"mgpuStreamCreate", reinterpret_cast<void *>(&createStream)},
      {"mgpuStreamSynchronize", reinterpret_cast<void *>(&synchronizeStream)},
      {"mgpuStreamDestroy", reinterpret_cast<void *>(&destroyStream)},
      {"mgpuLaunchKernel", reinterpret_cast<void *>(&launchKernel)},
  };
  return functions;
}
} // namespace

GpuExecution::~GpuExecution() {
  if (!device)
    return;
  if (!profilePath.empty())
    writeProfile();
  device->destroyGraph(stepGraph.graph, stepGraph.executable);
  for (DevicePointer buffer :
       {weights, state, scratch, tokens, positions, logits})
    if (buffer)
      device->free(buffer);
}

void GpuExecution::launch(void *function, const unsigned grid[3],
                          const unsigned block[3],
                          std::vector<void *> &arguments,
                          unsigned sharedBytes) {
  if (graphMode != GraphMode::Off) {
    CudaDevice::KernelLaunch step{function,
                                  {grid[0], grid[1], grid[2]},
                                  {block[0], block[1], block[2]},
                                  sharedBytes,
                                  arguments.data()};
    std::vector<uint8_t> parameters = getParameterBytes(function, arguments);
    if (graphMode == GraphMode::Record)
      recordLaunch(step, std::move(parameters));
    else
      replayLaunch(step, std::move(parameters));
    return;
  }
  auto run = [&] {
    return device->launch(function, grid, block, arguments, sharedBytes);
  };
  float milliseconds = 0;
  if (profilePath.empty() ? run() : device->time(run, milliseconds)) {
    if (!profilePath.empty()) {
      KernelTime &time = profile[kernelNames[function]];
      ++time.launches;
      time.milliseconds += milliseconds;
    }
    return;
  }
  recordError("a kernel launch failed: " + device->getError());
}

std::vector<uint8_t>
GpuExecution::getParameterBytes(void *function,
                                const std::vector<void *> &arguments) {
  std::vector<size_t> &sizes = parameterSizes[function];
  while (sizes.size() < arguments.size()) {
    size_t bytes = 0;
    if (!device->getParameterSize(function, sizes.size(), bytes)) {
      recordError("reading a kernel's parameter sizes failed: " +
                  device->getError());
      return {};
    }
    sizes.push_back(bytes);
  }
  std::vector<uint8_t> values;
  for (size_t i = 0; i < arguments.size(); ++i) {
    const auto *value = static_cast<const uint8_t *>(arguments[i]);
    size_t bytes = sizes[i];
    values.insert(values.end(), value, value + bytes);
  }
  return values;
}

bool GpuExecution::beginStepGraph(bool decodeStep) {
  if (!decodeStep || !graphsEnabled)
    return false;
  if (stepGraph.executable) {
    graphMode = GraphMode::Replay;
    replayNext = 0;
    replayMatches = true;
    return true;
  }
  return startRecording();
}

bool GpuExecution::startRecording() {
  // Drops the graph before (a recording that failed part-way, or one whose
  // replay did not match).
  device->destroyGraph(stepGraph.graph, stepGraph.executable);
  stepGraph = StepGraph();
  if (!device->createGraph(stepGraph.graph)) {
    recordError("creating a CUDA graph failed: " + device->getError());
    return false;
  }
  graphMode = GraphMode::Record;
  return true;
}

void GpuExecution::recordLaunch(const CudaDevice::KernelLaunch &launch,
                                std::vector<uint8_t> parameters) {
  GraphNode node;
  void *previous =
      stepGraph.nodes.empty() ? nullptr : stepGraph.nodes.back().node;
  if (!device->addKernelNode(stepGraph.graph, previous, launch, node.node,
                             dependentLaunch)) {
    recordError("adding a kernel to a CUDA graph failed: " +
                device->getError());
    return;
  }
  node.function = launch.function;
  node.shape = getLaunchShape(launch);
  node.parameters = std::move(parameters);
  stepGraph.nodes.push_back(std::move(node));
}

void GpuExecution::replayLaunch(const CudaDevice::KernelLaunch &launch,
                                std::vector<uint8_t> parameters) {
  if (!replayMatches)
    return;
  if (replayNext >= stepGraph.nodes.size() ||
      stepGraph.nodes[replayNext].function != launch.function) {
    replayMatches = false;
    return;
  }
  GraphNode &node = stepGraph.nodes[replayNext++];
  std::array<unsigned, 7> shape = getLaunchShape(launch);
  if (shape == node.shape && parameters == node.parameters)
    return;
  if (!device->setKernelNode(stepGraph.executable, node.node, launch)) {
    recordError("updating a CUDA graph's kernel failed: " + device->getError());
    return;
  }
  node.shape = shape;
  node.parameters = std::move(parameters);
}

bool GpuExecution::launchStepGraph() {
  GraphMode mode = graphMode;
  graphMode = GraphMode::Off;
  if (!firstError.empty())
    return true;
  if (mode == GraphMode::Replay &&
      (!replayMatches || replayNext != stepGraph.nodes.size()))
    return !startRecording();
  if (mode == GraphMode::Record &&
      !device->instantiateGraph(stepGraph.graph, stepGraph.executable)) {
    recordError("instantiating a CUDA graph failed: " + device->getError());
    return true;
  }
  if (!device->launchGraph(stepGraph.executable))
    recordError("launching a CUDA graph failed: " + device->getError());
  return true;
}

void GpuExecution::writeProfile() const {
  std::vector<std::pair<std::string, KernelTime>> kernels(profile.begin(),
                                                          profile.end());
  std::sort(kernels.begin(), kernels.end(), [](const auto &a, const auto &b) {
    return a.second.milliseconds > b.second.milliseconds;
  });
  double total = 0;
  for (const auto &kernel : kernels)
    total += kernel.second.milliseconds;
  std::FILE *file = std::fopen(profilePath.c_str(), "w");
  if (!file)
    return;
  std::fprintf(file,
               "GPU time per kernel on %s, each launch timed with "
               "events (%.3f ms in all)\n\n",
               device->getName().c_str(), total);
  std::fprintf(file, "| kernel | launches | total ms | us per launch | share "
                     "|\n| --- | --- | --- | --- | --- |\n");
  for (const auto &[name, time] : kernels)
    std::fprintf(file, "| %s | %lld | %.3f | %.2f | %.1f %% |\n", name.c_str(),
                 static_cast<long long>(time.launches), time.milliseconds,
                 1000 * time.milliseconds / time.launches,
                 total > 0 ? 100 * time.milliseconds / total : 0.0);
  std::fclose(file);
}

void GpuExecution::activate() {
  active = this;
  firstError.clear();
  if (!device->makeCurrent())
    recordError("making the GPU's context current failed: " +
                device->getError());
}

void GpuExecution::recordError(const std::string &message) {
  if (firstError.empty())
    firstError = message;
}

bool GpuExecution::runCollective(const char *name,
                                 const std::function<bool()> &collective) {
  if (profilePath.empty())
    return collective();
  float milliseconds = 0;
  if (!device->time(collective, milliseconds))
    return false;
  KernelTime &time = profile[name];
  ++time.launches;
  time.milliseconds += milliseconds;
  return true;
}

std::unique_ptr<GpuExecution>
GpuExecution::create(void *library, const Artifact &artifact,
                     std::string_view weights, int64_t stateBytes, int ordinal,
                     bool allowGraphs, std::string &error) {
  std::unique_ptr<GpuExecution> execution(new GpuExecution());
  execution->device = CudaDevice::open(ordinal, error);
  if (!execution->device)
    return nullptr;
  execution->library = library;
  if (const char *path = std::getenv("LOWBIT_GPU_PROFILE"))
    execution->profilePath = path;
  // Profiles time every launch on its own, so they run without graphs.
  execution->graphsEnabled =
      allowGraphs && execution->device->supportsGraphs() &&
      execution->profilePath.empty() && !isTurnedOff("LOWBIT_GPU_GRAPHS");
  // Kernels that wait for their predecessor (gpu_dependent_launch) may be
  // launched while it runs.
  execution->dependentLaunch =
      artifact.metadata("gpu_dependent_launch") == "true" &&
      execution->device->supportsDependentLaunch() &&
      !isTurnedOff("LOWBIT_GPU_DEPENDENT_LAUNCH");

  if (!bindSlots(library, artifact.metadata("gpu_runtime_functions"),
                 getRuntimeFunctions(), kGPURuntimeSlotPrefix,
                 "GPU runtime function", error))
    return nullptr;
  auto loadModules = reinterpret_cast<void (*)()>(
      dlsym(library, std::string(kGPULoadModulesSymbol).c_str()));
  if (!loadModules) {
    error = "its code has no " + std::string(kGPULoadModulesSymbol);
    return nullptr;
  }
  execution->activate();
  loadModules();
  if (!execution->firstError.empty()) {
    error = execution->firstError;
    return nullptr;
  }

  execution->weightBytes = static_cast<int64_t>(weights.size());
  execution->stateBytes = stateBytes;
  CudaDevice &device = *execution->device;
  if (!device.allocate(std::max<size_t>(weights.size(), 1),
                       execution->weights) ||
      !device.copyToDevice(execution->weights, weights.data(),
                           weights.size()) ||
      !device.allocate(std::max<int64_t>(stateBytes, 1), execution->state) ||
      !execution->clearState(error)) {
    if (error.empty())
      error = "uploading the weights failed: " + device.getError();
    return nullptr;
  }
  return execution;
}

bool GpuExecution::reserve(DevicePointer &buffer, int64_t &capacity,
                           int64_t bytes) {
  if (bytes <= capacity)
    return true;
  if (buffer && !device->free(buffer))
    return false;
  buffer = 0;
  capacity = 0;
  if (!device->allocate(static_cast<size_t>(bytes), buffer))
    return false;
  capacity = bytes;
  return true;
}

bool GpuExecution::prepare(const int32_t *tokenIds, const int32_t *tokenPositions,
                           int64_t count, int64_t scratchBytes,
                           int64_t logitsBytes, Buffers &buffers,
                           std::string &error) {
  int64_t tokenBytes = count * 4;
  if (!device->makeCurrent() || !reserve(tokens, tokenCapacity, tokenBytes) ||
      !reserve(positions, positionCapacity, tokenBytes) ||
      !reserve(scratch, scratchCapacity, std::max<int64_t>(scratchBytes, 1)) ||
      !reserve(logits, logitsCapacity, logitsBytes) ||
      !device->copyToDevice(tokens, tokenIds, tokenBytes) ||
      !device->copyToDevice(positions, tokenPositions, tokenBytes)) {
    error = "preparing the GPU buffers failed: " + device->getError();
    return false;
  }
  buffers = {weights,     state,      scratch,      tokens,      positions,
             logits,      weightBytes, stateBytes, scratchBytes, logitsBytes};
  return true;
}

bool GpuExecution::finish(float *logitsOut, int64_t logitsBytes,
                          std::string &error) {
  active = nullptr;
  if (!firstError.empty()) {
    error = firstError;
    return false;
  }
  if (!device->synchronize() ||
      !device->copyToHost(logitsOut, logits, static_cast<size_t>(logitsBytes))) {
    error = "running the model on the GPU failed: " + device->getError();
    return false;
  }
  return true;
}

bool GpuExecution::clearState(std::string &error) {
  if (!device->makeCurrent() ||
      !device->zero(state,
                    static_cast<size_t>(std::max<int64_t>(stateBytes, 1)))) {
    error = "clearing the KV caches failed: " + device->getError();
    return false;
  }
  return true;
}

bool GpuExecution::resizeState(int64_t bytes, std::string &error) {
  if (!device->makeCurrent() || (state && !device->free(state))) {
    error = "freeing the KV caches failed: " + device->getError();
    return false;
  }
  state = 0;
  stateBytes = 0;
  if (!device->allocate(static_cast<size_t>(std::max<int64_t>(bytes, 1)),
                        state)) {
    error = "allocating " + std::to_string(bytes) +
            " bytes of KV caches failed: " + device->getError();
    return false;
  }
  stateBytes = bytes;
  return clearState(error);
}
