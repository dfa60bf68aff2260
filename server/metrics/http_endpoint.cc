#include "server/metrics/http_endpoint.h"

#include <CivetServer.h>

#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace rwkv::server::metrics {
namespace {

constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";
constexpr char kTextContentType[] = "text/plain; charset=utf-8";

void Respond(mg_connection* conn, int code, absl::string_view reason,
             absl::string_view content_type, absl::string_view body) {
  const std::string head =
      absl::StrCat("HTTP/1.1 ", code, " ", reason, "\r\nContent-Type: ", content_type,
                   "\r\nContent-Length: ", body.size(), "\r\nCache-Control: no-store\r\n\r\n");
  mg_write(conn, head.data(), head.size());
  mg_write(conn, body.data(), body.size());
}

// Answers GET with whatever `respond` writes.
class FunctionHandler final : public CivetHandler {
 public:
  explicit FunctionHandler(std::function<void(mg_connection*)> respond)
      : respond_(std::move(respond)) {}
  bool handleGet(CivetServer* server, mg_connection* conn) override {
    respond_(conn);
    return true;
  }

 private:
  const std::function<void(mg_connection*)> respond_;
};

absl::Status CheckAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(absl::string_view(address).substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address must be IP:PORT (port 0: any free port), got \"", address,
                     "\""));
  }
  return absl::OkStatus();
}

// A worker serves one connection from accept to close, so these bound how long an idle or
// trickling client can keep one (see the header).
std::vector<std::string> CivetOptions(const HttpEndpoint::Options& o) {
  return {"listening_ports", o.address,
          "num_threads", absl::StrCat(o.threads),
          "request_timeout_ms", absl::StrCat(absl::ToInt64Milliseconds(o.request_timeout)),
          "enable_keep_alive", "no"};
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(Options options) {
  if (!options.metrics || !options.ready || options.threads < 1 ||
      options.request_timeout < absl::Milliseconds(1)) {
    return absl::InvalidArgumentError(
        "HttpEndpoint needs metrics, ready, threads >= 1 and request_timeout >= 1ms");
  }
  if (absl::Status status = CheckAddress(options.address); !status.ok()) return status;
  auto endpoint = std::unique_ptr<HttpEndpoint>(new HttpEndpoint());
  endpoint->options_ = std::move(options);
  const Options& o = endpoint->options_;
  endpoint->metrics_handler_ = std::make_unique<FunctionHandler>([&o](mg_connection* conn) {
    Respond(conn, 200, "OK", kMetricsContentType, o.metrics());
  });
  endpoint->healthz_handler_ = std::make_unique<FunctionHandler>(
      [](mg_connection* conn) { Respond(conn, 200, "OK", kTextContentType, "ok\n"); });
  endpoint->readyz_handler_ = std::make_unique<FunctionHandler>([&o](mg_connection* conn) {
    if (o.ready()) {
      Respond(conn, 200, "OK", kTextContentType, "ready\n");
    } else {
      Respond(conn, 503, "Service Unavailable", kTextContentType, "not ready\n");
    }
  });
  const std::vector<std::string> civet_options = CivetOptions(o);
  try {
    // civetweb reports a failed start only by throwing; nothing else here throws.
    endpoint->server_ = std::make_unique<CivetServer>(civet_options);
  } catch (const CivetException& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", o.address, ": ", e.what()));
  }
  endpoint->server_->addHandler("/metrics", endpoint->metrics_handler_.get());
  endpoint->server_->addHandler("/healthz", endpoint->healthz_handler_.get());
  endpoint->server_->addHandler("/readyz", endpoint->readyz_handler_.get());
  const std::vector<int> ports = endpoint->server_->getListeningPorts();
  if (ports.empty() || ports[0] <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", o.address));
  }
  endpoint->port_ = ports[0];
  return endpoint;
}

HttpEndpoint::~HttpEndpoint() {
  // Stops the listener and waits for requests in progress, which use the handlers.
  server_.reset();
}

}  // namespace rwkv::server::metrics
