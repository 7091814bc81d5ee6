//===- Passes.td - lowbit transformation passes ------------*- tablegen -*-===//
//
// Declares the passes that transform lowbit IR. Every pass is declared here
// with its options and implemented in one file of lib/Dialect/LowBit/Transforms.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_DIALECT_LOWBIT_TRANSFORMS_PASSES_TD
#define LOWBIT_DIALECT_LOWBIT_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

#endif // LOWBIT_DIALECT_LOWBIT_TRANSFORMS_PASSES_TD
