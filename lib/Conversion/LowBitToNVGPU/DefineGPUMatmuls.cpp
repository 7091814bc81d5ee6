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
/// Weight rows times blocks of tokens that the tensor-core decode kernel
/// streams in about the time of one launch of the tensor-core matmul
/// kernel's short tiles. On an H100, two blocks of 32 tokens over 4096 rows
/// took 18 us where the tensor-core kernel took 30 us (K = 4096), and 35
/// against 91 us (K = 11008); over 11008 rows 44 against 30 us
/// (bench/results/2026-12-07-h100-decode-token-blocks.md).
constexpr int64_t kDecodeBlockRowsPerTensorCoreLaunch = 16384;

/// The buffers of a GPU matmul declaration, flattened and viewed as the
/// kernels read them.
struct MatmulBuffers {
  /// Tokens of the step (rows of the activations), as index and as i32.
  Value tokens, tokensI32;
  /// Activation codes as bytes and as 16-byte words, and their scales.
  Value actBytes, actWords, actScales;
  /// Of each weight: codes as bytes and as 16-byte words, scales, and the
  /// result.
  SmallVector<Value> weightBytes, weightWords, weightScales, results;
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
  const unsigned numInputs = type.getNumInputs();
  const unsigned numWeights = numInputs >= 2 ? (numInputs - 2) / 3 : 0;
  auto weightArgument = [](unsigned weight, unsigned part) {
    return 2 + 3 * weight + part;
  };
  if (numWeights == 0 || numInputs != 2 + 3 * numWeights ||
      type.getNumResults() != 0 ||
      llvm::any_of(llvm::seq(0u, numInputs),
                   [&](unsigned i) {
                     return !memrefAt(i) || memrefAt(i).getRank() != 2;
                   }) ||
      memrefAt(1).isDynamicDim(1) ||
      llvm::any_of(llvm::seq(0u, numWeights), [&](unsigned w) {
        return !memrefAt(weightArgument(w, 0)).hasStaticShape() ||
               !memrefAt(weightArgument(w, 1)).hasStaticShape();
      }))
    return declaration.emitOpError()
           << "is marked " << kGPUMatmulAttrName
           << " but does not take (activation codes, activation scales, then "
              "for each weight: weight codes, weight scales, result) as 2-D "
              "memrefs with static weight shapes";
  for (unsigned w = 0; w < numWeights; ++w) {
    int64_t rows = memrefAt(weightArgument(w, 0)).getDimSize(0);
    int64_t scaleGroups = memrefAt(weightArgument(w, 1)).getDimSize(1);
    int64_t firstScaleGroups = memrefAt(weightArgument(0, 1)).getDimSize(1);
    if (scaleGroups != firstScaleGroups)
      return declaration.emitOpError()
             << "has " << scaleGroups << " scale groups per row in weight " << w
             << " but " << firstScaleGroups
             << " in weight 0; one launch takes one weight scale group";
    MemRefType result = memrefAt(weightArgument(w, 2));
    if (memrefAt(weightArgument(w, 1)).getDimSize(0) != rows ||
        result.isDynamicDim(1) || result.getDimSize(1) != rows)
      return declaration.emitOpError()
             << "has " << rows << " rows in weight " << w
             << " but its scales are " << memrefAt(weightArgument(w, 1))
             << " and its result " << result;
  }
  const int64_t inChannels = memrefAt(0).getDimSize(1);
  const int64_t actScaleGroup = inChannels / memrefAt(1).getDimSize(1);
  const int64_t weightScaleGroup =
      inChannels / memrefAt(weightArgument(0, 1)).getDimSize(1);
  std::vector<int64_t> outChannels;
  for (unsigned w = 0; w < numWeights; ++w)
    outChannels.push_back(memrefAt(weightArgument(w, 0)).getDimSize(0));
  auto f32 = Float32Type::get(&getContext());
  const int64_t waveBlocks =
      multiprocessors
          ? multiprocessors
          : TensorCoreMatmulKernel::getDefaultMultiprocessors(chip);

