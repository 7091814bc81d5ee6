//===- ModelBench.cpp - times prefill and decode of a compiled model
//-------===//
//
// Opens a model artifact through the runtime's C API (as an application
// would), then times, with the wall clock around each call (every call
// synchronises with the GPU before it returns):
//   - prefill of a prompt of P tokens at position 0, all P x vocabulary
//     logits returned to the host (the C API's contract);
//   - D decode steps after a prompt of P tokens, each returning its logits;
//   - with --batch B,...: D steps of batched decode of B sequences, each
//     after a prompt of its own of P tokens (one KV cache per sequence),
//     each step returning B rows of logits.
// Each measurement is repeated and the median reported, after one warm-up
// run. Token ids are fixed pseudo-random numbers; greedy sampling picks each
// decoded token, so the work is a real generation's. Builds without LLVM or
// MLIR; prints markdown rows.
//
//   lowbit-bench-model MODEL.lbm [prefill-tokens,...] [decode-steps]
//                      [repeats] [--decode-prompt N] [--batch B,...]
//                      [--batched-only] [--no-warm-up]
//
// An empty prefill list or 0 decode steps leaves that phase out; with
// --no-warm-up and one repeat each phase runs exactly once, which is what a
// kernel profile (LOWBIT_GPU_PROFILE) of one phase wants. --decode-prompt
// sets the prompt before the decode steps (default 16 tokens);
// --batched-only leaves out batch-1 decode through the one-token entry point.
//
//===----------------------------------------------------------------------===//

#include "lowbit-c/Runtime.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace {

/// Seconds since an arbitrary start.
double now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

/// `count` token ids in [3, vocabulary), the same on every run; another
/// `variant` gives other ids.
std::vector<int32_t> makePrompt(int64_t count, int64_t vocabulary,
                                uint64_t variant = 0) {
  std::vector<int32_t> tokens(static_cast<size_t>(count));
  uint64_t state = 0x9e3779b97f4a7c15ull + variant * 0x2545f4914f6cdd1dull;
  for (int32_t &token : tokens) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    token = static_cast<int32_t>(3 + (state >> 33) % (vocabulary - 3));
  }
  return tokens;
}

/// Fails the benchmark with the model's error.
[[noreturn]] void fail(LowbitModel *model, const char *what) {
  std::fprintf(stderr, "error: %s: %s\n", what, lowbitModelGetLastError(model));
  std::exit(1);
}

/// Seconds of one prefill of `prompt` into empty caches.
double timePrefill(LowbitModel *model, const std::vector<int32_t> &prompt,
                   std::vector<float> &logits) {
  lowbitModelResetCaches(model);
  double begin = now();
  if (!lowbitModelPrefill(model, prompt.data(),
                          static_cast<int64_t>(prompt.size()), 0,
                          logits.data()))
    fail(model, "prefill");
  return now() - begin;
}

/// Seconds per decode step over `steps` greedy steps after `prompt`.
double timeDecode(LowbitModel *model, const std::vector<int32_t> &prompt,
                  int64_t steps, std::vector<float> &logits) {
  int64_t vocabulary = lowbitModelGetVocabularySize(model);
  timePrefill(model, prompt, logits);
  const float *last = logits.data() + (prompt.size() - 1) * vocabulary;
  int32_t next = static_cast<int32_t>(
      std::max_element(last, last + vocabulary) - last);
  int64_t position = static_cast<int64_t>(prompt.size());
  double begin = now();
  for (int64_t step = 0; step < steps; ++step) {
    if (!lowbitModelDecode(model, next, position++, logits.data()))
      fail(model, "decode");
    next = static_cast<int32_t>(
        std::max_element(logits.begin(), logits.begin() + vocabulary) -
        logits.begin());
  }
  return (now() - begin) / static_cast<double>(steps);
}

