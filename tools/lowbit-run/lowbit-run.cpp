//===- lowbit-run.cpp - run a Llama model -----------------------------------===//
//
// Generates text from a checkpoint and measures its perplexity on a text
// file. It imports the checkpoint to lowbit IR and runs that IR on the FP32
// reference executor; with no --model it uses the embedded default model.
// With --artifact it runs a model lowbit-compile compiled for this CPU
// through the runtime instead.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Calibration/CalibrationStatistics.h"
#include "lowbit/Dialect/LowBit/IR/LowBitOps.h"
#include "lowbit/Dialect/LowBit/Transforms/Passes.h"
#include "lowbit/Frontend/Checkpoint.h"
#include "lowbit/Frontend/LlamaImporter.h"
#include "lowbit/Frontend/Tokenizer.h"
#include "lowbit/Reference/ReferenceExecutor.h"
#include "lowbit/Runtime/HostModel.h"
#include "lowbit/Runtime/Sampler.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <map>
#include <cmath>

using namespace lowbit;
namespace cl = llvm::cl;

static cl::SubCommand generateCommand("generate",
                                      "Continue a prompt with generated text");
static cl::SubCommand perplexityCommand(
    "perplexity", "Measure the model's perplexity on a text file");
static cl::SubCommand calibrateCommand(
    "calibrate", "Measure the activation statistics of every linear layer "
                 "over sample text and write a calibration file");
static cl::SubCommand benchCommand(
    "bench", "Time prefill and decode of a compiled model (--artifact) or "
             "of the reference executor");

static cl::opt<std::string> modelPath(
    "model",
    cl::desc("Checkpoint to run: a GGUF file, a Hugging Face directory or "
             ".safetensors file, or a llama2.c .bin; default: the embedded "
             "model"),
    cl::sub(generateCommand), cl::sub(benchCommand),
    cl::sub(perplexityCommand), cl::sub(calibrateCommand));
static cl::opt<std::string> artifactPath(
    "artifact",
    cl::desc("Model artifact from lowbit-compile (--target=x86_64|aarch64, "
             "or sm_80|sm_89|sm_90 for an NVIDIA GPU) to run with the "
             "runtime instead of the reference executor"),
    cl::sub(generateCommand), cl::sub(benchCommand), cl::sub(perplexityCommand));
static cl::opt<std::string> tokenizerPath(
    "tokenizer",
    cl::desc("SentencePiece .model to tokenize with instead of the "
             "checkpoint's own vocabulary"),
    cl::sub(generateCommand), cl::sub(benchCommand), cl::sub(perplexityCommand),
    cl::sub(calibrateCommand));

static cl::opt<std::string> scheme(
    "scheme",
    cl::desc("Quantize the model before running it: a scheme (w8a8, w4a16, "
             "w4a8, w4a4, w4ax, w4ax-kv4, w4a4-kv4, w8a8-kv8, kv4), "
             "optionally with pipeline options, e.g. "
             "'w4ax{block-size=32 clip-search=true}' (default: none, FP32)"),
    cl::sub(generateCommand), cl::sub(benchCommand), cl::sub(perplexityCommand));
static cl::opt<int> tensorParallel(
    "tensor-parallel",
    cl::desc("Shard the model across this many tensor-parallel ranks "
             "(lowbit-tensor-parallel), simulated by the reference executor "
             "(default: 1, unsharded)"),
    cl::init(1), cl::sub(generateCommand), cl::sub(benchCommand), cl::sub(perplexityCommand));
static cl::opt<std::string> compressCollectives(
    "compress-collectives",
    cl::desc("Block-quantize the all-reduces of the sharded model: options of "
             "lowbit-compress-collectives, e.g. 'format=fp4_e2m1 "
             "block-size=16 scale=f16' ('default' for the defaults)"),
    cl::sub(generateCommand), cl::sub(benchCommand), cl::sub(perplexityCommand));
static cl::opt<std::string> calibrationPath(
    "calibration",
    cl::desc("Calibration file (from lowbit-run calibrate) for the scheme; "
             "FMPQ schemes (w4ax, w4ax-kv4) need one"),
    cl::sub(generateCommand), cl::sub(benchCommand), cl::sub(perplexityCommand));

static cl::list<std::string>
    prompts("prompt",
            cl::desc("Text to continue (default: 'It is a truth universally "
                     "acknowledged'); several --prompt with --artifact decode "
                     "as many sequences together (batched decode), and print "
                     "each text on a line of its own"),
            cl::sub(generateCommand));
