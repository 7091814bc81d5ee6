//===- OffloadKernelsToGPU.cpp - run the graph's kernels on a GPU ---------===//
//
// Implements lowbit-offload-kernels-to-gpu. The kernels of
// lowbit-convert-to-cpu mark their independent iterations (tokens, output
// channels, heads, scale groups) as scf.parallel; this pass gives every
// iteration a GPU thread, or a warp or several when the iteration has loops
// marked for splitting over lanes. Each outermost parallel nest is tiled
// into thread blocks, mapped to block and thread ids and outlined into a
// gpu.func with an NVVM target, so the kernel functions stay on the host and
// only compute views and launch grids.
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"
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
/// The most warps that share one iteration of a nest with lane-split loops.
constexpr int64_t kMaxWarpsPerIteration = 16;
/// Iterations of a lane-split loop each thread should have at least, before
/// an iteration of the nest gets another warp.
constexpr int64_t kMinStepsPerThread = 8;
/// The workgroup buffer through which the warps of a block combine their
/// partial results: one f32 per warp.
constexpr llvm::StringLiteral kLanePartialsName = "lowbit_lane_partials";

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

/// `loop` rewritten to run every dimension from 0 by 1, its body computing
/// the original induction variables: upstream tiling's bound check
/// (noMinMaxBounds) is only right for unit steps.
scf::ParallelOp normalizeSteps(scf::ParallelOp loop) {
  if (llvm::all_of(loop.getStep(), [](Value step) {
        return getConstantIntValue(step) == int64_t(1);
      }))
    return loop;
  OpBuilder b(loop);
  Location loc = loop.getLoc();
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  SmallVector<Value> lowers, uppers, steps;
  for (auto [lower, upper, step] :
       llvm::zip(loop.getLowerBound(), loop.getUpperBound(), loop.getStep())) {
    lowers.push_back(zero);
    uppers.push_back(arith::CeilDivUIOp::create(
        b, loc, arith::SubIOp::create(b, loc, upper, lower), step));
    steps.push_back(one);
  }
  auto normalized = scf::ParallelOp::create(b, loc, lowers, uppers, steps);
  Block *from = loop.getBody(), *to = normalized.getBody();
  b.setInsertionPointToStart(to);
  for (auto [index, iv] : llvm::enumerate(from->getArguments()))
    iv.replaceAllUsesWith(arith::AddIOp::create(
        b, loc, loop.getLowerBound()[index],
        arith::MulIOp::create(b, loc, to->getArgument(index),
                              loop.getStep()[index])));
  to->getOperations().splice(std::prev(to->end()), from->getOperations(),
                             from->begin(), std::prev(from->end()));
  loop.erase();
  return normalized;
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

/// The dimension of `loop` with the most constant iterations and that count,
/// or std::nullopt and 0 when every extent is known only at run time.
std::pair<std::optional<unsigned>, int64_t>
getWidestConstantDim(scf::ParallelOp loop) {
  std::optional<unsigned> widest;
  int64_t widestTrips = 0;
  for (unsigned dim = 0; dim < loop.getNumLoops(); ++dim)
    if (std::optional<int64_t> trips = getConstantTripCount(loop, dim);
        trips && *trips > widestTrips) {
      widest = dim;
      widestTrips = *trips;
    }
  return {widest, widestTrips};
}

/// Tile sizes for `loop`: the dimension with the most constant iterations
/// (channels, outputs) spreads over up to `threads` threads of a block, the
/// others over blocks; a nest of run-time extent only (tokens) takes a warp
/// per block along its first dimension.
SmallVector<int64_t> chooseTileSizes(scf::ParallelOp loop, int64_t threads) {
  SmallVector<int64_t> sizes(loop.getNumLoops(), 1);
  auto [widest, widestTrips] = getWidestConstantDim(loop);
  if (!widest) {
    sizes[0] = kWarpThreads;
    return sizes;
  }
  int64_t warps = (std::min(widestTrips, threads) + kWarpThreads - 1) /
                  kWarpThreads;
  sizes[*widest] = warps * kWarpThreads;
  return sizes;
}

/// The loops of `nest`'s iterations that may be spread over the lanes of a
/// warp (kLaneSplitAttrName), outside deeper parallel loops.
SmallVector<scf::ForOp> getLaneSplitLoops(scf::ParallelOp nest) {
  SmallVector<scf::ForOp> loops;
  nest.getBody()->walk([&](Operation *op) {
    if (isa<scf::ParallelOp>(op))
      return WalkResult::skip();
    if (auto loop = dyn_cast<scf::ForOp>(op);
        loop && loop->hasAttr(kLaneSplitAttrName))
      loops.push_back(loop);
    return WalkResult::advance();
  });
  return loops;
}

/// Tile sizes for a nest whose iterations each take a warp: `warps`
/// iterations per block along the dimension with the most constant
/// iterations, else along the first.
SmallVector<int64_t> chooseWarpTileSizes(scf::ParallelOp loop, int64_t warps) {
  SmallVector<int64_t> sizes(loop.getNumLoops(), 1);
  auto [widest, widestTrips] = getWidestConstantDim(loop);
  sizes[widest.value_or(0)] = widest ? std::min(widestTrips, warps) : warps;
  return sizes;
}

/// The iterations of `loop` when its extent is a constant (constant bounds,
/// or an upper bound that is the lower bound plus a constant) and so is its
/// step; none otherwise.
std::optional<int64_t> getConstantTripCount(scf::ForOp loop) {
  std::optional<int64_t> step = getConstantIntValue(loop.getStep());
  if (!step || *step <= 0)
    return std::nullopt;
  std::optional<int64_t> extent;
  std::optional<int64_t> lower = getConstantIntValue(loop.getLowerBound());
  std::optional<int64_t> upper = getConstantIntValue(loop.getUpperBound());
  if (lower && upper)
    extent = *upper - *lower;
  else if (auto add = loop.getUpperBound().getDefiningOp<arith::AddIOp>())
    for (auto [base, offset] : {std::pair(add.getLhs(), add.getRhs()),
                                std::pair(add.getRhs(), add.getLhs())})
      if (base == loop.getLowerBound())
        if (std::optional<int64_t> constant = getConstantIntValue(offset))
          extent = *constant;
  if (!extent)
    return std::nullopt;
  return (std::max<int64_t>(*extent, 0) + *step - 1) / *step;
}

/// How many warps each iteration of a nest with the lane-split loops
/// `splitLoops` gets: one, or, for loops long enough to keep more threads
/// busy (at least kMinStepsPerThread steps each), a power of two up to
/// kMaxWarpsPerIteration. Several warps combine through workgroup memory,
/// which takes scalar f32 partial results only (vectors of partial sums
/// would cost two barriers per element).
int64_t chooseWarpsPerIteration(ArrayRef<scf::ForOp> splitLoops) {
  int64_t longest = 0;
  for (scf::ForOp loop : splitLoops) {
    for (Value partial : loop.getResults())
      if (!partial.getType().isF32())
        return 1;
    longest = std::max(longest, getConstantTripCount(loop).value_or(0));
  }
  int64_t warps = 1;
  while (warps < kMaxWarpsPerIteration &&
         2 * warps * kWarpThreads * kMinStepsPerThread <= longest)
    warps *= 2;
  return warps;
}

/// `value` folded with `split` ("add" or "max", as Emitter::maxOf) with
/// `other`.
Value fold(OpBuilder &b, Location loc, Value value, Value other,
           StringRef split) {
  if (split == "add")
    return arith::AddFOp::create(b, loc, value, other);
  Value less =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, value, other);
  return arith::SelectOp::create(b, loc, less, other, value);
}

