//===- NcclTest.cpp - rank environments and the NCCL loader ----------------===//
//
// A rank learns its place from its launcher's environment; these tests set
// each launcher's variables and check what the runtime reads, and that a
// machine without NCCL gets a message naming the missing library instead of
// a crash.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Runtime/Nccl.h"

#include "gtest/gtest.h"

#include <cstdlib>
#include <dlfcn.h>

using namespace lowbit::runtime;

namespace {

/// Clears every launcher variable, before and after each test.
class RankEnvironmentTest : public ::testing::Test {
protected:
  void SetUp() override { clear(); }
  void TearDown() override { clear(); }

  static void clear() {
    for (const char *name :
         {"RANK", "WORLD_SIZE", "LOCAL_RANK", "OMPI_COMM_WORLD_RANK",
          "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
          "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"})
      unsetenv(name);
  }
};

TEST_F(RankEnvironmentTest, NoLauncherMeansNoRanks) {
  std::string error;
  EXPECT_FALSE(RankEnvironment::read(error).has_value());
  EXPECT_EQ(error, "");
}

TEST_F(RankEnvironmentTest, ReadsTorchrun) {
  setenv("RANK", "5", 1);
  setenv("WORLD_SIZE", "8", 1);
  setenv("LOCAL_RANK", "1", 1);
  std::string error;
  std::optional<RankEnvironment> ranks = RankEnvironment::read(error);
  ASSERT_TRUE(ranks.has_value()) << error;
  EXPECT_EQ(ranks->rank, 5);
  EXPECT_EQ(ranks->worldSize, 8);
  EXPECT_EQ(ranks->localRank, 1);
}

TEST_F(RankEnvironmentTest, ReadsMpirunAndSlurm) {
  setenv("OMPI_COMM_WORLD_RANK", "2", 1);
  setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
  setenv("OMPI_COMM_WORLD_LOCAL_RANK", "2", 1);
  std::string error;
  std::optional<RankEnvironment> mpi = RankEnvironment::read(error);
  ASSERT_TRUE(mpi.has_value()) << error;
  EXPECT_EQ(mpi->rank, 2);
  EXPECT_EQ(mpi->worldSize, 4);
  clear();
  setenv("SLURM_PROCID", "3", 1);
  setenv("SLURM_NTASKS", "4", 1);
  std::optional<RankEnvironment> slurm = RankEnvironment::read(error);
  ASSERT_TRUE(slurm.has_value()) << error;
  EXPECT_EQ(slurm->rank, 3);
  // Without a local rank, the rank picks the GPU.
  EXPECT_EQ(slurm->localRank, 3);
}

TEST_F(RankEnvironmentTest, RefusesMalformedRanks) {
  setenv("RANK", "two", 1);
  setenv("WORLD_SIZE", "4", 1);
  std::string error;
  EXPECT_FALSE(RankEnvironment::read(error).has_value());
  EXPECT_EQ(error, "malformed RANK/WORLD_SIZE/LOCAL_RANK environment");
  setenv("RANK", "4", 1);
  error.clear();
  EXPECT_FALSE(RankEnvironment::read(error).has_value());
  EXPECT_EQ(error, "RANK=4 is not a rank of WORLD_SIZE=4");
  unsetenv("WORLD_SIZE");
  error.clear();
  EXPECT_FALSE(RankEnvironment::read(error).has_value());
  EXPECT_EQ(error, "malformed RANK/WORLD_SIZE/LOCAL_RANK environment");
}

TEST(NcclCommunicatorTest, MissingNcclIsAnError) {
  if (void *library = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL)) {
    dlclose(library);
    GTEST_SKIP() << "NCCL is installed here";
  }
  NcclUniqueId id{};
  std::string error;
  EXPECT_FALSE(NcclCommunicator::makeUniqueId(id, error));
  EXPECT_NE(error.find("cannot load libnccl.so.2"), std::string::npos) << error;
  error.clear();
  EXPECT_EQ(NcclCommunicator::create(id, 0, 2, error), nullptr);
  EXPECT_NE(error.find("cannot load libnccl.so.2"), std::string::npos) << error;
}

TEST(NcclCommunicatorTest, UniqueIdTravelsThroughAFile) {
  std::string path = ::testing::TempDir() + "lowbit-nccl-id";
  std::remove(path.c_str());
  NcclUniqueId written{}, read{};
  for (size_t i = 0; i < written.size(); ++i)
    written[i] = static_cast<char>(i * 7);
  std::string error;
  // A rank other than 0 waits for the file and gives up with a message.
  EXPECT_FALSE(NcclCommunicator::exchangeUniqueId(read, 1, path, 0, error));
  EXPECT_NE(error.find("waited 0 s for rank 0's NCCL id"), std::string::npos)
      << error;
  ASSERT_TRUE(NcclCommunicator::exchangeUniqueId(written, 0, path, 1, error))
      << error;
  ASSERT_TRUE(NcclCommunicator::exchangeUniqueId(read, 1, path, 1, error))
      << error;
  EXPECT_EQ(read, written);
  std::remove(path.c_str());
}

} // namespace