static cl::opt<int> maxTokens("max-tokens",
                              cl::desc("Number of tokens to generate"),
                              cl::init(64), cl::sub(generateCommand));
static cl::opt<float> temperature(
    "temperature", cl::desc("Sampling temperature; 0 is greedy"),
    cl::init(0.8f), cl::sub(generateCommand));
static cl::opt<int> topK("top-k", cl::desc("Sample among the k most likely"),
                         cl::init(40), cl::sub(generateCommand));
static cl::opt<float> topP("top-p",
                           cl::desc("Sample within this probability mass"),
                           cl::init(0.95f), cl::sub(generateCommand));
static cl::opt<uint64_t> seed("seed", cl::desc("Random seed of the sampler"),
                              cl::init(0), cl::sub(generateCommand));

static cl::opt<std::string> textPath("text",
                                     cl::desc("Text file to score or to "
                                              "calibrate on"),
                                     cl::Required, cl::sub(perplexityCommand),
                                     cl::sub(calibrateCommand));
static cl::opt<int> contextLength(
    "context", cl::desc("Tokens per window; default: the model's context"),
    cl::init(0), cl::sub(perplexityCommand));
static cl::opt<int> stride(
    "stride", cl::desc("Tokens between window starts; default: --context"),
    cl::init(0), cl::sub(perplexityCommand));
static cl::opt<bool> linesAsDocuments(
    "lines-as-documents",
    cl::desc("Score each non-empty line as one document (BOS, line, EOS), the "
             "way the default model was trained; BOS targets, which always "
             "follow EOS, are not scored"),
    cl::sub(perplexityCommand), cl::sub(calibrateCommand));
static cl::opt<std::string> saveLogits(
    "save-logits",
    cl::desc("Write the f32 logits of every scored position to this file"),
    cl::sub(perplexityCommand));
static cl::opt<int> calibrationTokens(
    "tokens", cl::desc("Calibration tokens (activation rows per layer)"),
    cl::init(8192), cl::sub(calibrateCommand));
static cl::opt<double> calibrationPercentile(
    "percentile",
    cl::desc("Percentile of |activation| recorded per channel, in (0, 100)"),
    cl::init(99.9), cl::sub(calibrateCommand));
static cl::opt<std::string> outputPath("o", cl::desc("Calibration file to "
                                                     "write"),
                                       cl::value_desc("file"), cl::Required,
                                       cl::sub(calibrateCommand));
static cl::opt<int> benchPromptTokens(
    "prompt-tokens", cl::desc("Tokens of the prefill that is timed"),
    cl::init(128), cl::sub(benchCommand));
static cl::opt<int> benchDecodeTokens(
    "decode-tokens",
    cl::desc("Decode steps timed after the prefill, one token each"),
    cl::init(64), cl::sub(benchCommand));
static cl::opt<int> benchRepeats(
    "repeats", cl::desc("Times each measurement is repeated (the median "
                        "is reported)"),
    cl::init(5), cl::sub(benchCommand));
static cl::opt<int> maxScored(
    "max-scored-tokens",
    cl::desc("Stop after scoring this many tokens; 0 scores the whole text"),
    cl::init(0), cl::sub(perplexityCommand));

namespace {
/// A loaded model: checkpoint, tokenizer, imported IR and its executor, or
/// a compiled model and its tokenizer.
struct Model {
  std::unique_ptr<Checkpoint> checkpoint;
  std::unique_ptr<Tokenizer> tokenizer;
  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::unique_ptr<ReferenceExecutor> executor;
  std::unique_ptr<runtime::HostModel> compiled;

  int64_t contextLength() const {
    return compiled ? compiled->contextLength()
                    : checkpoint->config.contextLength;
  }

  /// Logits of entry point `name` for `tokens` at positions start..
  llvm::Expected<Tensor> run(llvm::StringRef name,
                             llvm::ArrayRef<int32_t> tokens, int64_t start) {
    if (!compiled)
      return executor->run(name, tokens, start);
    Tensor logits{{static_cast<int64_t>(tokens.size()), compiled->vocabSize()},
                  {}};
    std::string error;
    if (!compiled->run(name.str(), tokens.data(),
                       static_cast<int64_t>(tokens.size()), start, logits.data,
                       error))
      return llvm::createStringError(llvm::inconvertibleErrorCode(), error);
    return logits;
  }

