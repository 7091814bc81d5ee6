//===- DefineGPUMatmuls.cpp - launch lowbit's GPU matmuls in a model
//-------===//
//
// Implements lowbit-define-gpu-matmuls. lowbit-convert-to-cpu{isa=nvgpu}
// leaves each matmul that lowbit's GPU matmul kernels take as a call of a
// declaration marked lowbit.gpu_matmul. This pass generates the decode and
// tensor-core kernels of its shape and defines the declaration: views of
// its buffers as the kernels read them, and a launch chosen by the step's
// token count.
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"
#include "lowbit/Conversion/LowBitToNVGPU/DecodeMatmulKernel.h"
#include "lowbit/Conversion/LowBitToNVGPU/TensorCoreMatmulKernel.h"
#include "lowbit/Conversion/Passes.h"

#include "mlir/IR/SymbolTable.h"

namespace lowbit {
#define GEN_PASS_DEF_DEFINEGPUMATMULS
#include "lowbit/Conversion/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
/// Name of the gpu.module that holds the matmul kernels of a model.
constexpr llvm::StringLiteral kMatmulModuleName = "lowbit_matmul_kernels";
/// Threads of one warp.
constexpr int64_t kWarpThreads = 32;
/// Bytes of one weight or activation word of the decode kernel
/// (vector<4xi32>).
constexpr int64_t kWordBytes = 16;

/// The buffers of a GPU matmul declaration, flattened and viewed as the
/// kernels read them.
struct MatmulBuffers {
  /// Tokens of the step (rows of the activations), as index and as i32.
  Value tokens, tokensI32;
  /// Activation and weight codes as bytes and as 16-byte words.
  Value actBytes, actWords, weightBytes, weightWords;
  /// Activation scales, weight scales and the result, 1-D.
  Value actScales, weightScales, result;
};

struct DefineGPUMatmulsPass
    : lowbit::impl::DefineGPUMatmulsBase<DefineGPUMatmulsPass> {
  using DefineGPUMatmulsBase::DefineGPUMatmulsBase;

  void runOnOperation() override;

private:
  /// Gives `declaration` its body, or fails after a diagnostic.
  LogicalResult define(func::FuncOp declaration);
  /// The kernel `name` of the matmul module, built by `build` if missing.
  gpu::GPUFuncOp
  getKernel(const std::string &name,
            llvm::function_ref<gpu::GPUFuncOp(OpBuilder &)> build) {
    return getOrBuildKernel(getOperation(), kMatmulModuleName, chip, name,
                            build);
  }
};
} // namespace

/// Flattens `buffer` to one dimension of run-time size.
static Value flatten(OpBuilder &b, Location loc, Value buffer) {
  auto type = cast<MemRefType>(buffer.getType());
  Value flat = memref::CollapseShapeOp::create(
      b, loc, buffer, ArrayRef<ReassociationIndices>{{0, 1}});
  if (type.hasStaticShape())
    flat = memref::CastOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic}, type.getElementType()),
        flat);
  return flat;
}

/// `bytes` (1-D i8) viewed as `count` 16-byte words.
static Value viewAsWords(OpBuilder &b, Location loc, Value bytes, Value count) {
  auto words = MemRefType::get({ShapedType::kDynamic},
                               VectorType::get({4}, b.getI32Type()));
  return memref::ViewOp::create(b, loc, words, bytes,
                                arith::ConstantIndexOp::create(b, loc, 0),
                                ValueRange{count});
}