/// Seconds per batched decode step over `steps` greedy steps of `batch`
/// sequences, sequence i after prompt `prompts[i]`.
double timeBatchedDecode(LowbitModel *model,
                         const std::vector<std::vector<int32_t>> &prompts,
                         int64_t steps, std::vector<float> &logits) {
  int64_t vocabulary = lowbitModelGetVocabularySize(model);
  int64_t batch = static_cast<int64_t>(prompts.size());
  lowbitModelResetCaches(model);
  std::vector<int32_t> next(static_cast<size_t>(batch));
  std::vector<int64_t> positions(static_cast<size_t>(batch));
  auto greedy = [&](const float *row) {
    return static_cast<int32_t>(std::max_element(row, row + vocabulary) - row);
  };
  for (int64_t i = 0; i < batch; ++i) {
    const std::vector<int32_t> &prompt = prompts[i];
    int64_t count = static_cast<int64_t>(prompt.size());
    if (!lowbitModelPrefillSequence(model, i, prompt.data(), count, 0,
                                    logits.data()))
      fail(model, "prefill of a sequence");
    next[i] = greedy(logits.data() + (count - 1) * vocabulary);
    positions[i] = count;
  }
  double begin = now();
  for (int64_t step = 0; step < steps; ++step) {
    if (!lowbitModelDecodeBatch(model, next.data(), positions.data(), batch,
                                logits.data()))
      fail(model, "batched decode");
    for (int64_t i = 0; i < batch; ++i) {
      next[i] = greedy(logits.data() + i * vocabulary);
      ++positions[i];
    }
  }
  return (now() - begin) / static_cast<double>(steps);
}

/// The median of `repeats` runs of `run(steps)`, after a warm-up run of
/// `run(warmUpSteps)` when `warmUp`; `run` returns seconds.
template <typename Run>
double medianOfRuns(int repeats, bool warmUp, int64_t steps,
                    int64_t warmUpSteps, Run run) {
  if (warmUp)
    run(warmUpSteps);
  std::vector<double> runs;
  for (int r = 0; r < repeats; ++r)
    runs.push_back(run(steps));
  return median(runs);
}

/// Parses a comma-separated list of numbers.
std::vector<int64_t> parseList(const std::string &text) {
  std::vector<int64_t> values;
  std::stringstream list(text);
  for (std::string item; std::getline(list, item, ',');)
    values.push_back(std::atoll(item.c_str()));
  return values;
}

} // namespace

