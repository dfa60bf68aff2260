#include "engine/model/formats/safetensors_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/model/rwkv_cpp_file.h"
#include "tests/util/shared_data.h"

namespace rwkv::engine {
namespace {

using ::rwkv::testing::ReadFileBytes;
using ::rwkv::testing::SharedPath;
using ::testing::HasSubstr;

std::string LengthPrefix(uint64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
  return out;
}

// A safetensors file: length, `header` as given, then `data`.
std::string Build(const std::string& header, const std::string& data) {
  return LengthPrefix(header.size()) + header + data;
}

absl::StatusOr<std::unique_ptr<StoredTensors>> ReadBytes(std::string bytes) {
  return ReadSafetensors(MappedFile::FromBytes("test.safetensors", std::move(bytes)));
}

std::vector<std::string> Fixtures() {
  std::vector<std::string> paths;
  for (const auto& entry : std::filesystem::directory_iterator(SharedPath("models/formats"))) {
    if (entry.path().extension() == ".safetensors") paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

TEST(SafetensorsFileTest, EveryFixtureOpensAndDecodes) {
  const std::vector<std::string> paths = Fixtures();
  ASSERT_GE(paths.size(), 6u);
  for (const std::string& path : paths) {
    SCOPED_TRACE(path);
    auto file = MappedFile::Open(path);
    ASSERT_TRUE(file.ok()) << file.status();
    auto tensors = ReadSafetensors(*file);
    ASSERT_TRUE(tensors.ok()) << tensors.status();
    EXPECT_EQ((*tensors)->format(), "safetensors");
    EXPECT_EQ((*tensors)->Describe(), path);
    ASSERT_NE((*tensors)->FindMetadata("format"), nullptr);
    EXPECT_EQ(std::get<std::string>(*(*tensors)->FindMetadata("format")), "pt");
    const uint8_t* previous_end = nullptr;
    for (const TensorInfo& info : (*tensors)->Tensors()) {
      EXPECT_EQ(info.type, GgmlType::kBF16) << info.name;
      // Listed in the order of their bytes.
      const auto raw = (*tensors)->RawData(info.name);
      ASSERT_TRUE(raw.ok());
      EXPECT_GE(raw->data(), previous_end) << info.name;
      previous_end = raw->data() + raw->size();
      std::vector<float> values(info.NumElements());
      ASSERT_TRUE((*tensors)->ReadF32(info.name, absl::MakeSpan(values)).ok()) << info.name;
    }
  }
}

TEST(SafetensorsFileTest, Rwkv7ValuesMatchItsBin) {
  auto file = MappedFile::Open(SharedPath("models/formats/tiny-rwkv-7v0-834K.safetensors"));
  ASSERT_TRUE(file.ok()) << file.status();
  auto tensors = ReadSafetensors(*file);
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  const TensorInfo* emb = (*tensors)->Find("emb.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->type, GgmlType::kBF16);
  EXPECT_EQ(emb->ne, (std::vector<int64_t>{64, 256}));
  EXPECT_EQ((*tensors)->Find("blocks.0.att.a1")->ne, (std::vector<int64_t>{32, 64}));
  // Every weight of this model is bf16-representable: the f32 .bin holds the same values.
  auto bin = RwkvCppFile::Open(SharedPath("models/tiny-rwkv-7v0-834K-FP32.bin"));
  ASSERT_TRUE(bin.ok()) << bin.status();
  std::vector<float> ours(emb->NumElements()), theirs(emb->NumElements());
  ASSERT_TRUE((*tensors)->ReadF32("emb.weight", absl::MakeSpan(ours)).ok());
  ASSERT_TRUE((*bin)->ReadF32("emb.weight", absl::MakeSpan(theirs)).ok());
  EXPECT_EQ(ours, theirs);
}

TEST(SafetensorsFileTest, HuggingFaceNamesAreKept) {
  auto file = MappedFile::Open(SharedPath("models/formats/tiny-rwkv-7v0-834K-hf.safetensors"));
  ASSERT_TRUE(file.ok()) << file.status();
  auto tensors = ReadSafetensors(*file);
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  const TensorInfo* r = (*tensors)->Find("model.layers.0.attn.r_proj.weight");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->ne, (std::vector<int64_t>{64, 64}));
  EXPECT_NE((*tensors)->Find("model.layers.11.attn.w_lora.lora.0.weight"), nullptr);
  EXPECT_NE((*tensors)->Find("lm_head.weight"), nullptr);
  EXPECT_EQ((*tensors)->Find("emb.weight"), nullptr);
}

TEST(SafetensorsFileTest, ReadsF32AndF16AndScalars) {
  // 1.0f, -2.0f as F32; 1.0 as F16 (0x3c00); a scalar F32 0.5.
  std::string data("\x00\x00\x80\x3f\x00\x00\x00\xc0\x00\x3c\x00\x00\x00\x3f", 14);
  auto tensors = ReadBytes(Build(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                 R"("b":{"dtype":"F16","shape":[1],"data_offsets":[8,10]},)"
                                 R"("s":{"dtype":"F32","shape":[],"data_offsets":[10,14]}})",
                                 data));
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  std::vector<float> a(2), b(1), s(1);
  ASSERT_TRUE((*tensors)->ReadF32("a", absl::MakeSpan(a)).ok());
  ASSERT_TRUE((*tensors)->ReadF32("b", absl::MakeSpan(b)).ok());
  ASSERT_TRUE((*tensors)->ReadF32("s", absl::MakeSpan(s)).ok());
  EXPECT_EQ(a, (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(b[0], 1.0f);
  EXPECT_EQ(s[0], 0.5f);
  EXPECT_TRUE((*tensors)->Find("s")->ne.empty());
}

// ---- Malformed files. ----

void ExpectRefused(const std::string& bytes, absl::StatusCode code, const std::string& text) {
  auto tensors = ReadBytes(bytes);
  ASSERT_FALSE(tensors.ok());
  EXPECT_EQ(tensors.status().code(), code) << tensors.status();
  EXPECT_THAT(std::string(tensors.status().message()), HasSubstr(text));
  EXPECT_THAT(std::string(tensors.status().message()), HasSubstr("test.safetensors"));
}

const std::string kFourFloats(16, '\0');

TEST(SafetensorsFileTest, RefusesBadHeaderLengths) {
  ExpectRefused("\x05\x00\x00", absl::StatusCode::kDataLoss, "truncated");
  ExpectRefused(LengthPrefix(1000) + "{}", absl::StatusCode::kDataLoss, "past the end");
  ExpectRefused(LengthPrefix(uint64_t{1} << 40) + "{}", absl::StatusCode::kInvalidArgument,
                "header length");
  ExpectRefused(LengthPrefix(~uint64_t{0}) + "{}", absl::StatusCode::kInvalidArgument,
                "header length");
}

TEST(SafetensorsFileTest, RefusesOffsetsPastTheEnd) {
  ExpectRefused(Build(R"({"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})", kFourFloats),
                absl::StatusCode::kDataLoss, "'a'");
  ExpectRefused(Build(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,)"
                      R"(18446744073709551615]}})",
                      kFourFloats),
                absl::StatusCode::kDataLoss, "past the end");
  ExpectRefused(Build(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551611,)"
                      R"(18446744073709551615]}})",
                      kFourFloats),
                absl::StatusCode::kDataLoss, "past the end");
}

TEST(SafetensorsFileTest, RefusesOverlapsAndSizeMismatches) {
  ExpectRefused(Build(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                      kFourFloats),
                absl::StatusCode::kInvalidArgument, "overlaps tensor 'a'");
  ExpectRefused(Build(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", kFourFloats),
                absl::StatusCode::kInvalidArgument, "needs 12 bytes, the offsets give 8");
  ExpectRefused(Build(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,4]}})", kFourFloats),
                absl::StatusCode::kInvalidArgument, "ends before it begins");
  ExpectRefused(Build(R"({"a":{"dtype":"F32","shape":[2,0],"data_offsets":[0,0]}})", kFourFloats),
                absl::StatusCode::kInvalidArgument, "not positive");
  ExpectRefused(Build(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],)"
                      R"("data_offsets":[0,16]}})",
                      kFourFloats),
                absl::StatusCode::kInvalidArgument, "overflows");
}

