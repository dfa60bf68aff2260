// OpenModelFile: formats recognized from bytes, Hugging Face directories with config.json, and
// clear refusals for everything else.
#include "engine/model/formats/model_file.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/model/formats/safetensors_file.h"
#include "engine/model/formats/rwkv_checkpoint.h"
#include "engine/model/model_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/safetensors_writer.h"
#include "tests/util/shared_data.h"

namespace rwkv::engine {
namespace {

using ::rwkv::testing::ReadFileBytes;
using ::rwkv::testing::SharedPath;
using ::testing::HasSubstr;

std::string Formats(const std::string& name) { return SharedPath("models/formats/" + name); }

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

class ModelFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = rwkv::testing::UniqueTempPath("model_file");
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A file in the temp dir holding `bytes`.
  std::string Temp(const std::string& name, const std::string& bytes) {
    const std::string path = dir_ + "/" + name;
    WriteFile(path, bytes);
    return path;
  }

  std::string dir_;
};

TEST_F(ModelFileTest, RecognizesEveryFormatFromItsBytes) {
  const struct {
    std::string path;
    ModelFormat format;
    std::string family;
  } cases[] = {
      {SharedPath("models/tiny-rwkv-7v0-834K-FP32.bin"), ModelFormat::kRwkvCpp, "rwkv.cpp"},
      {Formats("tiny-rwkv-7v0-834K.pth"), ModelFormat::kPyTorch, "BlinkDL"},
      {Formats("tiny-rwkv-7v0-834K.safetensors"), ModelFormat::kSafetensors, "BlinkDL"},
      {Formats("tiny-rwkv-7v0-834K-hf.safetensors"), ModelFormat::kSafetensors,
       "Hugging Face RWKV7ForCausalLM (fla-hub)"},
      {Formats("tiny-rwkv-7v0-834K-Q8_0.gguf"), ModelFormat::kGguf, "llama.cpp GGUF rwkv7"},
      {Formats("tiny-rwkv-6v0-1m-F16.gguf"), ModelFormat::kGguf, "llama.cpp GGUF rwkv6"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path);
    // The name says nothing: a copy called model.dat opens the same way.
    absl::StatusOr<std::string> bytes = ReadFileBytes(c.path);
    ASSERT_TRUE(bytes.ok());
    absl::StatusOr<ModelFile> model = OpenModelFile(Temp("model.dat", *bytes));
    ASSERT_TRUE(model.ok()) << model.status();
    EXPECT_EQ(model->format, c.format);
    EXPECT_EQ(model->family, c.family);
    EXPECT_TRUE(InferModelConfig(*model->source).ok());
  }
}

TEST_F(ModelFileTest, GgufCarriesItsVocabulary) {
  absl::StatusOr<ModelFile> model = OpenModelFile(Formats("tiny-rwkv-7v0-834K-F16.gguf"));
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_EQ(model->vocabulary.size(), 256u);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(model->vocabulary[i], std::string(1, static_cast<char>(i)));
  EXPECT_THAT(model->unused_tensors, ::testing::Contains("blk.0.time_mix_v0.weight"));
}

TEST_F(ModelFileTest, OpensAHuggingFaceDirectory) {
  const std::string repo = dir_ + "/repo";
  std::filesystem::create_directories(repo);
  std::filesystem::copy_file(Formats("tiny-rwkv-7v0-834K-hf.safetensors"),
                             repo + "/model.safetensors");
  std::filesystem::copy_file(Formats("tiny-rwkv-7v0-834K-hf.config.json"), repo + "/config.json");
  absl::StatusOr<ModelFile> model = OpenModelFile(repo);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->format, ModelFormat::kSafetensors);
  absl::StatusOr<ModelConfig> config = InferModelConfig(*model->source);
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->n_layer, 12);
  EXPECT_EQ(config->head_size, 64);
}

