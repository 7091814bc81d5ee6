//===- LlamaImporter.h - Llama checkpoint to lowbit IR ----------*- C++ -*-===//
//
// Turns a Llama configuration into a lowbit-dialect module whose weights are
// `lowbit.weight` references into the checkpoint file, so the IR stays small
// whatever the model size.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_FRONTEND_LLAMAIMPORTER_H
#define LOWBIT_FRONTEND_LLAMAIMPORTER_H

#include "lowbit/Frontend/Checkpoint.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace lowbit {

/// Name of the module attribute that holds the checkpoint path.
inline constexpr llvm::StringLiteral kCheckpointAttrName = "lowbit.checkpoint";

/// Builds the graph-level module of a Llama model. It has two entry points
/// with the signature
///   (tokens: tensor<T x i32>, positions: tensor<T x i32>, start: index,
///    caches: !lowbit.kv_cache x numLayers)
///     -> (logits: tensor<T x vocab x f32>, caches x numLayers)
/// `@prefill` for any number of tokens T and `@decode` for T = 1. Caches hold
/// f32 (bits = 32) for the context length of the model; `start` is the
/// position of the first token.
mlir::OwningOpRef<mlir::ModuleOp>
importLlama(mlir::MLIRContext &context, const Checkpoint &checkpoint,
            llvm::StringRef checkpointPath);

} // namespace lowbit

#endif // LOWBIT_FRONTEND_LLAMAIMPORTER_H
