//===- GenerateNVGPUKernels.cpp - GPU kernels of a quantized graph
//----------===//
//
// Gives every INT4-weight lowbit.matmul, every compressed all-reduce, every
// attention over a 4- or 8-bit KV cache and every f32 lowbit.linear the
// tiled linear kernel takes the GPU kernels that compute it (for a linear:
// its steps of many rows), generated for its exact shape, scale groups,
// cache or wire format into
// one gpu.module with an NVVM target. The host side of
// the graph is left as it is; each op names its kernels so that code
// generation for the host and the runtime's plan can find them.
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"
#include "lowbit/Conversion/LowBitToNVGPU/DecodeMatmulKernel.h"
#include "lowbit/Conversion/LowBitToNVGPU/LinearKernel.h"
#include "lowbit/Conversion/LowBitToNVGPU/PrefillAttentionKernel.h"
#include "lowbit/Conversion/LowBitToNVGPU/TensorCoreMatmulKernel.h"
#include "lowbit/Conversion/LowBitToNVGPU/WireKernels.h"
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
/// The kernels of one matmul.
struct MatmulKernels {
  SmallVector<DecodeMatmulKernel> decode;
  /// One for each TensorCoreMatmulKernel::kBlockRowChoices.
  SmallVector<TensorCoreMatmulKernel> tensorCore;
};

struct GenerateNVGPUKernelsPass
    : public lowbit::impl::GenerateNVGPUKernelsBase<GenerateNVGPUKernelsPass> {
  using GenerateNVGPUKernelsBase::GenerateNVGPUKernelsBase;

  void runOnOperation() override;

private:
  /// The kernels of `matmul`, or failure after a diagnostic.
  FailureOr<MatmulKernels> planKernels(MatmulOp matmul);
  /// The kernel module, created on first use.
  gpu::GPUModuleOp getKernelModule();
  /// Builds `kernel` with `build(builder, loc, kernel)` unless the kernel
  /// module has it, and appends its symbol reference to `references`.
  template <typename Kernel, typename Build>
  void addKernel(const Kernel &kernel, Build build, Location loc,
                 SmallVectorImpl<Attribute> &references);
  /// Generates the kernels of a compressed all-reduce.
  LogicalResult generateWireKernels(AllReduceOp reduce);

  gpu::GPUModuleOp kernelModule;
};
} // namespace

