// Every checkpoint fixture, mapped onto rwkv.cpp's layout, gives exactly the tensors of the .bin
// that holds the same values: the same names, shapes, float values and content hashes.
#include "engine/model/formats/rwkv_checkpoint.h"

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "engine/model/formats/gguf_file.h"
#include "engine/model/formats/safetensors_file.h"
#include "engine/model/formats/torch_checkpoint.h"
#include "engine/model/rwkv_cpp_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/safetensors_writer.h"
#include "tests/util/shared_data.h"

namespace rwkv::engine {
namespace {

using ::rwkv::testing::SharedPath;
using ::testing::HasSubstr;

struct Fixture {
  std::string checkpoint;  // under models/formats/
  std::string bin;         // under models/
};

std::vector<Fixture> Fixtures() {
  return {
      {"tiny-rwkv-4v0-660K.pth", "formats/tiny-rwkv-4v0-660K-bf16-as-FP32.bin"},
      {"tiny-rwkv-5v1-730K.pth", "formats/tiny-rwkv-5v1-730K-bf16-as-FP32.bin"},
      {"tiny-rwkv-5v2-730K.pth", "formats/tiny-rwkv-5v2-730K-bf16-as-FP32.bin"},
      {"tiny-rwkv-6v0-1m.pth", "tiny-rwkv-6v0-1m-FP32.bin"},
      {"tiny-rwkv-7v0-834K.pth", "tiny-rwkv-7v0-834K-FP32.bin"},
      {"tiny-rwkv-7v0-834K-FP32.pth", "tiny-rwkv-7v0-834K-FP32.bin"},
      {"tiny-rwkv-4v0-660K.safetensors", "formats/tiny-rwkv-4v0-660K-bf16-as-FP32.bin"},
      {"tiny-rwkv-5v1-730K.safetensors", "formats/tiny-rwkv-5v1-730K-bf16-as-FP32.bin"},
      {"tiny-rwkv-5v2-730K.safetensors", "formats/tiny-rwkv-5v2-730K-bf16-as-FP32.bin"},
      {"tiny-rwkv-6v0-1m.safetensors", "tiny-rwkv-6v0-1m-FP32.bin"},
      {"tiny-rwkv-7v0-834K.safetensors", "tiny-rwkv-7v0-834K-FP32.bin"},
      {"tiny-rwkv-7v0-834K-hf.safetensors", "tiny-rwkv-7v0-834K-FP32.bin"},
  };
}

std::unique_ptr<RwkvCheckpoint> OpenCheckpoint(const std::string& name, int head_size = 0) {
  auto file = MappedFile::Open(SharedPath("models/formats/" + name));
  EXPECT_TRUE(file.ok()) << file.status();
  if (!file.ok()) return nullptr;
  auto stored = absl::EndsWith(name, ".pth") ? ReadTorchCheckpoint(*file) : ReadSafetensors(*file);
  EXPECT_TRUE(stored.ok()) << stored.status();
  if (!stored.ok()) return nullptr;
  auto checkpoint = RwkvCheckpoint::Create(*std::move(stored), head_size);
  EXPECT_TRUE(checkpoint.ok()) << checkpoint.status();
  return checkpoint.ok() ? *std::move(checkpoint) : nullptr;
}

// Same tensor names, shapes, values (bit for bit) and content hashes as `bin`.
void ExpectSameTensors(const TensorSource& checkpoint, const TensorSource& bin) {
  ASSERT_EQ(checkpoint.Tensors().size(), bin.Tensors().size());
  for (const TensorInfo& expected : bin.Tensors()) {
    SCOPED_TRACE(expected.name);
    const TensorInfo* got = checkpoint.Find(expected.name);
    ASSERT_NE(got, nullptr);
    EXPECT_EQ(got->ne, expected.ne);
    std::vector<float> want(expected.NumElements()), have(expected.NumElements());
    ASSERT_TRUE(bin.ReadF32(expected.name, absl::MakeSpan(want)).ok());
    ASSERT_TRUE(checkpoint.ReadF32(expected.name, absl::MakeSpan(have)).ok());
    size_t differing = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      differing += std::memcmp(&want[i], &have[i], sizeof(float)) != 0;
    }
    EXPECT_EQ(differing, 0u) << "first values " << want[0] << " vs " << have[0];
    if (got->type == expected.type) {
      EXPECT_EQ(checkpoint.ContentHash(expected.name), bin.ContentHash(expected.name));
    }
  }
}

TEST(RwkvCheckpointTest, CheckpointsGiveTheTensorsOfTheEquivalentBin) {
  for (const Fixture& fixture : Fixtures()) {
    SCOPED_TRACE(fixture.checkpoint);
    std::unique_ptr<RwkvCheckpoint> checkpoint = OpenCheckpoint(fixture.checkpoint);
    ASSERT_NE(checkpoint, nullptr);
    auto bin = RwkvCppFile::Open(SharedPath("models/" + fixture.bin));
    ASSERT_TRUE(bin.ok()) << bin.status();
    ExpectSameTensors(*checkpoint, **bin);
    EXPECT_TRUE(checkpoint->unused().empty());
  }
}

std::unique_ptr<StoredTensors> ReadStored(const std::string& name) {
  auto file = MappedFile::Open(SharedPath("models/formats/" + name));
  EXPECT_TRUE(file.ok()) << file.status();
  auto stored = absl::EndsWith(name, ".pth") ? ReadTorchCheckpoint(*file) : ReadSafetensors(*file);
  EXPECT_TRUE(stored.ok()) << stored.status();
  return stored.ok() ? *std::move(stored) : nullptr;
}

// A checkpoint made of `entries`, through the safetensors reader.
absl::StatusOr<std::unique_ptr<RwkvCheckpoint>> FromEntries(
    const std::vector<::rwkv::testing::SafetensorsEntry>& entries, int head_size = 0) {
  auto stored = ReadSafetensors(
      MappedFile::FromBytes("variant.safetensors", ::rwkv::testing::SafetensorsBytes(entries)));
  if (!stored.ok()) return stored.status();
  return RwkvCheckpoint::Create(*std::move(stored), head_size);
}

// convert_rwkv_checkpoint_to_hf.py's renames (transformers' RWKV-4, and the RWKV-5/6 exports).
std::string TransformersName(std::string name) {
  if (name == "head.weight") return name;
  name = absl::StrReplaceAll(name, {{"emb.", "embeddings."}, {".ln0.", ".pre_ln."},
                                    {".att.", ".attention."}, {".ffn.", ".feed_forward."}});
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {".time_mix_k", ".time_mix_key"}, {".time_mix_v", ".time_mix_value"},
           {".time_mix_r", ".time_mix_receptance"}, {".time_mix_g", ".time_mix_gate"}}) {
    if (absl::EndsWith(name, from)) name = name.substr(0, name.size() - from.size()) + to;
  }
  return "rwkv." + name;
}

