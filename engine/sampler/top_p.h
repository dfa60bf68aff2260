// Top-p (nucleus) and min-p cuts for the Sampler, without sorting the nucleus.
//
// The mass is histogrammed by log-weight; the bucket where the cumulative mass reaches
// top_p * total is the only one whose tokens need ranking. A bucket's weights lie within a
// factor e^(1/32) of each other, so their double sum is exact in any order (up to 2^27 of them:
// 24 bits each, 2 binades, 27 bits of count fit in a double's 53): the histogram may
// be built in any order and still finds the same nucleus as one built token by token (the
// catch-all last bucket, whose weights span many binades, is summed in ID order when needed).
//
//   const double total = ...;  // the sum of weights over the candidates
//   double mass = 0;
//   int32_t boundary = BoundaryBucket(histogram, top_p * total, &mass);
//   if (boundary < kTopPBuckets) pivot = PivotInBucket(scores, weights, mass, target, ids);
//   // keep every candidate ranked at or above `pivot`
//
// CutAndWeigh does all of it over the whole vocabulary in a few vectorized passes.
#ifndef RWKV_ENGINE_SAMPLER_TOP_P_H_
#define RWKV_ENGINE_SAMPLER_TOP_P_H_

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <vector>

#include "absl/types/span.h"

namespace rwkv::engine {

// Buckets 1/32 wide in log-weight ((max - score) / temperature), the last catching weights
// under e^-32.
inline constexpr int32_t kTopPBuckets = 1024;
inline constexpr float kTopPBucketsPerUnit = 32.0f;
// CutAndWeigh fills this many histograms side by side, so that tokens falling in one bucket
// back to back do not wait on each other's additions.
inline constexpr int32_t kTopPHistograms = 4;
// CutAndWeigh ranks a boundary bucket of up to this many IDs as packed integers; a larger one
// (logits flatter than a standard deviation of about 0.2 over 65536 tokens, or many ties) as a
// list of IDs.
inline constexpr int32_t kTopPRankCodes = 4096;

// Multiplier from a score's distance below the best to its bucket. Capped: a denormal
// temperature would make it inf, and the best token's 0 * inf NaN.
inline float TopPBucketsPerScore(float temperature) {
  return std::min(kTopPBucketsPerUnit / temperature, std::numeric_limits<float>::max());
}

// The bucket of a score `distance` (>= 0, or inf, or NaN) below the best: floor(depth) under
// the last bucket, else the last. It never decreases as the score falls, so each bucket ranks
// wholly above the next. Integer min on the bit pattern so that loops vectorize, and
// no float-to-int conversion ever overflows.
inline int32_t TopPBucket(float distance, float buckets_per_score) {
  constexpr uint32_t kLast = std::bit_cast<uint32_t>(static_cast<float>(kTopPBuckets - 1));
  const uint32_t depth = std::bit_cast<uint32_t>(distance * buckets_per_score) & 0x7fffffffu;
  return static_cast<int32_t>(std::bit_cast<float>(depth < kLast ? depth : kLast));
}

// The first bucket at which `mass` plus the buckets' masses so far reaches `target`, leaving
// in *mass the mass before it; kTopPBuckets when rounding keeps the total short of it.
int32_t BoundaryBucket(absl::Span<const double> bucket_mass, double target, double* mass);

// Ranks `ids` (the boundary bucket's candidates, non-empty) best first and returns the first at
// which `mass` plus their weights reaches `target`: the worst candidate kept. The last one when
// rounding never gets there.
int32_t PivotInBucket(const float* scores, const float* weights, double mass, double target,
                      absl::Span<int32_t> ids);

struct DenseCut {
  float temperature = 1.0f;
  float top_p = 1.0f;  // 1: no nucleus cut
  float min_p = 0.0f;  // 0: no min-p cut
};

// Scratch for CutAndWeigh, owned by the caller so that it allocates nothing.
struct DenseCutScratch {
  absl::Span<int32_t> buckets;       // one per ID
  absl::Span<double> histograms;     // kTopPBuckets * kTopPHistograms
  absl::Span<int32_t> boundary_ids;  // one per ID
  absl::Span<uint64_t> rank_codes;   // kTopPRankCodes
};

// Over IDs [0, n) of `scores` (sanitized on the fly; `max_score` the sanitized maximum,
// finite): weights[i] = e^((score_i - max_score) / temperature) for the IDs the nucleus and then
// min-p keep, 0 for the others; block_mass[b] the sum of weights[b * block, (b + 1) * block).
// Keeps the same IDs as top-p and min-p applied one token at a time to the finite scores.
void CutAndWeigh(const float* scores, int32_t n, float max_score, const DenseCut& cut,
                 int32_t block, const DenseCutScratch& scratch, float* weights, double* block_mass);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_SAMPLER_TOP_P_H_
