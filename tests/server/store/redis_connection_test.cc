// The Redis backend's plumbing: URIs, passwords, an unreachable or paused Redis, the pool.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/store/redis_connection_pool.h"
#include "server/store/redis_state_store.h"
#include "server/store/redis_uri.h"
#include "server/store/state_store.h"
#include "tests/util/http_get.h"
#include "tests/util/redis_server.h"

namespace rwkv::server {
namespace {

using ::rwkv::testing::RedisServer;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(RedisUriTest, AcceptsHostPortUserDbAndIpv6) {
  absl::StatusOr<RedisUri> plain = ParseRedisUri("redis://127.0.0.1:6379");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->host, "127.0.0.1");
  EXPECT_EQ(plain->port, 6379);
  EXPECT_EQ(plain->db, 0);
  EXPECT_EQ(plain->user, "");
  EXPECT_EQ(plain->Address(), "127.0.0.1:6379");

  absl::StatusOr<RedisUri> full = ParseRedisUri("redis://rwkv@redis.internal:7000/3");
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->user, "rwkv");
  EXPECT_EQ(full->host, "redis.internal");
  EXPECT_EQ(full->port, 7000);
  EXPECT_EQ(full->db, 3);

  absl::StatusOr<RedisUri> v6 = ParseRedisUri("redis://[::1]:6380/2");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 6380);
  EXPECT_EQ(v6->db, 2);
  EXPECT_EQ(v6->Address(), "[::1]:6380");
}

TEST(RedisUriTest, RejectsMalformedUrisNamingTheProblem) {
  const std::pair<const char*, const char*> cases[] = {
      {"redis://127.0.0.1", "no :PORT"},
      {"redis://127.0.0.1:", "port"},
      {"redis://127.0.0.1:0", "port"},
      {"redis://127.0.0.1:65536", "port"},
      {"redis://127.0.0.1:63x9", "port"},
      {"redis://:6379", "host is empty"},
      {"redis://ho st:6379", "host"},
      {"redis://127.0.0.1:6379/x", "database"},
      {"redis://127.0.0.1:6379/", "database"},
      {"redis://127.0.0.1:6379/1/2", "database"},
      {"redis://[::1:6379", "']'"},
      {"redis://[::1]6379", "PORT"},
      {"redis://@127.0.0.1:6379", "user"},
  };
  for (const auto& [uri, problem] : cases) {
    absl::StatusOr<RedisUri> parsed = ParseRedisUri(uri);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << uri;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(problem)) << uri;
    EXPECT_EQ(OpenStateStore(uri).status().code(), absl::StatusCode::kInvalidArgument) << uri;
  }
}

TEST(RedisUriTest, APasswordInTheUriIsRefusedWithoutEchoingIt) {
  for (const char* uri : {"redis://rwkv:hunter2@127.0.0.1:6379", "redis://:hunter2@10.0.0.1:1/0",
                          "redis://u:hun/ter2@h:1"}) {
    absl::StatusOr<std::unique_ptr<StateStore>> store = OpenStateStore(uri);
    EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument) << uri;
    EXPECT_THAT(
        std::string(store.status().message()),
        AllOf(HasSubstr("--state-store-password-file"), HasSubstr("RWKV_STATE_STORE_PASSWORD"),
              Not(HasSubstr("hunter2")), Not(HasSubstr("hun"))))
        << uri;
  }
}

TEST(RedisUriTest, UnknownSchemesListRedis) {
  absl::StatusOr<std::unique_ptr<StateStore>> store = OpenStateStore("rediss://h:1");
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("redis://[USER@]HOST:PORT[/DB]"));
  store = OpenStateStore("mysql://u:secret@h:1");
  EXPECT_THAT(std::string(store.status().message()), Not(HasSubstr("secret")));
}

TEST(RedisStateStoreOpenTest, IsASharedBackendNamedRedis) {
  absl::StatusOr<std::unique_ptr<StateStore>> store = OpenStateStore("redis://127.0.0.1:1");
  ASSERT_TRUE(store.ok()) << store.status();  // connects lazily
  EXPECT_EQ((*store)->Backend(), "redis");
  EXPECT_TRUE((*store)->Shared());
  EXPECT_TRUE((*store)->Flush().ok());
}

