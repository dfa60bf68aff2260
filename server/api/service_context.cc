#include "server/api/service_context.h"

namespace rwkv::server {
namespace {

constexpr char kAuthorizationKey[] = "authorization";
// The property gRPC's TLS sets to a verified client certificate's subject CN.
constexpr char kCommonNameProperty[] = "x509_common_name";

absl::string_view View(const grpc::string_ref& ref) { return {ref.data(), ref.size()}; }

// What the call presented: its authorization headers, and the CN of a client certificate that
// TLS verified (none over plaintext, or when the client sent none).
auth::Credentials CallCredentials(const grpc::ServerContextBase& call) {
  auth::Credentials credentials;
  const auto& metadata = call.client_metadata();
  for (auto [it, end] = metadata.equal_range(kAuthorizationKey); it != end; ++it) {
    credentials.authorization.push_back(View(it->second));
  }
  const std::shared_ptr<const grpc::AuthContext> context = call.auth_context();
  if (context != nullptr && context->IsPeerAuthenticated()) {
    const std::vector<grpc::string_ref> names = context->FindPropertyValues(kCommonNameProperty);
    // The string_refs point into the auth context, which the call keeps alive.
    if (!names.empty()) credentials.certificate_name = View(names.front());
  }
  return credentials;
}

}  // namespace

absl::StatusOr<std::string> ServiceContext::Authenticate(
    const grpc::ServerContextBase& call) const {
  if (authenticator == nullptr) return std::string();
  return Authenticate(CallCredentials(call));
}

absl::StatusOr<std::string> ServiceContext::Authenticate(
    const auth::Credentials& credentials) const {
  if (authenticator == nullptr) return std::string();
  absl::StatusOr<std::string> tenant = authenticator->Authenticate(credentials);
  if (!tenant.ok() && requests != nullptr) {
    requests->OnAuthFailure(auth::AuthFailureReason(tenant.status()));
  }
  return tenant;
}

Caller Caller::Of(const grpc::ServerContextBase& call, const absl::StatusOr<std::string>& tenant) {
  if (tenant.ok()) return {*tenant, ""};
  return {std::nullopt, call.peer()};
}

}  // namespace rwkv::server
