#include "server/sessions/session_scope.h"

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/status_macros.h"
#include "server/sessions/tenant.h"

namespace rwkv::server {
namespace {

constexpr char kScopeMark = '~';  // after every ID character: scoped keys sort last

std::string KeyPrefix(absl::string_view tenant) {
  return tenant.empty() ? std::string() : absl::StrCat(std::string(1, kScopeMark), tenant, "/");
}

}  // namespace

std::string SessionKey(absl::string_view tenant, absl::string_view id) {
  return absl::StrCat(KeyPrefix(tenant), id);
}

absl::StatusOr<SessionScope> SessionScope::Of(absl::string_view tenant) {
  RWKV_RETURN_IF_ERROR(ValidateTenant(tenant));
  return SessionScope(tenant);
}

SessionScope::SessionScope(absl::string_view tenant)
    : tenant_(tenant), key_prefix_(KeyPrefix(tenant)) {}

std::string SessionScope::Key(absl::string_view id) const { return absl::StrCat(key_prefix_, id); }

bool SessionScope::Holds(absl::string_view key) const {
  if (key_prefix_.empty()) return key.empty() || key.front() != kScopeMark;
  return absl::StartsWith(key, key_prefix_);
}

absl::Status SessionScope::Scrub(absl::Status status) const {
  if (key_prefix_.empty() || !absl::StrContains(status.message(), key_prefix_)) return status;
  absl::Status scrubbed(status.code(), absl::StrReplaceAll(status.message(), {{key_prefix_, ""}}));
  status.ForEachPayload([&scrubbed](absl::string_view type_url, const absl::Cord& payload) {
    scrubbed.SetPayload(type_url, payload);
  });
  return scrubbed;
}

}  // namespace rwkv::server
