// End to end: gRPC over TLS (issue 13). Certificates are made by the test with Debian's openssl.
// A client that trusts the server's CA connects and streams; a plaintext client, one with only
// the system's roots and one trusting another CA fail; mutual TLS refuses a client without a
// certificate (or with one of another CA) and accepts one with; certificate files replaced while
// a stream runs serve new connections, while the stream finishes on its old connection; the
// HTTPS API (--http-address) follows the same replacement.
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/channel_options.h"
#include "client/rwkv_client.h"
#include "gtest/gtest.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/http_client.h"
#include "tests/util/scoped_temp_dir.h"
#include "tests/util/test_certs.h"
#include "tests/util/wait_for.h"

namespace rwkv::testing {
namespace {

using client::ChannelOptions;
using rwkv::v1::GenerateResponse;
using rwkv::v1::Rwkv;

std::unique_ptr<ServerProcess> StartServer(const TestCerts& certs,
                                           const std::string& client_ca = "",
                                           std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"--model",        TinyModel(),       "--state-store",
                                   "memory:",        "--tls-cert-file", certs.server_cert,
                                   "--tls-key-file", certs.server_key};
  if (!client_ca.empty()) args.insert(args.end(), {"--tls-client-ca-file", client_ca});
  args.insert(args.end(), more.begin(), more.end());
  auto server = ServerProcess::Start(args);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

// A channel of its own (no subchannel shared with the test's other channels, whose handshakes
// were made with other credentials or certificates).
std::shared_ptr<grpc::Channel> Channel(const ServerProcess& server, const ChannelOptions& options,
                                       bool small_window = false) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  if (small_window) {
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 1024);
  }
  auto channel = client::MakeChannel(server.Address(), options, args);
  EXPECT_TRUE(channel.ok()) << channel.status();
  return channel.ok() ? *channel : nullptr;
}

ChannelOptions TrustingCa(const std::string& ca_file) {
  ChannelOptions options;
  options.tls_ca_file = ca_file;
  return options;
}

ChannelOptions WithClientCertificate(const TestCerts& trusted, const TestCerts& client) {
  ChannelOptions options = TrustingCa(trusted.ca_cert);
  options.tls_cert_file = client.client_cert;
  options.tls_key_file = client.client_key;
  return options;
}

// GetModelInfo's status over `options`' channel (a failed handshake: UNAVAILABLE).
grpc::Status ModelInfo(const ServerProcess& server, const ChannelOptions& options) {
  auto stub = Rwkv::NewStub(Channel(server, options));
  grpc::ClientContext context;
  // Short: a refused handshake is retried until the deadline, and the answer is known at once.
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  rwkv::v1::ModelInfo info;
  return stub->GetModelInfo(&context, rwkv::v1::GetModelInfoRequest(), &info);
}

// Whether a fresh channel with `options` completes its handshake within a few seconds.
bool Connects(const ServerProcess& server, const ChannelOptions& options) {
  return Channel(server, options)
      ->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(3)));
}

class TlsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TestCerts> certs = MakeTestCerts(absl::StrCat(dir_.path(), "/ca"));
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *certs;
    absl::StatusOr<TestCerts> other =
        MakeTestCerts(absl::StrCat(dir_.path(), "/other"), "another CA", "stranger");
    ASSERT_TRUE(other.ok()) << other.status();
    other_ = *other;
  }

  ScopedTempDir dir_;
  TestCerts certs_;
  TestCerts other_;  // a CA the server does not know, and its certificates
};

TEST_F(TlsE2eTest, AClientTrustingTheCaConnectsAndStreams) {
  std::unique_ptr<ServerProcess> server = StartServer(certs_);
  ASSERT_NE(server, nullptr);
  EXPECT_NE(server->Log().find("(port "), std::string::npos);
  EXPECT_NE(server->Log().find(", TLS)"), std::string::npos) << server->Log();
  auto stub = Rwkv::NewStub(Channel(*server, TrustingCa(certs_.ca_cert)));
  const StreamResult result = Generate(*stub, GreedyRequest("The quick brown fox", 16));
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_TRUE(result.has_done);
  EXPECT_EQ(result.tokens, LocalGreedy(TinyModel(), Bytes("The quick brown fox"), 16));
  // The client library's Connect, with the same options.
  auto connected =
      client::RwkvClient::Connect(server->Address(), absl::Seconds(30), TrustingCa(certs_.ca_cert));
  ASSERT_TRUE(connected.ok()) << connected.status();
  EXPECT_TRUE((*connected)->GetModelInfo().ok());
  EXPECT_EQ(server->Terminate(absl::Seconds(30)), 0);
}

