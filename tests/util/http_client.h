// A small HTTP/1.1 client for tests, over libcurl: one request, its status, headers and whole
// body (a chunked stream arrives decoded, exactly as sent), or a stream abandoned after its
// first bytes (a client that goes away mid-stream).
//
//   absl::StatusOr<HttpResult> r = HttpPost(port, "/v1/chat/completions", body);
//   EXPECT_EQ(r->status, 200);
#ifndef RWKV_TESTS_UTIL_HTTP_CLIENT_H_
#define RWKV_TESTS_UTIL_HTTP_CLIENT_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace rwkv::testing {

struct HttpResult {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case

  // The first value of header `name` (lower case); "" when absent.
  std::string Header(const std::string& name) const;
};

struct HttpCall {
  std::string method = "GET";
  std::string path;
  std::string body;                  // sent when not empty (POST)
  std::vector<std::string> headers;  // "Name: value"
  // Hang up once this many body bytes have arrived (0: read to the end).
  size_t hang_up_after = 0;
  absl::Duration timeout = absl::Seconds(60);
  // HTTPS, trusting this CA certificate (PEM file); "": plain HTTP.
  std::string ca_file;
};

// The request to http(s)://127.0.0.1:<port>; UNAVAILABLE when nothing answers (or the TLS
// handshake fails). A call that hangs
// up returns what it read (status OK).
absl::StatusOr<HttpResult> HttpRequest(int port, const HttpCall& call);
absl::StatusOr<HttpResult> HttpPost(int port, const std::string& path, const std::string& body,
                                    std::vector<std::string> headers = {});

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_UTIL_HTTP_CLIENT_H_
