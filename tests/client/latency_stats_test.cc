#include "client/latency_stats.h"

#include <vector>

#include "gtest/gtest.h"

namespace rwkv::client {
namespace {

TEST(LatencyStatsTest, EmptyIsAllZero) {
  const LatencySummary s = LatencyStats().Summarize();
  EXPECT_EQ(s.count, 0);
  EXPECT_EQ(s.mean, 0);
  EXPECT_EQ(s.p50, 0);
  EXPECT_EQ(s.p99, 0);
  EXPECT_EQ(s.max, 0);
}

TEST(LatencyStatsTest, OneSampleIsEveryPercentile) {
  LatencyStats stats;
  stats.Add(0.25);
  const LatencySummary s = stats.Summarize();
  EXPECT_EQ(s.count, 1);
  EXPECT_EQ(s.min, 0.25);
  EXPECT_EQ(s.p50, 0.25);
  EXPECT_EQ(s.p90, 0.25);
  EXPECT_EQ(s.p99, 0.25);
  EXPECT_EQ(s.max, 0.25);
}

TEST(LatencyStatsTest, NearestRankOnOneToTen) {
  LatencyStats stats;
  for (int v : {7, 3, 10, 1, 9, 2, 8, 5, 4, 6}) stats.Add(v);  // order must not matter
  const LatencySummary s = stats.Summarize();
  EXPECT_EQ(s.count, 10);
  EXPECT_DOUBLE_EQ(s.mean, 5.5);
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.p50, 5);   // rank ceil(0.5 * 10) = 5
  EXPECT_EQ(s.p90, 9);   // rank 9 exactly, not 10 through rounding
  EXPECT_EQ(s.p99, 10);  // rank ceil(9.9) = 10
  EXPECT_EQ(s.max, 10);
}

TEST(LatencyStatsTest, NearestRankOnOneToHundred) {
  LatencyStats stats;
  for (int v = 100; v >= 1; --v) stats.Add(v / 1000.0);
  const LatencySummary s = stats.Summarize();
  EXPECT_DOUBLE_EQ(s.p50, 0.050);
  EXPECT_DOUBLE_EQ(s.p90, 0.090);
  EXPECT_DOUBLE_EQ(s.p99, 0.099);
  EXPECT_DOUBLE_EQ(s.max, 0.100);
}

TEST(LatencyStatsTest, PercentileEdges) {
  const std::vector<double> sorted = {1, 2, 3, 4};
  EXPECT_EQ(LatencyStats::Percentile(sorted, 0), 1);
  EXPECT_EQ(LatencyStats::Percentile(sorted, 25), 1);
  EXPECT_EQ(LatencyStats::Percentile(sorted, 26), 2);
  EXPECT_EQ(LatencyStats::Percentile(sorted, 75), 3);
  EXPECT_EQ(LatencyStats::Percentile(sorted, 100), 4);
  EXPECT_EQ(LatencyStats::Percentile({}, 50), 0);
}

TEST(LatencyStatsTest, OutlierShowsInP99AndMaxOnly) {
  LatencyStats stats;
  stats.AddRepeated(0.010, 99);
  stats.Add(5.0);
  const LatencySummary s = stats.Summarize();
  EXPECT_EQ(s.count, 100);
  EXPECT_EQ(s.p50, 0.010);
  EXPECT_EQ(s.p99, 0.010);  // rank 99 of 100
  EXPECT_EQ(s.max, 5.0);
  EXPECT_NEAR(s.mean, (0.010 * 99 + 5.0) / 100, 1e-12);
}

TEST(LatencyStatsTest, MergeCombinesSamples) {
  LatencyStats a;
  LatencyStats b;
  a.Add(1);
  a.Add(3);
  b.Add(2);
  b.AddRepeated(4, 2);
  b.AddRepeated(9, 0);
  a.Merge(b);
  const LatencySummary s = a.Summarize();
  EXPECT_EQ(s.count, 5);
  EXPECT_EQ(s.p50, 3);
  EXPECT_EQ(s.max, 4);
  EXPECT_EQ(b.count(), 3);  // the source is unchanged
}

}  // namespace
}  // namespace rwkv::client
