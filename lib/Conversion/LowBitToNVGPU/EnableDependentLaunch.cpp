//===- EnableDependentLaunch.cpp - overlap a kernel with its predecessor --===//
//
// Implements lowbit-enable-dependent-launch. A decode step of a GPU model
// is hundreds of small kernels, and between two of them the GPU idles while
// the next grid is launched. On sm_90 and newer a kernel may start before
// its predecessor ends when it waits (griddepcontrol.wait) for that
// predecessor before it touches memory; this pass makes every kernel begin
// so, and lets the kernel's successor launch once the kernel runs.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Conversion/Passes.h"

namespace lowbit {
#define GEN_PASS_DEF_ENABLEDEPENDENTLAUNCH
#include "lowbit/Conversion/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

bool lowbit::supportsDependentLaunch(llvm::StringRef chip) {
  unsigned capability = 0;
  return chip.consume_front("sm_") &&
         !chip.take_while(llvm::isDigit).getAsInteger(10, capability) &&
         capability >= 90;
}

namespace {
/// Whether `module` is compiled for a chip that has griddepcontrol.
bool targetsDependentLaunch(gpu::GPUModuleOp module) {
  ArrayAttr targets = module.getTargetsAttr();
  return targets && !targets.empty() &&
         llvm::all_of(targets, [](Attribute target) {
           auto nvvm = dyn_cast<NVVM::NVVMTargetAttr>(target);
           return nvvm && supportsDependentLaunch(nvvm.getChip());
         });
}

/// Begins every kernel of the sm_90 (and newer) gpu.modules with
/// griddepcontrol wait, then launch_dependents.
struct EnableDependentLaunchPass
    : lowbit::impl::EnableDependentLaunchBase<EnableDependentLaunchPass> {
  void runOnOperation() override {
    for (auto module : getOperation().getOps<gpu::GPUModuleOp>()) {
      if (!targetsDependentLaunch(module))
        continue;
      for (auto kernel : module.getOps<gpu::GPUFuncOp>()) {
        if (!kernel.isKernel())
          continue;
        auto builder = OpBuilder::atBlockBegin(&kernel.getBody().front());
        Location loc = kernel.getLoc();
        NVVM::GriddepcontrolOp::create(builder, loc,
                                       NVVM::GridDepActionKind::wait);
        NVVM::GriddepcontrolOp::create(
            builder, loc, NVVM::GridDepActionKind::launch_dependents);
      }
    }
  }
};
} // namespace
