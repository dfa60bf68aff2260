// The OpenAI-compatible HTTP API end to end on the real rwkv-server (--http-address), with
// libcurl as the client: a chat completion whole and streamed (SSE framing exact, the same
// greedy text as the gRPC stream of the same turn), a text completion, /v1/models, errors in
// OpenAI's shape (unknown session 404, bad parameter 400, no token 401), a session continued
// over HTTP after a gRPC turn and the other way round, and a client that hangs up mid-stream
// cancelling the turn (the session stays at its version).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <thread>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/http_client.h"
#include "tests/util/http_get.h"
#include "tests/util/run_command.h"
#include "tests/util/test_certs.h"
#include "tests/util/wait_for.h"

namespace rwkv::testing {
namespace {

using Json = nlohmann::json;

constexpr char kChat[] = "/v1/chat/completions";
constexpr char kCompletions[] = "/v1/completions";

std::unique_ptr<ServerProcess> StartServer(std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--model", TinyModel(), "--state-store", "memory:",
                                   "--http-address", "127.0.0.1:0"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto server = ServerProcess::Start(args);
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return nullptr;
  EXPECT_NE((*server)->http_port(), 0) << (*server)->Log();
  return *std::move(server);
}

Json GreedyChat(const std::string& content, int max_tokens) {
  return {{"model", "tiny"},
          {"messages", {{{"role", "user"}, {"content", content}}}},
          {"max_tokens", max_tokens},
          {"temperature", 0}};
}

// The events of an SSE body, each checked to be exactly "data: <payload>\n\n".
std::vector<std::string> SsePayloads(const std::string& body) {
  std::vector<std::string> payloads;
  EXPECT_TRUE(absl::EndsWith(body, "\n\n")) << body;
  for (absl::string_view event : absl::StrSplit(body, "\n\n", absl::SkipEmpty())) {
    EXPECT_TRUE(absl::StartsWith(event, "data: ")) << event;
    EXPECT_FALSE(absl::StrContains(event, "\n")) << event;
    payloads.emplace_back(event.substr(6));
  }
  return payloads;
}

TEST(OpenAiE2eTest, ChatCompletionWholeAndStreamedAgreeWithGrpc) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const int port = server->http_port();

  auto whole = HttpPost(port, kChat, GreedyChat("hi", 24).dump(), {"x-request-id: e2e-chat-1"});
  ASSERT_TRUE(whole.ok()) << whole.status();
  ASSERT_EQ(whole->status, 200) << whole->body;
  EXPECT_EQ(whole->Header("content-type"), "application/json");
  EXPECT_EQ(whole->Header("x-request-id"), "e2e-chat-1");
  const Json body = Json::parse(whole->body);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["id"], "chatcmpl-e2e-chat-1");
  const std::string text = body["choices"][0]["message"]["content"];
  EXPECT_EQ(body["usage"]["prompt_tokens"], std::string("User: hi\n\nAssistant:").size());
  EXPECT_EQ(body["usage"]["total_tokens"],
            body["usage"]["prompt_tokens"].get<int>() + body["usage"]["completion_tokens"].get<int>());

  Json stream_request = GreedyChat("hi", 24);
  stream_request["stream"] = true;
  stream_request["stream_options"] = {{"include_usage", true}};
  auto streamed = HttpPost(port, kChat, stream_request.dump());
  ASSERT_TRUE(streamed.ok()) << streamed.status();
  ASSERT_EQ(streamed->status, 200) << streamed->body;
  EXPECT_EQ(streamed->Header("content-type"), "text/event-stream");
  const std::vector<std::string> payloads = SsePayloads(streamed->body);
  ASSERT_GE(payloads.size(), 4u);
  EXPECT_EQ(payloads.back(), "[DONE]");
  std::string streamed_text;
  for (size_t i = 0; i + 3 < payloads.size(); ++i) {
    const Json chunk = Json::parse(payloads[i]);
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    EXPECT_EQ(chunk["choices"][0]["finish_reason"], nullptr);
    if (i == 0) {
      EXPECT_EQ(chunk["choices"][0]["delta"]["role"], "assistant");
    }
    streamed_text += chunk["choices"][0]["delta"]["content"].get<std::string>();
  }
  const Json last = Json::parse(payloads[payloads.size() - 3]);
  EXPECT_EQ(last["choices"][0]["finish_reason"], body["choices"][0]["finish_reason"]);
  const Json usage = Json::parse(payloads[payloads.size() - 2]);
  EXPECT_EQ(usage["choices"], Json::array());
  EXPECT_EQ(usage["usage"], body["usage"]);
  EXPECT_EQ(streamed_text, text);

