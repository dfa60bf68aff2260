#include "client/latency_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace rwkv::client {

void LatencyStats::AddRepeated(double seconds, int64_t count) {
  if (count > 0) samples_.insert(samples_.end(), static_cast<size_t>(count), seconds);
}

void LatencyStats::Merge(const LatencyStats& other) {
  samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
}

double LatencyStats::Percentile(absl::Span<const double> sorted, double percent) {
  if (sorted.empty()) return 0;
  const double n = static_cast<double>(sorted.size());
  // The small epsilon keeps exact products (e.g. 0.9 * 10 = 9.000000000000002) from rounding up
  // to the next rank.
  int64_t rank = static_cast<int64_t>(std::ceil(percent / 100.0 * n - 1e-9));
  rank = std::clamp<int64_t>(rank, 1, static_cast<int64_t>(sorted.size()));
  return sorted[static_cast<size_t>(rank - 1)];
}

LatencySummary LatencyStats::Summarize() const {
  LatencySummary summary;
  if (samples_.empty()) return summary;
  std::vector<double> sorted = samples_;
  std::sort(sorted.begin(), sorted.end());
  summary.count = count();
  summary.mean = std::accumulate(sorted.begin(), sorted.end(), 0.0) / sorted.size();
  summary.min = sorted.front();
  summary.p50 = Percentile(sorted, 50);
  summary.p90 = Percentile(sorted, 90);
  summary.p99 = Percentile(sorted, 99);
  summary.max = sorted.back();
  return summary;
}

}  // namespace rwkv::client