TEST(RedisStateStoreOpenTest, UnreachableRedisIsUnavailableNamingTheAddress) {
  const int port = rwkv::testing::PickFreePort();  // nobody listens there
  StoreOptions options;
  options.connect_timeout = absl::Minutes(5);  // refused at once, not timed out
  absl::StatusOr<std::unique_ptr<StateStore>> store =
      OpenStateStore(absl::StrCat("redis://127.0.0.1:", port), options);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::Status status = (*store)->Get("k").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(
      std::string(status.message()),
      AllOf(HasSubstr("redis"), HasSubstr(absl::StrCat("127.0.0.1:", port)), HasSubstr("refused")));
  WriteBatch batch;
  batch.Put("k", "v");
  EXPECT_EQ((*store)->Write(batch).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ((*store)->AcquireLease("l", "me", absl::Seconds(1)).status().code(),
            absl::StatusCode::kUnavailable);
  // ProbeStateStore (readiness) reports it too.
  EXPECT_EQ(ProbeStateStore(**store).code(), absl::StatusCode::kUnavailable);
}

TEST(RedisStateStoreOpenTest, PasswordRefusedOrMissingIsUnavailableAndNeverPrinted) {
  RedisServer::Options redis_options;
  redis_options.password = "correct-horse";
  absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start(redis_options);
  ASSERT_TRUE(redis.ok()) << redis.status();

  StoreOptions wrong;
  wrong.password = "battery-staple";
  absl::Status refused = OpenStateStore((*redis)->uri(), wrong).value()->Get("k").status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  EXPECT_THAT(std::string(refused.message()),
              AllOf(HasSubstr("password"), HasSubstr("refused"), Not(HasSubstr("battery")),
                    Not(HasSubstr("correct-horse"))));

  absl::Status missing = OpenStateStore((*redis)->uri()).value()->Get("k").status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kUnavailable) << missing;
  EXPECT_THAT(std::string(missing.message()),
              AllOf(HasSubstr("needs a password"), HasSubstr("--state-store-password-file")));

  StoreOptions right;
  right.password = "correct-horse";
  EXPECT_EQ(OpenStateStore((*redis)->uri(), right).value()->Get("k").status().code(),
            absl::StatusCode::kNotFound);
  // With a user (Redis 6+ ACL: the default user has the requirepass password).
  EXPECT_EQ(OpenStateStore(absl::StrCat("redis://default@127.0.0.1:", (*redis)->port()), right)
                .value()
                ->Get("k")
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST(RedisStateStoreOpenTest, DatabaseNumberSelectsTheDatabase) {
  absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  std::unique_ptr<StateStore> db0 = OpenStateStore((*redis)->uri()).value();
  std::unique_ptr<StateStore> db5 = OpenStateStore((*redis)->uri(5)).value();
  WriteBatch batch;
  batch.Put("k", "in db 5");
  ASSERT_TRUE(db5->Write(batch).ok());
  EXPECT_EQ(db5->Get("k").value(), "in db 5");
  EXPECT_EQ(db0->Get("k").status().code(), absl::StatusCode::kNotFound);
  absl::Status bad = OpenStateStore((*redis)->uri(999)).value()->Get("k").status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInternal) << bad;
  EXPECT_THAT(std::string(bad.message()), HasSubstr("SELECT 999"));
}

TEST(RedisStateStoreOpenTest, APausedRedisTimesOutThenServesAgain) {
  absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  StoreOptions options;
  options.command_timeout = absl::Milliseconds(300);
  std::unique_ptr<StateStore> store = OpenStateStore((*redis)->uri(), options).value();
  WriteBatch batch;
  batch.Put("k", "v");
  ASSERT_TRUE(store->Write(batch).ok());
  (*redis)->Pause();
  absl::Status status = store->Get("k").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("timed out"));
  (*redis)->Resume();
  // The connection that timed out was discarded (its late reply would answer the wrong call).
  EXPECT_EQ(store->Get("k").value(), "v");
}

TEST(RedisConnectionPoolTest, ACallerWaitsAtMostTheCommandTimeoutForABusyPool) {
  absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  RedisConnectionOptions options;
  options.uri = ParseRedisUri((*redis)->uri()).value();
  options.command_timeout = absl::Milliseconds(200);
  RedisConnectionPool pool(options, 1);
  absl::StatusOr<RedisConnectionPool::Handle> held = pool.Acquire("first");
  ASSERT_TRUE(held.ok()) << held.status();
  absl::StatusOr<RedisConnectionPool::Handle> second = pool.Acquire("second");
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("all 1 connections busy"));
  EXPECT_EQ(pool.open(), 1);
}

TEST(RedisConnectionPoolTest, ConnectionsAreReusedAndMadeLazily) {
  absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  RedisConnectionOptions options;
  options.uri = ParseRedisUri((*redis)->uri()).value();
  RedisConnectionPool pool(options, 4);
  EXPECT_EQ(pool.open(), 0);
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<RedisConnectionPool::Handle> handle = pool.Acquire("ping");
    ASSERT_TRUE(handle.ok()) << handle.status();
    EXPECT_TRUE((*handle)->Command({"PING"}, "PING").ok());
  }
  EXPECT_EQ(pool.open(), 1);
}

}  // namespace
}  // namespace rwkv::server
