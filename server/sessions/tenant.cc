#include "server/sessions/tenant.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/tenant_name.h"

namespace rwkv::server {

absl::Status ValidateTenant(absl::string_view tenant) {
  if (tenant == kDefaultTenant || IsTenantName(tenant)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("a tenant name must be 1 to 64 characters from [A-Za-z0-9._-]; got \"",
                   absl::CHexEscape(tenant.substr(0, kMaxTenantNameChars + 1)), "\""));
}

}  // namespace rwkv::server
