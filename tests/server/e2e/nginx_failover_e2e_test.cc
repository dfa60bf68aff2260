// End to end: two rwkv-server replicas on one Redis behind a real nginx running the shipped
// balancer (deploy/nginx/rwkv-grpc.conf). Every turn of a session lands on one replica (its
// hot-cache hits); when that replica is SIGKILLed, its sessions continue on the other one, loaded
// from Redis exactly where they were, and stay there (hot from then on). The client only ever
// talks to nginx, through the client library (which sends `x-session-id`).
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/rwkv_client.h"
#include "gtest/gtest.h"
#include "tests/server/e2e/replicas_fixture.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/http_get.h"
#include "tests/util/nginx_process.h"
#include "tests/util/wait_for.h"

namespace rwkv::testing {
namespace {

constexpr char kShippedConfig[] = RWKV_SOURCE_DIR "/deploy/nginx/rwkv-grpc.conf";
constexpr int kSessions = 8;
constexpr int kTurnTokens = 8;

struct CacheCounts {
  double hits = 0;
  double misses = 0;
};

CacheCounts Counts(const ServerProcess& replica) {
  return {ScrapedMetric(replica.metrics_port(), "rwkv_hot_cache_hits_total "),
          ScrapedMetric(replica.metrics_port(), "rwkv_hot_cache_misses_total ")};
}

struct Session {
  std::string id;
  std::vector<int32_t> history;  // prompts and streamed tokens
  int64_t version = 0;
  int owner = -1;  // the replica its turns landed on before the kill
};

class NginxFailoverE2eTest : public ReplicasFixture {
 protected:
  // One greedy turn through the balancer, retried while nginx has no replica to give it (a
  // refused turn commits nothing); checks it continues the session's history and appends it.
  void Turn(client::RwkvClient& client, Session& session, const std::string& prompt) {
    std::vector<int32_t> tokens;
    rwkv::v1::GenerateResponse::Done done;
    absl::Status status;
    const bool answered = WaitFor(
        kWaitLimit,
        [&] {
          tokens.clear();
          grpc::ClientContext context;
          Bound(context);
          status = client.Generate(
              GreedyRequest(prompt, kTurnTokens, session.id),
              [&](const rwkv::v1::GenerateResponse::Delta& delta) {
                tokens.insert(tokens.end(), delta.token_ids().begin(), delta.token_ids().end());
              },
              &done, &context);
          return !absl::IsUnavailable(status);
        },
        absl::Milliseconds(100));
    ASSERT_TRUE(answered && status.ok()) << session.id << ": " << status;
    session.history = Concat(session.history, Bytes(prompt));
    EXPECT_EQ(tokens, LocalGreedy(TinyModel(), session.history, kTurnTokens)) << session.id;
    EXPECT_EQ(done.session().version(), session.version + 1) << session.id;
    session.history = Concat(session.history, tokens);
    session.version += 1;
  }
};

TEST_F(NginxFailoverE2eTest, AKilledReplicasSessionsContinueOnTheOther) {
  std::array<std::unique_ptr<ServerProcess>, 2> replicas = {StartReplica("replica-a"),
                                                            StartReplica("replica-b")};
  ASSERT_NE(replicas[0], nullptr);
  ASSERT_NE(replicas[1], nullptr);
  auto nginx =
      NginxProcess::Start(kShippedConfig, {replicas[0]->Address(), replicas[1]->Address()});
  if (absl::IsFailedPrecondition(nginx.status())) GTEST_SKIP() << nginx.status().message();
  ASSERT_TRUE(nginx.ok()) << nginx.status();
  client::RwkvClient client(
      grpc::CreateChannel((*nginx)->Address(), grpc::InsecureChannelCredentials()));

  // Two turns per session: the second is a hot-cache hit on the replica the session lives on.
  std::vector<Session> sessions(kSessions);
  for (int s = 0; s < kSessions; ++s) {
    Session& session = sessions[s];
    session.id = absl::StrCat("routed-", s);
    ASSERT_NO_FATAL_FAILURE(Turn(client, session, absl::StrCat("Session ", s, ":")));
    const CacheCounts before[2] = {Counts(*replicas[0]), Counts(*replicas[1])};
    ASSERT_NO_FATAL_FAILURE(Turn(client, session, " and on"));
    const double grew[2] = {Counts(*replicas[0]).hits - before[0].hits,
                            Counts(*replicas[1]).hits - before[1].hits};
    ASSERT_TRUE((grew[0] == 1) != (grew[1] == 1))
        << session.id << ": hits grew by " << grew[0] << " and " << grew[1] << "\n"
        << (*nginx)->Log();
    session.owner = grew[0] == 1 ? 0 : 1;
  }

  // The replica of the first session goes; the other takes every session.
  const int killed = sessions[0].owner;
  ServerProcess& survivor = *replicas[1 - killed];
  replicas[killed]->Kill();
  for (Session& session : sessions) {
    const CacheCounts before = Counts(survivor);
    ASSERT_NO_FATAL_FAILURE(Turn(client, session, " then"));
    const CacheCounts after = Counts(survivor);
    // A moved session is read from Redis; one that was already here stays hot.
    const bool moved = session.owner == killed;
    EXPECT_EQ(after.misses - before.misses, moved ? 1 : 0) << session.id;
    EXPECT_EQ(after.hits - before.hits, moved ? 0 : 1) << session.id;
  }
  // The moved sessions now live on the survivor: hot there.
  for (Session& session : sessions) {
    if (session.owner != killed) continue;
    const CacheCounts before = Counts(survivor);
    ASSERT_NO_FATAL_FAILURE(Turn(client, session, " at last"));
    EXPECT_EQ(Counts(survivor).hits - before.hits, 1) << session.id;
    EXPECT_EQ(session.version, 4);
  }
  (*nginx)->Stop();
  EXPECT_EQ(survivor.Terminate(absl::Seconds(30)), 0) << survivor.Log();
}

}  // namespace
}  // namespace rwkv::testing
