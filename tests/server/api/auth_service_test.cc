// Authentication in front of every RPC, on the real RwkvService in process: every method of
// rwkv.v1.Rwkv, read from the service's descriptor (so that an RPC added later is checked
// without a change here), refuses a call without a token, with a wrong one and with a
// malformed header (UNAUTHENTICATED), and lets a valid one through to the next check (the
// server is left "starting", so a call that passes authentication gets UNAVAILABLE and touches
// nothing else). Health and reflection, the allow-list, answer without a token, and no other
// service is registered. Refusals are logged with the peer and counted, never with the token.
// Over mutual TLS (certificates made with Debian's openssl), a client certificate that the
// tokens file maps names the tenant.
#include <grpc/grpc.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/client_unary_call.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/unknown_field_set.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "rwkv/v1/rwkv.grpc.pb.h"
#include "server/api/rwkv_service.h"
#include "server/auth/listen_policy.h"
#include "server/metrics/request_metrics.h"
#include "tests/server/metrics/metric_values.h"
#include "tests/util/run_command.h"
#include "tests/util/wait_for.h"

namespace rwkv::server {
namespace {

constexpr char kToken[] = "acme-token-0123456789";
constexpr char kWrongToken[] = "wrong-token-0123456789";

// Every method of rwkv.v1.Rwkv as a gRPC path ("/rwkv.v1.Rwkv/Generate", ...).
std::vector<std::string> RwkvMethodPaths() {
  const google::protobuf::ServiceDescriptor* service =
      rwkv::v1::GenerateRequest::descriptor()->file()->FindServiceByName("Rwkv");
  std::vector<std::string> paths;
  for (int i = 0; service != nullptr && i < service->method_count(); ++i) {
    paths.push_back(absl::StrCat("/", service->full_name(), "/", service->method(i)->name()));
  }
  return paths;
}

class AuthServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(/*with_auth=*/true); }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    if (log_file_ != nullptr) std::fclose(log_file_);
  }

  void Start(bool with_auth) {
    log_file_ = std::tmpfile();
    ASSERT_NE(log_file_, nullptr);
    log_ = std::make_unique<RequestLog>(LogFormat::kText, log_file_);
    absl::StatusOr<auth::TokensFile> tokens =
        auth::ParseTokensFile(absl::StrCat("acme ", kToken, "\n"));
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    authenticator_ = std::make_unique<auth::Authenticator>(*tokens);
    context_.log = log_.get();
    context_.requests = &metrics_;
    if (with_auth) context_.authenticator = authenticator_.get();
    // context_.ready stays false: past authentication every call stops at CheckReady.
    service_ = std::make_unique<RwkvService>(context_);
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ =
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  }

  // Calls `path` with an empty request (valid for every method) and `authorization` headers.
  grpc::Status Call(const std::string& path, const std::vector<std::string>& authorization) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    for (const std::string& value : authorization) context.AddMetadata("authorization", value);
    grpc::Slice empty(std::string{});
    grpc::ByteBuffer request(&empty, 1);
    grpc::ByteBuffer response;
    // Unary on the wire for every method: a stream refused before its first message ends with
    // the status alone, as a unary call does.
    return grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
        channel_.get(),
        grpc::internal::RpcMethod(path.c_str(), grpc::internal::RpcMethod::NORMAL_RPC), &context,
        request, &response);
  }

  std::string Log() const {
    std::fflush(log_file_);
    std::string text;
    char buffer[4096];
    off_t offset = 0;
    for (ssize_t n; (n = pread(fileno(log_file_), buffer, sizeof(buffer), offset)) > 0;
         offset += n) {
      text.append(buffer, static_cast<size_t>(n));
    }
    return text;
  }

  prometheus::Registry registry_;
  metrics::RequestMetrics metrics_{registry_};
  std::FILE* log_file_ = nullptr;
  std::unique_ptr<RequestLog> log_;
  std::unique_ptr<auth::Authenticator> authenticator_;
  ServiceContext context_;
  std::unique_ptr<RwkvService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(AuthServiceTest, EveryMethodRefusesAMissingWrongOrMalformedToken) {
  const std::vector<std::string> paths = RwkvMethodPaths();
  ASSERT_GE(paths.size(), 9u);
  for (const std::string& path : paths) {
    const grpc::Status none = Call(path, {});
    EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED) << path;
    EXPECT_EQ(none.error_message(), "missing authorization metadata") << path;
    const grpc::Status wrong = Call(path, {absl::StrCat("Bearer ", kWrongToken)});
    EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED) << path;
    EXPECT_EQ(wrong.error_message(), "unknown token") << path;
    const grpc::Status malformed = Call(path, {kToken});
    EXPECT_EQ(malformed.error_code(), grpc::StatusCode::UNAUTHENTICATED) << path;
    EXPECT_EQ(malformed.error_message(), "malformed authorization header") << path;
  }
  using rwkv::testing::MetricValue;
  const double calls = static_cast<double>(paths.size());
  EXPECT_EQ(MetricValue(registry_, "rwkv_auth_failures_total", {{"reason", "missing"}}), calls);
  EXPECT_EQ(MetricValue(registry_, "rwkv_auth_failures_total", {{"reason", "unknown_token"}}),
            calls);
  EXPECT_EQ(MetricValue(registry_, "rwkv_auth_failures_total", {{"reason", "malformed"}}), calls);
  EXPECT_EQ(MetricValue(registry_, "rwkv_requests_total",
                        {{"method", "ListSessions"}, {"code", "UNAUTHENTICATED"}}),
            3);
}

