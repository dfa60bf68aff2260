// Every checkpoint fixture, mapped onto rwkv.cpp's layout, gives exactly the tensors of the .bin
// that holds the same values: the same names, shapes, float values and content hashes.
#include "engine/model/formats/rwkv_checkpoint.h"

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "engine/model/formats/safetensors_file.h"
#include "engine/model/rwkv_cpp_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/shared_data.h"

namespace rwkv::engine {
namespace {

using ::rwkv::testing::SharedPath;
using ::testing::HasSubstr;

struct Fixture {
  std::string checkpoint;  // under models/formats/
  std::string bin;         // under models/
};

std::vector<Fixture> SafetensorsFixtures() {
  return {
      {"tiny-rwkv-4v0-660K.safetensors", "formats/tiny-rwkv-4v0-660K-bf16-as-FP32.bin"},
      {"tiny-rwkv-5v1-730K.safetensors", "formats/tiny-rwkv-5v1-730K-bf16-as-FP32.bin"},
      {"tiny-rwkv-5v2-730K.safetensors", "formats/tiny-rwkv-5v2-730K-bf16-as-FP32.bin"},
      {"tiny-rwkv-6v0-1m.safetensors", "tiny-rwkv-6v0-1m-FP32.bin"},
      {"tiny-rwkv-7v0-834K.safetensors", "tiny-rwkv-7v0-834K-FP32.bin"},
      {"tiny-rwkv-7v0-834K-hf.safetensors", "tiny-rwkv-7v0-834K-FP32.bin"},
  };
}

std::unique_ptr<RwkvCheckpoint> OpenSafetensors(const std::string& name, int head_size = 0) {
  auto file = MappedFile::Open(SharedPath("models/formats/" + name));
  EXPECT_TRUE(file.ok()) << file.status();
  if (!file.ok()) return nullptr;
  auto stored = ReadSafetensors(*file);
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

TEST(RwkvCheckpointTest, SafetensorsGiveTheTensorsOfTheEquivalentBin) {
  for (const Fixture& fixture : SafetensorsFixtures()) {
    SCOPED_TRACE(fixture.checkpoint);
    std::unique_ptr<RwkvCheckpoint> checkpoint = OpenSafetensors(fixture.checkpoint);
    ASSERT_NE(checkpoint, nullptr);
    auto bin = RwkvCppFile::Open(SharedPath("models/" + fixture.bin));
    ASSERT_TRUE(bin.ok()) << bin.status();
    ExpectSameTensors(*checkpoint, **bin);
    EXPECT_TRUE(checkpoint->unused().empty());
  }
}

TEST(RwkvCheckpointTest, NamesTheFamily) {
  EXPECT_EQ(OpenSafetensors("tiny-rwkv-7v0-834K.safetensors")->family(), "BlinkDL");
  EXPECT_THAT(OpenSafetensors("tiny-rwkv-7v0-834K-hf.safetensors")->family(), HasSubstr("fla"));
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
