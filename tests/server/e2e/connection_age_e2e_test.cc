// End to end: --max-connection-age (issue 12). A client connection gets a GOAWAY once it is old,
// so that clients behind a plain TCP balancer reconnect and spread over the replicas; the next
// call reconnects and succeeds, and a stream still running on the old connection finishes whole
// within --max-connection-age-grace.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/run_command.h"
#include "tests/util/wait_for.h"

namespace rwkv::testing {
namespace {

using rwkv::v1::GenerateResponse;
using rwkv::v1::Rwkv;

// Longer than a small-window client buffers unread (a few hundred tokens), so that the stream
// is still running, stalled on its reader, when the connection's age passes.
constexpr int kLongStream = 3000;

std::unique_ptr<ServerProcess> StartServer() {
  // A one-second age; a grace far longer than any test stream. No stall timeout: the stream
  // below waits unread for the GOAWAY.
  auto server = ServerProcess::Start({"--model", TinyModel(), "--state-store", "memory:",
                                      "--max-connection-age", "1s",
                                      "--max-connection-age-grace", "10m",
                                      "--stream-stall-timeout", "0"});
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

bool ModelInfoOk(Rwkv::Stub& stub) {
  grpc::ClientContext context;
  Bound(context);
  rwkv::v1::ModelInfo info;
  const grpc::Status status = stub.GetModelInfo(&context, rwkv::v1::GetModelInfoRequest(), &info);
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  return status.ok();
}

// A channel leaves READY when its connection ends; after a GOAWAY it goes IDLE and the next call
// opens a new connection.
bool LeftReady(grpc::Channel& channel) {
  return channel.GetState(/*try_to_connect=*/false) != GRPC_CHANNEL_READY;
}

TEST(ConnectionAgeE2eTest, AnOldConnectionIsClosedAndTheNextCallReconnects) {
  std::unique_ptr<ServerProcess> server = StartServer();
  ASSERT_NE(server, nullptr);
  std::shared_ptr<grpc::Channel> channel = FreshChannel(server->Address());
  auto stub = Rwkv::NewStub(channel);
  ASSERT_TRUE(ModelInfoOk(*stub));
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] { return LeftReady(*channel); }))
      << "the server never ended the connection past --max-connection-age";
  EXPECT_TRUE(ModelInfoOk(*stub)) << "the call after the GOAWAY did not reconnect";
  EXPECT_EQ(channel->GetState(false), GRPC_CHANNEL_READY);
  EXPECT_EQ(server->Terminate(absl::Seconds(30)), 0);
}

TEST(ConnectionAgeE2eTest, AStreamRunningAtTheAgeFinishesWithinTheGrace) {
  std::unique_ptr<ServerProcess> server = StartServer();
  ASSERT_NE(server, nullptr);
  std::shared_ptr<grpc::Channel> channel = FreshChannel(server->Address(), /*small_window=*/true);
  auto stub = Rwkv::NewStub(channel);
  grpc::ClientContext context;
  Bound(context);
  std::unique_ptr<grpc::ClientReader<GenerateResponse>> reader =
      stub->Generate(&context, GreedyRequest("age", kLongStream));
  GenerateResponse response;
  ASSERT_TRUE(reader->Read(&response));
  int tokens = response.has_delta() ? response.delta().token_ids_size() : 0;
  // Unread, the stream stalls with most of its tokens to go while the connection ages out.
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] { return LeftReady(*channel); }))
      << "the server never sent a GOAWAY past --max-connection-age";
  // New calls go to a new connection while the old one still carries the stream.
  ASSERT_TRUE(ModelInfoOk(*stub));
  const StreamRest rest = ReadRest(*reader);
  EXPECT_TRUE(rest.status.ok()) << rest.status.error_code() << " "
                                << rest.status.error_message();
  EXPECT_TRUE(rest.done);
  EXPECT_EQ(tokens + rest.tokens, kLongStream)
      << "the stream was cut when its connection aged out";
  EXPECT_EQ(server->Terminate(absl::Seconds(30)), 0);
}

TEST(ConnectionAgeE2eTest, NegativeAgesAreRefused) {
  for (const std::string flag : {"--max-connection-age", "--max-connection-age-grace"}) {
    const CommandResult result = RunCommand(
        absl::StrCat(ServerBinary(), " --model ", TinyModel(), " ", flag, "=-1s 2>&1"));
    EXPECT_EQ(result.exit_code, 2) << result.output;
    EXPECT_NE(result.output.find(absl::StrCat(flag, " must be >= 0")), std::string::npos)
        << result.output;
  }
}

}  // namespace
}  // namespace rwkv::testing