TEST_F(AuthServiceTest, AValidTokenPassesToTheNextCheck) {
  for (const std::string& path : RwkvMethodPaths()) {
    const grpc::Status status = Call(path, {absl::StrCat("Bearer ", kToken)});
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << path;
    EXPECT_EQ(status.error_message(), "the server is starting: the model is loading") << path;
  }
  EXPECT_EQ(
      rwkv::testing::MetricValue(registry_, "rwkv_auth_failures_total", {{"reason", "missing"}}),
      0);
}

TEST_F(AuthServiceTest, RefusalsAreLoggedWithThePeerNeverTheToken) {
  Call("/rwkv.v1.Rwkv/GetSession", {absl::StrCat("Bearer ", kWrongToken)});
  Call("/rwkv.v1.Rwkv/Generate", {absl::StrCat("Bearer ", kToken)});
  // A stream's line is written once gRPC is done with it, just after the client has its status.
  ASSERT_TRUE(rwkv::testing::WaitFor(rwkv::testing::kWaitLimit,
                                     [&] { return absl::StrContains(Log(), " Generate "); }));
  const std::string log = Log();
  EXPECT_THAT(log, ::testing::ContainsRegex(
                       "GetSession request_id=[0-9a-f]+ peer=ipv4:127\\.0\\.0\\.1:[0-9]+ "
                       "status=UNAUTHENTICATED ms=[0-9.]+ error=\"unknown token\""));
  EXPECT_THAT(log, ::testing::ContainsRegex("Generate request_id=[0-9a-f]+ tenant=acme "
                                            "status=UNAVAILABLE"));
  EXPECT_FALSE(absl::StrContains(log, kWrongToken)) << log;
  EXPECT_FALSE(absl::StrContains(log, kToken)) << log;
  EXPECT_FALSE(absl::StrContains(log, "-token-")) << log;
}

// Reflection's list of services (ServerReflectionInfo, list_services), read off the wire.
std::vector<std::string> ListServices(grpc::Channel& channel) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto stream = std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>>(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          &channel,
          grpc::internal::RpcMethod(
              "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
              grpc::internal::RpcMethod::BIDI_STREAMING),
          &context));
  // ServerReflectionRequest{list_services (field 7) = ""}.
  const std::string list_services("\x3a\x00", 2);
  grpc::Slice slice(list_services);
  if (!stream->Write(grpc::ByteBuffer(&slice, 1))) return {};
  stream->WritesDone();
  grpc::ByteBuffer reply;
  std::vector<std::string> names;
  if (stream->Read(&reply)) {
    std::vector<grpc::Slice> slices;
    (void)reply.Dump(&slices);
    std::string bytes;
    for (const grpc::Slice& s : slices)
      bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    // ServerReflectionResponse.list_services_response (6) . service (1) . name (1).
    google::protobuf::UnknownFieldSet response;
    response.ParseFromString(bytes);
    for (int i = 0; i < response.field_count(); ++i) {
      if (response.field(i).number() != 6) continue;
      google::protobuf::UnknownFieldSet list;
      list.ParseFromString(response.field(i).length_delimited());
      for (int j = 0; j < list.field_count(); ++j) {
        google::protobuf::UnknownFieldSet service;
        service.ParseFromString(list.field(j).length_delimited());
        for (int k = 0; k < service.field_count(); ++k) {
          if (service.field(k).number() == 1) names.push_back(service.field(k).length_delimited());
        }
      }
    }
  }
  while (stream->Read(&reply)) {
  }
  stream->Finish().ok();
  return names;
}

