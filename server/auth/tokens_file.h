// The --auth-tokens-file format: which bearer tokens (and which mutual-TLS client certificates)
// belong to which tenant.
//
//   # comment; blank lines are fine
//   acme      3f9c0d1e4b5a69aa77c2e1f0     <- TENANT TOKEN (whitespace between)
//   acme      x509:gateway.acme.internal   <- a verified client certificate whose subject CN is
//                                             gateway.acme.internal acts for tenant acme
//
// Tenant names are 1 to 64 characters from [A-Za-z0-9._-]; a token is at least 16 characters
// without whitespace. A `#` at the start of a line or after whitespace starts a comment. A
// tenant may have many tokens; a token or a certificate name may appear once. Parsing keeps only
// each token's SHA-256 (token_hash.h); an error names the line, never a token.
#ifndef RWKV_SERVER_AUTH_TOKENS_FILE_H_
#define RWKV_SERVER_AUTH_TOKENS_FILE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tenant_name.h"
#include "server/auth/token_hash.h"

namespace rwkv::server::auth {

inline constexpr size_t kMinTokenChars = 16;
// The prefix of the second field that maps a certificate's subject CN instead of a token.
inline constexpr absl::string_view kCertificatePrefix = "x509:";

struct TokenEntry {
  std::string tenant;
  TokenHash hash;  // of the token; the token itself is not kept
  int line = 0;
};

struct CertificateEntry {
  std::string tenant;
  std::string common_name;  // a verified client certificate's subject CN
  int line = 0;
};

struct TokensFile {
  std::vector<TokenEntry> tokens;
  std::vector<CertificateEntry> certificates;

  // Every tenant named, sorted, each once.
  std::vector<std::string> Tenants() const;
};

// Parses the file's contents. INVALID_ARGUMENT "line N: ..." for a bad line, a duplicate token
// or certificate name, or a file with no entry at all.
absl::StatusOr<TokensFile> ParseTokensFile(absl::string_view contents);

// Reads and parses `path` (its contents are wiped from memory afterwards). Errors start with
// the path: NOT_FOUND / PERMISSION_DENIED when it cannot be read, else ParseTokensFile's.
absl::StatusOr<TokensFile> ReadTokensFile(const std::string& path);

}  // namespace rwkv::server::auth

#endif  // RWKV_SERVER_AUTH_TOKENS_FILE_H_