  // The same turn over gRPC: the chat format's prompt and stop string, greedy.
  auto stub = rwkv::v1::Rwkv::NewStub(server->Channel());
  rwkv::v1::GenerateRequest grpc_request = GreedyRequest("User: hi\n\nAssistant:", 24);
  grpc_request.mutable_stop()->add_stop_strings("\n\nUser:");
  const StreamResult grpc = Generate(*stub, grpc_request);
  ASSERT_TRUE(grpc.status.ok()) << grpc.status.error_message();
  EXPECT_EQ(grpc.text, text);
  EXPECT_TRUE(server->WaitForLog("POST /v1/chat/completions request_id=e2e-chat-1",
                                 absl::Seconds(30)))
      << server->Log();
  // Counted like the RPCs, under the route's name (when each call's log line is written).
  const std::string counted =
      "rwkv_requests_total{code=\"OK\",method=\"POST /v1/chat/completions\"}";
  EXPECT_TRUE(WaitFor(kWaitLimit, [&] { return ScrapedMetric(server->metrics_port(), counted) == 2; }))
      << ScrapedMetric(server->metrics_port(), counted);
}

// What `curl -N` (no buffering, as people try a stream by hand) sees: the exact events, and
// the same text as the whole response.
TEST(OpenAiE2eTest, CurlStreamsEventByEvent) {
  if (RunCommand("command -v curl").exit_code != 0) GTEST_SKIP() << "no curl";
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const std::string url = absl::StrCat("http://127.0.0.1:", server->http_port(), kCompletions);
  const CommandResult streamed = RunCommand(absl::StrCat(
      "curl -sS -N --max-time 60 ", url,
      R"( -d '{"prompt": "Once", "max_tokens": 12, "temperature": 0, "stream": true}')"));
  ASSERT_EQ(streamed.exit_code, 0) << streamed.output;
  const std::vector<std::string> payloads = SsePayloads(streamed.output);
  ASSERT_GE(payloads.size(), 3u) << streamed.output;
  EXPECT_EQ(payloads.back(), "[DONE]");
  std::string text;
  for (size_t i = 0; i + 2 < payloads.size(); ++i) {
    text += Json::parse(payloads[i])["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(Json::parse(payloads[payloads.size() - 2])["choices"][0]["finish_reason"], "length");
  const CommandResult whole = RunCommand(absl::StrCat(
      "curl -sS --max-time 60 ", url,
      R"( -d '{"prompt": "Once", "max_tokens": 12, "temperature": 0}')"));
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  EXPECT_EQ(Json::parse(whole.output)["choices"][0]["text"], text);
}

TEST(OpenAiE2eTest, TextCompletionAndModels) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto completion = HttpPost(server->http_port(), kCompletions,
                             R"({"prompt": "Once upon", "max_tokens": 5, "temperature": 0})");
  ASSERT_TRUE(completion.ok()) << completion.status();
  ASSERT_EQ(completion->status, 200) << completion->body;
  const Json body = Json::parse(completion->body);
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(body["usage"]["completion_tokens"], 5);

  HttpCall models_call;
  models_call.path = "/v1/models";
  auto models = HttpRequest(server->http_port(), models_call);
  ASSERT_TRUE(models.ok()) << models.status();
  ASSERT_EQ(models->status, 200) << models->body;
  const Json list = Json::parse(models->body);
  ASSERT_EQ(list["data"].size(), 1u);
  EXPECT_EQ(list["data"][0]["id"], "tiny-rwkv-7v0-834K-FP32.bin");
  EXPECT_EQ(list["data"][0]["fingerprint"].get<std::string>().size(), 16u);
}

TEST(OpenAiE2eTest, ErrorsHaveOpenAisShape) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const int port = server->http_port();
  Json unknown = GreedyChat("hi", 4);
  unknown["session_id"] = "no-such-session";
  auto missing = HttpPost(port, kChat, unknown.dump());
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(missing->status, 404) << missing->body;
  const Json not_found = Json::parse(missing->body);
  EXPECT_EQ(not_found["error"]["code"], "not_found");
  EXPECT_EQ(not_found["error"]["type"], "invalid_request_error");
  EXPECT_TRUE(not_found["error"].contains("param"));

  Json bad = GreedyChat("hi", 4);
  bad["temperature"] = "hot";
  auto refused = HttpPost(port, kChat, bad.dump());
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->status, 400) << refused->body;
  EXPECT_EQ(Json::parse(refused->body)["error"]["param"], "temperature");

  Json two = GreedyChat("hi", 4);
  two["n"] = 2;
  auto n = HttpPost(port, kChat, two.dump());
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->status, 400);
  EXPECT_EQ(Json::parse(n->body)["error"]["param"], "n");

  auto path = HttpPost(port, "/v1/embeddings", "{}");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(path->status, 404);

  // Past --max-request-bytes (8 MiB by default).
  const Json huge = {{"prompt", std::string(9 << 20, 'a')}};
  auto too_large = HttpPost(port, kCompletions, huge.dump(), {"x-request-id: e2e-too-large"});
  ASSERT_TRUE(too_large.ok()) << too_large.status();
  EXPECT_EQ(too_large->status, 413) << too_large->body;
  EXPECT_EQ(Json::parse(too_large->body)["error"]["type"], "invalid_request_error");
  EXPECT_TRUE(server->WaitForLog("request_id=e2e-too-large status=INVALID_ARGUMENT",
                                 absl::Seconds(30)))
      << server->Log();
}

