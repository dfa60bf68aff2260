#include "engine/model/rwkv_cpp_file.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "engine/model/quantization.h"
#include "common/hash64.h"
#include "tests/util/model_file_writer.h"
#include "tests/util/shared_data.h"

namespace rwkv::engine {
namespace {

using ::rwkv::testing::AppendU32;
using ::rwkv::testing::FileHeader;
using ::rwkv::testing::RawRecord;
using ::rwkv::testing::ReadFileBytes;
using ::rwkv::testing::Record;
using ::rwkv::testing::SharedPath;

bool Contains(absl::string_view haystack, absl::string_view needle) {
  return haystack.find(needle) != absl::string_view::npos;
}

// Writes `bytes` to a file in the test's temp dir, named after the running test.
std::string WriteTemp(const std::string& bytes, std::string_view suffix = "") {
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string("rwkv_cpp_file_test_") + test->test_suite_name() + "_" +
                     test->name() + std::string(suffix) + ".bin";
  std::replace(name.begin(), name.end(), '/', '_');
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), bytes.size());
  return path;
}

std::vector<float> Ramp(int n, float scale = 0.01f) {
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = scale * static_cast<float>((i * 37) % 101 - 50);
  return v;
}

absl::Status OpenStatus(const std::string& bytes, std::string_view suffix = "") {
  return RwkvCppFile::Open(WriteTemp(bytes, suffix)).status();
}

// Expects `bytes` to be refused with `code` and a message naming the file and `fragments`.
void ExpectRefused(const std::string& bytes, absl::StatusCode code,
                   const std::vector<std::string>& fragments, std::string_view suffix = "") {
  const std::string path = WriteTemp(bytes, suffix);
  const absl::Status status = RwkvCppFile::Open(path).status();
  EXPECT_EQ(status.code(), code) << status;
  EXPECT_TRUE(Contains(status.message(), path)) << status;
  for (const std::string& fragment : fragments) {
    EXPECT_TRUE(Contains(status.message(), fragment))
        << "missing '" << fragment << "' in " << status;
  }
}

struct ModelCase {
  const char* file;
  uint32_t version;
  int32_t n_embed;
  int32_t n_layer;
  int32_t data_type;
  size_t tensor_count;
};

constexpr ModelCase kModels[] = {
    {"tiny-rwkv-4v0-660K-FP32.bin", 100, 128, 4, 0, 78},
    {"tiny-rwkv-4v0-660K-FP16.bin", 100, 128, 4, 1, 78},
    {"tiny-rwkv-5v1-730K-FP32.bin", 101, 64, 12, 0, 246},
    {"tiny-rwkv-5v1-730K-FP16.bin", 101, 64, 12, 1, 246},
    {"tiny-rwkv-5v2-730K-FP32.bin", 101, 64, 12, 0, 270},
    {"tiny-rwkv-5v2-730K-FP16.bin", 101, 64, 12, 1, 270},
    {"tiny-rwkv-6v0-1m-FP32.bin", 101, 64, 12, 0, 342},
    {"tiny-rwkv-6v0-1m-FP16.bin", 101, 64, 12, 1, 342},
    {"tiny-rwkv-7v0-834K-FP32.bin", 101, 64, 12, 0, 339},
    {"tiny-rwkv-7v0-834K-FP16.bin", 101, 64, 12, 1, 339},
    {"tiny-rwkv-7v0-834K-Q5_0.bin", 101, 64, 12, 7, 339},
    {"tiny-rwkv-7v0-834K-Q5_1.bin", 101, 64, 12, 8, 339},
};

std::string ModelPath(std::string_view file) {
  return SharedPath(std::string("models/") + std::string(file));
}

std::unique_ptr<RwkvCppFile> OpenModel(std::string_view file) {
  absl::StatusOr<std::unique_ptr<RwkvCppFile>> opened = RwkvCppFile::Open(ModelPath(file));
  EXPECT_TRUE(opened.ok()) << opened.status();
  return opened.ok() ? std::move(*opened) : nullptr;
}