  void resetCaches() {
    if (compiled)
      compiled->resetCaches();
    else
      executor->resetCaches();
  }
};

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}
} // namespace

/// The embedded model: installed in share/lowbit/models next to the bin
/// directory of this tool, or in the source tree it was built from.
static std::string getDefaultModelPath() {
  std::string executable = llvm::sys::fs::getMainExecutable(
      nullptr,
      reinterpret_cast<void *>(reinterpret_cast<intptr_t>(&getDefaultModelPath)));
  llvm::SmallString<256> installed(llvm::sys::path::parent_path(
      llvm::sys::path::parent_path(executable)));
  llvm::sys::path::append(installed, "share", "lowbit", "models",
                          "austen.gguf");
  if (llvm::sys::fs::exists(installed))
    return std::string(installed);
  return LOWBIT_DEFAULT_MODEL;
}

/// Prints `error` and returns the exit code for failures.
static int fail(llvm::Error error) {
  llvm::errs() << "lowbit-run: error: " << llvm::toString(std::move(error))
               << "\n";
  return 1;
}

static int fail(const llvm::Twine &message) {
  llvm::errs() << "lowbit-run: error: " << message << "\n";
  return 1;
}

/// Runs `--tensor-parallel`, `--scheme` (with `--calibration`) and
/// `--compress-collectives` on the module, in that order.
static llvm::Error transform(Model &model) {
  llvm::Expected<std::string> stages = getModelPipelineText(
      tensorParallel, scheme, calibrationPath, compressCollectives);
  if (!stages)
    return stages.takeError();
  if (stages->empty())
    return llvm::Error::success();
  std::string pipeline = *stages;
  // Passes report problems and warnings (e.g. FMPQ's INT8 budget) as
  // diagnostics: print each one line, without the notes that dump IR.
  mlir::ScopedDiagnosticHandler printDiagnostics(
      &model.context, [](mlir::Diagnostic &diagnostic) {
        const char *severity =
            diagnostic.getSeverity() == mlir::DiagnosticSeverity::Error
                ? "error"
                : diagnostic.getSeverity() == mlir::DiagnosticSeverity::Warning
                      ? "warning"
                      : "note";
        llvm::errs() << "lowbit-run: " << severity << ": "
                     << diagnostic.getLocation() << ": " << diagnostic.str()
                     << "\n";
        return mlir::success();
      });
  mlir::PassManager passes(&model.context, mlir::ModuleOp::getOperationName());
  std::string parseErrors;
  llvm::raw_string_ostream errorStream(parseErrors);
  if (failed(mlir::parsePassPipeline(pipeline, passes, errorStream)))
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "bad pipeline '%s': %s", pipeline.c_str(),
                                   parseErrors.c_str());
  if (failed(passes.run(*model.module)))
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "running %s failed", pipeline.c_str());
  int64_t activationBlocks = 0, int8Blocks = 0;
  model.module->walk([&](MatmulOp matmul) {
    BlockLayoutAttr layout = matmul.getAct().getType().getLayout();
    activationBlocks += layout.getNumBlocks();
    int8Blocks += layout.getNumInt8Blocks();
  });
  if (activationBlocks)
    llvm::errs() << llvm::format(
        "quantized to %s: %lld of %lld activation blocks are INT8 (%.1f%%)\n",
        scheme.c_str(), static_cast<long long>(int8Blocks),
        static_cast<long long>(activationBlocks),
        100.0 * int8Blocks / activationBlocks);
  return llvm::Error::success();
}

/// Loads the --artifact model and its tokenizer.
static llvm::Error loadCompiledModel(Model &model) {
  if (!scheme.empty() || tensorParallel != 1 || !compressCollectives.empty() ||
      !calibrationPath.empty())
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "--artifact runs a compiled model as it was compiled; --scheme, "
        "--calibration and tensor parallelism belong to lowbit-compile");
  std::string error;
  std::unique_ptr<runtime::Artifact> artifact =
      runtime::Artifact::open(artifactPath, error);
  if (!artifact)
    return llvm::createStringError(llvm::inconvertibleErrorCode(), error);
  if (tokenizerPath.empty())
    model.tokenizer = loadSerializedTokenizer(
        artifact->section(runtime::kTokenizerSection), error);
  else
    model.tokenizer = loadSentencePieceModel(tokenizerPath, error);
  if (!model.tokenizer)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "'%s': %s", artifactPath.c_str(),
                                   error.c_str());
  model.compiled = runtime::HostModel::load(std::move(artifact), error);
  if (!model.compiled)
    return llvm::createStringError(llvm::inconvertibleErrorCode(), error);
  if (model.tokenizer->vocabSize() != model.compiled->vocabSize())
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "the tokenizer has %d tokens but the model has %lld",
        model.tokenizer->vocabSize(),
        static_cast<long long>(model.compiled->vocabSize()));
  return llvm::Error::success();
}

