//===- LowBitDialect.cpp - lowbit dialect registration ---------------------===//
//
// Registers the lowbit operations, attributes and types with MLIR, and holds
// the checks shared by several of them.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/LowBit/IR/LowBitDialect.h"
#include "lowbit/Dialect/LowBit/IR/LowBitOps.h"

#include "llvm/ADT/SmallBitVector.h"

using namespace mlir;
using namespace lowbit;

#include "lowbit/Dialect/LowBit/IR/LowBitDialect.cpp.inc"

void LowBitDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "lowbit/Dialect/LowBit/IR/LowBitOps.cpp.inc"
      >();
  registerAttributes();
  registerTypes();
}

LogicalResult lowbit::verifyChannelPermutation(
    function_ref<InFlightDiagnostic()> emitError, ArrayRef<int64_t> permutation,
    int64_t numChannels) {
  if (static_cast<int64_t>(permutation.size()) != numChannels)
    return emitError() << "permutation has " << permutation.size()
                       << " entries; expected one per channel ("
                       << numChannels << ")";
  llvm::SmallBitVector seen(numChannels);
  for (auto [position, channel] : llvm::enumerate(permutation)) {
    if (channel < 0 || channel >= numChannels)
      return emitError() << "permutation entry " << channel << " at position "
                         << position << " is out of range [0, " << numChannels
                         << ")";
    if (seen.test(channel))
      return emitError() << "channel " << channel
                         << " appears twice in the permutation";
    seen.set(channel);
  }
  return success();
}
