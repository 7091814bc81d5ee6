//===- Compiler.cpp - C API of the lowbit compiler --------------------------===//
//
// Wraps the C++ compiler behind lowbit-c/Compiler.h for programs and
// languages that bind C: a context owns an MLIRContext with everything
// registered and the last error message; a module owns its IR, its
// checkpoint and, once run, its reference executor.
//
//===----------------------------------------------------------------------===//

#include "lowbit-c/Compiler.h"

#include "lowbit/Conversion/Passes.h"
#include "lowbit/Dialect/LowBit/IR/LowBitOps.h"
#include "lowbit/Dialect/LowBit/Transforms/Passes.h"
#include "lowbit/Frontend/Checkpoint.h"
#include "lowbit/Frontend/LlamaImporter.h"
#include "lowbit/Frontend/Tokenizer.h"
#include "lowbit/Reference/ReferenceExecutor.h"
#include "lowbit/Target/CPU/CPUArtifact.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstring>
#include <mutex>

using namespace lowbit;

struct LowbitContext {
  LowbitContext() : context(makeRegistry()) {
    // Diagnostics become the context's error message, not stderr output.
    context.getDiagEngine().registerHandler([this](mlir::Diagnostic &d) {
      if (d.getSeverity() == mlir::DiagnosticSeverity::Error)
        diagnostics += (diagnostics.empty() ? "" : "; ") + d.str();
      return mlir::success();
    });
  }

  static mlir::DialectRegistry makeRegistry() {
    mlir::DialectRegistry registry;
    registry.insert<LowBitDialect, mlir::arith::ArithDialect,
                    mlir::func::FuncDialect, mlir::tensor::TensorDialect>();
    registerNVGPUKernelLoweringDependencies(registry);
    registerCPUArtifactDependencies(registry);
    return registry;
  }

  /// Records a failure: `message`, with the diagnostics since the call began.
  void fail(const std::string &message) {
    lastError = diagnostics.empty() ? message : message + ": " + diagnostics;
  }
  /// Starts a call: no error, no diagnostics.
  void begin() {
    lastError.clear();
    diagnostics.clear();
  }

  mlir::MLIRContext context;
  std::string lastError;
  std::string diagnostics;
};

struct LowbitModule {
  LowbitContext *owner;
  std::unique_ptr<Checkpoint> checkpoint;
  /// The checkpoint's SentencePiece model or vocabulary; null without.
  std::unique_ptr<Tokenizer> tokenizer;
  /// Why there is no tokenizer.
  std::string tokenizerError;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  /// Made on the first run, after the last pipeline.
  std::unique_ptr<ReferenceExecutor> executor;
  /// The pipelines run on the module, in order (an artifact's "scheme").
  std::string pipelines;
};

/// A copy of `text` that lowbitStringDestroy releases.
static char *copyString(llvm::StringRef text) {
  char *copy = static_cast<char *>(std::malloc(text.size() + 1));
  std::memcpy(copy, text.data(), text.size());
  copy[text.size()] = '\0';
  return copy;
}

LowbitContext *lowbitContextCreate(void) {
  // Pass and pipeline registration is global and happens once.
  static std::once_flag registered;
  std::call_once(registered, [] {
    registerLowBitPasses();
    registerLowBitPipelines();
    registerLowBitConversionPasses();
    mlir::registerTransformsPasses();
  });
  return new LowbitContext();
}

void lowbitContextDestroy(LowbitContext *context) { delete context; }

const char *lowbitContextGetLastError(const LowbitContext *context) {
  return context->lastError.c_str();
}