static llvm::Error loadModel(Model &model) {
  if (!artifactPath.empty())
    return loadCompiledModel(model);
  llvm::Expected<std::unique_ptr<Checkpoint>> checkpoint =
      openCheckpoint(modelPath);
  if (!checkpoint)
    return checkpoint.takeError();
  model.checkpoint = std::move(*checkpoint);
  std::string sentencePieceModel = tokenizerPath.empty()
                                       ? model.checkpoint->tokenizerModelPath
                                       : tokenizerPath;
  if (!sentencePieceModel.empty()) {
    std::string error;
    model.tokenizer = loadSentencePieceModel(sentencePieceModel, error);
    if (!model.tokenizer)
      return llvm::createStringError(llvm::inconvertibleErrorCode(), error);
  } else if (model.checkpoint->vocabulary) {
    model.tokenizer =
        std::make_unique<VocabularyTokenizer>(*model.checkpoint->vocabulary);
  } else {
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "'%s' has no vocabulary; pass --tokenizer",
                                   modelPath.c_str());
  }
  if (model.tokenizer->vocabSize() != model.checkpoint->config.vocabSize)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "the tokenizer has %d tokens but the model has %lld",
        model.tokenizer->vocabSize(),
        static_cast<long long>(model.checkpoint->config.vocabSize));
  model.module = importLlama(model.context, *model.checkpoint, modelPath);
  if (llvm::Error error = transform(model))
    return error;
  llvm::Expected<std::unique_ptr<ReferenceExecutor>> executor =
      ReferenceExecutor::create(*model.module, *model.checkpoint);
  if (!executor)
    return executor.takeError();
  model.executor = std::move(*executor);
  return llvm::Error::success();
}

/// Continues several prompts together: each is prefilled into a sequence of
/// its own, then every step decodes one token of each (batched decode).
/// Each sequence samples with a sampler of its own, seeded alike, so its
/// text is what generating it alone gives. Prints each whole text on a line.
static int generateBatch(Model &model, std::vector<std::vector<int32_t>> tokens,
                         const SamplingOptions &options) {
  int64_t count = static_cast<int64_t>(tokens.size());
  runtime::HostModel &compiled = *model.compiled;
  std::string error;
  if (!compiled.setSequences(count, error))
    return fail(error);
  int64_t context = model.contextLength();
  int32_t vocab = model.tokenizer->vocabSize();
  std::vector<Sampler> samplers(static_cast<size_t>(count), Sampler(options));
  std::vector<int32_t> next(static_cast<size_t>(count));
  std::vector<std::string> texts(prompts.begin(), prompts.end());
  std::vector<float> logits;
  std::vector<int64_t> promptLengths;
  for (const std::vector<int32_t> &prompt : tokens)
    promptLengths.push_back(static_cast<int64_t>(prompt.size()));
  Clock::time_point prefillStart = Clock::now();
  for (int64_t i = 0; i < count; ++i) {
    if (!compiled.run("prefill", tokens[i].data(),
                      static_cast<int64_t>(tokens[i].size()), 0, logits, error,
                      i))
      return fail("sequence " + llvm::Twine(i) + ": " + error);
    next[i] =
        samplers[i].sample(&logits[(tokens[i].size() - 1) * vocab], vocab);
  }
  double prefillSeconds = secondsSince(prefillStart);

  // A sequence is done at the end of text, after --max-tokens or when its
  // context is full; a done sequence's row repeats its last token in place
  // (row t of a step is sequence t's) and its logits are ignored.
  std::vector<char> done(static_cast<size_t>(count), 0);
  std::vector<int64_t> positions(static_cast<size_t>(count));
  auto take = [&](int64_t i) {
    if (done[i])
      return;
    int64_t generated =
        static_cast<int64_t>(tokens[i].size()) - promptLengths[i];
    if (next[i] == model.tokenizer->eosId() || generated == maxTokens ||
        static_cast<int64_t>(tokens[i].size()) >= context) {
      done[i] = 1;
      return;
    }
    texts[i] += model.tokenizer->tokenText(next[i]);
    tokens[i].push_back(next[i]);
    if (generated + 1 == maxTokens ||
        static_cast<int64_t>(tokens[i].size()) >= context)
      done[i] = 1;
  };
  for (int64_t i = 0; i < count; ++i)
    take(i);
  Clock::time_point decodeStart = Clock::now();
  int steps = 0;
  // Tokens the steps decoded for sequences not yet done.
  int64_t decoded = 0;
  while (llvm::is_contained(done, 0)) {
    for (int64_t i = 0; i < count; ++i) {
      positions[i] = static_cast<int64_t>(tokens[i].size()) - 1;
      next[i] = tokens[i].back();
    }
    if (!compiled.runBatchedDecode(next.data(), positions.data(), count, logits,
                                   error))
      return fail(error);
    ++steps;
    for (int64_t i = 0; i < count; ++i) {
      if (done[i])
        continue;
      ++decoded;
      next[i] = samplers[i].sample(&logits[i * vocab], vocab);
      take(i);
    }
  }
  double decodeSeconds = secondsSince(decodeStart);
  for (const std::string &text : texts)
    llvm::outs() << text << "\n";
  llvm::errs() << llvm::format(
      "prefill: %lld sequences in %.3f s; batched decode: %d steps of %lld "
      "sequences in %.3f s (%.1f tokens/s of sequences not yet done)\n",
      static_cast<long long>(count), prefillSeconds, steps,
      static_cast<long long>(count), decodeSeconds,
      decodeSeconds > 0 ? decoded / decodeSeconds : 0.0);
  return 0;
}