  SmallVector<DecodeMatmulKernel> decodeKernels;
  for (int64_t tokens = 1; tokens <= maxDecodeTokens; tokens *= 2) {
    DecodeMatmulKernel kernel =
        DecodeMatmulKernel::get(outChannels, inChannels, actScaleGroup,
                                weightScaleGroup, tokens, f32, f32);
    if (!kernel.isWorthwhile())
      break;
    std::string why = kernel.checkSupported();
    if (!why.empty())
      return declaration.emitOpError() << "has no GPU decode kernel: " << why;
    decodeKernels.push_back(kernel);
  }
  Attribute blockSizeAttr = declaration->getAttr(kActivationBlockSizeAttrName);
  Attribute blockBitsAttr = declaration->getAttr(kActivationBlockBitsAttrName);
  auto actBlockSize = dyn_cast_or_null<IntegerAttr>(blockSizeAttr);
  auto actBlockBits = dyn_cast_or_null<DenseI64ArrayAttr>(blockBitsAttr);
  // Each present attribute of its type, and both or neither.
  if (bool(actBlockSize) != bool(blockSizeAttr) ||
      bool(actBlockBits) != bool(blockBitsAttr) ||
      bool(actBlockSize) != bool(actBlockBits))
    return declaration.emitOpError()
           << "needs both " << kActivationBlockSizeAttrName << " (i64) and "
           << kActivationBlockBitsAttrName << " (array<i64>), or neither";
  if (actBlockSize &&
      (actBlockSize.getInt() <= 0 ||
       actBlockSize.getInt() * int64_t(actBlockBits.size()) != inChannels))
    return declaration.emitOpError()
           << "has " << actBlockBits.size() << " activation blocks of "
           << actBlockSize.getInt() << " channels for " << inChannels
           << " input channels";
  SmallVector<TensorCoreMatmulKernel> tensorCores;
  for (int64_t channels : outChannels) {
    TensorCoreMatmulKernel kernel{channels,         inChannels,
                                  actScaleGroup,    weightScaleGroup,
                                  pipelineStages,   f32,
                                  f32};
    if (actBlockSize)
      kernel.selectActivationSteps(chip, actBlockSize.getInt(),
                                   actBlockBits.asArrayRef());
    tensorCores.push_back(kernel);
  }
  bool hasTensorCore = llvm::all_of(tensorCores, [](const auto &kernel) {
    return kernel.checkSupported().empty();
  });

  Location loc = declaration.getLoc();
  Block *body = declaration.addEntryBlock();
  for (StringRef marker : {kGPUMatmulAttrName, kActivationBlockSizeAttrName,
                           kActivationBlockBitsAttrName})
    declaration->removeAttr(marker);
  OpBuilder b = OpBuilder::atBlockBegin(body);
  auto index = [&](int64_t value) -> Value {
    return arith::ConstantIndexOp::create(b, loc, value);
  };
  MatmulBuffers buffers;
  buffers.tokens = memref::DimOp::create(b, loc, body->getArgument(0), 0);
  buffers.tokensI32 =
      arith::IndexCastOp::create(b, loc, b.getI32Type(), buffers.tokens);
  buffers.actBytes = flattenRows(b, loc, body->getArgument(0));
  buffers.actWords =
      viewAsWords(b, loc, buffers.actBytes,
                  arith::MulIOp::create(b, loc, buffers.tokens,
                                        index(inChannels / kWordBytes)));
  buffers.actScales = flattenRows(b, loc, body->getArgument(1));
  for (unsigned w = 0; w < numWeights; ++w) {
    Value bytes = flattenRows(b, loc, body->getArgument(weightArgument(w, 0)));
    buffers.weightBytes.push_back(bytes);
    buffers.weightWords.push_back(viewAsWords(
        b, loc, bytes,
        index(memrefAt(weightArgument(w, 0)).getNumElements() / kWordBytes)));
    buffers.weightScales.push_back(
        flattenRows(b, loc, body->getArgument(weightArgument(w, 1))));
    buffers.results.push_back(
        flattenRows(b, loc, body->getArgument(weightArgument(w, 2))));
  }

