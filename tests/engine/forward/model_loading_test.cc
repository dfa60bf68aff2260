// Loading: version and dimensions detected from the tensors, the fingerprint, synthetic shapes,
// and a clear error for every missing or mis-shaped tensor.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "engine/engine.h"
#include "engine/model/model_config.h"
#include "engine/model/rwkv_cpp_file.h"
#include "engine/model/synthetic_source.h"
#include "gtest/gtest.h"
#include "tests/util/shared_data.h"

namespace rwkv::testing {
namespace {

using engine::ArchVersion;
using engine::Engine;
using engine::EngineOptions;
using engine::ModelConfig;
using engine::TensorInfo;
using engine::TensorSource;

// A source that hides one tensor or changes its declared shape.
class EditedSource final : public TensorSource {
 public:
  EditedSource(const TensorSource& base, std::string name, std::vector<int64_t> new_ne)
      : base_(base), name_(std::move(name)), description_(base.Describe()) {
    for (const TensorInfo& info : base.Tensors()) {
      if (info.name != name_) {
        tensors_.push_back(info);
      } else if (!new_ne.empty()) {
        tensors_.push_back({info.name, new_ne, info.type});
      }
    }
  }
  const std::string& Describe() const override { return description_; }
  const std::vector<TensorInfo>& Tensors() const override { return tensors_; }
  const TensorInfo* Find(std::string_view name) const override {
    for (const TensorInfo& info : tensors_) {
      if (info.name == name) return &info;
    }
    return nullptr;
  }
  absl::Status ReadF32(std::string_view name, absl::Span<float> out) const override {
    return base_.ReadF32(name, out);
  }
  uint64_t ContentHash(std::string_view name) const override { return base_.ContentHash(name); }

 private:
  const TensorSource& base_;
  std::string name_;
  std::string description_;
  std::vector<TensorInfo> tensors_;
};

struct ConfigCase {
  std::string file;
  ArchVersion version;
  int n_embed, n_layer, n_head, head_size, ffn;
  int64_t state_floats;
};

class ConfigTest : public ::testing::TestWithParam<ConfigCase> {};

TEST_P(ConfigTest, DetectsVersionAndDimensions) {
  const ConfigCase& c = GetParam();
  auto file = engine::RwkvCppFile::Open(SharedPath("models/" + c.file));
  ASSERT_TRUE(file.ok()) << file.status();
  auto config = engine::InferModelConfig(**file);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->version, c.version);
  EXPECT_EQ(config->n_vocab, 256);
  EXPECT_EQ(config->n_embed, c.n_embed);
  EXPECT_EQ(config->n_layer, c.n_layer);
  EXPECT_EQ(config->n_head, c.n_head);
  EXPECT_EQ(config->head_size, c.head_size);
  EXPECT_EQ(config->ffn_size, c.ffn);
  EXPECT_EQ(config->StateFloats(), c.state_floats);
  if (c.version == ArchVersion::kV6) {
    EXPECT_EQ(config->lora_mix, 32);
    EXPECT_EQ(config->lora_decay, 64);
  }
  if (c.version == ArchVersion::kV7) {
    EXPECT_EQ(config->lora_w, 32);
    EXPECT_EQ(config->lora_a, 32);
    EXPECT_EQ(config->lora_v, 32);
    EXPECT_EQ(config->lora_g, 32);
  }
}

INSTANTIATE_TEST_SUITE_P(
    TinyModels, ConfigTest,
    ::testing::Values(
        ConfigCase{"tiny-rwkv-4v0-660K-FP16.bin", ArchVersion::kV4, 128, 4, 0, 0, 256, 2560},
        ConfigCase{"tiny-rwkv-5v1-730K-FP32.bin", ArchVersion::kV5_1, 64, 12, 8, 8, 256, 7680},
        ConfigCase{"tiny-rwkv-5v2-730K-FP32.bin", ArchVersion::kV5_2, 64, 12, 8, 8, 256, 7680},
        ConfigCase{"tiny-rwkv-6v0-1m-FP16.bin", ArchVersion::kV6, 64, 12, 8, 8, 224, 7680},
        ConfigCase{"tiny-rwkv-7v0-834K-Q5_0.bin", ArchVersion::kV7, 64, 12, 1, 64, 256, 50688}));

TEST(FingerprintTest, StableAndSpecificToTheWeights) {
  auto a = Engine::Create({SharedPath("models/tiny-rwkv-7v0-834K-FP32.bin"), 1});
  auto b = Engine::Create({SharedPath("models/tiny-rwkv-7v0-834K-FP32.bin"), 1});
  auto c = Engine::Create({SharedPath("models/tiny-rwkv-7v0-834K-FP16.bin"), 1});
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ((*a)->fingerprint().size(), 16u);
  EXPECT_EQ((*a)->fingerprint(), (*b)->fingerprint());
  EXPECT_NE((*a)->fingerprint(), (*c)->fingerprint());
}

TEST(SyntheticTest, KnownShapesHaveTheRealDimensions) {
  auto source = engine::SyntheticSource::Create("rwkv7-0.1b");
  ASSERT_TRUE(source.ok()) << source.status();
  auto config = engine::InferModelConfig(**source);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->version, ArchVersion::kV7);
  EXPECT_EQ(config->n_embed, 768);
  EXPECT_EQ(config->n_layer, 12);
  EXPECT_EQ(config->n_head, 12);
  EXPECT_EQ(config->head_size, 64);
  EXPECT_EQ(config->ffn_size, 3072);
  EXPECT_EQ(config->n_vocab, 65536);
  EXPECT_EQ(config->lora_w, 64);
  EXPECT_EQ(config->lora_a, 64);
  EXPECT_EQ(config->lora_v, 32);
  EXPECT_EQ(config->lora_g, 128);
}