TEST(OpenAiE2eTest, BearerTokensAsForGrpc) {
  const std::string tokens = ::testing::TempDir() + "/openai_e2e_tokens";
  std::ofstream(tokens, std::ios::trunc) << "acme openai-e2e-token-0123456789\n";
  auto server = StartServer({"--auth-tokens-file", tokens});
  ASSERT_NE(server, nullptr);
  auto none = HttpPost(server->http_port(), kChat, GreedyChat("hi", 2).dump());
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->status, 401) << none->body;
  EXPECT_EQ(Json::parse(none->body)["error"]["type"], "authentication_error");
  auto with = HttpPost(server->http_port(), kChat, GreedyChat("hi", 2).dump(),
                       {"Authorization: Bearer openai-e2e-token-0123456789"});
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_EQ(with->status, 200) << with->body;
  // The log line comes once the exchange has closed, after the client has its answer.
  EXPECT_TRUE(server->WaitForLog("tenant=acme", absl::Seconds(30))) << server->Log();
}

TEST(OpenAiE2eTest, HttpsWithTheServersCertificate) {
  const std::string dir = ::testing::TempDir() + "/openai_e2e_certs";
  absl::StatusOr<TestCerts> certs = MakeTestCerts(dir);
  ASSERT_TRUE(certs.ok()) << certs.status();
  auto server = StartServer(
      {"--tls-cert-file", certs->server_cert, "--tls-key-file", certs->server_key});
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(absl::StrContains(server->Log(), ", TLS): /v1/models")) << server->Log();
  HttpCall call;
  call.method = "POST";
  call.path = kCompletions;
  call.body = R"({"prompt": "Once", "max_tokens": 4, "temperature": 0})";
  call.headers = {"Content-Type: application/json"};
  call.ca_file = certs->ca_cert;
  auto tls = HttpRequest(server->http_port(), call);
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_EQ(tls->status, 200) << tls->body;
  // Plain HTTP gets no answer from the TLS port.
  call.ca_file.clear();
  call.timeout = absl::Seconds(5);
  auto plain = HttpRequest(server->http_port(), call);
  EXPECT_TRUE(!plain.ok() || plain->status != 200);

  // Mutual TLS is not offered over HTTP: refused at start rather than bypassed.
  const CommandResult refused = RunCommand(absl::StrCat(
      ServerBinary(), " --model ", TinyModel(), " --state-store memory: --listen 127.0.0.1:0",
      " --metrics-address '' --http-address 127.0.0.1:0 --tls-cert-file ", certs->server_cert,
      " --tls-key-file ", certs->server_key, " --tls-client-ca-file ", certs->ca_cert, " 2>&1"));
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_TRUE(absl::StrContains(refused.output, "does not support mutual TLS")) << refused.output;
}

