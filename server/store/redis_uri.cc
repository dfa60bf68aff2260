#include "server/store/redis_uri.h"

#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace rwkv::server {
namespace {

absl::Status Bad(absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("bad state store URI: ", what, "; expected redis://[USER@]HOST:PORT[/DB]"));
}

bool AllDigits(absl::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool ValidHostChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
}

}  // namespace

std::string RedisUri::Address() const {
  if (absl::StrContains(host, ':')) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<RedisUri> ParseRedisUri(absl::string_view uri) {
  if (!absl::ConsumePrefix(&uri, kRedisScheme)) return Bad("it does not start with redis://");
  RedisUri out;
  // User info: everything before the last '@' (a DB number never holds one, a password may hold
  // '/' or '@').
  if (const size_t at = uri.rfind('@'); at != absl::string_view::npos) {
    absl::string_view user = uri.substr(0, at);
    uri = uri.substr(at + 1);
    // Never echo the user info: it may hold a password.
    if (absl::StrContains(user, ':')) {
      return Bad(
          "it holds a password (USER:PASSWORD@), which would show in logs; pass it with "
          "--state-store-password-file or the RWKV_STATE_STORE_PASSWORD environment variable");
    }
    if (user.empty()) return Bad("the user before '@' is empty");
    for (char c : user) {
      if (!absl::ascii_isgraph(static_cast<unsigned char>(c)) || c == '/') {
        return Bad("the user before '@' has a space, control character or '/'");
      }
    }
    out.user = std::string(user);
  }
  const size_t slash = uri.find('/');
  absl::string_view authority = uri.substr(0, slash);
  absl::string_view path = slash == absl::string_view::npos ? "" : uri.substr(slash + 1);
  absl::string_view port;
  if (absl::ConsumePrefix(&authority, "[")) {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) return Bad("an IPv6 address lacks its closing ']'");
    out.host = std::string(authority.substr(0, close));
    if (out.host.empty()) return Bad("the IPv6 address in [] is empty");
    authority = authority.substr(close + 1);
    if (!absl::ConsumePrefix(&authority, ":")) return Bad("no :PORT after the IPv6 address");
    port = authority;
  } else {
    const size_t colon = authority.rfind(':');
    if (colon == absl::string_view::npos) return Bad("no :PORT (e.g. redis://127.0.0.1:6379)");
    out.host = std::string(authority.substr(0, colon));
    port = authority.substr(colon + 1);
    if (out.host.empty()) return Bad("the host is empty");
    for (char c : out.host) {
      if (!ValidHostChar(c)) {
        return Bad(absl::StrCat("the host \"", absl::CHexEscape(out.host),
                                "\" has a character a host name cannot have"));
      }
    }
  }
  if (!AllDigits(port) || !absl::SimpleAtoi(port, &out.port) || out.port < 1 || out.port > 65535) {
    return Bad(absl::StrCat("the port \"", absl::CHexEscape(port), "\" is not 1..65535"));
  }
  if (slash != absl::string_view::npos) {
    if (!AllDigits(path) || !absl::SimpleAtoi(path, &out.db)) {
      return Bad(
          absl::StrCat("the database \"", absl::CHexEscape(path), "\" after '/' is not a number"));
    }
  }
  return out;
}

}  // namespace rwkv::server
