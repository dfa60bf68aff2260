#include "engine/sampler/sampler.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "engine/compute/vector_math.h"
#include "engine/sampler/score_order.h"
#include "engine/sampler/top_p.h"

namespace rwkv::engine {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
// A bias of exactly this much bans the token, as in OpenAI's API.
constexpr float kBanBias = -100.0f;
constexpr float kMaxBias = 100.0f;
// Up to this k, top-k scans the scores once with a k-element heap (most tokens fail a single
// comparison with its root); above, nth_element on the candidates is cheaper.
constexpr size_t kMaxHeapTopK = 1024;

constexpr std::string_view kRngMagic = "RWKVRNG1";  // xoshiro256**, 4 little-endian words
constexpr size_t kRngStateBytes = kRngMagic.size() + 4 * sizeof(uint64_t);

// Checks lo <= value <= hi (lo < value when lo_open), rejecting NaN and infinities.
absl::Status CheckFloat(std::string_view name, float value, float lo, float hi, bool lo_open) {
  const bool above_lo = lo_open ? value > lo : value >= lo;
  if (std::isfinite(value) && above_lo && value <= hi) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrFormat("%s must be in %c%g, %g], got %g", name, lo_open ? '(' : '[', lo, hi, value));
}

absl::Status CheckInt(std::string_view name, int64_t value, int64_t lo, int64_t hi) {
  if (value >= lo && value <= hi) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrFormat("%s must be in [%d, %d], got %d", name, lo, hi, value));
}

absl::Status CheckLogitBias(const SamplingParams& params, int32_t vocab_size) {
  for (size_t i = 0; i < params.logit_bias.size(); ++i) {
    const auto [token, bias] = params.logit_bias[i];
    if (token < 0 || token >= vocab_size) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "logit_bias[%d] token id must be in [0, %d), got %d", i, vocab_size, token));
    }
    RWKV_RETURN_IF_ERROR(CheckFloat(absl::StrFormat("logit_bias[%d] bias for token %d", i, token),
                                    bias, kBanBias, kMaxBias, /*lo_open=*/false));
  }
  return absl::OkStatus();
}

RWKV_VECTOR_CLONES void SanitizeAll(const float* logits, size_t n, float* scores) {
  for (size_t i = 0; i < n; ++i) scores[i] = Sanitize(logits[i]);
}

// The highest kKey (OrderKey, or KeyBound below) of scores[0, n).
template <int32_t (*kKey)(float) = OrderKey>
inline int32_t MaxKey(const float* scores, int32_t n) {
  int32_t max_key = std::numeric_limits<int32_t>::min();
  for (int32_t i = 0; i < n; ++i) max_key = std::max(max_key, kKey(scores[i]));
  return max_key;
}

// OrderKey without sanitizing (a third of its work): a bound for top-k's tests. It is
// OrderKey's for finite scores but -0 (-1 for 0, and no OrderKey lies between), above it for
// +inf, and anything for NaN and -inf, which never rank above a score. So `KeyBound(s) > t`
// holds for every score s whose OrderKey beats an OrderKey t (and maybe for others).
inline int32_t KeyBound(float score) {
  const int32_t bits = std::bit_cast<int32_t>(score);
  return bits ^ ((bits >> 31) & 0x7fffffff);
}

// The highest KeyBound of scores[0, n): a block whose bound does not beat a key holds no score
// that does.
RWKV_VECTOR_CLONES int32_t MaxKeyBound(const float* scores, int32_t n) {
  return MaxKey<KeyBound>(scores, n);
}

// flags[i] = whether KeyBound(scores[i]) > threshold, for i in [0, n); whether any is. One
// vectorized pass: top-k checks only the flagged IDs of a block (a superset of those beating it).
RWKV_VECTOR_CLONES bool FlagAbove(const float* scores, int32_t n, int32_t threshold,
                                  uint8_t* flags) {
  uint8_t any = 0;
  for (int32_t i = 0; i < n; ++i) {
    flags[i] = KeyBound(scores[i]) > threshold;
    any |= flags[i];
  }
  return any != 0;
}

