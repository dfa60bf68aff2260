#include "server/http/http_exchange.h"

#include <microhttpd.h>
#include <sys/socket.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"

namespace rwkv::server::http {
namespace {

// MHD's stream buffer: one chunk of a chunked response at most.
constexpr size_t kStreamBlockBytes = 16 << 10;

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
  if (closed_) return false;
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
  if (closed_ || aborted_ || kind_ != Kind::kStream || ended_) return false;
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

bool HttpExchange::PeerClosed() const {
  absl::MutexLock lock(&mu_);
  if (closed_) return true;
  if (!suspended_) return false;  // libmicrohttpd watches the socket itself
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection_, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (info == nullptr) return false;
  char byte;
  const ssize_t n = recv(info->connect_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  // 0: the client closed its side (an HTTP/1.1 client does not half-close and wait).
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
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

bool HttpExchange::Closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

void HttpExchange::ResumeLocked() {
  suspended_ = false;
  MHD_resume_connection(connection_);
}

}  // namespace rwkv::server::http
