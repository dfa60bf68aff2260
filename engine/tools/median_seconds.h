// Interleaved timing for the micro-benchmarks (rwkv-wkv-bench, rwkv-q8-bench).
#ifndef RWKV_ENGINE_TOOLS_MEDIAN_SECONDS_H_
#define RWKV_ENGINE_TOOLS_MEDIAN_SECONDS_H_

#include <algorithm>
#include <functional>
#include <vector>

#include "absl/time/clock.h"

namespace rwkv::engine {

// Median seconds per call of each of `runs`, timed round-robin (one call of each in turn) for
// about `seconds` in all and at least 7 rounds, so that load from other processes on a shared
// machine falls on all of them alike.
inline std::vector<double> MedianSeconds(const std::vector<std::function<void()>>& runs,
                                         double seconds) {
  std::vector<std::vector<double>> times(runs.size());
  const absl::Time start = absl::Now();
  while (times[0].size() < 7 || absl::ToDoubleSeconds(absl::Now() - start) < seconds) {
    for (size_t i = 0; i < runs.size(); ++i) {
      const absl::Time t0 = absl::Now();
      runs[i]();
      times[i].push_back(absl::ToDoubleSeconds(absl::Now() - t0));
    }
  }
  std::vector<double> medians;
  for (std::vector<double>& t : times) {
    std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
    medians.push_back(t[t.size() / 2]);
  }
  return medians;
}

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_TOOLS_MEDIAN_SECONDS_H_
