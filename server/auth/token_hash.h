// TokenHash: the SHA-256 of a bearer token, the only form in which the server keeps a token.
//
//   TokenHash stored = HashToken(token_from_file);
//   bool same = SameHash(HashToken(presented), stored);   // constant time
#ifndef RWKV_SERVER_AUTH_TOKEN_HASH_H_
#define RWKV_SERVER_AUTH_TOKEN_HASH_H_

#include <array>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace rwkv::server::auth {

using TokenHash = std::array<uint8_t, 32>;

// SHA-256 (OpenSSL's libcrypto) of `token`.
TokenHash HashToken(absl::string_view token);

// Whether `a` and `b` are equal, in time that does not depend on where they differ
// (CRYPTO_memcmp), so that a timing probe learns nothing of a stored hash.
bool SameHash(const TokenHash& a, const TokenHash& b);

// Overwrites `secret` with zeros in a way the compiler cannot drop (OPENSSL_cleanse): for the
// buffers that held a token in plain text (the file's contents, a parsed line).
void Cleanse(char* secret, size_t size);

}  // namespace rwkv::server::auth

#endif  // RWKV_SERVER_AUTH_TOKEN_HASH_H_