static int generate() {
  SamplingOptions options{temperature, topK, topP, seed};
  if (std::string problem = options.validate(); !problem.empty())
    return fail(problem);
  if (maxTokens < 0)
    return fail("--max-tokens must be >= 0");
  if (prompts.empty())
    prompts.push_back("It is a truth universally acknowledged");
  if (prompts.size() > 1 && artifactPath.empty())
    return fail("several --prompt decode together in a compiled model; give "
                "--artifact");
  Model model;
  if (llvm::Error error = loadModel(model))
    return fail(std::move(error));

  int64_t context = model.contextLength();
  std::vector<std::vector<int32_t>> promptTokens;
  for (const std::string &prompt : prompts) {
    std::vector<int32_t> tokens = {model.tokenizer->bosId()};
    std::vector<int32_t> text = model.tokenizer->encode(prompt);
    tokens.insert(tokens.end(), text.begin(), text.end());
    if (static_cast<int64_t>(tokens.size()) >= context)
      return fail(llvm::Twine("the prompt has ") + llvm::Twine(tokens.size()) +
                  " tokens; the model's context holds " + llvm::Twine(context));
    promptTokens.push_back(std::move(tokens));
  }
  if (promptTokens.size() > 1)
    return generateBatch(model, std::move(promptTokens), options);

  std::vector<int32_t> tokens = std::move(promptTokens.front());
  Sampler sampler(options);
  llvm::outs() << prompts.front();
  llvm::outs().flush();
  Clock::time_point prefillStart = Clock::now();
  llvm::Expected<Tensor> logits = model.run("prefill", tokens, 0);
  if (!logits)
    return fail(logits.takeError());
  double prefillSeconds = secondsSince(prefillStart);
  int32_t vocab = model.tokenizer->vocabSize();

  Clock::time_point decodeStart = Clock::now();
  int generated = 0;
  const float *lastRow = &logits->data[(logits->dim(0) - 1) * vocab];
  while (generated < maxTokens &&
         static_cast<int64_t>(tokens.size()) < context) {
    int32_t next = sampler.sample(lastRow, vocab);
    if (next == model.tokenizer->eosId())
      break;
    ++generated;
    llvm::outs() << model.tokenizer->tokenText(next);
    llvm::outs().flush();
    int64_t position = static_cast<int64_t>(tokens.size());
    tokens.push_back(next);
    if (generated == maxTokens || position + 1 >= context)
      break;
    logits = model.run("decode", {next}, position);
    if (!logits)
      return fail(logits.takeError());
    lastRow = logits->data.data();
  }
  double decodeSeconds = secondsSince(decodeStart);
  llvm::outs() << "\n";
  llvm::outs().flush();
  llvm::errs() << llvm::format(
      "prefill: %zu tokens in %.3f s (%.1f tokens/s); decode: %d tokens in "
      "%.3f s (%.1f tokens/s)\n",
      tokens.size() - generated, prefillSeconds,
      (tokens.size() - generated) / prefillSeconds, generated, decodeSeconds,
      decodeSeconds > 0 ? generated / decodeSeconds : 0.0);
  return 0;
}

