#include "engine/model/formats/zip_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "tests/engine/model/formats/torch_test_files.h"
#include "tests/util/shared_data.h"

namespace rwkv::engine {
namespace {

using torch_test::Bytes;
using torch_test::PutLE;
using torch_test::StoredZip;
using torch_test::ZipOptions;

absl::StatusOr<ZipArchive> OpenBytes(std::string bytes) {
  return ZipArchive::Open(MappedFile::FromBytes("test.zip", std::move(bytes)));
}

std::string EntryText(const ZipEntry& entry) {
  return std::string(entry.data.begin(), entry.data.end());
}

TEST(ZipReaderTest, OpensAStoredArchive) {
  for (const bool zip64 : {false, true}) {
    const auto zip =
        OpenBytes(StoredZip({{"a/data.pkl", "pickle"}, {"a/data/0", Bytes(300)}, {"a/empty", ""}},
                            {.zip64 = zip64, .comment = "a comment"}));
    ASSERT_TRUE(zip.ok()) << zip.status();
    ASSERT_EQ(zip->entries().size(), 3u);
    EXPECT_EQ(zip->entries()[0].name, "a/data.pkl");
    EXPECT_EQ(EntryText(zip->entries()[0]), "pickle");
    EXPECT_EQ(zip->entries()[0].header_offset, 0);
    EXPECT_EQ(zip->entries()[0].data_offset, 30 + 10);
    ASSERT_NE(zip->Find("a/data/0"), nullptr);
    EXPECT_EQ(EntryText(*zip->Find("a/data/0")), Bytes(300));
    EXPECT_TRUE(zip->Find("a/empty")->data.empty());
    EXPECT_EQ(zip->Find("a/data/1"), nullptr);
    // Payloads are views of the file's bytes, not copies.
    EXPECT_EQ(zip->Find("a/data/0")->data.data(),
              zip->file().bytes().data() + zip->Find("a/data/0")->data_offset);
  }
}

TEST(ZipReaderTest, OpensEveryPthFixture) {
  for (const char* name :
       {"blinkdl-rwkv8-rosa-sample.pth", "tiny-rwkv-7v0-834K.pth", "tiny-rwkv-4v0-660K.pth"}) {
    auto file = MappedFile::Open(testing::SharedPath(std::string("models/formats/") + name));
    ASSERT_TRUE(file.ok()) << file.status();
    const auto zip = ZipArchive::Open(*file);
    ASSERT_TRUE(zip.ok()) << zip.status();
    EXPECT_TRUE(ZipArchive::LooksLikeZip((*file)->bytes()));
    int storages = 0;
    for (const ZipEntry& entry : zip->entries()) {
      if (!absl::StrContains(entry.name, "/data/")) continue;
      ++storages;
      EXPECT_EQ(entry.data_offset % 64, 0) << name << ": " << entry.name;  // torch aligns them
    }
    EXPECT_GT(storages, 0) << name;
  }
}

TEST(ZipReaderTest, ReadsZip64ExtraFields) {
  const auto zip = OpenBytes(
      StoredZip({{"a/data.pkl", "pickle"}, {"a/data/0", Bytes(300)}}, {.zip64_extra = true}));
  ASSERT_TRUE(zip.ok()) << zip.status();
  ASSERT_EQ(zip->entries().size(), 2u);
  EXPECT_EQ(EntryText(*zip->Find("a/data/0")), Bytes(300));
  EXPECT_EQ(zip->Find("a/data/0")->header_offset, 30 + 10 + 6);

  std::string short_extra = StoredZip({{"a/x", "1"}}, {.zip64_extra = true});
  const size_t extra = short_extra.find(std::string("\x01\x00\x18\x00", 4));
  ASSERT_NE(extra, std::string::npos);
  short_extra[extra + 2] = 8;  // Room for one of the three deferred values.
  const absl::Status status = OpenBytes(short_extra).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "Zip64 extra field too short")) << status;
}

TEST(ZipReaderTest, RefusesCompressedAndEncryptedEntries) {
  absl::Status status = OpenBytes(StoredZip({{"a/data.pkl", "x"}}, {.method = 8})).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StrContains(status.message(),
                                "test.zip: zip archive, at byte 0: entry 'a/data.pkl' is "
                                "compressed (method 8 (deflate)); only stored entries"))
      << status;
  status = OpenBytes(StoredZip({{"a/x", "x"}}, {.method = 12})).status();
  EXPECT_TRUE(absl::StrContains(status.message(), "(method 12)")) << status;
  status = OpenBytes(StoredZip({{"a/x", "x"}}, {.flags = 0x0809})).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "entry 'a/x' is encrypted")) << status;
}

TEST(ZipReaderTest, RefusesDuplicateAndMismatchedEntries) {
  absl::Status status = OpenBytes(StoredZip({{"a/x", "1"}, {"a/x", "2"}})).status();
  EXPECT_TRUE(absl::StrContains(status.message(), "entry 'a/x' appears twice")) << status;
  std::string zip = StoredZip({{"a/x", "1"}});
  zip[30] = 'b';  // The local header's name.
  status = OpenBytes(zip).status();
  EXPECT_TRUE(absl::StrContains(status.message(), "local header's name differs")) << status;
}

TEST(ZipReaderTest, RefusesWhatIsNotAZip) {
  for (const std::string& bytes :
       {std::string(), std::string("PK"), std::string(100, 'x'), std::string("\x80\x02}q\x00.")}) {
    const absl::Status status = OpenBytes(bytes).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_TRUE(absl::StrContains(status.message(), "test.zip: ")) << status;
  }
  EXPECT_FALSE(ZipArchive::LooksLikeZip({}));
}

TEST(ZipReaderTest, RefusesLyingDirectories) {
  std::string zip = StoredZip({{"a/x", "1"}}, {.zip64 = false});
  std::string past = zip.substr(0, zip.size() - 6);
  PutLE(past, 1000, 4);  // central directory offset past the end
  past += std::string(2, '\0');
  absl::Status status = OpenBytes(past).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "central directory")) << status;

  std::string many = zip.substr(0, zip.size() - 14);
  PutLE(many, 500, 2);  // entries on this disk
  PutLE(many, 500, 2);  // total entries
  many += zip.substr(zip.size() - 10);
  status = OpenBytes(many).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "500 entries cannot fit")) << status;

  std::string zip64 = StoredZip({{"a/x", "1"}});
  const size_t locator = zip64.size() - 22 - 20;
  zip64.replace(locator + 8, 8, std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8));
  status = OpenBytes(zip64).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "Zip64 end record")) << status;
}

TEST(ZipReaderTest, EveryTruncationOfAFixtureIsRefused) {
  const auto bytes =
      testing::ReadFileBytes(testing::SharedPath("models/formats/tiny-rwkv-5v1-730K.pth"));
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  std::vector<size_t> cuts;
  for (size_t cut = 0; cut < bytes->size(); cut += 4099) cuts.push_back(cut);
  for (size_t back = 1; back <= 400; ++back) cuts.push_back(bytes->size() - back);
  for (const size_t cut : cuts) {
    const absl::Status status = OpenBytes(bytes->substr(0, cut)).status();
    EXPECT_TRUE(status.code() == absl::StatusCode::kInvalidArgument ||
                status.code() == absl::StatusCode::kDataLoss)
        << cut << ": " << status;
    EXPECT_TRUE(absl::StrContains(status.message(), "test.zip")) << status;
  }
}

}  // namespace
}  // namespace rwkv::engine
