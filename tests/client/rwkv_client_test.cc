#include "client/rwkv_client.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"
#include "tests/client/fake_rwkv_server.h"

namespace rwkv::client {
namespace {

using ::testing::ElementsAre;
using testing::FakeRwkvServer;
using testing::FakeTurn;
using HealthResponse = grpc::health::v1::HealthCheckResponse;

TEST(FromGrpcStatusTest, OkIsOk) { EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok()); }

TEST(FromGrpcStatusTest, KeepsEveryCodeAndTheMessage) {
  for (int code = 1; code <= 16; ++code) {
    const grpc::Status in(static_cast<grpc::StatusCode>(code), "message " + std::to_string(code));
    const absl::Status out = FromGrpcStatus(in);
    EXPECT_EQ(static_cast<int>(out.code()), code);
    EXPECT_EQ(out.message(), "message " + std::to_string(code));
  }
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "x")).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "x")).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "x")).code(),
            absl::StatusCode::kUnauthenticated);
}

class RwkvClientTest : public ::testing::Test {
 protected:
  FakeRwkvServer server_;
  RwkvClient client_{server_.NewChannel()};
};

TEST_F(RwkvClientTest, GenerateStreamsDeltasInOrderThenDone) {
  FakeTurn turn;
  turn.deltas = {{"Hel", {1, 2}}, {"", {3}}, {"lo", {4}}};
  turn.finish_reason = rwkv::v1::FINISH_REASON_STOP;
  turn.matched_stop = "\n";
  server_.service().QueueTurn(turn);
  rwkv::v1::GenerateRequest request;
  request.set_text("Hi");
  std::string text;
  std::vector<int> sizes;
  rwkv::v1::GenerateResponse::Done done;
  ASSERT_TRUE(client_
                  .Generate(
                      request,
                      [&](const rwkv::v1::GenerateResponse::Delta& delta) {
                        text += delta.text();
                        sizes.push_back(delta.token_ids_size());
                      },
                      &done)
                  .ok());
  EXPECT_EQ(text, "Hello");
  EXPECT_THAT(sizes, ElementsAre(2, 1, 1));
  EXPECT_EQ(done.finish_reason(), rwkv::v1::FINISH_REASON_STOP);
  EXPECT_EQ(done.matched_stop(), "\n");
  EXPECT_EQ(done.usage().generated_tokens(), 4);
  ASSERT_EQ(server_.service().generate_requests().size(), 1u);
  EXPECT_EQ(server_.service().generate_requests()[0].text(), "Hi");
}

TEST_F(RwkvClientTest, GenerateReturnsTheServersStatusAfterPartialOutput) {
  FakeTurn turn;
  turn.deltas = {{"part", {1}}};
  turn.status = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "queue full");
  server_.service().QueueTurn(turn);
  std::string text;
  const absl::Status status = client_.Generate(
      rwkv::v1::GenerateRequest(), [&](const auto& delta) { text += delta.text(); }, nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(), "queue full");
  EXPECT_EQ(text, "part");
}

TEST_F(RwkvClientTest, GenerateWithoutDoneIsInternal) {
  FakeTurn turn;
  turn.send_done = false;
  server_.service().QueueTurn(turn);
  const absl::Status status = client_.Generate(rwkv::v1::GenerateRequest(), nullptr, nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
}

TEST_F(RwkvClientTest, GenerateHonoursACancelledContext) {
  grpc::ClientContext context;
  context.TryCancel();
  const absl::Status status =
      client_.Generate(rwkv::v1::GenerateRequest(), nullptr, nullptr, &context);
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
}

TEST_F(RwkvClientTest, SessionCalls) {
  rwkv::v1::CreateSessionRequest create;
  create.set_session_id("alice");
  absl::StatusOr<rwkv::v1::Session> created = client_.CreateSession(create);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->id(), "alice");
  EXPECT_EQ(client_.CreateSession(create).status().code(), absl::StatusCode::kAlreadyExists);

  rwkv::v1::ForkSessionRequest fork;
  fork.set_source_session_id("alice");
  fork.set_new_session_id("bob");
  ASSERT_TRUE(client_.ForkSession(fork).ok());
  absl::StatusOr<rwkv::v1::ListSessionsResponse> list =
      client_.ListSessions(rwkv::v1::ListSessionsRequest());
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->sessions_size(), 2);
  EXPECT_EQ(list->sessions(1).id(), "bob");

  EXPECT_TRUE(client_.DeleteSession("alice").ok());
  EXPECT_EQ(client_.GetSession("alice").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(client_.DeleteSession("alice").code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(client_.GetSession("bob").ok());
}

TEST_F(RwkvClientTest, TokenizerAndModelCalls) {
  absl::StatusOr<rwkv::v1::TokenizeResponse> tokens = client_.Tokenize("AB");
  ASSERT_TRUE(tokens.ok());
  EXPECT_THAT(tokens->token_ids(), ElementsAre(65, 66));
  rwkv::v1::DetokenizeRequest request;
  request.add_token_ids(104);
  request.add_token_ids(105);
  absl::StatusOr<rwkv::v1::DetokenizeResponse> text = client_.Detokenize(request);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->text(), "hi");
  request.add_token_ids(1000);
  EXPECT_EQ(client_.Detokenize(request).status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<rwkv::v1::ModelInfo> info = client_.GetModelInfo();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->vocab_size(), 256);
}

