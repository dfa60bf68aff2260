// A sequence's logits and state must not depend on what else shares its batch, nor on how its
// prompt is split into chunks (design §2, "Invariance").
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "engine/engine.h"
#include "gtest/gtest.h"
#include "tests/util/engine_util.h"
#include "tests/util/shared_data.h"

namespace rwkv::testing {
namespace {

using engine::Engine;
using engine::EngineOptions;
using engine::LogitsMode;
using engine::SequenceInput;

constexpr float kTolerance = 1e-5f;

struct SequenceRun {
  std::vector<float> logits;  // after every token
  std::vector<float> state;
};

// Deterministic prompts of different lengths: text-like bytes from a small LCG.
std::vector<std::vector<int32_t>> MakePrompts(const std::vector<int>& lengths) {
  const std::string text = "The quick brown fox jumps over the lazy dog. 0123456789 \"in\n";
  std::vector<std::vector<int32_t>> prompts;
  uint32_t seed = 12345;
  for (int length : lengths) {
    std::vector<int32_t> p;
    for (int i = 0; i < length; ++i) {
      seed = seed * 1664525u + 1013904223u;
      p.push_back(static_cast<unsigned char>(text[(seed >> 16) % text.size()]));
    }
    prompts.push_back(std::move(p));
  }
  return prompts;
}

// Every precision: bf16 and int8 change the numbers, but a sequence must still get the same ones
// whatever shares its batch and however its prompt is chunked.
class InvarianceTest
    : public ::testing::TestWithParam<std::tuple<std::string, engine::Precision>> {
 protected:
  void SetUp() override {
    const auto& [model, precision] = GetParam();
    auto engine = Engine::Create(EngineOptions{SharedPath("models/" + model), 2, precision});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }

  // Every prompt in one Forward call, all logits kept.
  std::vector<SequenceRun> RunBatch(const std::vector<std::vector<int32_t>>& prompts) {
    std::vector<SequenceRun> runs(prompts.size());
    std::vector<SequenceInput> batch;
    for (size_t i = 0; i < prompts.size(); ++i) {
      runs[i].state = engine_->InitialState();
      batch.push_back({absl::MakeSpan(runs[i].state), prompts[i], LogitsMode::kAll});
    }
    auto view = engine_->Forward(batch);
    EXPECT_TRUE(view.ok()) << view.status();
    if (!view.ok()) return runs;
    for (size_t i = 0; i < prompts.size(); ++i) {
      for (int64_t k = 0; k < view->RowCount(i); ++k) {
        auto row = view->Row(i, k);
        runs[i].logits.insert(runs[i].logits.end(), row.begin(), row.end());
      }
    }
    return runs;
  }

  // One prompt fed in chunks of `chunk` tokens.
  SequenceRun RunChunked(const std::vector<int32_t>& prompt, size_t chunk) {
    SequenceRun run{{}, engine_->InitialState()};
    for (size_t begin = 0; begin < prompt.size(); begin += chunk) {
      const size_t size = std::min(chunk, prompt.size() - begin);
      SequenceInput input{absl::MakeSpan(run.state),
                          absl::MakeConstSpan(prompt).subspan(begin, size), LogitsMode::kAll};
      auto view = engine_->Forward({input});
      EXPECT_TRUE(view.ok()) << view.status();
      if (!view.ok()) return run;
      for (int64_t k = 0; k < view->RowCount(0); ++k) {
        auto row = view->Row(0, k);
        run.logits.insert(run.logits.end(), row.begin(), row.end());
      }
    }
    return run;
  }

  static void ExpectSame(const SequenceRun& a, const SequenceRun& b, const std::string& what) {
    EXPECT_LE(MaxAbsDiff(a.logits, b.logits), kTolerance) << what << ": logits";
    EXPECT_LE(MaxAbsDiff(a.state, b.state), kTolerance) << what << ": state";
  }

  std::unique_ptr<Engine> engine_;
};

TEST_P(InvarianceTest, BatchCompositionDoesNotMatter) {
  const auto prompts = MakePrompts({1, 37, 5, 120, 64, 2, 9, 81});
  std::vector<SequenceRun> alone;
  for (const auto& p : prompts) alone.push_back(RunBatch({p})[0]);
  const std::vector<SequenceRun> three = RunBatch({prompts[0], prompts[1], prompts[2]});
  for (int i = 0; i < 3; ++i)
    ExpectSame(three[i], alone[i], "batch of 3, sequence " + std::to_string(i));
  const std::vector<SequenceRun> eight = RunBatch(prompts);
  for (int i = 0; i < 8; ++i)
    ExpectSame(eight[i], alone[i], "batch of 8, sequence " + std::to_string(i));
}

TEST_P(InvarianceTest, ChunkingDoesNotMatter) {
  const auto prompt = MakePrompts({150})[0];
  const SequenceRun whole = RunChunked(prompt, prompt.size());
  for (size_t chunk : {1, 7, 64}) {
    ExpectSame(RunChunked(prompt, chunk), whole, "chunks of " + std::to_string(chunk));
  }
}

// A decoding sequence (one token) and a prefilling one share a step, as in the server.
TEST_P(InvarianceTest, DecodeAndPrefillMix) {
  const auto prompts = MakePrompts({40, 90});
  const SequenceRun a_alone = RunChunked(prompts[0], prompts[0].size());
  const SequenceRun b_alone = RunChunked(prompts[1], prompts[1].size());
  SequenceRun a{{}, engine_->InitialState()};
  SequenceRun b{{}, engine_->InitialState()};
  // a: 39 tokens alone, then its last token together with all of b.
  auto first = absl::MakeConstSpan(prompts[0]).subspan(0, 39);
  ASSERT_TRUE(engine_->Forward({{absl::MakeSpan(a.state), first, LogitsMode::kNone}}).ok());
  auto view = engine_->Forward(
      {{absl::MakeSpan(a.state), absl::MakeConstSpan(prompts[0]).subspan(39), LogitsMode::kLast},
       {absl::MakeSpan(b.state), prompts[1], LogitsMode::kLast}});
  ASSERT_TRUE(view.ok()) << view.status();
  const int64_t vocab = engine_->config().n_vocab;
  absl::Span<const float> a_last(a_alone.logits.data() + 39 * vocab, vocab);
  absl::Span<const float> b_last(b_alone.logits.data() + 89 * vocab, vocab);
  EXPECT_LE(MaxAbsDiff(view->Row(0), a_last), kTolerance);
  EXPECT_LE(MaxAbsDiff(view->Row(1), b_last), kTolerance);
  EXPECT_LE(MaxAbsDiff(a.state, a_alone.state), kTolerance);
  EXPECT_LE(MaxAbsDiff(b.state, b_alone.state), kTolerance);
}

INSTANTIATE_TEST_SUITE_P(
    AllVersions, InvarianceTest,
    ::testing::Combine(::testing::Values("tiny-rwkv-4v0-660K-FP32.bin",
                                         "tiny-rwkv-5v1-730K-FP32.bin",
                                         "tiny-rwkv-5v2-730K-FP32.bin", "tiny-rwkv-6v0-1m-FP32.bin",
                                         "tiny-rwkv-7v0-834K-FP32.bin",
                                         "tiny-rwkv-7v0-834K-Q5_1.bin"),
                       ::testing::Values(engine::Precision::kF32, engine::Precision::kBf16,
                                         engine::Precision::kInt8, engine::Precision::kInt8Fast,
                                         engine::Precision::kQ8_0)),
    [](const auto& info) {
      const std::string& file = std::get<0>(info.param);
      std::string name = file.substr(10, file.size() - 14) + "_" +
                         std::string(engine::PrecisionName(std::get<1>(info.param)));
      for (char& ch : name) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return name;
    });

}  // namespace
}  // namespace rwkv::testing
