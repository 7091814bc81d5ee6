//===- LowBitOps.h - lowbit operations --------------------------*- C++ -*-===//
//
// Operations of the lowbit dialect, generated from LowBitOps.td.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_DIALECT_LOWBIT_IR_LOWBITOPS_H
#define LOWBIT_DIALECT_LOWBIT_IR_LOWBITOPS_H

#include "lowbit/Dialect/LowBit/IR/LowBitDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "lowbit/Dialect/LowBit/IR/LowBitOps.h.inc"

namespace lowbit {
/// The checkpoint weight that `value` is, or is a channel permutation (as
/// FMPQ writes weights) or a rank's shard of; null for anything else.
WeightOp getSourceWeight(mlir::Value value);

/// Name of the discardable attribute that carries a linear layer's
/// calibration statistics (#lowbit.channel_stats).
inline constexpr llvm::StringLiteral kCalibrationAttrName = "lowbit.calibration";

/// Name of the discardable attribute through which FMPQ gives a linear layer
/// the block layout of its quantized input (#lowbit.blocks, per_token).
inline constexpr llvm::StringLiteral kActivationLayoutAttrName =
    "lowbit.activation_layout";
} // namespace lowbit

#endif // LOWBIT_DIALECT_LOWBIT_IR_LOWBITOPS_H