TEST(SafetensorsFileTest, RefusesBadEntries) {
  ExpectRefused(Build(R"({"a":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}})", kFourFloats),
                absl::StatusCode::kInvalidArgument, "dtype 'I8' is not supported");
  ExpectRefused(Build(R"({"a":{"shape":[4],"data_offsets":[0,4]}})", kFourFloats),
                absl::StatusCode::kInvalidArgument, "dtype");
  ExpectRefused(Build(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", kFourFloats),
                absl::StatusCode::kInvalidArgument, "not a dimension");
  ExpectRefused(Build(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", kFourFloats),
                absl::StatusCode::kInvalidArgument, "data_offsets");
  ExpectRefused(Build(R"({"a":[1,2]})", kFourFloats), absl::StatusCode::kInvalidArgument,
                "not a JSON object");
  ExpectRefused(Build(R"({"__metadata__":{"format":1}})", kFourFloats),
                absl::StatusCode::kInvalidArgument, "not a string");
  ExpectRefused(Build(R"([1,2,3])", kFourFloats), absl::StatusCode::kInvalidArgument,
                "not a JSON object");
}

TEST(SafetensorsFileTest, RefusesBadJson) {
  ExpectRefused(Build(R"({"a":{"dtype":"F32",)", kFourFloats), absl::StatusCode::kInvalidArgument,
                "bad JSON");
  ExpectRefused(Build("{\"\xff\":1}", kFourFloats), absl::StatusCode::kInvalidArgument, "bad JSON");
  ExpectRefused(Build(std::string(100, '[') + std::string(100, ']'), kFourFloats),
                absl::StatusCode::kInvalidArgument, "nested deeper");
}

TEST(SafetensorsFileTest, RefusesDuplicateKeys) {
  ExpectRefused(Build(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                      R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                      kFourFloats),
                absl::StatusCode::kInvalidArgument, "\"a\" appears twice");
  ExpectRefused(
      Build(R"({"a":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}})", kFourFloats),
      absl::StatusCode::kInvalidArgument, "\"dtype\" appears twice");
}

TEST(SafetensorsFileTest, EveryTruncationIsRefused) {
  auto bytes = ReadFileBytes(SharedPath("models/formats/tiny-rwkv-5v1-730K.safetensors"));
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  for (size_t size = 0; size < bytes->size(); size += size < 40000 ? 13 : 4099) {
    auto tensors = ReadBytes(bytes->substr(0, size));
    ASSERT_FALSE(tensors.ok()) << size;
    const absl::StatusCode code = tensors.status().code();
    EXPECT_TRUE(code == absl::StatusCode::kDataLoss || code == absl::StatusCode::kInvalidArgument)
        << size << ": " << tensors.status();
  }
}

// ---- Sharded models. ----

// The safetensors bytes of `names` taken from `source`, in that order.
std::string WriteShard(const StoredTensors& source, const std::vector<std::string>& names) {
  std::vector<std::string> entries;
  std::string data;
  for (const std::string& name : names) {
    const TensorInfo& info = *source.Find(name);
    const auto raw = *source.RawData(name);
    const std::vector<int64_t> shape(info.ne.rbegin(), info.ne.rend());
    entries.push_back(absl::StrCat("\"", name, R"(":{"dtype":"BF16","shape":[)",
                                   absl::StrJoin(shape, ","), R"(],"data_offsets":[)", data.size(),
                                   ",", data.size() + raw.size(), "]}"));
    data.append(reinterpret_cast<const char*>(raw.data()), raw.size());
  }
  return Build(absl::StrCat("{", absl::StrJoin(entries, ","), "}"), data);
}

class ShardsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto file = MappedFile::Open(SharedPath("models/formats/tiny-rwkv-7v0-834K.safetensors"));
    ASSERT_TRUE(file.ok()) << file.status();
    auto tensors = ReadSafetensors(*file);
    ASSERT_TRUE(tensors.ok()) << tensors.status();
    source_ = std::move(*tensors);
    dir_ = rwkv::testing::UniqueTempPath("shards");
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    const std::vector<TensorInfo>& all = source_->Tensors();
    for (size_t i = 0; i < all.size(); ++i)
      halves_[i < all.size() / 2 ? 0 : 1].push_back(all[i].name);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ + "/" + name, std::ios::binary).write(bytes.data(), bytes.size());
  }
  // Writes both shards and an index: `extra_map` entries first (they win), then every tensor.
  void WriteModel(const std::string& extra_map = "") {
    Write("model-00001-of-00002.safetensors", WriteShard(*source_, halves_[0]));
    Write("model-00002-of-00002.safetensors", WriteShard(*source_, halves_[1]));
    std::vector<std::string> map;
    if (!extra_map.empty()) map.push_back(extra_map);
    for (int shard = 0; shard < 2; ++shard) {
      for (const std::string& name : halves_[shard]) {
        if (extra_map.find(absl::StrCat("\"", name, "\"")) != std::string::npos) continue;
        map.push_back(
            absl::StrCat("\"", name, "\":\"model-0000", shard + 1, "-of-00002.safetensors\""));
      }
    }
    Write(kSafetensorsIndexName, absl::StrCat(R"({"metadata":{"total_size":1234},"weight_map":{)",
                                              absl::StrJoin(map, ","), "}}"));
  }

  std::unique_ptr<StoredTensors> source_;
  std::string dir_;
  std::vector<std::string> halves_[2];
};

