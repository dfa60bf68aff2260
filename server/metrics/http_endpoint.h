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
//
// civetweb gives each connection a worker thread until the connection closes, so idle clients
// must not be able to hold the workers and starve the probes: there are `threads` workers, a
// connection whose request has not fully arrived within `request_timeout` is dropped (whether it
// sent nothing or a trickle), and keep-alive is off (each connection serves one request). Fewer
// than `threads` idle connections do not delay a probe; more delay it by about one
// `request_timeout` per `threads` connections opened ahead of it.
#ifndef RWKV_SERVER_METRICS_HTTP_ENDPOINT_H_
#define RWKV_SERVER_METRICS_HTTP_ENDPOINT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

class CivetServer;
class CivetHandler;

namespace rwkv::server::metrics {

class HttpEndpoint {
 public:
  struct Options {
    std::string address = "127.0.0.1:9464";  // IP:PORT
    std::function<std::string()> metrics;     // required
    std::function<bool()> ready;              // required
    int threads = 16;  // workers, >= 1: connections served at once
    // Time for a request to arrive in full, and for each write of a reply; > 0. Probes and
    // scrapers send a request of one packet at once, so a client this slow is idle or hostile.
    absl::Duration request_timeout = absl::Seconds(2);
  };

  // UNAVAILABLE when the address cannot be bound; INVALID_ARGUMENT for a malformed one, or for
  // missing callbacks, threads < 1 or a request_timeout under 1 ms.
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
