#include "tests/util/checkpoint_set_writer.h"

#include <cmath>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/forward/model.h"
#include "engine/model/formats/model_file.h"
#include "engine/model/model_config.h"
#include "engine/model/synthetic_source.h"
#include "gtest/gtest.h"
#include "tests/engine/model/formats/torch_test_files.h"
#include "tests/util/run_command.h"
#include "tests/util/scoped_temp_dir.h"
#include "tests/util/shared_data.h"

namespace rwkv::testing {
namespace {

using engine::GgmlType;
using engine::ModelFile;
using engine::ModelFormat;
using engine::TensorInfo;
using engine::TensorSource;

// Small, but with every RWKV-7 tensor kind: 2 heads, 2 layers (layer 0 has no value LoRA).
std::unique_ptr<engine::SyntheticSource> TinySource() {
  return engine::SyntheticSource::FromShape({"rwkv7-tiny", 128, 2, 512, 64});
}

std::vector<float> Values(const TensorSource& source, const std::string& name) {
  const TensorInfo* info = source.Find(name);
  EXPECT_NE(info, nullptr) << source.Describe() << " has no " << name;
  if (info == nullptr) return {};
  std::vector<float> values(static_cast<size_t>(info->NumElements()));
  EXPECT_TRUE(source.ReadF32(name, absl::MakeSpan(values)).ok()) << name;
  return values;
}

std::string Fingerprint(const TensorSource& source) {
  const absl::StatusOr<engine::ModelConfig> config = engine::InferModelConfig(source);
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? engine::ComputeFingerprint(source, *config) : "";
}

class CheckpointSetWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = TinySource();
    std::filesystem::create_directories(dir_.path());
    const absl::StatusOr<CheckpointSet> set = WriteCheckpointSet(*source_, dir_.path());
    ASSERT_TRUE(set.ok()) << set.status();
    set_ = *set;
  }

  ModelFile Open(const std::string& path, ModelFormat format) {
    absl::StatusOr<ModelFile> model = engine::OpenModelFile(path);
    EXPECT_TRUE(model.ok()) << model.status();
    if (!model.ok()) return {};
    EXPECT_EQ(model->format, format) << path;
    return *std::move(model);
  }

  ScopedTempDir dir_;
  std::unique_ptr<engine::SyntheticSource> source_;
  CheckpointSet set_;
};

TEST_F(CheckpointSetWriterTest, BinHoldsTheSourceRoundedToF16WithRwkvCppTypes) {
  const ModelFile bin = Open(set_.bin_fp16, ModelFormat::kRwkvCpp);
  ASSERT_NE(bin.source, nullptr);
  ASSERT_EQ(bin.source->Tensors().size(), source_->Tensors().size());
  for (const TensorInfo& info : source_->Tensors()) {
    const TensorInfo* stored = bin.source->Find(info.name);
    ASSERT_NE(stored, nullptr) << info.name;
    EXPECT_EQ(stored->ne, info.ne) << info.name;
    const bool matrix = info.name.find(".weight") != std::string::npos && info.ne.size() == 2;
    if (matrix) {
      EXPECT_EQ(stored->type, GgmlType::kF16) << info.name;
    }
    if (info.ne.size() == 1) {
      EXPECT_EQ(stored->type, GgmlType::kF32) << info.name;
    }
    const std::vector<float> want = Values(*source_, info.name);
    const std::vector<float> got = Values(*bin.source, info.name);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_LE(std::fabs(got[i] - want[i]), std::fabs(want[i]) * 0x1p-11f + 0x1p-24f)
          << info.name << "[" << i << "]";
    }
  }
}

TEST_F(CheckpointSetWriterTest, F16PthGivesTheBinsTensorsAndFingerprint) {
  const ModelFile bin = Open(set_.bin_fp16, ModelFormat::kRwkvCpp);
  const ModelFile pth = Open(set_.pth_f16, ModelFormat::kPyTorch);
  ASSERT_NE(bin.source, nullptr);
  ASSERT_NE(pth.source, nullptr);
  EXPECT_EQ(pth.family, "BlinkDL");
  ASSERT_EQ(pth.source->Tensors().size(), bin.source->Tensors().size());
  for (const TensorInfo& info : bin.source->Tensors()) {
    const TensorInfo* loaded = pth.source->Find(info.name);
    ASSERT_NE(loaded, nullptr) << info.name;
    EXPECT_EQ(loaded->ne, info.ne) << info.name;
    EXPECT_EQ(loaded->type, info.type) << info.name;
    EXPECT_EQ(Values(*pth.source, info.name), Values(*bin.source, info.name)) << info.name;
  }
  EXPECT_EQ(Fingerprint(*pth.source), Fingerprint(*bin.source));
}