  auto ceilDiv = [&](OpBuilder &b, Value value, int64_t divisor) -> Value {
    return arith::CeilDivUIOp::create(
        b, loc, value, arith::ConstantIndexOp::create(b, loc, divisor));
  };
  // A launch of `function` over `blocksX` blocks along the outputs by blocks
  // of `tokensPerBlock` tokens, `warps` warps each.
  auto launch = [&](OpBuilder &b, gpu::GPUFuncOp function, int64_t blocksX,
                    int64_t tokensPerBlock, int64_t warps, Value sharedBytes,
                    ValueRange operands) {
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    gpu::LaunchFuncOp::create(
        b, loc, function,
        {arith::ConstantIndexOp::create(b, loc, blocksX),
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
    SmallVector<Value> operands;
    for (unsigned w = 0; w < numWeights; ++w)
      operands.append({buffers.weightWords[w], buffers.weightScales[w]});
    operands.append({buffers.actWords, buffers.actScales});
    operands.append(buffers.results);
    operands.push_back(buffers.tokensI32);
    launch(b, function, kernel.getBlocksX(), kernel.tokensPerBlock,
           DecodeMatmulKernel::kWarpsPerBlock,
           /*sharedBytes=*/Value(), operands);
  };
  // The tensor-core kernel takes one weight: a launch for each, with short
  // tiles while they fit one wave of thread blocks, else tall ones.
  auto launchTensorCores = [&](OpBuilder &b) {
    for (auto [w, tallTiles] : llvm::enumerate(tensorCores)) {
      auto launchTiles = [&, w = w](OpBuilder &b, int64_t blockRows) {
        TensorCoreMatmulKernel tensorCore = tallTiles;
        tensorCore.blockRows = blockRows;
        gpu::GPUFuncOp function =
            getKernel(tensorCore.getName(), [&](OpBuilder &builder) {
              return buildTensorCoreMatmulKernel(builder, loc, tensorCore);
            });
        launch(b, function,
               llvm::divideCeil(tensorCore.outChannels,
                                TensorCoreMatmulKernel::kBlockColumns),
               tensorCore.blockRows, TensorCoreMatmulKernel::kWarpsPerBlock,
               arith::ConstantIntOp::create(b, loc, b.getI32Type(),
                                            tensorCore.getSharedMemoryBytes()),
               ValueRange{buffers.weightBytes[w], buffers.weightScales[w],
                          buffers.actBytes, buffers.actScales,
                          buffers.results[w], buffers.tokensI32});
      };
      Value few = arith::CmpIOp::create(
          b, loc, arith::CmpIPredicate::ule, buffers.tokens,
          arith::ConstantIndexOp::create(
              b, loc,
              TensorCoreMatmulKernel::getMaxTokensForShortTiles(
                  tallTiles.outChannels, waveBlocks)));
      scf::IfOp::create(
          b, loc, few,
          [&](OpBuilder &b, Location loc) {
            launchTiles(b, TensorCoreMatmulKernel::kShortTileRows);
            scf::YieldOp::create(b, loc);
          },
          [&](OpBuilder &b, Location loc) {
            launchTiles(b, TensorCoreMatmulKernel::kTallTileRows);
            scf::YieldOp::create(b, loc);
          });
    }
  };
  // The smallest decode kernel that holds the tokens. Beyond the largest:
  // that kernel over blocks of tokens for shapes the tensor-core kernel
  // does not take; where it runs on tensor cores, over up to `tokenBlocks`
  // blocks (it reads the weights once a block, which beats the tensor-core
  // kernel's launches, one a weight, while rows x blocks stay small); else
  // the tensor-core kernel.
  const DecodeMatmulKernel &largestDecode = decodeKernels.back();
  int64_t weightRows = 0;
  for (int64_t channels : outChannels)
    weightRows += channels;
  const int64_t tokenBlocks = std::min<int64_t>(
      decodeTokenBlocks,
      kDecodeBlockRowsPerTensorCoreLaunch * numWeights / weightRows);
  auto launchBeyondDecode = [&](OpBuilder &b) {
    if (!hasTensorCore)
      return launchDecode(b, largestDecode);
    if (!largestDecode.mmaWarpsAlongK || tokenBlocks <= 1)
      return launchTensorCores(b);
    Value fits = arith::CmpIOp::create(
        b, loc, arith::CmpIPredicate::ule, buffers.tokens,
        arith::ConstantIndexOp::create(
            b, loc, tokenBlocks * largestDecode.tokensPerBlock));
    scf::IfOp::create(
        b, loc, fits,
        [&](OpBuilder &b, Location loc) {
          launchDecode(b, largestDecode);
          scf::YieldOp::create(b, loc);
        },
        [&](OpBuilder &b, Location loc) {
          launchTensorCores(b);
          scf::YieldOp::create(b, loc);
        });
  };
  std::function<void(OpBuilder &, size_t)> dispatch = [&](OpBuilder &b,
                                                          size_t next) {
    if (next == decodeKernels.size())
      return launchBeyondDecode(b);
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
  if (decodeTokenBlocks < 1) {
    getOperation().emitError()
        << "decode-token-blocks must be at least 1, got "
        << static_cast<int64_t>(decodeTokenBlocks);
    return signalPassFailure();
  }
  if (multiprocessors < 0) {
    getOperation().emitError()
        << "multiprocessors must be 0 (the chip's usual GPU) or positive, got "
        << static_cast<int64_t>(multiprocessors);
    return signalPassFailure();
  }
  for (func::FuncOp declaration :
       getMarkedDeclarations(getOperation(), kGPUMatmulAttrName))
    if (failed(define(declaration)))
      return signalPassFailure();
}
