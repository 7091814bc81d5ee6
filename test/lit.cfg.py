# lit configuration of the lowbit regression tests: MLIR round-trip, verifier
# and transformation tests driven by lowbit-opt and FileCheck.

import glob
import os
import platform
import shutil

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "lowbit"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.lowbit_obj_root, "test")

config.substitutions.append(("%PYTHON", config.python_executable))
config.substitutions.append(("%lowbit_src", config.lowbit_src_root))
config.substitutions.append(("%lowbit_obj", config.lowbit_obj_root))

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.lowbit_tools_dir, append_path=True)
llvm_config.add_tool_substitutions(
    [
        ToolSubst(tool, unresolved="fatal")
        for tool in [
            "lowbit-bench-matmul",
            "lowbit-compile",
            "lowbit-import",
            "lowbit-opt",
            "lowbit-run",
            "lowbit-generate-tokens",
        ]
    ],
    [config.lowbit_tools_dir],
)

# Compiled CPU models run where they were compiled for.
config.available_features.add("host-" + platform.machine())

# The Python package exists where pybind11 was found at configure time.
if glob.glob(os.path.join(config.lowbit_obj_root, "python", "lowbit", "_lowbit*.so")):
    config.available_features.add("python-bindings")

# CMake and Ninja build the consumer project of test/Install.
if shutil.which("cmake") and shutil.which("ninja"):
    config.available_features.add("cmake")

# ptxas (CUDA toolkit) assembles generated PTX for a GPU without one; tests
# that need it are marked `REQUIRES: ptxas` and skip where it is absent.
ptxas = shutil.which("ptxas") or shutil.which("ptxas", path="/usr/local/cuda/bin")
if ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))

# GPU model artifacts link CUDA's libdevice (the kernels' math functions);
# tests that compile them are marked `REQUIRES: cuda-libdevice`.
cuda_roots = [os.environ.get(name) for name in ("CUDA_ROOT", "CUDA_HOME", "CUDA_PATH")]
if any(root and os.path.exists(os.path.join(root, "nvvm/libdevice/libdevice.10.bc"))
       for root in cuda_roots + ["/usr/local/cuda"]):
    config.available_features.add("cuda-libdevice")

# A CUDA driver: GPU artifacts run instead of failing to open a GPU.
try:
    import ctypes
    ctypes.CDLL("libcuda.so.1")
    config.available_features.add("cuda-driver")
except OSError:
    pass

# AArch64 code runs under qemu-aarch64 with the C API example cross-built by
# g++-aarch64-linux-gnu (runtime/CMakeLists.txt); tests that need both are
# marked `REQUIRES: qemu-aarch64` and skip where either is absent.
qemu = shutil.which("qemu-aarch64")
aarch64_runner = os.path.join(config.lowbit_obj_root, "aarch64", "lowbit-generate-tokens")
if qemu and os.path.exists(aarch64_runner):
    config.available_features.add("qemu-aarch64")
    config.substitutions.append(
        ("%aarch64-generate-tokens",
         f"{qemu} -cpu max -L /usr/aarch64-linux-gnu {aarch64_runner}"))

# x86-64 machines with AVX-512 VNNI run the vpdpwssd matmul kernels.
try:
    with open("/proc/cpuinfo") as cpuinfo:
        flags = cpuinfo.read()
    if "avx512_vnni" in flags and "avx512bw" in flags:
        config.available_features.add("host-avx512vnni")
except OSError:
    pass