TEST_F(ModelFileTest, OpensAShardedHuggingFaceDirectory) {
  const std::string repo = dir_ + "/sharded";
  std::filesystem::create_directories(repo);
  auto file = MappedFile::Open(Formats("tiny-rwkv-7v0-834K-hf.safetensors"));
  ASSERT_TRUE(file.ok());
  auto stored = ReadSafetensors(*file);
  ASSERT_TRUE(stored.ok()) << stored.status();
  std::vector<::rwkv::testing::SafetensorsEntry> shards[2];
  std::vector<std::string> weight_map;
  const std::vector<TensorInfo>& all = (*stored)->Tensors();
  for (size_t i = 0; i < all.size(); ++i) {
    const int shard = i < all.size() / 2 ? 0 : 1;
    shards[shard].push_back(::rwkv::testing::EntryOf(**stored, all[i].name));
    weight_map.push_back(absl::StrCat("\"", all[i].name, "\": \"model-0000", shard + 1,
                                      "-of-00002.safetensors\""));
  }
  for (int shard = 0; shard < 2; ++shard) {
    WriteFile(absl::StrCat(repo, "/model-0000", shard + 1, "-of-00002.safetensors"),
              ::rwkv::testing::SafetensorsBytes(shards[shard]));
  }
  WriteFile(repo + "/model.safetensors.index.json",
            absl::StrCat(R"({"metadata": {}, "weight_map": {)", absl::StrJoin(weight_map, ", "),
                         "}}"));
  std::filesystem::copy_file(Formats("tiny-rwkv-7v0-834K-hf.config.json"), repo + "/config.json");
  absl::StatusOr<ModelFile> model = OpenModelFile(repo);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->family, "Hugging Face RWKV7ForCausalLM (fla-hub)");
  EXPECT_EQ(model->source->Tensors().size(), 339u);  // As the equivalent .bin.
  EXPECT_TRUE(InferModelConfig(*model->source).ok());
}

TEST_F(ModelFileTest, RefusesAConfigThatDisagreesWithTheTensors) {
  const std::string repo = dir_ + "/repo";
  std::filesystem::create_directories(repo);
  std::filesystem::copy_file(Formats("tiny-rwkv-7v0-834K-hf.safetensors"),
                             repo + "/model.safetensors");
  WriteFile(repo + "/config.json", R"({"hidden_size": 2048, "num_hidden_layers": 12})");
  absl::Status status = OpenModelFile(repo).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("says hidden_size is 2048 but the tensors have 64"));
  WriteFile(repo + "/config.json", "{not json");
  EXPECT_THAT(OpenModelFile(repo).status().message(), HasSubstr("config.json"));
  WriteFile(repo + "/config.json", "[1, 2]");
  EXPECT_THAT(OpenModelFile(repo).status().message(), HasSubstr("is not a JSON object"));
}

TEST_F(ModelFileTest, RefusesADirectoryWithoutAModel) {
  absl::Status status = OpenModelFile(dir_).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("without model.safetensors"));
}

TEST_F(ModelFileTest, RefusesWhatIsNotAModel) {
  EXPECT_EQ(OpenModelFile(dir_ + "/missing.pth").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(OpenModelFile(Temp("empty.bin", "")).status().code(), absl::StatusCode::kDataLoss);
  absl::Status status = OpenModelFile(Temp("text.bin", "hello, world\n")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("is not a model file this server reads (it starts with "
                                          "68 65 6c 6c 6f 2c 20 77)"));
  // A pre-1.6 torch.save pickle (protocol 2 opcode first).
  status = OpenModelFile(Temp("legacy.pth", std::string("\x80\x02\x8a\x0a", 4) + "junk")).status();
  EXPECT_THAT(status.message(), HasSubstr("legacy (before PyTorch 1.6) torch.save pickle"));
  // A real torch file that is not an RWKV model.
  status = OpenModelFile(Formats("blinkdl-rwkv8-rosa-sample.pth")).status();
  EXPECT_THAT(status.message(), HasSubstr("not an RWKV checkpoint"));
}

TEST(DetectModelFormatTest, LooksOnlyAtTheBytes) {
  auto detect = [](const std::string& head, int64_t size) {
    return DetectModelFormat(
        absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(head.data()), head.size()), size);
  };
  EXPECT_EQ(detect("GGUF\x03", 100), ModelFormat::kGguf);
  EXPECT_EQ(detect("PK\x03\x04", 100), ModelFormat::kPyTorch);
  EXPECT_EQ(detect("fmgg", 100), ModelFormat::kRwkvCpp);
  EXPECT_EQ(detect(std::string("\x10\0\0\0\0\0\0\0{", 9), 100), ModelFormat::kSafetensors);
  // A header length past the end of the file is not safetensors.
  EXPECT_EQ(detect(std::string("\xff\0\0\0\0\0\0\0{", 9), 100), ModelFormat::kUnknown);
  EXPECT_EQ(detect("", 0), ModelFormat::kUnknown);
  EXPECT_EQ(detect("G", 1), ModelFormat::kUnknown);
}

}  // namespace
}  // namespace rwkv::engine