TEST_F(CheckpointSetWriterTest, Bf16PthHoldsTheValuesRoundedToBf16) {
  const ModelFile bin = Open(set_.bin_fp16, ModelFormat::kRwkvCpp);
  const ModelFile pth = Open(set_.pth_bf16, ModelFormat::kPyTorch);
  ASSERT_NE(pth.source, nullptr);
  for (const TensorInfo& info : bin.source->Tensors()) {
    const std::vector<float> want = Values(*bin.source, info.name);
    const std::vector<float> got = Values(*pth.source, info.name);
    ASSERT_EQ(got.size(), want.size()) << info.name;
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_LE(std::fabs(got[i] - want[i]), std::fabs(want[i]) * 0x1p-8f)
          << info.name << "[" << i << "]";
    }
  }
}

TEST_F(CheckpointSetWriterTest, GgufGivesTheBinsValues) {
  const ModelFile bin = Open(set_.bin_fp16, ModelFormat::kRwkvCpp);
  const ModelFile gguf = Open(set_.gguf_f16, ModelFormat::kGguf);
  ASSERT_NE(gguf.source, nullptr);
  EXPECT_EQ(gguf.family, "llama.cpp GGUF rwkv7");
  // Layer 0's dummy value LoRA is stored for llama.cpp and unused here.
  EXPECT_EQ(gguf.unused_tensors.size(), 3u);
  ASSERT_EQ(gguf.source->Tensors().size(), bin.source->Tensors().size());
  for (const TensorInfo& info : bin.source->Tensors()) {
    const TensorInfo* loaded = gguf.source->Find(info.name);
    ASSERT_NE(loaded, nullptr) << info.name;
    EXPECT_EQ(loaded->ne, info.ne) << info.name;
    EXPECT_EQ(Values(*gguf.source, info.name), Values(*bin.source, info.name)) << info.name;
  }
}

// The tool on the shared tiny RWKV-7: its .bin has the types of rwkv.cpp's own FP16 conversion
// and the same F16 bytes; the f16 .pth has that .bin's fingerprint.
TEST(WriteCheckpointsTool, MatchesRwkvCppsFp16ConversionOfTheTinyModel) {
  ScopedTempDir dir;
  const CommandResult run = RunCommand(absl::StrCat(
      RWKV_WRITE_CHECKPOINTS, " --model ", SharedPath("models/tiny-rwkv-7v0-834K-FP32.bin"),
      " --out ", dir.path(), " 2>&1"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const absl::StatusOr<ModelFile> ours = engine::OpenModelFile(dir.path() + "/model-FP16.bin");
  const absl::StatusOr<ModelFile> theirs =
      engine::OpenModelFile(SharedPath("models/tiny-rwkv-7v0-834K-FP16.bin"));
  const absl::StatusOr<ModelFile> pth = engine::OpenModelFile(dir.path() + "/model-f16.pth");
  ASSERT_TRUE(ours.ok()) << ours.status();
  ASSERT_TRUE(theirs.ok()) << theirs.status();
  ASSERT_TRUE(pth.ok()) << pth.status();
  ASSERT_EQ(ours->source->Tensors().size(), theirs->source->Tensors().size());
  for (const TensorInfo& info : theirs->source->Tensors()) {
    const TensorInfo* mine = ours->source->Find(info.name);
    ASSERT_NE(mine, nullptr) << info.name;
    EXPECT_EQ(mine->type, info.type) << info.name;
    if (info.type == GgmlType::kF16) {
      EXPECT_EQ(ours->source->ContentHash(info.name), theirs->source->ContentHash(info.name))
          << info.name;
    }
  }
  EXPECT_EQ(Fingerprint(*pth->source), Fingerprint(*ours->source));
  EXPECT_TRUE(engine::OpenModelFile(dir.path() + "/model-F16.gguf").ok());
}

// The check value of the CRC-32 that zip (and torch.load) uses.
TEST(StoredZipWriter, Crc32OfTheStandardCheckString) {
  EXPECT_EQ(engine::torch_test::Crc32(0, "123456789", 9), 0xcbf43926u);
  EXPECT_EQ(engine::torch_test::Crc32(engine::torch_test::Crc32(0, "1234", 4), "56789", 5),
            0xcbf43926u);
}

TEST(CheckpointSetWriter, RefusesAnUnwritableDirectory) {
  const auto source = TinySource();
  const absl::StatusOr<CheckpointSet> set = WriteCheckpointSet(*source, "/nonexistent/dir");
  EXPECT_EQ(set.status().code(), absl::StatusCode::kPermissionDenied) << set.status();
}

}  // namespace
}  // namespace rwkv::testing
