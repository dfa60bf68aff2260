#include "tests/util/engine_util.h"

#include <cmath>
#include <limits>

#include "common/status_macros.h"

namespace rwkv::testing {

float MaxAbsDiff(absl::Span<const float> a, absl::Span<const float> b) {
  if (a.size() != b.size()) return std::numeric_limits<float>::infinity();
  float worst = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) {
    const float d = std::fabs(a[i] - b[i]);
    if (!(d <= worst)) worst = d;  // NaN propagates as the worst
  }
  return worst;
}

int32_t ArgMax(absl::Span<const float> values) {
  int32_t best = 0;
  for (size_t i = 1; i < values.size(); ++i) {
    if (values[i] > values[best]) best = static_cast<int32_t>(i);
  }
  return best;
}

absl::StatusOr<std::vector<float>> RunTokenByToken(engine::Engine& engine, absl::Span<float> state,
                                                   absl::Span<const int32_t> tokens) {
  const int64_t vocab = engine.config().n_vocab;
  std::vector<float> out;
  out.reserve(tokens.size() * vocab);
  for (size_t t = 0; t < tokens.size(); ++t) {
    engine::SequenceInput input{state, tokens.subspan(t, 1), engine::LogitsMode::kLast};
    RWKV_ASSIGN_OR_RETURN(engine::LogitsView view, engine.Forward({input}));
    absl::Span<const float> row = view.Row(0);
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

}  // namespace rwkv::testing
