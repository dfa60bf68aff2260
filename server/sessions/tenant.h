// Tenants: who owns a session. With authentication, each caller acts for the tenant its token
// (or client certificate) names; without it, everything belongs to the default tenant.
//
//   RWKV_RETURN_IF_ERROR(ValidateTenant(tenant));   // e.g. when reading the tokens file
//   sessions->GetSession(tenant, "chat-1");         // NOT_FOUND unless tenant's own
//
// A tenant never sees another tenant's sessions (SessionManager, SessionScope).
#ifndef RWKV_SERVER_SESSIONS_TENANT_H_
#define RWKV_SERVER_SESSIONS_TENANT_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace rwkv::server {

// The tenant of every session when there is no authentication, and of every session in a store
// written before sessions had tenants.
inline constexpr absl::string_view kDefaultTenant = "";

// A tenant is kDefaultTenant or a name of 1 to 64 characters from [A-Za-z0-9._-];
// INVALID_ARGUMENT (quoting the name, escaped) otherwise.
absl::Status ValidateTenant(absl::string_view tenant);

}  // namespace rwkv::server

#endif  // RWKV_SERVER_SESSIONS_TENANT_H_
