//===- GenerateNVGPUKernels.cpp - GPU kernels for quantized matmuls ---------===//
//
// Gives every INT4-weight lowbit.matmul the GPU kernels that compute it,
// generated for its exact shape and scale groups into one gpu.module with an
// NVVM target. The host side of the graph is left as it is; the matmul names
// its kernels so that code generation for the host and the runtime's plan
// can find them.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Conversion/LowBitToNVGPU/DecodeMatmulKernel.h"
#include "lowbit/Conversion/Passes.h"
#include "lowbit/Dialect/LowBit/IR/LowBitOps.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/SymbolTable.h"


namespace lowbit {
#define GEN_PASS_DEF_GENERATENVGPUKERNELS
#include "lowbit/Conversion/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
/// Name of the gpu.module that holds every generated kernel.
constexpr llvm::StringLiteral kKernelModuleName = "lowbit_kernels";
/// Attribute on a lowbit.matmul: the symbol references of its kernels.
constexpr llvm::StringLiteral kKernelsAttrName = "lowbit.gpu_kernels";
/// Columns each warp computes for `tokens` tokens per block: more tokens
/// reuse each loaded weight word more, more columns reuse each activation
/// word; few tokens keep one column so that small layers fill the GPU.
int64_t getColumnsPerWarp(int64_t tokens) {
  return std::clamp<int64_t>(tokens / 2, 1, 4);
}

struct GenerateNVGPUKernelsPass
    : public lowbit::impl::GenerateNVGPUKernelsBase<GenerateNVGPUKernelsPass> {
  using GenerateNVGPUKernelsBase::GenerateNVGPUKernelsBase;

  void runOnOperation() override;

private:
  /// The decode kernels of `matmul`, or failure after a diagnostic.
  FailureOr<SmallVector<DecodeMatmulKernel>> planKernels(MatmulOp matmul);
  /// The kernel module, created on first use.
  gpu::GPUModuleOp getKernelModule();

  gpu::GPUModuleOp kernelModule;
};
} // namespace

FailureOr<SmallVector<DecodeMatmulKernel>>
GenerateNVGPUKernelsPass::planKernels(MatmulOp matmul) {
  auto act = cast<QuantizedTensorType>(matmul.getAct().getType());
  auto weight = cast<QuantizedTensorType>(matmul.getWeight().getType());
  BlockLayoutAttr weightLayout = weight.getLayout();
  if (weightLayout.getNumInt8Blocks() != 0)
    return matmul.emitError()
           << "GPU kernels need INT4 weights, but "
           << weightLayout.getNumInt8Blocks() << " of "
           << weightLayout.getNumBlocks() << " weight blocks are INT8";
  if (act.getScaleType() != weight.getScaleType())
    return matmul.emitError()
           << "GPU kernels need one scale type, but activations have "
           << act.getScaleType() << " and weights " << weight.getScaleType();

  SmallVector<DecodeMatmulKernel> kernels;
  for (int64_t tokens = 1; tokens <= maxDecodeRows; tokens *= 2) {
    DecodeMatmulKernel kernel{
        weight.getNumRows(),
        weight.getNumChannels(),
        act.getLayout().getScaleGroupChannels(),
        weightLayout.getScaleGroupChannels(),
        tokens,
        getColumnsPerWarp(tokens),
        weight.getScaleType(),
        cast<FloatType>(matmul.getResult().getType().getElementType())};
    std::string unsupported = kernel.checkSupported();
    if (!unsupported.empty())
      return matmul.emitError() << "no GPU kernel for this matmul: "
                                << unsupported;
    kernels.push_back(kernel);
  }
  return kernels;
}

gpu::GPUModuleOp GenerateNVGPUKernelsPass::getKernelModule() {
  if (kernelModule)
    return kernelModule;
  ModuleOp module = getOperation();
  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  UnitAttr::get(module.getContext()));
  kernelModule = module.lookupSymbol<gpu::GPUModuleOp>(kKernelModuleName);
  if (kernelModule)
    return kernelModule;
  OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
  // PTX 8.0 is the first ISA version that knows sm_90.
  auto target = NVVM::NVVMTargetAttr::get(
      module.getContext(), /*optLevel=*/3, "nvptx64-nvidia-cuda", chip,
      "+ptx80");
  kernelModule = gpu::GPUModuleOp::create(builder, module.getLoc(),
                                          kKernelModuleName,
                                          builder.getArrayAttr({target}));
  return kernelModule;
}

void GenerateNVGPUKernelsPass::runOnOperation() {
  if (chip != "sm_80" && chip != "sm_89" && chip != "sm_90") {
    getOperation().emitError() << "unknown GPU chip '" << chip
                               << "'; expected sm_80, sm_89 or sm_90";
    return signalPassFailure();
  }
  if (maxDecodeRows <= 0 || !llvm::isPowerOf2_64(maxDecodeRows)) {
    getOperation().emitError() << "max-decode-rows must be a positive power "
                                  "of two, got "
                               << int64_t(maxDecodeRows);
    return signalPassFailure();
  }

  bool failed = false;
  getOperation().walk([&](MatmulOp matmul) {
    if (matmul->getParentOfType<gpu::GPUModuleOp>())
      return;
    FailureOr<SmallVector<DecodeMatmulKernel>> kernels = planKernels(matmul);
    if (failed |= llvm::failed(kernels))
      return;
    gpu::GPUModuleOp module = getKernelModule();
    OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
    SmallVector<Attribute> references;
    for (const DecodeMatmulKernel &kernel : *kernels) {
      std::string name = kernel.getName();
      if (!SymbolTable::lookupSymbolIn(module, name))
        buildDecodeMatmulKernel(builder, matmul.getLoc(), kernel);
      references.push_back(SymbolRefAttr::get(
          builder.getStringAttr(kKernelModuleName),
          {FlatSymbolRefAttr::get(builder.getContext(), name)}));
    }
    matmul->setAttr(kKernelsAttrName, builder.getArrayAttr(references));
  });
  if (failed)
    signalPassFailure();
}
