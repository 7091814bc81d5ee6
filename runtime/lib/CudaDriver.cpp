//===- CudaDriver.cpp - the CUDA driver API, loaded at run time -------------===//
//
// Resolves the few driver entry points the runtime uses from libcuda.so.1
// with dlopen/dlsym. The declarations below are the driver API's C ABI
// (cuda.h), restated with plain types so that no CUDA header is needed to
// build.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Runtime/CudaDriver.h"

#include <dlfcn.h>

using namespace lowbit::runtime;

namespace {
using Result = int;
constexpr Result kSuccess = 0;
constexpr int kAttributeComputeCapabilityMajor = 75;
constexpr int kAttributeComputeCapabilityMinor = 76;
constexpr int kFunctionAttributeMaxDynamicSharedBytes = 8;
constexpr int kJitErrorLogBuffer = 5;
constexpr int kJitErrorLogBufferSize = 6;
constexpr size_t kJitLogBytes = 16384;

/// CUDA_KERNEL_NODE_PARAMS (_v2) of cuda.h.
struct KernelNodeParams {
  void *function;
  unsigned gridDimX, gridDimY, gridDimZ;
  unsigned blockDimX, blockDimY, blockDimZ;
  unsigned sharedMemBytes;
  void **kernelParams;
  void **extra;
  void *kernel;
  void *context;
};

/// CUgraphEdgeData of cuda.h.
struct GraphEdgeData {
  unsigned char fromPort, toPort, type, reserved[5];
};
/// CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC: the edge fires once every block
/// of the upstream kernel has run griddepcontrol.launch_dependents.
constexpr unsigned char kKernelNodePortProgrammatic = 1;
/// CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC.
constexpr unsigned char kDependencyTypeProgrammatic = 1;

KernelNodeParams toNodeParams(const CudaDevice::KernelLaunch &launch) {
  return {
      launch.function,  launch.grid[0],  launch.grid[1],  launch.grid[2],
      launch.block[0],  launch.block[1], launch.block[2], launch.sharedBytes,
      launch.arguments, nullptr,         nullptr,         nullptr};
}
} // namespace

/// The driver entry points, resolved by name.
struct CudaDevice::Api {
  void *library = nullptr;
  Result (*init)(unsigned);
  Result (*deviceGet)(int *, int);
  Result (*deviceGetName)(char *, int, int);
  Result (*deviceGetAttribute)(int *, int, int);
  Result (*primaryContextRetain)(void **, int);
  Result (*primaryContextRelease)(int);
  Result (*contextSetCurrent)(void *);
  Result (*contextSynchronize)();
  Result (*moduleLoadDataEx)(void **, const void *, unsigned, int *, void **);
  Result (*moduleGetFunction)(void **, void *, const char *);
  Result (*functionSetAttribute)(void *, int, int);
  Result (*memAlloc)(DevicePointer *, size_t);
  Result (*memFree)(DevicePointer);
  Result (*memcpyHtoD)(DevicePointer, const void *, size_t);
  Result (*memcpyDtoH)(void *, DevicePointer, size_t);
  Result (*memsetD8)(DevicePointer, unsigned char, size_t);
  Result (*launchKernel)(void *, unsigned, unsigned, unsigned, unsigned,
                         unsigned, unsigned, unsigned, void *, void **,
                         void **);
  Result (*eventCreate)(void **, unsigned);
  Result (*eventRecord)(void *, void *);
  Result (*eventSynchronize)(void *);
  Result (*eventElapsedTime)(float *, void *, void *);
  Result (*eventDestroy)(void *);
  Result (*getErrorString)(Result, const char **);
  // Graphs (optional: null when the driver is older than CUDA 12.4).
  Result (*graphCreate)(void **, unsigned);
  Result (*graphAddKernelNode)(void **, void *, void *const *, size_t,
                               const KernelNodeParams *);
  Result (*graphInstantiateWithFlags)(void **, void *, unsigned long long);
  Result (*graphExecKernelNodeSetParams)(void *, void *,
                                         const KernelNodeParams *);
  Result (*graphLaunch)(void *, void *);
  Result (*graphDestroy)(void *);
  Result (*graphExecDestroy)(void *);
  Result (*funcGetParamInfo)(void *, size_t, size_t *, size_t *);
  // Edges with data (optional: CUDA 12.3 and later).
  Result (*graphAddDependencies)(void *, void *const *, void *const *,
                                 const GraphEdgeData *, size_t);

  ~Api() {
    if (library)
      dlclose(library);
  }