LowbitModule *lowbitModuleImport(LowbitContext *context,
                                 const char *checkpointPath) {
  context->begin();
  llvm::Expected<std::unique_ptr<Checkpoint>> checkpoint =
      openCheckpoint(checkpointPath);
  if (!checkpoint) {
    context->fail(llvm::toString(checkpoint.takeError()));
    return nullptr;
  }
  auto *module = new LowbitModule{context, std::move(*checkpoint)};
  if (!module->checkpoint->tokenizerModelPath.empty())
    module->tokenizer = loadSentencePieceModel(
        module->checkpoint->tokenizerModelPath, module->tokenizerError);
  else if (module->checkpoint->vocabulary)
    module->tokenizer = std::make_unique<VocabularyTokenizer>(
        *module->checkpoint->vocabulary);
  else
    module->tokenizerError = "the checkpoint has no vocabulary and no "
                             "SentencePiece model";
  module->module =
      importLlama(context->context, *module->checkpoint, checkpointPath);
  return module;
}

void lowbitModuleDestroy(LowbitModule *module) { delete module; }

/// Parses and runs `pipeline` on `module`; on failure, says why on
/// `context`.
static bool runPassPipeline(LowbitContext &context, mlir::ModuleOp module,
                            const std::string &pipeline) {
  mlir::PassManager passes(&context.context,
                           mlir::ModuleOp::getOperationName());
  std::string parseErrors;
  llvm::raw_string_ostream errorStream(parseErrors);
  if (failed(mlir::parsePassPipeline(pipeline, passes, errorStream))) {
    context.fail("bad pipeline '" + pipeline + "': " + parseErrors);
    return false;
  }
  if (failed(passes.run(module))) {
    context.fail("running '" + pipeline + "' failed");
    return false;
  }
  return true;
}

bool lowbitModuleRunPipeline(LowbitModule *module, const char *pipeline) {
  module->owner->begin();
  if (!runPassPipeline(*module->owner, *module->module, pipeline))
    return false;
  module->pipelines += (module->pipelines.empty() ? "" : ",") +
                       std::string(pipeline);
  module->executor.reset();
  return true;
}

char *lowbitModuleToString(const LowbitModule *module) {
  std::string text;
  llvm::raw_string_ostream os(text);
  mlir::ModuleOp(module->module.get()).print(os);
  return copyString(text);
}

char *lowbitModuleCompilePTX(const LowbitModule *module, const char *chip) {
  LowbitContext &context = *module->owner;
  context.begin();
  mlir::OwningOpRef<mlir::ModuleOp> copy =
      mlir::ModuleOp(module->module.get()).clone();
  GenerateNVGPUKernelsOptions options;
  options.chip = chip;
  std::string error;
  llvm::FailureOr<std::string> ptx = compileKernelsToPTX(*copy, options, error);
  if (failed(ptx)) {
    context.fail(error);
    return nullptr;
  }
  return copyString(*ptx);
}

char *lowbitModuleCompileArtifact(const LowbitModule *module,
                                  const char *target, const char *cpu,
                                  size_t *size) {
  LowbitContext &context = *module->owner;
  context.begin();
  llvm::Expected<std::string> tokenizer =
      serializeArtifactTokenizer(*module->checkpoint);
  if (!tokenizer) {
    context.fail(llvm::toString(tokenizer.takeError()));
    return nullptr;
  }
  mlir::OwningOpRef<mlir::ModuleOp> copy =
      mlir::ModuleOp(module->module.get()).clone();
  CPUTargetOptions options;
  options.architecture = target;
  options.cpu = cpu ? cpu : "";
  llvm::Expected<std::string> artifact = compileCPUArtifact(
      *copy, *module->checkpoint, *tokenizer, options,
      {{"scheme", module->pipelines.empty() ? "fp32" : module->pipelines}});
  if (!artifact) {
    context.fail(llvm::toString(artifact.takeError()));
    return nullptr;
  }
  *size = artifact->size();
  return copyString(*artifact);
}

