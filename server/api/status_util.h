// The one place where absl::Status becomes grpc::Status (same code, same message).
#ifndef RWKV_SERVER_API_STATUS_UTIL_H_
#define RWKV_SERVER_API_STATUS_UTIL_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace rwkv::server {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl::StatusCode and grpc::StatusCode share their numbering (both follow google.rpc.Code).
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace rwkv::server

#endif  // RWKV_SERVER_API_STATUS_UTIL_H_
