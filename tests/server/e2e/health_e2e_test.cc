// Health tells the truth: while a large model loads, gRPC health is NOT_SERVING, /readyz is 503
// and `rwkv-cli health` fails; once the model is loaded and the store answers, SERVING; after
// SIGTERM, NOT_SERVING again while a stream is still draining (which then completes). /healthz
// (liveness) is 200 throughout.
#include <signal.h>

#include <atomic>
#include <string>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/http_get.h"
#include "tests/util/run_command.h"
#include "tests/util/shared_data.h"

namespace rwkv::testing {
namespace {

using grpc::health::v1::HealthCheckResponse;

// Random RWKV-7 1.5B weights: several seconds to build even in int8 (the smallest in memory).
constexpr char kSlowModel[] = "synthetic:rwkv7-1.5b";

HealthCheckResponse::ServingStatus Check(grpc::Channel& channel) {
  auto stub = grpc::health::v1::Health::NewStub(
      std::shared_ptr<grpc::Channel>(&channel, [](grpc::Channel*) {}));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckRequest request;
  HealthCheckResponse response;
  if (!stub->Check(&context, request, &response).ok()) return HealthCheckResponse::UNKNOWN;
  return response.status();
}

int HttpStatus(int port, const std::string& path) {
  absl::StatusOr<HttpResponse> response = HttpGet(port, path);
  return response.ok() ? response->status : -1;
}

CommandResult CliHealth(const std::string& address) {
  return RunCommand(absl::StrCat(RWKV_BIN_DIR, "/rwkv-cli --server ", address, " health 2>&1"));
}

TEST(HealthE2eTest, NotServingWhileLoadingServingWhenReadyNotServingWhileDraining) {
  auto started = ServerProcess::StartLoading(
      {"--model", kSlowModel, "--precision", "int8", "--state-store", "memory:", "--tokenizer",
       SharedPath("tokenizers/rwkv_vocab_v20230424.txt"), "--drain-timeout", "600s"});
  ASSERT_TRUE(started.ok()) << started.status();
  ServerProcess& server = **started;
  auto channel = server.Channel();

  // Loading.
  ASSERT_EQ(Check(*channel), HealthCheckResponse::NOT_SERVING) << server.Log();
  EXPECT_EQ(HttpStatus(server.metrics_port(), "/readyz"), 503);
  EXPECT_EQ(HttpStatus(server.metrics_port(), "/healthz"), 200);
  const CommandResult loading = CliHealth(server.Address());
  EXPECT_EQ(loading.exit_code, 1) << loading.output;
  EXPECT_TRUE(absl::StrContains(loading.output, "NOT_SERVING")) << loading.output;
  // Everything above happened before the model was ready.
  EXPECT_FALSE(absl::StrContains(server.Log(), " serving ")) << server.Log();

  // Ready.
  ASSERT_TRUE(server.WaitForLog(" serving ", absl::Minutes(10))) << server.Log();
  EXPECT_EQ(Check(*channel), HealthCheckResponse::SERVING);
  EXPECT_EQ(HttpStatus(server.metrics_port(), "/readyz"), 200);
  const CommandResult ready = CliHealth(server.Address());
  EXPECT_EQ(ready.exit_code, 0) << ready.output;
  EXPECT_TRUE(absl::StrContains(ready.output, "SERVING")) << ready.output;

  // Draining: a stream is running when SIGTERM arrives.
  constexpr int kTokens = 40;
  auto stub = rwkv::v1::Rwkv::NewStub(channel);
  absl::Notification first_token;
  std::atomic<bool> stream_done{false};
  grpc::Status stream_status;
  int tokens = 0;
  std::thread stream([&] {
    grpc::ClientContext context;
    auto reader = stub->Generate(&context, GreedyRequest("Once upon a time", kTokens));
    rwkv::v1::GenerateResponse response;
    while (reader->Read(&response)) {
      tokens += response.delta().token_ids_size();
      if (tokens > 0 && !first_token.HasBeenNotified()) first_token.Notify();
    }
    stream_status = reader->Finish();
    stream_done = true;
    if (!first_token.HasBeenNotified()) first_token.Notify();
  });
  ASSERT_TRUE(first_token.WaitForNotificationWithTimeout(absl::Minutes(5)));
  ASSERT_EQ(kill(server.pid(), SIGTERM), 0);
  ASSERT_TRUE(server.WaitForLog("draining", absl::Seconds(30))) << server.Log();
  const HealthCheckResponse::ServingStatus draining = Check(*channel);
  const int readyz = HttpStatus(server.metrics_port(), "/readyz");
  const int healthz = HttpStatus(server.metrics_port(), "/healthz");
  const bool still_streaming = !stream_done;
  stream.join();

  EXPECT_EQ(draining, HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(readyz, 503);
  EXPECT_EQ(healthz, 200);
  EXPECT_TRUE(still_streaming) << "the stream ended before the health check; make it longer";
  EXPECT_TRUE(stream_status.ok()) << stream_status.error_message();
  EXPECT_EQ(tokens, kTokens);
  EXPECT_EQ(server.Terminate(absl::Minutes(2)), 0) << server.Log();
}

}  // namespace
}  // namespace rwkv::testing
