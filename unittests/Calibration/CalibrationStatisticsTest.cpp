//===- CalibrationStatisticsTest.cpp - activation statistics ----------------===//
//
// The percentile a calibration file records is exact, and the file reads
// back what was written.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Calibration/CalibrationStatistics.h"

#include "llvm/Support/FileSystem.h"
#include "gtest/gtest.h"

using namespace lowbit;

namespace {

TEST(CalibrationStatisticsTest, PercentileIsExact) {
  // Channel 0 sees 1..1000, channel 1 sees -1..-1000, over two calls.
  CalibrationCollector collector(99.0, 1000);
  for (int half = 0; half < 2; ++half) {
    std::vector<float> rows;
    for (int i = half * 500 + 1; i <= (half + 1) * 500; ++i) {
      rows.push_back(static_cast<float>(i));
      rows.push_back(-static_cast<float>(i));
    }
    collector.observe("blk.0.attn_q.weight", rows.data(), 500, 2);
  }
  llvm::Expected<CalibrationStatistics> statistics = collector.finish("m");
  ASSERT_TRUE(static_cast<bool>(statistics));
  EXPECT_EQ(statistics->tokens, 1000);
  const ChannelStatistics &channels =
      statistics->linears.lookup("blk.0.attn_q.weight");
  // 1% of 1000 values lie at or above the 10th largest, 991.
  EXPECT_EQ(channels.percentile, (std::vector<float>{991.0f, 991.0f}));
  EXPECT_EQ(channels.absMax, (std::vector<float>{1000.0f, 1000.0f}));
  // Mean of i^2 for i = 1..1000 is 1001 * 2001 / 6.
  EXPECT_FLOAT_EQ(channels.meanSquare[0], 1001.0f * 2001.0f / 6.0f);
}

TEST(CalibrationStatisticsTest, LayersMustSeeTheSameRows) {
  CalibrationCollector collector(99.9, 10);
  float values[4] = {1, 2, 3, 4};
  collector.observe("a", values, 2, 2);
  collector.observe("b", values, 1, 2);
  llvm::Expected<CalibrationStatistics> statistics = collector.finish("m");
  ASSERT_FALSE(static_cast<bool>(statistics));
  EXPECT_TRUE(llvm::StringRef(llvm::toString(statistics.takeError()))
                  .starts_with("layers saw different numbers of calibration "
                               "rows"));
}

TEST(CalibrationStatisticsTest, FileRoundTrips) {
  CalibrationStatistics written;
  written.model = "model.gguf";
  written.tokens = 3;
  written.percentile = 99.5;
  written.linears["blk.1.ffn_down.weight"] = {{1.5f, 2.0f}, {1.0f, 0.5f},
                                              {0.25f, 3.0f}};
  llvm::SmallString<128> path;
  int descriptor;
  ASSERT_FALSE(llvm::sys::fs::createTemporaryFile("calibration", "json",
                                                   descriptor, path));
  {
    llvm::raw_fd_ostream file(descriptor, /*shouldClose=*/true);
    writeCalibrationStatistics(written, file);
  }
  llvm::Expected<CalibrationStatistics> read = readCalibrationStatistics(path);
  llvm::sys::fs::remove(path);
  ASSERT_TRUE(static_cast<bool>(read)) << llvm::toString(read.takeError());
  EXPECT_EQ(read->model, "model.gguf");
  EXPECT_EQ(read->tokens, 3);
  EXPECT_DOUBLE_EQ(read->percentile, 99.5);
  const ChannelStatistics &channels =
      read->linears.lookup("blk.1.ffn_down.weight");
  EXPECT_EQ(channels.absMax, (std::vector<float>{1.5f, 2.0f}));
  EXPECT_EQ(channels.percentile, (std::vector<float>{1.0f, 0.5f}));
  EXPECT_EQ(channels.meanSquare, (std::vector<float>{0.25f, 3.0f}));
}

} // namespace
