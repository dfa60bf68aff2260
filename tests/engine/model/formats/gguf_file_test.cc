#include "engine/model/formats/gguf_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "engine/model/quantization.h"
#include "engine/model/rwkv_cpp_file.h"
#include "tests/util/gguf_writer.h"
#include "tests/util/shared_data.h"

namespace rwkv::engine {
namespace {

using ::rwkv::testing::ReadFileBytes;
using ::rwkv::testing::SharedPath;
using ::testing::HasSubstr;

using ::rwkv::testing::GgufWriter;

std::string U32(uint32_t v) { return ::rwkv::testing::GgufU32(v); }
std::string U64(uint64_t v) { return ::rwkv::testing::GgufU64(v); }
std::string Str(const std::string& s) { return ::rwkv::testing::GgufStr(s); }

std::string Floats(const std::vector<float>& values) {
  std::string out;
  for (float v : values) out += U32(std::bit_cast<uint32_t>(v));
  return out;
}

absl::StatusOr<std::unique_ptr<StoredTensors>> ReadBytes(std::string bytes) {
  return ReadGguf(MappedFile::FromBytes("test.gguf", std::move(bytes)));
}

std::unique_ptr<StoredTensors> OpenFixture(const std::string& name) {
  auto file = MappedFile::Open(SharedPath("models/formats/" + name));
  EXPECT_TRUE(file.ok()) << file.status();
  if (!file.ok()) return nullptr;
  auto tensors = ReadGguf(*file);
  EXPECT_TRUE(tensors.ok()) << tensors.status();
  return tensors.ok() ? std::move(*tensors) : nullptr;
}

template <typename T>
const T& Meta(const StoredTensors& tensors, const std::string& key) {
  const MetadataValue* value = tensors.FindMetadata(key);
  EXPECT_NE(value, nullptr) << key;
  static const T kEmpty{};
  if (value == nullptr || !std::holds_alternative<T>(*value)) {
    ADD_FAILURE() << key << " missing or of another type";
    return kEmpty;
  }
  return std::get<T>(*value);
}

// ---- The fixtures (written by llama.cpp's gguf-py). ----

TEST(GgufFileTest, EveryFixtureOpens) {
  struct Case {
    std::string file, arch;
    GgmlType matrix_type;
  };
  for (const Case& c : {Case{"tiny-rwkv-6v0-1m-F16.gguf", "rwkv6", GgmlType::kF16},
                        Case{"tiny-rwkv-6v0-1m-Q8_0.gguf", "rwkv6", GgmlType::kQ8_0},
                        Case{"tiny-rwkv-7v0-834K-F16.gguf", "rwkv7", GgmlType::kF16},
                        Case{"tiny-rwkv-7v0-834K-Q8_0.gguf", "rwkv7", GgmlType::kQ8_0}}) {
    SCOPED_TRACE(c.file);
    std::unique_ptr<StoredTensors> tensors = OpenFixture(c.file);
    ASSERT_NE(tensors, nullptr);
    EXPECT_EQ(tensors->format(), "GGUF");
    EXPECT_EQ(Meta<int64_t>(*tensors, "GGUF.version"), 3);
    EXPECT_EQ(Meta<std::string>(*tensors, "general.architecture"), c.arch);
    EXPECT_EQ(Meta<std::string>(*tensors, "tokenizer.ggml.model"), "rwkv");
    EXPECT_EQ(Meta<int64_t>(*tensors, c.arch + ".embedding_length"), 64);
    EXPECT_EQ(Meta<int64_t>(*tensors, c.arch + ".block_count"), 12);
    EXPECT_NEAR(Meta<double>(*tensors, c.arch + ".attention.layer_norm_epsilon"), 1e-5, 1e-12);
    const auto& tokens = Meta<std::vector<std::string>>(*tensors, "tokenizer.ggml.tokens");
    ASSERT_EQ(tokens.size(), 256u);
    EXPECT_EQ(tokens['a'], "a");
    EXPECT_EQ(tokens[0], "\\x00");  // repr(bytes)[2:-1], as llama.cpp's converter writes.
    EXPECT_EQ(Meta<std::vector<int64_t>>(*tensors, "tokenizer.ggml.token_type").size(), 256u);
    const TensorInfo* emb = tensors->Find("token_embd.weight");
    ASSERT_NE(emb, nullptr);
    EXPECT_EQ(emb->ne, (std::vector<int64_t>{64, 256}));
    EXPECT_EQ(emb->type, c.matrix_type);
    EXPECT_EQ(tensors->Find("blk.0.attn_norm.weight")->type, GgmlType::kF32);
    std::map<GgmlType, int> types;
    for (const TensorInfo& info : tensors->Tensors()) {
      ++types[info.type];
      std::vector<float> values(info.NumElements());
      ASSERT_TRUE(tensors->ReadF32(info.name, absl::MakeSpan(values)).ok()) << info.name;
      for (float v : values) ASSERT_TRUE(std::isfinite(v)) << info.name;
    }
    EXPECT_EQ(types.size(), 2u);
    EXPECT_GT(types[c.matrix_type], 0);
  }
}

TEST(GgufFileTest, ValuesMatchTheBinWithinStoredPrecision) {
  auto bin = RwkvCppFile::Open(SharedPath("models/tiny-rwkv-7v0-834K-FP32.bin"));
  ASSERT_TRUE(bin.ok()) << bin.status();
  std::vector<float> reference(64 * 256), got(64 * 256);
  ASSERT_TRUE((*bin)->ReadF32("emb.weight", absl::MakeSpan(reference)).ok());
  std::unique_ptr<StoredTensors> f16 = OpenFixture("tiny-rwkv-7v0-834K-F16.gguf");
  ASSERT_NE(f16, nullptr);
  ASSERT_TRUE(f16->ReadF32("token_embd.weight", absl::MakeSpan(got)).ok());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i], Fp16ToF32(F32ToFp16(reference[i]))) << i;  // Rounded once, to nearest.
  }
  std::unique_ptr<StoredTensors> q8 = OpenFixture("tiny-rwkv-7v0-834K-Q8_0.gguf");
  ASSERT_NE(q8, nullptr);
  ASSERT_TRUE(q8->ReadF32("token_embd.weight", absl::MakeSpan(got)).ok());
  for (size_t block = 0; block < got.size() / 32; ++block) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(reference[32 * block + j]));
    for (int j = 0; j < 32; ++j) {
      // Half a quantization step d = amax / 127, plus up to 127 times the f16 rounding of d
      // (relative 2^-11, or absolute 2^-25 where d is an f16 subnormal).
      ASSERT_LE(std::fabs(got[32 * block + j] - reference[32 * block + j]),
                amax / 127 * 0.57f + 127 * 0x1p-25f)
          << block << " " << j;
    }
  }
}