TEST(OpenAiE2eTest, SessionContinuesAcrossProtocols) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto stub = rwkv::v1::Rwkv::NewStub(server->Channel());
  // gRPC creates the session (version 1) ...
  const StreamResult first = Generate(*stub, GreedyRequest("Hello", 4, "cross-1"));
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  ASSERT_EQ(first.done.session().version(), 1);
  const int64_t after_first = first.done.session().token_count();

  // ... HTTP continues it, sending only the new text (the session ID as a header) ...
  auto second = HttpPost(server->http_port(), kCompletions,
                         R"({"prompt": " world", "max_tokens": 3, "temperature": 0,
                             "expected_version": 1})",
                         {"x-session-id: cross-1"});
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->status, 200) << second->body;
  const Json body = Json::parse(second->body);
  EXPECT_EQ(body["session"]["id"], "cross-1");
  EXPECT_EQ(body["session"]["version"], 2);
  EXPECT_EQ(body["session"]["token_count"], after_first + 6 + 3);

  // ... a stale expected_version is a conflict ...
  auto stale = HttpPost(server->http_port(), kCompletions,
                        R"({"prompt": "x", "session_id": "cross-1", "expected_version": 1})");
  ASSERT_TRUE(stale.ok()) << stale.status();
  EXPECT_EQ(stale->status, 409) << stale->body;

  // ... and gRPC goes on from what HTTP committed.
  rwkv::v1::GenerateRequest third = GreedyRequest("!", 2, "cross-1");
  third.set_expected_version(2);
  const StreamResult result = Generate(*stub, third);
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.done.session().version(), 3);
}

TEST(OpenAiE2eTest, ChatOnASessionSendsOnlyTheNewMessage) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  Json first = GreedyChat("hi", 4);
  first["session_id"] = "chat-e2e";
  first["create_session"] = true;
  auto one = HttpPost(server->http_port(), kChat, first.dump());
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_EQ(one->status, 200) << one->body;
  const Json body_one = Json::parse(one->body);
  // A new session: the first message framed as the whole chat's start.
  EXPECT_EQ(body_one["usage"]["prompt_tokens"], std::string("User: hi\n\nAssistant:").size());
  EXPECT_EQ(body_one["session"]["version"], 1);

  Json second = GreedyChat("and you?", 4);
  second["expected_version"] = 1;
  auto two = HttpPost(server->http_port(), kChat, second.dump(), {"x-session-id: chat-e2e"});
  ASSERT_TRUE(two.ok()) << two.status();
  ASSERT_EQ(two->status, 200) << two->body;
  const Json body_two = Json::parse(two->body);
  // The first reply ended by length (4 tokens), not at "\n\nUser:": a new user turn follows it.
  ASSERT_EQ(body_one["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(body_two["usage"]["prompt_tokens"],
            std::string("\n\nUser: and you?\n\nAssistant:").size());
  EXPECT_EQ(body_two["session"]["version"], 2);
  EXPECT_EQ(body_two["session"]["token_count"],
            body_one["session"]["token_count"].get<int>() +
                body_two["usage"]["total_tokens"].get<int>());
}

