// Sampler: chooses the next token of one generation stream from the model's logits.
//
// Supports logit bias, presence/frequency/repetition penalties over a window of recent tokens,
// greedy decoding (temperature 0), temperature, top-k, top-p (nucleus) and min-p. Sampling is
// deterministic by seed: the random draws come from a xoshiro256** generator implemented here,
// so the same seed and the same logits give the same tokens on every platform and standard
// library (up to the libm's rounding of exp()).
//
//   RWKV_ASSIGN_OR_RETURN(Sampler sampler, Sampler::Create(params, vocab_size));
//   for (auto& token : prompt) sampler.Accept(token);  // optional: penalise prompt tokens too
//   while (...) {
//     int32_t token = sampler.Sample(logits);
//     sampler.Accept(token);
//   }
#ifndef RWKV_ENGINE_SAMPLER_SAMPLER_H_
#define RWKV_ENGINE_SAMPLER_SAMPLER_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace rwkv::engine {

struct SamplingParams {
  // 0 => greedy (argmax, ties to the lowest id); allowed [0, 100].
  float temperature = 1.0f;
  // Keep only the k most likely tokens; 0 => off; allowed [0, vocab_size].
  int32_t top_k = 0;
  // Nucleus: keep the smallest set of most likely tokens whose mass reaches top_p; allowed (0, 1].
  float top_p = 1.0f;
  // Keep tokens with p >= min_p * p_max; allowed [0, 1].
  float min_p = 0.0f;
  // Subtracted once from the logit of every token that occurred (OpenAI semantics); [-2, 2].
  float presence_penalty = 0.0f;
  // Subtracted count times from the logit of a token that occurred count times; [-2, 2].
  float frequency_penalty = 0.0f;
  // CTRL / llama.cpp style, for tokens that occurred: logit > 0 ? logit / p : logit * p;
  // allowed (0, 10]; 1 => off.
  float repetition_penalty = 1.0f;
  // How many of the most recently accepted tokens count for the penalties; 0 => all of them.
  int32_t penalty_window = 0;
  // (token id, bias) pairs added to the logits; ids in [0, vocab_size), bias in [-100, 100].
  // A bias of exactly -100 bans the token (its logit becomes -inf); repeated ids add up.
  std::vector<std::pair<int32_t, float>> logit_bias;
  uint64_t seed = 0;
};

// OK, or INVALID_ARGUMENT naming the offending field and its allowed range, e.g.
// "top_p must be in (0, 1], got 1.5". NaN and infinities are rejected.
absl::Status ValidateSamplingParams(const SamplingParams& params, int32_t vocab_size);

// One per generation stream. Not thread-safe: one thread at a time may call any method. Movable.
class Sampler {
 public:
  // INVALID_ARGUMENT when ValidateSamplingParams rejects `params`.
  static absl::StatusOr<Sampler> Create(const SamplingParams& params, int32_t vocab_size);
  // Bytes of the scratch buffers a Sampler with `params` allocates for `vocab_size` tokens: what
  // its generation stream holds beside its state (the server's in-flight budget counts them).
  // Top-p and min-p take about 64 KiB more than other draws.
  static int64_t ScratchBytes(int32_t vocab_size, const SamplingParams& params = {});

  Sampler(Sampler&&) = default;
  Sampler& operator=(Sampler&&) = default;

  // Records a token for the penalties. Sample() does not record its own choice: callers feed
  // generated tokens (and may feed prompt tokens). Ids outside [0, vocab_size) are ignored.
  void Accept(int32_t token);

  // Chooses the next token from `logits` (vocab_size floats, left untouched; missing entries
  // count as -inf). Order: logit bias, penalties, then greedy if temperature == 0, else
  // temperature, top-k, softmax, top-p, min-p and the draw. NaN logits count as -inf and are
  // never chosen, +inf as the largest float; when every logit is -inf the result is token 0.
  // Allocates nothing.
  int32_t Sample(absl::Span<const float> logits);

  // The generator's state, so a resumed session continues the same random sequence.
  // The penalty history is not included: replay the tokens through Accept().
  std::string SerializeRngState() const;
  // INVALID_ARGUMENT when `state` did not come from SerializeRngState().
  absl::Status RestoreRngState(std::string_view state);

 private:
  Sampler(const SamplingParams& params, int32_t vocab_size);

  // Steps of Sample(). candidates_ always stays in ascending id order, so the draw never
  // depends on how a standard library orders equal elements in nth_element or a heap.
  void PrepareScores(absl::Span<const float> logits);
  void ApplyPenalties();
  bool Penalizes() const;
  int32_t ArgMax() const;
  // Fills candidates_ with the tokens whose score is finite, cut to the top_k best. `scores`:
  // scores_, or for a heap top-k the logits themselves (sanitized on the fly), of which only
  // the candidates' are then written to scores_, all the later steps read.
  void CollectCandidates(const float* scores);
  void CollectTopK(const float* scores, size_t k);
  double ComputeWeights();
  void ApplyTopP(double total_weight);
  void ApplyMinP();
  int32_t Draw();
  // Draw when every ID is a candidate: block sums, then one block scanned.
  int32_t DrawDense();
  // Temperature only (no top-k, top-p or min-p): weights and block masses in one pass, then draw.
  // `scores`: scores_, or the logits themselves when nothing is added to them.
  int32_t DrawAll(const float* scores);
  // Top-p and/or min-p without top-k: the cuts and the weights over the whole vocabulary at once
  // (top_p.h), then the draw as DrawAll's. Keeps the same tokens as the candidate list would.
  int32_t DrawCut(const float* scores);
  // The draw over block_mass_ (DrawDense and DrawAll fill it) and weights_; `best` (the
  // highest score's ID) when rounding leaves the target past the last weight.
  int32_t DrawFromBlocks(int32_t best);
  static constexpr int32_t kDrawBlock = 256;

  // Drops the candidates ranked below `pivot`.
  void KeepRankedAtOrAbove(int32_t pivot);
  // Rank order: higher score first, lower id first among equal scores.
  bool Better(int32_t a, int32_t b) const {
    return scores_[a] > scores_[b] || (scores_[a] == scores_[b] && a < b);
  }

  uint64_t NextRandom();
  // Uniform in [0, 1) with 53 random bits.
  double NextUniform();

  SamplingParams params_;
  int32_t vocab_size_;
  std::array<uint64_t, 4> rng_;

  // Penalty history: occurrence counts within the window, and the window itself as a ring
  // buffer (grown up to penalty_window, then overwritten from ring_head_).
  absl::flat_hash_map<int32_t, int32_t> counts_;
  std::vector<int32_t> ring_;
  size_t ring_head_ = 0;

  // Scratch, sized once at construction so Sample() never allocates.
  std::vector<float> scores_;        // per id: logit after bias and penalties (see CollectTopK)
  std::vector<float> weights_;       // per id: unnormalised probability (valid for candidates_)
  std::vector<int32_t> candidates_;  // ids still in the running, ascending
  std::vector<int32_t> scratch_;     // nth_element's copy; top-p's boundary bucket or buckets
  std::vector<double> bucket_mass_;  // top-p's histograms of weight by log-weight
  std::vector<uint64_t> rank_codes_;  // top-k's heap; DrawCut's boundary bucket (RankCode)
  std::vector<double> block_mass_;    // the draw's weight per block of 256 IDs
  float max_score_ = 0.0f;
  // candidates_ is every ID with a finite score (nothing cut yet): weights can be computed over
  // the whole vocabulary at once.
  bool all_finite_ = false;
};

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_SAMPLER_SAMPLER_H_
