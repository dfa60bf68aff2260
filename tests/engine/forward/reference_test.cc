// The engine against rwkv.cpp's reference outputs (../shared/reference): the logits after every
// prompt token, the final state, and the 64-token greedy continuation, for every tiny model.
#include <cmath>
#include <iostream>

#include "engine/engine.h"
#include "gtest/gtest.h"
#include "tests/util/engine_util.h"
#include "tests/util/reference_data.h"

namespace rwkv::testing {
namespace {

using engine::Engine;
using engine::EngineOptions;
using engine::LogitsMode;
using engine::SequenceInput;

struct Tolerance {
  float logits;  // max |logit - reference| over every row
  float state;   // max |state - reference| / max(1, |reference|)
};

// FP32 files: the bound; we compute in f32 with another summation order than ggml
//   (measured: at most 1.2e-5 on the logits, 5.6e-6 relative on the state, over 300 tokens).
// FP16 files: ggml rounds every activation vector to fp16 before an FP16 matmul; we keep f32
//   activations (weights widened exactly), which moves logits by about 1e-3 per step
//   (README-data.md, "Using the reference data") and drifts over 300 recurrent steps: measured
//   3.8e-3 (v4), 5.4e-3 (v5.1), 6.4e-3 (v5.2), 1.2e-2 (v6), 5.2e-4 (v7); state at most 5.7e-3.
// Q5 files: ggml quantizes activations to 8 bits inside quantized matmuls; we dequantize the
//   weights and keep f32 activations: measured 4.8e-3 on the logits, 1.5e-2 on the state.
Tolerance ToleranceFor(const ReferenceSet& set) {
  if (set.weight_type == "FP32") return {1e-4f, 1e-4f};
  if (set.weight_type == "FP16") return {1.5e-2f, 1e-2f};
  return {1e-2f, 2.5e-2f};
}

class ReferenceTest : public ::testing::TestWithParam<ReferenceSet> {};

TEST_P(ReferenceTest, PromptLogitsAndFinalState) {
  const ReferenceSet& set = GetParam();
  const Tolerance tol = ToleranceFor(set);
  auto engine = Engine::Create(EngineOptions{set.model_path, 1});
  ASSERT_TRUE(engine.ok()) << engine.status();
  std::vector<float> state = (*engine)->InitialState();
  auto logits = RunTokenByToken(**engine, absl::MakeSpan(state), set.prompt);
  ASSERT_TRUE(logits.ok()) << logits.status();
  float worst = 0.0f;
  for (size_t t = 0; t < set.prompt.size(); ++t) {
    absl::Span<const float> ours(logits->data() + t * set.vocab, set.vocab);
    worst = std::max(worst, MaxAbsDiff(ours, set.LogitsRow(t)));
  }
  ASSERT_EQ(state.size(), set.state.size());
  float state_worst = 0.0f;
  for (size_t i = 0; i < state.size(); ++i) {
    const float rel = std::fabs(state[i] - set.state[i]) / std::max(1.0f, std::fabs(set.state[i]));
    state_worst = std::max(state_worst, rel);
  }
  std::cout << set.name << ": max |dlogit| = " << worst << ", state max rel diff = " << state_worst
            << "\n";
  RecordProperty("max_abs_logit_diff", std::to_string(worst));
  EXPECT_LE(worst, tol.logits);
  EXPECT_LE(state_worst, tol.state);
}

// Greedy continuation. FP32: generated freely, all 64 tokens must be identical. Other files:
// teacher-forced with the reference tokens (our logits may legitimately differ by more than the
// smallest top-1/top-2 margin), checking the logits after each and the argmax where the margin
// is clear of the tolerance.
TEST_P(ReferenceTest, GreedyContinuation) {
  const ReferenceSet& set = GetParam();
  const Tolerance tol = ToleranceFor(set);
  const bool exact = set.weight_type == "FP32";
  auto engine = Engine::Create(EngineOptions{set.model_path, 1});
  ASSERT_TRUE(engine.ok()) << engine.status();
  std::vector<float> state = (*engine)->InitialState();
  std::vector<float> last;
  {
    auto view = (*engine)->Forward({SequenceInput{absl::MakeSpan(state), set.prompt}});
    ASSERT_TRUE(view.ok()) << view.status();
    last.assign(view->Row(0).begin(), view->Row(0).end());
  }
  float worst = 0.0f;
  for (size_t k = 0; k < set.greedy.size(); ++k) {
    const int32_t ours = ArgMax(last);
    if (exact || set.greedy_margins[k] > 2 * tol.logits) {
      ASSERT_EQ(ours, set.greedy[k])
          << "greedy token " << k << " (margin " << set.greedy_margins[k] << ")";
    }
    const int32_t fed = exact ? ours : set.greedy[k];
    auto view =
        (*engine)->Forward({SequenceInput{absl::MakeSpan(state), absl::MakeConstSpan(&fed, 1)}});
    ASSERT_TRUE(view.ok()) << view.status();
    last.assign(view->Row(0).begin(), view->Row(0).end());
    worst = std::max(worst, MaxAbsDiff(last, set.GreedyLogitsRow(k)));
  }
  std::cout << set.name << ": greedy max |dlogit| = " << worst << "\n";
  EXPECT_LE(worst, tol.logits);
}

std::vector<ReferenceSet> AllSets() {
  auto sets = LoadReferenceSets();
  if (!sets.ok()) {
    ADD_FAILURE() << sets.status();
    return {};
  }
  return *std::move(sets);
}

INSTANTIATE_TEST_SUITE_P(AllModels, ReferenceTest, ::testing::ValuesIn(AllSets()),
                         [](const auto& info) { return TestNameOf(info.param); });

}  // namespace
}  // namespace rwkv::testing