char *lowbitModuleRoofline(const LowbitModule *module, const char *options) {
  LowbitContext &context = *module->owner;
  context.begin();
  llvm::SmallString<128> reportPath;
  if (llvm::sys::fs::createTemporaryFile("lowbit-roofline", "txt",
                                         reportPath)) {
    context.fail("cannot create a temporary file for the roofline report");
    return nullptr;
  }
  mlir::OwningOpRef<mlir::ModuleOp> copy =
      mlir::ModuleOp(module->module.get()).clone();
  bool ran = runPassPipeline(context, *copy,
                             "lowbit-roofline{" + std::string(options) +
                                 " output=" + std::string(reportPath) + "}");
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> report =
      llvm::MemoryBuffer::getFile(reportPath);
  llvm::sys::fs::remove(reportPath);
  if (!ran)
    return nullptr;
  if (!report) {
    context.fail("cannot read the roofline report " + std::string(reportPath));
    return nullptr;
  }
  return copyString((*report)->getBuffer());
}

int64_t lowbitModuleGetVocabularySize(const LowbitModule *module) {
  return module->checkpoint->config.vocabSize;
}

int64_t lowbitModuleGetContextLength(const LowbitModule *module) {
  return module->checkpoint->config.contextLength;
}

/// Records that `module`'s checkpoint has no tokenizer; false.
static bool failWithoutTokenizer(LowbitModule *module) {
  if (module->tokenizer)
    return true;
  module->owner->fail("no tokenizer: " + module->tokenizerError);
  return false;
}

int32_t lowbitModuleGetBosToken(const LowbitModule *module) {
  return module->tokenizer ? module->tokenizer->bosId() : 1;
}

int32_t lowbitModuleGetEosToken(const LowbitModule *module) {
  return module->tokenizer ? module->tokenizer->eosId() : 2;
}

int64_t lowbitModuleTokenize(LowbitModule *module, const char *text,
                             int32_t *tokens, size_t capacity) {
  module->owner->begin();
  if (!failWithoutTokenizer(module))
    return -1;
  std::vector<int32_t> ids = module->tokenizer->encode(text);
  std::copy_n(ids.begin(), std::min(ids.size(), capacity), tokens);
  return static_cast<int64_t>(ids.size());
}

char *lowbitModuleDetokenize(LowbitModule *module, const int32_t *tokens,
                             size_t count) {
  module->owner->begin();
  if (!failWithoutTokenizer(module))
    return nullptr;
  std::vector<int32_t> ids(tokens, tokens + count);
  for (int32_t id : ids)
    if (id < 0 || id >= module->tokenizer->vocabSize()) {
      module->owner->fail("token id " + std::to_string(id) +
                          " is outside the vocabulary of " +
                          std::to_string(module->tokenizer->vocabSize()));
      return nullptr;
    }
  return copyString(module->tokenizer->decode(ids));
}

void lowbitModuleResetCaches(LowbitModule *module) {
  if (module->executor)
    module->executor->resetCaches();
}

bool lowbitModuleRun(LowbitModule *module, const char *entryPoint,
                     const int32_t *tokens, size_t numTokens, int64_t start,
                     float *logits, size_t logitsCapacity) {
  LowbitContext &context = *module->owner;
  context.begin();
  if (!module->executor) {
    llvm::Expected<std::unique_ptr<ReferenceExecutor>> executor =
        ReferenceExecutor::create(*module->module, *module->checkpoint);
    if (!executor) {
      context.fail(llvm::toString(executor.takeError()));
      return false;
    }
    module->executor = std::move(*executor);
  }
  llvm::Expected<Tensor> result = module->executor->run(
      entryPoint, llvm::ArrayRef<int32_t>(tokens, numTokens), start);
  if (!result) {
    context.fail(llvm::toString(result.takeError()));
    return false;
  }
  if (result->data.size() > logitsCapacity) {
    context.fail("the logits take " + std::to_string(result->data.size()) +
                 " floats; the buffer holds " + std::to_string(logitsCapacity));
    return false;
  }
  std::copy(result->data.begin(), result->data.end(), logits);
  return true;
}

void lowbitStringDestroy(char *string) { std::free(string); }
