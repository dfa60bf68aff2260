// End to end, Redis killed under load: clients run turns on several sessions through two
// rwkv-server replicas; Redis is SIGKILLed. While it is gone every turn and session RPC returns
// UNAVAILABLE with a clear message (bounded by a deadline: it returns, nothing hangs), stateless
// requests still work and readiness stays on (the store is shared: README, "Many replicas").
// Redis restarts on its AOF (appendfsync always) and both replicas serve again by themselves.
// Every acknowledged turn is still there: each session is at the version its client counted and
// continues greedily from the history its client saw. A turn whose answer was lost is retried
// with the same turn_id, so it is replayed if it was committed and run if not.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/e2e/replicas_fixture.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/http_get.h"
#include "tests/util/wait_for.h"

namespace rwkv::testing {
namespace {

using rwkv::v1::Rwkv;
using ::testing::AnyOf;
using ::testing::HasSubstr;

constexpr int kClients = 4;
constexpr int kReplicas = 2;
constexpr int kTurnTokens = 16;
constexpr char kStoreHealthy[] = "rwkv_store_healthy{backend=\"redis\"}";

enum Phase { kBefore = 0, kOutage = 1, kAfter = 2, kPhases = 3 };

// What the clients saw, by phase (when the answer arrived) and replica.
class Tally {
 public:
  void Record(Phase phase, int replica, const grpc::Status& status) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (status.ok()) {
      ++ok_[phase][replica];
    } else if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      ++unavailable_[phase][replica];
      if (phase == kOutage) outage_messages_.push_back(status.error_message());
    }
  }
  int ok(Phase phase, int replica) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return ok_[phase][replica];
  }
  int unavailable(Phase phase, int replica) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return unavailable_[phase][replica];
  }
  std::vector<std::string> outage_messages() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return outage_messages_;
  }

 private:
  mutable absl::Mutex mu_;
  int ok_[kPhases][kReplicas] ABSL_GUARDED_BY(mu_) = {};
  int unavailable_[kPhases][kReplicas] ABSL_GUARDED_BY(mu_) = {};
  std::vector<std::string> outage_messages_ ABSL_GUARDED_BY(mu_);
};

// One client's session, as the client saw it. Written by its thread only, read after the join
// (and `acked` while it runs).
struct Client {
  std::string id;
  std::vector<int32_t> history;   // every prompt and every acknowledged turn's tokens
  std::atomic<int> acked{0};      // turns acknowledged: status OK after the Done
  std::string failure;            // an answer neither UNAVAILABLE nor the held lease, or a hang
  std::atomic<bool> done{false};  // set after `failure`, when the client gave up
};

class RedisOutageE2eTest : public ReplicasFixture {
 protected:
  void SetUp() override {
    ReplicasFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    for (const char* name : {"replica-a", "replica-b"}) {
      replicas_.push_back(StartReplica(name));
      ASSERT_NE(replicas_.back(), nullptr);
      stubs_.push_back(Rwkv::NewStub(replicas_.back()->Channel()));
    }
  }

  // Runs turns on `client`'s session until `stop_`, alternating replicas, each turn retried
  // (same turn_id, same expected_version) until it is acknowledged.
  void RunClient(Client& client) {
    for (int turn = 1; !stop_.load(); ++turn) {
      const std::string prompt = absl::StrCat(turn == 1 ? client.id : "", " turn ", turn);
      rwkv::v1::GenerateRequest request = GreedyRequest(prompt, kTurnTokens, client.id);
      request.set_turn_id(absl::StrCat(client.id, "-", turn));
      request.set_expected_version(turn - 1);
      StreamResult result;
      int attempt = 0;
      const bool acked = WaitFor(
          kWaitLimit,
          [&] {
            const int replica = (turn + attempt++) % kReplicas;
            result = Generate(*stubs_[replica], request);
            tally_.Record(phase_.load(), replica, result.status);
            return result.status.ok() || !Transient(result.status);
          },
          absl::Milliseconds(50));
      if (!acked || !result.status.ok() || !result.has_done) {
        client.failure =
            absl::StrCat("turn ", turn, " (attempt ", attempt,
                         "): ", acked ? result.status.error_message() : "never acknowledged");
        client.done.store(true);
        return;
      }
      if (result.done.session().version() != turn) {
        client.failure =
            absl::StrCat("turn ", turn, " committed version ", result.done.session().version());
        client.done.store(true);
        return;
      }
      client.history = Concat(Concat(client.history, Bytes(prompt)), result.tokens);
      client.acked.fetch_add(1);
    }
  }

  // What a client retries: the outage, and after it the lease of a turn whose release was lost
  // with Redis (held until it expires).
  static bool Transient(const grpc::Status& status) {
    return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
           (status.error_code() == grpc::StatusCode::ABORTED &&
            absl::StrContains(status.error_message(), "in flight elsewhere"));
  }

  // The clients' failures so far, for messages (each client writes its own before it returns).
  static std::string Failures(const std::vector<std::unique_ptr<Client>>& clients) {
    std::string failures;
    for (const auto& client : clients) {
      if (client->done.load()) absl::StrAppend(&failures, client->id, ": ", client->failure, "\n");
    }
    return failures;
  }

  bool EveryClientAckedAtLeast(const std::vector<std::unique_ptr<Client>>& clients, int n) {
    for (const auto& client : clients) {
      if (client->acked.load() < n) return false;
    }
    return true;
  }

