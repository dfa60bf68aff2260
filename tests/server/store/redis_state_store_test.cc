// What the Redis backend does beyond the shared contract (state_store_conformance_test.cc): blob
// keys for large values, expiry, an index instead of a keyspace walk, surviving a Redis crash, and
// leases shared by two store objects (two replicas).
#include "server/store/redis_state_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/store/redis_uri.h"
#include "tests/util/redis_server.h"
#include "tests/util/wait_for.h"

namespace rwkv::server {
namespace {

using ::rwkv::testing::RedisServer;
using ::rwkv::testing::RedisValue;
using ::rwkv::testing::WaitFor;
using ::testing::HasSubstr;

constexpr int64_t kThreshold = 1000;  // values longer than this go to blob keys

class RedisStateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = *std::move(redis);
    store_ = NewStore();
  }

  std::unique_ptr<RedisStateStore> NewStore() {
    RedisStateStore::Options options;
    options.uri = ParseRedisUri(redis_->uri()).value();
    options.blob_threshold = kThreshold;
    return RedisStateStore::Create(options).value();
  }

  RedisValue Raw(const std::vector<std::string>& command) {
    absl::StatusOr<RedisValue> value = redis_->Command(command);
    EXPECT_TRUE(value.ok()) << value.status();
    return value.ok() ? *value : RedisValue();
  }
  // Names of the keys matching `pattern` (KEYS: fine in a test, never in the store).
  std::vector<std::string> RawKeys(const std::string& pattern) {
    std::vector<std::string> keys;
    for (const RedisValue& key : Raw({"KEYS", pattern}).elements) keys.push_back(key.text);
    return keys;
  }

  void Put(absl::string_view key, std::string value,
           absl::Time expires_at = absl::InfiniteFuture()) {
    WriteBatch batch;
    batch.Put(key, std::move(value), expires_at);
    const absl::Status status = store_->Write(batch);
    ASSERT_TRUE(status.ok()) << status;
  }

  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<RedisStateStore> store_;
};

TEST_F(RedisStateStoreTest, KeyLayoutIsDataKeysAnIndexAndNothingElseForSmallValues) {
  Put("s/a", "small");
  EXPECT_EQ(Raw({"GET", "rwkv:d:s/a"}).text, "vsmall");
  EXPECT_EQ(Raw({"ZRANGEBYLEX", "rwkv:index", "-", "+"}).elements.size(), 1u);
  EXPECT_EQ(Raw({"DBSIZE"}).integer, 2);
  // A value that looks like a tagged pointer is still just a value.
  Put("s/p", "prwkv:b:0000000000000000");
  EXPECT_EQ(store_->Get("s/p").value(), "prwkv:b:0000000000000000");
}

TEST_F(RedisStateStoreTest, LargeValuesLiveInOneBlobKeyThatOverwritesAndDeletesRemove) {
  const std::string big(5 * kThreshold, 'x');
  Put("s/a", big);
  std::vector<std::string> blobs = RawKeys("rwkv:b:*");
  ASSERT_EQ(blobs.size(), 1u);
  EXPECT_EQ(Raw({"GET", "rwkv:d:s/a"}).text, absl::StrCat("p", blobs[0]));
  EXPECT_EQ(Raw({"PTTL", blobs[0]}).integer, -1) << "the committed blob kept its safety expiry";
  EXPECT_EQ(store_->Get("s/a").value(), big);

  Put("s/a", big + "y");  // overwritten by another blob: the first one is gone
  std::vector<std::string> after = RawKeys("rwkv:b:*");
  ASSERT_EQ(after.size(), 1u);
  EXPECT_NE(after[0], blobs[0]);
  EXPECT_EQ(store_->Get("s/a").value(), big + "y");

  Put("s/a", "small now");  // overwritten inline: no blob left
  EXPECT_TRUE(RawKeys("rwkv:b:*").empty());
  Put("s/a", big);
  WriteBatch remove;
  remove.Delete("s/a");
  ASSERT_TRUE(store_->Write(remove).ok());
  EXPECT_EQ(Raw({"DBSIZE"}).integer, 0) << "a delete left a blob or an index entry behind";
}