  /// Resolves every entry point; false with the missing name in `error`.
  bool resolve(std::string &error) {
    bool ok = true;
    auto get = [&](auto &function, const char *name,
                   const char *fallback = nullptr) {
      void *symbol = dlsym(library, name);
      if (!symbol && fallback)
        symbol = dlsym(library, fallback);
      if (!symbol && ok) {
        error = std::string("libcuda.so.1 lacks ") + name;
        ok = false;
      }
      function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(
          symbol);
    };
    get(init, "cuInit");
    get(deviceGet, "cuDeviceGet");
    get(deviceGetName, "cuDeviceGetName");
    get(deviceGetAttribute, "cuDeviceGetAttribute");
    get(primaryContextRetain, "cuDevicePrimaryCtxRetain");
    get(primaryContextRelease, "cuDevicePrimaryCtxRelease_v2");
    get(contextSetCurrent, "cuCtxSetCurrent");
    get(contextSynchronize, "cuCtxSynchronize");
    get(moduleLoadDataEx, "cuModuleLoadDataEx");
    get(moduleGetFunction, "cuModuleGetFunction");
    get(functionSetAttribute, "cuFuncSetAttribute");
    get(memAlloc, "cuMemAlloc_v2");
    get(memFree, "cuMemFree_v2");
    get(memcpyHtoD, "cuMemcpyHtoD_v2");
    get(memcpyDtoH, "cuMemcpyDtoH_v2");
    get(memsetD8, "cuMemsetD8_v2");
    get(launchKernel, "cuLaunchKernel");
    get(eventCreate, "cuEventCreate");
    get(eventRecord, "cuEventRecord");
    get(eventSynchronize, "cuEventSynchronize");
    // CUDA 12.8 added the _v2 entry point; older drivers have the first.
    get(eventElapsedTime, "cuEventElapsedTime_v2", "cuEventElapsedTime");
    get(eventDestroy, "cuEventDestroy_v2");
    get(getErrorString, "cuGetErrorString");
    auto optional = [&](auto &function, const char *name) {
      function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(
          dlsym(library, name));
    };
    optional(graphCreate, "cuGraphCreate");
    optional(graphAddKernelNode, "cuGraphAddKernelNode_v2");
    optional(graphInstantiateWithFlags, "cuGraphInstantiateWithFlags");
    optional(graphExecKernelNodeSetParams, "cuGraphExecKernelNodeSetParams_v2");
    optional(graphLaunch, "cuGraphLaunch");
    optional(graphDestroy, "cuGraphDestroy");
    optional(graphExecDestroy, "cuGraphExecDestroy");
    optional(funcGetParamInfo, "cuFuncGetParamInfo");
    optional(graphAddDependencies, "cuGraphAddDependencies_v2");
    return ok;
  }
};

std::unique_ptr<CudaDevice> CudaDevice::open(int ordinal, std::string &error) {
  auto api = std::make_unique<Api>();
  api->library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!api->library) {
    error = std::string("cannot load the CUDA driver: ") + dlerror();
    return nullptr;
  }
  if (!api->resolve(error))
    return nullptr;
  auto fail = [&](Result result, const char *what) {
    const char *message = nullptr;
    api->getErrorString(result, &message);
    error = std::string(what) + ": " + (message ? message : "unknown error");
    return nullptr;
  };
  int device = 0;
  void *context = nullptr;
  if (Result result = api->init(0); result != kSuccess)
    return fail(result, "cuInit");
  if (Result result = api->deviceGet(&device, ordinal); result != kSuccess)
    return fail(result, "cuDeviceGet");
  if (Result result = api->primaryContextRetain(&context, device);
      result != kSuccess)
    return fail(result, "cuDevicePrimaryCtxRetain");
  if (Result result = api->contextSetCurrent(context); result != kSuccess)
    return fail(result, "cuCtxSetCurrent");
  return std::unique_ptr<CudaDevice>(
      new CudaDevice(std::move(api), device, context));
}

CudaDevice::CudaDevice(std::unique_ptr<Api> api, int device, void *context)
    : api(std::move(api)), device(device), context(context) {}

CudaDevice::~CudaDevice() { api->primaryContextRelease(device); }

bool CudaDevice::check(Result result, const char *what) {
  if (result == kSuccess)
    return true;
  const char *message = nullptr;
  api->getErrorString(result, &message);
  error = std::string(what) + ": " + (message ? message : "unknown error");
  return false;
}

std::string CudaDevice::getName() const {
  char name[256] = {};
  api->deviceGetName(name, sizeof(name), device);
  return name;
}

int CudaDevice::getComputeCapability() const {
  int major = 0, minor = 0;
  api->deviceGetAttribute(&major, kAttributeComputeCapabilityMajor, device);
  api->deviceGetAttribute(&minor, kAttributeComputeCapabilityMinor, device);
  return 10 * major + minor;
}

bool CudaDevice::loadModule(const std::string &ptx, void *&module) {
  std::string log(kJitLogBytes, '\0');
  int options[] = {kJitErrorLogBuffer, kJitErrorLogBufferSize};
  void *values[] = {log.data(), reinterpret_cast<void *>(kJitLogBytes)};
  if (check(api->moduleLoadDataEx(&module, ptx.c_str(), 2, options, values),
            "cuModuleLoadDataEx"))
    return true;
  error += "; " + std::string(log.c_str());
  return false;
}

bool CudaDevice::getFunction(void *module, const std::string &name,
                             void *&function) {
  return check(api->moduleGetFunction(&function, module, name.c_str()),
               ("cuModuleGetFunction(" + name + ")").c_str());
}

