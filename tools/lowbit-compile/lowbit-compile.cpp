//===- lowbit-compile.cpp - compile a model for a CPU or a GPU -------------===//
//
// For a CPU (--target=x86_64|aarch64): imports a checkpoint (or reads a
// lowbit module that names its checkpoint), quantizes it to --scheme and
// writes a model artifact with the compiled code, packed weights and the
// tokenizer, which lowbit-run and the runtime execute.
//
// For a GPU (--target=sm_80|sm_89|sm_90): a checkpoint becomes a GPU model
// artifact (the graph's kernels on the GPU, launched by x86-64 host code);
// a quantized lowbit module (.mlir) has its INT4 matmuls and compressed
// all-reduces compiled to PTX, which the runtime loads through the CUDA
// driver.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Conversion/Passes.h"
#include "lowbit/Dialect/LowBit/IR/LowBitDialect.h"
#include "lowbit/Dialect/LowBit/Transforms/Passes.h"
#include "lowbit/Frontend/Checkpoint.h"
#include "lowbit/Frontend/LlamaImporter.h"
#include "lowbit/Frontend/Tokenizer.h"
#include "lowbit/Target/CPU/CPUArtifact.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

namespace cl = llvm::cl;
using namespace mlir;

static cl::opt<std::string> inputPath(
    cl::Positional,
    cl::desc("<checkpoint or lowbit module; a quantized .mlir module "
             "compiles to PTX for GPU targets>"),
    cl::init("-"));
static cl::opt<std::string> outputPath(
    "o", cl::desc("Output: the model artifact, or PTX of a .mlir module's "
                  "GPU kernels"),
    cl::value_desc("filename"), cl::init("-"));
static cl::opt<std::string> target(
    "target", cl::Required,
    cl::desc("CPU: x86_64 or aarch64; GPU: sm_80, sm_89 or sm_90 (a "
             "checkpoint becomes a model artifact, a quantized .mlir module "
             "PTX of its matmuls)"));
static cl::opt<std::string> scheme(
    "scheme",
    cl::desc("quantization scheme of lowbit-run --scheme (w4a8, w4a4, "
             "w4ax, w4ax-kv4, ...); default: none, FP32"));
static cl::opt<int64_t> tensorParallel(
    "tensor-parallel",
    cl::desc("shard the model over this many tensor-parallel ranks "
             "(lowbit-tensor-parallel, before quantization); the artifact "
             "holds every rank's weights (default 1)"),
    cl::init(1));
static cl::opt<std::string> compressCollectives(
    "compress-collectives",
    cl::desc("block-quantize the all-reduces of the sharded model: "
             "options of lowbit-compress-collectives, e.g. "
             "'format=fp4_e2m1 block-size=16' ('default' for the defaults)"));
static cl::opt<std::string> calibrationPath(
    "calibration", cl::desc("calibration file for FMPQ schemes"));
static cl::opt<std::string> tokenizerPath(
    "tokenizer", cl::desc("SentencePiece .model to use instead of the "
                          "checkpoint's vocabulary"));
static cl::opt<std::string> cpu(
    "cpu", cl::desc("CPU: LLVM CPU name (default x86-64-v3 on x86_64, "
                    "neoverse-n2 on aarch64; 'native' for this machine)"));
static cl::opt<std::string> linker(
    "linker", cl::desc("compiler driver that links the (host) code (default "
                       "cc, or aarch64-linux-gnu-gcc when cross-compiling)"));
static cl::opt<bool> profile(
    "profile",
    cl::desc("CPU: time every kernel call in the compiled code (lowbit-run "
             "bench prints the times per kernel)"));
static cl::opt<std::string> emit(
    "emit",
    cl::desc("CPU: what to write: 'artifact' (default) or 'asm', the "
             "generated assembly"),
    cl::init("artifact"));
static cl::opt<int64_t> maxDecodeRows(
    "max-decode-rows",
    cl::desc("most tokens one decode thread block computes (a power of two; "
             "dp4a kernels stop at 16)"),
    cl::init(32));
static cl::opt<int64_t> multiprocessors(
    "multiprocessors",
    cl::desc("GPU: multiprocessors of the GPU the model will run on, which "
             "sets up to how many tokens the tensor-core matmuls take short "
             "tiles (0: the chip's usual GPU: 108 for sm_80, 142 for sm_89, "
             "132 for sm_90)"),
    cl::init(0));
static cl::opt<int64_t> pipelineStages(
    "pipeline-stages",
    cl::desc("steps of the tensor-core kernel in flight at once (2 to 4)"),
    cl::init(3));

static int fail(const llvm::Twine &message) {
  llvm::errs() << "lowbit-compile: error: " << message << "\n";
  return 1;
}

/// Writes `contents` to -o.
static int writeOutput(llvm::StringRef contents) {
  std::string error;
  std::unique_ptr<llvm::ToolOutputFile> output =
      openOutputFile(outputPath, &error);
  if (!output)
    return fail(error);
  output->os() << contents;
  output->keep();
  return 0;
}

/// The CPU target of --target, --cpu, --linker and --profile.
static lowbit::CPUTargetOptions getCPUTargetOptions() {
  lowbit::CPUTargetOptions options;
  options.architecture = target;
  options.cpu = cpu;
  options.linker = linker;
  options.profile = profile;
  return options;
}