// The lowest ID of the highest score: the block holding the maximum first (vectorized maxima
// over blocks, the earliest block on ties), then the first ID in it that reaches it.
RWKV_VECTOR_CLONES int32_t FirstArgMax(const float* scores, int32_t n) {
  constexpr int32_t kBlock = 256;
  int32_t best_key = std::numeric_limits<int32_t>::min();
  int32_t best_block = 0;
  for (int32_t begin = 0; begin < n; begin += kBlock) {
    const int32_t block_max = MaxKey(scores + begin, std::min(kBlock, n - begin));
    if (block_max > best_key) {
      best_key = block_max;
      best_block = begin;
    }
  }
  for (int32_t i = best_block; i < n; ++i) {
    if (OrderKey(scores[i]) == best_key) return i;
  }
  return 0;
}

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t RotateLeft(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }


// weights[i] = e^((scores[i] - max) / temperature) over the whole vocabulary: 0 exactly for a
// banned (-inf) score. Returns their sum, in a fixed lane order (compute/vector_math.h).
RWKV_VECTOR_CLONES double DenseWeights(const float* scores, int32_t n, float max_score,
                                       float temperature, float* weights) {
  return LaneSum<double>(n, [&](int64_t i) {
    weights[i] = Exp((scores[i] - max_score) / temperature);
    return static_cast<double>(weights[i]);
  });
}
RWKV_VECTOR_CLONES double BlockSum(const float* weights, int32_t n) {
  return LaneSum<double>(n, [&](int64_t i) { return static_cast<double>(weights[i]); });
}
// DenseWeights and then BlockSum over each block of `block` IDs, in one pass: the same numbers
// (each block's lanes start at its first ID either way).
RWKV_VECTOR_CLONES void DenseBlockWeights(const float* scores, int32_t n, int32_t block,
                                          float max_score, float temperature, float* weights,
                                          double* block_mass) {
  for (int32_t begin = 0; begin < n; begin += block) {
    const float* s = scores + begin;
    float* w = weights + begin;
    block_mass[begin / block] = LaneSum<double>(std::min(block, n - begin), [&](int64_t i) {
      w[i] = Exp((Sanitize(s[i]) - max_score) / temperature);
      return static_cast<double>(w[i]);
    });
  }
}

}  // namespace

absl::Status ValidateSamplingParams(const SamplingParams& params, int32_t vocab_size) {
  if (vocab_size <= 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("vocab_size must be positive, got %d", vocab_size));
  }
  RWKV_RETURN_IF_ERROR(CheckFloat("temperature", params.temperature, 0, 100, false));
  RWKV_RETURN_IF_ERROR(CheckInt("top_k", params.top_k, 0, vocab_size));
  RWKV_RETURN_IF_ERROR(CheckFloat("top_p", params.top_p, 0, 1, /*lo_open=*/true));
  RWKV_RETURN_IF_ERROR(CheckFloat("min_p", params.min_p, 0, 1, false));
  RWKV_RETURN_IF_ERROR(CheckFloat("presence_penalty", params.presence_penalty, -2, 2, false));
  RWKV_RETURN_IF_ERROR(CheckFloat("frequency_penalty", params.frequency_penalty, -2, 2, false));
  RWKV_RETURN_IF_ERROR(
      CheckFloat("repetition_penalty", params.repetition_penalty, 0, 10, /*lo_open=*/true));
  if (params.penalty_window < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("penalty_window must be >= 0, got %d", params.penalty_window));
  }
  return CheckLogitBias(params, vocab_size);
}

absl::StatusOr<Sampler> Sampler::Create(const SamplingParams& params, int32_t vocab_size) {
  RWKV_RETURN_IF_ERROR(ValidateSamplingParams(params, vocab_size));
  return Sampler(params, vocab_size);
}

namespace {

// Top-p and min-p cut the candidates by mass, which takes the bucket histograms and the rank
// codes (top_p.h); other draws hold neither.
bool CutsByMass(const SamplingParams& params) {
  return params.top_p < 1.0f || params.min_p > 0.0f;
}
size_t HistogramEntries(const SamplingParams& params) {
  return CutsByMass(params) ? static_cast<size_t>(kTopPBuckets) * kTopPHistograms : 0;
}
// A boundary bucket never holds more IDs than the vocabulary; top-k's heap holds k codes.
size_t RankCodes(const SamplingParams& params, int32_t vocab_size) {
  const size_t cut = CutsByMass(params) ? std::min(kTopPRankCodes, vocab_size) : 0;
  const size_t k = static_cast<size_t>(params.top_k);
  return std::max(cut, k <= kMaxHeapTopK ? k : 0);
}

}  // namespace