  std::vector<std::unique_ptr<ServerProcess>> replicas_;
  std::vector<std::unique_ptr<Rwkv::Stub>> stubs_;
  std::atomic<Phase> phase_{kBefore};
  std::atomic<bool> stop_{false};
  Tally tally_;
};

TEST_F(RedisOutageE2eTest, TurnsFailFastWhileRedisIsDownAndNothingAcknowledgedIsLost) {
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<Client>());
    clients.back()->id = absl::StrCat("load-", i);
  }
  for (auto& client : clients) threads.emplace_back([&, c = client.get()] { RunClient(*c); });
  auto stop_clients = [&] {
    stop_.store(true);
    for (std::thread& thread : threads) thread.join();
    threads.clear();
  };
  absl::Cleanup join_on_failure = stop_clients;
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] { return EveryClientAckedAtLeast(clients, 3); }))
      << Failures(clients);

  // From here on an answer may come from the outage (an ack may still be from before it).
  phase_.store(kOutage);
  redis().Kill();
  std::vector<int> acked_before_kill;
  for (const auto& client : clients) acked_before_kill.push_back(client->acked.load());
  // Both replicas see it, and say so; the clients' turns all return, refused.
  for (int r = 0; r < kReplicas; ++r) {
    const int port = replicas_[r]->metrics_port();
    EXPECT_TRUE(WaitFor(kWaitLimit, [&] { return ScrapedMetric(port, kStoreHealthy) == 0; }))
        << replicas_[r]->Log();
    EXPECT_TRUE(WaitFor(kWaitLimit, [&] { return tally_.unavailable(kOutage, r) >= 3; }))
        << "replica " << r << " never refused a turn";
    // Readiness stays on: every replica fails alike, and what needs no store still works.
    absl::StatusOr<HttpResponse> ready = HttpGet(port, "/readyz");
    ASSERT_TRUE(ready.ok()) << ready.status();
    EXPECT_EQ(ready->status, 200);
    const StreamResult stateless = Generate(*stubs_[r], GreedyRequest("Hi", 4));
    EXPECT_TRUE(stateless.status.ok()) << stateless.status.error_message();
    rwkv::v1::Session session;
    const grpc::Status get = GetSession(*stubs_[r], "load-0", &session);
    EXPECT_EQ(get.error_code(), grpc::StatusCode::UNAVAILABLE) << get.error_message();
    EXPECT_THAT(get.error_message(), HasSubstr("redis"));
  }
  for (const std::string& message : tally_.outage_messages()) {
    EXPECT_THAT(message, AnyOf(HasSubstr("the state store is failing: redis"),
                               HasSubstr("redis state store")));
  }

  ASSERT_TRUE(redis().Restart().ok()) << redis().Log();
  phase_.store(kAfter);
  // Every turn acknowledged before the kill was in the AOF.
  for (int i = 0; i < kClients; ++i) {
    rwkv::v1::Session session;
    grpc::Status read;
    ASSERT_TRUE(WaitFor(kWaitLimit, [&] {
      read = GetSession(*stubs_[i % kReplicas], clients[i]->id, &session);
      return read.error_code() != grpc::StatusCode::UNAVAILABLE;
    })) << read.error_message();
    ASSERT_TRUE(read.ok()) << clients[i]->id << " after the restart: " << read.error_message();
    EXPECT_GE(session.version(), acked_before_kill[i]) << clients[i]->id;
  }
  // Both replicas serve again without a restart.
  for (int r = 0; r < kReplicas; ++r) {
    EXPECT_TRUE(WaitFor(kWaitLimit, [&] { return tally_.ok(kAfter, r) >= 2 * kClients; }))
        << "replica " << r << " never served again:\n"
        << Failures(clients) << replicas_[r]->Log();
    EXPECT_TRUE(WaitFor(kWaitLimit, [&] {
      return ScrapedMetric(replicas_[r]->metrics_port(), kStoreHealthy) == 1;
    }));
  }
  stop_clients();

  // Each session holds exactly the turns its client had acknowledged, and continues from them.
  for (int i = 0; i < kClients; ++i) {
    const Client& client = *clients[i];
    EXPECT_EQ(client.failure, "") << client.id;
    rwkv::v1::Session session;
    ASSERT_TRUE(GetSession(*stubs_[i % kReplicas], client.id, &session).ok());
    EXPECT_EQ(session.version(), client.acked.load()) << client.id;
    const std::vector<int32_t> history = Concat(client.history, Bytes(" the end"));
    const StreamResult next =
        Generate(*stubs_[(i + 1) % kReplicas], GreedyRequest(" the end", kTurnTokens, client.id));
    ASSERT_TRUE(next.status.ok()) << next.status.error_message();
    EXPECT_EQ(next.tokens, LocalGreedy(TinyModel(), history, kTurnTokens)) << client.id;
    EXPECT_EQ(next.done.session().version(), client.acked.load() + 1);
  }
  for (const auto& replica : replicas_) {
    EXPECT_THAT(replica->Log(), HasSubstr("state store healthy again"));
    EXPECT_EQ(replica->Terminate(absl::Seconds(60)), 0) << replica->Log();
  }
}

}  // namespace
}  // namespace rwkv::testing
