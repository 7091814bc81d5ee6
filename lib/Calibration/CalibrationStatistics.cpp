//===- CalibrationStatistics.cpp - activation statistics --------------------===//
//
// Accumulating per-channel activation statistics and reading and writing
// them as a JSON calibration file.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Calibration/CalibrationStatistics.h"

#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <algorithm>
#include <cmath>
#include <functional>

using namespace lowbit;
using llvm::createStringError;
using llvm::inconvertibleErrorCode;

/// Name of the format, written first in every calibration file.
static constexpr llvm::StringLiteral kFormatName = "lowbit-calibration";
static constexpr int64_t kFormatVersion = 1;

/// How many of the largest magnitudes out of `rows` lie at or above the
/// `percentile`: the percentile is the smallest of them.
static size_t largestAtPercentile(double percentile, int64_t rows) {
  // (100 - p) * rows / 100 keeps exact cases exact: 1% of 1000 is 10.
  double above = (100.0 - percentile) * static_cast<double>(rows) / 100.0;
  return std::max<size_t>(1, static_cast<size_t>(std::ceil(above)));
}

//===----------------------------------------------------------------------===//
// CalibrationCollector
//===----------------------------------------------------------------------===//

CalibrationCollector::CalibrationCollector(double percentile,
                                           int64_t maxTokens)
    : percentile(percentile), maxTokens(maxTokens),
      keptPerChannel(largestAtPercentile(percentile, maxTokens)) {}

void CalibrationCollector::observe(llvm::StringRef linear,
                                   const float *values, int64_t rows,
                                   int64_t channels) {
  Accumulator &accumulator = accumulators[linear];
  if (accumulator.absMax.empty()) {
    accumulator.absMax.assign(channels, 0.0f);
    accumulator.sumOfSquares.assign(channels, 0.0);
    accumulator.largest.resize(channels);
  }
  accumulator.rows += rows;
  for (int64_t row = 0; row < rows; ++row) {
    for (int64_t channel = 0; channel < channels; ++channel) {
      float value = values[row * channels + channel];
      float magnitude = std::fabs(value);
      accumulator.absMax[channel] =
          std::max(accumulator.absMax[channel], magnitude);
      accumulator.sumOfSquares[channel] += static_cast<double>(value) * value;
      std::vector<float> &largest = accumulator.largest[channel];
      if (largest.size() < keptPerChannel) {
        largest.push_back(magnitude);
        std::push_heap(largest.begin(), largest.end(), std::greater<>());
      } else if (magnitude > largest.front()) {
        std::pop_heap(largest.begin(), largest.end(), std::greater<>());
        largest.back() = magnitude;
        std::push_heap(largest.begin(), largest.end(), std::greater<>());
      }
    }
  }
}

llvm::Expected<CalibrationStatistics>
CalibrationCollector::finish(llvm::StringRef model) const {
  CalibrationStatistics statistics;
  statistics.model = model.str();
  statistics.percentile = percentile;
  for (const auto &entry : accumulators) {
    const Accumulator &accumulator = entry.getValue();
    if (accumulator.rows > maxTokens)
      return createStringError(
          inconvertibleErrorCode(),
          "layer %s saw %lld calibration rows, more than the %lld planned",
          entry.getKey().str().c_str(),
          static_cast<long long>(accumulator.rows),
          static_cast<long long>(maxTokens));
    if (statistics.tokens && statistics.tokens != accumulator.rows)
      return createStringError(inconvertibleErrorCode(),
                               "layers saw different numbers of calibration "
                               "rows (%lld and %lld)",
                               static_cast<long long>(statistics.tokens),
                               static_cast<long long>(accumulator.rows));
    statistics.tokens = accumulator.rows;
    size_t rank = largestAtPercentile(percentile, accumulator.rows);
    ChannelStatistics &channels = statistics.linears[entry.getKey()];
    channels.absMax = accumulator.absMax;
    for (size_t channel = 0; channel < accumulator.absMax.size(); ++channel) {
      std::vector<float> largest = accumulator.largest[channel];
      std::sort(largest.begin(), largest.end(), std::greater<>());
      channels.percentile.push_back(largest[std::min(rank, largest.size()) - 1]);
      channels.meanSquare.push_back(static_cast<float>(
          accumulator.sumOfSquares[channel] / accumulator.rows));
    }
  }
  return statistics;
}

//===----------------------------------------------------------------------===//
// The calibration file
//===----------------------------------------------------------------------===//