Sampler::Sampler(const SamplingParams& params, int32_t vocab_size)
    : params_(params),
      vocab_size_(vocab_size),
      scores_(vocab_size),
      weights_(vocab_size),
      bucket_mass_(HistogramEntries(params)),
      rank_codes_(RankCodes(params, vocab_size)),
      block_mass_((static_cast<size_t>(vocab_size) + kDrawBlock - 1) / kDrawBlock) {
  candidates_.reserve(vocab_size);
  scratch_.reserve(vocab_size);
  uint64_t seed_state = params.seed;
  for (uint64_t& word : rng_) word = SplitMix64(seed_state);
}

int64_t Sampler::ScratchBytes(int32_t vocab_size, const SamplingParams& params) {
  // scores_, weights_, candidates_ and scratch_ (one entry per id each), bucket_mass_ and
  // rank_codes_ (top-p's and min-p's, top-k's heap), block_mass_ (one per kDrawBlock ids).
  const int64_t per_id = sizeof(float) + sizeof(float) + 2 * sizeof(int32_t);
  const int64_t cuts = static_cast<int64_t>(HistogramEntries(params) * sizeof(double) +
                                            RankCodes(params, vocab_size) * sizeof(uint64_t));
  return per_id * vocab_size + cuts +
         (vocab_size + kDrawBlock - 1) / kDrawBlock * static_cast<int64_t>(sizeof(double));
}

void Sampler::Accept(int32_t token) {
  if (token < 0 || token >= vocab_size_) return;
  ++counts_[token];
  const size_t window = static_cast<size_t>(params_.penalty_window);
  if (window == 0) return;
  if (ring_.size() < window) {
    ring_.push_back(token);
    return;
  }
  // The window is full: the oldest token leaves it as the new one enters.
  const int32_t evicted = ring_[ring_head_];
  auto it = counts_.find(evicted);
  if (--it->second == 0) counts_.erase(it);
  ring_[ring_head_] = token;
  ring_head_ = (ring_head_ + 1) % window;
}

int32_t Sampler::Sample(absl::Span<const float> logits) {
  // Nothing to add to the logits: rank and weigh them where they are, sanitized on the fly,
  // rather than copy the vocabulary first. A top-k past the heap's lists every ID and ranks
  // them by nth_element, whose comparisons cost less on the prepared floats than as keys.
  const bool as_given = logits.size() == scores_.size() && params_.logit_bias.empty() &&
                        !Penalizes() && static_cast<size_t>(params_.top_k) <= kMaxHeapTopK;
  if (!as_given) PrepareScores(logits);
  const float* scores = as_given ? logits.data() : scores_.data();
  // Temperature alone: every finite ID is a candidate, so none need listing. Without a top-k
  // the top-p and min-p cuts run over the whole vocabulary too (DrawCut).
  const bool no_top_k = params_.top_k == 0;
  if (params_.temperature == 0.0f) return FirstArgMax(scores, vocab_size_);
  if (no_top_k && params_.top_p >= 1.0f && params_.min_p == 0.0f) return DrawAll(scores);
  if (no_top_k) return DrawCut(scores);
  CollectCandidates(scores);
  // Everything is banned; nothing sensible to draw.
  if (candidates_.empty()) return FirstArgMax(scores, vocab_size_);
  const double total_weight = ComputeWeights();
  if (params_.top_p < 1.0f) ApplyTopP(total_weight);
  if (params_.min_p > 0.0f) ApplyMinP();
  return Draw();
}

void Sampler::PrepareScores(absl::Span<const float> logits) {
  const size_t n = std::min(logits.size(), scores_.size());
  SanitizeAll(logits.data(), n, scores_.data());
  std::fill(scores_.begin() + n, scores_.end(), -kInf);
  for (const auto& [token, bias] : params_.logit_bias) {
    scores_[token] = bias == kBanBias ? -kInf : Sanitize(scores_[token] + bias);
  }
  ApplyPenalties();
}

bool Sampler::Penalizes() const {
  return params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f ||
         params_.repetition_penalty != 1.0f;
}

