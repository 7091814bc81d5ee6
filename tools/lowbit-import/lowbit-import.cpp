//===- lowbit-import.cpp - checkpoint to lowbit IR --------------------------===//
//
// Reads a Llama checkpoint and prints its lowbit graph IR, whose weights
// refer to the checkpoint by name, so lowbit-opt and lit tests can work on a
// real model's IR.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Frontend/Checkpoint.h"
#include "lowbit/Frontend/LlamaImporter.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/ToolOutputFile.h"

namespace cl = llvm::cl;

static cl::opt<std::string> checkpointPath(cl::Positional, cl::Required,
                                           cl::desc("<checkpoint>"));
static cl::opt<std::string> outputPath("o", cl::desc("Output file"),
                                       cl::value_desc("filename"),
                                       cl::init("-"));

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(argc, argv,
                              "lowbit-import: print a checkpoint as lowbit IR\n");
  llvm::Expected<std::unique_ptr<lowbit::Checkpoint>> checkpoint =
      lowbit::openCheckpoint(checkpointPath);
  if (!checkpoint) {
    llvm::errs() << "lowbit-import: error: "
                 << llvm::toString(checkpoint.takeError()) << "\n";
    return 1;
  }
  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      lowbit::importLlama(context, **checkpoint, checkpointPath);
  std::string error;
  std::unique_ptr<llvm::ToolOutputFile> output =
      mlir::openOutputFile(outputPath, &error);
  if (!output) {
    llvm::errs() << "lowbit-import: error: " << error << "\n";
    return 1;
  }
  module->print(output->os());
  output->keep();
  return 0;
}
