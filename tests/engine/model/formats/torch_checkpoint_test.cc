#include "engine/model/formats/torch_checkpoint.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/model/formats/pickle_reader.h"
#include "engine/model/formats/zip_reader.h"
#include "engine/model/quantization.h"
#include "engine/model/rwkv_cpp_file.h"
#include "tests/engine/model/formats/torch_test_files.h"
#include "tests/util/shared_data.h"

namespace rwkv::engine {
namespace {

using namespace torch_test;  // NOLINT: the builders read as a file's parts.

constexpr char kFixtures[] = "models/formats/";

std::string FixturePath(const std::string& name) { return testing::SharedPath(kFixtures + name); }

absl::StatusOr<std::unique_ptr<StoredTensors>> ReadFixture(const std::string& name) {
  auto file = MappedFile::Open(FixturePath(name));
  if (!file.ok()) return file.status();
  return ReadTorchCheckpoint(*file);
}

absl::StatusOr<std::unique_ptr<StoredTensors>> ReadBytes(std::string bytes) {
  return ReadTorchCheckpoint(MappedFile::FromBytes("test.pth", std::move(bytes)));
}

std::string FixtureBytes(const std::string& name) {
  auto bytes = testing::ReadFileBytes(FixturePath(name));
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

// BF16 storage sizes come with the BF16 support of quantization.cc (merged from the safetensors
// and GGUF work); until then only F32/F16 checkpoints can be added to a StoredTensors.
bool Bf16Supported() { return StoredBytes(GgmlType::kBF16, 1).ok(); }

std::string Sha256Hex(absl::Span<const uint8_t> data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), length));
}

// Expects `bytes` refused with `code`, naming test.pth and each of `fragments`.
void ExpectRefused(std::string bytes, absl::StatusCode code,
                   const std::vector<std::string>& fragments) {
  const absl::Status status = ReadBytes(std::move(bytes)).status();
  EXPECT_EQ(status.code(), code) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "test.pth")) << status;
  for (const std::string& fragment : fragments) {
    EXPECT_TRUE(absl::StrContains(status.message(), fragment)) << status << "\nlacks: " << fragment;
  }
}

// The container level, whatever types StoredTensors supports: every fixture's state dict lists
// its tensors with their storages, and every storage entry is there.
TEST(TorchCheckpointTest, EveryFixtureStateDictParses) {
  for (const char* name :
       {"tiny-rwkv-4v0-660K.pth", "tiny-rwkv-5v1-730K.pth", "tiny-rwkv-5v2-730K.pth",
        "tiny-rwkv-6v0-1m.pth", "tiny-rwkv-7v0-834K.pth", "tiny-rwkv-7v0-834K-FP32.pth",
        "blinkdl-rwkv8-rosa-sample.pth"}) {
    auto file = MappedFile::Open(FixturePath(name));
    ASSERT_TRUE(file.ok()) << file.status();
    const auto zip = ZipArchive::Open(*file);
    ASSERT_TRUE(zip.ok()) << zip.status();
    const std::string root = zip->entries()[0].name.substr(0, zip->entries()[0].name.find('/'));
    const ZipEntry* pickle = zip->Find(root + "/data.pkl");
    ASSERT_NE(pickle, nullptr) << name;
    const auto tensors = ReadStateDictPickle(pickle->data, name);
    ASSERT_TRUE(tensors.ok()) << tensors.status();
    ASSERT_GT(tensors->size(), 10u) << name;
    for (const PickledTensor& tensor : *tensors) {
      const ZipEntry* storage = zip->Find(root + "/data/" + tensor.storage_key);
      ASSERT_NE(storage, nullptr) << name << ": " << tensor.name;
      EXPECT_EQ(static_cast<int64_t>(storage->data.size()),
                tensor.storage_numel * TorchStorageElementBytes(tensor.storage_type));
    }
    if (std::string(name) == "tiny-rwkv-7v0-834K.pth") {
      EXPECT_EQ((*tensors)[0].name, "emb.weight");
      EXPECT_EQ((*tensors)[0].storage_type, TorchStorageType::kBFloat16);
      EXPECT_EQ((*tensors)[0].shape, (std::vector<int64_t>{256, 64}));
    }
  }
}