TEST_F(RedisStateStoreTest, ARefusedWriteLeavesNoBlobBehind) {
  Put("m/a", "record 1");
  WriteBatch stale;
  stale.Require("m/a", "record 0");
  stale.Put("s/a", std::string(3 * kThreshold, 's'));
  stale.Put("s/b", std::string(2 * kThreshold, 't'));
  stale.Put("m/a", "record 2");
  const absl::Status status = store_->Write(stale);
  EXPECT_TRUE(absl::IsAborted(status)) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("\"m/a\""));
  EXPECT_TRUE(RawKeys("rwkv:b:*").empty());
  EXPECT_EQ(Raw({"DBSIZE"}).integer, 2);  // m/a and the index
}

TEST_F(RedisStateStoreTest, APointerToAMissingBlobIsDataLoss) {
  Put("s/a", std::string(2 * kThreshold, 'z'));
  std::vector<std::string> blobs = RawKeys("rwkv:b:*");
  ASSERT_EQ(blobs.size(), 1u);
  Raw({"DEL", blobs[0]});
  const absl::Status get = store_->Get("s/a").status();
  EXPECT_EQ(get.code(), absl::StatusCode::kDataLoss) << get;
  EXPECT_THAT(std::string(get.message()), HasSubstr(blobs[0]));
  EXPECT_EQ(store_->Scan("s/", "", 10).status().code(), absl::StatusCode::kDataLoss);
  // Overwriting the damaged key repairs it.
  Put("s/a", "fresh");
  EXPECT_EQ(store_->Get("s/a").value(), "fresh");
}

TEST_F(RedisStateStoreTest, ExpiryIsRedisExpiryOfTheKeyAndItsBlob) {
  Put("s/later", std::string(2 * kThreshold, 'b'), absl::Now() + absl::Hours(1));
  const int64_t pttl = Raw({"PTTL", "rwkv:d:s/later"}).integer;
  EXPECT_GT(pttl, 0);
  EXPECT_LE(pttl, 3600 * 1000);
  std::vector<std::string> blobs = RawKeys("rwkv:b:*");
  ASSERT_EQ(blobs.size(), 1u);
  EXPECT_GT(Raw({"PTTL", blobs[0]}).integer, 0);
  // Rewritten without expiry: kept forever again.
  Put("s/later", "forever");
  EXPECT_EQ(Raw({"PTTL", "rwkv:d:s/later"}).integer, -1);

  Put("s/soon", "v", absl::Now() + absl::Milliseconds(200));
  EXPECT_TRUE(WaitFor(rwkv::testing::kWaitLimit,
                      [&] { return absl::IsNotFound(store_->Get("s/soon").status()); }));
  absl::StatusOr<std::vector<KeyValue>> scanned = store_->Scan("s/", "", 10);
  ASSERT_TRUE(scanned.ok()) << scanned.status();
  ASSERT_EQ(scanned->size(), 1u);
  EXPECT_EQ((*scanned)[0].key, "s/later");
  // The scan dropped the expired key's index entry.
  EXPECT_EQ(Raw({"ZCARD", "rwkv:index"}).integer, 1);
}

TEST_F(RedisStateStoreTest, PagesStayFullWhenExpiredKeysAreSkipped) {
  for (int i = 0; i < 20; ++i) {
    Put(absl::StrCat("k/", 100 + i), "v",
        i % 2 == 0 ? absl::Now() + absl::Milliseconds(100) : absl::InfiniteFuture());
  }
  ASSERT_TRUE(WaitFor(rwkv::testing::kWaitLimit,
                      [&] { return absl::IsNotFound(store_->Get("k/118").status()); }));
  absl::StatusOr<std::vector<KeyValue>> page = store_->Scan("k/", "", 5);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->size(), 5u) << "a short page would tell the caller it reached the end";
  EXPECT_EQ((*page)[0].key, "k/101");
  EXPECT_EQ((*page)[4].key, "k/109");
}