LogicalResult DefineGPUMatmulsPass::define(func::FuncOp declaration) {
  FunctionType type = declaration.getFunctionType();
  auto memrefAt = [&](unsigned index) {
    return dyn_cast<MemRefType>(type.getInput(index));
  };
  if (type.getNumInputs() != 5 || type.getNumResults() != 0 ||
      llvm::any_of(llvm::seq(0u, 5u),
                   [&](unsigned i) {
                     return !memrefAt(i) || memrefAt(i).getRank() != 2;
                   }) ||
      memrefAt(1).isDynamicDim(1) || memrefAt(3).isDynamicDim(1) ||
      !memrefAt(2).hasStaticShape())
    return declaration.emitOpError()
           << "is marked " << kGPUMatmulAttrName
           << " but does not take (activation codes, activation scales, "
              "weight codes, weight scales, result) as 2-D memrefs";
  const int64_t inChannels = memrefAt(0).getDimSize(1);
  const int64_t outChannels = memrefAt(2).getDimSize(0);
  const int64_t actScaleGroup = inChannels / memrefAt(1).getDimSize(1);
  const int64_t weightScaleGroup = inChannels / memrefAt(3).getDimSize(1);
  auto f32 = Float32Type::get(&getContext());

  SmallVector<DecodeMatmulKernel> decodeKernels;
  for (int64_t tokens = 1; tokens <= maxDecodeTokens; tokens *= 2) {
    DecodeMatmulKernel kernel{
        outChannels,   inChannels,
        actScaleGroup, weightScaleGroup,
        tokens,        DecodeMatmulKernel::getColumnsPerWarp(tokens),
        f32,           f32};
    std::string why = kernel.checkSupported();
    if (!why.empty())
      return declaration.emitOpError() << "has no GPU decode kernel: " << why;
    decodeKernels.push_back(kernel);
  }
  TensorCoreMatmulKernel tensorCore{
      outChannels, inChannels, actScaleGroup, weightScaleGroup, pipelineStages,
      f32,         f32};
  bool hasTensorCore = tensorCore.checkSupported().empty();

  Location loc = declaration.getLoc();
  Block *body = declaration.addEntryBlock();
  declaration->removeAttr(kGPUMatmulAttrName);
  OpBuilder b = OpBuilder::atBlockBegin(body);
  auto index = [&](int64_t value) -> Value {
    return arith::ConstantIndexOp::create(b, loc, value);
  };
  MatmulBuffers buffers;
  buffers.tokens = memref::DimOp::create(b, loc, body->getArgument(0), 0);
  buffers.tokensI32 =
      arith::IndexCastOp::create(b, loc, b.getI32Type(), buffers.tokens);
  buffers.actBytes = flatten(b, loc, body->getArgument(0));
  buffers.actWords =
      viewAsWords(b, loc, buffers.actBytes,
                  arith::MulIOp::create(b, loc, buffers.tokens,
                                        index(inChannels / kWordBytes)));
  buffers.actScales = flatten(b, loc, body->getArgument(1));
  buffers.weightBytes = flatten(b, loc, body->getArgument(2));
  buffers.weightWords =
      viewAsWords(b, loc, buffers.weightBytes,
                  index(memrefAt(2).getNumElements() / kWordBytes));
  buffers.weightScales = flatten(b, loc, body->getArgument(3));
  buffers.result = flatten(b, loc, body->getArgument(4));

  auto ceilDiv = [&](OpBuilder &b, Value value, int64_t divisor) -> Value {
    return arith::CeilDivUIOp::create(
        b, loc, value, arith::ConstantIndexOp::create(b, loc, divisor));
  };
  // A launch of `function` over blocks of `columnsPerBlock` outputs by
  // `tokensPerBlock` tokens, `warps` warps each.
  auto launch = [&](OpBuilder &b, gpu::GPUFuncOp function,
                    int64_t columnsPerBlock, int64_t tokensPerBlock,
                    int64_t warps, Value sharedBytes, ValueRange operands) {
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    gpu::LaunchFuncOp::create(
        b, loc, function,
        {arith::ConstantIndexOp::create(
             b, loc, llvm::divideCeil(outChannels, columnsPerBlock)),
         ceilDiv(b, buffers.tokens, tokensPerBlock), one},
        {arith::ConstantIndexOp::create(b, loc, warps * kWarpThreads), one,
         one},
        sharedBytes, operands);
  };
  auto launchDecode = [&](OpBuilder &b, const DecodeMatmulKernel &kernel) {
    gpu::GPUFuncOp function =
        getKernel(kernel.getName(), [&](OpBuilder &builder) {
          return buildDecodeMatmulKernel(builder, loc, kernel);
        });
    launch(b, function, kernel.getColumnsPerBlock(), kernel.tokensPerBlock,
           DecodeMatmulKernel::kWarpsPerBlock,
           /*sharedBytes=*/Value(),
           ValueRange{buffers.weightWords, buffers.weightScales,
                      buffers.actWords, buffers.actScales, buffers.result,
                      buffers.tokensI32});
  };
  auto launchTensorCore = [&](OpBuilder &b) {
    gpu::GPUFuncOp function =
        getKernel(tensorCore.getName(), [&](OpBuilder &builder) {
          return buildTensorCoreMatmulKernel(builder, loc, tensorCore);
        });
    launch(b, function, TensorCoreMatmulKernel::kBlockColumns,
           TensorCoreMatmulKernel::kBlockRows,
           TensorCoreMatmulKernel::kWarpsPerBlock,
           arith::ConstantIntOp::create(b, loc, b.getI32Type(),
                                        tensorCore.getSharedMemoryBytes()),
           ValueRange{buffers.weightBytes, buffers.weightScales,
                      buffers.actBytes, buffers.actScales, buffers.result,
                      buffers.tokensI32});
  };
  // The smallest decode kernel that holds the tokens, else the tensor-core
  // kernel (or the largest decode kernel over blocks of tokens).
  std::function<void(OpBuilder &, size_t)> dispatch = [&](OpBuilder &b,
                                                          size_t next) {
    if (next == decodeKernels.size()) {
      if (hasTensorCore)
        launchTensorCore(b);
      else
        launchDecode(b, decodeKernels.back());
      return;
    }
    Value fits =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule, buffers.tokens,
                              arith::ConstantIndexOp::create(
                                  b, loc, decodeKernels[next].tokensPerBlock));
    scf::IfOp::create(
        b, loc, fits,
        [&](OpBuilder &b, Location loc) {
          launchDecode(b, decodeKernels[next]);
          scf::YieldOp::create(b, loc);
        },
        [&](OpBuilder &b, Location loc) {
          dispatch(b, next + 1);
          scf::YieldOp::create(b, loc);
        });
  };
  dispatch(b, 0);
  func::ReturnOp::create(b, loc);
  return success();
}

void DefineGPUMatmulsPass::runOnOperation() {
  if (failed(checkMatmulKernelOptions(getOperation(), chip, "max-decode-tokens",
                                      maxDecodeTokens, pipelineStages)))
    return signalPassFailure();
  SmallVector<func::FuncOp> declarations;
  for (auto function : getOperation().getOps<func::FuncOp>())
    if (function.isDeclaration() && function->hasAttr(kGPUMatmulAttrName))
      declarations.push_back(function);
  for (func::FuncOp declaration : declarations)
    if (failed(define(declaration)))
      return signalPassFailure();
}