/// Compiles the checkpoint or module at --input for a CPU (or, with
/// `gpuChip`, for that GPU) into an artifact.
static int compileArtifact(MLIRContext &context, const std::string &gpuChip) {
  if (!gpuChip.empty() && (!cpu.empty() || emit != "artifact" || profile))
    return fail("--cpu, --emit and --profile are for CPU targets");
  if (gpuChip.empty() && multiprocessors != 0)
    return fail("--multiprocessors is for GPU targets");
  if (emit != "artifact" && emit != "asm")
    return fail("unknown --emit '" + emit + "' (known: artifact, asm)");
  if (emit == "artifact" && outputPath == "-" &&
      llvm::sys::Process::StandardOutIsDisplayed())
    return fail("the artifact is binary: write it to a file with -o "
                "model.lbm");
  OwningOpRef<ModuleOp> module;
  std::string checkpointPath = inputPath;
  if (llvm::StringRef(inputPath).ends_with(".mlir")) {
    module = parseSourceFile<ModuleOp>(inputPath, &context);
    if (!module)
      return fail("cannot parse " + inputPath);
    auto named = (*module)->getAttrOfType<StringAttr>("lowbit.checkpoint");
    if (emit == "asm" && scheme.empty()) {
      // Assembly needs no weights: the module alone is compiled.
      llvm::Expected<std::string> assembly =
          lowbit::compileCPUAssembly(*module, getCPUTargetOptions());
      if (!assembly)
        return fail(inputPath + ": " + llvm::toString(assembly.takeError()));
      return writeOutput(*assembly);
    }
    if (!named)
      return fail(inputPath + " does not name its checkpoint "
                              "(lowbit.checkpoint attribute)");
    checkpointPath = named.str();
  }
  llvm::Expected<std::unique_ptr<lowbit::Checkpoint>> checkpoint =
      lowbit::openCheckpoint(checkpointPath);
  if (!checkpoint)
    return fail(llvm::toString(checkpoint.takeError()));
  llvm::Expected<std::string> tokenizer =
      lowbit::serializeArtifactTokenizer(**checkpoint, tokenizerPath);
  if (!tokenizer)
    return fail(llvm::toString(tokenizer.takeError()));
  if (!module)
    module = lowbit::importLlama(context, **checkpoint, checkpointPath);
  llvm::Expected<std::string> pipeline = lowbit::getModelPipelineText(
      tensorParallel, scheme, calibrationPath, compressCollectives);
  if (!pipeline)
    return fail(llvm::toString(pipeline.takeError()));
  if (!pipeline->empty()) {
    PassManager pm(&context);
    std::string parseErrors;
    llvm::raw_string_ostream errorStream(parseErrors);
    if (failed(parsePassPipeline(*pipeline, pm, errorStream)))
      return fail("bad pipeline '" + *pipeline + "': " + parseErrors);
    if (failed(pm.run(*module)))
      return fail("running " + *pipeline + " failed");
  }

  // A module comes quantized (or not) as it is.
  std::map<std::string, std::string> metadata = {
      {"scheme", !scheme.empty()                ? std::string(scheme)
                 : checkpointPath == inputPath ? "fp32"
                                               : "as in " + inputPath},
      {"checkpoint", checkpointPath}};
  if (!compressCollectives.empty())
    metadata["compress_collectives"] = compressCollectives;
  lowbit::CPUTargetOptions options = getCPUTargetOptions();
  llvm::Expected<std::string> artifact =
      !gpuChip.empty()
          ? lowbit::compileGPUArtifact(*module, **checkpoint, *tokenizer,
                                       {gpuChip, linker, multiprocessors},
                                       metadata)
      : emit == "asm" ? lowbit::compileCPUAssembly(*module, options)
                      : lowbit::compileCPUArtifact(*module, **checkpoint,
                                                   *tokenizer, options,
                                                   metadata);
  if (!artifact)
    return fail(inputPath + ": " + llvm::toString(artifact.takeError()));
  return writeOutput(*artifact);
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  lowbit::registerLowBitPasses();
  lowbit::registerLowBitPipelines();
  cl::ParseCommandLineOptions(
      argc, argv,
      "lowbit-compile: compile a model to a CPU artifact or its quantized "
      "matmuls to PTX\n");

  DialectRegistry registry;
  registry.insert<lowbit::LowBitDialect, func::FuncDialect,
                  tensor::TensorDialect>();
  lowbit::registerNVGPUKernelLoweringDependencies(registry);
  lowbit::registerCPUArtifactDependencies(registry);
  MLIRContext context(registry);

  if (target == "x86_64" || target == "aarch64")
    return compileArtifact(context, "");
  if (!llvm::StringRef(target).starts_with("sm_"))
    return fail("unknown target '" + target +
                "' (known: x86_64, aarch64, sm_80, sm_89, sm_90)");
  if (!llvm::StringRef(inputPath).ends_with(".mlir"))
    return compileArtifact(context, target);
  if (!scheme.empty() || !calibrationPath.empty() || !cpu.empty() ||
      emit != "artifact" || profile || tensorParallel != 1 ||
      !compressCollectives.empty() || multiprocessors != 0)
    return fail("a lowbit module (.mlir) compiles to PTX for a GPU and must "
                "come quantized (lowbit-opt --lowbit-w4a8); --scheme, "
                "--calibration, --tensor-parallel, --compress-collectives, "
                "--multiprocessors, --cpu, --emit and --profile do not "
                "apply");

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