int main(int argc, char **argv) {
  std::vector<std::string> positional;
  int64_t decodePrompt = 16;
  std::vector<int64_t> batches;
  bool warmUp = true, batchedOnly = false;
  for (int i = 1; i < argc; ++i) {
    std::string argument = argv[i];
    if (argument == "--no-warm-up")
      warmUp = false;
    else if (argument == "--batched-only")
      batchedOnly = true;
    else if (argument == "--decode-prompt" && i + 1 < argc)
      decodePrompt = std::atoll(argv[++i]);
    else if (argument == "--batch" && i + 1 < argc)
      batches = parseList(argv[++i]);
    else
      positional.push_back(argument);
  }
  if (positional.empty() || positional.size() > 4) {
    std::fprintf(stderr,
                 "usage: %s MODEL.lbm [prefill-tokens,...] [decode-steps] "
                 "[repeats] [--decode-prompt N] [--batch B,...] "
                 "[--batched-only] [--no-warm-up]\n",
                 argv[0]);
    return 2;
  }
  std::vector<int64_t> prefillCounts = {16, 128, 2048};
  if (positional.size() > 1)
    prefillCounts = parseList(positional[1]);
  int64_t decodeSteps =
      positional.size() > 2 ? std::atoll(positional[2].c_str()) : 128;
  int repeats = positional.size() > 3 ? std::atoi(positional[3].c_str()) : 3;
  auto positive = [](int64_t count) { return count > 0; };
  bool countsPositive =
      std::all_of(prefillCounts.begin(), prefillCounts.end(), positive) &&
      std::all_of(batches.begin(), batches.end(), positive);
  if (decodeSteps < 0 || repeats < 1 || decodePrompt < 1 || !countsPositive) {
    std::fprintf(stderr, "error: prefill token counts, batch sizes, repeats "
                         "and the decode prompt must be positive, decode "
                         "steps not negative\n");
    return 2;
  }

  char error[512];
  double openBegin = now();
  const char *path = positional[0].c_str();
  LowbitModel *model = lowbitModelOpen(path, error, sizeof error);
  if (!model) {
    std::fprintf(stderr, "error: %s\n", error);
    return 1;
  }
  double openSeconds = now() - openBegin;
  int64_t vocabulary = lowbitModelGetVocabularySize(model);
  int64_t context = lowbitModelGetContextLength(model);
  int64_t longest = decodePrompt;
  for (int64_t count : prefillCounts)
    longest = std::max(longest, count);
  if (longest + decodeSteps > context) {
    std::fprintf(stderr,
                 "error: %lld prompt tokens and %lld decode steps do not fit "
                 "the model's context of %lld\n",
                 static_cast<long long>(longest),
                 static_cast<long long>(decodeSteps),
                 static_cast<long long>(context));
    return 2;
  }
  int64_t rows = longest;
  for (int64_t batch : batches)
    rows = std::max(rows, batch);
  std::vector<float> logits(static_cast<size_t>(rows * vocabulary));
  const char *scheme = lowbitModelGetMetadata(model, "scheme");
  const char *gpu = lowbitModelGetMetadata(model, "gpu");
  std::printf("model: %s (scheme %s, target %s), opened in %.1f s\n", path,
              scheme ? scheme : "fp32",
              gpu ? gpu : lowbitModelGetMetadata(model, "target"), openSeconds);
  std::printf("\n| phase | tokens | ms (median of %d) | tokens/s |\n"
              "| --- | --- | --- | --- |\n",
              repeats);
  for (int64_t count : prefillCounts) {
    std::vector<int32_t> prompt = makePrompt(count, vocabulary);
    double seconds = medianOfRuns(repeats, warmUp, 0, 0, [&](int64_t) {
      return timePrefill(model, prompt, logits);
    });
    std::printf("| prefill | %lld | %.2f | %.0f |\n",
                static_cast<long long>(count), seconds * 1e3,
                static_cast<double>(count) / seconds);
  }
  if (decodeSteps > 0 && !batchedOnly) {
    std::vector<int32_t> prompt = makePrompt(decodePrompt, vocabulary);
    double seconds =
        medianOfRuns(repeats, warmUp, decodeSteps,
                     std::min<int64_t>(decodeSteps, 8), [&](int64_t steps) {
                       return timeDecode(model, prompt, steps, logits);
                     });
    std::printf("| decode, batch 1, after %lld prompt tokens | %lld steps | "
                "%.3f per token | %.0f |\n",
                static_cast<long long>(decodePrompt),
                static_cast<long long>(decodeSteps), seconds * 1e3,
                1.0 / seconds);
  }
  for (int64_t batch : batches) {
    if (decodeSteps == 0)
      break;
    if (!lowbitModelSetSequences(model, batch))
      fail(model, "making room for the sequences");
    std::vector<std::vector<int32_t>> prompts;
    for (int64_t i = 0; i < batch; ++i)
      prompts.push_back(
          makePrompt(decodePrompt, vocabulary, static_cast<uint64_t>(i)));
    double seconds =
        medianOfRuns(repeats, warmUp, decodeSteps,
                     std::min<int64_t>(decodeSteps, 8), [&](int64_t steps) {
                       return timeBatchedDecode(model, prompts, steps, logits);
                     });
    std::printf("| decode, batch %lld (batched), after %lld prompt tokens | "
                "%lld steps | %.3f per step | %.0f |\n",
                static_cast<long long>(batch),
                static_cast<long long>(decodePrompt),
                static_cast<long long>(decodeSteps), seconds * 1e3,
                static_cast<double>(batch) / seconds);
  }
  lowbitModelDestroy(model);
  return 0;
}
