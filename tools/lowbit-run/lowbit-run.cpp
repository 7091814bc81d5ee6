//===- lowbit-run.cpp - run a Llama model -----------------------------------===//
//
// Generates text from a checkpoint and measures its perplexity on a text
// file. It imports the checkpoint to lowbit IR and runs that IR on the FP32
// reference executor; with no --model it uses the embedded default model.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/LowBit/Transforms/Passes.h"
#include "lowbit/Frontend/Checkpoint.h"
#include "lowbit/Frontend/LlamaImporter.h"
#include "lowbit/Frontend/Tokenizer.h"
#include "lowbit/Reference/ReferenceExecutor.h"
#include "lowbit/Runtime/Sampler.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>

using namespace lowbit;
namespace cl = llvm::cl;

static cl::SubCommand generateCommand("generate",
                                      "Continue a prompt with generated text");
static cl::SubCommand perplexityCommand(
    "perplexity", "Measure the model's perplexity on a text file");

static cl::opt<std::string> modelPath(
    "model",
    cl::desc("Checkpoint to run: a GGUF file, a Hugging Face directory or "
             ".safetensors file, or a llama2.c .bin; default: the embedded "
             "model"),
    cl::init(LOWBIT_DEFAULT_MODEL), cl::sub(generateCommand),
    cl::sub(perplexityCommand));
static cl::opt<std::string> tokenizerPath(
    "tokenizer",
    cl::desc("SentencePiece .model to tokenize with instead of the "
             "checkpoint's own vocabulary"),
    cl::sub(generateCommand), cl::sub(perplexityCommand));

static cl::opt<std::string> scheme(
    "scheme",
    cl::desc("Quantize the model before running it: w8a8, w4a16, w4a8, "
             "w4a4, w4a4-kv4, w8a8-kv8 or kv4 (default: none, FP32)"),
    cl::sub(generateCommand), cl::sub(perplexityCommand));

static cl::opt<std::string> prompt("prompt", cl::desc("Text to continue"),
                                   cl::init("It is a truth universally "
                                            "acknowledged"),
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

static cl::opt<std::string> textPath("text", cl::desc("Text file to score"),
                                     cl::Required, cl::sub(perplexityCommand));
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
    cl::sub(perplexityCommand));
static cl::opt<std::string> saveLogits(
    "save-logits",
    cl::desc("Write the f32 logits of every scored position to this file"),
    cl::sub(perplexityCommand));
static cl::opt<int> maxScored(
    "max-scored-tokens",
    cl::desc("Stop after scoring this many tokens; 0 scores the whole text"),
    cl::init(0), cl::sub(perplexityCommand));

namespace {
/// A loaded model: checkpoint, tokenizer, imported IR and its executor.
struct Model {
  std::unique_ptr<Checkpoint> checkpoint;
  std::unique_ptr<Tokenizer> tokenizer;
  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::unique_ptr<ReferenceExecutor> executor;
};

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}
} // namespace

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

static llvm::Error loadModel(Model &model) {
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
  if (!scheme.empty()) {
    mlir::PassManager passes(&model.context);
    if (failed(buildQuantizationPipeline(passes, scheme)))
      return llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          "unknown scheme '%s' (known: %s)", scheme.c_str(),
          llvm::join(getQuantizationSchemes(), ", ").c_str());
    if (failed(passes.run(*model.module)))
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "quantizing to %s failed", scheme.c_str());
  }
  llvm::Expected<std::unique_ptr<ReferenceExecutor>> executor =
      ReferenceExecutor::create(*model.module, *model.checkpoint);
  if (!executor)
    return executor.takeError();
  model.executor = std::move(*executor);
  return llvm::Error::success();
}

static int generate() {
  SamplingOptions options{temperature, topK, topP, seed};
  if (std::string problem = options.validate(); !problem.empty())
    return fail(problem);
  if (maxTokens < 0)
    return fail("--max-tokens must be >= 0");
  Model model;
  if (llvm::Error error = loadModel(model))
    return fail(std::move(error));

  std::vector<int32_t> tokens = {model.tokenizer->bosId()};
  std::vector<int32_t> promptTokens = model.tokenizer->encode(prompt);
  tokens.insert(tokens.end(), promptTokens.begin(), promptTokens.end());
  int64_t context = model.checkpoint->config.contextLength;
  if (static_cast<int64_t>(tokens.size()) >= context)
    return fail(llvm::Twine("the prompt has ") + llvm::Twine(tokens.size()) +
                " tokens; the model's context holds " + llvm::Twine(context));

  Sampler sampler(options);
  llvm::outs() << prompt;
  llvm::outs().flush();
  Clock::time_point prefillStart = Clock::now();
  llvm::Expected<Tensor> logits = model.executor->run("prefill", tokens, 0);
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
    logits = model.executor->run("decode", {next}, position);
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

static int perplexity() {
  Model model;
  if (llvm::Error error = loadModel(model))
    return fail(std::move(error));
  auto text = llvm::MemoryBuffer::getFile(textPath, /*IsText=*/true);
  if (!text)
    return fail("cannot read '" + textPath + "': " +
                text.getError().message());
  int64_t window = contextLength ? contextLength
                                 : model.checkpoint->config.contextLength;
  int64_t step = stride ? stride : window;
  if (window < 2 || window > model.checkpoint->config.contextLength)
    return fail(llvm::Twine("--context must be in [2, ") +
                llvm::Twine(model.checkpoint->config.contextLength) + "]");
  if (step < 1 || step > window)
    return fail("--stride must be in [1, --context]");

  int32_t bos = model.tokenizer->bosId();
  std::vector<int32_t> tokens;
  auto appendDocument = [&](llvm::StringRef document) {
    tokens.push_back(bos);
    std::vector<int32_t> body = model.tokenizer->encode(document);
    tokens.insert(tokens.end(), body.begin(), body.end());
  };
  if (linesAsDocuments) {
    llvm::SmallVector<llvm::StringRef> lines;
    (*text)->getBuffer().split(lines, '\n', /*MaxSplit=*/-1,
                               /*KeepEmpty=*/false);
    for (llvm::StringRef line : lines) {
      appendDocument(line);
      tokens.push_back(model.tokenizer->eosId());
    }
  } else {
    appendDocument((*text)->getBuffer());
  }
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
    model.executor->resetCaches();
    llvm::ArrayRef<int32_t> input(tokens.data() + begin, end - begin - 1);
    llvm::Expected<Tensor> logits = model.executor->run("prefill", input, 0);
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

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(argc, argv,
                              "lowbit-run: generate text and measure "
                              "perplexity with a Llama checkpoint\n");
  if (generateCommand)
    return generate();
  if (perplexityCommand)
    return perplexity();
  return fail("expected a command: generate or perplexity (see --help)");
}