class SharedModelTest : public ::testing::TestWithParam<ModelCase> {};

TEST_P(SharedModelTest, HeaderTensorsAndData) {
  const ModelCase& c = GetParam();
  std::unique_ptr<RwkvCppFile> file = OpenModel(c.file);
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->Describe(), ModelPath(c.file));
  EXPECT_EQ(file->header().version, c.version);
  EXPECT_EQ(file->header().n_vocab, 256);
  EXPECT_EQ(file->header().n_embed, c.n_embed);
  EXPECT_EQ(file->header().n_layer, c.n_layer);
  EXPECT_EQ(file->header().data_type, c.data_type);
  EXPECT_EQ(file->Tensors().size(), c.tensor_count);
  const TensorInfo* emb = file->Find("emb.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->ne, (std::vector<int64_t>{c.n_embed, 256}));
  ASSERT_NE(file->Find("head.weight"), nullptr);
  EXPECT_EQ(file->Find("blocks.0.att.nonexistent"), nullptr);
  // Every tensor decodes to finite values, and Find() returns the entry Tensors() lists.
  for (const TensorInfo& info : file->Tensors()) {
    ASSERT_EQ(file->Find(info.name), &info);
    std::vector<float> values(info.NumElements());
    ASSERT_TRUE(file->ReadF32(info.name, absl::MakeSpan(values)).ok()) << info.name;
    for (float v : values) ASSERT_TRUE(std::isfinite(v)) << info.name;
  }
  // The records tile the file exactly.
  const TensorInfo& last = file->Tensors().back();
  EXPECT_EQ(file->DataOffset(last.name) + static_cast<int64_t>(file->RawData(last.name)->size()),
            file->file_bytes());
}

