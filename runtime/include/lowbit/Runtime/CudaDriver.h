//===- CudaDriver.h - the CUDA driver API, loaded at run time ---*- C++ -*-===//
//
// The runtime reaches NVIDIA GPUs through the CUDA driver API, which it
// loads from libcuda.so.1 when asked to. Nothing is linked at build time,
// so the runtime and its CPU tests build and run on machines without a GPU,
// a driver or the CUDA toolkit, and a GPU server needs neither LLVM nor MLIR
// to run what the compiler produced.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_RUNTIME_CUDADRIVER_H
#define LOWBIT_RUNTIME_CUDADRIVER_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lowbit::runtime {

/// A device allocation; 0 is none.
using DevicePointer = uint64_t;

/// One GPU through the driver API: a context on it, modules loaded from PTX,
/// device memory, kernel launches and event timing on the default stream.
/// Every call that can fail returns false and leaves the driver's message in
/// getError().
class CudaDevice {
public:
  /// Opens GPU `ordinal`, or returns null with the reason in `error` (no
  /// libcuda, no GPU, a driver error).
  static std::unique_ptr<CudaDevice> open(int ordinal, std::string &error);
  ~CudaDevice();
  CudaDevice(const CudaDevice &) = delete;
  CudaDevice &operator=(const CudaDevice &) = delete;

  /// The device's name, e.g. "NVIDIA H100 80GB HBM3".
  std::string getName() const;
  /// Compute capability as 10 * major + minor, e.g. 90.
  int getComputeCapability() const;
  /// The last error message.
  const std::string &getError() const { return error; }

  /// Loads a PTX module (the driver compiles it for this GPU) and returns
  /// its handle in `module`.
  bool loadModule(const std::string &ptx, void *&module);
  /// Looks up kernel `name` of `module`.
  bool getFunction(void *module, const std::string &name, void *&function);

  bool allocate(size_t bytes, DevicePointer &pointer);
  bool free(DevicePointer pointer);
  bool copyToDevice(DevicePointer destination, const void *source,
                    size_t bytes);
  bool copyToHost(void *destination, DevicePointer source, size_t bytes);
  /// Sets `bytes` bytes from `destination` on to 0.
  bool zero(DevicePointer destination, size_t bytes);
  /// Lets `function` take `bytes` of dynamic shared memory; launches that
  /// ask for more than 48 KiB need it.
  bool allowDynamicSharedMemory(void *function, int bytes);
  /// Launches `function` on the default stream with `dynamicSharedBytes` of
  /// dynamic shared memory; `arguments` point at each kernel parameter's
  /// value, as cuLaunchKernel takes them.
  bool launch(void *function, const unsigned grid[3], const unsigned block[3],
              std::vector<void *> &arguments, unsigned dynamicSharedBytes = 0);
  bool synchronize();
  /// Makes the device's context current on the calling thread (a thread
  /// other than the one that opened the device must, before using it).
  bool makeCurrent();

  /// One kernel launch as cuLaunchKernel and a graph's kernel node take it.
  struct KernelLaunch {
    void *function = nullptr;
    unsigned grid[3] = {1, 1, 1};
    unsigned block[3] = {1, 1, 1};
    unsigned sharedBytes = 0;
    /// Pointers to each parameter's value.
    void **arguments = nullptr;
  };
  /// Whether the driver has what graphs of kernel launches need (CUDA 12.4
  /// or later: graph creation, kernel nodes, parameter sizes).
  bool supportsGraphs() const;
  /// Bytes of parameter `index` of `function`.
  bool getParameterSize(void *function, size_t index, size_t &bytes);
  bool createGraph(void *&graph);
  /// Whether graphs can link kernels by programmatic edges (sm_90 and
  /// newer, CUDA 12.3 or later).
  bool supportsDependentLaunch() const;
  /// Appends `launch` to `graph` after `previous` (null: first), copying its
  /// parameter values; the new node in `node`. With `programmatic` the
  /// kernel may start once every block of `previous` has run
  /// griddepcontrol.launch_dependents; it must wait (griddepcontrol.wait)
  /// before it touches memory.
  bool addKernelNode(void *graph, void *previous, const KernelLaunch &launch,
                     void *&node, bool programmatic = false);
  bool instantiateGraph(void *graph, void *&executable);
  /// Gives `node` of an instantiated graph `launch`'s grid and parameters.
  bool setKernelNode(void *executable, void *node, const KernelLaunch &launch);
  /// Launches an instantiated graph on the default stream.
  bool launchGraph(void *executable);
  /// Destroys a graph and its instantiation (either may be null).
  void destroyGraph(void *graph, void *executable);

  /// Milliseconds of GPU time that `body` takes on the default stream,
  /// measured with events around it. `body` returns false on failure.
  template <typename Body> bool time(Body body, float &milliseconds) {
    void *start = nullptr, *stop = nullptr;
    bool ok = createEvent(start) && createEvent(stop) && recordEvent(start) &&
              body() && recordEvent(stop) &&
              elapsed(start, stop, milliseconds);
    destroyEvent(start);
    destroyEvent(stop);
    return ok;
  }

private:
  struct Api;
  CudaDevice(std::unique_ptr<Api> api, int device, void *context);
  bool check(int result, const char *what);
  bool createEvent(void *&event);
  bool recordEvent(void *event);
  bool elapsed(void *start, void *stop, float &milliseconds);
  void destroyEvent(void *event);

  std::unique_ptr<Api> api;
  int device;
  void *context;
  std::string error;
};

} // namespace lowbit::runtime

#endif // LOWBIT_RUNTIME_CUDADRIVER_H
