#include "server/auth/token_hash.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdlib>

namespace rwkv::server::auth {

TokenHash HashToken(absl::string_view token) {
  TokenHash hash{};
  unsigned int size = 0;
  // EVP_Digest fails only without memory or without SHA-256 (a broken libcrypto): nothing
  // could be authenticated then, and going on with a constant hash would be unsafe.
  if (EVP_Digest(token.data(), token.size(), hash.data(), &size, EVP_sha256(), nullptr) != 1 ||
      size != hash.size()) {
    std::abort();  // no usable SHA-256: nothing can be authenticated safely
  }
  return hash;
}

bool SameHash(const TokenHash& a, const TokenHash& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void Cleanse(char* secret, size_t size) {
  if (size > 0) OPENSSL_cleanse(secret, size);
}

}  // namespace rwkv::server::auth
