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

struct lowbitModelImpl {
  std::unique_ptr<HostModel> model;
  std::vector<float> logits;
  std::map<std::string, std::string> metadata;
  std::string error;

  /// Copies the logits of the last run to `out` and returns 0 when it
  /// `succeeded`; returns 1, the reason kept in `error`, when it failed.
  int finish(bool succeeded, float *out) {
    if (!succeeded)
      return 1;
    error.clear();
    std::copy(logits.begin(), logits.end(), out);
    return 0;
  }
};

struct lowbitSamplerImpl {
  Sampler sampler;
};

lowbitModel lowbitModelOpen(const char *path, char *error, size_t errorSize) {
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
  auto *handle = new lowbitModelImpl();
  handle->model = std::move(model);
  return handle;
}

void lowbitModelDestroy(lowbitModel model) { delete model; }

int64_t lowbitModelGetVocabSize(lowbitModel model) {
  return model->model->vocabSize();
}

int64_t lowbitModelGetContextLength(lowbitModel model) {
  return model->model->contextLength();
}

const char *lowbitModelGetMetadata(lowbitModel model, const char *key) {
  auto cached = model->metadata.find(key);
  if (cached == model->metadata.end()) {
    std::string value = model->model->getArtifact().metadata(key);
    if (value.empty())
      return nullptr;
    cached = model->metadata.emplace(key, std::move(value)).first;
  }
  return cached->second.c_str();
}

int lowbitModelPrefill(lowbitModel model, const int32_t *tokens,
                       int64_t count, int64_t start, float *logits) {
  return model->finish(model->model->run("prefill", tokens, count, start,
                                         model->logits, model->error),
                       logits);
}

int lowbitModelDecode(lowbitModel model, int32_t token, int64_t position,
                      float *logits) {
  return model->finish(model->model->run("decode", &token, 1, position,
                                         model->logits, model->error),
                       logits);
}

void lowbitModelReset(lowbitModel model) { model->model->resetCaches(); }

const char *lowbitModelGetError(lowbitModel model) {
  return model->error.c_str();
}

lowbitSampler lowbitSamplerCreate(float temperature, int32_t topK, float topP,
                                  uint64_t seed) {
  SamplingOptions options;
  options.temperature = temperature;
  options.topK = topK;
  options.topP = topP;
  options.seed = seed;
  if (!options.validate().empty())
    return nullptr;
  return new lowbitSamplerImpl{Sampler(options)};
}

void lowbitSamplerDestroy(lowbitSampler sampler) { delete sampler; }

int32_t lowbitSamplerSample(lowbitSampler sampler, const float *logits,
                            int64_t vocabSize) {
  return sampler->sampler.sample(logits, static_cast<int32_t>(vocabSize));
}
