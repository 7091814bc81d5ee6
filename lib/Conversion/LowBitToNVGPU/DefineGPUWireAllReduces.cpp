//===- DefineGPUWireAllReduces.cpp - compressed all-reduces of a model ----===//
//
// Implements lowbit-define-gpu-wire-all-reduces. A compressed all-reduce of
// a GPU model is a pack kernel, an all-gather of the packed messages
// through the runtime's collective functions, and a decode-and-sum kernel;
// this pass writes that sequence as the host body of the declaration
// lowbit-convert-to-cpu{isa=nvgpu} left for it.
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"
#include "lowbit/Conversion/LowBitToNVGPU/WireKernels.h"
#include "lowbit/Conversion/Passes.h"

namespace lowbit {
#define GEN_PASS_DEF_DEFINEGPUWIREALLREDUCES
#include "lowbit/Conversion/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
/// Name of the gpu.module that holds the wire kernels of a model.
constexpr llvm::StringLiteral kWireModuleName = "lowbit_wire_kernels";

struct DefineGPUWireAllReducesPass
    : lowbit::impl::DefineGPUWireAllReducesBase<DefineGPUWireAllReducesPass> {
  using DefineGPUWireAllReducesBase::DefineGPUWireAllReducesBase;

  void runOnOperation() override;

private:
  /// Gives `declaration` its body, or fails after a diagnostic.
  LogicalResult define(func::FuncOp declaration);
  /// The kernel `name` of the wire module, built by `build` if missing.
  gpu::GPUFuncOp
  getKernel(const std::string &name,
            llvm::function_ref<gpu::GPUFuncOp(OpBuilder &)> build) {
    return getOrBuildKernel(getOperation(), kWireModuleName, chip, name, build);
  }
};
} // namespace

LogicalResult DefineGPUWireAllReducesPass::define(func::FuncOp declaration) {
  auto wire =
      declaration->getAttrOfType<WireFormatAttr>(kGPUWireAllReduceAttrName);
  auto ranks = declaration->getAttrOfType<IntegerAttr>(kRanksAttrName);
  auto bytes = MemRefType::get({ShapedType::kDynamic},
                               IntegerType::get(&getContext(), 8));
  FunctionType type = declaration.getFunctionType();
  if (!wire || !ranks || ranks.getInt() < 1 || type.getNumInputs() != 3 ||
      type.getNumResults() != 0 ||
      llvm::any_of(type.getInputs(),
                   [&](Type input) { return input != bytes; }))
    return declaration.emitOpError()
           << "is marked " << kGPUWireAllReduceAttrName
           << " but does not have a wire format, a group size ("
           << kRanksAttrName
           << ") and (partial results, workspace, sum) as 1-D i8 memrefs";
  auto f32 = Float32Type::get(&getContext());
  WirePackKernel pack{wire, f32};
  WireSumKernel sum{wire, f32, ranks.getInt()};
  std::string why = pack.checkSupported();
  if (!why.empty())
    return declaration.emitOpError() << "has no GPU kernels: " << why;

  Location loc = declaration.getLoc();
  Block *body = declaration.addEntryBlock();
  declaration->removeAttr(kGPUWireAllReduceAttrName);
  declaration->removeAttr(kRanksAttrName);
  OpBuilder b = OpBuilder::atBlockBegin(body);
  auto index = [&](int64_t value) -> Value {
    return arith::ConstantIndexOp::create(b, loc, value);
  };
  auto mul = [&](Value lhs, int64_t rhs) -> Value {
    return arith::MulIOp::create(b, loc, lhs, index(rhs));
  };
  Value partials = body->getArgument(0), workspace = body->getArgument(1),
        result = body->getArgument(2);
  // The message layout of runtime::WireFormat for this step's blocks.
  runtime::WireFormat format = wire.getRuntimeFormat();
  Value elements = arith::DivUIOp::create(
      b, loc, memref::DimOp::create(b, loc, partials, 0), index(4));
  Value blocks =
      arith::DivUIOp::create(b, loc, elements, index(format.blockSize));
  Value messageBytes = emitWireMessageLayout(b, loc, format, blocks).second;
  auto vectors =
      MemRefType::get({ShapedType::kDynamic}, VectorType::get({4}, f32));
  Value vectorCount = arith::DivUIOp::create(b, loc, elements, index(4));
  auto view = [&](Value buffer, MemRefType type, Value offset, Value size) {
    return memref::ViewOp::create(b, loc, type, buffer, offset,
                                  ValueRange{size});
  };
  Value partialVectors = view(partials, vectors, index(0), vectorCount);
  Value resultVectors = view(result, vectors, index(0), vectorCount);
  Value message = view(workspace, bytes, index(0), messageBytes);
  Value messages =
      view(workspace, bytes, messageBytes, mul(messageBytes, ranks.getInt()));
  Value blocksI32 = arith::IndexCastOp::create(b, loc, b.getI32Type(), blocks);

  auto launch = [&](gpu::GPUFuncOp function, ValueRange operands) {
    Value one = index(1);
    gpu::LaunchFuncOp::create(
        b, loc, function,
        {arith::CeilDivUIOp::create(b, loc, blocks,
                                    index(kWireThreadsPerBlock)),
         one, one},
        {index(kWireThreadsPerBlock), one, one}, /*dynamicSharedMemorySize=*/
        Value(), operands);
  };
  launch(getKernel(pack.getName(),
                   [&](OpBuilder &builder) {
                     return buildWirePackKernel(builder, loc, pack);
                   }),
         {partialVectors, message, blocksI32});
  createCollectiveCall(b, loc, kAllGatherFunction, message, messages,
                       messageBytes);
  launch(getKernel(sum.getName(),
                   [&](OpBuilder &builder) {
                     return buildWireSumKernel(builder, loc, sum);
                   }),
         {messages, resultVectors, blocksI32});
  func::ReturnOp::create(b, loc);
  return success();
}

void DefineGPUWireAllReducesPass::runOnOperation() {
  if (failed(checkKnownGPUChip(getOperation(), chip)))
    return signalPassFailure();
  for (func::FuncOp declaration :
       getMarkedDeclarations(getOperation(), kGPUWireAllReduceAttrName))
    if (failed(define(declaration)))
      return signalPassFailure();
}