void Sampler::ApplyPenalties() {
  const float presence = params_.presence_penalty;
  const float frequency = params_.frequency_penalty;
  const float repetition = params_.repetition_penalty;
  if (!Penalizes()) return;
  for (const auto& [token, count] : counts_) {
    float score = scores_[token];
    if (repetition != 1.0f) score = score > 0.0f ? score / repetition : score * repetition;
    score -= static_cast<float>(count) * frequency + presence;
    scores_[token] = Sanitize(score);
  }
}

int32_t Sampler::ArgMax() const { return FirstArgMax(scores_.data(), vocab_size_); }

void Sampler::CollectCandidates(const float* scores) {
  const size_t k = static_cast<size_t>(params_.top_k);
  if (k > 0 && k <= kMaxHeapTopK) return CollectTopK(scores, k);
  // The list reads scores_: Sample() prepares them for it.
  // Every ID is written, and the count only moves past the finite ones: no branch to mispredict.
  candidates_.resize(static_cast<size_t>(vocab_size_));  // within its capacity: no allocation
  size_t count = 0;
  for (int32_t id = 0; id < vocab_size_; ++id) {
    candidates_[count] = id;
    count += scores_[id] != -kInf;
  }
  candidates_.resize(count);
  max_score_ = count > 0 ? scores_[ArgMax()] : -kInf;
  all_finite_ = true;
  if (k == 0 || k >= candidates_.size()) return;
  all_finite_ = false;
  auto better = [this](int32_t a, int32_t b) { return Better(a, b); };
  scratch_.assign(candidates_.begin(), candidates_.end());
  std::nth_element(scratch_.begin(), scratch_.begin() + (k - 1), scratch_.end(), better);
  KeepRankedAtOrAbove(scratch_[k - 1]);
}

void Sampler::CollectTopK(const float* scores, size_t k) {
  // A k-element max-heap of rank codes (score_order.h) whose root is the worst kept token. IDs
  // arrive in ascending order, so a newcomer beats the root only with a strictly higher key.
  // Once the heap is full, a block of IDs none of which beats the root is skipped after one
  // vectorized maximum (MaxKeyBound): on most steps few tokens ever reach the heap. The IDs of
  // the other blocks are flagged against the root's key (-inf's until the heap is full) and only
  // the flagged ones checked, by OrderKey: flags are a superset, and the root only rises.
  constexpr int32_t kBlock = 64;
  std::array<uint8_t, kBlock> flags{};
  uint64_t* heap = rank_codes_.data();  // room for k (RankCodes)
  size_t size = 0;
  int32_t root_key = OrderKey(-kInf);
  auto offer = [&](int32_t id) {
    const int32_t key = OrderKey(scores[id]);
    if (key <= root_key) return;
    if (size < k) {
      heap[size++] = RankCode(key, id);
      std::push_heap(heap, heap + size);
    } else {
      std::pop_heap(heap, heap + k);
      heap[k - 1] = RankCode(key, id);
      std::push_heap(heap, heap + k);
    }
    if (size == k) root_key = RankCodeKey(heap[0]);
  };
  for (int32_t begin = 0; begin < vocab_size_; begin += kBlock) {
    const int32_t count = std::min(kBlock, vocab_size_ - begin);
    if (size == k && MaxKeyBound(scores + begin, count) <= root_key) continue;
    if (count < kBlock) flags.fill(0);  // the last block's unused flags stay clear
    if (!FlagAbove(scores + begin, count, root_key, flags.data())) continue;
    // Eight flags to a word, visited lowest ID first (each flag is a word's bit 8 * byte).
    static_assert(std::endian::native == std::endian::little);
    for (int32_t word = 0; word < kBlock; word += 8) {
      uint64_t bits;
      std::memcpy(&bits, flags.data() + word, sizeof(bits));
      for (; bits != 0; bits &= bits - 1) offer(begin + word + std::countr_zero(bits) / 8);
    }
  }
  candidates_.resize(size);  // within its capacity: no allocation
  for (size_t i = 0; i < size; ++i) candidates_[i] = RankCodeId(heap[i]);
  std::sort(candidates_.begin(), candidates_.end());
  all_finite_ = false;
  // The later steps read scores_ at the candidates only: theirs, sanitized, are all it needs
  // when `scores` is the logits row.
  max_score_ = -kInf;
  for (const int32_t id : candidates_) {
    scores_[id] = Sanitize(scores[id]);
    max_score_ = std::max(max_score_, scores_[id]);
  }
}

