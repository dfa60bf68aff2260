// The reference outputs in ../shared/reference (see ../shared/README-data.md): for every tiny
// model, rwkv.cpp's logits after each prompt token, the final state and a greedy continuation.
#ifndef RWKV_TESTS_UTIL_REFERENCE_DATA_H_
#define RWKV_TESTS_UTIL_REFERENCE_DATA_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace rwkv::testing {

struct ReferenceSet {
  std::string name;         // "tiny-rwkv-7v0-834K-FP32.fox300"
  std::string model_path;   // absolute path of the model file
  std::string weight_type;  // "FP32", "FP16", "Q5_0", "Q5_1"
  std::vector<int32_t> prompt;
  int64_t vocab = 0;
  std::vector<float> logits;          // [prompt.size(), vocab]
  std::vector<float> state;           // final state after the prompt
  std::vector<int32_t> greedy;        // 64 greedy tokens
  std::vector<float> greedy_logits;   // [64, vocab]: after feeding greedy[k]
  std::vector<float> greedy_margins;  // top-1 minus top-2 logit at each greedy choice

  absl::Span<const float> LogitsRow(size_t t) const {
    return absl::MakeConstSpan(logits.data() + t * vocab, vocab);
  }
  absl::Span<const float> GreedyLogitsRow(size_t k) const {
    return absl::MakeConstSpan(greedy_logits.data() + k * vocab, vocab);
  }
};

// Test names print the set's name instead of its bytes.
inline void PrintTo(const ReferenceSet& set, std::ostream* os) { *os << set.name; }

// A GoogleTest-safe name for a parameterized test of a set ("tiny_rwkv_7v0_834K_FP32_fox300").
std::string TestNameOf(const ReferenceSet& set);

// Every set listed in reference/index.json.
absl::StatusOr<std::vector<ReferenceSet>> LoadReferenceSets();

// Reads a little-endian float32 file.
absl::StatusOr<std::vector<float>> ReadF32File(const std::string& path);

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_UTIL_REFERENCE_DATA_H_