TEST_F(RedisStateStoreTest, ScanReadsTheIndexNeverTheKeyspace) {
  for (int i = 0; i < 30; ++i) Put(absl::StrCat("s/", 1000 + i), "v");
  Raw({"CONFIG", "RESETSTAT"});
  std::string cursor;
  int seen = 0;
  for (;;) {
    absl::StatusOr<std::vector<KeyValue>> page = store_->Scan("s/", cursor, 7);
    ASSERT_TRUE(page.ok()) << page.status();
    seen += static_cast<int>(page->size());
    if (page->size() < 7) break;
    cursor = page->back().key;
  }
  EXPECT_EQ(seen, 30);
  const std::string stats = Raw({"INFO", "commandstats"}).text;
  EXPECT_THAT(stats, HasSubstr("cmdstat_zrangebylex"));
  EXPECT_THAT(stats, ::testing::Not(HasSubstr("cmdstat_keys:")));
  EXPECT_THAT(stats, ::testing::Not(HasSubstr("cmdstat_scan:")));
}

TEST_F(RedisStateStoreTest, AcknowledgedWritesSurviveASigkillAndTheSameStoreRecovers) {
  // Several pooled connections, all of which die with the server.
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        WriteBatch batch;
        batch.Put(absl::StrCat("s/", t, "/", i), std::string(i % 2 ? 3 * kThreshold : 10, 'a' + t));
        EXPECT_TRUE(store_->Write(batch).ok());
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  redis_->Kill();
  absl::Status down = store_->Get("s/0/0").status();
  EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable) << down;
  ASSERT_TRUE(redis_->Restart().ok());
  // No command went into a dead pooled connection: the very first call works.
  absl::StatusOr<std::string> value = store_->Get("s/3/19");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, std::string(3 * kThreshold, 'd'));
  absl::StatusOr<std::vector<KeyValue>> all = store_->Scan("s/", "", 1000);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), 80u);
  Put("s/after", "restart");
  EXPECT_EQ(store_->Get("s/after").value(), "restart");
}

TEST_F(RedisStateStoreTest, ScriptsAreLoadedAgainWhenRedisForgotThem) {
  Put("k", "before");
  Raw({"SCRIPT", "FLUSH"});  // the pooled connection's digests now answer NOSCRIPT
  EXPECT_EQ(store_->Get("k").value(), "before");
  Put("k", "after");
  EXPECT_EQ(store_->Get("k").value(), "after");
}

TEST_F(RedisStateStoreTest, LeasesAreSharedByTwoReplicas) {
  std::unique_ptr<RedisStateStore> other = NewStore();  // another replica on the same Redis
  absl::StatusOr<int64_t> first =
      store_->AcquireLease("session/x", "replica-a", absl::Milliseconds(300));
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<int64_t> refused = other->AcquireLease("session/x", "replica-b", absl::Minutes(1));
  EXPECT_TRUE(absl::IsAborted(refused.status())) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("replica-a"));
  const RedisValue lease = Raw({"HGETALL", "rwkv:l:session/x"});
  EXPECT_EQ(lease.elements.size(), 6u);  // fence, owner, until_ms
  EXPECT_GT(Raw({"PTTL", "rwkv:l:session/x"}).integer, 24 * 3600 * 1000)
      << "the fence must outlive any turn";

  // Replica a stalls past its lease; b takes over with a greater fence.
  absl::StatusOr<int64_t> second;
  ASSERT_TRUE(WaitFor(rwkv::testing::kWaitLimit, [&] {
    second = other->AcquireLease("session/x", "replica-b", absl::Minutes(1));
    return second.ok();
  })) << second.status();
  EXPECT_GT(*second, *first);
  WriteBatch late;
  late.RequireFence("session/x", *first);
  late.Put("m/x", "from the stalled replica");
  const absl::Status status = store_->Write(late);
  EXPECT_TRUE(absl::IsAborted(status)) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("replica-b"));
  EXPECT_TRUE(absl::IsAborted(store_->RenewLease("session/x", *first, absl::Minutes(1))));
  WriteBatch current;
  current.RequireFence("session/x", *second);
  current.Put("m/x", "from b");
  ASSERT_TRUE(other->Write(current).ok());
  EXPECT_EQ(store_->Get("m/x").value(), "from b");
}

}  // namespace
}  // namespace rwkv::server