FailureOr<MatmulKernels>
GenerateNVGPUKernelsPass::planKernels(MatmulOp matmul) {
  auto act = cast<QuantizedTensorType>(matmul.getAct().getType());
  auto weight = cast<QuantizedTensorType>(matmul.getWeight().getType());
  BlockLayoutAttr weightLayout = weight.getLayout();
  if (weightLayout.getAsymmetric())
    return matmul.emitError() << "GPU kernels need symmetric weights; "
                                 "asymmetric (zero-point) weights run on the "
                                 "reference executor only";
  if (weightLayout.getNumInt8Blocks() != 0)
    return matmul.emitError()
           << "GPU kernels need INT4 weights, but "
           << weightLayout.getNumInt8Blocks() << " of "
           << weightLayout.getNumBlocks() << " weight blocks are INT8";
  if (act.getScaleType() != weight.getScaleType())
    return matmul.emitError()
           << "GPU kernels need one scale type, but activations have "
           << act.getScaleType() << " and weights " << weight.getScaleType();

  const int64_t outChannels = weight.getNumRows();
  const int64_t inChannels = weight.getNumChannels();
  const int64_t actScaleGroup = act.getLayout().getScaleGroupChannels();
  const int64_t weightScaleGroup = weightLayout.getScaleGroupChannels();
  auto resultType =
      cast<FloatType>(matmul.getResult().getType().getElementType());
  auto unsupported = [&](const std::string &why) {
    return matmul.emitError() << "no GPU kernel for this matmul: " << why;
  };
  MatmulKernels kernels;
  for (int64_t tokens = 1; tokens <= maxDecodeRows; tokens *= 2) {
    DecodeMatmulKernel kernel = DecodeMatmulKernel::get(
        {outChannels}, inChannels, actScaleGroup, weightScaleGroup, tokens,
        weight.getScaleType(), resultType);
    if (!kernel.isWorthwhile())
      break;
    std::string why = kernel.checkSupported();
    if (!why.empty())
      return unsupported(why);
    kernels.decode.push_back(kernel);
  }
  for (int64_t blockRows : TensorCoreMatmulKernel::kBlockRowChoices) {
    TensorCoreMatmulKernel kernel{outChannels,    inChannels,
                                  actScaleGroup,  weightScaleGroup,
                                  pipelineStages, weight.getScaleType(),
                                  resultType,     blockRows};
    kernel.selectActivationSteps(chip, act.getLayout().getBlockSize(),
                                 act.getLayout().getBlockBits());
    std::string why = kernel.checkSupported();
    if (!why.empty())
      return unsupported(why);
    kernels.tensorCore.push_back(kernel);
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
  kernelModule = gpu::GPUModuleOp::create(
      builder, module.getLoc(), kKernelModuleName,
      builder.getArrayAttr({getKernelTarget(module.getContext(), chip)}));
  return kernelModule;
}

template <typename Kernel, typename Build>
void GenerateNVGPUKernelsPass::addKernel(
    const Kernel &kernel, Build build, Location loc,
    SmallVectorImpl<Attribute> &references) {
  gpu::GPUModuleOp module = getKernelModule();
  OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
  std::string name = kernel.getName();
  if (!SymbolTable::lookupSymbolIn(module, name))
    build(builder, loc, kernel);
  references.push_back(SymbolRefAttr::get(
      builder.getStringAttr(kKernelModuleName),
      {FlatSymbolRefAttr::get(builder.getContext(), name)}));
}

LogicalResult GenerateNVGPUKernelsPass::generateWireKernels(AllReduceOp reduce) {
  auto dataType = cast<FloatType>(reduce.getType().getElementType());
  auto group = SymbolTable::lookupNearestSymbolFrom<RankGroupOp>(
      reduce, reduce.getGroupAttr());
  WirePackKernel pack{*reduce.getWire(), dataType};
  WireSumKernel sum{*reduce.getWire(), dataType,
                    static_cast<int64_t>(group.getRanks().size())};
  std::string why = pack.checkSupported();
  if (!why.empty())
    return reduce.emitError() << "no GPU kernel for this all-reduce: " << why;
  SmallVector<Attribute> references;
  addKernel(pack, buildWirePackKernel, reduce.getLoc(), references);
  addKernel(sum, buildWireSumKernel, reduce.getLoc(), references);
  reduce->setAttr(kKernelsAttrName,
                  ArrayAttr::get(reduce.getContext(), references));
  return success();
}

void GenerateNVGPUKernelsPass::runOnOperation() {
  if (failed(checkMatmulKernelOptions(getOperation(), chip, "max-decode-rows",
                                      maxDecodeRows, pipelineStages)))
    return signalPassFailure();

  bool failed = false;
  getOperation().walk([&](MatmulOp matmul) {
    if (matmul->getParentOfType<gpu::GPUModuleOp>())
      return;
    FailureOr<MatmulKernels> kernels = planKernels(matmul);
    if (failed |= llvm::failed(kernels))
      return;
    SmallVector<Attribute> references;
    for (const DecodeMatmulKernel &kernel : kernels->decode)
      addKernel(kernel, buildDecodeMatmulKernel, matmul.getLoc(), references);
    for (const TensorCoreMatmulKernel &kernel : kernels->tensorCore)
      addKernel(kernel, buildTensorCoreMatmulKernel, matmul.getLoc(),
                references);
    matmul->setAttr(kKernelsAttrName,
                    ArrayAttr::get(matmul.getContext(), references));
  });
  getOperation().walk([&](Operation *op) {
    if (op->getParentOfType<gpu::GPUModuleOp>())
      return;
    if (auto reduce = dyn_cast<AllReduceOp>(op)) {
      if (reduce.getWire())
        failed |= llvm::failed(generateWireKernels(reduce));
    } else if (isa<ReduceScatterOp, AllGatherOp>(op) &&
               op->getAttr("wire")) {
      op->emitError() << "no GPU kernels for a compressed "
                      << op->getName() << " yet: compress all-reduces with "
                         "algorithm=all-gather";
      failed = true;
    }
  });
  getOperation().walk([&](KVAttentionOp attention) {
    if (attention->getParentOfType<gpu::GPUModuleOp>())
      return;
    KVCacheType cache = attention.getCache().getType();
    int64_t queryChannels = attention.getQuery().getType().getDimSize(1);
    PrefillAttentionKernel kernel{
        cache.getHeadDim(),   queryChannels / cache.getHeadDim(),
        cache.getNumHeads(),  cache.getBits(),
        cache.getGroupSize(), cache.getMaxLength()};
    if (!kernel.checkSupported().empty())
      return;
    SmallVector<Attribute> references;
    addKernel(kernel, buildPrefillAttentionKernel, attention.getLoc(),
              references);
    attention->setAttr(kKernelsAttrName,
                       ArrayAttr::get(attention.getContext(), references));
  });
  getOperation().walk([&](LinearOp linear) {
    if (linear->getParentOfType<gpu::GPUModuleOp>() ||
        !linear.getType().getElementType().isF32())
      return;
    auto weight = cast<ShapedType>(linear.getWeight().getType());
    LinearKernel kernel{weight.getDimSize(1), weight.getDimSize(0)};
    if (!kernel.checkSupported().empty())
      return;
    SmallVector<Attribute> references;
    addKernel(kernel, buildLinearKernel, linear.getLoc(), references);
    linear->setAttr(kKernelsAttrName,
                    ArrayAttr::get(linear.getContext(), references));
  });
  if (failed)
    signalPassFailure();
}