/// Negative log-likelihood of `target` under one row of logits.
static double negativeLogLikelihood(const float *logits, int32_t vocab,
                                    int32_t target) {
  double maximum = *std::max_element(logits, logits + vocab);
  double total = 0.0;
  for (int32_t i = 0; i < vocab; ++i)
    total += std::exp(logits[i] - maximum);
  return std::log(total) + maximum - logits[target];
}

/// The tokens of a text file: BOS and the whole text, or with
/// --lines-as-documents BOS, line, EOS for every non-empty line.
static std::vector<int32_t> tokenizeText(const Model &model,
                                         llvm::StringRef text) {
  std::vector<int32_t> tokens;
  auto appendDocument = [&](llvm::StringRef document) {
    tokens.push_back(model.tokenizer->bosId());
    std::vector<int32_t> body = model.tokenizer->encode(document);
    tokens.insert(tokens.end(), body.begin(), body.end());
  };
  if (!linesAsDocuments) {
    appendDocument(text);
    return tokens;
  }
  llvm::SmallVector<llvm::StringRef> lines;
  text.split(lines, '\n', /*MaxSplit=*/-1, /*KeepEmpty=*/false);
  for (llvm::StringRef line : lines) {
    appendDocument(line);
    tokens.push_back(model.tokenizer->eosId());
  }
  return tokens;
}

/// The tokens of the --text file, or why it cannot be read.
static llvm::Expected<std::vector<int32_t>> readTextTokens(const Model &model) {
  auto text = llvm::MemoryBuffer::getFile(textPath, /*IsText=*/true);
  if (!text)
    return llvm::createStringError(text.getError(), "cannot read '%s': %s",
                                   textPath.c_str(),
                                   text.getError().message().c_str());
  return tokenizeText(model, (*text)->getBuffer());
}

static int perplexity() {
  Model model;
  if (llvm::Error error = loadModel(model))
    return fail(std::move(error));
  llvm::Expected<std::vector<int32_t>> textTokens = readTextTokens(model);
  if (!textTokens)
    return fail(textTokens.takeError());
  int64_t window = contextLength ? contextLength : model.contextLength();
  int64_t step = stride ? stride : window;
  if (window < 2 || window > model.contextLength())
    return fail(llvm::Twine("--context must be in [2, ") +
                llvm::Twine(model.contextLength()) + "]");
  if (step < 1 || step > window)
    return fail("--stride must be in [1, --context]");

  int32_t bos = model.tokenizer->bosId();
  std::vector<int32_t> tokens = std::move(*textTokens);
  int64_t total = static_cast<int64_t>(tokens.size());
  int32_t vocab = model.tokenizer->vocabSize();
  std::unique_ptr<llvm::ToolOutputFile> logitsFile;
  if (!saveLogits.empty()) {
    std::error_code error;
    logitsFile = std::make_unique<llvm::ToolOutputFile>(
        saveLogits, error, llvm::sys::fs::OF_None);
    if (error)
      return fail("cannot write '" + saveLogits + "': " + error.message());
  }

  // Windows start every `step` tokens; each predicts the tokens after its
  // first, and scores only targets no earlier window scored.
  double nll = 0.0;
  int64_t scored = 0, scoredUpTo = 0;
  Clock::time_point start = Clock::now();
  for (int64_t begin = 0; begin + 1 < total; begin += step) {
    int64_t end = std::min(total, begin + window);
    model.resetCaches();
    llvm::ArrayRef<int32_t> input(tokens.data() + begin, end - begin - 1);
    llvm::Expected<Tensor> logits = model.run("prefill", input, 0);
    if (!logits)
      return fail(logits.takeError());
    for (int64_t target = std::max(begin + 1, scoredUpTo + 1); target < end;
         ++target) {
      if (linesAsDocuments && tokens[target] == bos)
        continue;
      const float *row = &logits->data[(target - begin - 1) * vocab];
      nll += negativeLogLikelihood(row, vocab, tokens[target]);
      ++scored;
      if (logitsFile)
        logitsFile->os().write(reinterpret_cast<const char *>(row),
                               vocab * sizeof(float));
    }
    scoredUpTo = end - 1;
    llvm::errs() << llvm::format("\r[%lld/%lld tokens] perplexity so far %.3f",
                                 static_cast<long long>(scoredUpTo),
                                 static_cast<long long>(total - 1),
                                 std::exp(nll / scored));
    if (end == total || (maxScored > 0 && scored >= maxScored))
      break;
  }
  llvm::errs() << "\n";
  if (logitsFile)
    logitsFile->keep();
  llvm::outs() << llvm::format(
      "perplexity: %.4f over %lld tokens (context %lld, stride %lld, %.1f s)\n",
      std::exp(nll / scored), static_cast<long long>(scored),
      static_cast<long long>(window), static_cast<long long>(step),
      secondsSince(start));
  return 0;
}

