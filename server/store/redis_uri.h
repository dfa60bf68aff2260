// RedisUri: where a Redis state store lives, parsed from "redis://[USER@]HOST:PORT[/DB]".
//
//   absl::StatusOr<RedisUri> uri = ParseRedisUri("redis://rwkv@10.0.0.5:6379/2");
//   // uri->host "10.0.0.5", uri->port 6379, uri->user "rwkv", uri->db 2
//
// HOST is a name, an IPv4 address or a bracketed IPv6 address ("[::1]:6379"). A password is
// never part of the URI (it would end up in logs and process listings): "redis://user:pw@..." is
// INVALID_ARGUMENT, and the password comes from StoreOptions::password instead.
#ifndef RWKV_SERVER_STORE_REDIS_URI_H_
#define RWKV_SERVER_STORE_REDIS_URI_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rwkv::server {

struct RedisUri {
  std::string user;  // "" = the default user
  std::string host;  // without brackets for IPv6
  int port = 0;
  int db = 0;

  // "HOST:PORT" ("[::1]:6379" for IPv6), for messages.
  std::string Address() const;
};

inline constexpr absl::string_view kRedisScheme = "redis://";

// INVALID_ARGUMENT naming what is wrong with `uri`.
absl::StatusOr<RedisUri> ParseRedisUri(absl::string_view uri);

}  // namespace rwkv::server

#endif  // RWKV_SERVER_STORE_REDIS_URI_H_
