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

#endif // LOWBIT_DIALECT_LOWBIT_IR_LOWBITOPS_H
