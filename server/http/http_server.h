// HttpServer: the HTTP/1.1 listener of the OpenAI-compatible front end, over libmicrohttpd
// (epoll, a small pool of event threads, keep-alive). It parses nothing itself: it collects a
// request's headers and body (up to a limit), hands the request to the handler as an
// HttpExchange and sends whatever the handler answers, whole or streamed, from any thread.
//
//   HttpServer::Options options;
//   options.address = "127.0.0.1:8080";
//   options.handler = [](HttpRequest request, std::shared_ptr<HttpExchange> exchange) {
//     exchange->Respond(200, "text/plain", "hello\n");
//   };
//   RWKV_ASSIGN_OR_RETURN(auto server, HttpServer::Start(std::move(options)));
//   ... server->port() ...
//   server.reset();   // stops: open exchanges end (closed callbacks run), threads joined
//
// A connection waiting for its handler's answer, or for more of a stream, is suspended: it holds
// no thread, so a slow or absent reader stalls nothing but its own exchange. A body larger than
// max_body_bytes is not kept: the handler gets the request marked body_too_large. A client that
// hangs up while its connection is suspended is noticed by a watchdog thread within
// kPeerCheckInterval (HttpExchange::CheckPeer), and its exchange's `closed` runs then.
#ifndef RWKV_SERVER_HTTP_HTTP_SERVER_H_
#define RWKV_SERVER_HTTP_HTTP_SERVER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/http/http_exchange.h"
#include "server/http/tls_certificates.h"

struct MHD_Daemon;
struct MHD_Connection;

namespace rwkv::server::http {

// "HOST:PORT", ":PORT" or "PORT" (loopback 127.0.0.1 without a host; "[::1]:PORT" for IPv6).
struct ListenAddress {
  std::string host;  // an IP literal
  int port = 0;
  bool ipv6 = false;
};
absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view address);

class HttpServer {
 public:
  using Handler = std::function<void(HttpRequest request, std::shared_ptr<HttpExchange>)>;

  struct Options {
    std::string address;  // ParseListenAddress; port 0: any free port
    Handler handler;      // on an event thread; must not block (answer later from any thread)
    size_t max_body_bytes = 8 << 20;
    int threads = 2;  // event threads
    // Open connections at most (keep-alive and streaming ones alike); past it new ones are
    // refused. libmicrohttpd's own default is FD_SETSIZE (1024) even over epoll.
    int max_connections = 4096;
    // A keep-alive connection idle (not suspended) this long is closed.
    absl::Duration idle_timeout = absl::Seconds(60);
    // HTTPS (libmicrohttpd's GnuTLS) with these credentials, asked on each handshake (so they
    // follow a certificate rotation); null: plain HTTP. A connection keeps the credentials of
    // its handshake until it closes.
    std::shared_ptr<TlsCertificates> tls;
  };

  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(Options options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }

 private:
  // What MHD keeps per request (its req_cls).
  struct Slot;
  // libmicrohttpd's C callbacks, which call the members below (http_server.cc).
  struct Callbacks;

  explicit HttpServer(Options options) : options_(std::move(options)) {}
  // The access handler: a new request (`slot` null), a piece of its body, or its end.
  bool Handle(MHD_Connection* connection, Slot*& slot, const char* url, const char* method,
              const char* upload_data, size_t* upload_data_size) ABSL_LOCKS_EXCLUDED(mu_);
  // The request ended (`completed`: its response went out whole).
  void Completed(Slot* slot, bool completed) ABSL_LOCKS_EXCLUDED(mu_);
  // The watchdog thread: CheckPeer on every open exchange each kPeerCheckInterval, until stop.
  void WatchPeers() ABSL_LOCKS_EXCLUDED(mu_);
  // Calls the handler with the request, or answers it here (503 once stopping).
  void Dispatch(MHD_Connection* connection, Slot& slot, const char* url, const char* method)
      ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
  absl::Mutex mu_;
  absl::flat_hash_set<Slot*> slots_ ABSL_GUARDED_BY(mu_);  // every open exchange, for a stop
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread watchdog_;
};

}  // namespace rwkv::server::http

#endif  // RWKV_SERVER_HTTP_HTTP_SERVER_H_
