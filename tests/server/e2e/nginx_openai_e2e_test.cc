// End to end: the shipped balancer of the OpenAI-compatible API (deploy/nginx/rwkv-openai.conf,
// beside rwkv-grpc.conf) in front of two replicas that do not share a store: every request of a
// session names it in `x-session-id`, and each turn after the first succeeds only on the replica
// that holds the session, so each session's turns must all land on one replica; the sessions
// spread over both; a stream passes through with its SSE framing intact.
#include <array>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/http_client.h"
#include "tests/util/nginx_process.h"

namespace rwkv::testing {
namespace {

using Json = nlohmann::json;

constexpr char kShippedConfig[] = RWKV_SOURCE_DIR "/deploy/nginx/rwkv-grpc.conf";
constexpr int kSessions = 8;
constexpr int kTurns = 3;

TEST(NginxOpenAiE2eTest, EverySessionStaysOnItsReplica) {
  std::array<std::unique_ptr<ServerProcess>, 2> replicas;
  for (auto& replica : replicas) {
    auto started = ServerProcess::Start({"--model", TinyModel(), "--state-store", "memory:",
                                         "--http-address", "127.0.0.1:0"});
    ASSERT_TRUE(started.ok()) << started.status();
    replica = std::move(*started);
  }
  auto nginx = NginxProcess::Start(
      kShippedConfig, {replicas[0]->Address(), replicas[1]->Address()}, absl::Seconds(30),
      {absl::StrCat("127.0.0.1:", replicas[0]->http_port()),
       absl::StrCat("127.0.0.1:", replicas[1]->http_port())});
  ASSERT_TRUE(nginx.ok()) << nginx.status();
  const int port = (*nginx)->openai_port();

  for (int s = 0; s < kSessions; ++s) {
    const std::string id = absl::StrCat("routed-http-", s);
    for (int turn = 0; turn < kTurns; ++turn) {
      Json body = {{"prompt", absl::StrCat(" turn ", turn)}, {"max_tokens", 4},
                   {"temperature", 0}, {"create_session", turn == 0}};
      auto result = HttpPost(port, "/v1/completions", body.dump(), {"x-session-id: " + id});
      ASSERT_TRUE(result.ok()) << result.status();
      // A turn on the other replica: 404, its memory store has no such session.
      ASSERT_EQ(result->status, 200) << id << " turn " << turn << ": " << result->body << "\n"
                                     << (*nginx)->Log();
      EXPECT_EQ(Json::parse(result->body)["session"]["version"], turn + 1);
    }
  }
  // Both replicas serve sessions: the hash spreads them.
  for (auto& replica : replicas) {
    EXPECT_TRUE(absl::StrContains(replica->Log(), "session=routed-http-")) << replica->Log();
  }

  // A stream through the balancer: the same events, framed exactly.
  auto stream = HttpPost(port, "/v1/completions",
                         R"({"prompt": "Once", "max_tokens": 8, "temperature": 0,
                             "stream": true})");
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_EQ(stream->status, 200);
  EXPECT_EQ(stream->Header("content-type"), "text/event-stream");
  EXPECT_TRUE(absl::StartsWith(stream->body, "data: {")) << stream->body;
  EXPECT_TRUE(absl::EndsWith(stream->body, "\n\ndata: [DONE]\n\n")) << stream->body;
  (*nginx)->Stop();
  for (auto& replica : replicas) EXPECT_EQ(replica->Terminate(absl::Seconds(30)), 0);
}

}  // namespace
}  // namespace rwkv::testing
