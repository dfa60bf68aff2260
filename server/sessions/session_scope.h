// SessionScope: where one tenant's sessions live among every tenant's in the store, the in-flight
// table, the leases and the hot cache. The one place that maps a tenant's session ID to the key
// it is kept under, and back.
//
//   RWKV_ASSIGN_OR_RETURN(const SessionScope scope, SessionScope::Of("acme"));
//   std::string key = scope.Key("chat-1");   // "~acme/chat-1" (the default tenant: "chat-1")
//   return scope.Scrub(status);              // messages name "chat-1", never "~acme/chat-1"
//
// The default tenant's sessions are kept under their own IDs, so a store written before tenants
// opens unchanged under it; another tenant's under "~<tenant>/<id>". '~' sorts after every
// character an ID may hold ([A-Za-z0-9._:-]) and '/' is in no ID or tenant name, so
// - the keys of two tenants never meet, whatever IDs they choose;
// - one tenant's keys are one contiguous range (those starting with "~acme/"), and the default
//   tenant's are exactly the keys before the first one starting with '~'.
//
// Keys are internal: whatever reaches a client names the session by its ID (records carry the ID
// and the tenant apart; Scrub cleans messages built from keys, such as the store's).
#ifndef RWKV_SERVER_SESSIONS_SESSION_SCOPE_H_
#define RWKV_SERVER_SESSIONS_SESSION_SCOPE_H_

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/sessions/session_record.h"

namespace rwkv::server {

// The key of session `id` of `tenant` (which must be valid, see tenant.h).
std::string SessionKey(absl::string_view tenant, absl::string_view id);
// The key of `record`'s session.
inline std::string SessionKey(const SessionRecord& record) {
  return SessionKey(record.tenant, record.id);
}

class SessionScope {
 public:
  // INVALID_ARGUMENT for a name that is not a tenant's (ValidateTenant).
  static absl::StatusOr<SessionScope> Of(absl::string_view tenant);
  // The scope of a record's tenant, which was checked when the record was made or read.
  static SessionScope OfRecord(const SessionRecord& record) { return SessionScope(record.tenant); }

  const std::string& tenant() const { return tenant_; }
  // What every key of this tenant starts with: "" for the default tenant, else "~<tenant>/".
  const std::string& key_prefix() const { return key_prefix_; }

  std::string Key(absl::string_view id) const;
  // Whether `key` is one of this tenant's (any other tenant's key is not).
  bool Holds(absl::string_view key) const;
  // The ID of one of this tenant's keys (Holds(key) must be true).
  absl::string_view IdOf(absl::string_view key) const { return key.substr(key_prefix_.size()); }

  // `status` with every key of this tenant in its message replaced by the session's ID; its code
  // and payloads kept.
  absl::Status Scrub(absl::Status status) const;
  template <typename T>
  absl::StatusOr<T> Scrub(absl::StatusOr<T> value) const {
    if (value.ok()) return value;
    return Scrub(std::move(value).status());
  }

 private:
  explicit SessionScope(absl::string_view tenant);

  std::string tenant_;
  std::string key_prefix_;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_SESSIONS_SESSION_SCOPE_H_