static int calibrate() {
  if (calibrationTokens < 1)
    return fail("--tokens must be >= 1");
  if (!(calibrationPercentile > 0.0 && calibrationPercentile < 100.0))
    return fail("--percentile must be in (0, 100)");
  Model model;
  if (llvm::Error error = loadModel(model))
    return fail(std::move(error));
  llvm::Expected<std::vector<int32_t>> tokens = readTextTokens(model);
  if (!tokens)
    return fail(tokens.takeError());
  int64_t wanted = std::min<int64_t>(calibrationTokens, tokens->size());
  int64_t window = model.checkpoint->config.contextLength;

  CalibrationCollector collector(calibrationPercentile, wanted);
  model.executor->setLinearInputObserver(
      [&](llvm::StringRef weight, const Tensor &input) {
        collector.observe(weight, input.data.data(), input.dim(0),
                          input.dim(1));
      });
  Clock::time_point start = Clock::now();
  for (int64_t begin = 0; begin < wanted; begin += window) {
    model.executor->resetCaches();
    llvm::ArrayRef<int32_t> input(tokens->data() + begin,
                                  std::min(window, wanted - begin));
    if (llvm::Error error = model.executor->run("prefill", input, 0).takeError())
      return fail(std::move(error));
  }
  llvm::Expected<CalibrationStatistics> statistics =
      collector.finish(modelPath);
  if (!statistics)
    return fail(statistics.takeError());
  std::error_code error;
  llvm::ToolOutputFile output(outputPath, error, llvm::sys::fs::OF_Text);
  if (error)
    return fail("cannot write '" + outputPath + "': " + error.message());
  writeCalibrationStatistics(*statistics, output.os());
  output.keep();
  llvm::errs() << llvm::format(
      "calibrated %zu linear layers over %lld tokens in %.1f s\n",
      statistics->linears.size(), static_cast<long long>(statistics->tokens),
      secondsSince(start));
  return 0;
}

