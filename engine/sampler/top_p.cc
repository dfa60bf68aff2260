#include "engine/sampler/top_p.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <vector>

#include "engine/compute/vector_math.h"
#include "engine/sampler/score_order.h"

namespace rwkv::engine {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr int32_t kLastBucket = kTopPBuckets - 1;

// weights[i] = e^((score_i - max) / temperature) and buckets[i] its top-p bucket, in one pass;
// returns the weights' sum in the lane order Sampler::ComputeWeights uses, so the target mass
// comes out the same. kUnitTemperature skips the division (as costly as the exp, and exact by 1).
template <bool kUnitTemperature>
inline double WeighAndBucketWith(const float* scores, int32_t n, float max_score,
                                 float temperature, float buckets_per_score, float* weights,
                                 int32_t* buckets) {
  return LaneSum<double>(n, [&](int64_t i) {
    const float score = Sanitize(scores[i]);
    const float log_weight = score - max_score;
    weights[i] = Exp(kUnitTemperature ? log_weight : log_weight / temperature);
    buckets[i] = TopPBucket(max_score - score, buckets_per_score);
    return static_cast<double>(weights[i]);
  });
}
RWKV_VECTOR_CLONES double WeighAndBucket(const float* scores, int32_t n, float max_score,
                                         float temperature, float buckets_per_score,
                                         float* weights, int32_t* buckets) {
  return temperature == 1.0f ? WeighAndBucketWith<true>(scores, n, max_score, temperature,
                                                        buckets_per_score, weights, buckets)
                             : WeighAndBucketWith<false>(scores, n, max_score, temperature,
                                                         buckets_per_score, weights, buckets);
}

// The mass per bucket, IDs spread round-robin over kTopPHistograms histograms, then added into
// the first. Exact for every bucket but the last (see top_p.h).
void HistogramMass(const int32_t* buckets, const float* weights, int32_t n, double* histograms) {
  std::fill(histograms, histograms + kTopPBuckets * kTopPHistograms, 0.0);
  int32_t i = 0;
  for (; i + kTopPHistograms <= n; i += kTopPHistograms) {
    for (int32_t h = 0; h < kTopPHistograms; ++h) {
      histograms[h * kTopPBuckets + buckets[i + h]] += weights[i + h];
    }
  }
  for (; i < n; ++i) histograms[buckets[i]] += weights[i];
  for (int32_t h = 1; h < kTopPHistograms; ++h) {
    for (int32_t b = 0; b < kTopPBuckets; ++b) histograms[b] += histograms[h * kTopPBuckets + b];
  }
}

// The IDs in `bucket` into `ids` (room for n), ascending; their count. Blocks without one are
// skipped after a vectorized test, the others written branch-free: on flat logits the boundary
// bucket's IDs are spread thinly over most of the vocabulary.
RWKV_VECTOR_CLONES int32_t CollectBucket(const int32_t* buckets, int32_t n, int32_t bucket,
                                         int32_t* ids) {
  constexpr int32_t kBlock = 16;
  int32_t count = 0;
  for (int32_t begin = 0; begin < n; begin += kBlock) {
    const int32_t end = std::min(n, begin + kBlock);
    int32_t hits = 0;
    for (int32_t i = begin; i < end; ++i) hits |= buckets[i] == bucket;
    if (hits == 0) continue;
    for (int32_t i = begin; i < end; ++i) {
      ids[count] = i;
      count += buckets[i] == bucket;
    }
  }
  return count;
}

// The last bucket's mass summed in ID order, as a token-by-token histogram sums it.
double LastBucketMass(const int32_t* buckets, const float* weights, int32_t n) {
  double mass = 0.0;
  for (int32_t i = 0; i < n; ++i) {
    if (buckets[i] == kLastBucket) mass += weights[i];
  }
  return mass;
}

// PivotInBucket over rank codes: sorting plain integers is several times cheaper than ranking
// IDs by their scores.
int32_t PivotInCodes(const float* weights, double mass, double target, uint64_t* codes,
                     int32_t count) {
  std::sort(codes, codes + count);
  int32_t id = 0;
  for (int32_t i = 0; i < count; ++i) {
    id = static_cast<int32_t>(codes[i] & 0xffffffffu);
    mass += weights[id];
    if (mass >= target) return id;
  }
  return id;
}

// The worst ID the nucleus keeps: the boundary bucket's, ranked as rank codes when they fit in
// the scratch, else by their scores. `n` when the bucket holds no finite score.
int32_t FindPivot(const float* scores, const float* weights, int32_t n, int32_t boundary,
                  double mass, double target, const DenseCutScratch& scratch) {
  int32_t* ids = scratch.boundary_ids.data();
  const int32_t listed = CollectBucket(scratch.buckets.data(), n, boundary, ids);
  const int32_t banned_key = OrderKey(-kInf);
  int32_t count = 0;
  for (int32_t j = 0; j < listed; ++j) {
    if (OrderKey(scores[ids[j]]) != banned_key) ids[count++] = ids[j];
  }
  if (count == 0) return n;
  if (count > static_cast<int32_t>(scratch.rank_codes.size())) {
    return PivotInBucket(scores, weights, mass, target, absl::MakeSpan(ids, count));
  }
  uint64_t* codes = scratch.rank_codes.data();
  for (int32_t j = 0; j < count; ++j) codes[j] = RankCode(OrderKey(scores[ids[j]]), ids[j]);
  return PivotInCodes(weights, mass, target, codes, count);
}

// Zeroes the weights of the IDs ranked below `pivot` (key and ID) or under `min_weight`, and
// sums each block of `block` IDs as Sampler::DrawDense does. Integer selects only, so it
// vectorizes.
RWKV_VECTOR_CLONES void KeepAndBlockSums(const float* scores, int32_t n, int32_t block,
                                         int32_t pivot_key, int32_t pivot, float min_weight,
                                         float* weights, double* block_mass) {
  // Weights are >= 0, so their bits order as they do; a min_p of -0 cuts nothing, as 0.
  const uint32_t min_bits = min_weight > 0.0f ? std::bit_cast<uint32_t>(min_weight) : 0u;
  for (int32_t begin = 0; begin < n; begin += block) {
    const float* s = scores + begin;
    float* w = weights + begin;
    // IDs after the pivot's, relative to the block: ties with the pivot are kept up to it.
    const int64_t last_tie = static_cast<int64_t>(pivot) - begin;
    block_mass[begin / block] = LaneSum<double>(std::min(block, n - begin), [&](int64_t j) {
      const int32_t key = OrderKey(s[j]);
      const uint32_t bits = std::bit_cast<uint32_t>(w[j]);
      const uint32_t kept =
          (static_cast<uint32_t>(key > pivot_key) |
           (static_cast<uint32_t>(key == pivot_key) & static_cast<uint32_t>(j <= last_tie))) &
          static_cast<uint32_t>(bits >= min_bits);
      w[j] = std::bit_cast<float>(bits & (0u - kept));
      return static_cast<double>(w[j]);
    });
  }
}

}  // namespace

