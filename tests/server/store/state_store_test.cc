#include "server/store/state_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "server/store/rocksdb_state_store.h"
#include "tests/util/scoped_temp_dir.h"

namespace rwkv::server {
namespace {

using ::rwkv::testing::ScopedTempDir;

TEST(RocksDbStateStoreTest, PersistsAcrossCloseAndReopen) {
  ScopedTempDir dir;
  const std::string uri = absl::StrCat("rocksdb:", dir.path(), "/nested/dirs/db");
  {
    std::unique_ptr<StateStore> store = OpenStateStore(uri).value();
    WriteBatch batch;
    batch.Put("s/1", std::string(1 << 20, 'x'));
    batch.Put("m/1", "meta");
    batch.Put("tmp", "gone soon");
    ASSERT_TRUE(store->Write(batch).ok());
    WriteBatch deletion;
    deletion.Delete("tmp");
    ASSERT_TRUE(store->Write(deletion).ok());
  }
  std::unique_ptr<StateStore> store = OpenStateStore(uri).value();
  EXPECT_EQ(store->Get("s/1").value(), std::string(1 << 20, 'x'));
  EXPECT_EQ(store->Get("m/1").value(), "meta");
  EXPECT_EQ(store->Get("tmp").status().code(), absl::StatusCode::kNotFound);
}

TEST(RocksDbStateStoreTest, SecondOpenOfTheSamePathIsUnavailable) {
  ScopedTempDir dir;
  const std::string uri = absl::StrCat("rocksdb:", dir.path());
  std::unique_ptr<StateStore> first = OpenStateStore(uri).value();
  absl::StatusOr<std::unique_ptr<StateStore>> second = OpenStateStore(uri);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("in use"), absl::string_view::npos) << second.status();
  EXPECT_NE(second.status().message().find(dir.path()), absl::string_view::npos);
  first.reset();
  // Closing the first instance releases the directory.
  EXPECT_TRUE(OpenStateStore(uri).ok());
}

TEST(RocksDbStateStoreTest, PathThatIsAFileIsUnavailable) {
  ScopedTempDir dir;
  std::filesystem::create_directories(dir.path());
  const std::string file = dir.path() + "/file";
  {
    std::FILE* f = std::fopen(file.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
  }
  absl::StatusOr<std::unique_ptr<StateStore>> store = OpenStateStore("rocksdb:" + file + "/db");
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable) << store.status();
}

TEST(RocksDbStateStoreTest, EmptyPathIsInvalid) {
  EXPECT_EQ(RocksDbStateStore::Create({}).status().code(), absl::StatusCode::kInvalidArgument);
}

// Writes `n` one-key batches and returns how many WAL fsyncs they caused.
int64_t WalSyncsOfWrites(RocksDbStateStore& store, int n) {
  const int64_t before = store.SyncedWalWrites();
  for (int i = 0; i < n; ++i) {
    WriteBatch batch;
    batch.Put(absl::StrCat("k", i), "v");
    EXPECT_TRUE(store.Write(batch).ok());
  }
  return store.SyncedWalWrites() - before;
}

TEST(RocksDbStateStoreTest, WritesAreFsyncedByDefault) {
  ScopedTempDir dir;
  RocksDbStateStore::Options options;
  options.path = dir.path();
  std::unique_ptr<RocksDbStateStore> store = RocksDbStateStore::Create(options).value();
  // Each acknowledged write is on disk: one WAL fsync per Write.
  EXPECT_GE(WalSyncsOfWrites(*store, 5), 5);
}

TEST(RocksDbStateStoreTest, UnsyncedWritesLeaveTheFsyncToFlush) {
  ScopedTempDir dir;
  RocksDbStateStore::Options options;
  options.path = dir.path();
  options.sync_writes = false;
  std::unique_ptr<RocksDbStateStore> store = RocksDbStateStore::Create(options).value();
  EXPECT_EQ(WalSyncsOfWrites(*store, 5), 0);
  const int64_t before = store->SyncedWalWrites();
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_GT(store->SyncedWalWrites(), before);
  EXPECT_EQ(store->Get("k4").value(), "v");
}

TEST(OpenStateStoreTest, RocksDbWritesAreSyncedUnlessAskedNotTo) {
  ScopedTempDir dir;
  {
    std::unique_ptr<StateStore> store =
        OpenStateStore(absl::StrCat("rocksdb:", dir.path())).value();
    auto* rocksdb = dynamic_cast<RocksDbStateStore*>(store.get());
    ASSERT_NE(rocksdb, nullptr);
    EXPECT_GE(WalSyncsOfWrites(*rocksdb, 3), 3);
  }
  StoreOptions async;
  async.sync_writes = false;
  std::unique_ptr<StateStore> store =
      OpenStateStore(absl::StrCat("rocksdb:", dir.path()), async).value();
  auto* rocksdb = dynamic_cast<RocksDbStateStore*>(store.get());
  ASSERT_NE(rocksdb, nullptr);
  EXPECT_EQ(WalSyncsOfWrites(*rocksdb, 3), 0);
  // Memory ignores the option.
  EXPECT_TRUE(OpenStateStore("memory:", async).ok());
}

TEST(OpenStateStoreTest, MemoryStoresAreIndependent) {
  std::unique_ptr<StateStore> a = OpenStateStore("memory:").value();
  std::unique_ptr<StateStore> b = OpenStateStore("memory:").value();
  WriteBatch batch;
  batch.Put("k", "v");
  ASSERT_TRUE(a->Write(batch).ok());
  EXPECT_EQ(b->Get("k").status().code(), absl::StatusCode::kNotFound);
}

TEST(OpenStateStoreTest, BadUrisAreInvalidArgument) {
  for (const char* uri : {"", "memory", "memory:x", "rocksdb:", "rocksdb", "ROCKSDB:/tmp/x",
                          "file:/tmp/x", "/tmp/x", "redis:"}) {
    absl::StatusOr<std::unique_ptr<StateStore>> store = OpenStateStore(uri);
    EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument) << uri;
  }
  const absl::Status status = OpenStateStore("bogus:").status();
  EXPECT_NE(status.message().find("memory:"), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find("rocksdb:PATH"), absl::string_view::npos) << status;
}

}  // namespace
}  // namespace rwkv::server
