// Hash64: a fast, stable, streaming 64-bit hash for fingerprints and checksums.
//
// The value depends only on the bytes fed in, never on how they were split across Update() calls,
// on the machine's byte order or on the run, so it can be stored and compared later (model
// fingerprints, tensor content hashes). It is NOT a cryptographic hash: do not use it where an
// adversary chooses the input and a collision matters.
//
//   Hash64 h;
//   h.Update(name.data(), name.size());
//   h.UpdateU64(num_elements);
//   std::string id = Hex64(h.Digest());
//
// Speed: four independent 64-bit lanes, one multiply per 8-byte word, several GB/s on one core.
#ifndef RWKV_COMMON_HASH64_H_
#define RWKV_COMMON_HASH64_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rwkv {

class Hash64 {
 public:
  Hash64();

  // Appends `size` bytes. `data` may be null when `size` is 0.
  void Update(const void* data, size_t size);
  // Appends the 8 little-endian bytes of `value` (the same on every machine).
  void UpdateU64(uint64_t value);
  // The hash of everything appended so far. Does not change the state: more Update() calls may
  // follow, and Digest() again gives the hash of the longer input.
  uint64_t Digest() const;

 private:
  static constexpr size_t kStripeBytes = 32;

  void ConsumeStripe(const unsigned char* stripe);

  uint64_t lanes_[4];
  uint64_t total_bytes_ = 0;
  // Bytes of an incomplete stripe, waiting for the next Update() or folded in by Digest().
  unsigned char pending_[kStripeBytes];
  size_t pending_size_ = 0;
};

// Hash64 of the bytes of `bytes`.
uint64_t Hash64Of(std::string_view bytes);

// 16 lowercase hex digits, most significant first: "00f3a1...".
std::string Hex64(uint64_t value);

}  // namespace rwkv

#endif  // RWKV_COMMON_HASH64_H_
