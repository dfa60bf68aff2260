// HttpEndpoint under idle connections: clients that connect and send nothing, or half a request,
// must not keep /healthz and /readyz from answering (an orchestrator would restart a healthy
// server), and the endpoint drops them once its request timeout passes.
#include "server/metrics/http_endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/util/http_get.h"

namespace rwkv::server::metrics {
namespace {

using rwkv::testing::HttpGet;
using rwkv::testing::HttpResponse;

// Far above the endpoint's request timeout (2 s), below civetweb's own default (30 s) that
// applied before it was set, so a probe stuck behind idle connections fails instead of hanging.
constexpr absl::Duration kProbeGuard = absl::Seconds(20);
// For the server to drop an idle connection; a hang guard only.
constexpr absl::Duration kCloseGuard = absl::Seconds(60);

// A TCP connection to 127.0.0.1:port that sends `prefix` (maybe nothing) and then stays idle.
class IdleConnection {
 public:
  static std::unique_ptr<IdleConnection> Open(int port, const std::string& prefix) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return nullptr;
    auto connection = std::unique_ptr<IdleConnection>(new IdleConnection(fd));
    sockaddr_in address;
    std::memset(&address, 0, sizeof(address));
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
      return nullptr;
    }
    if (!prefix.empty() &&
        send(fd, prefix.data(), prefix.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(prefix.size())) {
      return nullptr;
    }
    return connection;
  }
  ~IdleConnection() { close(fd_); }

  // Whether the server closed the connection (EOF or reset) before `deadline`; whatever it
  // wrote first (a 408, say) is skipped.
  bool ClosedByServer(absl::Time deadline) {
    char buffer[512];
    for (;;) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      pollfd p = {fd_, POLLIN, 0};
      const int ready = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
      if (ready < 0) return false;
      if (ready == 0) continue;
      if (recv(fd_, buffer, sizeof(buffer), 0) <= 0) return true;
    }
  }

 private:
  explicit IdleConnection(int fd) : fd_(fd) {}
  const int fd_;
};

std::unique_ptr<HttpEndpoint> StartEndpoint(HttpEndpoint::Options options) {
  options.address = "127.0.0.1:0";
  options.metrics = [] { return std::string("rwkv_test_metric 1\n"); };
  options.ready = [] { return true; };
  absl::StatusOr<std::unique_ptr<HttpEndpoint>> endpoint = HttpEndpoint::Start(options);
  EXPECT_TRUE(endpoint.ok()) << endpoint.status();
  return endpoint.ok() ? *std::move(endpoint) : nullptr;
}

TEST(HttpEndpointIdleTest, ProbesAnswerWhileMoreIdleConnectionsThanWorkersAreOpen) {
  const HttpEndpoint::Options defaults;
  std::unique_ptr<HttpEndpoint> endpoint = StartEndpoint(defaults);
  ASSERT_NE(endpoint, nullptr);
  const int port = endpoint->port();
  // More than the workers: half send nothing, half stop in the middle of their headers.
  const int idle_count = defaults.threads + 4;
  std::vector<std::unique_ptr<IdleConnection>> idle;
  for (int i = 0; i < idle_count; ++i) {
    const std::string prefix = i % 2 == 0 ? "" : "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    idle.push_back(IdleConnection::Open(port, prefix));
    ASSERT_NE(idle.back(), nullptr) << "connection " << i;
  }

  for (const char* path : {"/healthz", "/readyz"}) {
    absl::StatusOr<HttpResponse> probe = HttpGet(port, path, kProbeGuard);
    ASSERT_TRUE(probe.ok()) << path << " did not answer behind " << idle_count
                            << " idle connections: " << probe.status();
    EXPECT_EQ(probe->status, 200) << path;
  }
  // The idle connections are dropped, not kept until they close themselves.
  const absl::Time deadline = absl::Now() + kCloseGuard;
  for (int i = 0; i < idle_count; ++i) {
    EXPECT_TRUE(idle[i]->ClosedByServer(deadline)) << "idle connection " << i << " still open";
  }
  EXPECT_EQ(HttpGet(port, "/healthz", kProbeGuard)->status, 200);
}

TEST(HttpEndpointIdleTest, OneWorkerServesProbesBetweenIdleConnections) {
  // The timeout alone bounds the wait: one worker, several idle connections queued before the
  // probe, each dropped in turn.
  HttpEndpoint::Options options;
  options.threads = 1;
  options.request_timeout = absl::Milliseconds(200);
  std::unique_ptr<HttpEndpoint> endpoint = StartEndpoint(options);
  ASSERT_NE(endpoint, nullptr);
  std::vector<std::unique_ptr<IdleConnection>> idle;
  for (int i = 0; i < 5; ++i) {
    idle.push_back(IdleConnection::Open(endpoint->port(), i % 2 == 0 ? "" : "GET /hea"));
    ASSERT_NE(idle.back(), nullptr) << "connection " << i;
  }
  absl::StatusOr<HttpResponse> probe = HttpGet(endpoint->port(), "/healthz", kProbeGuard);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->status, 200);
}

TEST(HttpEndpointIdleTest, RejectsBadLimits) {
  HttpEndpoint::Options options;
  options.address = "127.0.0.1:0";
  options.metrics = [] { return std::string(); };
  options.ready = [] { return true; };
  options.threads = 0;
  EXPECT_EQ(HttpEndpoint::Start(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.threads = 1;
  options.request_timeout = absl::ZeroDuration();
  const absl::Status status = HttpEndpoint::Start(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("request_timeout"), absl::string_view::npos) << status;
}

}  // namespace
}  // namespace rwkv::server::metrics