TEST(TorchCheckpointTest, ReadsEveryFixture) {
  if (!Bf16Supported()) GTEST_SKIP() << "BF16 support in quantization.cc not merged yet";
  for (const char* name :
       {"tiny-rwkv-4v0-660K.pth", "tiny-rwkv-5v1-730K.pth", "tiny-rwkv-5v2-730K.pth",
        "tiny-rwkv-6v0-1m.pth", "tiny-rwkv-7v0-834K.pth", "tiny-rwkv-7v0-834K-FP32.pth",
        "blinkdl-rwkv8-rosa-sample.pth"}) {
    const auto tensors = ReadFixture(name);
    ASSERT_TRUE(tensors.ok()) << tensors.status();
    EXPECT_EQ((*tensors)->format(), "PyTorch .pth");
    EXPECT_GT((*tensors)->Tensors().size(), 10u) << name;
    for (const TensorInfo& info : (*tensors)->Tensors()) {
      std::vector<float> values(info.NumElements());
      ASSERT_TRUE((*tensors)->ReadF32(info.name, absl::MakeSpan(values)).ok()) << info.name;
    }
  }
  const auto v7 = ReadFixture("tiny-rwkv-7v0-834K.pth");
  ASSERT_TRUE(v7.ok());
  const TensorInfo* emb = (*v7)->Find("emb.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->type, GgmlType::kBF16);
  EXPECT_EQ(emb->ne, (std::vector<int64_t>{64, 256}));
  EXPECT_EQ((*v7)->Tensors()[0].name, "emb.weight");  // pickle order
  EXPECT_EQ((*v7)->Find("blocks.0.att.x_r")->ne, (std::vector<int64_t>{64, 1, 1}));
  const MetadataValue* root = (*v7)->FindMetadata(kTorchArchiveRootKey);
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(std::get<std::string>(*root), "tiny_rwkv_7v0_834K");
}

// The f32 .pth holds exactly the values of the rwkv.cpp file made from it, for the tensors the
// converter keeps as they are.
TEST(TorchCheckpointTest, Float32FixtureMatchesItsRwkvCppFile) {
  const auto pth = ReadFixture("tiny-rwkv-7v0-834K-FP32.pth");
  ASSERT_TRUE(pth.ok()) << pth.status();
  const auto bin = RwkvCppFile::Open(testing::SharedPath("models/tiny-rwkv-7v0-834K-FP32.bin"));
  ASSERT_TRUE(bin.ok()) << bin.status();
  for (const char* name : {"emb.weight", "head.weight", "blocks.0.ln1.weight",
                           "blocks.3.att.receptance.weight", "blocks.11.ffn.value.weight"}) {
    const TensorInfo* a = (*pth)->Find(name);
    const TensorInfo* b = (*bin)->Find(name);
    ASSERT_NE(a, nullptr) << name;
    ASSERT_NE(b, nullptr) << name;
    EXPECT_EQ(a->type, GgmlType::kF32);
    EXPECT_EQ(a->ne, b->ne) << name;
    std::vector<float> x(a->NumElements()), y(b->NumElements());
    ASSERT_TRUE((*pth)->ReadF32(name, absl::MakeSpan(x)).ok());
    ASSERT_TRUE((*bin)->ReadF32(name, absl::MakeSpan(y)).ok());
    EXPECT_EQ(x, y) << name;
  }
  // Tensors view the mapping; nothing is copied.
  const auto raw = (*pth)->RawData("emb.weight");
  ASSERT_TRUE(raw.ok());
  const absl::Span<const uint8_t> file = (*pth)->file().bytes();
  EXPECT_GE(raw->data(), file.data());
  EXPECT_LE(raw->data() + raw->size(), file.data() + file.size());
}

TEST(TorchCheckpointTest, ListsTheRosaSampleExactly) {
  std::ifstream in(FixturePath("blinkdl-rwkv8-rosa-sample.tensors.json"));
  const nlohmann::json expected = nlohmann::json::parse(in);
  const auto tensors = ReadFixture("blinkdl-rwkv8-rosa-sample.pth");
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  const std::vector<TensorInfo>& infos = (*tensors)->Tensors();
  ASSERT_EQ(infos.size(), expected["tensors"].size());
  ASSERT_EQ(infos.size(), expected["n_tensors"].get<size_t>());
  EXPECT_EQ(std::get<std::string>(*(*tensors)->FindMetadata(kTorchArchiveRootKey)),
            expected["zip_root"].get<std::string>());
  for (size_t i = 0; i < infos.size(); ++i) {
    const nlohmann::json& want = expected["tensors"][i];
    EXPECT_EQ(infos[i].name, want["name"].get<std::string>()) << i;
    EXPECT_EQ(GgmlTypeName(infos[i].type), want["dtype"].get<std::string>()) << infos[i].name;
    std::vector<int64_t> shape = want["shape"].get<std::vector<int64_t>>();
    if (shape.empty()) shape = {1};
    EXPECT_EQ(infos[i].ne, std::vector<int64_t>(shape.rbegin(), shape.rend())) << infos[i].name;
    const auto raw = (*tensors)->RawData(infos[i].name);
    ASSERT_TRUE(raw.ok());
    EXPECT_EQ(Sha256Hex(*raw), want["sha256"].get<std::string>()) << infos[i].name;
  }
}

TEST(TorchCheckpointTest, ReadsViewsOfSharedStoragesAndScalars) {
  std::string halves;  // f16 1, 2, ..., 8
  for (const uint16_t h : {0x3c00, 0x4000, 0x4200, 0x4400, 0x4500, 0x4600, 0x4700, 0x4800}) {
    PutLE(halves, h, 2);
  }
  std::string scalar;
  PutLE(scalar, 0x40490fdb, 4);  // pi
  const std::string pickle =
      StateDictPickle({TensorItem("a", "HalfStorage", "0", 8, 0, {2, 2}, {2, 1}),
                       TensorItem("b", "HalfStorage", "0", 8, 4, {4}, {1}),
                       TensorItem("s", "FloatStorage", "7", 1, 0, {}, {})});
  const auto tensors = ReadBytes(StoredZip({{"m/data.pkl", pickle},
                                            {"m/byteorder", "little"},
                                            {"m/data/0", halves},
                                            {"m/data/7", scalar}}));
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  ASSERT_EQ((*tensors)->Tensors().size(), 3u);
  std::vector<float> b(4), s(1);
  ASSERT_TRUE((*tensors)->ReadF32("b", absl::MakeSpan(b)).ok());
  EXPECT_EQ(b, (std::vector<float>{5, 6, 7, 8}));
  EXPECT_EQ((*tensors)->Find("a")->ne, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ((*tensors)->Find("s")->ne, (std::vector<int64_t>{1}));
  ASSERT_TRUE((*tensors)->ReadF32("s", absl::MakeSpan(s)).ok());
  EXPECT_FLOAT_EQ(s[0], 3.14159265f);
  EXPECT_EQ(std::get<std::string>(*(*tensors)->FindMetadata(kTorchByteOrderKey)), "little");
}

TEST(TorchCheckpointTest, RefusesWhatIsNotAZipCheckpoint) {
  ExpectRefused("", absl::StatusCode::kDataLoss, {"empty file"});
  ExpectRefused("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.",
                absl::StatusCode::kInvalidArgument,
                {"legacy (pre-1.6) torch.save format is not supported; re-save with "
                 "torch.save(..., _use_new_zipfile_serialization=True)"});
  ExpectRefused("GGUF\3\0\0\0", absl::StatusCode::kInvalidArgument, {"not a PyTorch checkpoint"});
  ExpectRefused(StoredZip({{"m/other", "x"}}), absl::StatusCode::kInvalidArgument,
                {"no <root>/data.pkl entry"});
  ExpectRefused(StoredZip({{"a/data.pkl", "x"}, {"b/data.pkl", "x"}}),
                absl::StatusCode::kInvalidArgument, {"2 data.pkl entries"});
  ExpectRefused(StoredZip({{"m/data.pkl", StateDictPickle({})}}),
                absl::StatusCode::kInvalidArgument, {"the state dict holds no tensors"});
  ExpectRefused(StoredZip({{"m/data.pkl", StateDictPickle({})}, {"m/byteorder", "big"}}),
                absl::StatusCode::kInvalidArgument, {"the state dict holds no tensors"});
}

TEST(TorchCheckpointTest, RefusesMissingAndShortStorages) {
  const std::string pickle =
      StateDictPickle({TensorItem("w", "FloatStorage", "0", 6, 0, {2, 3}, {3, 1}),
                       TensorItem("v", "FloatStorage", "1", 4, 0, {4}, {1})});
  ExpectRefused(StoredZip({{"m/data.pkl", pickle}, {"m/data/0", Bytes(24)}}),
                absl::StatusCode::kInvalidArgument,
                {"tensor 'v': its storage '1' has no entry 'm/data/1' in the archive"});
  ExpectRefused(
      StoredZip({{"m/data.pkl", pickle}, {"m/data/0", Bytes(23)}, {"m/data/1", Bytes(16)}}),
      absl::StatusCode::kInvalidArgument,
      {"tensor 'w': its FloatStorage of 6 elements needs 6 x 4 bytes, entry 'm/data/0'",
       "holds 23"});
  const std::string twice = StateDictPickle({TensorItem("w", "FloatStorage", "0", 6, 0, {6}, {1}),
                                             TensorItem("v", "HalfStorage", "0", 6, 0, {6}, {1})});
  ExpectRefused(StoredZip({{"m/data.pkl", twice}, {"m/data/0", Bytes(24)}}),
                absl::StatusCode::kInvalidArgument, {"named again with another type"});
  ExpectRefused(StoredZip({{"m/data.pkl", pickle},
                           {"m/data/0", Bytes(24)},
                           {"m/data/1", Bytes(16)},
                           {"m/byteorder", "big"}}),
                absl::StatusCode::kInvalidArgument, {"byteorder is 'big'; only little-endian"});
}

TEST(TorchCheckpointTest, RefusesPatchedFixtures) {
  const std::string fixture = FixtureBytes("tiny-rwkv-7v0-834K-FP32.pth");
  ASSERT_FALSE(fixture.empty());
  std::string compressed = fixture;
  const size_t central = compressed.find("PK\x01\x02");
  ASSERT_NE(central, std::string::npos);
  compressed[central + 10] = 8;
  ExpectRefused(compressed, absl::StatusCode::kInvalidArgument,
                {"entry 'tiny_rwkv_7v0_834K_fp32/data.pkl' is compressed (method 8 (deflate))"});

  std::string global = fixture;
  const size_t storage = global.find("torch\nFloatStorage\n");
  ASSERT_NE(storage, std::string::npos);
  global.replace(storage, 5, "posix");
  ExpectRefused(global, absl::StatusCode::kInvalidArgument,
                {"tiny_rwkv_7v0_834K_fp32/data.pkl: at byte ",
                 "pickle names global "
                 "'posix.FloatStorage'; only a state dict of tensors is accepted"});

  const std::string pickle = "\x80\x02\x8c\x05posix\x8c\x06system\x93" + Str("id") + "\x85R.";
  ExpectRefused(StoredZip({{"m/data.pkl", pickle}}), absl::StatusCode::kInvalidArgument,
                {"pickle names global 'posix.system'"});
}

TEST(TorchCheckpointTest, EveryTruncationOfAFixtureIsRefused) {
  const std::string fixture = FixtureBytes("tiny-rwkv-7v0-834K-FP32.pth");
  ASSERT_FALSE(fixture.empty());
  std::vector<size_t> cuts = {0, 1, 4, 30, 100};
  for (size_t cut = 1000; cut < fixture.size(); cut += 7919) cuts.push_back(cut);
  for (size_t back = 1; back <= 200; ++back) cuts.push_back(fixture.size() - back);
  for (const size_t cut : cuts) {
    const absl::Status status = ReadBytes(fixture.substr(0, cut)).status();
    EXPECT_TRUE(status.code() == absl::StatusCode::kInvalidArgument ||
                status.code() == absl::StatusCode::kDataLoss)
        << cut << ": " << status;
  }
}

}  // namespace
}  // namespace rwkv::engine
