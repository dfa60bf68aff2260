// Reading and writing unsigned integers in little-endian byte order, whatever the host's (the
// byte order of stored session blobs and of the fingerprint hash's input words).
#ifndef RWKV_COMMON_LITTLE_ENDIAN_H_
#define RWKV_COMMON_LITTLE_ENDIAN_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace rwkv {
namespace little_endian_internal {

// std::byteswap is C++23.
inline uint32_t ByteSwap(uint32_t v) { return __builtin_bswap32(v); }
inline uint64_t ByteSwap(uint64_t v) { return __builtin_bswap64(v); }

}  // namespace little_endian_internal

// T: uint32_t or uint64_t. `in` / `out` need no alignment.
template <typename T>
T LoadLittleEndian(const void* in) {
  static_assert(std::is_same_v<T, uint32_t> || std::is_same_v<T, uint64_t>);
  T value;
  std::memcpy(&value, in, sizeof(value));
  if constexpr (std::endian::native == std::endian::big) {
    value = little_endian_internal::ByteSwap(value);
  }
  return value;
}

template <typename T>
void StoreLittleEndian(T value, void* out) {
  static_assert(std::is_same_v<T, uint32_t> || std::is_same_v<T, uint64_t>);
  if constexpr (std::endian::native == std::endian::big) {
    value = little_endian_internal::ByteSwap(value);
  }
  std::memcpy(out, &value, sizeof(value));
}

}  // namespace rwkv

#endif  // RWKV_COMMON_LITTLE_ENDIAN_H_
