#include "common/hash64.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "common/little_endian.h"

namespace rwkv {
namespace {

// Odd 64-bit multipliers with well-spread bits (the first is 2^64 / golden ratio); the seeds are
// hex digits of pi. Changing any constant changes every stored fingerprint.
constexpr uint64_t kMulA = 0x9e3779b97f4a7c15ull;
constexpr uint64_t kMulB = 0xc2b2ae3d27d4eb4full;
constexpr uint64_t kMulC = 0xd6e8feb86659fd93ull;
constexpr uint64_t kSeeds[4] = {0x243f6a8885a308d3ull, 0x13198a2e03707344ull, 0xa4093822299f31d0ull,
                                0x082efa98ec4e6c89ull};

// Folds one input word into a lane. The word is pre-multiplied so that every input bit reaches
// the high half; the rotation brings those high bits back down before the next multiply.
uint64_t Round(uint64_t lane, uint64_t word) {
  lane ^= word * kMulB;
  lane = std::rotl(lane, 29);
  return lane * kMulA;
}

// Full avalanche: every input bit affects every output bit with probability close to 1/2.
uint64_t Avalanche(uint64_t h) {
  h ^= h >> 31;
  h *= kMulC;
  h ^= h >> 29;
  h *= kMulB;
  h ^= h >> 32;
  h *= kMulA;
  h ^= h >> 29;
  return h;
}

}  // namespace

Hash64::Hash64() {
  for (int i = 0; i < 4; ++i) lanes_[i] = kSeeds[i];
}

void Hash64::ConsumeStripe(const unsigned char* stripe) {
  for (int i = 0; i < 4; ++i) lanes_[i] = Round(lanes_[i], LoadLittleEndian<uint64_t>(stripe + 8 * i));
}

void Hash64::Update(const void* data, size_t size) {
  if (size == 0) return;
  const auto* p = static_cast<const unsigned char*>(data);
  total_bytes_ += size;
  if (pending_size_ > 0) {
    const size_t take = std::min(size, kStripeBytes - pending_size_);
    std::memcpy(pending_ + pending_size_, p, take);
    pending_size_ += take;
    p += take;
    size -= take;
    if (pending_size_ < kStripeBytes) return;
    ConsumeStripe(pending_);
    pending_size_ = 0;
  }
  for (; size >= kStripeBytes; p += kStripeBytes, size -= kStripeBytes) ConsumeStripe(p);
  std::memcpy(pending_, p, size);
  pending_size_ = size;
}

void Hash64::UpdateU64(uint64_t value) {
  unsigned char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(value >> (8 * i));
  Update(bytes, sizeof(bytes));
}

uint64_t Hash64::Digest() const {
  // Combine the lanes in a fixed order, then the pending tail word by word; the total length goes
  // in first so that inputs differing only by trailing zero bytes differ.
  uint64_t h = Avalanche(total_bytes_ * kMulC + kSeeds[0]);
  for (int i = 0; i < 4; ++i) h = Round(h, Avalanche(lanes_[i]));
  size_t i = 0;
  for (; i + 8 <= pending_size_; i += 8) h = Round(h, LoadLittleEndian<uint64_t>(pending_ + i));
  if (i < pending_size_) {
    unsigned char last[8] = {};
    std::memcpy(last, pending_ + i, pending_size_ - i);
    h = Round(h, LoadLittleEndian<uint64_t>(last));
  }
  return Avalanche(h);
}

uint64_t Hash64Of(std::string_view bytes) {
  Hash64 h;
  h.Update(bytes.data(), bytes.size());
  return h.Digest();
}

std::string Hex64(uint64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, value >>= 4) out[i] = kDigits[value & 15];
  return out;
}

}  // namespace rwkv
