// Authentication end to end on the real rwkv-server with --auth-tokens-file: every RPC of
// rwkv.v1.Rwkv (read from its descriptor) refuses no token and a wrong one with UNAUTHENTICATED
// and works with a valid one; health answers without a token; a non-loopback --listen without
// authentication is refused (exit 2, one line); SIGHUP reloads the tokens (a removed token is
// refused afterwards while a stream it started finishes; a bad file keeps the old table); no
// token ever reaches the log; requests and tokens are counted by tenant; rwkv-cli and
// rwkv-loadgen send their --auth-token-file; a valid token of another tenant finds none of a
// tenant's sessions (NOT_FOUND), lists only its own, and may reuse a session ID.
#include <grpcpp/impl/client_unary_call.h>
#include <signal.h>

#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/http_get.h"
#include "tests/util/run_command.h"
#include "tests/util/wait_for.h"

namespace rwkv::testing {
namespace {

constexpr char kAcme[] = "acme-e2e-token-0123456789";
constexpr char kBeta[] = "beta-e2e-token-0123456789";
constexpr char kWrong[] = "wrong-e2e-token-012345678";

std::string TempPath(const std::string& name) { return ::testing::TempDir() + "/" + name; }

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
}

std::string TokensFile(const std::string& name, const std::string& contents) {
  const std::string path = TempPath(name);
  WriteFile(path, contents);
  return path;
}

std::string BothTenants() { return absl::StrCat("# e2e\nacme ", kAcme, "\nbeta ", kBeta, "\n"); }

// Every method of rwkv.v1.Rwkv.
std::vector<std::string> RwkvMethods() {
  const google::protobuf::ServiceDescriptor* service =
      rwkv::v1::GenerateRequest::descriptor()->file()->FindServiceByName("Rwkv");
  std::vector<std::string> names;
  for (int i = 0; service != nullptr && i < service->method_count(); ++i) {
    names.push_back(service->method(i)->name());
  }
  return names;
}

// Calls /rwkv.v1.Rwkv/`method` with an empty request and the given token ("" = no header).
grpc::Status CallWith(grpc::Channel& channel, const std::string& method, const std::string& token) {
  grpc::ClientContext context;
  Bound(context);
  if (!token.empty()) context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
  grpc::Slice empty(std::string{});
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  const std::string path = absl::StrCat("/rwkv.v1.Rwkv/", method);
  return grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      &channel, grpc::internal::RpcMethod(path.c_str(), grpc::internal::RpcMethod::NORMAL_RPC),
      &context, request, &response);
}

// A context with the hang guard and `token`.
std::unique_ptr<grpc::ClientContext> With(const std::string& token) {
  auto context = std::make_unique<grpc::ClientContext>();
  Bound(*context);
  context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  return context;
}

grpc::Status GenerateWith(rwkv::v1::Rwkv::Stub& stub, const std::string& token,
                          const rwkv::v1::GenerateRequest& request) {
  auto context = With(token);
  auto reader = stub.Generate(context.get(), request);
  rwkv::v1::GenerateResponse response;
  while (reader->Read(&response)) {
  }
  return reader->Finish();
}

// Each RPC with a valid token, as a real client would make it; returns the methods called.
std::set<std::string> EveryRpcWorksWith(rwkv::v1::Rwkv::Stub& stub, const std::string& token) {
  std::set<std::string> called;
  auto ok = [&](const std::string& method, const grpc::Status& status) {
    EXPECT_TRUE(status.ok()) << method << ": " << status.error_message();
    called.insert(method);
  };
  rwkv::v1::ModelInfo info;
  ok("GetModelInfo", stub.GetModelInfo(With(token).get(), {}, &info));
  rwkv::v1::TokenizeRequest tokenize;
  tokenize.set_text("Hi");
  rwkv::v1::TokenizeResponse ids;
  ok("Tokenize", stub.Tokenize(With(token).get(), tokenize, &ids));
  rwkv::v1::DetokenizeRequest detokenize;
  detokenize.add_token_ids(72);
  rwkv::v1::DetokenizeResponse text;
  ok("Detokenize", stub.Detokenize(With(token).get(), detokenize, &text));
  rwkv::v1::CreateSessionRequest create;
  create.set_session_id("auth-s1");
  rwkv::v1::Session session;
  ok("CreateSession", stub.CreateSession(With(token).get(), create, &session));
  ok("Generate", GenerateWith(stub, token, GreedyRequest("Hello", 4, "auth-s1")));
  rwkv::v1::GetSessionRequest get;
  get.set_session_id("auth-s1");
  ok("GetSession", stub.GetSession(With(token).get(), get, &session));
  rwkv::v1::ForkSessionRequest fork;
  fork.set_source_session_id("auth-s1");
  fork.set_new_session_id("auth-s2");
  ok("ForkSession", stub.ForkSession(With(token).get(), fork, &session));
  rwkv::v1::ListSessionsResponse list;
  ok("ListSessions", stub.ListSessions(With(token).get(), {}, &list));
  rwkv::v1::DeleteSessionRequest remove;
  rwkv::v1::DeleteSessionResponse removed;
  remove.set_session_id("auth-s2");
  ok("DeleteSession", stub.DeleteSession(With(token).get(), remove, &removed));
  remove.set_session_id("auth-s1");
  ok("DeleteSession", stub.DeleteSession(With(token).get(), remove, &removed));
  return called;
}