// FromBytes (the fuzzer's entry point) reads the same tensors and bytes as Open.
TEST_P(SharedModelTest, FromBytesReadsWhatOpenReads) {
  const ModelCase& c = GetParam();
  std::unique_ptr<RwkvCppFile> opened = OpenModel(c.file);
  absl::StatusOr<std::string> bytes = ReadFileBytes(ModelPath(c.file));
  ASSERT_TRUE(opened != nullptr && bytes.ok());
  absl::StatusOr<std::unique_ptr<RwkvCppFile>> parsed =
      RwkvCppFile::FromBytes("in-memory model", *std::move(bytes));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const RwkvCppFile& file = **parsed;
  EXPECT_EQ(file.Describe(), "in-memory model");
  EXPECT_EQ(file.file_bytes(), opened->file_bytes());
  EXPECT_EQ(file.header().data_type, c.data_type);
  ASSERT_EQ(file.Tensors().size(), opened->Tensors().size());
  for (size_t i = 0; i < file.Tensors().size(); ++i) {
    const std::string& name = opened->Tensors()[i].name;
    ASSERT_EQ(file.Tensors()[i].name, name);
    EXPECT_EQ(file.DataOffset(name), opened->DataOffset(name));
    EXPECT_EQ(file.ContentHash(name), opened->ContentHash(name)) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(AllModels, SharedModelTest, ::testing::ValuesIn(kModels),
                         [](const auto& info) {
                           std::string name = info.param.file;
                           name = name.substr(10, name.size() - 14);  // Drop "tiny-rwkv-", ".bin".
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

std::vector<float> ReadAll(const RwkvCppFile& file, std::string_view name) {
  const TensorInfo* info = file.Find(name);
  EXPECT_NE(info, nullptr) << name;
  if (info == nullptr) return {};
  std::vector<float> values(info->NumElements());
  EXPECT_TRUE(file.ReadF32(name, absl::MakeSpan(values)).ok());
  return values;
}

// The FP16 files are the FP32 files with the big matrices rounded to nearest even.
TEST(SharedModelPairTest, Fp16MatchesFp32) {
  for (const char* model : {"4v0-660K", "5v1-730K", "5v2-730K", "6v0-1m", "7v0-834K"}) {
    SCOPED_TRACE(model);
    auto fp32 = OpenModel(std::string("tiny-rwkv-") + model + "-FP32.bin");
    auto fp16 = OpenModel(std::string("tiny-rwkv-") + model + "-FP16.bin");
    ASSERT_TRUE(fp32 && fp16);
    ASSERT_EQ(fp32->Tensors().size(), fp16->Tensors().size());
    int fp16_tensors = 0;
    for (const TensorInfo& info16 : fp16->Tensors()) {
      const TensorInfo* info32 = fp32->Find(info16.name);
      ASSERT_NE(info32, nullptr) << info16.name;
      ASSERT_EQ(info32->ne, info16.ne) << info16.name;
      const std::vector<float> a = ReadAll(*fp32, info16.name);
      const std::vector<float> b = ReadAll(*fp16, info16.name);
      fp16_tensors += info16.type == GgmlType::kF16;
      for (size_t i = 0; i < a.size(); ++i) {
        const float tolerance = info16.type == GgmlType::kF16 ? 1e-3f * std::fabs(a[i]) + 6e-8f : 0;
        ASSERT_LE(std::fabs(a[i] - b[i]), tolerance) << info16.name << "[" << i << "]";
        // In fact the converter rounded to nearest even, exactly as F32ToFp16 does.
        if (info16.type == GgmlType::kF16) {
          ASSERT_EQ(b[i], Fp16ToF32(F32ToFp16(a[i])));
        }
      }
      // Tensors kept in FP32 are byte-identical, so their content hashes agree too.
      EXPECT_EQ(fp32->ContentHash(info16.name) == fp16->ContentHash(info16.name),
                info16.type == GgmlType::kF32)
          << info16.name;
    }
    EXPECT_GT(fp16_tensors, 0);
    EXPECT_EQ(fp16->Find("emb.weight")->type, GgmlType::kF16);
  }
}

TEST(SharedModelPairTest, QuantizedMatchesFp32WithinBlockError) {
  auto fp32 = OpenModel("tiny-rwkv-7v0-834K-FP32.bin");
  ASSERT_NE(fp32, nullptr);
  for (const char* file : {"tiny-rwkv-7v0-834K-Q5_0.bin", "tiny-rwkv-7v0-834K-Q5_1.bin"}) {
    SCOPED_TRACE(file);
    auto quantized = OpenModel(file);
    ASSERT_NE(quantized, nullptr);
    const std::string name = "blocks.0.att.key.weight";
    const TensorInfo* info = quantized->Find(name);
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->type, Contains(file, "Q5_0") ? GgmlType::kQ5_0 : GgmlType::kQ5_1);
    EXPECT_EQ(info->ne, (std::vector<int64_t>{64, 64}));
    EXPECT_EQ(quantized->Find("emb.weight")->type, GgmlType::kF32);
    const std::vector<float> exact = ReadAll(*fp32, name);
    const std::vector<float> approx = ReadAll(*quantized, name);
    for (size_t block = 0; block < exact.size() / 32; ++block) {
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(exact[block * 32 + j]));
      for (int j = 0; j < 32; ++j) {
        const size_t i = block * 32 + j;
        ASSERT_LE(std::fabs(exact[i] - approx[i]), amax / 15) << i;
      }
    }
  }
}

// rwkv.cpp quantized the FP32 weights with ggml's reference quantizers; ours are the same
// formulas, so re-quantizing the FP32 values must reproduce the files byte for byte.
TEST(SharedModelPairTest, QuantizersReproduceRwkvCppFiles) {
  auto fp32 = OpenModel("tiny-rwkv-7v0-834K-FP32.bin");
  ASSERT_NE(fp32, nullptr);
  for (const char* file : {"tiny-rwkv-7v0-834K-Q5_0.bin", "tiny-rwkv-7v0-834K-Q5_1.bin"}) {
    SCOPED_TRACE(file);
    auto quantized = OpenModel(file);
    ASSERT_NE(quantized, nullptr);
    int compared = 0;
    for (const TensorInfo& info : quantized->Tensors()) {
      if (!IsBlockQuantized(info.type)) continue;
      const std::vector<uint8_t> requantized = *QuantizeRow(info.type, ReadAll(*fp32, info.name));
      const absl::Span<const uint8_t> stored = *quantized->RawData(info.name);
      ASSERT_EQ(requantized.size(), stored.size());
      EXPECT_EQ(std::memcmp(requantized.data(), stored.data(), stored.size()), 0) << info.name;
      ++compared;
    }
    EXPECT_EQ(compared, 72);  // Six matrices in each of 12 layers.
  }
}

TEST(SharedModelPairTest, ContentHashIsStable) {
  const std::string name = "blocks.0.att.key.weight";
  auto a = OpenModel("tiny-rwkv-7v0-834K-FP32.bin");
  auto b = OpenModel("tiny-rwkv-7v0-834K-FP32.bin");
  auto half = OpenModel("tiny-rwkv-7v0-834K-FP16.bin");
  ASSERT_TRUE(a && b && half);
  for (const TensorInfo& info : a->Tensors()) {
    EXPECT_EQ(a->ContentHash(info.name), b->ContentHash(info.name)) << info.name;
  }
  EXPECT_NE(a->ContentHash(name), half->ContentHash(name));
  EXPECT_NE(a->ContentHash(name), a->ContentHash("blocks.0.att.value.weight"));
  EXPECT_EQ(a->ContentHash("no.such.tensor"), 0u);
  // Pinned: the same on every machine, and fingerprints depend on it.
  EXPECT_EQ(Hex64(a->ContentHash(name)), "010f7e9a6a957509");
}

TEST(SharedModelPairTest, ReadF32Errors) {
  auto file = OpenModel("tiny-rwkv-5v2-730K-FP16.bin");
  ASSERT_NE(file, nullptr);
  std::vector<float> out(64 * 256 + 1);
  absl::Status status = file->ReadF32("emb.weight", absl::MakeSpan(out));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(status.message(), "emb.weight")) << status;
  EXPECT_TRUE(Contains(status.message(), file->Describe())) << status;
  status = file->ReadF32("missing.weight", absl::MakeSpan(out));
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Contains(status.message(), "missing.weight")) << status;
  EXPECT_EQ(file->RawData("missing.weight").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(file->DataOffset("missing.weight"), -1);
}

// ---- Synthetic files: valid content ----

// One tensor of every type, in a deliberately unsorted order.
std::string MixedFile() {
  std::string bytes = FileHeader(101, 256, 64, 1, 7);
  bytes += Record("b.f32", {5}, GgmlType::kF32, Ramp(5));
  bytes += Record("a.f16", {3, 2}, GgmlType::kF16, Ramp(6));
  bytes += Record("q4_0", {32, 2}, GgmlType::kQ4_0, Ramp(64));
  bytes += Record("q4_1", {64}, GgmlType::kQ4_1, Ramp(64));
  bytes += Record("q5_0", {32, 1, 2}, GgmlType::kQ5_0, Ramp(64));
  bytes += Record("q5_1", {32}, GgmlType::kQ5_1, Ramp(32));
  bytes += Record("q8_0", {96}, GgmlType::kQ8_0, Ramp(96, 3.0f));
  return bytes;
}

TEST(SyntheticFileTest, EveryTypeDecodesLikeDequantizeRow) {
  const std::string path = WriteTemp(MixedFile());
  absl::StatusOr<std::unique_ptr<RwkvCppFile>> file = RwkvCppFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  const std::vector<std::string> names = {"b.f32", "a.f16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0"};
  ASSERT_EQ((*file)->Tensors().size(), names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    const TensorInfo& info = (*file)->Tensors()[i];
    EXPECT_EQ(info.name, names[i]);  // Storage order is kept.
    const std::vector<float> original =
        Ramp(info.NumElements(), info.name == "q8_0" ? 3.0f : 0.01f);
    const std::vector<uint8_t> encoded = *QuantizeRow(info.type, original);
    const absl::Span<const uint8_t> raw = *(*file)->RawData(info.name);
    ASSERT_EQ(std::vector<uint8_t>(raw.begin(), raw.end()), encoded) << info.name;
    std::vector<float> expected(original.size()), actual(original.size());
    ASSERT_TRUE(
        DequantizeRow(info.type, encoded.data(), encoded.size(), absl::MakeSpan(expected)).ok());
    ASSERT_TRUE((*file)->ReadF32(info.name, absl::MakeSpan(actual)).ok());
    EXPECT_EQ(actual, expected) << info.name;
  }
  EXPECT_EQ((*file)->Find("q5_0")->ne, (std::vector<int64_t>{32, 1, 2}));
  EXPECT_EQ((*file)->DataOffset("b.f32"), 24 + 12 + 4 + 5);
}

TEST(SyntheticFileTest, HeaderOnlyFileHasNoTensors) {
  // The format has no tensor count, so this is indistinguishable from a file cut after its header.
  absl::StatusOr<std::unique_ptr<RwkvCppFile>> file = RwkvCppFile::Open(WriteTemp(FileHeader()));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE((*file)->Tensors().empty());
}

TEST(SyntheticFileTest, LongestNameIsAccepted) {
  const std::string name(RwkvCppFile::kMaxNameBytes, 'n');
  auto file =
      RwkvCppFile::Open(WriteTemp(FileHeader() + Record(name, {2}, GgmlType::kF32, {1, 2})));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_NE((*file)->Find(name), nullptr);
}

TEST(SyntheticFileTest, ContentHashCoversNameShapeTypeAndData) {
  const std::vector<float> v = Ramp(64);
  auto hash = [&](const std::string& record, std::string_view name, std::string_view suffix) {
    auto file = RwkvCppFile::Open(WriteTemp(FileHeader() + record, suffix));
    EXPECT_TRUE(file.ok()) << file.status();
    return file.ok() ? (*file)->ContentHash(name) : 0;
  };
  std::vector<float> changed = v;
  changed[63] += 1.0f;
  std::vector<uint64_t> hashes = {
      hash(Record("w", {64}, GgmlType::kF32, v), "w", "a"),
      hash(Record("x", {64}, GgmlType::kF32, v), "x", "b"),
      hash(Record("w", {32, 2}, GgmlType::kF32, v), "w", "c"),
      hash(Record("w", {64}, GgmlType::kF32, changed), "w", "d"),
      hash(Record("w", {64}, GgmlType::kF16, v), "w", "e"),
  };
  EXPECT_EQ(hash(Record("w", {64}, GgmlType::kF32, v), "w", "f"), hashes[0]);
  std::sort(hashes.begin(), hashes.end());
  EXPECT_EQ(std::unique(hashes.begin(), hashes.end()), hashes.end());
}

// ---- Files that cannot be opened ----

TEST(MalformedFileTest, MissingFile) {
  const std::string path = ::testing::TempDir() + "rwkv_cpp_file_test_does_not_exist.bin";
  const absl::Status status = RwkvCppFile::Open(path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Contains(status.message(), path)) << status;
  EXPECT_TRUE(Contains(status.message(), "No such file")) << status;
}

TEST(MalformedFileTest, Directory) {
  const absl::Status status = RwkvCppFile::Open(::testing::TempDir()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(status.message(), "directory")) << status;
}

TEST(MalformedFileTest, EmptyFile) { ExpectRefused("", absl::StatusCode::kDataLoss, {"empty"}); }

TEST(MalformedFileTest, FromBytesRefusesAsOpenDoes) {
  absl::Status status = RwkvCppFile::FromBytes("model in memory", "").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_TRUE(Contains(status.message(), "model in memory: truncated")) << status;
  status = RwkvCppFile::FromBytes("model in memory", "GGUF" + FileHeader().substr(4)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(Contains(status.message(), "model in memory is not an rwkv.cpp model")) << status;
  const std::string record = Record("a", {2}, GgmlType::kF32, {1, 2});
  status = RwkvCppFile::FromBytes("model in memory", FileHeader() + record + record).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(Contains(status.message(), "duplicate tensor 'a'")) << status;
}

TEST(MalformedFileTest, WrongMagic) {
  ExpectRefused("GGUF" + FileHeader().substr(4), absl::StatusCode::kInvalidArgument,
                {"is not an rwkv.cpp model file (magic 0x46554747, expected 0x67676d66)"});
  // Too short even for the magic: truncated.
  ExpectRefused("fm", absl::StatusCode::kDataLoss, {"truncated"}, "short");
}

TEST(MalformedFileTest, TruncatedHeader) {
  ExpectRefused(FileHeader().substr(0, 10), absl::StatusCode::kDataLoss,
                {"truncated", "header needs 24 bytes", "only 10"});
}

TEST(MalformedFileTest, UnsupportedVersion) {
  for (uint32_t version : {0u, 99u, 102u, 0xffffffffu}) {
    ExpectRefused(FileHeader(version), absl::StatusCode::kInvalidArgument,
                  {"unsupported file version " + std::to_string(version)}, std::to_string(version));
  }
}

TEST(MalformedFileTest, NonPositiveHeaderDimensions) {
  ExpectRefused(FileHeader(101, 0), absl::StatusCode::kInvalidArgument, {"n_vocab 0"}, "v");
  ExpectRefused(FileHeader(101, 256, -64), absl::StatusCode::kInvalidArgument, {"n_embed -64"},
                "e");
  ExpectRefused(FileHeader(101, 256, 64, 0), absl::StatusCode::kInvalidArgument, {"n_layer 0"},
                "l");
}

TEST(MalformedFileTest, BadHeaderDataType) {
  ExpectRefused(FileHeader(101, 256, 64, 1, 5), absl::StatusCode::kInvalidArgument,
                {"header", "code 5", "removed"}, "removed");
  ExpectRefused(FileHeader(101, 256, 64, 1, 99), absl::StatusCode::kInvalidArgument,
                {"unknown data type code 99"}, "unknown");
  ExpectRefused(FileHeader(100, 256, 64, 1, 7), absl::StatusCode::kInvalidArgument, {"version 100"},
                "v100");
}

TEST(MalformedFileTest, TruncatedRecordHeader) {
  ExpectRefused(FileHeader() + std::string("\x01\x00\x00\x00\x05", 5), absl::StatusCode::kDataLoss,
                {"truncated", "record #0 at offset 24", "only 5"}, "fixed");
  // dim_count 3 but only two sizes before the end.
  ExpectRefused(FileHeader() + RawRecord(3, 1, 0, {4, 4}, "", 0), absl::StatusCode::kDataLoss,
                {"truncated", "sizes", "offset 36"}, "sizes");
  // The second record is the one cut short.
  const std::string first = Record("w", {2}, GgmlType::kF32, {1, 2});
  ExpectRefused(FileHeader() + first + std::string("\x01\x00", 2), absl::StatusCode::kDataLoss,
                {"record #1 at offset " + std::to_string(24 + first.size())}, "second");
}

TEST(MalformedFileTest, BadDimCount) {
  for (int32_t dims : {0, 4, -1}) {
    ExpectRefused(FileHeader() + RawRecord(dims, 1, 0, {1, 1, 1, 1}, "w", 16),
                  absl::StatusCode::kInvalidArgument,
                  {"dim_count " + std::to_string(dims), "record #0 at offset 24"},
                  std::to_string(dims));
  }
}

TEST(MalformedFileTest, BadNameLength) {
  for (int32_t length : {0, RwkvCppFile::kMaxNameBytes + 1, -5}) {
    ExpectRefused(FileHeader() + RawRecord(1, length, 0, {1}, "w", 4),
                  absl::StatusCode::kInvalidArgument,
                  {"name length " + std::to_string(length), "offset 24"}, std::to_string(length));
  }
}

TEST(MalformedFileTest, NameRunsPastEnd) {
  ExpectRefused(FileHeader() + RawRecord(1, 100, 0, {1}, "blocks.0", 0),
                absl::StatusCode::kDataLoss, {"truncated", "name", "needs 100 bytes", "only 8"});
}

TEST(MalformedFileTest, RemovedUnsupportedAndUnknownTypes) {
  for (int32_t code : {4, 5, 6, 10, 11, 12, 13, 14, 15, 16, 17, -1, 1000}) {
    const char* kind = (code >= 4 && code <= 6)     ? "removed"
                       : (code >= 10 && code <= 16) ? "not supported"
                                                    : "unknown";
    ExpectRefused(FileHeader() + RawRecord(1, 5, code, {32}, "w.bad", 128),
                  absl::StatusCode::kInvalidArgument,
                  {"'w.bad'", "code " + std::to_string(code), kind}, std::to_string(code));
  }
}

TEST(MalformedFileTest, NonPositiveSizes) {
  ExpectRefused(FileHeader() + RawRecord(2, 1, 0, {64, 0}, "w", 0),
                absl::StatusCode::kInvalidArgument, {"'w'", "ne[1] = 0"}, "zero");
  ExpectRefused(FileHeader() + RawRecord(1, 1, 0, {-3}, "w", 0), absl::StatusCode::kInvalidArgument,
                {"'w'", "ne[0] = -3"}, "negative");
}

TEST(MalformedFileTest, SizeOverflow) {
  constexpr int32_t kMax = 0x7fffffff;
  // The element count overflows int64.
  ExpectRefused(FileHeader() + RawRecord(3, 1, 0, {kMax, kMax, kMax}, "w", 0),
                absl::StatusCode::kInvalidArgument, {"'w'", "overflow"}, "elements");
  // The element count fits, the byte count does not.
  ExpectRefused(FileHeader() + RawRecord(3, 1, 0, {kMax, kMax, 2}, "w", 0),
                absl::StatusCode::kInvalidArgument, {"'w'", "overflow"}, "bytes");
  // Huge but representable: reported as truncation, without reading anything.
  ExpectRefused(FileHeader() + RawRecord(2, 1, 1, {kMax, kMax}, "w", 0),
                absl::StatusCode::kDataLoss, {"truncated", "'w'"}, "huge");
}

TEST(MalformedFileTest, QuantizedRowNotMultipleOf32) {
  ExpectRefused(FileHeader() + RawRecord(2, 1, 7, {48, 2}, "w", 66),
                absl::StatusCode::kInvalidArgument, {"'w'", "Q5_0", "multiple of 32", "[48, 2]"});
}

TEST(MalformedFileTest, QuantizedTensorInVersion100File) {
  ExpectRefused(FileHeader(100) + Record("w", {32}, GgmlType::kQ8_0, Ramp(32)),
                absl::StatusCode::kInvalidArgument, {"'w'", "version 100", "Q8_0"});
}

TEST(MalformedFileTest, DataRunsPastEnd) {
  std::string bytes = FileHeader() + Record("blocks.0.w", {64}, GgmlType::kF32, Ramp(64));
  bytes.resize(bytes.size() - 1);
  ExpectRefused(bytes, absl::StatusCode::kDataLoss,
                {"truncated: tensor 'blocks.0.w' needs 256 bytes at offset 50 but the file has "
                 "only 255"});
}

TEST(MalformedFileTest, DuplicateName) {
  ExpectRefused(FileHeader() + Record("w", {2}, GgmlType::kF32, {1, 2}) +
                    Record("v", {2}, GgmlType::kF32, {1, 2}) +
                    Record("w", {4}, GgmlType::kF16, {1, 2, 3, 4}),
                absl::StatusCode::kInvalidArgument, {"duplicate tensor 'w'", "record #2"});
}

// Cutting a file anywhere gives DATA_LOSS, except exactly at a record boundary, which the format
// cannot tell from a shorter file.
TEST(TruncationTest, EveryPrefixOfASyntheticFile) {
  const std::string bytes = MixedFile();
  std::vector<size_t> boundaries = {24};
  {
    auto file = RwkvCppFile::Open(WriteTemp(bytes, "full"));
    ASSERT_TRUE(file.ok()) << file.status();
    for (const TensorInfo& info : (*file)->Tensors()) {
      boundaries.push_back((*file)->DataOffset(info.name) + (*file)->RawData(info.name)->size());
    }
  }
  for (size_t length = 0; length < bytes.size(); ++length) {
    const auto boundary = std::find(boundaries.begin(), boundaries.end(), length);
    const absl::Status status = OpenStatus(bytes.substr(0, length));
    if (boundary != boundaries.end()) {
      ASSERT_TRUE(status.ok()) << length << ": " << status;
    } else {
      ASSERT_EQ(status.code(), absl::StatusCode::kDataLoss) << length << ": " << status;
    }
  }
}

TEST(TruncationTest, RealModelCutInEveryPart) {
  const std::string file = "tiny-rwkv-7v0-834K-Q5_0.bin";
  absl::StatusOr<std::string> bytes = ReadFileBytes(ModelPath(file));
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  // The first record is emb.weight: 12 + 2 * 4 bytes of header, a 10-byte name, then data.
  const std::vector<std::pair<size_t, std::string>> cuts = {
      {3, "header"},
      {23, "header"},
      {24 + 5, "record #0"},
      {24 + 16, "sizes"},
      {24 + 20 + 4, "name"},
      {24 + 30 + 1000, "emb.weight"},
      {bytes->size() - 1, "head.weight"},
  };
  for (const auto& [length, fragment] : cuts) {
    ExpectRefused(bytes->substr(0, length), absl::StatusCode::kDataLoss, {fragment},
                  std::to_string(length));
  }
  // Somewhere inside a quantized tensor, at a pseudo-random offset.
  auto full = RwkvCppFile::Open(ModelPath(file));
  ASSERT_TRUE(full.ok());
  const int64_t key = (*full)->DataOffset("blocks.5.att.key.weight");
  ExpectRefused(bytes->substr(0, key + 777), absl::StatusCode::kDataLoss,
                {"blocks.5.att.key.weight", "needs 2816 bytes"}, "key");
}

// Random byte corruption of the record headers: whatever the outcome, no crash and no read out
// of bounds (run under ASan/UBSan).
TEST(TruncationTest, CorruptedRecordHeadersNeverCrash) {
  const std::string original = MixedFile();
  std::mt19937 rng(2024);
  int refused = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bytes = original;
    for (int k = 0; k < 1 + trial % 3; ++k) {
      // Bias towards the first 200 bytes, where the record headers of small tensors are.
      const size_t at = (rng() % 4 == 0 ? rng() % bytes.size() : rng() % 200);
      bytes[at] = static_cast<char>(rng());
    }
    absl::StatusOr<std::unique_ptr<RwkvCppFile>> file = RwkvCppFile::Open(WriteTemp(bytes));
    if (!file.ok()) {
      ++refused;
      continue;
    }
    for (const TensorInfo& info : (*file)->Tensors()) {
      std::vector<float> out(info.NumElements());
      ASSERT_TRUE((*file)->ReadF32(info.name, absl::MakeSpan(out)).ok());
      (*file)->ContentHash(info.name);
    }
  }
  EXPECT_GT(refused, 100);
}

}  // namespace
}  // namespace rwkv::engine