// ---- Files built here. ----

TEST(GgufFileTest, ReadsEveryValueTypeAndTensorType) {
  std::string q6k(210, '\0');
  q6k[208] = 0x00;
  q6k[209] = 0x3c;  // d = 1; all scales 0 -> zeros.
  const std::string bytes =
      GgufWriter()
          .Alignment(64)
          .Kv("u8", 0, "\xc8")
          .Kv("i8", 1, "\xfb")
          .Kv("u16", 2, std::string("\x34\x12", 2))
          .Kv("i16", 3, std::string("\xff\xff", 2))
          .Kv("u32", 4, U32(4000000000u))
          .Kv("i32", 5, U32(static_cast<uint32_t>(-7)))
          .Kv("f32", 6, U32(std::bit_cast<uint32_t>(0.5f)))
          .Kv("bool", 7, std::string("\x01", 1))
          .Kv("string", 8, Str("hello"))
          .Kv("u64", 10, U64(uint64_t{1} << 40))
          .Kv("i64", 11, U64(static_cast<uint64_t>(-1)))
          .Kv("f64", 12, U64(std::bit_cast<uint64_t>(0.25)))
          .Kv("strings", 9, U32(8) + U64(2) + Str("a") + Str(""))
          .Kv("ints", 9, U32(5) + U64(2) + U32(static_cast<uint32_t>(-1)) + U32(2))
          .Kv("floats", 9, U32(6) + U64(1) + U32(std::bit_cast<uint32_t>(1.5f)))
          .Kv("bools", 9, U32(7) + U64(2) + std::string("\x00\x01", 2))
          .Kv("empty", 9, U32(4) + U64(0))
          .Tensor("a", {2, 1}, 0, Floats({1.0f, -2.0f}))
          .Tensor("b", {1}, 30, std::string("\x80\x3f", 2))
          .Tensor("c", {256}, 14, q6k)
          .Build();
  auto tensors = ReadBytes(bytes);
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  const StoredTensors& t = **tensors;
  EXPECT_EQ(Meta<int64_t>(t, "general.alignment"), 64);
  EXPECT_EQ(Meta<int64_t>(t, "u8"), 200);
  EXPECT_EQ(Meta<int64_t>(t, "i8"), -5);
  EXPECT_EQ(Meta<int64_t>(t, "u16"), 0x1234);
  EXPECT_EQ(Meta<int64_t>(t, "i16"), -1);
  EXPECT_EQ(Meta<int64_t>(t, "u32"), 4000000000);
  EXPECT_EQ(Meta<int64_t>(t, "i32"), -7);
  EXPECT_EQ(Meta<double>(t, "f32"), 0.5);
  EXPECT_EQ(Meta<bool>(t, "bool"), true);
  EXPECT_EQ(Meta<std::string>(t, "string"), "hello");
  EXPECT_EQ(Meta<int64_t>(t, "u64"), int64_t{1} << 40);
  EXPECT_EQ(Meta<int64_t>(t, "i64"), -1);
  EXPECT_EQ(Meta<double>(t, "f64"), 0.25);
  EXPECT_EQ(Meta<std::vector<std::string>>(t, "strings"), (std::vector<std::string>{"a", ""}));
  EXPECT_EQ(Meta<std::vector<int64_t>>(t, "ints"), (std::vector<int64_t>{-1, 2}));
  EXPECT_EQ(Meta<std::vector<double>>(t, "floats"), (std::vector<double>{1.5}));
  EXPECT_EQ(Meta<std::vector<int64_t>>(t, "bools"), (std::vector<int64_t>{0, 1}));
  EXPECT_TRUE(Meta<std::vector<int64_t>>(t, "empty").empty());
  ASSERT_EQ(t.Tensors().size(), 3u);
  EXPECT_EQ(t.Tensors()[0].name, "a");
  EXPECT_EQ(t.Tensors()[2].type, GgmlType::kQ6_K);
  std::vector<float> a(2), b(1), c(256, 1.0f);
  ASSERT_TRUE(t.ReadF32("a", absl::MakeSpan(a)).ok());
  ASSERT_TRUE(t.ReadF32("b", absl::MakeSpan(b)).ok());
  ASSERT_TRUE(t.ReadF32("c", absl::MakeSpan(c)).ok());
  EXPECT_EQ(a, (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(b[0], 1.0f);
  EXPECT_EQ(c, std::vector<float>(256, 0.0f));
  // Data 64-byte aligned: the three tensors at data offsets 0, 64, 128.
  EXPECT_EQ((*t.RawData("b")).data() - (*t.RawData("a")).data(), 64);
}

TEST(GgufFileTest, Version2AndNoTensors) {
  auto tensors = ReadBytes(GgufWriter().Version(2).Kv("x", 8, Str("y")).Build());
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  EXPECT_TRUE((*tensors)->Tensors().empty());
  EXPECT_EQ(Meta<int64_t>(**tensors, "GGUF.version"), 2);
}

// ---- Malformed files. ----

void ExpectRefused(const std::string& bytes, absl::StatusCode code, const std::string& text) {
  auto tensors = ReadBytes(bytes);
  ASSERT_FALSE(tensors.ok());
  EXPECT_EQ(tensors.status().code(), code) << tensors.status();
  EXPECT_THAT(std::string(tensors.status().message()), HasSubstr(text));
  EXPECT_THAT(std::string(tensors.status().message()), HasSubstr("test.gguf"));
}

const std::string kTwoFloats = Floats({1.0f, 2.0f});

TEST(GgufFileTest, RefusesBadMagicAndVersions) {
  std::string bytes = GgufWriter().Build();
  bytes[0] = 'g';
  ExpectRefused(bytes, absl::StatusCode::kInvalidArgument, "not \"GGUF\"");
  ExpectRefused(GgufWriter().Version(1).Build(), absl::StatusCode::kInvalidArgument,
                "version 1 is not supported");
  ExpectRefused(GgufWriter().Version(0x03000000).Build(), absl::StatusCode::kInvalidArgument,
                "big-endian");
  ExpectRefused("GGU", absl::StatusCode::kDataLoss, "truncated");
}

TEST(GgufFileTest, RefusesHugeCountsAndLengths) {
  const std::string header = "GGUF" + U32(3);
  ExpectRefused(header + U64(uint64_t{1} << 62) + U64(0), absl::StatusCode::kInvalidArgument,
                "tensor descriptions cannot fit");
  ExpectRefused(header + U64(0) + U64(~uint64_t{0}), absl::StatusCode::kInvalidArgument,
                "metadata entries cannot fit");
  ExpectRefused(header + U64(0) + U64(1) + U64(~uint64_t{0}) + std::string(32, 'k'),
                absl::StatusCode::kDataLoss, "key");
  ExpectRefused(GgufWriter().Kv("s", 8, U64(uint64_t{1} << 60) + "abc").Build(),
                absl::StatusCode::kDataLoss, "metadata key 's'");
  ExpectRefused(GgufWriter().Kv("a", 9, U32(8) + U64(uint64_t{1} << 61)).Build(),
                absl::StatusCode::kInvalidArgument, "array elements cannot fit");
  ExpectRefused(GgufWriter().Kv("a", 9, U32(0) + U64(~uint64_t{0})).Build(),
                absl::StatusCode::kInvalidArgument, "array elements cannot fit");
}

TEST(GgufFileTest, RefusesBadValues) {
  ExpectRefused(GgufWriter().Kv("x", 13, "").Build(), absl::StatusCode::kInvalidArgument,
                "unknown value type 13");
  ExpectRefused(GgufWriter().Kv("x", 9, U32(9) + U64(1) + U32(0) + U64(0)).Build(),
                absl::StatusCode::kInvalidArgument, "arrays of arrays");
  ExpectRefused(GgufWriter().Kv("x", 10, U64(~uint64_t{0})).Build(),
                absl::StatusCode::kInvalidArgument, "above INT64_MAX");
  ExpectRefused(GgufWriter().Kv("x", 7, "\x02").Build(), absl::StatusCode::kInvalidArgument,
                "neither 0 nor 1");
  ExpectRefused(GgufWriter().Kv("x", 4, U32(1)).Kv("x", 4, U32(2)).Build(),
                absl::StatusCode::kInvalidArgument,
                "metadata key 'x' (entry at offset 41) at offset 50: appears twice");
  ExpectRefused(GgufWriter().Kv("general.alignment", 4, U32(48)).Build(),
                absl::StatusCode::kInvalidArgument, "power of two");
  ExpectRefused(GgufWriter().Kv("general.alignment", 8, Str("32")).Build(),
                absl::StatusCode::kInvalidArgument, "power of two");
}

TEST(GgufFileTest, RefusesBadTensors) {
  ExpectRefused(GgufWriter().Tensor("a", {2}, 9, kTwoFloats).Build(),
                absl::StatusCode::kInvalidArgument, "tensor type 9 (Q8_1) is not supported");
  ExpectRefused(GgufWriter().Tensor("a", {2}, 99, kTwoFloats).Build(),
                absl::StatusCode::kInvalidArgument, "unknown tensor type code 99");
  ExpectRefused(GgufWriter().Tensor("a", {1, 1, 1, 1, 2}, 0, kTwoFloats).Build(),
                absl::StatusCode::kInvalidArgument, "5 dimensions");
  ExpectRefused(
      GgufWriter().Tensor("a", {2}, 0, kTwoFloats).Tensor("a", {2}, 0, kTwoFloats).Build(),
      absl::StatusCode::kInvalidArgument, "appears twice");
  ExpectRefused(GgufWriter().Info("a", {2}, 0, 4).Build() + kTwoFloats + kTwoFloats,
                absl::StatusCode::kInvalidArgument, "not a multiple of the alignment 32");
  ExpectRefused(
      GgufWriter().Info("a", {16}, 0, 0).Info("b", {2}, 0, 32).Build() + std::string(64, '\0'),
      absl::StatusCode::kInvalidArgument, "overlaps tensor 'a'");
  ExpectRefused(GgufWriter().Tensor("a", {16}, 8, std::string(17, '\0')).Build(),
                absl::StatusCode::kInvalidArgument, "multiple of 32");
  ExpectRefused(GgufWriter().Tensor("a", {0}, 0, "").Build(), absl::StatusCode::kInvalidArgument,
                "not positive");
  ExpectRefused(GgufWriter().Tensor("a", {uint64_t{1} << 62, 8}, 0, "").Build(),
                absl::StatusCode::kInvalidArgument, "overflows");
}

TEST(GgufFileTest, RefusesTensorsPastTheEnd) {
  ExpectRefused(GgufWriter().Tensor("a", {4}, 0, kTwoFloats).Build(), absl::StatusCode::kDataLoss,
                "tensor 'a'");
  ExpectRefused(GgufWriter().Info("a", {2}, 0, ~uint64_t{0} - 31).Build() + kTwoFloats,
                absl::StatusCode::kDataLoss, "past the end");
  ExpectRefused(GgufWriter().Info("a", {uint64_t{1} << 40}, 0, 0).Build() + kTwoFloats,
                absl::StatusCode::kDataLoss, "past the end");
}

TEST(GgufFileTest, EveryTruncationIsRefused) {
  const std::string small = GgufWriter()
                                .Kv("k", 9, U32(8) + U64(2) + Str("ab") + Str("c"))
                                .Tensor("a", {2}, 0, kTwoFloats)
                                .Build();
  for (size_t size = 0; size < small.size(); ++size) {
    auto tensors = ReadBytes(small.substr(0, size));
    ASSERT_FALSE(tensors.ok()) << size;
  }
  auto fixture = ReadFileBytes(SharedPath("models/formats/tiny-rwkv-7v0-834K-Q8_0.gguf"));
  ASSERT_TRUE(fixture.ok()) << fixture.status();
  for (size_t size = 0; size < fixture->size(); size += size < 30000 ? 7 : 4099) {
    auto tensors = ReadBytes(fixture->substr(0, size));
    ASSERT_FALSE(tensors.ok()) << size;
    const absl::StatusCode code = tensors.status().code();
    EXPECT_TRUE(code == absl::StatusCode::kDataLoss || code == absl::StatusCode::kInvalidArgument)
        << size << ": " << tensors.status();
  }
}

}  // namespace
}  // namespace rwkv::engine
