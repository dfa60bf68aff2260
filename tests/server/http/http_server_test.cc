// HttpServer and HttpExchange over real loopback sockets (libcurl as the client): a whole
// response, a stream written from another thread after the handler has returned, keep-alive,
// the body limit, back-pressure callbacks, a client that hangs up (while streamed to, or while
// waiting for its answer), and a stop with exchanges still waiting for their answer.
#include "server/http/http_server.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "tests/util/http_client.h"
#include "tests/util/wait_for.h"

namespace rwkv::server::http {
namespace {

using ::rwkv::testing::HttpCall;
using ::rwkv::testing::HttpPost;
using ::rwkv::testing::HttpResult;
using ::rwkv::testing::kWaitLimit;
using ::rwkv::testing::WaitFor;

std::unique_ptr<HttpServer> StartServer(HttpServer::Handler handler, size_t max_body = 1 << 20) {
  HttpServer::Options options;
  options.address = "127.0.0.1:0";
  options.handler = std::move(handler);
  options.max_body_bytes = max_body;
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(std::move(options));
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

TEST(ListenAddressTest, PortAloneIsLoopback) {
  for (const char* address : {":8080", "8080", "localhost:8080"}) {
    absl::StatusOr<ListenAddress> parsed = ParseListenAddress(address);
    ASSERT_TRUE(parsed.ok()) << address << ": " << parsed.status();
    EXPECT_EQ(parsed->host, "127.0.0.1");
    EXPECT_EQ(parsed->port, 8080);
  }
  absl::StatusOr<ListenAddress> v6 = ParseListenAddress("[::1]:0");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_TRUE(v6->ipv6);
  EXPECT_EQ(v6->host, "::1");
  for (const char* bad : {"", "host:80", "1.2.3.4:99999", "1.2.3.4:x", "[::1:80"}) {
    EXPECT_EQ(ParseListenAddress(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(HttpServerTest, WholeResponsesOverOneServer) {
  auto server = StartServer([](HttpRequest request, std::shared_ptr<HttpExchange> exchange) {
    exchange->Respond(200, "text/plain",
                      request.method + " " + request.path + " " + request.body + " " +
                          std::string(request.Header("x-test")),
                      {{"x-echo", "yes"}});
  });
  ASSERT_NE(server, nullptr);
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<HttpResult> result =
        HttpPost(server->port(), "/p?q=1", "body", {"X-Test: header"});
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->status, 200);
    EXPECT_EQ(result->body, "POST /p body header");  // the query is not part of the path
    EXPECT_EQ(result->Header("x-echo"), "yes");
  }
}

TEST(HttpServerTest, StreamWrittenFromAnotherThread) {
  std::vector<std::thread> writers;
  absl::Mutex mu;
  auto server = StartServer([&](HttpRequest, std::shared_ptr<HttpExchange> exchange) {
    absl::MutexLock lock(&mu);
    // The handler returns at once; the answer comes later, from elsewhere.
    writers.emplace_back([exchange] {
      absl::SleepFor(absl::Milliseconds(20));
      exchange->StartStream(200, "text/event-stream");
      for (int i = 0; i < 100; ++i) {
        exchange->Write("data: " + std::to_string(i) + "\n\n");
        if (i % 10 == 0) absl::SleepFor(absl::Milliseconds(1));
      }
      exchange->EndStream();
    });
  });
  ASSERT_NE(server, nullptr);
  absl::StatusOr<HttpResult> result = HttpPost(server->port(), "/stream", "");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->Header("content-type"), "text/event-stream");
  std::string expected;
  for (int i = 0; i < 100; ++i) expected += "data: " + std::to_string(i) + "\n\n";
  EXPECT_EQ(result->body, expected);
  absl::MutexLock lock(&mu);
  for (std::thread& writer : writers) writer.join();
}

TEST(HttpServerTest, OversizedBodyIsFlagged) {
  auto server = StartServer(
      [](HttpRequest request, std::shared_ptr<HttpExchange> exchange) {
        exchange->Respond(request.body_too_large ? 413 : 200, "text/plain",
                          std::to_string(request.body.size()));
      },
      /*max_body=*/1000);
  ASSERT_NE(server, nullptr);
  absl::StatusOr<HttpResult> small = HttpPost(server->port(), "/", std::string(1000, 'a'));
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(small->status, 200);
  EXPECT_EQ(small->body, "1000");
  absl::StatusOr<HttpResult> large = HttpPost(server->port(), "/", std::string(5000, 'a'));
  ASSERT_TRUE(large.ok()) << large.status();
  EXPECT_EQ(large->status, 413);
  EXPECT_EQ(large->body, "0");
}

TEST(HttpServerTest, HangUpRunsClosedAndDrainedRunsAfterTheHighWaterMark) {
  std::atomic<int> closed{0};
  std::atomic<int> drained{0};
  std::shared_ptr<HttpExchange> kept;
  absl::Notification handled;
  auto server = StartServer([&](HttpRequest, std::shared_ptr<HttpExchange> exchange) {
    ASSERT_TRUE(exchange->SetCallbacks({[&] { ++closed; }, [&] { ++drained; }}));
    exchange->StartStream(200, "text/plain");
    exchange->Write(std::string(HttpExchange::kHighWaterBytes, 'x'));  // full: read, then drained
    kept = exchange;
    handled.Notify();
  });
  ASSERT_NE(server, nullptr);
  HttpCall call;
  call.path = "/";
  call.hang_up_after = HttpExchange::kHighWaterBytes;
  absl::StatusOr<HttpResult> result = rwkv::testing::HttpRequest(server->port(), call);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(handled.WaitForNotificationWithTimeout(kWaitLimit));
  EXPECT_TRUE(WaitFor(kWaitLimit, [&] { return drained.load() == 1; }));
  // The client has gone; the next write finds out.
  EXPECT_TRUE(WaitFor(kWaitLimit, [&] {
    kept->Write("more");
    return closed.load() == 1;
  }));
  EXPECT_FALSE(kept->Write("after"));
  EXPECT_FALSE(kept->SetCallbacks({}));
}

TEST(HttpServerTest, ClientThatLeavesBeforeTheAnswerRunsClosed) {
  // The handler never answers (a turn still in its prefill): the connection waits suspended,
  // unwatched by libmicrohttpd, and only the server's watchdog can see the client go.
  std::atomic<int> closed{0};
  std::vector<std::shared_ptr<HttpExchange>> waiting;
  absl::Mutex mu;
  auto server = StartServer([&](HttpRequest, std::shared_ptr<HttpExchange> exchange) {
    ASSERT_TRUE(exchange->SetCallbacks({[&] { ++closed; }, nullptr}));
    absl::MutexLock lock(&mu);
    waiting.push_back(std::move(exchange));
  });
  ASSERT_NE(server, nullptr);
  HttpCall call;
  call.method = "POST";
  call.path = "/";
  call.body = "{}";
  call.timeout = absl::Seconds(1);  // the client gives up and closes its socket
  EXPECT_FALSE(rwkv::testing::HttpRequest(server->port(), call).ok());
  EXPECT_TRUE(WaitFor(kWaitLimit, [&] { return closed.load() == 1; }));
  {
    absl::MutexLock lock(&mu);
    ASSERT_EQ(waiting.size(), 1u);
    EXPECT_FALSE(waiting[0]->SetCallbacks({}));  // gone: a late owner learns it at once
    waiting[0]->Respond(200, "text/plain", "late\n");  // harmless
  }
  server.reset();
  EXPECT_EQ(closed.load(), 1);  // once, not again at the stop
}

TEST(HttpServerTest, StopEndsExchangesStillWaiting) {
  std::atomic<int> closed{0};
  std::vector<std::shared_ptr<HttpExchange>> waiting;
  absl::Mutex mu;
  auto server = StartServer([&](HttpRequest, std::shared_ptr<HttpExchange> exchange) {
    exchange->SetCallbacks({[&] { ++closed; }, nullptr});
    absl::MutexLock lock(&mu);
    waiting.push_back(std::move(exchange));  // never answered
  });
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  std::vector<std::thread> clients;
  std::atomic<int> answered{0};
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back([port, &answered] {
      absl::StatusOr<HttpResult> result = HttpPost(port, "/", "");
      if (result.ok()) ++answered;
    });
  }
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] {
    absl::MutexLock lock(&mu);
    return waiting.size() == 3;
  }));
  server.reset();  // must not hang on the suspended connections
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(closed.load(), 3);
  EXPECT_EQ(answered.load(), 3);  // 503, the server is shutting down
  absl::MutexLock lock(&mu);
  for (const auto& exchange : waiting) EXPECT_FALSE(exchange->Write("late"));
}

}  // namespace
}  // namespace rwkv::server::http
