//===- Sampler.h - next-token sampling --------------------------*- C++ -*-===//
//
// Chooses the next token from a row of logits: greedy, or temperature
// sampling restricted to the top-k tokens and the top-p probability mass.
// Part of the runtime, so it depends on the C++ standard library only.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_RUNTIME_SAMPLER_H
#define LOWBIT_RUNTIME_SAMPLER_H

#include <cstdint>
#include <random>
#include <string>

namespace lowbit {

/// How the next token is chosen.
struct SamplingOptions {
  /// 0 picks the most likely token; larger values flatten the distribution.
  float temperature = 0.8f;
  /// Keep only the k most likely tokens; 0 keeps all.
  int32_t topK = 40;
  /// Keep the smallest set of likely tokens whose probability reaches p.
  float topP = 0.95f;
  uint64_t seed = 0;

  /// Describes what is wrong with the options, or returns "".
  std::string validate() const;
};

/// Draws tokens according to SamplingOptions with a seeded generator, so the
/// same seed gives the same text.
class Sampler {
public:
  explicit Sampler(const SamplingOptions &options)
      : options(options), generator(options.seed) {}

  /// The next token for `logits[0..vocabSize)`.
  int32_t sample(const float *logits, int32_t vocabSize);

private:
  SamplingOptions options;
  std::mt19937_64 generator;
};

} // namespace lowbit

#endif // LOWBIT_RUNTIME_SAMPLER_H