/// `value` folded over the 32 x `warps` lanes of a block's iteration (lane
/// `lane`) with `split`, every lane getting the result; vectors element by
/// element. Within a warp the lanes combine by shuffles; the warps then
/// through workgroup memory (`partials`), each adding in warp order.
Value combineLanes(OpBuilder &b, Location loc, Value value, StringRef split,
                   Value lane, int64_t warps, Value partials) {
  if (auto vector = dyn_cast<VectorType>(value.getType())) {
    SmallVector<Value> elements;
    for (int64_t i = 0; i < vector.getNumElements(); ++i)
      elements.push_back(
          combineLanes(b, loc, vector::ExtractOp::create(b, loc, value, i),
                       split, lane, warps, partials));
    return vector::FromElementsOp::create(b, loc, vector, elements);
  }
  Value width =
      arith::ConstantIntOp::create(b, loc, b.getI32Type(), kWarpThreads);
  for (int64_t offset = kWarpThreads / 2; offset > 0; offset /= 2) {
    Value other = gpu::ShuffleOp::create(b, loc, value,
                                         arith::ConstantIntOp::create(
                                             b, loc, b.getI32Type(), offset),
                                         width, gpu::ShuffleMode::XOR)
                      .getShuffleResult();
    value = fold(b, loc, value, other, split);
  }
  if (warps == 1)
    return value;
  // The barrier first lets every warp finish reading the last combination.
  gpu::BarrierOp::create(b, loc);
  Value warpSize = arith::ConstantIndexOp::create(b, loc, kWarpThreads);
  Value first =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                            arith::RemUIOp::create(b, loc, lane, warpSize),
                            arith::ConstantIndexOp::create(b, loc, 0));
  auto write = scf::IfOp::create(b, loc, first, /*withElseRegion=*/false);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(write.thenBlock());
    memref::StoreOp::create(
        b, loc, value, partials,
        arith::DivUIOp::create(b, loc, lane, warpSize).getResult());
  }
  gpu::BarrierOp::create(b, loc);
  Value result = memref::LoadOp::create(
      b, loc, partials, ValueRange{arith::ConstantIndexOp::create(b, loc, 0)});
  for (int64_t warp = 1; warp < warps; ++warp)
    result = fold(b, loc, result,
                  memref::LoadOp::create(
                      b, loc, partials,
                      ValueRange{arith::ConstantIndexOp::create(b, loc, warp)}),
                  split);
  return result;
}

