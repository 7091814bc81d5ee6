//===- CollectivesTest.cpp - ranks as threads of one process
//---------------===//
//
// The collectives of a sharded CPU model: every rank's thread sums or
// gathers the others' buffers, in rank order, and may reuse its buffers
// once the call returns.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Runtime/Collectives.h"

#include "gtest/gtest.h"

#include <thread>

using namespace lowbit::runtime;

namespace {

/// Runs `body(rank, collectives)` on one thread per rank of a new group.
template <typename Body> void runRanks(int worldSize, Body body) {
  std::shared_ptr<ThreadRankGroup> group = ThreadRankGroup::create(worldSize);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < worldSize; ++rank)
    threads.emplace_back(
        [&, rank, member = group->join(rank, BufferAccess::host())]() mutable {
          body(rank, *member);
        });
  for (std::thread &thread : threads)
    thread.join();
}

uintptr_t address(const void *data) {
  return reinterpret_cast<uintptr_t>(data);
}

TEST(ThreadRankGroupTest, AllReduceSumsInRankOrderOnEveryRank) {
  constexpr int kRanks = 4;
  std::vector<std::vector<float>> sums(kRanks);
  runRanks(kRanks, [&](int rank, Collectives &collectives) {
    EXPECT_EQ(collectives.getRank(), rank);
    EXPECT_EQ(collectives.getWorldSize(), kRanks);
    // 1e8 + 5 + 5 + 5 rounds differently from 5 + 5 + 5 + 1e8.
    std::vector<float> partial = {rank == 0 ? 1e8f : 5.0f, float(rank)};
    sums[rank].resize(partial.size());
    for (int step = 0; step < 3; ++step) {
      ASSERT_TRUE(collectives.allReduceFloat(
          address(partial.data()), address(sums[rank].data()), partial.size()));
      // The send buffer may change as soon as the call returns.
      partial[1] += 1.0f;
    }
  });
  float expected = 0.0f;
  for (int rank = 0; rank < kRanks; ++rank)
    expected += rank == 0 ? 1e8f : 5.0f;
  for (int rank = 0; rank < kRanks; ++rank) {
    EXPECT_EQ(sums[rank][0], expected);
    EXPECT_EQ(sums[rank][1], 0.0f + 2 + 3 + 4 + 5);
  }
}

TEST(ThreadRankGroupTest, AllGatherConcatenatesInRankOrder) {
  constexpr int kRanks = 3;
  std::vector<std::vector<char>> gathered(kRanks);
  runRanks(kRanks, [&](int rank, Collectives &collectives) {
    std::vector<char> mine = {char('a' + rank), char('A' + rank)};
    gathered[rank].resize(kRanks * mine.size());
    ASSERT_TRUE(collectives.allGather(
        address(mine.data()), address(gathered[rank].data()), mine.size()));
  });
  for (int rank = 0; rank < kRanks; ++rank)
    EXPECT_EQ(std::string(gathered[rank].begin(), gathered[rank].end()),
              "aAbBcC");
}

TEST(ThreadRankGroupTest, WireAllReduceSumsRoundedPartialsInRankOrder) {
  constexpr int kRanks = 3;
  const WireFormat format{WireElement::FP4E2M1, 8, WireScale::F16};
  auto partialOf = [](int rank) {
    std::vector<float> partial(16);
    for (size_t i = 0; i < partial.size(); ++i)
      partial[i] = 0.37f * float(i) - 1.9f * float(rank) + 0.11f;
    return partial;
  };
  std::vector<std::vector<float>> sums(kRanks);
  runRanks(kRanks, [&](int rank, Collectives &collectives) {
    std::vector<float> partial = partialOf(rank);
    sums[rank].resize(partial.size());
    ASSERT_TRUE(collectives.allReduceWire(address(partial.data()),
                                          address(sums[rank].data()),
                                          partial.size(), format));
  });
  std::vector<float> expected(16, 0.0f), exact(16, 0.0f);
  for (int rank = 0; rank < kRanks; ++rank) {
    std::vector<float> rounded = partialOf(rank);
    for (size_t i = 0; i < rounded.size(); ++i)
      exact[i] += rounded[i];
    roundThroughWire(rounded.data(), rounded.size(), format);
    for (size_t i = 0; i < rounded.size(); ++i)
      expected[i] += rounded[i];
  }
  for (int rank = 0; rank < kRanks; ++rank)
    EXPECT_EQ(sums[rank], expected);
  // FP4 rounding shows: the sum is not the exact one.
  EXPECT_NE(expected, exact);
}

TEST(ThreadRankGroupTest, WireAllReduceRefusesPartialBlocks) {
  std::vector<float> partial(12, 1.0f), sum(12);
  runRanks(2, [&](int, Collectives &collectives) {
    EXPECT_FALSE(collectives.allReduceWire(
        address(partial.data()), address(sum.data()), partial.size(),
        WireFormat{WireElement::INT8, 8, WireScale::F16}));
    EXPECT_EQ(collectives.getError(), "12 values do not fill blocks of 8");
  });
}

TEST(ThreadRankGroupTest, AbandonedGroupWakesWaitingRanks) {
  std::vector<float> partial = {1.0f}, sum(1);
  std::string error;
  bool reduced = true;
  runRanks(2, [&](int rank, Collectives &collectives) {
    if (rank == 1) {
      collectives.abandon();
      return;
    }
    reduced = collectives.allReduceFloat(address(partial.data()),
                                         address(sum.data()), 1);
    error = collectives.getError();
  });
  EXPECT_FALSE(reduced);
  EXPECT_EQ(error, kAbandonedMessage);
}

TEST(CollectiveSlotsTest, UnknownFunctionIsNamed) {
  std::string error;
  EXPECT_FALSE(
      bindCollectiveSlots(nullptr, "lowbit_collective_broadcast", error));
  EXPECT_EQ(error, "its code calls the collective function "
                   "'lowbit_collective_broadcast', which this runtime does "
                   "not provide");
}

} // namespace
