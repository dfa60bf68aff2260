// End to end: memory is bounded in bytes (issue 11). With a small --max-inflight-state-bytes, the
// turns that hold it make the next Generate fail at once with RESOURCE_EXHAUSTED naming the flag,
// before its session is touched; once they end, a new turn is served. A budget that cannot hold
// one turn is refused at start-up.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/engine.h"
#include "gtest/gtest.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/http_get.h"
#include "tests/util/wait_for.h"

namespace rwkv::testing {
namespace {

using rwkv::v1::GenerateResponse;
using rwkv::v1::Rwkv;

constexpr int kHeldTurns = 2;
constexpr int kLongGeneration = 1'000'000;

// The tiny model's state size, from the engine in this process.
int64_t TinyStateBytes() {
  auto engine = engine::Engine::Create({TinyModel(), 1});
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? (*engine)->config().StateBytes() : 0;
}

TEST(BudgetE2eTest, PastTheBudgetGenerateIsRefusedUntilTurnsFinish) {
  const int64_t state_bytes = TinyStateBytes();
  ASSERT_GT(state_bytes, 0);
  // Two turns (a state, about 12 KiB of sampler buffers and a few prompt tokens each) fit, a
  // third does not. A short --max-prompt-tokens, so that a turn with the longest prompt fits.
  const int64_t budget = kHeldTurns * state_bytes + 64 * 1024;
  auto started = ServerProcess::Start(
      {"--model", TinyModel(), "--state-store", "memory:", "--max-inflight-state-bytes",
       absl::StrCat(budget), "--max-prompt-tokens", "1024", "--max-new-tokens",
       absl::StrCat(kLongGeneration)});
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<ServerProcess> server = *std::move(started);
  const int metrics = server->metrics_port();
  EXPECT_EQ(ScrapedMetric(metrics, "rwkv_inflight_state_bytes_limit "), budget);

  // Turns that hold their states: streams nobody reads.
  auto stalled_stub = Rwkv::NewStub(FreshChannel(server->Address(), /*small_window=*/true));
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<GenerateResponse>>> readers;
  for (int i = 0; i < kHeldTurns; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    Bound(*contexts.back());
    readers.push_back(stalled_stub->Generate(contexts.back().get(),
                                             GreedyRequest("stall", kLongGeneration)));
  }
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] {
    return ScrapedMetric(metrics, "rwkv_running_sequences ") == kHeldTurns;
  })) << "the held turns never ran";
  EXPECT_GT(ScrapedMetric(metrics, "rwkv_inflight_state_bytes "), kHeldTurns * state_bytes);

  // The next turn is refused at once, naming the flag, and its session was never touched.
  auto stub = Rwkv::NewStub(server->Channel());
  const StreamResult refused = Generate(*stub, GreedyRequest("Hello", 4, "late"));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << refused.status.error_message();
  EXPECT_TRUE(absl::StrContains(refused.status.error_message(),
                                absl::StrCat("--max-inflight-state-bytes=", budget)))
      << refused.status.error_message();
  EXPECT_EQ(refused.messages, 0);
  {
    grpc::ClientContext context;
    Bound(context);
    rwkv::v1::GetSessionRequest get;
    get.set_session_id("late");
    rwkv::v1::Session session;
    EXPECT_EQ(stub->GetSession(&context, get, &session).error_code(), grpc::StatusCode::NOT_FOUND);
  }

  // The held turns end; their bytes come back and a new turn is served.
  for (int i = 0; i < kHeldTurns; ++i) {
    contexts[i]->TryCancel();
    GenerateResponse response;
    while (readers[i]->Read(&response)) {
    }
    EXPECT_EQ(readers[i]->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] {
    return ScrapedMetric(metrics, "rwkv_inflight_state_bytes ") == 0;
  })) << "the held turns never gave their bytes back";
  const StreamResult served = Generate(*stub, GreedyRequest("Hello", 4, "late"));
  ASSERT_TRUE(served.status.ok()) << served.status.error_message();
  EXPECT_EQ(served.tokens.size(), 4u);
  EXPECT_EQ(served.done.session().version(), 1);
  EXPECT_EQ(server->Terminate(absl::Seconds(60)), 0);
}

TEST(BudgetE2eTest, ABudgetThatCannotHoldOneTurnIsRefusedAtStartUp) {
  auto server = ServerProcess::Start(
      {"--model", TinyModel(), "--state-store", "memory:", "--max-inflight-state-bytes", "1000"});
  ASSERT_FALSE(server.ok());
  EXPECT_TRUE(absl::StrContains(server.status().message(),
                                "--max-inflight-state-bytes=1000 cannot hold one turn"))
      << server.status();
}

}  // namespace
}  // namespace rwkv::testing
