//===- LowerCPUToLLVM.cpp - CPU kernels to the LLVM dialect ---------------===//
//
// The pipeline that takes the output of lowbit-convert-to-cpu (func, scf,
// arith, math, memref and vector ops) to the LLVM dialect, ready for
// translation to LLVM IR and the host or AArch64 backend. Math functions
// become LLVM intrinsics, which the backends lower to the same libm calls
// the reference executor makes (expf, powf, cosf, sinf). After
// lowbit-offload-kernels-to-gpu the same pipeline lowers the host side,
// whose gpu.launch_func ops become calls of MLIR's GPU runtime interface
// (mgpuLaunchKernel and friends).
//
//===----------------------------------------------------------------------===//

#include "lowbit/Conversion/Passes.h"

#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/GPUCommon/GPUCommonPass.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void lowbit::buildCPULoweringPipeline(OpPassManager &pm,
                                      bool launchesGPUKernels) {
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  // Expanding reshapes (the GPU matmuls' flattened views) leaves
  // affine.apply.
  pm.addPass(createLowerAffinePass());
  if (launchesGPUKernels)
    pm.addPass(createGpuToLLVMConversionPass());
  pm.addPass(createConvertVectorToLLVMPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
}

void lowbit::registerCPULoweringPipeline() {
  PassPipelineRegistration<>(
      "lowbit-lower-cpu-to-llvm",
      "Lower the kernels and entry points of lowbit-convert-to-cpu to the "
      "LLVM dialect",
      [](OpPassManager &pm) { buildCPULoweringPipeline(pm); });
}
