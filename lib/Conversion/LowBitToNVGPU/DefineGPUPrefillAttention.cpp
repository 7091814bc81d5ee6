//===- DefineGPUPrefillAttention.cpp - launch the prompt attention kernel -===//
//
// Implements lowbit-define-gpu-prefill-attention. The attention kernels of
// lowbit-convert-to-cpu{isa=nvgpu} over 4- and 8-bit KV caches call a
// declaration marked lowbit.gpu_prefill_attention for steps of several query
// rows. This pass generates the tensor-core prefill attention kernel of its
// shape and defines the declaration: flat views of the query and output
// rows and one launch over blocks of query rows by heads.
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"
#include "lowbit/Conversion/LowBitToNVGPU/PrefillAttentionKernel.h"
#include "lowbit/Conversion/Passes.h"
#include "lowbit/Dialect/LowBit/IR/LowBitDialect.h"

namespace lowbit {
#define GEN_PASS_DEF_DEFINEGPUPREFILLATTENTION
#include "lowbit/Conversion/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
/// Name of the gpu.module that holds the attention kernels of a model.
constexpr llvm::StringLiteral kAttentionModuleName = "lowbit_attention_kernels";
/// Threads of one warp.
constexpr int64_t kWarpThreads = 32;

struct DefineGPUPrefillAttentionPass
    : lowbit::impl::DefineGPUPrefillAttentionBase<
          DefineGPUPrefillAttentionPass> {
  using DefineGPUPrefillAttentionBase::DefineGPUPrefillAttentionBase;

  void runOnOperation() override;

private:
  /// Gives `declaration` its body, or fails after a diagnostic.
  LogicalResult define(func::FuncOp declaration);
};
} // namespace

LogicalResult DefineGPUPrefillAttentionPass::define(func::FuncOp declaration) {
  FunctionType type = declaration.getFunctionType();
  auto cacheAttr =
      dyn_cast<TypeAttr>(declaration->getAttr(kGPUPrefillAttentionAttrName));
  auto cache =
      cacheAttr ? dyn_cast<KVCacheType>(cacheAttr.getValue()) : KVCacheType();
  auto rowsAt = [&](unsigned i) {
    auto memref = dyn_cast<MemRefType>(type.getInput(i));
    return memref && memref.getRank() == 2 && !memref.isDynamicDim(1) &&
                   memref.getElementType().isF32()
               ? memref
               : MemRefType();
  };
  auto isBytes = [&](unsigned i) {
    auto memref = dyn_cast<MemRefType>(type.getInput(i));
    return memref && memref.getRank() == 1 &&
           memref.getElementType().isInteger(8);
  };
  if (!cache || type.getNumInputs() != 5 || type.getNumResults() != 0 ||
      !rowsAt(0) || !isBytes(1) || !isBytes(2) || !type.getInput(3).isIndex() ||
      rowsAt(4) != rowsAt(0))
    return declaration.emitOpError()
           << "is marked " << kGPUPrefillAttentionAttrName
           << " but does not take (query rows, key region, value region, start "
              "position, output rows) with a !lowbit.kv_cache type as the "
              "mark's value";
  int64_t queryChannels = rowsAt(0).getDimSize(1);
  int64_t headDim = cache.getHeadDim();
  if (queryChannels % headDim != 0)
    return declaration.emitOpError()
           << "has " << queryChannels
           << " query channels, not a whole number of heads of " << headDim;
  PrefillAttentionKernel kernel{
      headDim,         queryChannels / headDim, cache.getNumHeads(),
      cache.getBits(), cache.getGroupSize(),    cache.getMaxLength()};
  std::string why = kernel.checkSupported();
  if (!why.empty())
    return declaration.emitOpError()
           << "has no GPU prefill attention kernel: " << why;

  Location loc = declaration.getLoc();
  gpu::GPUFuncOp function = getOrBuildKernel(
      getOperation(), kAttentionModuleName, chip, kernel.getName(),
      [&](OpBuilder &builder) {
        return buildPrefillAttentionKernel(builder, loc, kernel);
      });
  Block *body = declaration.addEntryBlock();
  declaration->removeAttr(kGPUPrefillAttentionAttrName);
  OpBuilder b = OpBuilder::atBlockBegin(body);
  auto index = [&](int64_t value) -> Value {
    return arith::ConstantIndexOp::create(b, loc, value);
  };
  auto asI32 = [&](Value value) -> Value {
    return arith::IndexCastOp::create(b, loc, b.getI32Type(), value);
  };
  Value rows = memref::DimOp::create(b, loc, body->getArgument(0), 0);
  Value one = index(1);
  gpu::LaunchFuncOp::create(
      b, loc, function,
      {arith::CeilDivUIOp::create(b, loc, rows,
                                  index(PrefillAttentionKernel::kBlockQueries)),
       index(kernel.numHeads), one},
      {index(PrefillAttentionKernel::kWarpsPerBlock * kWarpThreads), one, one},
      arith::ConstantIntOp::create(b, loc, b.getI32Type(),
                                   kernel.getSharedMemoryBytes()),
      ValueRange{flattenRows(b, loc, body->getArgument(0)),
                 body->getArgument(1), body->getArgument(2),
                 flattenRows(b, loc, body->getArgument(4)), asI32(rows),
                 asI32(body->getArgument(3))});
  func::ReturnOp::create(b, loc);
  return success();
}

void DefineGPUPrefillAttentionPass::runOnOperation() {
  if (failed(checkKnownGPUChip(getOperation(), chip)))
    return signalPassFailure();
  for (func::FuncOp declaration :
       getMarkedDeclarations(getOperation(), kGPUPrefillAttentionAttrName))
    if (failed(define(declaration)))
      return signalPassFailure();
}
