#include "engine/tools/sampling_bench.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

#include "absl/time/clock.h"
#include "engine/sampler/sampler.h"

namespace rwkv::engine {
namespace {

std::vector<std::pair<std::string, SamplingParams>> Settings() {
  SamplingParams greedy;
  greedy.temperature = 0;
  SamplingParams temperature;  // the API's defaults: temperature 1, everything else off
  SamplingParams nucleus;
  nucleus.top_p = 0.9f;
  SamplingParams top_k;  // top-k with penalties, as chat front ends often set them
  top_k.top_k = 40;
  top_k.presence_penalty = 0.5f;
  top_k.frequency_penalty = 0.5f;
  SamplingParams combined;  // llama.cpp-style defaults: every cut at once
  combined.temperature = 0.7f;
  combined.top_k = 40;
  combined.top_p = 0.95f;
  SamplingParams nucleus_min_p;
  nucleus_min_p.top_p = 0.9f;
  nucleus_min_p.min_p = 0.05f;
  return {{"greedy", greedy},
          {"temperature 1", temperature},
          {"temperature 1, top_p 0.9", nucleus},
          {"temperature 1, top_p 0.9, min_p 0.05", nucleus_min_p},
          {"temperature 0.7, top_k 40, top_p 0.95", combined},
          {"top_k 40, penalties", top_k}};
}

}  // namespace

std::vector<float> PeakedLogits(absl::Span<const float> logits) {
  double sum = 0, sum_sq = 0;
  for (const float x : logits) {
    sum += x;
    sum_sq += static_cast<double>(x) * x;
  }
  const double n = std::max<double>(1, logits.size());
  const double mean = sum / n;
  const double sd = std::sqrt(std::max(sum_sq / n - mean * mean, 1e-12));
  constexpr double kPeakedSd = 4.0;
  std::vector<float> out(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    out[i] = static_cast<float>((logits[i] - mean) / sd * kPeakedSd);
  }
  return out;
}

absl::StatusOr<std::vector<SamplingCost>> MeasureSampling(absl::Span<const float> logits,
                                                          double min_seconds) {
  std::vector<SamplingCost> costs;
  for (auto& [name, params] : Settings()) {
    absl::StatusOr<Sampler> sampler =
        Sampler::Create(params, static_cast<int32_t>(logits.size()));
    if (!sampler.ok()) return sampler.status();
    const absl::Time start = absl::Now();
    int64_t calls = 0;
    double elapsed = 0;
    while (calls < 10 || elapsed < min_seconds) {
      // Accepting what it drew makes the penalties grow as in a real generation.
      sampler->Accept(sampler->Sample(logits));
      ++calls;
      elapsed = absl::ToDoubleSeconds(absl::Now() - start);
    }
    costs.push_back({name, elapsed / static_cast<double>(calls) * 1e6});
  }
  return costs;
}

}  // namespace rwkv::engine
