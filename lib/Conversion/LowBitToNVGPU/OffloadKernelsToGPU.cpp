//===- OffloadKernelsToGPU.cpp - run the graph's kernels on a GPU ---------===//
//
// Implements lowbit-offload-kernels-to-gpu. The kernels of
// lowbit-convert-to-cpu mark their independent iterations (tokens, output
// channels, heads, scale groups) as scf.parallel; this pass gives every
// iteration a GPU thread. Each outermost parallel nest is tiled into thread
// blocks, mapped to block and thread ids and outlined into a gpu.func with
// an NVVM target, so the kernel functions stay on the host and only compute
// views and launch grids. The sequential work inside an iteration, and so
// its floating-point order, is the CPU kernel's.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Conversion/Passes.h"

#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/SCFToGPU/SCFToGPU.h"
#include "mlir/Dialect/GPU/Transforms/ParallelLoopMapper.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/DialectConversion.h"
#include "mlir/Transforms/Passes.h"

namespace lowbit {
#define GEN_PASS_DEF_OFFLOADKERNELSTOGPU
#include "lowbit/Conversion/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
/// Threads of one warp: the fewest a block gets.
constexpr int64_t kWarpThreads = 32;

/// Gives each use inside `loop` of a global table or a stack buffer defined
/// outside it a copy of its own at the top of the loop body: on the GPU the
/// host's tables are out of reach and a stack buffer is per thread.
void sinkTablesAndBuffers(scf::ParallelOp loop) {
  DenseMap<Operation *, Operation *> copies;
  OpBuilder builder = OpBuilder::atBlockBegin(loop.getBody());
  loop.getBody()->walk([&](Operation *user) {
    for (OpOperand &operand : user->getOpOperands()) {
      Operation *definition = operand.get().getDefiningOp();
      if (!definition ||
          !isa<memref::GetGlobalOp, memref::AllocaOp>(definition) ||
          loop->isAncestor(definition))
        continue;
      Operation *&copy = copies[definition];
      if (!copy)
        copy = builder.clone(*definition);
      operand.set(copy->getResult(0));
    }
  });
  for (auto [original, copy] : copies)
    if (original->use_empty())
      original->erase();
}

/// The trip count of dimension `dim` of `loop` when its bounds and step
/// are constants.
std::optional<int64_t> getConstantTripCount(scf::ParallelOp loop,
                                            unsigned dim) {
  std::optional<int64_t> lower = getConstantIntValue(loop.getLowerBound()[dim]);
  std::optional<int64_t> upper = getConstantIntValue(loop.getUpperBound()[dim]);
  std::optional<int64_t> step = getConstantIntValue(loop.getStep()[dim]);
  if (!lower || !upper || !step || *step <= 0)
    return std::nullopt;
  return (*upper - *lower + *step - 1) / *step;
}

/// Tile sizes for `loop`: the dimension with the most constant iterations
/// (channels, outputs) spreads over up to `threads` threads of a block, the
/// others over blocks; a nest of run-time extent only (tokens) takes a warp
/// per block along its first dimension.
SmallVector<int64_t> chooseTileSizes(scf::ParallelOp loop, int64_t threads) {
  SmallVector<int64_t> sizes(loop.getNumLoops(), 1);
  std::optional<unsigned> widest;
  int64_t widestTrips = 0;
  for (unsigned dim = 0; dim < loop.getNumLoops(); ++dim)
    if (std::optional<int64_t> trips = getConstantTripCount(loop, dim);
        trips && *trips > widestTrips) {
      widest = dim;
      widestTrips = *trips;
    }
  if (!widest) {
    sizes[0] = kWarpThreads;
    return sizes;
  }
  int64_t warps = (std::min(widestTrips, threads) + kWarpThreads - 1) /
                  kWarpThreads;
  sizes[*widest] = warps * kWarpThreads;
  return sizes;
}

/// Maps the dimensions of `outer` to block ids and those of `inner` to
/// thread ids, x first.
LogicalResult mapToBlocksAndThreads(scf::ParallelOp outer,
                                    scf::ParallelOp inner) {
  MLIRContext *context = outer.getContext();
  AffineMap identity = AffineMap::getMultiDimIdentityMap(1, context);
  auto mapping = [&](scf::ParallelOp loop, gpu::Processor first) {
    SmallVector<gpu::ParallelLoopDimMappingAttr> dims;
    for (unsigned dim = 0; dim < loop.getNumLoops(); ++dim)
      dims.push_back(gpu::ParallelLoopDimMappingAttr::get(
          context,
          static_cast<gpu::Processor>(static_cast<int>(first) + dim),
          identity, identity));
    return gpu::setMappingAttr(loop, dims);
  };
  if (failed(mapping(outer, gpu::Processor::BlockX)) ||
      failed(mapping(inner, gpu::Processor::ThreadX)))
    return failure();
  // Parallel loops nested deeper run sequentially in their thread.
  inner.getBody()->walk([&](scf::ParallelOp nested) {
    SmallVector<gpu::ParallelLoopDimMappingAttr> dims(
        nested.getNumLoops(),
        gpu::ParallelLoopDimMappingAttr::get(context, gpu::Processor::Sequential,
                                             identity, identity));
    (void)gpu::setMappingAttr(nested, dims);
  });
  return success();
}

struct OffloadKernelsToGPUPass
    : lowbit::impl::OffloadKernelsToGPUBase<OffloadKernelsToGPUPass> {
  using OffloadKernelsToGPUBase::OffloadKernelsToGPUBase;

  void runOnOperation() override;
};
} // namespace

