// The opt-in chunked WKV for RWKV-7 prompts (EngineOptions::prefill_wkv_chunk), end to end:
// a whole reference prompt in one call must match rwkv.cpp's logits and final state as closely
// as the default sequential path does (reference_test.cc's bounds).
#include <algorithm>
#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "engine/engine.h"
#include "gtest/gtest.h"
#include "tests/util/engine_util.h"
#include "tests/util/reference_data.h"
#include "tests/util/shared_data.h"

namespace rwkv::testing {
namespace {

using engine::Engine;
using engine::EngineOptions;
using engine::LogitsMode;
using engine::Precision;
using engine::SequenceInput;

// reference_test.cc's bounds: max |logit - reference|, max |state - reference| / max(1, |ref|).
std::pair<float, float> ToleranceFor(const ReferenceSet& set) {
  if (set.weight_type == "FP32") return {1e-4f, 1e-4f};
  if (set.weight_type == "FP16") return {1.5e-2f, 1e-2f};
  return {1e-2f, 2.5e-2f};
}

std::vector<ReferenceSet> Rwkv7Sets() {
  auto sets = LoadReferenceSets();
  if (!sets.ok()) {
    ADD_FAILURE() << sets.status();
    return {};
  }
  std::vector<ReferenceSet> v7;
  for (ReferenceSet& set : *sets) {
    if (absl::StrContains(set.name, "-7v")) v7.push_back(std::move(set));
  }
  if (v7.empty()) ADD_FAILURE() << "no RWKV-7 reference sets";
  return v7;
}

class ChunkedPrefillTest : public ::testing::TestWithParam<ReferenceSet> {};

TEST_P(ChunkedPrefillTest, WholePromptMatchesTheReference) {
  const ReferenceSet& set = GetParam();
  const auto [logit_bound, state_bound] = ToleranceFor(set);
  for (int chunk : {16, 64}) {
    auto engine = Engine::Create(EngineOptions{set.model_path, 1, Precision::kF32, chunk});
    ASSERT_TRUE(engine.ok()) << engine.status();
    std::vector<float> state = (*engine)->InitialState();
    auto view =
        (*engine)->Forward({SequenceInput{absl::MakeSpan(state), set.prompt, LogitsMode::kAll}});
    ASSERT_TRUE(view.ok()) << view.status();
    ASSERT_EQ(view->RowCount(0), static_cast<int64_t>(set.prompt.size()));
    float worst = 0.0f;
    for (size_t t = 0; t < set.prompt.size(); ++t) {
      worst = std::max(worst, MaxAbsDiff(view->Row(0, t), set.LogitsRow(t)));
    }
    ASSERT_EQ(state.size(), set.state.size());
    float state_worst = 0.0f;
    for (size_t i = 0; i < state.size(); ++i) {
      state_worst = std::max(state_worst, std::fabs(state[i] - set.state[i]) /
                                              std::max(1.0f, std::fabs(set.state[i])));
    }
    std::cout << set.name << ", chunk " << chunk << ": max |dlogit| = " << worst
              << ", state max rel diff = " << state_worst << "\n";
    EXPECT_LE(worst, logit_bound) << "chunk " << chunk;
    EXPECT_LE(state_worst, state_bound) << "chunk " << chunk;
  }
}

INSTANTIATE_TEST_SUITE_P(Rwkv7Models, ChunkedPrefillTest, ::testing::ValuesIn(Rwkv7Sets()),
                         [](const auto& info) { return TestNameOf(info.param); });

TEST(ChunkedPrefillOptionTest, RejectsChunkLengthsTheKernelDoesNotTake) {
  for (int chunk : {-16, 8, 17, 80}) {
    auto engine = Engine::Create(
        EngineOptions{SharedPath("models/tiny-rwkv-7v0-834K-FP32.bin"), 1, Precision::kF32, chunk});
    EXPECT_EQ(engine.status().code(), absl::StatusCode::kInvalidArgument) << chunk;
  }
}

}  // namespace
}  // namespace rwkv::testing
