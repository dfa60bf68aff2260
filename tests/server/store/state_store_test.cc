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

std::vector<std::string> Keys(const std::vector<KeyValue>& entries) {
  std::vector<std::string> keys;
  for (const KeyValue& entry : entries) keys.push_back(entry.key);
  return keys;
}

class StateStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<StateStore>> store = OpenStateStore(Uri());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
  }

  std::string Uri() const {
    return GetParam() == "memory" ? "memory:" : absl::StrCat("rocksdb:", dir_.path(), "/db");
  }

  void Put(absl::string_view key, std::string value) {
    WriteBatch batch;
    batch.Put(key, std::move(value));
    const absl::Status status = store_->Write(batch);
    ASSERT_TRUE(status.ok()) << status;
  }

  std::vector<std::string> ScanKeys(absl::string_view prefix, absl::string_view start_after,
                                    int limit) {
    absl::StatusOr<std::vector<KeyValue>> entries = store_->Scan(prefix, start_after, limit);
    EXPECT_TRUE(entries.ok()) << entries.status();
    return entries.ok() ? Keys(*entries) : std::vector<std::string>{"<error>"};
  }

  ScopedTempDir dir_;
  std::unique_ptr<StateStore> store_;
};

INSTANTIATE_TEST_SUITE_P(Backends, StateStoreTest, ::testing::Values("memory", "rocksdb"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

TEST_P(StateStoreTest, BackendLabel) { EXPECT_EQ(store_->Backend(), GetParam()); }

TEST_P(StateStoreTest, GetMissingKeyIsNotFound) {
  EXPECT_EQ(store_->Get("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StateStoreTest, PutGetOverwriteDelete) {
  Put("k", "v1");
  EXPECT_EQ(store_->Get("k").value(), "v1");
  Put("k", "v2");
  EXPECT_EQ(store_->Get("k").value(), "v2");
  WriteBatch batch;
  batch.Delete("k");
  ASSERT_TRUE(store_->Write(batch).ok());
  EXPECT_EQ(store_->Get("k").status().code(), absl::StatusCode::kNotFound);
  // Deleting a missing key is not an error.
  EXPECT_TRUE(store_->Write(batch).ok());
}

TEST_P(StateStoreTest, EmptyValueIsStoredAndDistinctFromMissing) {
  Put("empty", "");
  absl::StatusOr<std::string> value = store_->Get("empty");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "");
  ASSERT_EQ(ScanKeys("", "", 10), std::vector<std::string>{"empty"});
}

TEST_P(StateStoreTest, BinaryKeysAndValues) {
  const std::string key("k\0\xff\x01", 4);
  const std::string other_key("k\0\xfe", 3);
  std::string value(300, '\0');
  for (int i = 0; i < 300; ++i) value[i] = static_cast<char>(i * 7);
  Put(key, value);
  Put(other_key, "other");
  EXPECT_EQ(store_->Get(key).value(), value);
  EXPECT_EQ(store_->Get(other_key).value(), "other");
  EXPECT_EQ(store_->Get(std::string("k\0", 2)).status().code(), absl::StatusCode::kNotFound);
  // Bytewise order: 0xfe < 0xff, and a key sorts after its own prefix.
  EXPECT_EQ(ScanKeys(std::string("k\0", 2), "", 10), (std::vector<std::string>{other_key, key}));
}

TEST_P(StateStoreTest, EmptyBatchIsOk) { EXPECT_TRUE(store_->Write(WriteBatch()).ok()); }

TEST_P(StateStoreTest, BatchAppliesOpsInOrder) {
  Put("gone", "x");
  WriteBatch batch;
  batch.Put("a", "1");
  batch.Delete("a");
  batch.Put("b", "1");
  batch.Put("b", "2");
  batch.Delete("gone");
  batch.Delete("never-there");
  ASSERT_TRUE(store_->Write(batch).ok());
  EXPECT_EQ(store_->Get("a").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Get("b").value(), "2");
  EXPECT_EQ(store_->Get("gone").status().code(), absl::StatusCode::kNotFound);
}

// A writer moves one value back and forth between two keys with mixed put+delete batches; a
// reader must always see exactly one of them, never both or neither.
TEST_P(StateStoreTest, MixedBatchesAreAtomicToReaders) {
  Put("x/a", "token");
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; i < 2000; ++i) {
      WriteBatch batch;
      batch.Delete(i % 2 == 0 ? "x/a" : "x/b");
      batch.Put(i % 2 == 0 ? "x/b" : "x/a", "token");
      ASSERT_TRUE(store_->Write(batch).ok());
    }
    stop = true;
  });
  int reads = 0;
  while (!stop || reads < 100) {
    absl::StatusOr<std::vector<KeyValue>> entries = store_->Scan("x/", "", 10);
    ASSERT_TRUE(entries.ok()) << entries.status();
    ASSERT_EQ(entries->size(), 1u) << "a reader saw a half-applied batch";
    ++reads;
  }
  writer.join();
}

TEST_P(StateStoreTest, ScanOrderPrefixStartAfterAndLimit) {
  for (const char* key : {"m/b", "m/a", "m/c", "m/aa", "m", "n/a", "l/z", "m0"}) Put(key, key);
  EXPECT_EQ(ScanKeys("m/", "", 100), (std::vector<std::string>{"m/a", "m/aa", "m/b", "m/c"}));
  EXPECT_EQ(ScanKeys("m/", "", 2), (std::vector<std::string>{"m/a", "m/aa"}));
  // start_after is a whole key and is itself skipped.
  EXPECT_EQ(ScanKeys("m/", "m/aa", 100), (std::vector<std::string>{"m/b", "m/c"}));
  // ... whether or not it exists.
  EXPECT_EQ(ScanKeys("m/", "m/ab", 100), (std::vector<std::string>{"m/b", "m/c"}));
  EXPECT_EQ(ScanKeys("m/", "m/c", 100), std::vector<std::string>{});
  // A start_after before the prefix starts at the prefix; one past it gives nothing.
  EXPECT_EQ(ScanKeys("m/", "a", 100), (std::vector<std::string>{"m/a", "m/aa", "m/b", "m/c"}));
  EXPECT_EQ(ScanKeys("m/", "z", 100), std::vector<std::string>{});
  EXPECT_EQ(ScanKeys("", "", 100),
            (std::vector<std::string>{"l/z", "m", "m/a", "m/aa", "m/b", "m/c", "m0", "n/a"}));
  EXPECT_EQ(ScanKeys("q/", "", 100), std::vector<std::string>{});
  absl::StatusOr<std::vector<KeyValue>> entries = store_->Scan("m/", "m/a", 1);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].value, "m/aa");
}

TEST_P(StateStoreTest, ScanPagesThroughEveryKeyOnce) {
  for (int i = 0; i < 57; ++i) Put(absl::StrCat("p/", 1000 + i), "v");
  std::vector<std::string> seen;
  std::string cursor;
  for (;;) {
    std::vector<std::string> page = ScanKeys("p/", cursor, 10);
    seen.insert(seen.end(), page.begin(), page.end());
    if (page.size() < 10) break;
    cursor = page.back();
  }
  ASSERT_EQ(seen.size(), 57u);
  for (int i = 0; i < 57; ++i) EXPECT_EQ(seen[i], absl::StrCat("p/", 1000 + i));
}

TEST_P(StateStoreTest, ScanLimitMustBePositive) {
  EXPECT_EQ(store_->Scan("", "", 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Scan("", "", -1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(StateStoreTest, FlushSucceeds) {
  Put("k", "v");
  EXPECT_TRUE(store_->Flush().ok());
}

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