int32_t BoundaryBucket(absl::Span<const double> bucket_mass, double target, double* mass) {
  int32_t boundary = 0;
  const int32_t count = static_cast<int32_t>(bucket_mass.size());
  while (boundary < count && *mass + bucket_mass[boundary] < target) {
    *mass += bucket_mass[boundary++];
  }
  return boundary;
}

int32_t PivotInBucket(const float* scores, const float* weights, double mass, double target,
                      absl::Span<int32_t> ids) {
  auto ranks_above = [scores](int32_t a, int32_t b) { return RanksAbove(scores, a, b); };
  // IDs come ascending, so a bucket of equal scores (a constant row) is already ranked.
  if (!std::is_sorted(ids.begin(), ids.end(), ranks_above)) {
    std::sort(ids.begin(), ids.end(), ranks_above);
  }
  for (const int32_t id : ids) {
    mass += weights[id];
    if (mass >= target) return id;
  }
  return ids.back();
}

void CutAndWeigh(const float* scores, int32_t n, float max_score, const DenseCut& cut,
                 int32_t block, const DenseCutScratch& scratch, float* weights,
                 double* block_mass) {
  int32_t* buckets = scratch.buckets.data();
  const double total = WeighAndBucket(scores, n, max_score, cut.temperature,
                                      TopPBucketsPerScore(cut.temperature), weights, buckets);
  // No nucleus cut: every ID ranks at or above the lowest key and the ID past the last.
  int32_t pivot_key = std::numeric_limits<int32_t>::min();
  int32_t pivot = n;
  if (cut.top_p < 1.0f) {
    double* histogram = scratch.histograms.data();
    HistogramMass(buckets, weights, n, histogram);
    const double target = static_cast<double>(cut.top_p) * total;
    const absl::Span<const double> masses(histogram, kTopPBuckets);
    double mass = 0.0;
    int32_t boundary = BoundaryBucket(masses, target, &mass);
    if (boundary >= kLastBucket) {  // the last bucket counts: sum it as the reference does
      histogram[kLastBucket] = LastBucketMass(buckets, weights, n);
      mass = 0.0;
      boundary = BoundaryBucket(masses, target, &mass);
    }
    if (boundary < kTopPBuckets) {
      pivot = FindPivot(scores, weights, n, boundary, mass, target, scratch);
      if (pivot < n) pivot_key = OrderKey(scores[pivot]);
    }
  }
  KeepAndBlockSums(scores, n, block, pivot_key, pivot, cut.min_p, weights, block_mass);
}

}  // namespace rwkv::engine