TEST_F(AuthServiceTest, OnlyTheAllowListAnswersWithoutAToken) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status checked = health->Check(&context, request, &response);
  EXPECT_TRUE(checked.ok()) << checked.error_message();

  // Every registered service is rwkv.v1.Rwkv (every method checked above) or on the list: a
  // service registered later fails here until it is put behind the check or on the list.
  const std::vector<std::string> services = ListServices(*channel_);
  ASSERT_FALSE(services.empty());
  std::set<std::string> allowed(std::begin(auth::kUnauthenticatedServices),
                                std::end(auth::kUnauthenticatedServices));
  for (const std::string& service : services) {
    EXPECT_TRUE(service == "rwkv.v1.Rwkv" || allowed.count(service) == 1) << service;
  }
  EXPECT_THAT(services, ::testing::Contains("rwkv.v1.Rwkv"));
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// A CA, a server certificate for 127.0.0.1 and two client certificates (CN gw.acme.internal,
// mapped in the tokens file, and CN stranger), made with openssl in `dir`.
bool MakeCertificates(const std::string& dir) {
  const std::string make = absl::StrCat(
      "(set -e; cd ", dir, "; ",
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 "
      "-subj /CN=test-ca; ",
      "printf 'subjectAltName=IP:127.0.0.1' > san.ext; ",
      "for name in server gw.acme.internal stranger; do "
      "openssl req -newkey rsa:2048 -nodes -keyout $name.key -out $name.csr -subj /CN=$name; "
      "openssl x509 -req -in $name.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $name.pem "
      "-days 1 -extfile san.ext; done) 2>&1");
  const rwkv::testing::CommandResult made = rwkv::testing::RunCommand(make);
  EXPECT_EQ(made.exit_code, 0) << made.output;
  return made.exit_code == 0;
}

// Holds a gRPC library reference for a test and, going out of scope after its servers and
// channels, drops it with grpc_shutdown_blocking, so gRPC's background threads have finished
// their TLS teardown before the process exits. Without it, OpenSSL 3's exit-time cleanup can race
// a connection still being torn down and LeakSanitizer reports OpenSSL objects (grpc/grpc#38539;
// seen once in CI's ASan run of the test below).
class SynchronousGrpcShutdown {
 public:
  SynchronousGrpcShutdown() { grpc_init(); }
  ~SynchronousGrpcShutdown() { grpc_shutdown_blocking(); }
  SynchronousGrpcShutdown(const SynchronousGrpcShutdown&) = delete;
  SynchronousGrpcShutdown& operator=(const SynchronousGrpcShutdown&) = delete;
};

// Mutual TLS: a verified client certificate whose CN the tokens file maps acts for that tenant
// without a token (the call passes authentication); one it does not map is refused.
TEST(AuthServiceTlsTest, AMappedClientCertificateNamesTheTenant) {
  const SynchronousGrpcShutdown grpc_lifetime;
  const std::string dir = ::testing::TempDir() + "/auth_tls";
  ASSERT_EQ(rwkv::testing::RunCommand("mkdir -p " + dir).exit_code, 0);
  ASSERT_TRUE(MakeCertificates(dir));
  absl::StatusOr<auth::TokensFile> tokens =
      auth::ParseTokensFile(absl::StrCat("acme x509:gw.acme.internal\nacme ", kToken, "\n"));
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  auth::Authenticator authenticator(*tokens);
  RequestLog log(LogFormat::kText, stderr);
  ServiceContext context;
  context.log = &log;
  context.authenticator = &authenticator;
  RwkvService service(context);
  grpc::SslServerCredentialsOptions tls(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  tls.pem_root_certs = ReadAll(dir + "/ca.pem");
  tls.pem_key_cert_pairs.push_back({ReadAll(dir + "/server.key"), ReadAll(dir + "/server.pem")});
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);

  auto call_as = [&](const std::string& client) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ReadAll(dir + "/ca.pem");
    options.pem_private_key = ReadAll(dir + "/" + client + ".key");
    options.pem_cert_chain = ReadAll(dir + "/" + client + ".pem");
    auto stub = rwkv::v1::Rwkv::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::SslCredentials(options)));
    grpc::ClientContext call;
    call.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    rwkv::v1::ModelInfo info;
    return stub->GetModelInfo(&call, {}, &info);
  };
  // Past authentication, the server (never made ready) answers UNAVAILABLE.
  const grpc::Status mapped = call_as("gw.acme.internal");
  EXPECT_EQ(mapped.error_code(), grpc::StatusCode::UNAVAILABLE) << mapped.error_message();
  const grpc::Status unmapped = call_as("stranger");
  EXPECT_EQ(unmapped.error_code(), grpc::StatusCode::UNAUTHENTICATED) << unmapped.error_message();
  EXPECT_EQ(unmapped.error_message(), "missing authorization metadata");
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(30));
  server->Wait();
  server.reset();
}

class NoAuthServiceTest : public AuthServiceTest {
 protected:
  void SetUp() override { Start(/*with_auth=*/false); }
};

// Without --auth-tokens-file every call is the default tenant's, with or without a header.
TEST_F(NoAuthServiceTest, EveryCallPasses) {
  for (const std::string& path : RwkvMethodPaths()) {
    EXPECT_EQ(Call(path, {}).error_code(), grpc::StatusCode::UNAVAILABLE) << path;
    EXPECT_EQ(Call(path, {"garbage"}).error_code(), grpc::StatusCode::UNAVAILABLE) << path;
  }
}

}  // namespace
}  // namespace rwkv::server
