//===- lowbit-compile.cpp - quantized lowbit IR to GPU code -----------------===//
//
// Compiles the quantized matmuls and compressed all-reduces of a lowbit
// module (the output of lowbit-opt pipelines) to PTX for one NVIDIA GPU
// generation. The PTX
// is what the runtime loads through the CUDA driver; the model artifact that
// will bundle it with weights and an execution plan does not exist yet.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Conversion/Passes.h"
#include "lowbit/Dialect/LowBit/IR/LowBitDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

namespace cl = llvm::cl;
using namespace mlir;

static cl::opt<std::string> inputPath(cl::Positional,
                                      cl::desc("<quantized lowbit module>"),
                                      cl::init("-"));
static cl::opt<std::string> outputPath("o", cl::desc("PTX output file"),
                                       cl::value_desc("filename"),
                                       cl::init("-"));
static cl::opt<std::string> target("target", cl::Required,
                                   cl::desc("GPU: sm_80, sm_89 or sm_90"));
static cl::opt<int64_t> maxDecodeRows(
    "max-decode-rows",
    cl::desc("most tokens one decode thread block computes (a power of two)"),
    cl::init(16));
static cl::opt<int64_t> pipelineStages(
    "pipeline-stages",
    cl::desc("steps of the tensor-core kernel in flight at once (2 to 4)"),
    cl::init(3));

static int fail(const llvm::Twine &message) {
  llvm::errs() << "lowbit-compile: error: " << message << "\n";
  return 1;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(
      argc, argv,
      "lowbit-compile: compile a quantized lowbit module's matmuls to PTX\n");

  DialectRegistry registry;
  registry.insert<lowbit::LowBitDialect, func::FuncDialect,
                  tensor::TensorDialect>();
  lowbit::registerNVGPUKernelLoweringDependencies(registry);
  MLIRContext context(registry);

  std::string error;
  std::unique_ptr<llvm::MemoryBuffer> input =
      openInputFile(inputPath, &error);
  if (!input)
    return fail(error);
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(input), llvm::SMLoc());
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return fail("cannot parse " + inputPath);

  lowbit::GenerateNVGPUKernelsOptions generate;
  generate.chip = target;
  generate.maxDecodeRows = maxDecodeRows;
  generate.pipelineStages = pipelineStages;
  FailureOr<std::string> ptx =
      lowbit::compileKernelsToPTX(*module, generate, error);
  if (failed(ptx))
    return fail(inputPath + ": " + error);
  std::unique_ptr<llvm::ToolOutputFile> output =
      openOutputFile(outputPath, &error);
  if (!output)
    return fail(error);
  output->os() << *ptx;
  output->keep();
  return 0;
}
