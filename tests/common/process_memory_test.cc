#include "common/process_memory.h"

#include <gtest/gtest.h>

namespace rwkv {
namespace {

TEST(ProcessMemoryTest, ParsesVmRssAndVmHwm) {
  const auto memory = ParseProcessStatus(
      "Name:\ttest\nVmPeak:\t  999 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\nThreads:\t1\n");
  ASSERT_TRUE(memory.ok()) << memory.status();
  EXPECT_EQ(memory->rss_bytes, 1024 * 1024);
  EXPECT_EQ(memory->peak_rss_bytes, 2048 * 1024);
}

TEST(ProcessMemoryTest, MissingOrMalformedFieldsAreErrors) {
  EXPECT_EQ(ParseProcessStatus("VmRSS:\t1 kB\n").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ParseProcessStatus("VmRSS:\tmany kB\nVmHWM:\t1 kB\n").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseProcessStatus("VmRSS:\t-5 kB\nVmHWM:\t1 kB\n").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseProcessStatus("VmRSS:\t5 MB\nVmHWM:\t1 kB\n").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseProcessStatus("").status().code(), absl::StatusCode::kNotFound);
}

TEST(ProcessMemoryTest, ReadsThisProcess) {
  const auto memory = ReadProcessMemory();
  ASSERT_TRUE(memory.ok()) << memory.status();
  EXPECT_GT(memory->rss_bytes, 0);
  EXPECT_GE(memory->peak_rss_bytes, memory->rss_bytes);
}

}  // namespace
}  // namespace rwkv
