//===- LowBitDialect.h - lowbit dialect, attributes, types ------*- C++ -*-===//
//
// The lowbit dialect with its enumerations, attributes and types. Operations
// are declared in LowBitOps.h.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_DIALECT_LOWBIT_IR_LOWBITDIALECT_H
#define LOWBIT_DIALECT_LOWBIT_IR_LOWBITDIALECT_H

#include "lowbit/Runtime/WireFormat.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"

#include "lowbit/Dialect/LowBit/IR/LowBitDialect.h.inc"
#include "lowbit/Dialect/LowBit/IR/LowBitEnums.h.inc"

namespace lowbit {

/// Checks that `permutation` reorders exactly the channels [0, numChannels),
/// reporting the first offending entry through `emitError`.
llvm::LogicalResult verifyChannelPermutation(
    llvm::function_ref<mlir::InFlightDiagnostic()> emitError,
    llvm::ArrayRef<int64_t> permutation, int64_t numChannels);

} // namespace lowbit

#define GET_ATTRDEF_CLASSES
#include "lowbit/Dialect/LowBit/IR/LowBitAttrs.h.inc"

#define GET_TYPEDEF_CLASSES
#include "lowbit/Dialect/LowBit/IR/LowBitTypes.h.inc"

#endif // LOWBIT_DIALECT_LOWBIT_IR_LOWBITDIALECT_H