void Sampler::KeepRankedAtOrAbove(int32_t pivot) {
  // Better(pivot, id) without its short-circuit: on a flat distribution which side a candidate
  // falls is a coin toss, and a branch on it mispredicts half the time.
  const float pivot_score = scores_[pivot];
  size_t kept = 0;
  for (const int32_t id : candidates_) {
    const float score = scores_[id];
    const bool below = (pivot_score > score) | ((pivot_score == score) & (pivot < id));
    candidates_[kept] = id;
    kept += !below;
  }
  candidates_.resize(kept);
  all_finite_ = false;
}

double Sampler::ComputeWeights() {
  // Subtracting the maximum keeps exp() in range; the best candidate gets weight exactly 1.
  // Dividing (not multiplying by 1 / T) keeps a denormal temperature from making 0 * inf.
  const float temperature = params_.temperature;
  // Every finite ID is a candidate: all of them at once, vectorized (the others weigh 0).
  if (all_finite_) {
    return DenseWeights(scores_.data(), vocab_size_, max_score_, temperature, weights_.data());
  }
  double total = 0.0;
  for (const int32_t id : candidates_) {
    const float weight = Exp((scores_[id] - max_score_) / temperature);
    weights_[id] = weight;
    total += weight;
  }
  return total;
}

void Sampler::ApplyTopP(double total_weight) {
  // Only the candidates in the bucket where the mass reaches top_p are ranked (top_p.h).
  const float buckets_per_score = TopPBucketsPerScore(params_.temperature);
  auto bucket_of = [&](int32_t id) {
    return TopPBucket(max_score_ - scores_[id], buckets_per_score);
  };
  std::fill(bucket_mass_.begin(), bucket_mass_.begin() + kTopPBuckets, 0.0);
  for (const int32_t id : candidates_) bucket_mass_[bucket_of(id)] += weights_[id];
  const double target = static_cast<double>(params_.top_p) * total_weight;
  double mass = 0.0;
  const int32_t boundary =
      BoundaryBucket(absl::MakeConstSpan(bucket_mass_.data(), kTopPBuckets), target, &mass);
  if (boundary == kTopPBuckets) return;  // rounding: the mass never quite reaches the target
  scratch_.clear();
  for (const int32_t id : candidates_) {
    if (bucket_of(id) == boundary) scratch_.push_back(id);
  }
  KeepRankedAtOrAbove(
      PivotInBucket(scores_.data(), weights_.data(), mass, target, absl::MakeSpan(scratch_)));
}

void Sampler::ApplyMinP() {
  // The best candidate has weight 1, so min_p * p_max is min_p in weight units.
  const float threshold = params_.min_p;
  candidates_.erase(std::remove_if(candidates_.begin(), candidates_.end(),
                                   [&](int32_t id) { return weights_[id] < threshold; }),
                    candidates_.end());
  all_finite_ = false;
}

int32_t Sampler::Draw() {
  if (all_finite_) return DrawDense();
  double total = 0.0;
  for (const int32_t id : candidates_) total += weights_[id];
  const double target = NextUniform() * total;
  double mass = 0.0;
  int32_t last_positive = candidates_.front();
  for (const int32_t id : candidates_) {
    if (weights_[id] <= 0.0f) continue;
    mass += weights_[id];
    last_positive = id;
    if (target < mass) return id;
  }
  return last_positive;  // rounding left target just past the final sum
}

int32_t Sampler::DrawAll(const float* scores) {
  const int32_t best = FirstArgMax(scores, vocab_size_);
  max_score_ = Sanitize(scores[best]);
  if (max_score_ == -kInf) return best;  // everything is banned; nothing sensible to draw
  DenseBlockWeights(scores, vocab_size_, kDrawBlock, max_score_, params_.temperature,
                    weights_.data(), block_mass_.data());
  return DrawFromBlocks(best);
}

