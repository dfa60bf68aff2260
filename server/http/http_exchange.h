// HttpExchange: one HTTP request and its response, shared between the HTTP server's threads
// (libmicrohttpd's) and whoever produces the response (a turn: the engine and I/O threads).
//
//   exchange->SetCallbacks({.closed = [turn] { turn->Cancel(); },
//                           .drained = [turn] { turn->Wake(); }});
//   exchange->Respond(200, "application/json", body);           // a whole response, or:
//   exchange->StartStream(200, "text/event-stream");            // a chunked stream
//   exchange->Write("data: ...\n\n");                           // any thread, never blocks
//   exchange->EndStream();
//
// Every method is thread-safe and never blocks on the network: a write only appends to a buffer
// that the server's thread sends when the socket has room (Pending() says how much waits, for
// back-pressure). `closed` runs once if the connection ends before the response was sent whole
// (the client went away, or the server stopped: the hang-up of a client whose connection waits
// suspended is seen by CheckPeer); `drained` when the buffer falls back under the
// low-water mark after reaching the high-water mark. Neither runs after the exchange is done.
#ifndef RWKV_SERVER_HTTP_HTTP_EXCHANGE_H_
#define RWKV_SERVER_HTTP_HTTP_EXCHANGE_H_

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

struct MHD_Connection;
struct MHD_Response;

namespace rwkv::server::http {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;
  std::string path;  // without the query
  std::string body;
  HttpHeaders headers;  // names in lower case, in order
  std::string peer;     // "ipv4:127.0.0.1:51234", for a refusal's log line
  // The body was larger than HttpServer::Options::max_body_bytes: `body` is empty, and the
  // handler answers 413 (with its log line).
  bool body_too_large = false;

  // The first value of header `name` (lower case); "" when absent.
  absl::string_view Header(absl::string_view name) const;
  std::vector<absl::string_view> Headers(absl::string_view name) const;
};

class HttpExchange {
 public:
  // Past this many unsent bytes Ready-style checks should say "full"; `drained` runs once the
  // buffer is back under kLowWaterBytes.
  static constexpr size_t kHighWaterBytes = 64 << 10;
  static constexpr size_t kLowWaterBytes = 16 << 10;

  struct Callbacks {
    std::function<void()> closed;
    std::function<void()> drained;
  };

  explicit HttpExchange(MHD_Connection* connection) : connection_(connection) {}
  HttpExchange(const HttpExchange&) = delete;
  HttpExchange& operator=(const HttpExchange&) = delete;

  // Before Respond or StartStream. False (and the callbacks dropped) when the exchange has
  // already closed: the caller must act as if `closed` had run.
  bool SetCallbacks(Callbacks callbacks) ABSL_LOCKS_EXCLUDED(mu_);
  // The whole response; once, instead of StartStream. Ignored once the exchange is closed.
  void Respond(int status, absl::string_view content_type, std::string body,
               HttpHeaders headers = {}) ABSL_LOCKS_EXCLUDED(mu_);
  // A chunked response of unknown length; then Write and EndStream.
  void StartStream(int status, absl::string_view content_type, HttpHeaders headers = {})
      ABSL_LOCKS_EXCLUDED(mu_);
  // False once the client is gone (the data is dropped).
  bool Write(absl::string_view data) ABSL_LOCKS_EXCLUDED(mu_);
  void EndStream() ABSL_LOCKS_EXCLUDED(mu_);
  // Bytes written and not yet sent.
  size_t Pending() const ABSL_LOCKS_EXCLUDED(mu_);

  // --- The server's side (http_server.cc), on its threads. ---
  // The response to queue now with its status, or null while none is ready (the connection is
  // then suspended until one is). Called by the access handler; the caller owns the response.
  MHD_Response* TakeResponse(int* status) ABSL_LOCKS_EXCLUDED(mu_);
  // The stream's content reader: copies up to `max` pending bytes; 0 with the connection
  // suspended when nothing waits; -1 at the end; -2 when the server stops mid-stream.
  ssize_t Read(char* buffer, size_t max) ABSL_LOCKS_EXCLUDED(mu_);
  // The connection has ended; `completed`: the whole response was sent.
  void Close(bool completed) ABSL_LOCKS_EXCLUDED(mu_);
  // The server stops: a suspended connection is resumed and ends at once. True when it was
  // suspended (libmicrohttpd must process that resumption before it stops).
  bool Abort() ABSL_LOCKS_EXCLUDED(mu_);
  // The connection has ended (Close ran).
  bool Closed() const ABSL_LOCKS_EXCLUDED(mu_);
  // While the connection is suspended (waiting for the response or the stream's next bytes)
  // libmicrohttpd does not watch its socket; the server's watchdog calls this every few hundred
  // milliseconds so that a client that leaves during a long prefill cancels the turn then, not
  // at its first token. Runs `closed` (once) if the peer has hung up; never blocks.
  void CheckPeer() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  enum class Kind { kNone, kWhole, kStream };

  void ResumeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  MHD_Response* BuildLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  MHD_Connection* const connection_;
  mutable absl::Mutex mu_;
  Callbacks callbacks_ ABSL_GUARDED_BY(mu_);
  Kind kind_ ABSL_GUARDED_BY(mu_) = Kind::kNone;
  int status_ ABSL_GUARDED_BY(mu_) = 0;
  std::string content_type_ ABSL_GUARDED_BY(mu_);
  HttpHeaders headers_ ABSL_GUARDED_BY(mu_);
  std::string body_ ABSL_GUARDED_BY(mu_);     // the whole response, or the unsent stream bytes
  bool taken_ ABSL_GUARDED_BY(mu_) = false;   // the response was handed to the server
  bool ended_ ABSL_GUARDED_BY(mu_) = false;   // EndStream was called
  bool suspended_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool aborted_ ABSL_GUARDED_BY(mu_) = false;
  bool peer_gone_ ABSL_GUARDED_BY(mu_) = false;  // CheckPeer saw the hang-up
  bool full_ ABSL_GUARDED_BY(mu_) = false;    // reached kHighWaterBytes since the last drain
};

}  // namespace rwkv::server::http

#endif  // RWKV_SERVER_HTTP_HTTP_EXCHANGE_H_
