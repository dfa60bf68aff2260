// The bearer token rwkv-cli, rwkv-loadgen and rwkv-resume-bench send (RwkvClient::SetAuthToken):
// --auth-token-file's contents, else the environment variable RWKV_AUTH_TOKEN, else none.
//
//   RWKV_ASSIGN_OR_RETURN(std::string token, LoadAuthToken(absl::GetFlag(FLAGS_auth_token_file)));
//   client->SetAuthToken(token);
#ifndef RWKV_CLIENT_AUTH_TOKEN_H_
#define RWKV_CLIENT_AUTH_TOKEN_H_

#include <string>

#include "absl/status/statusor.h"

namespace rwkv::client {

// The environment variable read when no token file is given.
inline constexpr char kAuthTokenEnv[] = "RWKV_AUTH_TOKEN";

// `file`'s contents without surrounding whitespace (a trailing newline), or, when `file` is
// empty, $RWKV_AUTH_TOKEN's; "" when neither is set (no token is sent). INVALID_ARGUMENT when the
// file cannot be read, is empty, or the token holds whitespace or other bytes a header cannot
// carry; the token itself is never part of an error.
absl::StatusOr<std::string> LoadAuthToken(const std::string& file);

}  // namespace rwkv::client

#endif  // RWKV_CLIENT_AUTH_TOKEN_H_
