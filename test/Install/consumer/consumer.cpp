//===- consumer.cpp - a program built against an installed lowbit ---------===//
//
// Imports a checkpoint, quantizes it with a named pipeline, and runs the
// reference executor on a few tokens: the C++ API a user's tool would call.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/LowBit/Transforms/Passes.h"
#include "lowbit/Frontend/Checkpoint.h"
#include "lowbit/Frontend/LlamaImporter.h"
#include "lowbit/Reference/ReferenceExecutor.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>

int main(int argc, char **argv) {
  if (argc != 2) {
    llvm::errs() << "usage: consumer checkpoint.gguf\n";
    return 2;
  }
  llvm::Expected<std::unique_ptr<lowbit::Checkpoint>> checkpoint =
      lowbit::openCheckpoint(argv[1]);
  if (!checkpoint) {
    llvm::errs() << llvm::toString(checkpoint.takeError()) << "\n";
    return 1;
  }
  lowbit::registerLowBitPasses();
  lowbit::registerLowBitPipelines();
  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      lowbit::importLlama(context, **checkpoint, argv[1]);
  mlir::PassManager passes(&context);
  if (failed(mlir::parsePassPipeline("lowbit-w4a8{block-size=32 group-size=32}",
                                     passes)) ||
      failed(passes.run(*module)))
    return 1;
  auto executor = lowbit::ReferenceExecutor::create(*module, **checkpoint);
  if (!executor) {
    llvm::errs() << llvm::toString(executor.takeError()) << "\n";
    return 1;
  }
  llvm::Expected<lowbit::Tensor> logits =
      (*executor)->run("prefill", {1, 50, 60, 70}, 0);
  if (!logits) {
    llvm::errs() << llvm::toString(logits.takeError()) << "\n";
    return 1;
  }
  int64_t vocabulary = logits->dim(1);
  const float *last = &logits->data[(logits->dim(0) - 1) * vocabulary];
  llvm::outs() << "logits " << logits->dim(0) << "x" << vocabulary
               << ", next token "
               << std::max_element(last, last + vocabulary) - last << "\n";
  return 0;
}
