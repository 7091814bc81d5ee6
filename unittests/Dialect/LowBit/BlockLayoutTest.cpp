//===- BlockLayoutTest.cpp - mixed-precision block layout tests -----------===//
//
// Checks the derived quantities of #lowbit.blocks that storage planning and
// the roofline analysis rely on, and that invalid layouts are refused through
// the checked constructor rather than built.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/LowBit/IR/LowBitDialect.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "gtest/gtest.h"

using namespace mlir;
using namespace lowbit;

namespace {

class BlockLayoutTest : public ::testing::Test {
protected:
  BlockLayoutTest() { context.loadDialect<LowBitDialect>(); }

  /// Builds a layout through getChecked and records the diagnostic, if any.
  BlockLayoutAttr build(int64_t blockSize, ArrayRef<int64_t> bits,
                        ScaleGranularity granularity, int64_t groupSize = 0,
                        ArrayRef<int64_t> permutation = {}) {
    diagnostic.clear();
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
      diagnostic = diag.str();
      return success();
    });
    return BlockLayoutAttr::getChecked(
        [&] { return emitError(UnknownLoc::get(&context)); }, &context,
        blockSize, bits, granularity, groupSize, permutation,
        /*asymmetric=*/false);
  }

  MLIRContext context;
  std::string diagnostic;
};

TEST_F(BlockLayoutTest, CountsChannelsBlocksAndPackedBytes) {
  BlockLayoutAttr layout = build(128, {8, 4, 4, 4}, ScaleGranularity::PerToken);
  ASSERT_TRUE(layout) << diagnostic;
  EXPECT_EQ(layout.getNumBlocks(), 4);
  EXPECT_EQ(layout.getNumChannels(), 512);
  EXPECT_EQ(layout.getNumInt8Blocks(), 1);
  // One 8-bit block (128 bytes) and three 4-bit blocks (64 bytes each).
  EXPECT_EQ(layout.getPackedRowBytes(), 128 + 3 * 64);
  EXPECT_EQ(layout.getScalesPerRow(), 4);
}

TEST_F(BlockLayoutTest, GroupScalesSplitBlocks) {
  BlockLayoutAttr layout =
      build(128, {4, 4}, ScaleGranularity::PerGroup, /*groupSize=*/32);
  ASSERT_TRUE(layout) << diagnostic;
  EXPECT_EQ(layout.getScaleGroupChannels(), 32);
  EXPECT_EQ(layout.getScalesPerRow(), 8);
}

TEST_F(BlockLayoutTest, RefusesGroupThatDoesNotDivideBlock) {
  EXPECT_FALSE(build(128, {4}, ScaleGranularity::PerGroup, 48));
  EXPECT_EQ(diagnostic, "scale group size 48 does not divide block size 128");
}

TEST_F(BlockLayoutTest, RefusesUnsupportedBitWidth) {
  EXPECT_FALSE(build(64, {4, 6}, ScaleGranularity::PerToken));
  EXPECT_EQ(diagnostic, "block 1 is stored in 6 bits; expected 4 or 8");
}

TEST_F(BlockLayoutTest, RefusesPermutationWithRepeatedChannel) {
  EXPECT_FALSE(build(2, {8, 4}, ScaleGranularity::PerToken, 0, {0, 1, 1, 3}));
  EXPECT_EQ(diagnostic, "channel 1 appears twice in the permutation");
}

TEST_F(BlockLayoutTest, AcceptsPermutationOfAllChannels) {
  BlockLayoutAttr layout =
      build(2, {8, 4}, ScaleGranularity::PerToken, 0, {3, 0, 2, 1});
  ASSERT_TRUE(layout) << diagnostic;
  EXPECT_EQ(layout.getPermutation().size(), 4u);
}

} // namespace