TEST(OpenAiE2eTest, HangingUpMidStreamCancelsTheTurn) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto stub = rwkv::v1::Rwkv::NewStub(server->Channel());
  const StreamResult created = Generate(*stub, GreedyRequest("Hello", 2, "hang-up"));
  ASSERT_TRUE(created.status.ok()) << created.status.error_message();

  HttpCall call;
  call.method = "POST";
  call.path = kCompletions;
  call.body = R"({"prompt": "Once", "max_tokens": 4000, "temperature": 0, "stream": true,
                  "session_id": "hang-up"})";
  call.headers = {"Content-Type: application/json", "x-request-id: e2e-hang-up"};
  call.hang_up_after = 400;
  auto stream = HttpRequest(server->http_port(), call);
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_EQ(stream->status, 200);
  ASSERT_TRUE(server->WaitForLog("request_id=e2e-hang-up session=hang-up", absl::Seconds(30)))
      << server->Log();
  EXPECT_TRUE(absl::StrContains(server->Log(), "status=CANCELLED")) << server->Log();
  rwkv::v1::Session session;
  ASSERT_TRUE(GetSession(*stub, "hang-up", &session).ok());
  EXPECT_EQ(session.version(), 1);  // CANCEL_POLICY_DISCARD: nothing of the turn was kept
}

TEST(OpenAiE2eTest, HangingUpOnAWholeResponseCancelsTheTurn) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto stub = rwkv::v1::Rwkv::NewStub(server->Channel());
  const StreamResult created = Generate(*stub, GreedyRequest("Hello", 2, "hang-up-whole"));
  ASSERT_TRUE(created.status.ok()) << created.status.error_message();

  // The client gives up long before 4000 tokens are generated; nothing was sent to it yet.
  HttpCall call;
  call.method = "POST";
  call.path = kCompletions;
  call.body = R"({"prompt": "Once", "max_tokens": 4000, "temperature": 0,
                  "session_id": "hang-up-whole"})";
  call.headers = {"Content-Type: application/json", "x-request-id: e2e-hang-up-whole"};
  call.timeout = absl::Milliseconds(200);
  EXPECT_FALSE(HttpRequest(server->http_port(), call).ok());
  ASSERT_TRUE(server->WaitForLog("request_id=e2e-hang-up-whole session=hang-up-whole",
                                 absl::Seconds(30)))
      << server->Log();
  EXPECT_TRUE(absl::StrContains(server->Log(), "status=CANCELLED")) << server->Log();
  rwkv::v1::Session session;
  ASSERT_TRUE(GetSession(*stub, "hang-up-whole", &session).ok());
  EXPECT_EQ(session.version(), 1);
}

TEST(OpenAiE2eTest, DrainEndsARunningStreamCleanly) {
  auto server = StartServer({"--drain-timeout", "2s", "--max-new-tokens", "1000000"});
  ASSERT_NE(server, nullptr);
  absl::StatusOr<HttpResult> stream;
  std::thread client([&] {
    HttpCall call;
    call.method = "POST";
    call.path = kCompletions;
    call.body = R"({"prompt": "Once", "max_tokens": 1000000, "temperature": 0, "stream": true})";
    call.headers = {"Content-Type: application/json"};
    stream = HttpRequest(server->http_port(), call);
  });
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] {
    return ScrapedMetric(server->metrics_port(), "rwkv_running_sequences") == 1;
  }));
  // The turn cannot finish within the drain: it is rolled back, and the stream ends with an
  // error event (no [DONE]) instead of being cut.
  EXPECT_EQ(server->Terminate(kWaitLimit), 0) << server->Log();
  client.join();
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_EQ(stream->status, 200);
  const std::vector<std::string> payloads = SsePayloads(stream->body);
  ASSERT_FALSE(payloads.empty());
  EXPECT_NE(payloads.back(), "[DONE]");
  EXPECT_EQ(Json::parse(payloads.back())["error"]["code"], "unavailable") << payloads.back();
}

