// RocksDbStateStore on a real full filesystem (a small tmpfs the test fills; root only, skipped
// otherwise): writes fail with UNAVAILABLE naming ENOSPC, reads and Flush answer, and nothing
// aborts the process (RocksDB 7.8's info log and a resumed WAL writer would); once space is
// back, Resume makes it take writes again, and nothing acknowledged is lost.
#include <filesystem>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/strings/str_cat.h"
#include "server/store/rocksdb_state_store.h"
#include "tests/util/scoped_tmpfs.h"

namespace rwkv::server {
namespace {

using ::rwkv::testing::FillFilesystem;
using ::rwkv::testing::ScopedTmpfs;
using ::testing::HasSubstr;

// A session state's size for the tiny model.
const std::string kValue(200 << 10, 'x');

absl::Status Put(StateStore& store, const std::string& key) {
  WriteBatch batch;
  batch.Put(key, kValue);
  return store.Write(batch);
}

// Whether keys were written before the disk filled: a non-empty memtable, or an empty one,
// where RocksDB's own resume would reuse the failed WAL writer.
class RocksDbFullDiskTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (absl::Status mounted = disk_.Mount(16 << 20); !mounted.ok()) {
      GTEST_SKIP() << "no small filesystem to fill: " << mounted.message();
    }
    Open();
  }

  void Open() {
    auto store = RocksDbStateStore::Create({.path = disk_.path() + "/db"});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  std::string filler() const { return disk_.path() + "/filler"; }

  ScopedTmpfs disk_;
  std::unique_ptr<RocksDbStateStore> store_;
};

INSTANTIATE_TEST_SUITE_P(Memtable, RocksDbFullDiskTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "WithData" : "Empty";
                         });

TEST_P(RocksDbFullDiskTest, FailsCleanlyWhileFullAndResumesWhenThereIsSpace) {
  const bool with_data = GetParam();
  if (with_data) {
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(Put(*store_, absl::StrCat("s/", i)).ok());
  }
  ASSERT_GT(FillFilesystem(filler()), 0);

  for (int i = 0; i < 3; ++i) {
    const absl::Status full = Put(*store_, "s/full");
    EXPECT_EQ(full.code(), absl::StatusCode::kUnavailable) << full;
    EXPECT_THAT(full.message(), HasSubstr("No space left on device"));
  }
  EXPECT_FALSE(store_->Flush().ok());
  if (with_data) {
    EXPECT_EQ(store_->Get("s/1").value(), kValue);
  }
  EXPECT_EQ(store_->Get("s/none").status().code(), absl::StatusCode::kNotFound);

  ASSERT_TRUE(std::filesystem::remove(filler()));
  const absl::Status resumed = store_->Resume();
  ASSERT_TRUE(resumed.ok()) << resumed;
  for (int i = 0; i < 3; ++i) {
    const absl::Status written = Put(*store_, absl::StrCat("s/after", i));
    ASSERT_TRUE(written.ok()) << written;
  }
  EXPECT_TRUE(store_->Flush().ok());
  EXPECT_TRUE(store_->Resume().ok()) << "a store that works has nothing to resume";

  // Everything acknowledged is there after a restart, and nothing that failed.
  store_.reset();
  Open();
  if (with_data) {
    EXPECT_EQ(store_->Get("s/2").value(), kValue);
  }
  EXPECT_EQ(store_->Get("s/after2").value(), kValue);
  EXPECT_EQ(store_->Get("s/full").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(RocksDbFullDiskTest, ResumesWhileStillFullLeaveItReadableAndALaterOneWorks) {
  const bool with_data = GetParam();
  if (with_data) {
    ASSERT_TRUE(Put(*store_, "s/0").ok());
  }
  ASSERT_GT(FillFilesystem(filler()), 0);
  EXPECT_FALSE(Put(*store_, "s/full").ok());
  // A resume on a full disk may reopen (closing the old WAL frees its preallocated space) or
  // fail; either way the store answers after it, reads work, and writes fail cleanly.
  int failed_resumes = 0;
  for (int i = 0; i < 3; ++i) {
    const absl::Status resumed = store_->Resume();
    FillFilesystem(filler() + absl::StrCat(i));  // take what the reopen may have freed
    EXPECT_FALSE(Put(*store_, "s/full").ok());
    if (!resumed.ok()) {
      ++failed_resumes;
      EXPECT_EQ(resumed.code(), absl::StatusCode::kUnavailable);
      EXPECT_THAT(resumed.message(), HasSubstr("after a failure"));
      const absl::Status write = Put(*store_, "s/full");
      EXPECT_THAT(write.message(), HasSubstr("is read-only after a failure")) << write;
    }
    if (with_data) {
      absl::StatusOr<std::string> value = store_->Get("s/0");
      ASSERT_TRUE(value.ok()) << value.status();
      EXPECT_EQ(*value, kValue);
    }
  }
  RecordProperty("failed_resumes", failed_resumes);
  for (const auto& entry : std::filesystem::directory_iterator(disk_.path())) {
    if (entry.path().filename().string().rfind("filler", 0) == 0) {
      std::filesystem::remove(entry.path());
    }
  }
  const absl::Status resumed = store_->Resume();
  ASSERT_TRUE(resumed.ok()) << resumed;
  EXPECT_TRUE(Put(*store_, "s/after").ok());
  if (with_data) {
    EXPECT_EQ(store_->Get("s/0").value(), kValue);
  }
}

}  // namespace
}  // namespace rwkv::server