bool CudaDevice::allocate(size_t bytes, DevicePointer &pointer) {
  return check(api->memAlloc(&pointer, bytes), "cuMemAlloc");
}

bool CudaDevice::free(DevicePointer pointer) {
  return check(api->memFree(pointer), "cuMemFree");
}

bool CudaDevice::copyToDevice(DevicePointer destination, const void *source,
                              size_t bytes) {
  return check(api->memcpyHtoD(destination, source, bytes), "cuMemcpyHtoD");
}

bool CudaDevice::copyToHost(void *destination, DevicePointer source,
                            size_t bytes) {
  return check(api->memcpyDtoH(destination, source, bytes), "cuMemcpyDtoH");
}

bool CudaDevice::zero(DevicePointer destination, size_t bytes) {
  return check(api->memsetD8(destination, 0, bytes), "cuMemsetD8");
}

bool CudaDevice::allowDynamicSharedMemory(void *function, int bytes) {
  return check(api->functionSetAttribute(
                   function, kFunctionAttributeMaxDynamicSharedBytes, bytes),
               "cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)");
}

bool CudaDevice::launch(void *function, const unsigned grid[3],
                        const unsigned block[3],
                        std::vector<void *> &arguments,
                        unsigned dynamicSharedBytes) {
  return check(api->launchKernel(function, grid[0], grid[1], grid[2],
                                 block[0], block[1], block[2],
                                 dynamicSharedBytes, /*stream=*/nullptr,
                                 arguments.data(), nullptr),
               "cuLaunchKernel");
}

bool CudaDevice::supportsGraphs() const {
  return api->graphCreate && api->graphAddKernelNode &&
         api->graphInstantiateWithFlags && api->graphExecKernelNodeSetParams &&
         api->graphLaunch && api->graphDestroy && api->graphExecDestroy &&
         api->funcGetParamInfo;
}

bool CudaDevice::getParameterSize(void *function, size_t index, size_t &bytes) {
  size_t offset = 0;
  return check(api->funcGetParamInfo(function, index, &offset, &bytes),
               "cuFuncGetParamInfo");
}

bool CudaDevice::createGraph(void *&graph) {
  return check(api->graphCreate(&graph, 0), "cuGraphCreate");
}

bool CudaDevice::supportsDependentLaunch() const {
  return api->graphAddDependencies && getComputeCapability() >= 90;
}

bool CudaDevice::addKernelNode(void *graph, void *previous,
                               const KernelLaunch &launch, void *&node,
                               bool programmatic) {
  KernelNodeParams params = toNodeParams(launch);
  if (!programmatic || !previous)
    return check(api->graphAddKernelNode(&node, graph,
                                         previous ? &previous : nullptr,
                                         previous ? 1 : 0, &params),
                 "cuGraphAddKernelNode");
  GraphEdgeData edge = {
      kKernelNodePortProgrammatic, 0, kDependencyTypeProgrammatic, {}};
  return check(api->graphAddKernelNode(&node, graph, nullptr, 0, &params),
               "cuGraphAddKernelNode") &&
         check(api->graphAddDependencies(graph, &previous, &node, &edge, 1),
               "cuGraphAddDependencies(programmatic)");
}

bool CudaDevice::instantiateGraph(void *graph, void *&executable) {
  return check(api->graphInstantiateWithFlags(&executable, graph, 0),
               "cuGraphInstantiate");
}

bool CudaDevice::setKernelNode(void *executable, void *node,
                               const KernelLaunch &launch) {
  KernelNodeParams params = toNodeParams(launch);
  return check(api->graphExecKernelNodeSetParams(executable, node, &params),
               "cuGraphExecKernelNodeSetParams");
}

bool CudaDevice::launchGraph(void *executable) {
  return check(api->graphLaunch(executable, /*stream=*/nullptr),
               "cuGraphLaunch");
}

void CudaDevice::destroyGraph(void *graph, void *executable) {
  if (executable)
    api->graphExecDestroy(executable);
  if (graph)
    api->graphDestroy(graph);
}

bool CudaDevice::makeCurrent() {
  return check(api->contextSetCurrent(context), "cuCtxSetCurrent");
}

bool CudaDevice::synchronize() {
  return check(api->contextSynchronize(), "cuCtxSynchronize");
}

bool CudaDevice::createEvent(void *&event) {
  return check(api->eventCreate(&event, 0), "cuEventCreate");
}

bool CudaDevice::recordEvent(void *event) {
  return check(api->eventRecord(event, nullptr), "cuEventRecord");
}

bool CudaDevice::elapsed(void *start, void *stop, float &milliseconds) {
  return check(api->eventSynchronize(stop), "cuEventSynchronize") &&
         check(api->eventElapsedTime(&milliseconds, start, stop),
               "cuEventElapsedTime");
}

void CudaDevice::destroyEvent(void *event) {
  if (event)
    api->eventDestroy(event);
}