// Opens a streamed completion on a socket with a tiny receive buffer and never reads it.
int OpenUnreadStream(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  const int small = 1024;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return -1;
  }
  const std::string body =
      R"({"prompt": "stall", "max_tokens": 1000000, "temperature": 0, "stream": true})";
  const std::string request = absl::StrCat(
      "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "x-request-id: e2e-unread\r\nContent-Length: ",
      body.size(), "\r\n\r\n", body);
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return -1;
  }
  return fd;
}

TEST(OpenAiE2eTest, PastTheStateBudgetA429) {
  // Room for two turns' states (the tiny model's 198 KiB each, plus buffers), not three.
  auto server = StartServer({"--max-inflight-state-bytes", "600000", "--max-prompt-tokens", "256",
                             "--max-new-tokens", "1000000"});
  ASSERT_NE(server, nullptr);
  std::vector<int> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(OpenUnreadStream(server->http_port()));
    ASSERT_GE(held.back(), 0);
  }
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] {
    return ScrapedMetric(server->metrics_port(), "rwkv_running_sequences") == 2;
  }));
  auto refused = HttpPost(server->http_port(), kCompletions, R"({"prompt": "x", "max_tokens": 2})");
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->status, 429) << refused->body;
  const Json error = Json::parse(refused->body)["error"];
  EXPECT_EQ(error["type"], "rate_limit_error");
  EXPECT_EQ(error["code"], "resource_exhausted");
  EXPECT_TRUE(absl::StrContains(error["message"].get<std::string>(), "--max-inflight-state-bytes"))
      << error;
  for (int fd : held) close(fd);
}

TEST(OpenAiE2eTest, AnUnreadStreamStallsOnlyItself) {
  auto server = StartServer({"--stream-stall-timeout", "2s", "--max-new-tokens", "1000000"});
  ASSERT_NE(server, nullptr);
  constexpr int kUnread = 4;
  std::vector<int> sockets;
  for (int i = 0; i < kUnread; ++i) {
    sockets.push_back(OpenUnreadStream(server->http_port()));
    ASSERT_GE(sockets.back(), 0);
  }
  // While they are stuck (their turns paused, then ended), everyone else is served.
  for (int i = 0; i < 3; ++i) {
    auto served = HttpPost(server->http_port(), kCompletions,
                           R"({"prompt": "Once", "max_tokens": 8, "temperature": 0})");
    ASSERT_TRUE(served.ok()) << served.status();
    EXPECT_EQ(served->status, 200) << served->body;
  }
  // Each unread stream ends (the stall timeout, or its connection timing out) and is logged.
  EXPECT_TRUE(WaitFor(kWaitLimit, [&] {
    const std::string log = server->Log();
    int ended = 0;
    for (absl::string_view line : absl::StrSplit(log, '\n')) {
      if (absl::StrContains(line, "request_id=e2e-unread") &&
          (absl::StrContains(line, "DEADLINE_EXCEEDED") || absl::StrContains(line, "CANCELLED"))) {
        ++ended;
      }
    }
    return ended == kUnread;
  })) << server->Log();
  for (int fd : sockets) close(fd);
  EXPECT_EQ(server->Terminate(absl::Seconds(30)), 0);
}

}  // namespace
}  // namespace rwkv::testing
