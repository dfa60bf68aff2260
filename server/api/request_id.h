// Request IDs: every RPC gets one, logged on its request line and returned to the client as
// initial metadata `x-request-id`, so a client's report and the server's log can be matched.
//
//   const std::string id = AttachRequestId(context);   // before the first write or Finish
//
// A client that sends its own `x-request-id` (1 to 64 characters from [A-Za-z0-9._:-], e.g. a
// trace ID from its caller) gets it back and sees it in the log; otherwise the server makes one
// of 16 random hex characters.
#ifndef RWKV_SERVER_API_REQUEST_ID_H_
#define RWKV_SERVER_API_REQUEST_ID_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/strings/string_view.h"

namespace rwkv::server {

inline constexpr char kRequestIdKey[] = "x-request-id";

// Whether a client-supplied ID is safe to reuse (and to print in a log line).
bool IsValidRequestId(absl::string_view id);

// 16 random lowercase hex characters.
std::string NewRequestId();

// The call's ID (the client's, when valid, else a new one), added to its initial metadata.
// Call once per call, before anything is written or the call finishes.
std::string AttachRequestId(grpc::CallbackServerContext* context);

}  // namespace rwkv::server

#endif  // RWKV_SERVER_API_REQUEST_ID_H_
