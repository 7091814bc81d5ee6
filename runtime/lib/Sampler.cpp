//===- Sampler.cpp - next-token sampling ------------------------------------===//
//
// Greedy, temperature, top-k and top-p (nucleus) sampling over one row of
// logits.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Runtime/Sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

using namespace lowbit;

std::string SamplingOptions::validate() const {
  if (!(temperature >= 0.0f) || !std::isfinite(temperature))
    return "temperature must be a finite number >= 0";
  if (topK < 0)
    return "top-k must be >= 0";
  if (!(topP > 0.0f && topP <= 1.0f))
    return "top-p must be in (0, 1]";
  return "";
}

int32_t Sampler::sample(const float *logits, int32_t vocabSize) {
  if (options.temperature == 0.0f)
    return static_cast<int32_t>(std::max_element(logits, logits + vocabSize) -
                                logits);

  std::vector<int32_t> order(vocabSize);
  std::iota(order.begin(), order.end(), 0);
  int32_t kept = options.topK > 0 ? std::min(options.topK, vocabSize)
                                  : vocabSize;
  std::partial_sort(order.begin(), order.begin() + kept, order.end(),
                    [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  order.resize(kept);

  std::vector<double> probabilities(kept);
  double maximum = logits[order[0]], total = 0.0;
  for (int32_t i = 0; i < kept; ++i) {
    probabilities[i] =
        std::exp((logits[order[i]] - maximum) / options.temperature);
    total += probabilities[i];
  }
  double mass = 0.0;
  int32_t nucleus = kept;
  for (int32_t i = 0; i < kept; ++i) {
    probabilities[i] /= total;
    mass += probabilities[i];
    if (mass >= options.topP) {
      nucleus = i + 1;
      break;
    }
  }
  std::discrete_distribution<int32_t> pick(probabilities.begin(),
                                           probabilities.begin() + nucleus);
  return order[pick(generator)];
}