TEST(SyntheticTest, SmallShapeRunsAndIsDeterministic) {
  auto source = engine::SyntheticSource::FromShape({"test", 128, 2, 512, 32});
  auto a = Engine::FromSource(*source, {"", 1});
  auto b = Engine::FromSource(*source, {"", 1});
  ASSERT_TRUE(a.ok() && b.ok());
  std::vector<float> sa = (*a)->InitialState(), sb = (*b)->InitialState();
  const std::vector<int32_t> tokens = {1, 2, 3, 500};
  auto la = (*a)->Forward({{absl::MakeSpan(sa), tokens}});
  ASSERT_TRUE(la.ok()) << la.status();
  std::vector<float> first(la->Row(0).begin(), la->Row(0).end());
  auto lb = (*b)->Forward({{absl::MakeSpan(sb), tokens}});
  ASSERT_TRUE(lb.ok());
  EXPECT_EQ(first, std::vector<float>(lb->Row(0).begin(), lb->Row(0).end()));
  for (float v : first) ASSERT_TRUE(std::isfinite(v));
}

// ParallelFor runs every task exactly once, on the engine's threads, and returns after all.
TEST(EngineParallelForTest, RunsEveryTaskOnce) {
  auto source = engine::SyntheticSource::FromShape({"test", 128, 2, 512, 32});
  ASSERT_NE(source, nullptr);
  for (int threads : {1, 2, 3}) {
    auto engine = Engine::FromSource(*source, {"", threads});
    ASSERT_TRUE(engine.ok()) << engine.status();
    for (int64_t count : {0, 1, 5, 64}) {
      std::vector<int> runs(static_cast<size_t>(count), 0);
      (*engine)->ParallelFor(count, [&runs](int64_t i) { ++runs[static_cast<size_t>(i)]; });
      EXPECT_EQ(runs, std::vector<int>(static_cast<size_t>(count), 1))
          << threads << " threads, " << count << " tasks";
    }
  }
}

TEST(SyntheticTest, UnknownShapeIsInvalidArgument) {
  auto source = engine::SyntheticSource::Create("rwkv9-7b");
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(source.status().message(), "rwkv7-0.1b"));
}

// Every tensor the v7 and v5.2 models use: removing it, or declaring another shape, must fail
// with INVALID_ARGUMENT naming the file and the tensor.
class BrokenTensorTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BrokenTensorTest, EveryTensorIsRequiredAndShapeChecked) {
  auto file = engine::RwkvCppFile::Open(SharedPath("models/" + GetParam()));
  ASSERT_TRUE(file.ok()) << file.status();
  for (const TensorInfo& info : (*file)->Tensors()) {
    for (bool remove : {true, false}) {
      std::vector<int64_t> ne;
      if (!remove) {
        ne = info.ne;
        ne[0] += 1;  // declared one element wider than its data
      }
      EditedSource edited(**file, info.name, ne);
      auto engine = Engine::FromSource(edited, {"", 1});
      ASSERT_FALSE(engine.ok()) << info.name << (remove ? " removed" : " reshaped");
      EXPECT_EQ(engine.status().code(), absl::StatusCode::kInvalidArgument) << engine.status();
      EXPECT_TRUE(absl::StrContains(engine.status().message(), (*file)->Describe()));
      // A wider emb.weight changes n_embed, so the error names the first tensor that disagrees.
      if (info.name != "emb.weight") {
        EXPECT_TRUE(absl::StrContains(engine.status().message(), info.name)) << engine.status();
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, BrokenTensorTest,
                         ::testing::Values("tiny-rwkv-4v0-660K-FP32.bin",
                                           "tiny-rwkv-5v1-730K-FP32.bin",
                                           "tiny-rwkv-6v0-1m-FP32.bin",
                                           "tiny-rwkv-7v0-834K-FP32.bin"));

TEST(EngineInputTest, BadInputsAreRejectedWithoutTouchingState) {
  auto engine = Engine::Create({SharedPath("models/tiny-rwkv-7v0-834K-FP32.bin"), 1});
  ASSERT_TRUE(engine.ok());
  std::vector<float> state = (*engine)->InitialState();
  const std::vector<float> before = state;
  const std::vector<int32_t> bad_token = {1, 256};
  const std::vector<int32_t> empty;
  const std::vector<int32_t> good = {1};
  std::vector<float> short_state(10);
  auto code = [&](std::vector<engine::SequenceInput> batch) {
    return (*engine)->Forward(batch).status().code();
  };
  EXPECT_EQ(code({}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{absl::MakeSpan(state), bad_token}}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{absl::MakeSpan(state), empty}}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{absl::MakeSpan(short_state), good}}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{absl::MakeSpan(state), good}, {absl::MakeSpan(state), good}}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(state, before);
  EXPECT_EQ(Engine::Create({"/nonexistent/model.bin", 1}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Engine::Create({SharedPath("models/tiny-rwkv-7v0-834K-FP32.bin"), -1}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace rwkv::testing
