// LatencyStats: collects latency samples (seconds) and summarises them.
//
//   LatencyStats ttft;
//   ttft.Add(0.120);
//   ttft.Add(0.095);
//   LatencySummary s = ttft.Summarize();  // s.count == 2, s.p50 == 0.095, s.max == 0.120
//
// Percentiles use the nearest-rank method: the p-th percentile of n sorted samples is the sample
// at 1-based rank ceil(p / 100 * n) (rank 1 for p = 0). It is always a measured value, never an
// interpolation, so "p99 = 0.5 s" means some request really took 0.5 s.
//
// Not thread-safe: give each thread its own LatencyStats and Merge() them at the end.
#ifndef RWKV_CLIENT_LATENCY_STATS_H_
#define RWKV_CLIENT_LATENCY_STATS_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace rwkv::client {

struct LatencySummary {
  int64_t count = 0;
  // All zero when count == 0.
  double mean = 0;
  double min = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
  double max = 0;
};

class LatencyStats {
 public:
  void Add(double seconds) { samples_.push_back(seconds); }
  // Adds `count` samples of the same value.
  void AddRepeated(double seconds, int64_t count);
  // Appends every sample of `other`.
  void Merge(const LatencyStats& other);

  int64_t count() const { return static_cast<int64_t>(samples_.size()); }
  LatencySummary Summarize() const;

  // Nearest-rank percentile of already sorted samples; `percent` in [0, 100]; 0 when empty.
  static double Percentile(absl::Span<const double> sorted, double percent);

 private:
  std::vector<double> samples_;
};

}  // namespace rwkv::client

#endif  // RWKV_CLIENT_LATENCY_STATS_H_