/// The workgroup buffer of kLanePartialsName, declared in `module` once.
Value getLanePartials(OpBuilder &b, Location loc, ModuleOp module) {
  auto type = MemRefType::get(
      {kMaxWarpsPerIteration}, b.getF32Type(), AffineMap(),
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup));
  if (!module.lookupSymbol(kLanePartialsName)) {
    OpBuilder atEnd = OpBuilder::atBlockEnd(module.getBody());
    memref::GlobalOp::create(atEnd, loc, kLanePartialsName,
                             atEnd.getStringAttr("private"), type,
                             /*initial_value=*/Attribute(),
                             /*constant=*/false, /*alignment=*/nullptr);
  }
  return memref::GetGlobalOp::create(b, loc, type, kLanePartialsName);
}

/// Gives each iteration of the thread tile `inner` `warps` warps: a new
/// leading dimension of 32 x `warps` lanes, by which every loop split over
/// lanes starts at its lane's first iteration and steps over all lanes'; the
/// partial results of folding loops are combined across the lanes. Returns
/// the new tile.
scf::ParallelOp splitOverLanes(scf::ParallelOp inner, int64_t warps) {
  SmallVector<scf::ForOp> splitLoops = getLaneSplitLoops(inner);
  OpBuilder b(inner);
  Location loc = inner.getLoc();
  int64_t lanesPerIteration = warps * kWarpThreads;
  SmallVector<Value> lowers = {arith::ConstantIndexOp::create(b, loc, 0)};
  SmallVector<Value> uppers = {
      arith::ConstantIndexOp::create(b, loc, lanesPerIteration)};
  SmallVector<Value> steps = {arith::ConstantIndexOp::create(b, loc, 1)};
  llvm::append_range(lowers, inner.getLowerBound());
  llvm::append_range(uppers, inner.getUpperBound());
  llvm::append_range(steps, inner.getStep());
  auto lanes = scf::ParallelOp::create(b, loc, lowers, uppers, steps);
  Block *from = inner.getBody(), *to = lanes.getBody();
  for (auto [index, iv] : llvm::enumerate(from->getArguments()))
    iv.replaceAllUsesWith(to->getArgument(index + 1));
  to->getOperations().splice(to->begin(), from->getOperations(), from->begin(),
                             std::prev(from->end()));
  inner.erase();

  Value lane = to->getArgument(0);
  Value partials;
  if (warps > 1) {
    b.setInsertionPointToStart(to);
    partials = getLanePartials(b, loc, lanes->getParentOfType<ModuleOp>());
  }
  for (scf::ForOp loop : splitLoops) {
    StringRef split =
        loop->getAttrOfType<StringAttr>(kLaneSplitAttrName).getValue();
    loop->removeAttr(kLaneSplitAttrName);
    b.setInsertionPoint(loop);
    Value step = loop.getStep();
    loop.setLowerBound(
        arith::AddIOp::create(b, loc, loop.getLowerBound(),
                              arith::MulIOp::create(b, loc, lane, step)));
    loop.setStep(arith::MulIOp::create(
        b, loc, step,
        arith::ConstantIndexOp::create(b, loc, lanesPerIteration)));
    if (split == "independent")
      continue;
    b.setInsertionPointAfter(loop);
    for (Value partial : loop.getResults()) {
      Block::iterator before = std::prev(b.getInsertionPoint());
      Value combined =
          combineLanes(b, loc, partial, split, lane, warps, partials);
      // Every use of the partial result but the combination's takes the
      // warp's result.
      SmallPtrSet<Operation *, 16> combination;
      for (Operation &op :
           llvm::make_range(std::next(before), b.getInsertionPoint()))
        combination.insert(&op);
      partial.replaceUsesWithIf(combined, [&](OpOperand &use) {
        return !combination.contains(use.getOwner());
      });
    }
  }
  return lanes;
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
  if (failed(checkKnownGPUChip(module, chip)))
    return signalPassFailure();
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
    nest = normalizeSteps(nest);
    sinkTablesAndBuffers(nest);
    // A nest with loops split over lanes gives each iteration a warp: the
    // thread ids (x: lanes) have room for two dimensions.
    // Long lane-split loops give each iteration a block of several warps.
    SmallVector<scf::ForOp> splitLoops = getLaneSplitLoops(nest);
    if (!splitLoops.empty() && nest.getNumLoops() > 2) {
      nest.emitError() << "has loops split over lanes in a nest of "
                       << nest.getNumLoops()
                       << " dimensions; a warp per iteration maps at most 2";
      return signalPassFailure();
    }
    bool warpPerIteration = !splitLoops.empty();
    int64_t warps = warpPerIteration ? chooseWarpsPerIteration(splitLoops) : 1;
    auto [outer, inner] = scf::tileParallelLoop(
        nest,
        !warpPerIteration ? chooseTileSizes(nest, threadsPerBlock)
        : warps > 1       ? SmallVector<int64_t>(nest.getNumLoops(), 1)
                    : chooseWarpTileSizes(nest, threadsPerBlock / kWarpThreads),
        /*noMinMaxBounds=*/true);
    if (warpPerIteration)
      inner = splitOverLanes(inner, warps);
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
  // Outlining copied the workgroup buffer into the kernel modules.
  if (Operation *partials = module.lookupSymbol(kLanePartialsName);
      partials && SymbolTable::symbolKnownUseEmpty(partials, module))
    partials->erase();
  auto nvvmTarget = getKernelTarget(&getContext(), chip);
  module.walk([&](gpu::GPUModuleOp kernels) {
    kernels.setTargetsAttr(ArrayAttr::get(&getContext(), {nvvmTarget}));
  });
}
