// The one rule for tenant names, shared by the tokens file (server/auth) and session ownership
// (server/sessions): 1 to 64 characters from [A-Za-z0-9._-]. No '/' (a session's scope separates
// the tenant from the ID with it) and no '~' (which marks a scope).
#ifndef RWKV_COMMON_TENANT_NAME_H_
#define RWKV_COMMON_TENANT_NAME_H_

#include <cstddef>

#include "absl/strings/string_view.h"

namespace rwkv {

inline constexpr size_t kMaxTenantNameChars = 64;

inline bool IsTenantName(absl::string_view name) {
  constexpr absl::string_view kChars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
  return !name.empty() && name.size() <= kMaxTenantNameChars &&
         name.find_first_not_of(kChars) == absl::string_view::npos;
}

}  // namespace rwkv

#endif  // RWKV_COMMON_TENANT_NAME_H_