TEST(RwkvCheckpointTest, TransformersNamesGiveTheSameTensors) {
  for (const Fixture& fixture : Fixtures()) {
    if (!absl::EndsWith(fixture.checkpoint, "K.safetensors") &&
        !absl::EndsWith(fixture.checkpoint, "m.safetensors")) {
      continue;
    }
    SCOPED_TRACE(fixture.checkpoint);
    std::unique_ptr<StoredTensors> blinkdl = ReadStored(fixture.checkpoint);
    ASSERT_NE(blinkdl, nullptr);
    std::vector<::rwkv::testing::SafetensorsEntry> entries;
    for (const TensorInfo& info : blinkdl->Tensors()) {
      entries.push_back(::rwkv::testing::EntryOf(*blinkdl, info.name));
      entries.back().name = TransformersName(info.name);
    }
    auto checkpoint = FromEntries(entries);
    ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
    EXPECT_EQ((*checkpoint)->family(), "Hugging Face transformers RWKV");
    auto bin = RwkvCppFile::Open(SharedPath("models/" + fixture.bin));
    ASSERT_TRUE(bin.ok()) << bin.status();
    ExpectSameTensors(**checkpoint, **bin);
  }
}

// fla-hub's fused token-shift mixes: attn.x_x (6, C) instead of x_r ... x_g.
TEST(RwkvCheckpointTest, FlaFusedTokenShiftMixesGiveTheSameTensors) {
  std::unique_ptr<StoredTensors> hf = ReadStored("tiny-rwkv-7v0-834K-hf.safetensors");
  ASSERT_NE(hf, nullptr);
  std::vector<::rwkv::testing::SafetensorsEntry> entries;
  for (const TensorInfo& info : hf->Tensors()) {
    const size_t at = info.name.find(".attn.x_");
    if (at == std::string::npos) {
      entries.push_back(::rwkv::testing::EntryOf(*hf, info.name));
      continue;
    }
    if (info.name.back() != 'r') continue;  // The whole group is written with x_r.
    const std::string prefix = info.name.substr(0, at + 8);
    ::rwkv::testing::SafetensorsEntry fused{prefix + "x", "BF16",
                                            {6, info.ne[0]}, ""};
    for (const char x : std::string("rwkvag")) {
      fused.bytes += ::rwkv::testing::EntryOf(*hf, prefix + x).bytes;
    }
    entries.push_back(std::move(fused));
  }
  auto checkpoint = FromEntries(entries);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto bin = RwkvCppFile::Open(SharedPath("models/tiny-rwkv-7v0-834K-FP32.bin"));
  ASSERT_TRUE(bin.ok()) << bin.status();
  ExpectSameTensors(**checkpoint, **bin);
}

TEST(RwkvCheckpointTest, RefusesTheRosaSampleNamingWhatItHolds) {
  std::unique_ptr<StoredTensors> rosa = ReadStored("blinkdl-rwkv8-rosa-sample.pth");
  ASSERT_NE(rosa, nullptr);
  const absl::Status status = RwkvCheckpoint::Create(std::move(rosa), 0).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("not an RWKV checkpoint: no emb.weight"));
  EXPECT_THAT(status.message(), HasSubstr("99 tensors: e.weight"));
}

