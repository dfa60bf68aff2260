// Scores as the sampler ranks them: NaN as -inf, +inf as the largest float, and an integer key
// that orders like the sanitized floats, so raw logits can be ranked in place and loops over the
// vocabulary vectorize (compute/vector_math.h says why float selects do not).
#ifndef RWKV_ENGINE_SAMPLER_SCORE_ORDER_H_
#define RWKV_ENGINE_SAMPLER_SCORE_ORDER_H_

#include <bit>
#include <cstdint>
#include <limits>

namespace rwkv::engine {

// NaN never wins and +inf would turn the softmax into NaN; the largest float keeps the order.
// On the bit pattern, with integer selects.
inline float Sanitize(float score) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const uint32_t bits = std::bit_cast<uint32_t>(score);
  constexpr uint32_t kPlusInf = 0x7f800000u;
  uint32_t out = (bits & 0x7fffffffu) > kPlusInf ? std::bit_cast<uint32_t>(-kInf) : bits;
  out = out == kPlusInf ? std::bit_cast<uint32_t>(std::numeric_limits<float>::max()) : out;
  return std::bit_cast<float>(out);
}

// A score as an int32 that orders as the sanitized floats do, -0 and +0 alike. Sanitizes first
// (a no-op on a sanitized score).
inline int32_t OrderKey(float score) {
  const int32_t bits = std::bit_cast<int32_t>(Sanitize(score));
  const int32_t key = bits ^ ((bits >> 31) & 0x7fffffff);
  return key == -1 ? 0 : key;  // -0.0's key is -1
}

// Rank order: higher score first, lower id first among equal scores.
inline bool RanksAbove(const float* scores, int32_t a, int32_t b) {
  const int32_t key_a = OrderKey(scores[a]);
  const int32_t key_b = OrderKey(scores[b]);
  return key_a > key_b || (key_a == key_b && a < b);
}

// (OrderKey, ID) as one integer that sorts in rank order: higher score first, then lower ID.
inline uint64_t RankCode(int32_t key, int32_t id) {
  const uint32_t descending = ~(static_cast<uint32_t>(key) ^ 0x80000000u);
  return (static_cast<uint64_t>(descending) << 32) | static_cast<uint32_t>(id);
}
inline int32_t RankCodeKey(uint64_t code) {
  return static_cast<int32_t>(~static_cast<uint32_t>(code >> 32) ^ 0x80000000u);
}
inline int32_t RankCodeId(uint64_t code) { return static_cast<int32_t>(code & 0xffffffffu); }

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_SAMPLER_SCORE_ORDER_H_
