//===- CalibrationStatistics.h - activation statistics ----------*- C++ -*-===//
//
// Per-channel statistics of the inputs of a model's linear layers, measured
// over calibration text: what FMPQ needs to find outlier channels and what
// activation-aware weight quantization weighs errors by. They are gathered
// by `lowbit-run calibrate` and stored in a small JSON file whose format is
// documented in docs/quantization.md.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_CALIBRATION_CALIBRATIONSTATISTICS_H
#define LOWBIT_CALIBRATION_CALIBRATIONSTATISTICS_H

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit {

/// Statistics of the input channels of one linear layer.
struct ChannelStatistics {
  /// Largest |x| seen per channel.
  std::vector<float> absMax;
  /// |x| at the file's percentile per channel.
  std::vector<float> percentile;
  /// Mean of x^2 per channel.
  std::vector<float> meanSquare;
};

/// Statistics of every linear layer of a model, by the checkpoint name of
/// the layer's weight (e.g. "blk.0.attn_q.weight").
struct CalibrationStatistics {
  /// The checkpoint the statistics were measured on.
  std::string model;
  /// Calibration tokens (activation rows) each layer saw.
  int64_t tokens = 0;
  /// The percentile of `ChannelStatistics::percentile`, in (0, 100).
  double percentile = 99.9;
  llvm::StringMap<ChannelStatistics> linears;
};

/// Writes `statistics` as a calibration file.
void writeCalibrationStatistics(const CalibrationStatistics &statistics,
                                llvm::raw_ostream &os);

/// Reads a calibration file, naming the problem when it is malformed.
llvm::Expected<CalibrationStatistics>
readCalibrationStatistics(llvm::StringRef path);

/// Accumulates the statistics of activation rows, layer by layer. The
/// percentile is exact: each channel keeps its largest magnitudes, as many
/// as the percentile needs for `maxTokens` rows.
class CalibrationCollector {
public:
  CalibrationCollector(double percentile, int64_t maxTokens);

  /// Adds `rows` rows of `channels` values seen at the input of `linear`.
  void observe(llvm::StringRef linear, const float *values, int64_t rows,
               int64_t channels);

  /// The statistics of everything observed; every layer must have seen the
  /// same number of rows, at most `maxTokens`.
  llvm::Expected<CalibrationStatistics> finish(llvm::StringRef model) const;

private:
  struct Accumulator {
    int64_t rows = 0;
    std::vector<float> absMax;
    std::vector<double> sumOfSquares;
    /// Per channel, a min-heap of the largest magnitudes.
    std::vector<std::vector<float>> largest;
  };

  double percentile;
  int64_t maxTokens;
  size_t keptPerChannel;
  llvm::StringMap<Accumulator> accumulators;
};

} // namespace lowbit

#endif // LOWBIT_CALIBRATION_CALIBRATIONSTATISTICS_H