void OffloadKernelsToGPUPass::runOnOperation() {
  ModuleOp module = getOperation();
  if (chip != "sm_80" && chip != "sm_89" && chip != "sm_90") {
    module.emitError() << "unknown GPU chip '" << chip
                       << "'; expected sm_80, sm_89 or sm_90";
    return signalPassFailure();
  }
  if (threadsPerBlock < kWarpThreads || threadsPerBlock > 1024 ||
      threadsPerBlock % kWarpThreads != 0) {
    module.emitError() << "threads-per-block must be a multiple of 32 from 32 "
                          "to 1024, got "
                       << int64_t(threadsPerBlock);
    return signalPassFailure();
  }

  SmallVector<scf::ParallelOp> nests;
  module.walk([&](scf::ParallelOp loop) {
    if (!loop->getParentOfType<scf::ParallelOp>() &&
        !loop->getParentOfType<gpu::GPUModuleOp>())
      nests.push_back(loop);
  });
  for (scf::ParallelOp nest : nests) {
    sinkTablesAndBuffers(nest);
    auto [outer, inner] = scf::tileParallelLoop(
        nest, chooseTileSizes(nest, threadsPerBlock), /*noMinMaxBounds=*/true);
    if (failed(mapToBlocksAndThreads(outer, inner))) {
      outer.emitError() << "cannot map this loop nest to GPU threads";
      return signalPassFailure();
    }
  }

  ConversionTarget target(getContext());
  RewritePatternSet patterns(&getContext());
  populateParallelLoopToGPUPatterns(patterns);
  configureParallelLoopToGPULegality(target);
  target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
  if (failed(applyPartialConversion(module, target, std::move(patterns))))
    return signalPassFailure();
  finalizeParallelLoopToGPUConversion(module);

  // Memory the host code still touches would be device memory.
  WalkResult hostAccess = module.walk([](Operation *op) {
    if (op->getParentOfType<gpu::LaunchOp>() ||
        op->getParentOfType<gpu::GPUModuleOp>())
      return WalkResult::advance();
    if (isa<memref::LoadOp, memref::StoreOp, vector::LoadOp, vector::StoreOp>(
            op)) {
      op->emitError() << "lowbit-offload-kernels-to-gpu: this access is not "
                         "inside a parallel loop, so it would run on the host "
                         "against device memory";
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  if (hostAccess.wasInterrupted())
    return signalPassFailure();

  OpPassManager outlining(ModuleOp::getOperationName());
  outlining.addPass(createGpuKernelOutliningPass());
  outlining.addPass(createLowerAffinePass());
  outlining.addPass(createCanonicalizerPass());
  if (failed(runPipeline(outlining, module)))
    return signalPassFailure();
  // PTX 8.0 is the first ISA version that knows sm_90.
  auto nvvmTarget = NVVM::NVVMTargetAttr::get(
      &getContext(), /*optLevel=*/3, "nvptx64-nvidia-cuda", chip, "+ptx80");
  module.walk([&](gpu::GPUModuleOp kernels) {
    kernels.setTargetsAttr(ArrayAttr::get(&getContext(), {nvvmTarget}));
  });
}