TEST(RwkvCheckpointTest, RefusesMisshapenTensors) {
  std::unique_ptr<StoredTensors> hf = ReadStored("tiny-rwkv-7v0-834K-hf.safetensors");
  std::vector<::rwkv::testing::SafetensorsEntry> entries;
  for (const TensorInfo& info : hf->Tensors()) {
    entries.push_back(::rwkv::testing::EntryOf(*hf, info.name));
    // A flat r_k needs the head size from config.json.
    if (info.name == "model.layers.3.attn.r_k") entries.back().shape = {64};
  }
  absl::Status status = FromEntries(entries).status();
  EXPECT_THAT(status.message(), HasSubstr("model.layers.3.attn.r_k' is stored flat"));
  EXPECT_TRUE(FromEntries(entries, /*head_size=*/64).ok());
  EXPECT_THAT(FromEntries(entries, /*head_size=*/48).status().message(),
              HasSubstr("which does not divide it"));
}

std::unique_ptr<StoredTensors> ReadGgufFixture(const std::string& name) {
  auto file = MappedFile::Open(SharedPath("models/formats/" + name));
  EXPECT_TRUE(file.ok()) << file.status();
  auto stored = ReadGguf(*file);
  EXPECT_TRUE(stored.ok()) << stored.status();
  return stored.ok() ? *std::move(stored) : nullptr;
}

TEST(RwkvCheckpointTest, GgufVocabularyLeavesOutTokensNoTextMayProduce) {
  std::unique_ptr<StoredTensors> stored = ReadGgufFixture("tiny-rwkv-7v0-834K-F16.gguf");
  ASSERT_NE(stored, nullptr);
  std::vector<int64_t> types(256, 1);
  types[0] = 3;    // CONTROL, as llama.cpp marks <s>
  types[255] = 5;  // UNUSED, as its [PAD...] entries
  stored->SetMetadata("tokenizer.ggml.token_type", types);
  auto checkpoint = RwkvCheckpoint::Create(std::move(stored), 0);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  const std::vector<std::string>& vocabulary = (*checkpoint)->embedded_vocabulary();
  ASSERT_EQ(vocabulary.size(), 256u);
  EXPECT_EQ(vocabulary[0], "");
  EXPECT_EQ(vocabulary[255], "");
  EXPECT_EQ(vocabulary['a'], "a");
  EXPECT_EQ(vocabulary['\n'], "\n");
}

TEST(RwkvCheckpointTest, RefusesAMalformedGgufToken) {
  std::unique_ptr<StoredTensors> stored = ReadGgufFixture("tiny-rwkv-7v0-834K-F16.gguf");
  ASSERT_NE(stored, nullptr);
  std::vector<std::string> tokens(256, "a");
  tokens[7] = "\\x4";
  stored->SetMetadata("tokenizer.ggml.tokens", tokens);
  const absl::Status status = RwkvCheckpoint::Create(std::move(stored), 0).status();
  EXPECT_THAT(status.message(), HasSubstr("token 7 of tokenizer.ggml.tokens"));
}

TEST(RwkvCheckpointTest, RefusesAGgufOfAnotherArchitecture) {
  std::unique_ptr<StoredTensors> stored = ReadGgufFixture("tiny-rwkv-6v0-1m-Q8_0.gguf");
  ASSERT_NE(stored, nullptr);
  stored->SetMetadata("general.architecture", std::string("llama"));
  const absl::Status status = RwkvCheckpoint::Create(std::move(stored), 0).status();
  EXPECT_THAT(status.message(), HasSubstr("GGUF architecture 'llama' is not an RWKV model"));
}

TEST(RwkvCheckpointTest, NamesTheFamily) {
  EXPECT_EQ(OpenCheckpoint("tiny-rwkv-7v0-834K.safetensors")->family(), "BlinkDL");
  EXPECT_THAT(OpenCheckpoint("tiny-rwkv-7v0-834K-hf.safetensors")->family(), HasSubstr("fla"));
}

TEST(RwkvCheckpointTest, UnescapesGgufTokens) {
  EXPECT_EQ(*UnescapeRwkvGgufToken("\\x00"), std::string(1, '\0'));
  EXPECT_EQ(*UnescapeRwkvGgufToken("a\\nb\\t\\r\\\\\\'\\\""), "a\nb\t\r\\'\"");
  EXPECT_EQ(*UnescapeRwkvGgufToken("\\xff\\xE9"), "\xff\xe9");
  EXPECT_FALSE(UnescapeRwkvGgufToken("\\x4").ok());
  EXPECT_FALSE(UnescapeRwkvGgufToken("\\xzz").ok());
  EXPECT_FALSE(UnescapeRwkvGgufToken("\\").ok());
  EXPECT_FALSE(UnescapeRwkvGgufToken("\\q").ok());
}

}  // namespace
}  // namespace rwkv::engine
