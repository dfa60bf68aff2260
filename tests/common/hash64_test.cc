#include "common/hash64.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>

namespace rwkv {
namespace {

TEST(Hash64Test, SplitInvariant) {
  std::mt19937 rng(5);
  std::string data(1000, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  for (size_t length : {0, 1, 7, 8, 31, 32, 33, 63, 64, 65, 200, 1000}) {
    const std::string_view input(data.data(), length);
    const uint64_t expected = Hash64Of(input);
    for (size_t split = 0; split <= length; ++split) {
      Hash64 h;
      h.Update(input.data(), split);
      h.Update(input.data() + split, length - split);
      ASSERT_EQ(h.Digest(), expected) << length << " " << split;
    }
    Hash64 bytewise;
    for (char c : input) bytewise.Update(&c, 1);
    ASSERT_EQ(bytewise.Digest(), expected) << length;
  }
}

TEST(Hash64Test, StableKnownValues) {
  // Pinned: a change here silently invalidates every stored fingerprint.
  EXPECT_EQ(Hex64(Hash64Of("")), "c03603923986e345");
  EXPECT_EQ(Hex64(Hash64Of("rwkv")), "55138439e492baf0");
  EXPECT_EQ(Hex64(Hash64Of(std::string(100, 'x'))), "f2dbfb7eab3d456b");
  Hash64 h;
  h.UpdateU64(0x0102030405060708ull);
  EXPECT_EQ(h.Digest(), Hash64Of(std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8)));
}

TEST(Hash64Test, DigestDoesNotConsumeState) {
  Hash64 h;
  h.Update("abc", 3);
  EXPECT_EQ(h.Digest(), Hash64Of("abc"));
  h.Update("def", 3);
  EXPECT_EQ(h.Digest(), Hash64Of("abcdef"));
}

TEST(Hash64Test, SensitiveToEveryBitAndLength) {
  std::string data(96, 'a');
  std::vector<uint64_t> seen = {Hash64Of(data), Hash64Of(data + '\0'),
                                Hash64Of(data + std::string(2, '\0'))};
  for (size_t i = 0; i < data.size() * 8; ++i) {
    std::string flipped = data;
    flipped[i / 8] = static_cast<char>(flipped[i / 8] ^ (1 << (i % 8)));
    seen.push_back(Hash64Of(flipped));
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end());
}

TEST(Hash64Test, Hex64) {
  EXPECT_EQ(Hex64(0), "0000000000000000");
  EXPECT_EQ(Hex64(0x0123456789abcdefull), "0123456789abcdef");
  EXPECT_EQ(Hex64(~0ull), "ffffffffffffffff");
}

// ---- The shared tiny models ----

}  // namespace
}  // namespace rwkv