TEST_F(TlsE2eTest, ServerNameOverrideChecksTheGivenName) {
  std::unique_ptr<ServerProcess> server = StartServer(certs_);
  ASSERT_NE(server, nullptr);
  ChannelOptions options = TrustingCa(certs_.ca_cert);
  options.tls_server_name = "localhost";  // named by the certificate
  EXPECT_TRUE(ModelInfo(*server, options).ok());
  options.tls_server_name = "rwkv.example";  // not named by it
  EXPECT_EQ(ModelInfo(*server, options).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(server->Terminate(absl::Seconds(30)), 0);
}

TEST_F(TlsE2eTest, ClientsWithoutTheCaFail) {
  std::unique_ptr<ServerProcess> server = StartServer(certs_);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(ModelInfo(*server, ChannelOptions()).error_code(), grpc::StatusCode::UNAVAILABLE)
      << "a plaintext client reached a TLS server";
  ChannelOptions system_roots;
  system_roots.tls_server_name = "localhost";  // TLS, verified against the system's roots only
  EXPECT_EQ(ModelInfo(*server, system_roots).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ModelInfo(*server, TrustingCa(other_.ca_cert)).error_code(),
            grpc::StatusCode::UNAVAILABLE)
      << "a client trusting another CA accepted the server's certificate";
  auto connected =
      client::RwkvClient::Connect(server->Address(), absl::Seconds(2), TrustingCa(other_.ca_cert));
  EXPECT_EQ(connected.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(connected.status().message().find("TLS"), std::string::npos) << connected.status();
  EXPECT_EQ(server->Terminate(absl::Seconds(30)), 0);
}

TEST_F(TlsE2eTest, MutualTlsRequiresAClientCertificateOfTheClientCa) {
  std::unique_ptr<ServerProcess> server = StartServer(certs_, certs_.ca_cert);
  ASSERT_NE(server, nullptr);
  EXPECT_NE(server->Log().find(", mutual TLS)"), std::string::npos) << server->Log();
  EXPECT_EQ(ModelInfo(*server, TrustingCa(certs_.ca_cert)).error_code(),
            grpc::StatusCode::UNAVAILABLE)
      << "mutual TLS accepted a client without a certificate";
  EXPECT_EQ(ModelInfo(*server, WithClientCertificate(certs_, other_)).error_code(),
            grpc::StatusCode::UNAVAILABLE)
      << "mutual TLS accepted a client certificate of another CA";
  auto stub = Rwkv::NewStub(Channel(*server, WithClientCertificate(certs_, certs_)));
  const StreamResult result = Generate(*stub, GreedyRequest("mutual", 8));
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.tokens.size(), 8u);
  EXPECT_EQ(server->Terminate(absl::Seconds(30)), 0);
}

TEST_F(TlsE2eTest, ReplacedCertificatesServeNewConnectionsWhileAStreamFinishes) {
  // The server reads <dir>/current/server.{crt,key}; `current` is a symlink to ca/, then other/.
  const std::string current = absl::StrCat(dir_.path(), "/current");
  const TestCerts linked = LinkedServerCerts(absl::StrCat(dir_.path(), "/ca"), current);
  // No stall timeout: the stream below waits unread while the certificates change.
  std::unique_ptr<ServerProcess> server =
      StartServer(linked, "", {"--tls-reload-interval", "1s", "--stream-stall-timeout", "0"});
  ASSERT_NE(server, nullptr);
  auto stub = Rwkv::NewStub(Channel(*server, TrustingCa(certs_.ca_cert), /*small_window=*/true));
  grpc::ClientContext context;
  Bound(context);
  constexpr int kTokens = 3000;  // more than a small window buffers: the stream stays open
  std::unique_ptr<grpc::ClientReader<GenerateResponse>> reader =
      stub->Generate(&context, GreedyRequest("reload", kTokens));
  GenerateResponse response;
  ASSERT_TRUE(reader->Read(&response));
  int tokens = response.has_delta() ? response.delta().token_ids_size() : 0;

  SwapLink(absl::StrCat(dir_.path(), "/other"), current);
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] { return Connects(*server, TrustingCa(other_.ca_cert)); }))
      << "new connections never got the replaced certificate:\n"
      << server->Log();
  EXPECT_FALSE(Connects(*server, TrustingCa(certs_.ca_cert)))
      << "a new connection still got the old certificate";

  const StreamRest rest = ReadRest(*reader);
  EXPECT_TRUE(rest.status.ok()) << rest.status.error_code() << " "
                                << rest.status.error_message();
  EXPECT_TRUE(rest.done);
  EXPECT_EQ(tokens + rest.tokens, kTokens)
      << "the stream that ran across the change was cut short";
  EXPECT_EQ(server->Terminate(absl::Seconds(30)), 0);
}

// The OpenAI-compatible HTTP API serves the same files and follows their replacement too; a
// broken replacement is logged and the previous certificate stays.
TEST_F(TlsE2eTest, HttpsFollowsReplacedCertificatesLikeGrpc) {
  const std::string current = absl::StrCat(dir_.path(), "/current");
  const TestCerts linked = LinkedServerCerts(absl::StrCat(dir_.path(), "/ca"), current);
  std::unique_ptr<ServerProcess> server =
      StartServer(linked, "", {"--tls-reload-interval", "1s", "--http-address", "127.0.0.1:0"});
  ASSERT_NE(server, nullptr);
  auto served_to = [&](const TestCerts& trusted) {
    HttpCall call;
    call.path = "/v1/models";
    call.ca_file = trusted.ca_cert;
    call.timeout = absl::Seconds(30);
    absl::StatusOr<HttpResult> result = HttpRequest(server->http_port(), call);
    return result.ok() && result->status == 200;
  };
  EXPECT_TRUE(served_to(certs_));
  EXPECT_FALSE(served_to(other_));

  SwapLink(absl::StrCat(dir_.path(), "/other"), current);
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] { return served_to(other_); }))
      << "new HTTPS connections never got the replaced certificate:\n"
      << server->Log();
  EXPECT_FALSE(served_to(certs_));

  // A certificate without its key (a rotation gone wrong): the warning, and `other` stays.
  const std::string broken = absl::StrCat(dir_.path(), "/broken");
  std::filesystem::create_directory(broken);
  std::filesystem::copy_file(other_.server_cert, absl::StrCat(broken, "/server.crt"));
  SwapLink(broken, current);
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] {
    served_to(other_);  // a handshake is what makes the HTTP side read the files
    return absl::StrContains(server->Log(), "HTTPS certificate not reloaded");
  })) << server->Log();
  EXPECT_TRUE(served_to(other_)) << server->Log();
  EXPECT_EQ(server->Terminate(absl::Seconds(30)), 0);
}

}  // namespace
}  // namespace rwkv::testing
