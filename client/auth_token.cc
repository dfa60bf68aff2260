#include "client/auth_token.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace rwkv::client {
namespace {

// A token goes into a header as "Bearer <token>": printable ASCII without spaces.
bool IsHeaderToken(const std::string& token) {
  for (const char c : token) {
    if (c <= 0x20 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> LoadAuthToken(const std::string& file) {
  std::string token;
  std::string source;
  if (file.empty()) {
    const char* env = std::getenv(kAuthTokenEnv);
    if (env == nullptr || *env == '\0') return std::string();
    token = env;
    source = kAuthTokenEnv;
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      return absl::InvalidArgumentError(
          absl::StrCat("--auth-token-file: cannot read ", file, ": ", std::strerror(errno)));
    }
    std::stringstream contents;
    contents << in.rdbuf();
    token = contents.str();
    source = absl::StrCat("--auth-token-file ", file);
  }
  absl::StripAsciiWhitespace(&token);
  if (token.empty()) return absl::InvalidArgumentError(absl::StrCat(source, ": empty token"));
  if (!IsHeaderToken(token)) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": the token must be one word of printable ASCII characters"));
  }
  return token;
}

}  // namespace rwkv::client