/// Times prefill of --prompt-tokens and --decode-tokens decode steps after
/// it, --repeats times, and prints the medians. Token ids are a fixed
/// sequence over the vocabulary: the time does not depend on their values.
static int bench() {
  if (benchPromptTokens < 1 || benchDecodeTokens < 0 || benchRepeats < 1)
    return fail("--prompt-tokens and --repeats must be >= 1, --decode-tokens "
                ">= 0");
  Model model;
  if (llvm::Error error = loadModel(model))
    return fail(std::move(error));
  int64_t context = model.contextLength();
  if (benchPromptTokens + benchDecodeTokens > context)
    return fail(llvm::Twine("--prompt-tokens + --decode-tokens = ") +
                llvm::Twine(benchPromptTokens + benchDecodeTokens) +
                " exceeds the model's context of " + llvm::Twine(context));
  int32_t vocab = model.tokenizer->vocabSize();
  std::vector<int32_t> tokens(benchPromptTokens);
  for (int32_t i = 0; i < benchPromptTokens; ++i)
    tokens[i] = static_cast<int32_t>((1 + 7919LL * i) % vocab);

  // Counter ticks per kernel of profiled code, summed over all runs.
  struct KernelTotal {
    int64_t calls = 0;
    uint64_t ticks = 0;
  };
  std::map<std::string, std::map<std::string, KernelTotal>> kernelTotals;
  auto addProfile = [&](const std::string &entry) {
    const runtime::HostModel::KernelTicks *profile =
        model.compiled ? model.compiled->getLastProfile(entry) : nullptr;
    if (!profile)
      return;
    for (auto [kernel, ticks] : llvm::zip(profile->kernels, profile->ticks)) {
      KernelTotal &total = kernelTotals[entry][kernel];
      total.calls += 1;
      total.ticks += ticks;
    }
  };

  std::vector<double> prefillTimes, decodeTimes;
  for (int repeat = 0; repeat < benchRepeats; ++repeat) {
    model.resetCaches();
    Clock::time_point start = Clock::now();
    llvm::Expected<Tensor> logits = model.run("prefill", tokens, 0);
    if (!logits)
      return fail(logits.takeError());
    prefillTimes.push_back(secondsSince(start));
    addProfile("prefill");
    start = Clock::now();
    for (int step = 0; step < benchDecodeTokens; ++step) {
      int32_t token = static_cast<int32_t>((31 + 104729LL * step) % vocab);
      logits = model.run("decode", {token}, benchPromptTokens + step);
      if (!logits)
        return fail(logits.takeError());
      addProfile("decode");
    }
    decodeTimes.push_back(secondsSince(start));
  }
  auto median = [](std::vector<double> times) {
    llvm::sort(times);
    return times[times.size() / 2];
  };
  double prefill = median(prefillTimes), decode = median(decodeTimes);
  if (model.compiled) {
    const runtime::Artifact &artifact = model.compiled->getArtifact();
    llvm::outs() << "model: " << artifactPath << " (compiled: "
                 << artifact.metadata("scheme") << ", "
                 << artifact.metadata("target") << " "
                 << artifact.metadata("cpu") << ", "
                 << artifact.metadata("matmul_isa") << " matmul)\n";
  } else {
    llvm::outs() << "model: " << modelPath << " (reference executor, "
                 << (scheme.empty() ? std::string("fp32") : std::string(scheme))
                 << ")\n";
  }
  llvm::outs() << llvm::format(
      "prefill: %d tokens in %.4f s (%.1f tokens/s), median of %d\n",
      static_cast<int>(benchPromptTokens), prefill, benchPromptTokens / prefill,
      static_cast<int>(benchRepeats));
  if (benchDecodeTokens > 0)
    llvm::outs() << llvm::format(
        "decode: %d tokens after %d in %.4f s (%.1f tokens/s, %.3f ms per "
        "token), median of %d\n",
        static_cast<int>(benchDecodeTokens), static_cast<int>(benchPromptTokens),
        decode, benchDecodeTokens / decode, 1000 * decode / benchDecodeTokens,
        static_cast<int>(benchRepeats));

  // Per kernel: counter ticks scaled so that they add up to the measured
  // time of all runs of the entry point.
  for (auto &[entry, kernels] : kernelTotals) {
    bool isPrefill = entry == "prefill";
    double seconds = 0;
    for (double time : isPrefill ? prefillTimes : decodeTimes)
      seconds += time;
    int64_t runs = isPrefill ? benchRepeats : benchRepeats * benchDecodeTokens;
    uint64_t ticks = 0;
    for (auto &[kernel, total] : kernels)
      ticks += total.ticks;
    if (!ticks || !runs)
      continue;
    std::vector<std::pair<std::string, KernelTotal>> sorted(kernels.begin(),
                                                            kernels.end());
    llvm::sort(sorted, [](const auto &lhs, const auto &rhs) {
      return lhs.second.ticks > rhs.second.ticks;
    });
    llvm::outs() << "\n" << entry << " kernels (per " << entry
                 << (isPrefill ? " of " + std::to_string(benchPromptTokens) +
                                     " tokens"
                               : " step")
                 << "; counter ticks scaled to the measured time):\n"
                 << "| kernel | calls | ms | share |\n| --- | --- | --- | --- |\n";
    for (auto &[kernel, total] : sorted)
      llvm::outs() << llvm::format(
          "| %s | %lld | %.4f | %.1f%% |\n", kernel.c_str(),
          static_cast<long long>(total.calls / runs),
          1000 * seconds * total.ticks / ticks / runs,
          100.0 * total.ticks / ticks);
  }
  return 0;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  modelPath.setInitialValue(getDefaultModelPath());
  registerLowBitPasses();
  registerLowBitPipelines();
  cl::ParseCommandLineOptions(argc, argv,
                              "lowbit-run: generate text and measure "
                              "perplexity with a Llama checkpoint\n");
  if (generateCommand)
    return generate();
  if (perplexityCommand)
    return perplexity();
  if (calibrateCommand)
    return calibrate();
  if (benchCommand)
    return bench();
  return fail("expected a command: generate, perplexity, calibrate or bench "
              "(see --help)");
}
