//===- DefineGPULinears.cpp - launch the tiled f32 linear kernel ----------===//
//
// Implements lowbit-define-gpu-linears. The f32 linear kernels of
// lowbit-convert-to-cpu{isa=nvgpu} call a declaration marked
// lowbit.gpu_linear for steps of many token rows. This pass generates the
// tiled linear kernel of its shape and defines the declaration: flat views of
// the input, weight and output rows and one launch over tiles of outputs by
// tiles of rows.
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"
#include "lowbit/Conversion/LowBitToNVGPU/LinearKernel.h"
#include "lowbit/Conversion/Passes.h"

namespace lowbit {
#define GEN_PASS_DEF_DEFINEGPULINEARS
#include "lowbit/Conversion/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
/// Name of the gpu.module that holds the linear kernels of a model.
constexpr llvm::StringLiteral kLinearModuleName = "lowbit_linear_kernels";

struct DefineGPULinearsPass
    : lowbit::impl::DefineGPULinearsBase<DefineGPULinearsPass> {
  using DefineGPULinearsBase::DefineGPULinearsBase;

  void runOnOperation() override;

private:
  /// Gives `declaration` its body, or fails after a diagnostic.
  LogicalResult define(func::FuncOp declaration);
};
} // namespace

LogicalResult DefineGPULinearsPass::define(func::FuncOp declaration) {
  FunctionType type = declaration.getFunctionType();
  auto f32At = [&](unsigned i) {
    auto memref = dyn_cast<MemRefType>(type.getInput(i));
    return memref && memref.getRank() == 2 && !memref.isDynamicDim(1) &&
                   memref.getElementType().isF32()
               ? memref
               : MemRefType();
  };
  MemRefType input, weightT, out;
  if (type.getNumInputs() == 3 && type.getNumResults() == 0) {
    input = f32At(0);
    weightT = f32At(1);
    out = f32At(2);
  }
  if (!input || !weightT || !out || !weightT.hasStaticShape() ||
      weightT.getDimSize(0) != input.getDimSize(1) ||
      out.getDimSize(1) != weightT.getDimSize(1))
    return declaration.emitOpError()
           << "is marked " << kGPULinearAttrName
           << " but does not take (input rows [?, K], transposed weight "
              "[K, N], output rows [?, N]) as f32 memrefs";
  LinearKernel kernel{input.getDimSize(1), out.getDimSize(1)};
  std::string why = kernel.checkSupported();
  if (!why.empty())
    return declaration.emitOpError() << "has no GPU linear kernel: " << why;

  Location loc = declaration.getLoc();
  gpu::GPUFuncOp function = getOrBuildKernel(
      getOperation(), kLinearModuleName, chip, kernel.getName(),
      [&](OpBuilder &builder) {
        return buildLinearKernel(builder, loc, kernel);
      });
  Block *body = declaration.addEntryBlock();
  declaration->removeAttr(kGPULinearAttrName);
  OpBuilder b = OpBuilder::atBlockBegin(body);
  auto index = [&](int64_t value) -> Value {
    return arith::ConstantIndexOp::create(b, loc, value);
  };
  Value rows = memref::DimOp::create(b, loc, body->getArgument(0), 0);
  Value one = index(1);
  gpu::LaunchFuncOp::create(
      b, loc, function,
      {index(kernel.outChannels / LinearKernel::kBlockColumns),
       arith::CeilDivUIOp::create(b, loc, rows,
                                  index(LinearKernel::kBlockRows)),
       one},
      {index(LinearKernel::kThreads), one, one},
      arith::ConstantIntOp::create(b, loc, b.getI32Type(),
                                   kernel.getSharedMemoryBytes()),
      ValueRange{flattenRows(b, loc, body->getArgument(0)),
                 flattenRows(b, loc, body->getArgument(1)),
                 flattenRows(b, loc, body->getArgument(2)),
                 arith::IndexCastOp::create(b, loc, b.getI32Type(), rows)});
  func::ReturnOp::create(b, loc);
  return success();
}

void DefineGPULinearsPass::runOnOperation() {
  if (failed(checkKnownGPUChip(getOperation(), chip)))
    return signalPassFailure();
  for (func::FuncOp declaration :
       getMarkedDeclarations(getOperation(), kGPULinearAttrName))
    if (failed(define(declaration)))
      return signalPassFailure();
}
