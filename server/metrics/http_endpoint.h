// HttpEndpoint: the small HTTP server beside gRPC (on --metrics-address) for Prometheus, load
// balancers and Kubernetes probes:
//
//   GET /metrics  200, the text exposition format
//   GET /healthz  200 "ok" while the process runs (liveness)
//   GET /readyz   200 "ready" when `ready()` is true, else 503 "not ready" (readiness: the
//                 model is loaded, the store answers, and the server is not draining)
//
//   HttpEndpoint::Options options;
//   options.address = "127.0.0.1:0";                  // port 0: any free port, see port()
//   options.metrics = [&] { return metrics.Serialize(); };
//   options.ready = [&] { return serving.load(); };
//   RWKV_ASSIGN_OR_RETURN(std::unique_ptr<HttpEndpoint> http, HttpEndpoint::Start(options));
//
// prometheus-cpp 1.0.1's Exposer cannot serve other paths, so this runs civetweb (the library
// the Exposer itself uses) directly and serializes the registry through `metrics`. Requests are
// answered on the endpoint's own threads; `metrics` and `ready` must be thread-safe and must
// stay callable until the endpoint is destroyed (which waits for requests in progress).
#ifndef RWKV_SERVER_METRICS_HTTP_ENDPOINT_H_
#define RWKV_SERVER_METRICS_HTTP_ENDPOINT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

class CivetServer;
class CivetHandler;

namespace rwkv::server::metrics {

class HttpEndpoint {
 public:
  struct Options {
    std::string address = "127.0.0.1:9464";  // IP:PORT
    std::function<std::string()> metrics;     // required
    std::function<bool()> ready;              // required
    int threads = 2;
  };

  // UNAVAILABLE when the address cannot be bound; INVALID_ARGUMENT for a malformed one.
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> Start(Options options);
  ~HttpEndpoint();

  // The port actually bound.
  int port() const { return port_; }

 private:
  HttpEndpoint() = default;

  Options options_;
  int port_ = 0;
  std::unique_ptr<CivetHandler> metrics_handler_;
  std::unique_ptr<CivetHandler> healthz_handler_;
  std::unique_ptr<CivetHandler> readyz_handler_;
  std::unique_ptr<CivetServer> server_;  // declared last: stopped before the handlers go
};

}  // namespace rwkv::server::metrics

#endif  // RWKV_SERVER_METRICS_HTTP_ENDPOINT_H_
