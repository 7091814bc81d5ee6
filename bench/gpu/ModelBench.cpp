//===- ModelBench.cpp - times prefill and decode of a compiled model
//-------===//
//
// Opens a model artifact through the runtime's C API (as an application
// would), then times, with the wall clock around each call (every call
// synchronises with the GPU before it returns):
//   - prefill of a prompt of P tokens at position 0, all P x vocabulary
//     logits returned to the host (the C API's contract);
//   - D decode steps after a prompt of P tokens, each returning its logits.
// Each measurement is repeated and the median reported, after one warm-up
// run. Token ids are fixed pseudo-random numbers; greedy sampling picks each
// decoded token, so the work is a real generation's. Builds without LLVM or
// MLIR; prints markdown rows.
//
//   lowbit-bench-model MODEL.lbm [prefill-tokens,...] [decode-steps]
//                      [repeats] [--decode-prompt N] [--no-warm-up]
//
// An empty prefill list or 0 decode steps leaves that phase out; with
// --no-warm-up and one repeat each phase runs exactly once, which is what a
// kernel profile (LOWBIT_GPU_PROFILE) of one phase wants. --decode-prompt
// sets the prompt before the decode steps (default 16 tokens).
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

/// `count` token ids in [3, vocabulary), the same on every run.
std::vector<int32_t> makePrompt(int64_t count, int64_t vocabulary) {
  std::vector<int32_t> tokens(static_cast<size_t>(count));
  uint64_t state = 0x9e3779b97f4a7c15ull;
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

} // namespace

int main(int argc, char **argv) {
  std::vector<std::string> positional;
  int64_t decodePrompt = 16;
  bool warmUp = true;
  for (int i = 1; i < argc; ++i) {
    std::string argument = argv[i];
    if (argument == "--no-warm-up")
      warmUp = false;
    else if (argument == "--decode-prompt" && i + 1 < argc)
      decodePrompt = std::atoll(argv[++i]);
    else
      positional.push_back(argument);
  }
  if (positional.empty() || positional.size() > 4) {
    std::fprintf(stderr,
                 "usage: %s MODEL.lbm [prefill-tokens,...] [decode-steps] "
                 "[repeats] [--decode-prompt N] [--no-warm-up]\n",
                 argv[0]);
    return 2;
  }
  std::vector<int64_t> prefillCounts = {16, 128, 2048};
  if (positional.size() > 1) {
    prefillCounts.clear();
    std::stringstream list(positional[1]);
    for (std::string item; std::getline(list, item, ',');)
      prefillCounts.push_back(std::atoll(item.c_str()));
  }
  int64_t decodeSteps =
      positional.size() > 2 ? std::atoll(positional[2].c_str()) : 128;
  int repeats = positional.size() > 3 ? std::atoi(positional[3].c_str()) : 3;
  bool countsPositive = std::all_of(prefillCounts.begin(), prefillCounts.end(),
                                    [](int64_t count) { return count > 0; });
  if (decodeSteps < 0 || repeats < 1 || decodePrompt < 1 || !countsPositive) {
    std::fprintf(stderr, "error: prefill token counts, repeats and the decode "
                         "prompt must be positive, decode steps not "
                         "negative\n");
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
  std::vector<float> logits(static_cast<size_t>(longest * vocabulary));
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
    if (warmUp)
      timePrefill(model, prompt, logits);
    std::vector<double> runs;
    for (int r = 0; r < repeats; ++r)
      runs.push_back(timePrefill(model, prompt, logits));
    double seconds = median(runs);
    std::printf("| prefill | %lld | %.2f | %.0f |\n",
                static_cast<long long>(count), seconds * 1e3,
                static_cast<double>(count) / seconds);
  }
  if (decodeSteps > 0) {
    std::vector<int32_t> prompt = makePrompt(decodePrompt, vocabulary);
    if (warmUp)
      timeDecode(model, prompt, std::min<int64_t>(decodeSteps, 8), logits);
    std::vector<double> runs;
    for (int r = 0; r < repeats; ++r)
      runs.push_back(timeDecode(model, prompt, decodeSteps, logits));
    double seconds = median(runs);
    std::printf("| decode, batch 1, after %lld prompt tokens | %lld steps | "
                "%.3f per token | %.0f |\n",
                static_cast<long long>(decodePrompt),
                static_cast<long long>(decodeSteps), seconds * 1e3,
                1.0 / seconds);
  }
  lowbitModelDestroy(model);
  return 0;
}
