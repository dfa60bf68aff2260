// TensorSource::ReadF32Rows: runs of rows give exactly ReadF32's floats, for every stored type,
// from a mapped file, bytes held in memory and the synthetic source; errors name the tensor.
#include "engine/model/stored_rows.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/base/casts.h"
#include "engine/model/quantization.h"
#include "engine/model/rwkv_cpp_file.h"
#include "engine/model/synthetic_source.h"
#include "tests/util/model_file_writer.h"
#include "tests/util/scoped_temp_dir.h"

namespace rwkv::engine {
namespace {

using ::rwkv::testing::FileHeader;
using ::rwkv::testing::Record;

std::vector<float> Wave(int n) {
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = 0.37f * static_cast<float>((i * 7919) % 201 - 100) / 100.0f;
  return v;
}

std::string SomeModel() {
  std::string bytes = FileHeader(101, 256, 64, 1, 1);
  bytes += Record("f32", {5, 7}, GgmlType::kF32, Wave(35));
  bytes += Record("f16", {64, 300}, GgmlType::kF16, Wave(64 * 300));
  bytes += Record("q8_0", {64, 33}, GgmlType::kQ8_0, Wave(64 * 33));
  bytes += Record("q4_0", {32, 9}, GgmlType::kQ4_0, Wave(32 * 9));
  bytes += Record("q5_1", {96, 4}, GgmlType::kQ5_1, Wave(96 * 4));
  bytes += Record("vector", {10}, GgmlType::kF32, Wave(10));
  return bytes;
}

// Every tensor read in runs of 1, 2, 3, 7 rows and whole, against ReadF32.
void ExpectRunsMatchWholeReads(const TensorSource& source) {
  for (const TensorInfo& info : source.Tensors()) {
    std::vector<float> whole(info.NumElements());
    ASSERT_TRUE(source.ReadF32(info.name, absl::MakeSpan(whole)).ok()) << info.name;
    const int64_t row = RowElements(info);
    for (const int64_t rows :
         {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{7}, info.NumElements()}) {
      std::vector<float> buffer(rows * row + 1);  // a spare float: only whole rows are used
      std::vector<float> got;
      int64_t next_row = 0;
      const absl::Status status = source.ReadF32Rows(
          info.name, absl::MakeSpan(buffer), [&](int64_t first_row, absl::Span<float> values) {
            EXPECT_EQ(first_row, next_row) << info.name;
            EXPECT_EQ(values.size() % row, 0u) << info.name;
            next_row += static_cast<int64_t>(values.size()) / row;
            got.insert(got.end(), values.begin(), values.end());
            return absl::OkStatus();
          });
      ASSERT_TRUE(status.ok()) << info.name << ": " << status;
      ASSERT_EQ(got.size(), whole.size()) << info.name << " in runs of " << rows;
      for (size_t i = 0; i < whole.size(); ++i) {
        // Bit for bit: the same decoder over the same bytes.
        ASSERT_EQ(absl::bit_cast<uint32_t>(got[i]), absl::bit_cast<uint32_t>(whole[i]))
            << info.name << "[" << i << "] in runs of " << rows;
      }
    }
  }
}

TEST(ReadF32RowsTest, RunsOfAMappedFileMatchWholeReads) {
  testing::ScopedTempDir dir;
  std::filesystem::create_directories(dir.path());
  const std::string path = dir.path() + "/model.bin";
  const std::string bytes = SomeModel();
  std::ofstream(path, std::ios::binary).write(bytes.data(), bytes.size());
  auto file = RwkvCppFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  ExpectRunsMatchWholeReads(**file);
  // Released pages read back the same: hashing and reading again agree with a fresh read.
  auto again = RwkvCppFile::FromBytes("again", bytes);
  ASSERT_TRUE(again.ok());
  for (const TensorInfo& info : (*file)->Tensors()) {
    EXPECT_EQ((*file)->ContentHash(info.name), (*again)->ContentHash(info.name)) << info.name;
  }
  ExpectRunsMatchWholeReads(**file);
}

TEST(ReadF32RowsTest, RunsOfHeldBytesMatchWholeReads) {
  auto file = RwkvCppFile::FromBytes("held", SomeModel());
  ASSERT_TRUE(file.ok()) << file.status();
  ExpectRunsMatchWholeReads(**file);
}

TEST(ReadF32RowsTest, SyntheticRunsContinueTheSameDraws) {
  ExpectRunsMatchWholeReads(*SyntheticSource::FromShape({"runs", 64, 1, 300, 32}));
}

TEST(ReadF32RowsTest, ErrorsNameTheTensor) {
  auto file = RwkvCppFile::FromBytes("held", SomeModel());
  ASSERT_TRUE(file.ok()) << file.status();
  auto ignore = [](int64_t, absl::Span<float>) { return absl::OkStatus(); };
  std::vector<float> small(63);
  absl::Status status = (*file)->ReadF32Rows("f16", absl::MakeSpan(small), ignore);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("'f16'"), absl::string_view::npos) << status;
  EXPECT_EQ((*file)->ReadF32Rows("nope", absl::MakeSpan(small), ignore).code(),
            absl::StatusCode::kNotFound);
  // The consumer's error ends the read and comes back as it is.
  std::vector<float> buffer(64);
  int calls = 0;
  status = (*file)->ReadF32Rows("f16", absl::MakeSpan(buffer), [&](int64_t, absl::Span<float>) {
    ++calls;
    return absl::ResourceExhaustedError("stop");
  });
  EXPECT_EQ(status, absl::ResourceExhaustedError("stop"));
  EXPECT_EQ(calls, 1);
}

// TensorSource::ReadStoredRows: runs of at most max_rows rows, in order, whose bytes decode to
// ReadF32's floats and add up to the whole stored tensor.
TEST(ReadStoredRowsTest, RunsAreTheStoredBytes) {
  auto file = RwkvCppFile::FromBytes("held", SomeModel());
  ASSERT_TRUE(file.ok()) << file.status();
  for (const TensorInfo& info : (*file)->Tensors()) {
    std::vector<float> whole(info.NumElements());
    ASSERT_TRUE((*file)->ReadF32(info.name, absl::MakeSpan(whole)).ok());
    const int64_t row = RowElements(info);
    for (const int64_t max_rows : {int64_t{1}, int64_t{2}, int64_t{7}, int64_t{1} << 62}) {
      std::vector<uint8_t> stored;
      int64_t next_row = 0;
      const absl::Status status = (*file)->ReadStoredRows(
          info.name, max_rows,
          [&](int64_t first_row, int64_t rows, absl::Span<const uint8_t> bytes) {
            EXPECT_EQ(first_row, next_row) << info.name;
            EXPECT_LE(rows, max_rows) << info.name;
            EXPECT_EQ(static_cast<int64_t>(bytes.size()), *StoredBytes(info.type, rows * row));
            next_row += rows;
            stored.insert(stored.end(), bytes.begin(), bytes.end());
            return absl::OkStatus();
          });
      ASSERT_TRUE(status.ok()) << info.name << ": " << status;
      std::vector<float> decoded(whole.size());
      ASSERT_TRUE(
          DequantizeRow(info.type, stored.data(), stored.size(), absl::MakeSpan(decoded)).ok())
          << info.name;
      for (size_t i = 0; i < whole.size(); ++i) {
        ASSERT_EQ(absl::bit_cast<uint32_t>(decoded[i]), absl::bit_cast<uint32_t>(whole[i]))
            << info.name << "[" << i << "], runs of " << max_rows;
      }
    }
  }
}

TEST(ReadStoredRowsTest, SourcesWithoutStoredBytesSaySo) {
  auto ignore = [](int64_t, int64_t, absl::Span<const uint8_t>) { return absl::OkStatus(); };
  const auto synthetic = SyntheticSource::FromShape({"runs", 64, 1, 300, 32});
  EXPECT_EQ(synthetic->ReadStoredRows("emb.weight", 4, ignore).code(),
            absl::StatusCode::kUnimplemented);
  auto file = RwkvCppFile::FromBytes("held", SomeModel());
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->ReadStoredRows("nope", 4, ignore).code(), absl::StatusCode::kNotFound);
  int calls = 0;
  const absl::Status status =
      (*file)->ReadStoredRows("q8_0", 2, [&](int64_t, int64_t, absl::Span<const uint8_t>) {
        ++calls;
        return absl::ResourceExhaustedError("stop");
      });
  EXPECT_EQ(status, absl::ResourceExhaustedError("stop"));
  EXPECT_EQ(calls, 1);
}

TEST(ReadF32RowsTest, RowsDecodeAloneOnlyForWholeBlocks) {
  EXPECT_TRUE(RowsDecodeAlone({"a", {64, 3}, GgmlType::kQ8_0}));
  EXPECT_FALSE(RowsDecodeAlone({"b", {16, 4}, GgmlType::kQ8_0}));
  EXPECT_TRUE(RowsDecodeAlone({"c", {5, 7}, GgmlType::kF16}));
  EXPECT_TRUE(RowsDecodeAlone({"d", {}, GgmlType::kF32}));
  EXPECT_FALSE(RowsDecodeAlone({"e", {0, 4}, GgmlType::kF32}));
}

}  // namespace
}  // namespace rwkv::engine
