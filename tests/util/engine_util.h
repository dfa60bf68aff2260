// Helpers for driving the engine in tests.
#ifndef RWKV_TESTS_UTIL_ENGINE_UTIL_H_
#define RWKV_TESTS_UTIL_ENGINE_UTIL_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/engine.h"

namespace rwkv::testing {

// max |a[i] - b[i]|; infinity when the sizes differ.
float MaxAbsDiff(absl::Span<const float> a, absl::Span<const float> b);

// Index of the largest value, the lowest index on ties.
int32_t ArgMax(absl::Span<const float> values);

// Feeds `tokens` one at a time and returns the logits after each, [tokens.size(), vocab].
absl::StatusOr<std::vector<float>> RunTokenByToken(engine::Engine& engine, absl::Span<float> state,
                                                   absl::Span<const int32_t> tokens);

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_UTIL_ENGINE_UTIL_H_
