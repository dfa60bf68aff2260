// Small helpers for propagating absl::Status, which Debian's Abseil 20220623 does not provide.
//
//   RWKV_RETURN_IF_ERROR(file.ReadHeader());
//   RWKV_ASSIGN_OR_RETURN(auto model, Model::Load(path));
#ifndef RWKV_COMMON_STATUS_MACROS_H_
#define RWKV_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define RWKV_STATUS_CONCAT_INNER_(a, b) a##b
#define RWKV_STATUS_CONCAT_(a, b) RWKV_STATUS_CONCAT_INNER_(a, b)

#define RWKV_RETURN_IF_ERROR(expr)               \
  do {                                           \
    const ::absl::Status rwkv_status_ = (expr);  \
    if (!rwkv_status_.ok()) return rwkv_status_; \
  } while (0)

#define RWKV_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return std::move(tmp).status();    \
  lhs = std::move(tmp).value()

#define RWKV_ASSIGN_OR_RETURN(lhs, expr) \
  RWKV_ASSIGN_OR_RETURN_IMPL_(RWKV_STATUS_CONCAT_(rwkv_statusor_, __LINE__), lhs, expr)

#endif  // RWKV_COMMON_STATUS_MACROS_H_
