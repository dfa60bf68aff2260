// End to end, a state store that fails while serving: rwkv-server on RocksDB on a small tmpfs
// that the test fills. Once the store is seen failing (an error streak or a probe), session turns
// get UNAVAILABLE naming the store's error before anything is generated, /readyz and gRPC health
// say not ready while /healthz stays 200, and a Generate without a session is still served. When
// the filler is deleted the server recovers by itself: ready again, and the session from before
// resumes exactly where it was. Needs root to mount the tmpfs; skipped otherwise.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "absl/strings/match.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/http_get.h"
#include "tests/util/scoped_tmpfs.h"
#include "tests/util/wait_for.h"

namespace rwkv::testing {
namespace {

using grpc::health::v1::HealthCheckResponse;
using rwkv::v1::Rwkv;
using ::testing::HasSubstr;

HealthCheckResponse::ServingStatus GrpcHealth(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  Bound(context);
  grpc::health::v1::HealthCheckRequest request;
  HealthCheckResponse response;
  if (!stub->Check(&context, request, &response).ok()) return HealthCheckResponse::UNKNOWN;
  return response.status();
}

int HttpStatus(int port, const std::string& path) {
  absl::StatusOr<HttpResponse> response = HttpGet(port, path);
  return response.ok() ? response->status : -1;
}

std::string Metrics(int port) {
  absl::StatusOr<HttpResponse> response = HttpGet(port, "/metrics");
  return response.ok() ? response->body : "";
}

grpc::Status CreateSession(Rwkv::Stub& stub, const std::string& id) {
  grpc::ClientContext context;
  Bound(context);
  rwkv::v1::CreateSessionRequest request;
  request.set_session_id(id);
  rwkv::v1::Session session;
  return stub.CreateSession(&context, request, &session);
}

TEST(StoreFailureE2eTest, AFullDiskRefusesSessionTurnsUntilItHasSpaceAgain) {
  ScopedTmpfs disk;
  if (absl::Status mounted = disk.Mount(32 << 20); !mounted.ok()) {
    GTEST_SKIP() << "no small filesystem to fill: " << mounted.message();
  }
  auto started = ServerProcess::Start(
      {"--model", TinyModel(), "--data-dir", disk.path(), "--store-probe-interval", "200ms"});
  ASSERT_TRUE(started.ok()) << started.status();
  ServerProcess& server = **started;
  auto channel = server.Channel();
  auto stub = Rwkv::NewStub(channel);

  // Before: a session with one committed turn.
  const std::string first_prompt = "Once upon a time";
  const StreamResult first = Generate(*stub, GreedyRequest(first_prompt, 8, "before"));
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  ASSERT_TRUE(first.has_done);

  const std::string filler = disk.path() + "/filler";
  ASSERT_GT(FillFilesystem(filler), 0);
  // Turns fail at their commit until the store is seen failing (three in a row, or a probe
  // every 200 ms); from then on they are refused before anything is generated.
  StreamResult refused;
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] {
    refused = Generate(*stub, GreedyRequest(" and then", 8, "before"));
    return absl::StrContains(refused.status.error_message(), "the state store is failing");
  })) << server.Log();
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(refused.status.error_message(), HasSubstr("No space left on device"));
  EXPECT_THAT(refused.status.error_message(),
              HasSubstr("new session turns are refused until it recovers"));
  EXPECT_EQ(refused.messages, 0) << "the refused turn streamed something";

  const StreamResult new_session = Generate(*stub, GreedyRequest("Hi", 4, "during"));
  EXPECT_EQ(new_session.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(new_session.messages, 0);
  EXPECT_EQ(CreateSession(*stub, "created-during").error_code(), grpc::StatusCode::UNAVAILABLE);
  // Not ready (traffic goes elsewhere) but alive (a restart would not mend a disk).
  EXPECT_EQ(HttpStatus(server.metrics_port(), "/readyz"), 503);
  EXPECT_EQ(HttpStatus(server.metrics_port(), "/healthz"), 200);
  EXPECT_EQ(GrpcHealth(channel), HealthCheckResponse::NOT_SERVING);
  const std::string metrics = Metrics(server.metrics_port());
  EXPECT_THAT(metrics, HasSubstr("rwkv_store_healthy{backend=\"rocksdb\"} 0")) << metrics;
  EXPECT_THAT(metrics, HasSubstr("rwkv_ready 0"));
  // What needs no store goes on: a turn without a session, and reading a session.
  const StreamResult stateless = Generate(*stub, GreedyRequest("Hi", 4));
  EXPECT_TRUE(stateless.status.ok()) << stateless.status.error_message();
  rwkv::v1::Session before;
  ASSERT_TRUE(GetSession(*stub, "before", &before).ok());
  EXPECT_EQ(before.version(), 1);

  // Space again: the server recovers by itself.
  ASSERT_TRUE(std::filesystem::remove(filler));
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] {
    return HttpStatus(server.metrics_port(), "/readyz") == 200;
  })) << server.Log();
  EXPECT_EQ(GrpcHealth(channel), HealthCheckResponse::SERVING);
  EXPECT_THAT(Metrics(server.metrics_port()),
              HasSubstr("rwkv_store_healthy{backend=\"rocksdb\"} 1"));
  // The session resumes from its one committed turn, as if the failed ones never happened.
  const StreamResult resumed = Generate(*stub, GreedyRequest(" and then", 8, "before"));
  ASSERT_TRUE(resumed.status.ok()) << resumed.status.error_message() << server.Log();
  ASSERT_TRUE(resumed.has_done);
  EXPECT_EQ(resumed.done.session().version(), 2);
  const std::vector<int32_t> history =
      Concat(Concat(Bytes(first_prompt), first.tokens), Bytes(" and then"));
  EXPECT_EQ(resumed.tokens, LocalGreedy(TinyModel(), history, 8));
  const StreamResult after = Generate(*stub, GreedyRequest("Hi", 4, "after"));
  EXPECT_TRUE(after.status.ok()) << after.status.error_message();

  const std::string log = server.Log();
  EXPECT_THAT(log, HasSubstr("state store failing"));
  EXPECT_THAT(log, HasSubstr("state store healthy again"));
  EXPECT_EQ(server.Terminate(absl::Seconds(60)), 0) << server.Log();
}

}  // namespace
}  // namespace rwkv::testing
