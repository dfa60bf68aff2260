// A minimal HTTP/1.0 GET over loopback TCP for tests (the metrics endpoint, Prometheus's API):
//
//   absl::StatusOr<HttpResponse> r = HttpGet(port, "/metrics");
//   EXPECT_EQ(r->status, 200);
#ifndef RWKV_TESTS_UTIL_HTTP_GET_H_
#define RWKV_TESTS_UTIL_HTTP_GET_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace rwkv::testing {

struct HttpResponse {
  int status = 0;
  std::string body;
};

// GET http://127.0.0.1:<port><path>; UNAVAILABLE when nothing answers.
absl::StatusOr<HttpResponse> HttpGet(int port, const std::string& path,
                                     absl::Duration timeout = absl::Seconds(10));

// The value of the first /metrics line of the server's endpoint on `port` that starts with
// `prefix` (name and labels, then a space); -1 when absent or unreachable.
double ScrapedMetric(int port, const std::string& prefix);

// `text` percent-encoded for a URL query value.
std::string UrlEncode(absl::string_view text);

// A port that was free a moment ago on 127.0.0.1 (for servers that cannot bind port 0).
int PickFreePort();

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_UTIL_HTTP_GET_H_
