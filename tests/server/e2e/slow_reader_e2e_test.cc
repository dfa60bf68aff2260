// End to end: clients that open Generate streams and never read them must not stop the server
// for everyone (issue 11). Their sequences pause without holding batch capacity, and after
// --stream-stall-timeout they end with DEADLINE_EXCEEDED.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/http_get.h"
#include "tests/util/wait_for.h"

namespace rwkv::testing {
namespace {

using rwkv::v1::GenerateResponse;
using rwkv::v1::Rwkv;

constexpr int kStalledStreams = 64;
constexpr int kLongGeneration = 1'000'000;

// Streams that are opened and never read.
struct StalledStreams {
  std::unique_ptr<Rwkv::Stub> stub;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<GenerateResponse>>> readers;
};

void OpenStalledStreams(const ServerProcess& server, StalledStreams& out) {
  out.stub = Rwkv::NewStub(FreshChannel(server.Address(), /*small_window=*/true));
  for (int i = 0; i < kStalledStreams; ++i) {
    out.contexts.push_back(std::make_unique<grpc::ClientContext>());
    Bound(*out.contexts.back());
    out.readers.push_back(
        out.stub->Generate(out.contexts.back().get(), GreedyRequest("stall", kLongGeneration)));
  }
}

// The scheduler's lines of /metrics, for failure messages.
std::string SchedulerMetrics(int port) {
  absl::StatusOr<HttpResponse> response = HttpGet(port, "/metrics");
  if (!response.ok()) return std::string(response.status().message());
  std::string out;
  for (absl::string_view line : absl::StrSplit(response->body, '\n')) {
    if (absl::StartsWith(line, "rwkv_running") || absl::StartsWith(line, "rwkv_queued") ||
        absl::StartsWith(line, "rwkv_finished") || absl::StartsWith(line, "rwkv_generated") ||
        absl::StartsWith(line, "rwkv_waiting")) {
      absl::StrAppend(&out, line, "\n");
    }
  }
  return out;
}

std::unique_ptr<ServerProcess> StartServer(const std::string& stall_timeout) {
  auto server = ServerProcess::Start({"--model", TinyModel(), "--state-store", "memory:",
                                      "--max-batch-sequences", "8", "--max-new-tokens",
                                      std::to_string(kLongGeneration), "--stream-stall-timeout",
                                      stall_timeout});
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

TEST(SlowReaderE2eTest, StreamsThatNeverReadDoNotStopTheServer) {
  std::unique_ptr<ServerProcess> server = StartServer("60s");
  ASSERT_NE(server, nullptr);
  StalledStreams stalled;
  OpenStalledStreams(*server, stalled);
  // All of them are running (or were): each has generated into its full buffers by now or soon.
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] {
    return ScrapedMetric(server->metrics_port(), "rwkv_running_sequences ") >= kStalledStreams;
  })) << "the stalled streams never all ran\n" << SchedulerMetrics(server->metrics_port());

  auto stub = Rwkv::NewStub(FreshChannel(server->Address()));
  const StreamResult normal = Generate(*stub, GreedyRequest("The quick brown fox", 16));
  ASSERT_TRUE(normal.status.ok()) << normal.status.error_message();
  EXPECT_EQ(normal.done.usage().generated_tokens(), 16);

  for (auto& context : stalled.contexts) context->TryCancel();
  EXPECT_EQ(server->Terminate(absl::Seconds(60)), 0);
}

TEST(SlowReaderE2eTest, StalledStreamsEndWithDeadlineExceeded) {
  std::unique_ptr<ServerProcess> server = StartServer("2s");
  ASSERT_NE(server, nullptr);
  StalledStreams stalled;
  OpenStalledStreams(*server, stalled);
  // The server ends every one of them (the metrics count them as cancelled) while none is read.
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] {
    return ScrapedMetric(server->metrics_port(),
                       "rwkv_finished_generations_total{reason=\"cancelled\"} ") >=
           kStalledStreams;
  })) << "the stalled streams were never ended\n" << SchedulerMetrics(server->metrics_port());
  EXPECT_EQ(ScrapedMetric(server->metrics_port(), "rwkv_running_sequences "), 0);

  // Read now: what was sent, then the stall status. The tokens generated while a write waited
  // on the client came as one message, not one each.
  for (auto& reader : stalled.readers) {
    GenerateResponse response;
    int tokens = 0;
    int largest_message = 0;
    while (reader->Read(&response)) {
      tokens += response.delta().token_ids_size();
      largest_message = std::max(largest_message, response.delta().token_ids_size());
    }
    EXPECT_GT(largest_message, 1);
    const grpc::Status status = reader->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << status.error_message();
    EXPECT_TRUE(absl::StrContains(status.error_message(), "did not read the stream"))
        << status.error_message();
    EXPECT_LT(tokens, kLongGeneration);
  }
  EXPECT_TRUE(server->WaitForLog("did not read the stream", kWaitLimit)) << server->Log();
  EXPECT_EQ(server->Terminate(absl::Seconds(60)), 0);
}

}  // namespace
}  // namespace rwkv::testing
