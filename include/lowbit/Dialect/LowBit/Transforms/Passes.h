//===- Passes.h - lowbit transformation passes ------------------*- C++ -*-===//
//
// Declarations and registration of the passes that transform lowbit IR; the
// passes themselves are declared in Passes.td.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_DIALECT_LOWBIT_TRANSFORMS_PASSES_H
#define LOWBIT_DIALECT_LOWBIT_TRANSFORMS_PASSES_H

#include "mlir/Pass/Pass.h"

namespace lowbit {

#define GEN_PASS_DECL
#include "lowbit/Dialect/LowBit/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "lowbit/Dialect/LowBit/Transforms/Passes.h.inc"

/// Names of the quantization schemes that have a pipeline, e.g. "w4a8".
llvm::SmallVector<llvm::StringRef> getQuantizationSchemes();

/// Adds the passes that quantize a graph-level module to `scheme` to `pm`;
/// fails for a scheme getQuantizationSchemes() does not list.
llvm::LogicalResult buildQuantizationPipeline(mlir::OpPassManager &pm,
                                              llvm::StringRef scheme);

/// Registers every scheme as a pipeline `lowbit-<scheme>` (lowbit-w4a8, ...).
void registerLowBitPipelines();

} // namespace lowbit

#endif // LOWBIT_DIALECT_LOWBIT_TRANSFORMS_PASSES_H
