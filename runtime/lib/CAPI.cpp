//===- CAPI.cpp - C API of the lowbit runtime -----------------------------===//
//
// Wraps HostModel and Sampler behind the opaque handles of
// lowbit-c/Runtime.h.
//
//===----------------------------------------------------------------------===//

#include "lowbit-c/Runtime.h"

#include "lowbit/Runtime/HostModel.h"
#include "lowbit/Runtime/Sampler.h"

#include <algorithm>
#include <cstring>
#include <map>

using namespace lowbit;
using namespace lowbit::runtime;

struct LowbitModel {
  std::unique_ptr<HostModel> model;
  std::vector<float> logits;
  std::map<std::string, std::string> metadata;
  std::string error;

  /// Copies the logits of the last run to `out` when it `succeeded`; the
  /// reason of a failure stays in `error`.
  bool finish(bool succeeded, float *out) {
    if (!succeeded)
      return false;
    error.clear();
    std::copy(logits.begin(), logits.end(), out);
    return true;
  }
};

struct LowbitSampler {
  Sampler sampler;
};

LowbitModel *lowbitModelOpen(const char *path, char *error, size_t errorSize) {
  std::string message;
  std::unique_ptr<HostModel> model;
  if (std::unique_ptr<Artifact> artifact = Artifact::open(path, message))
    model = HostModel::load(std::move(artifact), message);
  if (!model) {
    if (error && errorSize > 0) {
      size_t length = std::min(message.size(), errorSize - 1);
      std::memcpy(error, message.data(), length);
      error[length] = '\0';
    }
    return nullptr;
  }
  auto *handle = new LowbitModel();
  handle->model = std::move(model);
  return handle;
}

void lowbitModelDestroy(LowbitModel *model) { delete model; }

int64_t lowbitModelGetVocabularySize(LowbitModel *model) {
  return model->model->vocabSize();
}

int64_t lowbitModelGetContextLength(LowbitModel *model) {
  return model->model->contextLength();
}

const char *lowbitModelGetMetadata(LowbitModel *model, const char *key) {
  auto cached = model->metadata.find(key);
  if (cached == model->metadata.end()) {
    std::string value = model->model->getArtifact().metadata(key);
    if (value.empty())
      return nullptr;
    cached = model->metadata.emplace(key, std::move(value)).first;
  }
  return cached->second.c_str();
}

bool lowbitModelPrefill(LowbitModel *model, const int32_t *tokens,
                        int64_t count, int64_t start, float *logits) {
  return model->finish(model->model->run("prefill", tokens, count, start,
                                         model->logits, model->error),
                       logits);
}

bool lowbitModelDecode(LowbitModel *model, int32_t token, int64_t position,
                       float *logits) {
  return model->finish(model->model->run("decode", &token, 1, position,
                                         model->logits, model->error),
                       logits);
}

void lowbitModelResetCaches(LowbitModel *model) { model->model->resetCaches(); }

bool lowbitModelSetSequences(LowbitModel *model, int64_t count) {
  model->error.clear();
  return model->model->setSequences(count, model->error);
}

bool lowbitModelPrefillSequence(LowbitModel *model, int64_t sequence,
                                const int32_t *tokens, int64_t count,
                                int64_t start, float *logits) {
  if (!tokens || !logits) {
    model->error = "lowbitModelPrefillSequence: tokens and logits must not be "
                   "NULL";
    return false;
  }
  return model->finish(model->model->run("prefill", tokens, count, start,
                                         model->logits, model->error, sequence),
                       logits);
}

bool lowbitModelDecodeBatch(LowbitModel *model, const int32_t *tokens,
                            const int64_t *positions, int64_t count,
                            float *logits) {
  if (!tokens || !positions || !logits) {
    model->error = "lowbitModelDecodeBatch: tokens, positions and logits must "
                   "not be NULL";
    return false;
  }
  return model->finish(model->model->runBatchedDecode(tokens, positions, count,
                                                      model->logits,
                                                      model->error),
                       logits);
}

const char *lowbitModelGetLastError(LowbitModel *model) {
  return model->error.c_str();
}

LowbitSampler *lowbitSamplerCreate(float temperature, int32_t topK, float topP,
                                  uint64_t seed) {
  SamplingOptions options;
  options.temperature = temperature;
  options.topK = topK;
  options.topP = topP;
  options.seed = seed;
  if (!options.validate().empty())
    return nullptr;
  return new LowbitSampler{Sampler(options)};
}

void lowbitSamplerDestroy(LowbitSampler *sampler) { delete sampler; }

int32_t lowbitSamplerSample(LowbitSampler *sampler, const float *logits,
                            int64_t vocabSize) {
  return sampler->sampler.sample(logits, static_cast<int32_t>(vocabSize));
}
