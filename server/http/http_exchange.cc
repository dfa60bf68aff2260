#include "server/http/http_exchange.h"

#include <microhttpd.h>
#include <poll.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"

namespace rwkv::server::http {
namespace {

// MHD's stream buffer: one chunk of a chunked response at most.
constexpr size_t kStreamBlockBytes = 16 << 10;

// POLLRDHUP: the peer has shut down its side (a FIN), seen even with unread bytes queued (a
// TLS close_notify, a pipelined request), which a peek would not. An HTTP/1.1 client does not
// half-close and wait for its answer.
bool PeerHungUp(int fd) {
  pollfd watched = {.fd = fd, .events = POLLIN | POLLRDHUP, .revents = 0};
  if (poll(&watched, 1, 0) <= 0) return false;
  return (watched.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

ssize_t ReadCallback(void* cls, uint64_t /*pos*/, char* buffer, size_t max) {
  return static_cast<HttpExchange*>(cls)->Read(buffer, max);
}

}  // namespace

absl::string_view HttpRequest::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return "";
}

std::vector<absl::string_view> HttpRequest::Headers(absl::string_view name) const {
  std::vector<absl::string_view> values;
  for (const auto& [key, value] : headers) {
    if (key == name) values.push_back(value);
  }
  return values;
}

bool HttpExchange::SetCallbacks(Callbacks callbacks) {
  absl::MutexLock lock(&mu_);
  if (closed_ || peer_gone_) return false;
  callbacks_ = std::move(callbacks);
  return true;
}

void HttpExchange::Respond(int status, absl::string_view content_type, std::string body,
                           HttpHeaders headers) {
  absl::MutexLock lock(&mu_);
  if (closed_ || kind_ != Kind::kNone) return;
  kind_ = Kind::kWhole;
  status_ = status;
  content_type_ = std::string(content_type);
  headers_ = std::move(headers);
  body_ = std::move(body);
  ended_ = true;
  if (suspended_) ResumeLocked();
}

void HttpExchange::StartStream(int status, absl::string_view content_type, HttpHeaders headers) {
  absl::MutexLock lock(&mu_);
  if (closed_ || kind_ != Kind::kNone) return;
  kind_ = Kind::kStream;
  status_ = status;
  content_type_ = std::string(content_type);
  headers_ = std::move(headers);
  if (suspended_) ResumeLocked();
}

bool HttpExchange::Write(absl::string_view data) {
  absl::MutexLock lock(&mu_);
  if (closed_ || aborted_ || peer_gone_ || kind_ != Kind::kStream || ended_) return false;
  body_.append(data.data(), data.size());
  if (body_.size() >= kHighWaterBytes) full_ = true;
  if (suspended_) ResumeLocked();
  return true;
}

void HttpExchange::EndStream() {
  absl::MutexLock lock(&mu_);
  if (kind_ != Kind::kStream || ended_) return;
  ended_ = true;
  if (suspended_ && !closed_) ResumeLocked();
}

size_t HttpExchange::Pending() const {
  absl::MutexLock lock(&mu_);
  return kind_ == Kind::kStream ? body_.size() : 0;
}

MHD_Response* HttpExchange::TakeResponse(int* status) {
  absl::MutexLock lock(&mu_);
  if (taken_) return nullptr;  // already queued; MHD does not ask twice
  if (kind_ == Kind::kNone && aborted_) {
    // The server stops before the handler answered.
    kind_ = Kind::kWhole;
    status_ = MHD_HTTP_SERVICE_UNAVAILABLE;
    content_type_ = "text/plain";
    body_ = "the server is shutting down\n";
  }
  if (kind_ == Kind::kNone) {
    // MHD calls the handler again once resumed (Respond, StartStream or Abort resume it).
    suspended_ = true;
    MHD_suspend_connection(connection_);
    return nullptr;
  }
  taken_ = true;
  *status = status_;
  return BuildLocked();
}

MHD_Response* HttpExchange::BuildLocked() {
  MHD_Response* response = nullptr;
  if (kind_ == Kind::kWhole) {
    response = MHD_create_response_from_buffer(body_.size(), body_.data(), MHD_RESPMEM_MUST_COPY);
    body_.clear();
  } else {
    response = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, kStreamBlockBytes,
                                                 &ReadCallback, this, nullptr);
  }
  if (response == nullptr) return nullptr;
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type_.c_str());
  for (const auto& [name, value] : headers_) {
    MHD_add_response_header(response, name.c_str(), value.c_str());
  }
  return response;
}

ssize_t HttpExchange::Read(char* buffer, size_t max) {
  std::function<void()> drained;
  ssize_t n = 0;
  {
    absl::MutexLock lock(&mu_);
    if (aborted_) return MHD_CONTENT_READER_END_WITH_ERROR;
    if (body_.empty()) {
      if (ended_) return MHD_CONTENT_READER_END_OF_STREAM;
      // Nothing to send: sleep until Write, EndStream or Abort resumes the connection.
      suspended_ = true;
      MHD_suspend_connection(connection_);
      return 0;
    }
    const size_t count = std::min(max, body_.size());
    std::memcpy(buffer, body_.data(), count);
    body_.erase(0, count);
    n = static_cast<ssize_t>(count);
    if (full_ && body_.size() < kLowWaterBytes) {
      full_ = false;
      drained = callbacks_.drained;
    }
  }
  if (drained) drained();
  return n;
}

void HttpExchange::Close(bool completed) {
  Callbacks callbacks;
  bool delivered = false;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    suspended_ = false;
    // An aborted exchange's 503 was the server's answer, not its owner's.
    delivered = completed && !aborted_;
    callbacks = std::move(callbacks_);
    callbacks_ = {};
  }
  if (!delivered && callbacks.closed) callbacks.closed();
}

bool HttpExchange::Abort() {
  absl::MutexLock lock(&mu_);
  aborted_ = true;
  if (!suspended_ || closed_) return false;
  ResumeLocked();
  return true;
}

void HttpExchange::CheckPeer() {
  std::function<void()> closed;
  {
    absl::MutexLock lock(&mu_);
    // Not suspended: libmicrohttpd watches the socket itself. Closed: the connection (and its
    // socket) may be gone.
    if (!suspended_ || closed_ || peer_gone_) return;
    const MHD_ConnectionInfo* info =
        MHD_get_connection_info(connection_, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (info == nullptr || !PeerHungUp(info->connect_fd)) return;
    peer_gone_ = true;
    closed = std::move(callbacks_.closed);
    callbacks_.closed = nullptr;
  }
  if (closed) closed();
}

bool HttpExchange::Closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

void HttpExchange::ResumeLocked() {
  suspended_ = false;
  MHD_resume_connection(connection_);
}

}  // namespace rwkv::server::http
