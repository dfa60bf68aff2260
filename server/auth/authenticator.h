// Authenticator: which tenant a call acts for, from its bearer token or its verified client
// certificate, against the --auth-tokens-file (tokens_file.h).
//
//   RWKV_ASSIGN_OR_RETURN(auto auth, Authenticator::Load("/etc/rwkv/tokens"));
//   absl::StatusOr<std::string> tenant = auth->Authenticate({{"Bearer 3f9c0d1e..."}, {}});
//   ...
//   auth->Reload("/etc/rwkv/tokens");   // SIGHUP: the new table, or the old one kept
//
// Only the SHA-256 of each token is kept; a presented token is hashed and compared with every
// stored hash in constant time (no early exit, over the hash, not the token), so that neither
// a memory dump nor response timing gives a token away. Nothing here logs. Thread-safe: a
// Reload swaps the whole table at once; a call authenticated before keeps its tenant.
#ifndef RWKV_SERVER_AUTH_AUTHENTICATOR_H_
#define RWKV_SERVER_AUTH_AUTHENTICATOR_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/auth/tokens_file.h"

namespace rwkv::server::auth {

// The messages of UNAUTHENTICATED, one per reason (AuthFailureReason gives its metric label).
inline constexpr absl::string_view kMissingCredentials = "missing authorization metadata";
inline constexpr absl::string_view kMalformedHeader = "malformed authorization header";
inline constexpr absl::string_view kUnknownToken = "unknown token";

// The label of a refusal (its status from Authenticate): "missing", "malformed" or
// "unknown_token"; "other" for any other status.
absl::string_view AuthFailureReason(const absl::Status& status);

// What a call presented.
struct Credentials {
  // Every value of its `authorization` metadata (normally one: "Bearer <token>").
  std::vector<absl::string_view> authorization;
  // The subject CN of its client certificate, when TLS verified one.
  std::optional<absl::string_view> certificate_name;
};

class Authenticator {
 public:
  // Reads `path` (ReadTokensFile's errors).
  static absl::StatusOr<std::unique_ptr<Authenticator>> Load(const std::string& path);
  explicit Authenticator(const TokensFile& file);

  // The tenant of a call: that of its bearer token; without an authorization header, that of
  // its verified certificate's name if the file maps it. Else UNAUTHENTICATED with one of the
  // messages above: no header and no mapped certificate, a header that is not one
  // "Bearer <token>", or a token not in the file. The token is never part of a message.
  absl::StatusOr<std::string> Authenticate(const Credentials& credentials) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Reads `path` again and swaps the table in whole; on any error the old table stays and the
  // error (which names the file and line, never a token) is returned.
  absl::Status Reload(const std::string& path) ABSL_LOCKS_EXCLUDED(mu_);

  // The tenants of the current table, sorted.
  std::vector<std::string> Tenants() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Table {
    std::vector<TokenEntry> tokens;
    absl::flat_hash_map<std::string, std::string> certificates;  // CN -> tenant
    std::vector<std::string> tenants;
  };
  static std::shared_ptr<const Table> MakeTable(const TokensFile& file);
  std::shared_ptr<const Table> table() const ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  std::shared_ptr<const Table> table_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rwkv::server::auth

#endif  // RWKV_SERVER_AUTH_AUTHENTICATOR_H_