TEST_F(RwkvClientTest, Health) {
  server_.server().GetHealthCheckService()->SetServingStatus("rwkv.v1.Rwkv", false);
  absl::StatusOr<RwkvClient::ServingStatus> overall = client_.Health("");
  ASSERT_TRUE(overall.ok()) << overall.status();
  EXPECT_EQ(*overall, HealthResponse::SERVING);
  absl::StatusOr<RwkvClient::ServingStatus> rwkv = client_.Health("rwkv.v1.Rwkv");
  ASSERT_TRUE(rwkv.ok());
  EXPECT_EQ(*rwkv, HealthResponse::NOT_SERVING);
  EXPECT_EQ(client_.Health("no.such.Service").status().code(), absl::StatusCode::kNotFound);
}

// Every call that names a session carries it as `x-session-id` (what a balancer routes by), once;
// the others carry none.
TEST_F(RwkvClientTest, CallsNamingASessionCarryItAsRoutingMetadata) {
  rwkv::v1::GenerateRequest turn;
  turn.set_session_id("chat-1");
  turn.set_create_session(true);
  ASSERT_TRUE(client_.Generate(turn, nullptr, nullptr).ok());
  grpc::ClientContext own;  // a caller's own context gets it too
  ASSERT_TRUE(client_.Generate(turn, nullptr, nullptr, &own).ok());
  ASSERT_TRUE(client_.Generate(rwkv::v1::GenerateRequest(), nullptr, nullptr).ok());
  rwkv::v1::CreateSessionRequest create;
  create.set_session_id("chat-2");
  ASSERT_TRUE(client_.CreateSession(create).ok());
  ASSERT_TRUE(client_.CreateSession(rwkv::v1::CreateSessionRequest()).ok());  // server picks
  ASSERT_TRUE(client_.GetSession("chat-1").ok());
  rwkv::v1::ForkSessionRequest fork;
  fork.set_source_session_id("chat-1");
  fork.set_new_session_id("chat-1b");
  ASSERT_TRUE(client_.ForkSession(fork).ok());
  ASSERT_TRUE(client_.DeleteSession("chat-1b").ok());
  ASSERT_TRUE(client_.ListSessions(rwkv::v1::ListSessionsRequest()).ok());
  ASSERT_TRUE(client_.Tokenize("x").ok());
  ASSERT_TRUE(client_.GetModelInfo().ok());

  std::vector<std::string> seen;
  for (const testing::RecordedCall& call : server_.service().calls()) {
    EXPECT_LE(call.session_ids.size(), 1u) << call.method;
    seen.push_back(call.method + "=" + (call.session_ids.empty() ? "" : call.session_ids[0]));
  }
  EXPECT_THAT(seen, ElementsAre("Generate=chat-1", "Generate=chat-1", "Generate=",
                                "CreateSession=chat-2", "CreateSession=", "GetSession=chat-1",
                                "ForkSession=chat-1", "DeleteSession=chat-1b", "ListSessions=",
                                "Tokenize=", "GetModelInfo="));
}

// An ID that cannot be a header value is not sent as one (gRPC would fail the call on the
// client): the call still reaches the server, which judges the ID itself.
TEST_F(RwkvClientTest, AnIdThatIsNoHeaderValueIsNotSentAsRoutingMetadata) {
  const std::string bad = std::string("a\nb\x01") + "\xc3\xa9";
  EXPECT_EQ(client_.GetSession(bad).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(client_.GetSession(std::string(2000, 'a')).status().code(),
            absl::StatusCode::kNotFound);
  const std::vector<testing::RecordedCall> calls = server_.service().calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_TRUE(calls[0].session_ids.empty());
  EXPECT_TRUE(calls[1].session_ids.empty());
}

TEST(RwkvClientConnectTest, ConnectsToALiveServer) {
  FakeRwkvServer server;
  absl::StatusOr<std::unique_ptr<RwkvClient>> client =
      RwkvClient::Connect(server.address(), absl::Seconds(10));
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE((*client)->GetModelInfo().ok());
}

TEST(RwkvClientConnectTest, NobodyListeningIsUnavailable) {
  std::string address;
  {
    FakeRwkvServer server;  // a port that was just free and now has no listener
    address = server.address();
  }
  absl::StatusOr<std::unique_ptr<RwkvClient>> client =
      RwkvClient::Connect(address, absl::Milliseconds(300));
  EXPECT_EQ(client.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(RwkvClient::Connect("", absl::Seconds(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace rwkv::client
