// End to end: the shipped gRPC balancer (deploy/nginx/rwkv-grpc.conf, issue 12) routes every turn
// of a session to one replica. Two rwkv-server processes, each with its own memory store, behind
// a real nginx running the shipped file: a session exists on one replica only, so a continuation
// that landed on the other would fail with NOT_FOUND; and each continuation is a hot-cache hit on
// its session's replica and nothing on the other.
#include <array>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/rwkv_client.h"
#include "gtest/gtest.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/http_get.h"
#include "tests/util/nginx_process.h"

namespace rwkv::testing {
namespace {

constexpr char kShippedConfig[] = RWKV_SOURCE_DIR "/deploy/nginx/rwkv-grpc.conf";
constexpr int kSessions = 16;  // all on one replica of two: a chance of 2 in 65536
constexpr int kTurns = 3;

std::array<double, 2> Hits(const std::array<std::unique_ptr<ServerProcess>, 2>& replicas) {
  return {ScrapedMetric(replicas[0]->metrics_port(), "rwkv_hot_cache_hits_total "),
          ScrapedMetric(replicas[1]->metrics_port(), "rwkv_hot_cache_hits_total ")};
}

TEST(NginxRoutingE2eTest, EveryTurnOfASessionLandsOnItsReplica) {
  std::array<std::unique_ptr<ServerProcess>, 2> replicas;
  for (auto& replica : replicas) {
    auto started = ServerProcess::Start({"--model", TinyModel(), "--state-store", "memory:"});
    ASSERT_TRUE(started.ok()) << started.status();
    replica = std::move(*started);
  }
  auto nginx = NginxProcess::Start(kShippedConfig, {replicas[0]->Address(), replicas[1]->Address()});
  ASSERT_TRUE(nginx.ok()) << nginx.status();
  // The client library sends each call's session as `x-session-id`.
  client::RwkvClient client(
      grpc::CreateChannel((*nginx)->Address(), grpc::InsecureChannelCredentials()));

  std::array<int, 2> sessions_on = {0, 0};
  for (int s = 0; s < kSessions; ++s) {
    const std::string id = absl::StrCat("routed-", s);
    int owner = -1;
    for (int turn = 0; turn < kTurns; ++turn) {
      const std::array<double, 2> before = Hits(replicas);
      rwkv::v1::GenerateRequest request = GreedyRequest(absl::StrCat(" turn ", turn), 4, id);
      request.set_create_session(turn == 0);  // a later turn on the wrong replica: NOT_FOUND
      rwkv::v1::GenerateResponse::Done done;
      const absl::Status status = client.Generate(request, nullptr, &done);
      ASSERT_TRUE(status.ok()) << id << " turn " << turn << ": " << status << "\n"
                               << (*nginx)->Log();
      EXPECT_EQ(done.session().version(), turn + 1) << id;
      if (turn == 0) continue;  // a new session's first turn reads no stored state
      const std::array<double, 2> after = Hits(replicas);
      const std::array<double, 2> grew = {after[0] - before[0], after[1] - before[1]};
      ASSERT_TRUE((grew[0] >= 1) != (grew[1] >= 1))
          << id << " turn " << turn << ": hot-cache hits grew by " << grew[0] << " and "
          << grew[1] << " on the two replicas\n" << (*nginx)->Log();
      const int hot = grew[0] >= 1 ? 0 : 1;
      EXPECT_EQ(grew[1 - hot], 0) << id;
      if (owner == -1) owner = hot;
      EXPECT_EQ(hot, owner) << id << " moved between replicas at turn " << turn;
    }
    ++sessions_on[owner];
  }
  // Both replicas serve sessions: the hash spreads them (not all onto one key's replica).
  EXPECT_GT(sessions_on[0], 0);
  EXPECT_GT(sessions_on[1], 0);
  (*nginx)->Stop();
  for (auto& replica : replicas) EXPECT_EQ(replica->Terminate(absl::Seconds(30)), 0);
}

}  // namespace
}  // namespace rwkv::testing
