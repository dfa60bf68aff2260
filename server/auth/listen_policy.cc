#include "server/auth/listen_policy.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace rwkv::server::auth {
namespace {

// The host of HOST:PORT or [HOST]:PORT (without brackets); the whole text when it has no port.
absl::string_view Host(absl::string_view address) {
  if (absl::StartsWith(address, "[")) {
    const size_t close = address.find(']');
    return close == absl::string_view::npos ? address.substr(1) : address.substr(1, close - 1);
  }
  const size_t colon = address.rfind(':');
  // More than one colon without brackets: a bare IPv6 address, no port.
  if (colon == absl::string_view::npos || address.find(':') != colon) return address;
  return address.substr(0, colon);
}

bool IsLoopbackHost(absl::string_view host) {
  if (absl::EqualsIgnoreCase(host, "localhost")) return true;
  const std::string text(host);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;  // 127.0.0.0/8
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    return std::memcmp(&v6, &in6addr_loopback, sizeof(v6)) == 0;
  }
  return false;  // a name other than localhost, or nothing: it may resolve anywhere
}

}  // namespace

bool IsLoopbackListen(absl::string_view listen) {
  if (absl::StartsWith(listen, "unix:") || absl::StartsWith(listen, "unix-abstract:")) {
    return true;  // a local socket: only this machine (its file permissions) reaches it
  }
  absl::string_view address = listen;
  if (!absl::ConsumePrefix(&address, "ipv4:")) absl::ConsumePrefix(&address, "ipv6:");
  return IsLoopbackHost(Host(address));
}

std::string ExposureRefusal(absl::string_view listen, bool authenticated,
                            bool allow_unauthenticated) {
  if (authenticated || allow_unauthenticated || IsLoopbackListen(listen)) return "";
  return absl::StrCat("refusing to serve ", listen,
                      " without authentication: it is not a loopback address; give "
                      "--auth-tokens-file, or --allow-unauthenticated to accept anyone who can "
                      "reach it");
}

}  // namespace rwkv::server::auth