void lowbit::writeCalibrationStatistics(
    const CalibrationStatistics &statistics, llvm::raw_ostream &os) {
  llvm::json::OStream json(os, /*IndentSize=*/1);
  json.object([&] {
    json.attribute("format", kFormatName);
    json.attribute("version", kFormatVersion);
    json.attribute("model", statistics.model);
    json.attribute("tokens", statistics.tokens);
    json.attribute("percentile", statistics.percentile);
    std::vector<llvm::StringRef> names;
    for (const auto &entry : statistics.linears)
      names.push_back(entry.getKey());
    llvm::sort(names);
    json.attributeObject("linears", [&] {
      for (llvm::StringRef name : names) {
        const ChannelStatistics &channels = statistics.linears.lookup(name);
        json.attributeObject(name, [&] {
          auto array = [&](llvm::StringRef key, const std::vector<float> &v) {
            json.attributeArray(key, [&] {
              for (float value : v)
                json.value(value);
            });
          };
          array("absmax", channels.absMax);
          array("percentile", channels.percentile);
          array("mean_square", channels.meanSquare);
        });
      }
    });
  });
  os << "\n";
}

/// Reads a list of non-negative numbers `key` of `layer`.
static llvm::Expected<std::vector<float>>
readChannelValues(const llvm::json::Object &layer, llvm::StringRef name,
                  llvm::StringRef key) {
  const llvm::json::Array *array = layer.getArray(key);
  if (!array)
    return createStringError(inconvertibleErrorCode(),
                             "layer '%s' has no '%s' array", name.str().c_str(),
                             key.str().c_str());
  std::vector<float> values;
  for (const llvm::json::Value &element : *array) {
    std::optional<double> number = element.getAsNumber();
    if (!number || !(*number >= 0.0) || std::isinf(*number))
      return createStringError(inconvertibleErrorCode(),
                               "layer '%s': '%s' entry %zu is not a finite "
                               "non-negative number",
                               name.str().c_str(), key.str().c_str(),
                               values.size());
    values.push_back(static_cast<float>(*number));
  }
  return values;
}

llvm::Expected<CalibrationStatistics>
lowbit::readCalibrationStatistics(llvm::StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return createStringError(buffer.getError(),
                             "cannot read calibration file '%s': %s",
                             path.str().c_str(),
                             buffer.getError().message().c_str());
  auto fail = [&](const llvm::Twine &problem) {
    return createStringError(inconvertibleErrorCode(),
                             "calibration file '%s': %s", path.str().c_str(),
                             problem.str().c_str());
  };
  llvm::Expected<llvm::json::Value> parsed =
      llvm::json::parse((*buffer)->getBuffer());
  if (!parsed)
    return fail(llvm::toString(parsed.takeError()));
  const llvm::json::Object *root = parsed->getAsObject();
  if (!root || root->getString("format") != kFormatName)
    return fail("not a lowbit calibration file (no \"format\": \"" +
                kFormatName + "\")");
  if (root->getInteger("version") != kFormatVersion)
    return fail("unsupported version (this build reads version " +
                llvm::Twine(kFormatVersion) + ")");
  CalibrationStatistics statistics;
  statistics.model = root->getString("model").value_or("").str();
  std::optional<int64_t> tokens = root->getInteger("tokens");
  std::optional<double> percentile = root->getNumber("percentile");
  if (!tokens || *tokens <= 0)
    return fail("'tokens' must be a positive integer");
  if (!percentile || !(*percentile > 0.0 && *percentile < 100.0))
    return fail("'percentile' must be a number in (0, 100)");
  statistics.tokens = *tokens;
  statistics.percentile = *percentile;
  const llvm::json::Object *linears = root->getObject("linears");
  if (!linears)
    return fail("no 'linears' object");
  for (const auto &[key, value] : *linears) {
    llvm::StringRef name = key;
    const llvm::json::Object *layer = value.getAsObject();
    if (!layer)
      return fail("layer '" + name + "' is not an object");
    ChannelStatistics channels;
    for (auto [field, target] :
         {std::pair{"absmax", &channels.absMax},
          {"percentile", &channels.percentile},
          {"mean_square", &channels.meanSquare}}) {
      llvm::Expected<std::vector<float>> values =
          readChannelValues(*layer, name, field);
      if (!values)
        return fail(llvm::toString(values.takeError()));
      *target = std::move(*values);
    }
    if (channels.absMax.empty() ||
        channels.percentile.size() != channels.absMax.size() ||
        channels.meanSquare.size() != channels.absMax.size())
      return fail("layer '" + name +
                  "' has arrays of different or zero lengths");
    statistics.linears[name] = std::move(channels);
  }
  return statistics;
}