int32_t Sampler::DrawCut(const float* scores) {
  const int32_t best = FirstArgMax(scores, vocab_size_);
  max_score_ = Sanitize(scores[best]);
  if (max_score_ == -kInf) return best;  // everything is banned; nothing sensible to draw
  // The dense path never lists candidates: scratch_ holds each ID's top-p bucket and
  // candidates_ the boundary bucket's IDs (both within their capacity: no allocation).
  scratch_.resize(static_cast<size_t>(vocab_size_));
  candidates_.resize(static_cast<size_t>(vocab_size_));
  const DenseCut cut{params_.temperature, params_.top_p, params_.min_p};
  CutAndWeigh(scores, vocab_size_, max_score_, cut, kDrawBlock,
              {absl::MakeSpan(scratch_), absl::MakeSpan(bucket_mass_), absl::MakeSpan(candidates_),
               absl::MakeSpan(rank_codes_)},
              weights_.data(), block_mass_.data());
  return DrawFromBlocks(best);
}

int32_t Sampler::DrawDense() {
  // Every ID is a candidate (banned ones weigh 0): the mass of each block of IDs first, summed
  // in a fixed lane order, then the one block that holds the target, ID by ID.
  for (int32_t begin = 0; begin < vocab_size_; begin += kDrawBlock) {
    const int32_t count = std::min(kDrawBlock, vocab_size_ - begin);
    block_mass_[begin / kDrawBlock] = BlockSum(weights_.data() + begin, count);
  }
  return DrawFromBlocks(ArgMax());
}

int32_t Sampler::DrawFromBlocks(int32_t best) {
  constexpr int32_t kBlock = kDrawBlock;
  double total = 0.0;
  for (int32_t begin = 0; begin < vocab_size_; begin += kBlock) total += block_mass_[begin / kBlock];
  const double target = NextUniform() * total;
  double mass = 0.0;
  int32_t begin = 0;
  while (begin + kBlock < vocab_size_ && mass + block_mass_[begin / kBlock] <= target) {
    mass += block_mass_[begin / kBlock];
    begin += kBlock;
  }
  int32_t last_positive = -1;
  for (int32_t id = begin; id < std::min(vocab_size_, begin + kBlock); ++id) {
    if (weights_[id] <= 0.0f) continue;
    mass += weights_[id];
    last_positive = id;
    if (target < mass) return id;
  }
  // Rounding left target past the final sum: the last positive one, else the best.
  return last_positive >= 0 ? last_positive : best;
}

uint64_t Sampler::NextRandom() {
  // xoshiro256** (Blackman & Vigna), written out so results never depend on <random>.
  const uint64_t result = RotateLeft(rng_[1] * 5, 7) * 9;
  const uint64_t t = rng_[1] << 17;
  rng_[2] ^= rng_[0];
  rng_[3] ^= rng_[1];
  rng_[1] ^= rng_[2];
  rng_[0] ^= rng_[3];
  rng_[2] ^= t;
  rng_[3] = RotateLeft(rng_[3], 45);
  return result;
}

double Sampler::NextUniform() { return static_cast<double>(NextRandom() >> 11) * 0x1.0p-53; }

std::string Sampler::SerializeRngState() const {
  std::string out(kRngMagic);
  for (const uint64_t word : rng_) {
    for (int byte = 0; byte < 8; ++byte) out.push_back(static_cast<char>(word >> (8 * byte)));
  }
  return out;
}

absl::Status Sampler::RestoreRngState(std::string_view state) {
  if (state.size() != kRngStateBytes || state.substr(0, kRngMagic.size()) != kRngMagic) {
    return absl::InvalidArgumentError(
        absl::StrFormat("RNG state must be %d bytes starting with \"%s\", got %d bytes",
                        kRngStateBytes, kRngMagic, state.size()));
  }
  std::array<uint64_t, 4> words{};
  const std::string_view payload = state.substr(kRngMagic.size());
  for (size_t i = 0; i < payload.size(); ++i) {
    words[i / 8] |= static_cast<uint64_t>(static_cast<uint8_t>(payload[i])) << (8 * (i % 8));
  }
  // xoshiro's all-zero state is a fixed point that would emit zeros forever.
  if (words == std::array<uint64_t, 4>{}) {
    return absl::InvalidArgumentError("RNG state must not be all zero");
  }
  rng_ = words;
  return absl::OkStatus();
}

}  // namespace rwkv::engine
