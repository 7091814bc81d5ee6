//===- QuantizeKV.cpp - 4/8/16-bit KV caches --------------------------------===//
//
// Gives every KV cache of the module a narrower storage width. The cache
// type carries the width, so the function signatures and the operations
// that produce caches change type; kv_append and kv_attention then store and
// read at that width.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/LowBit/IR/LowBitOps.h"
#include "lowbit/Dialect/LowBit/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace lowbit {
#define GEN_PASS_DEF_QUANTIZEKV
#include "lowbit/Dialect/LowBit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
struct QuantizeKVPass : public lowbit::impl::QuantizeKVBase<QuantizeKVPass> {
  using QuantizeKVBase::QuantizeKVBase;

  void runOnOperation() override;
};
} // namespace

void QuantizeKVPass::runOnOperation() {
  bool failed = false;
  auto convert = [&](Type type, Operation *where) -> Type {
    auto cache = dyn_cast<KVCacheType>(type);
    if (!cache)
      return type;
    // 16 bits stores f16 without scales: its group is the whole head.
    int64_t width = bits;
    int64_t group = width == 16 ? cache.getHeadDim() : int64_t(groupSize);
    auto converted = KVCacheType::getChecked(
        [&] { return where->emitError(); }, &getContext(), width, group,
        cache.getNumHeads(), cache.getHeadDim(), cache.getMaxLength(),
        width <= 8 && asymmetric);
    failed |= !converted;
    return converted ? Type(converted) : type;
  };

  getOperation().walk([&](Operation *op) {
    if (auto function = dyn_cast<func::FuncOp>(op)) {
      auto inputs = llvm::map_to_vector(
          function.getArgumentTypes(), [&](Type t) { return convert(t, op); });
      auto results = llvm::map_to_vector(
          function.getResultTypes(), [&](Type t) { return convert(t, op); });
      function.setFunctionType(
          FunctionType::get(&getContext(), inputs, results));
      for (BlockArgument argument : function.getArguments())
        argument.setType(convert(argument.getType(), op));
      return;
    }
    for (OpResult result : op->getResults())
      result.setType(convert(result.getType(), op));
  });
  if (failed)
    signalPassFailure();
}
