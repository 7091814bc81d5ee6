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
