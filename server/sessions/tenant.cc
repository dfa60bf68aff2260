#include "server/sessions/tenant.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace rwkv::server {
namespace {

constexpr size_t kMaxTenantChars = 64;
// No '/' (SessionScope separates a tenant from an ID with it) and no '~' (which marks a scope).
constexpr absl::string_view kTenantChars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";

}  // namespace

absl::Status ValidateTenant(absl::string_view tenant) {
  if (tenant.size() <= kMaxTenantChars &&
      tenant.find_first_not_of(kTenantChars) == absl::string_view::npos) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("a tenant name must be 1 to 64 characters from [A-Za-z0-9._-]; got \"",
                   absl::CHexEscape(tenant.substr(0, kMaxTenantChars + 1)), "\""));
}

}  // namespace rwkv::server