std::vector<std::string> ServerArgs(const std::string& tokens) {
  return {"--model",   TinyModel(), "--state-store",      "memory:",
          "--threads", "1",         "--auth-tokens-file", tokens};
}

TEST(AuthE2eTest, EveryRpcNeedsAValidTokenAndHealthNone) {
  const std::string tokens = TokensFile("e2e_tokens_every", BothTenants());
  auto server = ServerProcess::Start(ServerArgs(tokens));
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = (*server)->Channel();
  const std::vector<std::string> methods = RwkvMethods();
  ASSERT_GE(methods.size(), 9u);
  for (const std::string& method : methods) {
    const grpc::Status none = CallWith(*channel, method, "");
    EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED) << method;
    EXPECT_EQ(none.error_message(), "missing authorization metadata") << method;
    const grpc::Status wrong = CallWith(*channel, method, kWrong);
    EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED) << method;
    EXPECT_EQ(wrong.error_message(), "unknown token") << method;
  }
  auto stub = rwkv::v1::Rwkv::NewStub(channel);
  const std::set<std::string> called = EveryRpcWorksWith(*stub, kAcme);
  // A new RPC fails here until it is called above with a valid token.
  EXPECT_EQ(called, std::set<std::string>(methods.begin(), methods.end()));

  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  Bound(context);
  grpc::health::v1::HealthCheckResponse serving;
  ASSERT_TRUE(health->Check(&context, {}, &serving).ok());
  EXPECT_EQ(serving.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  absl::StatusOr<HttpResponse> metrics = HttpGet((*server)->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  const std::string& body = metrics->body;
  EXPECT_TRUE(absl::StrContains(
      body, absl::StrCat("rwkv_auth_failures_total{reason=\"missing\"} ", methods.size(), "\n")))
      << body;
  EXPECT_TRUE(absl::StrContains(
      body, absl::StrCat("rwkv_auth_failures_total{reason=\"unknown_token\"} ", methods.size())));
  EXPECT_TRUE(absl::StrContains(
      body, "rwkv_tenant_requests_total{method=\"Generate\",tenant=\"acme\"} 1\n"))
      << body;
  EXPECT_TRUE(absl::StrContains(
      body, "rwkv_tenant_requests_total{method=\"DeleteSession\",tenant=\"acme\"} 2\n"));
  EXPECT_TRUE(absl::StrContains(body, "rwkv_tenant_generated_tokens_total{tenant=\"acme\"} 4\n"));
  EXPECT_TRUE(absl::StrContains(
      body, "rwkv_tenant_requests_total{method=\"Generate\",tenant=\"beta\"} 0\n"));

  EXPECT_EQ((*server)->Terminate(absl::Seconds(30)), 0);
  const std::string log = (*server)->Log();
  EXPECT_TRUE(absl::StrContains(log, "error=\"unknown token\"")) << log;
  EXPECT_TRUE(absl::StrContains(log, " peer=ipv4:127.0.0.1:")) << log;
  EXPECT_TRUE(absl::StrContains(log, " tenant=acme ")) << log;
  for (const char* token : {kAcme, kBeta, kWrong}) {
    EXPECT_FALSE(absl::StrContains(log, token)) << log;
  }
  EXPECT_FALSE(absl::StrContains(log, "e2e-token")) << log;
}

TEST(AuthE2eTest, RefusesANonLoopbackAddressWithoutAuthentication) {
  const CommandResult refused = RunCommand(absl::StrCat(ServerBinary(), " --model ", TinyModel(),
                                                        " --state-store memory: --listen 0.0.0.0:0",
                                                        " --metrics-address '' 2>&1"));
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  const std::vector<std::string> lines = absl::StrSplit(refused.output, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u) << refused.output;
  EXPECT_TRUE(absl::StrContains(lines[0], "refusing to serve 0.0.0.0:0 without authentication"))
      << refused.output;
  EXPECT_TRUE(absl::StrContains(lines[0], "--allow-unauthenticated")) << refused.output;

  // A tokens file that cannot be used stops the start too, naming the line.
  const std::string bad = TokensFile("e2e_tokens_bad", absl::StrCat("acme ", kAcme, "\nacme\n"));
  const CommandResult bad_file = RunCommand(absl::StrCat(
      ServerBinary(), " --model ", TinyModel(), " --state-store memory: --listen 127.0.0.1:0",
      " --metrics-address '' --auth-tokens-file ", bad, " 2>&1"));
  EXPECT_EQ(bad_file.exit_code, 1) << bad_file.output;
  EXPECT_TRUE(absl::StrContains(bad_file.output, "line 2: expected TENANT TOKEN"))
      << bad_file.output;
  EXPECT_FALSE(absl::StrContains(bad_file.output, kAcme)) << bad_file.output;
}

TEST(AuthE2eTest, SighupReloadRefusesARemovedTokenWhileItsStreamFinishes) {
  const std::string tokens = TokensFile("e2e_tokens_reload", BothTenants());
  auto server = ServerProcess::Start(ServerArgs(tokens));
  ASSERT_TRUE(server.ok()) << server.status();
  // A small window: the stream stays open (paused on the server) until this test reads it.
  auto channel = FreshChannel((*server)->Address(), /*small_window=*/true);
  auto stub = rwkv::v1::Rwkv::NewStub(channel);
  constexpr int kTokens = 600;
  auto stream_context = With(kBeta);
  auto stream = stub->Generate(stream_context.get(), GreedyRequest("Once", kTokens));
  rwkv::v1::GenerateResponse response;
  ASSERT_TRUE(stream->Read(&response)) << "the stream did not start";

  // beta's token goes; SIGHUP.
  WriteFile(tokens, absl::StrCat("acme ", kAcme, "\n"));
  ASSERT_EQ(kill((*server)->pid(), SIGHUP), 0);
  ASSERT_TRUE((*server)->WaitForLog("SIGHUP: tokens file reloaded: 1 tenants", kWaitLimit))
      << (*server)->Log();
  rwkv::v1::ModelInfo info;
  const grpc::Status removed = stub->GetModelInfo(With(kBeta).get(), {}, &info);
  EXPECT_EQ(removed.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(removed.error_message(), "unknown token");
  EXPECT_TRUE(stub->GetModelInfo(With(kAcme).get(), {}, &info).ok());

  // The stream beta started before the reload finishes whole.
  int tokens_read = response.has_delta() ? response.delta().token_ids_size() : 0;
  bool done = false;
  while (stream->Read(&response)) {
    if (response.has_delta()) tokens_read += response.delta().token_ids_size();
    done = done || response.has_done();
  }
  const grpc::Status finished = stream->Finish();
  EXPECT_TRUE(finished.ok()) << finished.error_message();
  EXPECT_TRUE(done);
  EXPECT_EQ(tokens_read, kTokens);

  // A bad file keeps the table in use, and says so in one line without a token.
  WriteFile(tokens, absl::StrCat("acme ", kAcme, "\nbeta\n"));
  ASSERT_EQ(kill((*server)->pid(), SIGHUP), 0);
  ASSERT_TRUE((*server)->WaitForLog("tokens file not reloaded, the previous one stays", kWaitLimit))
      << (*server)->Log();
  EXPECT_TRUE(stub->GetModelInfo(With(kAcme).get(), {}, &info).ok());
  EXPECT_EQ((*server)->Terminate(absl::Seconds(30)), 0);
  const std::string log = (*server)->Log();
  EXPECT_TRUE(absl::StrContains(log, "line 2: expected TENANT TOKEN")) << log;
  EXPECT_FALSE(absl::StrContains(log, kAcme)) << log;
  EXPECT_FALSE(absl::StrContains(log, kBeta)) << log;
}

TEST(AuthE2eTest, CliAndLoadgenSendTheirToken) {
  const std::string tokens = TokensFile("e2e_tokens_cli", BothTenants());
  auto server = ServerProcess::Start(ServerArgs(tokens));
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string token_file = TempPath("e2e_cli_token");
  WriteFile(token_file, absl::StrCat(kAcme, "\n"));
  const std::string cli = absl::StrCat(RWKV_BIN_DIR, "/rwkv-cli --server ", (*server)->Address());

  const CommandResult none = RunCommand(absl::StrCat("env -u RWKV_AUTH_TOKEN ", cli, " info 2>&1"));
  EXPECT_EQ(none.exit_code, 1) << none.output;
  EXPECT_TRUE(absl::StrContains(none.output, "UNAUTHENTICATED: missing authorization metadata"))
      << none.output;
  const CommandResult with_file =
      RunCommand(absl::StrCat(cli, " --auth-token-file ", token_file, " info 2>&1"));
  EXPECT_EQ(with_file.exit_code, 0) << with_file.output;
  const CommandResult with_env = RunCommand(
      absl::StrCat("RWKV_AUTH_TOKEN=", kBeta, " ", cli, " generate --max-tokens 3 Hi 2>&1"));
  EXPECT_EQ(with_env.exit_code, 0) << with_env.output;
  const CommandResult loadgen = RunCommand(absl::StrCat(
      RWKV_BIN_DIR, "/rwkv-loadgen --server ", (*server)->Address(), " --auth-token-file ",
      token_file, " --sessions 1 --turns 1 --max-tokens 4 2>&1"));
  EXPECT_EQ(loadgen.exit_code, 0) << loadgen.output;
  EXPECT_EQ((*server)->Terminate(absl::Seconds(30)), 0);
}

// With wip-tenant's isolation behind authentication: a valid token of another tenant finds
// nothing of acme's (NOT_FOUND, as for a missing session, so IDs do not leak), lists only its
// own sessions, and may use the same session ID without meeting acme's.
TEST(AuthE2eTest, AnotherTenantsTokenFindsNoneOfItsSessions) {
  const std::string tokens = TokensFile("e2e_tokens_tenants", BothTenants());
  auto server = ServerProcess::Start(ServerArgs(tokens));
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = rwkv::v1::Rwkv::NewStub((*server)->Channel());
  ASSERT_TRUE(GenerateWith(*stub, kAcme, GreedyRequest("Hello", 4, "shared")).ok());

  rwkv::v1::Session session;
  rwkv::v1::GetSessionRequest get;
  get.set_session_id("shared");
  const grpc::Status beta_get = stub->GetSession(With(kBeta).get(), get, &session);
  EXPECT_EQ(beta_get.error_code(), grpc::StatusCode::NOT_FOUND);
  rwkv::v1::GetSessionRequest missing;
  missing.set_session_id("nobody");
  const grpc::Status beta_missing = stub->GetSession(With(kBeta).get(), missing, &session);
  EXPECT_EQ(beta_missing.error_code(), grpc::StatusCode::NOT_FOUND);
  // The same words as for a session that does not exist: nothing tells the two apart.
  EXPECT_EQ(absl::StrReplaceAll(beta_get.error_message(), {{"shared", "X"}}),
            absl::StrReplaceAll(beta_missing.error_message(), {{"nobody", "X"}}));
  rwkv::v1::ForkSessionRequest fork;
  fork.set_source_session_id("shared");
  fork.set_new_session_id("stolen");
  EXPECT_EQ(stub->ForkSession(With(kBeta).get(), fork, &session).error_code(),
            grpc::StatusCode::NOT_FOUND);
  rwkv::v1::DeleteSessionRequest remove;
  remove.set_session_id("shared");
  rwkv::v1::DeleteSessionResponse removed;
  EXPECT_EQ(stub->DeleteSession(With(kBeta).get(), remove, &removed).error_code(),
            grpc::StatusCode::NOT_FOUND);
  rwkv::v1::GenerateRequest resume = GreedyRequest(" again", 2);
  resume.set_session_id("shared");  // no create_session: resume acme's, which beta cannot see
  EXPECT_EQ(GenerateWith(*stub, kBeta, resume).error_code(), grpc::StatusCode::NOT_FOUND);
  rwkv::v1::ListSessionsResponse list;
  ASSERT_TRUE(stub->ListSessions(With(kBeta).get(), {}, &list).ok());
  EXPECT_EQ(list.sessions_size(), 0);

  // beta's own "shared": a session of its own, acme's untouched.
  rwkv::v1::CreateSessionRequest create;
  create.set_session_id("shared");
  ASSERT_TRUE(stub->CreateSession(With(kBeta).get(), create, &session).ok());
  EXPECT_EQ(session.token_count(), 0);
  ASSERT_TRUE(stub->GetSession(With(kAcme).get(), get, &session).ok());
  const int64_t acme_tokens = session.token_count();
  EXPECT_GT(acme_tokens, 0);
  ASSERT_TRUE(stub->DeleteSession(With(kBeta).get(), remove, &removed).ok());
  ASSERT_TRUE(stub->GetSession(With(kAcme).get(), get, &session).ok());
  EXPECT_EQ(session.token_count(), acme_tokens);
  ASSERT_TRUE(stub->ListSessions(With(kAcme).get(), {}, &list).ok());
  ASSERT_EQ(list.sessions_size(), 1);
  EXPECT_EQ(list.sessions(0).id(), "shared");
  // acme's own token still resumes and forks it.
  ASSERT_TRUE(GenerateWith(*stub, kAcme, resume).ok());
  EXPECT_TRUE(stub->ForkSession(With(kAcme).get(), fork, &session).ok());
  EXPECT_EQ((*server)->Terminate(absl::Seconds(30)), 0);
}

}  // namespace
}  // namespace rwkv::testing
