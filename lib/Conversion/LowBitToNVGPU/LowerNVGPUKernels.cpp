//===- LowerNVGPUKernels.cpp - generated kernels to PTX ---------------------===//
//
// The pipeline that takes the kernels of lowbit-generate-nvgpu-kernels to
// PTX in process, through MLIR's NVVM lowering and LLVM's NVPTX backend. It
// touches only gpu.modules, so it runs on a module whose host side is still
// lowbit graph ops.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Conversion/Passes.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/NVGPUToNVVM/NVGPUToNVVM.h"
#include "mlir/Conversion/NVVMToLLVM/NVVMToLLVM.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Conversion/UBToLLVM/UBToLLVM.h"
#include "mlir/Conversion/VectorToLLVM/ConvertVectorToLLVM.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Transforms/Passes.h"

#include <cstdlib>

using namespace mlir;

namespace {
/// The CUDA toolkit whose libdevice the kernels' math functions link:
/// $CUDA_ROOT, $CUDA_HOME or $CUDA_PATH, else /usr/local/cuda.
std::string getCUDAToolkitPath() {
  for (const char *variable : {"CUDA_ROOT", "CUDA_HOME", "CUDA_PATH"})
    if (const char *path = std::getenv(variable); path && *path)
      return path;
  return "/usr/local/cuda";
}
} // namespace

void lowbit::buildNVGPUKernelLoweringPipeline(OpPassManager &pm) {
  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  kernels.addPass(createSCFToControlFlowPass());
  kernels.addPass(createConvertNVGPUToNVVMPass());
  // Memref arguments become MLIR's memref descriptors (docs/gpu.md): the
  // bare-pointer convention does not take memrefs of vectors.
  kernels.addPass(createConvertGpuOpsToNVVMOps());
  kernels.addPass(createReconcileUnrealizedCastsPass());
  kernels.addPass(createCanonicalizerPass());
  kernels.addPass(createCSEPass());

  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = "isa";
  binary.toolkitPath = getCUDAToolkitPath();
  pm.addPass(createGpuModuleToBinaryPass(binary));
}

llvm::FailureOr<std::string>
lowbit::compileKernelsToPTX(ModuleOp module,
                            const GenerateNVGPUKernelsOptions &options,
                            std::string &error) {
  PassManager pm(module.getContext());
  pm.addPass(createGenerateNVGPUKernels(options));
  buildNVGPUKernelLoweringPipeline(pm);
  if (failed(pm.run(module))) {
    error = "generating and lowering the kernels for " + options.chip +
            " failed";
    return failure();
  }
  auto binary = module.lookupSymbol<gpu::BinaryOp>("lowbit_kernels");
  if (!binary) {
    error = "the module has no INT4-weight lowbit.matmul or compressed "
            "all-reduce to compile; quantize it first, e.g. lowbit-opt "
            "--lowbit-w4a8";
    return failure();
  }
  return cast<gpu::ObjectAttr>(binary.getObjects()[0])
      .getObject()
      .getValue()
      .str();
}

void lowbit::registerNVGPUKernelLoweringDependencies(
    DialectRegistry &registry) {
  // convert-gpu-to-nvvm lowers every dialect that registered a
  // ConvertToLLVMPatternInterface.
  arith::registerConvertArithToLLVMInterface(registry);
  cf::registerConvertControlFlowToLLVMInterface(registry);
  registerConvertMemRefToLLVMInterface(registry);
  vector::registerConvertVectorToLLVMInterface(registry);
  registerConvertNVVMToLLVMInterface(registry);
  ub::registerConvertUBToLLVMInterface(registry);
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  registerBuiltinDialectTranslation(registry);
  registerGPUDialectTranslation(registry);
  gpu::registerOffloadingLLVMTranslationInterfaceExternalModels(registry);
  registerLLVMDialectTranslation(registry);
  registerNVVMDialectTranslation(registry);
}

void lowbit::registerNVGPUKernelLoweringPipeline() {
  PassPipelineRegistration<>(
      "lowbit-lower-nvgpu-kernels",
      "Lower generated GPU kernels to NVVM and serialise them to PTX",
      [](OpPassManager &pm) { buildNVGPUKernelLoweringPipeline(pm); });
  PassPipelineRegistration<>(
      "lowbit-lower-gpu-model-to-llvm",
      "Lower the GPU kernels of lowbit-offload-kernels-to-gpu to PTX and the "
      "host code that launches them to the LLVM dialect",
      [](OpPassManager &pm) {
        buildNVGPUKernelLoweringPipeline(pm);
        buildCPULoweringPipeline(pm, /*launchesGPUKernels=*/true);
      });
}