TEST_F(ShardsTest, MergesEveryShard) {
  WriteModel();
  auto merged = ReadSafetensorsShards(dir_);
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_EQ((*merged)->Describe(), dir_);
  EXPECT_EQ((*merged)->format(), "safetensors");
  ASSERT_EQ((*merged)->Tensors().size(), source_->Tensors().size());
  for (const TensorInfo& info : source_->Tensors()) {
    const TensorInfo* found = (*merged)->Find(info.name);
    ASSERT_NE(found, nullptr) << info.name;
    EXPECT_EQ(found->ne, info.ne);
    EXPECT_EQ((*merged)->ContentHash(info.name), source_->ContentHash(info.name));
  }
  ASSERT_NE((*merged)->FindMetadata("total_size"), nullptr);
  EXPECT_EQ(std::get<int64_t>(*(*merged)->FindMetadata("total_size")), 1234);
}

TEST_F(ShardsTest, RefusesATensorMissingFromItsShard) {
  const std::string moved = halves_[1].front();
  WriteModel("\"" + moved + "\":\"model-00001-of-00002.safetensors\"");
  auto merged = ReadSafetensorsShards(dir_);
  ASSERT_FALSE(merged.ok());
  EXPECT_EQ(merged.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(merged.status().message()), HasSubstr(moved));
}

TEST_F(ShardsTest, RefusesATensorInTwoShards) {
  halves_[1].push_back(halves_[0].front());
  WriteModel();
  auto merged = ReadSafetensorsShards(dir_);
  ASSERT_FALSE(merged.ok());
  EXPECT_THAT(std::string(merged.status().message()), HasSubstr("appears twice"));
}

TEST_F(ShardsTest, RefusesShardsOutsideTheDirectory) {
  WriteModel("\"x\":\"../model.safetensors\"");
  auto merged = ReadSafetensorsShards(dir_);
  ASSERT_FALSE(merged.ok());
  EXPECT_THAT(std::string(merged.status().message()),
              HasSubstr("not a file name in the same directory"));
}

TEST_F(ShardsTest, MissingShardIsNotFound) {
  WriteModel("\"x\":\"model-00003-of-00002.safetensors\"");
  auto merged = ReadSafetensorsShards(dir_);
  ASSERT_FALSE(merged.ok());
  EXPECT_EQ(merged.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadSafetensorsShards(dir_ + "/nowhere").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace rwkv::engine
