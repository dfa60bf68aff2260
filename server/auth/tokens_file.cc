#include "server/auth/tokens_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace rwkv::server::auth {
namespace {

// The line without its comment: from a `#` at its start or after whitespace (a token has no
// whitespace, so a `#` inside one is part of it).
absl::string_view StripComment(absl::string_view line) {
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '#' &&
        (i == 0 || absl::ascii_isspace(static_cast<unsigned char>(line[i - 1])))) {
      return line.substr(0, i);
    }
  }
  return line;
}

absl::Status LineError(int line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line, ": ", what));
}

// Accumulates entries, refusing duplicates.
class Parser {
 public:
  absl::Status AddLine(int number, absl::string_view line) {
    line = absl::StripAsciiWhitespace(StripComment(line));
    if (line.empty()) return absl::OkStatus();
    const size_t space = line.find_first_of(" \t\r\f\v");
    if (space == absl::string_view::npos) {
      return LineError(number, "expected TENANT TOKEN (or TENANT x509:NAME), got one field");
    }
    const absl::string_view tenant = line.substr(0, space);
    const absl::string_view rest = absl::StripLeadingAsciiWhitespace(line.substr(space));
    // Checked before anything else is said about the line: the columns may have been swapped,
    // and an error must never echo a token.
    if (!IsTenantName(tenant)) {
      return LineError(number, absl::StrCat("the tenant name must be 1 to ", kMaxTenantNameChars,
                                            " characters from [A-Za-z0-9._-]"));
    }
    if (absl::StartsWith(rest, kCertificatePrefix)) {
      return AddCertificate(number, tenant, rest.substr(kCertificatePrefix.size()));
    }
    return AddToken(number, tenant, rest);
  }

  absl::StatusOr<TokensFile> Finish() && {
    if (file_.tokens.empty() && file_.certificates.empty()) {
      return absl::InvalidArgumentError("holds no token and no certificate name");
    }
    return std::move(file_);
  }

 private:
  absl::Status AddToken(int number, absl::string_view tenant, absl::string_view token) {
    if (token.find_first_of(" \t\r\f\v") != absl::string_view::npos) {
      return LineError(number, "expected TENANT TOKEN, got more fields (a token has no spaces)");
    }
    if (token.size() < kMinTokenChars) {
      return LineError(number,
                       absl::StrCat("the token is shorter than ", kMinTokenChars, " characters"));
    }
    TokenEntry entry{std::string(tenant), HashToken(token), number};
    for (const TokenEntry& other : file_.tokens) {
      if (other.hash == entry.hash) {
        return LineError(number, absl::StrCat("duplicate token (also on line ", other.line, ")"));
      }
    }
    file_.tokens.push_back(std::move(entry));
    return absl::OkStatus();
  }

  absl::Status AddCertificate(int number, absl::string_view tenant, absl::string_view name) {
    if (name.empty()) return LineError(number, "x509: needs a certificate's common name");
    auto [it, inserted] = certificate_lines_.try_emplace(name, number);
    if (!inserted) {
      return LineError(number, absl::StrCat("certificate name \"", name,
                                            "\" is already mapped on line ", it->second));
    }
    file_.certificates.push_back({std::string(tenant), std::string(name), number});
    return absl::OkStatus();
  }

  TokensFile file_;
  absl::flat_hash_map<std::string, int> certificate_lines_;
};

}  // namespace

std::vector<std::string> TokensFile::Tenants() const {
  std::set<std::string> names;
  for (const TokenEntry& entry : tokens) names.insert(entry.tenant);
  for (const CertificateEntry& entry : certificates) names.insert(entry.tenant);
  return {names.begin(), names.end()};
}

absl::StatusOr<TokensFile> ParseTokensFile(absl::string_view contents) {
  Parser parser;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    if (absl::Status added = parser.AddLine(++number, line); !added.ok()) return added;
  }
  return std::move(parser).Finish();
}

absl::StatusOr<TokensFile> ReadTokensFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    const std::string why = std::strerror(errno);
    const std::string message = absl::StrCat(path, ": cannot read: ", why);
    return errno == EACCES ? absl::PermissionDeniedError(message) : absl::NotFoundError(message);
  }
  // Read in one piece into a buffer of the file's size: a growing string would leave copies of
  // the tokens in freed memory, where Cleanse cannot reach them.
  file.seekg(0, std::ios::end);
  const std::streamoff size = file.tellg();
  file.seekg(0, std::ios::beg);
  std::string contents(size > 0 ? static_cast<size_t>(size) : 0, '\0');
  if (!file.read(contents.data(), static_cast<std::streamsize>(contents.size()))) {
    Cleanse(contents.data(), contents.size());
    return absl::DataLossError(absl::StrCat(path, ": cannot read it whole"));
  }
  absl::StatusOr<TokensFile> parsed = ParseTokensFile(contents);
  Cleanse(contents.data(), contents.size());
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", parsed.status().message()));
  }
  return parsed;
}

}  // namespace rwkv::server::auth
