#include "server/auth/authenticator.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "server/auth/token_hash.h"

namespace rwkv::server::auth {
namespace {

constexpr absl::string_view kBearer = "bearer";

// The token of "Bearer <token>" (the scheme in any case, RFC 6750), or nullopt.
std::optional<absl::string_view> BearerToken(absl::string_view header) {
  if (header.size() <= kBearer.size() ||
      !absl::EqualsIgnoreCase(header.substr(0, kBearer.size()), kBearer) ||
      header[kBearer.size()] != ' ') {
    return std::nullopt;
  }
  const absl::string_view token = absl::StripAsciiWhitespace(header.substr(kBearer.size()));
  if (token.empty()) return std::nullopt;
  for (const char c : token) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) return std::nullopt;
  }
  return token;
}

}  // namespace

absl::string_view AuthFailureReason(const absl::Status& status) {
  if (status.code() == absl::StatusCode::kUnauthenticated) {
    if (status.message() == kMissingCredentials) return "missing";
    if (status.message() == kMalformedHeader) return "malformed";
    if (status.message() == kUnknownToken) return "unknown_token";
  }
  return "other";
}

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Load(const std::string& path) {
  absl::StatusOr<TokensFile> file = ReadTokensFile(path);
  if (!file.ok()) return file.status();
  return std::make_unique<Authenticator>(*file);
}

Authenticator::Authenticator(const TokensFile& file) : table_(MakeTable(file)) {}

std::shared_ptr<const Authenticator::Table> Authenticator::MakeTable(const TokensFile& file) {
  auto table = std::make_shared<Table>();
  table->tokens = file.tokens;
  for (const CertificateEntry& entry : file.certificates) {
    table->certificates.emplace(entry.common_name, entry.tenant);
  }
  table->tenants = file.Tenants();
  return table;
}

std::shared_ptr<const Authenticator::Table> Authenticator::table() const {
  absl::MutexLock lock(&mu_);
  return table_;
}

absl::StatusOr<std::string> Authenticator::Authenticate(const Credentials& credentials) const {
  const std::shared_ptr<const Table> table = this->table();
  if (credentials.authorization.empty()) {
    if (credentials.certificate_name.has_value()) {
      auto it = table->certificates.find(*credentials.certificate_name);
      if (it != table->certificates.end()) return it->second;
    }
    return absl::UnauthenticatedError(kMissingCredentials);
  }
  // Two headers would leave it unclear which one counts (a proxy may have added one).
  if (credentials.authorization.size() > 1) return absl::UnauthenticatedError(kMalformedHeader);
  const std::optional<absl::string_view> token = BearerToken(credentials.authorization[0]);
  if (!token.has_value()) return absl::UnauthenticatedError(kMalformedHeader);
  const TokenHash presented = HashToken(*token);
  // Every entry is compared, and the match is selected without a branch, so the time taken does
  // not tell whether or where a token matched.
  const size_t none = table->tokens.size();
  size_t found = none;
  for (size_t i = 0; i < table->tokens.size(); ++i) {
    const size_t mask = size_t{0} - static_cast<size_t>(SameHash(presented, table->tokens[i].hash));
    found = (found & ~mask) | (i & mask);
  }
  if (found == none) return absl::UnauthenticatedError(kUnknownToken);
  return table->tokens[found].tenant;
}

absl::Status Authenticator::Reload(const std::string& path) {
  absl::StatusOr<TokensFile> file = ReadTokensFile(path);
  if (!file.ok()) return file.status();
  std::shared_ptr<const Table> fresh = MakeTable(*file);
  {
    absl::MutexLock lock(&mu_);
    table_.swap(fresh);
  }
  return absl::OkStatus();  // the old table goes with `fresh`, outside the lock
}

std::vector<std::string> Authenticator::Tenants() const { return table()->tenants; }

}  // namespace rwkv::server::auth
