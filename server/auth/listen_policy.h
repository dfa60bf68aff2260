// Safe defaults for the gRPC listening address: whether it is reachable from other machines,
// and so whether the server may serve it without authentication or with reflection on.
//
//   if (std::string refusal = ExposureRefusal(listen, auth_on, allow); !refusal.empty()) {
//     std::cerr << refusal;   // one line, exit 2
//   }
#ifndef RWKV_SERVER_AUTH_LISTEN_POLICY_H_
#define RWKV_SERVER_AUTH_LISTEN_POLICY_H_

#include <string>

#include "absl/strings/string_view.h"

namespace rwkv::server::auth {

// The services answered without authentication: gRPC's own, which hold no session and no
// model output (health: whether the server serves; reflection: the API's schema, public in
// proto/). Every method of every other service passes ServiceContext::Authenticate first
// (tests/server/api/auth_service_test.cc checks both). README, "Security".
inline constexpr absl::string_view kUnauthenticatedServices[] = {
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
};

// Whether a gRPC listening address (HOST:PORT, [IPv6]:PORT, ipv4:/ipv6: URIs, unix:PATH) is
// reachable only from this machine: 127.0.0.0/8, ::1, localhost, or a Unix socket. An empty
// host (":50051"), 0.0.0.0, [::] and any other name or address are not.
bool IsLoopbackListen(absl::string_view listen);

// Empty when the server may start; else the one line that says why not (a non-loopback
// --listen without --auth-tokens-file and without --allow-unauthenticated).
std::string ExposureRefusal(absl::string_view listen, bool authenticated,
                            bool allow_unauthenticated);

}  // namespace rwkv::server::auth

#endif  // RWKV_SERVER_AUTH_LISTEN_POLICY_H_
