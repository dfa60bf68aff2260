// The StateStore contract, run against every backend: what the sessions layer relies on, so that
// memory, RocksDB and Redis are interchangeable under it.
#include "server/store/state_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "server/store/rocksdb_state_store.h"
#include "tests/util/redis_server.h"
#include "tests/util/scoped_temp_dir.h"
#include "tests/util/wait_for.h"

namespace rwkv::server {
namespace {

using ::rwkv::testing::RedisServer;
using ::rwkv::testing::ScopedTempDir;

// One redis-server per test binary, started by the first Redis test and emptied (FLUSHDB) before
// each; stopped when the binary exits (a static's destructor).
RedisServer& SharedRedis() {
  static absl::StatusOr<std::unique_ptr<RedisServer>> server = RedisServer::Start();
  if (!server.ok()) {
    ADD_FAILURE() << "cannot start redis-server: " << server.status();
    std::abort();
  }
  return **server;
}

std::vector<std::string> Keys(const std::vector<KeyValue>& entries) {
  std::vector<std::string> keys;
  for (const KeyValue& entry : entries) keys.push_back(entry.key);
  return keys;
}

class StateStoreConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "redis") {
      absl::StatusOr<testing::RedisValue> flushed = SharedRedis().Command({"FLUSHDB"});
      ASSERT_TRUE(flushed.ok()) << flushed.status();
    }
    absl::StatusOr<std::unique_ptr<StateStore>> store = OpenStateStore(Uri());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
  }

  std::string Uri() const {
    if (GetParam() == "redis") return SharedRedis().uri();
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

INSTANTIATE_TEST_SUITE_P(Backends, StateStoreConformanceTest, ::testing::Values("memory", "rocksdb", "redis"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

TEST_P(StateStoreConformanceTest, BackendLabel) { EXPECT_EQ(store_->Backend(), GetParam()); }

TEST_P(StateStoreConformanceTest, GetMissingKeyIsNotFound) {
  EXPECT_EQ(store_->Get("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StateStoreConformanceTest, PutGetOverwriteDelete) {
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

TEST_P(StateStoreConformanceTest, EmptyValueIsStoredAndDistinctFromMissing) {
  Put("empty", "");
  absl::StatusOr<std::string> value = store_->Get("empty");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "");
  ASSERT_EQ(ScanKeys("", "", 10), std::vector<std::string>{"empty"});
}

TEST_P(StateStoreConformanceTest, BinaryKeysAndValues) {
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

TEST_P(StateStoreConformanceTest, EmptyBatchIsOk) { EXPECT_TRUE(store_->Write(WriteBatch()).ok()); }

TEST_P(StateStoreConformanceTest, BatchAppliesOpsInOrder) {
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
TEST_P(StateStoreConformanceTest, MixedBatchesAreAtomicToReaders) {
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

TEST_P(StateStoreConformanceTest, ScanOrderPrefixStartAfterAndLimit) {
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

TEST_P(StateStoreConformanceTest, ScanPagesThroughEveryKeyOnce) {
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

TEST_P(StateStoreConformanceTest, CountByPrefix) {
  for (int i = 0; i < 1234; ++i) Put(absl::StrCat("m/", 10000 + i), "r");
  for (const char* key : {"m", "m0", "l/x", "s/1"}) Put(key, "other");
  EXPECT_EQ(store_->Count("m/").value(), 1234);
  EXPECT_EQ(store_->Count("s/").value(), 1);
  EXPECT_EQ(store_->Count("q/").value(), 0);
  EXPECT_EQ(store_->Count("").value(), 1238);
  WriteBatch remove;
  remove.Delete("m/10000");
  ASSERT_TRUE(store_->Write(remove).ok());
  EXPECT_EQ(store_->Count("m/").value(), 1233);
}

TEST_P(StateStoreConformanceTest, ScanLimitMustBePositive) {
  EXPECT_EQ(store_->Scan("", "", 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Scan("", "", -1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(StateStoreConformanceTest, FlushSucceeds) {
  Put("k", "v");
  EXPECT_TRUE(store_->Flush().ok());
}


// --- Conditional writes: the compare-and-set a turn's commit is.

TEST_P(StateStoreConformanceTest, RequireAbsentKey) {
  WriteBatch create;
  create.Require("k", std::nullopt);
  create.Put("k", "first");
  create.Put("other", "written with it");
  ASSERT_TRUE(store_->Write(create).ok());
  EXPECT_EQ(store_->Get("k").value(), "first");

  WriteBatch again;
  again.Require("k", std::nullopt);
  again.Put("k", "second");
  again.Delete("other");
  const absl::Status refused = store_->Write(again);
  EXPECT_TRUE(absl::IsAborted(refused)) << refused;
  EXPECT_THAT(std::string(refused.message()), ::testing::HasSubstr("\"k\""));
  // Nothing of the refused batch was applied.
  EXPECT_EQ(store_->Get("k").value(), "first");
  EXPECT_EQ(store_->Get("other").value(), "written with it");
}

TEST_P(StateStoreConformanceTest, RequireExactValue) {
  Put("record", "v1");
  WriteBatch stale;
  stale.Require("record", "v0");
  stale.Put("record", "v2");
  stale.Put("blob", "state 2");
  EXPECT_TRUE(absl::IsAborted(store_->Write(stale)));
  EXPECT_EQ(store_->Get("blob").status().code(), absl::StatusCode::kNotFound);

  WriteBatch current;
  current.Require("record", "v1");
  current.Put("record", "v2");
  current.Put("blob", "state 2");
  ASSERT_TRUE(store_->Write(current).ok());
  EXPECT_EQ(store_->Get("record").value(), "v2");
  // An empty value is a value, not absence; and a present value is not absence.
  Put("empty", "");
  WriteBatch empty_is_not_absent;
  empty_is_not_absent.Require("empty", std::nullopt);
  EXPECT_TRUE(absl::IsAborted(store_->Write(empty_is_not_absent)));
  WriteBatch empty_matches;
  empty_matches.Require("empty", "");
  empty_matches.Delete("empty");
  EXPECT_TRUE(store_->Write(empty_matches).ok());
  WriteBatch gone;
  gone.Require("empty", "");
  EXPECT_TRUE(absl::IsAborted(store_->Write(gone)));
}

TEST_P(StateStoreConformanceTest, ConcurrentCompareAndSetHasOneWinner) {
  Put("record", "v0");
  constexpr int kWriters = 8;
  std::atomic<int> won{0}, aborted{0};
  std::vector<std::thread> writers;
  for (int i = 0; i < kWriters; ++i) {
    writers.emplace_back([&, i] {
      WriteBatch batch;
      batch.Require("record", "v0");
      batch.Put("record", absl::StrCat("v1 by ", i));
      const absl::Status status = store_->Write(batch);
      if (status.ok()) ++won;
      if (absl::IsAborted(status)) ++aborted;
    });
  }
  for (std::thread& writer : writers) writer.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(aborted.load(), kWriters - 1);
}

TEST_P(StateStoreConformanceTest, LargeValuesRoundTripAndSwitchAtomically) {
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + i / 7);
  WriteBatch first;
  first.Require("s/big", std::nullopt);
  first.Put("s/big", big);
  first.Put("m/big", "record 1");
  ASSERT_TRUE(store_->Write(first).ok());
  EXPECT_EQ(store_->Get("s/big").value(), big);
  big[12345] ^= 0x5a;
  WriteBatch refused;
  refused.Require("m/big", "record 0");
  refused.Put("s/big", big);
  EXPECT_TRUE(absl::IsAborted(store_->Write(refused)));
  EXPECT_NE(store_->Get("s/big").value(), big);
  WriteBatch second;
  second.Require("m/big", "record 1");
  second.Put("s/big", big);
  second.Put("m/big", "record 2");
  ASSERT_TRUE(store_->Write(second).ok());
  EXPECT_EQ(store_->Get("s/big").value(), big);
  absl::StatusOr<std::vector<KeyValue>> scanned = store_->Scan("s/", "", 10);
  ASSERT_TRUE(scanned.ok()) << scanned.status();
  ASSERT_EQ(scanned->size(), 1u);
  EXPECT_EQ((*scanned)[0].value, big);
  WriteBatch remove;
  remove.Delete("s/big");
  ASSERT_TRUE(store_->Write(remove).ok());
  EXPECT_EQ(store_->Get("s/big").status().code(), absl::StatusCode::kNotFound);
}

// Readers of a large value being overwritten see one whole value, never a mix or a gap (Redis
// switches a key between blobs; a reader may find the blob it was pointed to gone).
TEST_P(StateStoreConformanceTest, ReadersOfALargeValueBeingOverwrittenSeeWholeValues) {
  constexpr int kSize = 200 << 10;
  Put("s/big", std::string(kSize, 'a'));
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; i < 200; ++i) {
      WriteBatch batch;
      batch.Put("s/big", std::string(kSize, static_cast<char>('a' + i % 26)));
      ASSERT_TRUE(store_->Write(batch).ok());
    }
    stop = true;
  });
  int reads = 0;
  while (!stop || reads < 50) {
    absl::StatusOr<std::string> value = store_->Get("s/big");
    ASSERT_TRUE(value.ok()) << value.status();
    ASSERT_EQ(value->size(), static_cast<size_t>(kSize));
    ASSERT_EQ(value->find_first_not_of((*value)[0]), std::string::npos) << "a torn value";
    ++reads;
  }
  writer.join();
}

TEST_P(StateStoreConformanceTest, KeysWithAFutureExpiryAreKept) {
  WriteBatch batch;
  batch.Put("k", "v", absl::Now() + absl::Hours(1));
  ASSERT_TRUE(store_->Write(batch).ok());
  EXPECT_EQ(store_->Get("k").value(), "v");
  EXPECT_EQ(ScanKeys("", "", 10), std::vector<std::string>{"k"});
}

// --- Leases and fences: one holder at a time, and a writer that lost its lease cannot write.

TEST_P(StateStoreConformanceTest, OneHolderAtATimeWithGrowingFences) {
  absl::StatusOr<int64_t> first = store_->AcquireLease("session/a", "replica-1", absl::Minutes(1));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_GT(*first, 0);
  absl::StatusOr<int64_t> second = store_->AcquireLease("session/a", "replica-2", absl::Minutes(1));
  EXPECT_TRUE(absl::IsAborted(second.status())) << second.status();
  EXPECT_THAT(std::string(second.status().message()), ::testing::HasSubstr("replica-1"));
  // Another name is another lease.
  EXPECT_TRUE(store_->AcquireLease("session/b", "replica-2", absl::Minutes(1)).ok());

  ASSERT_TRUE(store_->ReleaseLease("session/a", *first).ok());
  absl::StatusOr<int64_t> third = store_->AcquireLease("session/a", "replica-2", absl::Minutes(1));
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_GT(*third, *first);
  // A stale release changes nothing.
  ASSERT_TRUE(store_->ReleaseLease("session/a", *first).ok());
  EXPECT_TRUE(absl::IsAborted(
      store_->AcquireLease("session/a", "replica-1", absl::Minutes(1)).status()));
}

TEST_P(StateStoreConformanceTest, AnOwnersOwnLeaseIsGrantedAgainAndFencesTheOldOne) {
  // The owner lost track of its lease (its release never reached the store): asking again must
  // not wait for the expiry, and what it wrote under the old fence is fenced off.
  absl::StatusOr<int64_t> lost = store_->AcquireLease("l", "replica-1", absl::Minutes(1));
  ASSERT_TRUE(lost.ok()) << lost.status();
  absl::StatusOr<int64_t> again = store_->AcquireLease("l", "replica-1", absl::Minutes(1));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_GT(*again, *lost);
  WriteBatch stale;
  stale.RequireFence("l", *lost);
  stale.Put("k", "v");
  EXPECT_TRUE(absl::IsAborted(store_->Write(stale)));
  EXPECT_TRUE(absl::IsAborted(store_->AcquireLease("l", "replica-2", absl::Minutes(1)).status()));
}

TEST_P(StateStoreConformanceTest, RenewOnlyTheCurrentLease) {
  absl::StatusOr<int64_t> fence = store_->AcquireLease("l", "me", absl::Minutes(1));
  ASSERT_TRUE(fence.ok()) << fence.status();
  EXPECT_TRUE(store_->RenewLease("l", *fence, absl::Minutes(1)).ok());
  ASSERT_TRUE(store_->ReleaseLease("l", *fence).ok());
  // A released lease stays released: a late renewal must not take the name again.
  EXPECT_TRUE(absl::IsAborted(store_->RenewLease("l", *fence, absl::Minutes(1))));
  absl::StatusOr<int64_t> next = store_->AcquireLease("l", "you", absl::Minutes(1));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE(absl::IsAborted(store_->RenewLease("l", *fence, absl::Minutes(1))));
  EXPECT_TRUE(store_->RenewLease("l", *next, absl::Minutes(1)).ok());
}

TEST_P(StateStoreConformanceTest, WritesFencedByALeaseFailOnceItIsGrantedAgain) {
  Put("record", "v1");
  absl::StatusOr<int64_t> mine = store_->AcquireLease("l", "paused", absl::Minutes(1));
  ASSERT_TRUE(mine.ok()) << mine.status();
  WriteBatch fenced;
  fenced.RequireFence("l", *mine);
  fenced.Put("record", "v2 by the holder");
  ASSERT_TRUE(store_->Write(fenced).ok());
  // Released and not taken by anyone since: the fence still stands.
  ASSERT_TRUE(store_->ReleaseLease("l", *mine).ok());
  ASSERT_TRUE(store_->Write(fenced).ok());

  absl::StatusOr<int64_t> theirs = store_->AcquireLease("l", "newer", absl::Minutes(1));
  ASSERT_TRUE(theirs.ok()) << theirs.status();
  WriteBatch late;
  late.RequireFence("l", *mine);
  late.Put("record", "v3 by a holder that lost its lease");
  const absl::Status refused = store_->Write(late);
  EXPECT_TRUE(absl::IsAborted(refused)) << refused;
  EXPECT_THAT(std::string(refused.message()), ::testing::HasSubstr("newer"));
  EXPECT_EQ(store_->Get("record").value(), "v2 by the holder");
  WriteBatch current;
  current.RequireFence("l", *theirs);
  current.Put("record", "v3");
  EXPECT_TRUE(store_->Write(current).ok());
  // A fence no one was ever granted fails too.
  WriteBatch invented;
  invented.RequireFence("l", *theirs + 1000);
  invented.Put("record", "forged");
  EXPECT_TRUE(absl::IsAborted(store_->Write(invented)));
}

TEST_P(StateStoreConformanceTest, AnExpiredLeaseCanBeTakenAndFencesOutItsHolder) {
  absl::StatusOr<int64_t> old = store_->AcquireLease("l", "stalled", absl::Milliseconds(200));
  ASSERT_TRUE(old.ok()) << old.status();
  absl::StatusOr<int64_t> taken;
  ASSERT_TRUE(rwkv::testing::WaitFor(rwkv::testing::kWaitLimit, [&] {
    taken = store_->AcquireLease("l", "successor", absl::Minutes(1));
    return taken.ok();
  })) << taken.status();
  EXPECT_GT(*taken, *old);
  EXPECT_TRUE(absl::IsAborted(store_->RenewLease("l", *old, absl::Minutes(1))));
  WriteBatch late;
  late.RequireFence("l", *old);
  late.Put("k", "late");
  EXPECT_TRUE(absl::IsAborted(store_->Write(late)));
  EXPECT_EQ(store_->Get("k").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StateStoreConformanceTest, ConcurrentAcquiresHaveOneWinner) {
  constexpr int kContenders = 8;
  std::atomic<int> won{0}, aborted{0};
  std::vector<std::thread> contenders;
  for (int i = 0; i < kContenders; ++i) {
    contenders.emplace_back([&, i] {
      absl::StatusOr<int64_t> fence =
          store_->AcquireLease("contended", absl::StrCat("replica-", i), absl::Minutes(1));
      if (fence.ok()) ++won;
      if (absl::IsAborted(fence.status())) ++aborted;
    });
  }
  for (std::thread& contender : contenders) contender.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(aborted.load(), kContenders - 1);
}

}  // namespace
}  // namespace rwkv::server
