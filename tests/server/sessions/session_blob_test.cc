#include "server/sessions/session_blob.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "common/hash64.h"

namespace rwkv::server {
namespace {

constexpr char kFingerprint[] = "0123456789abcdef";
constexpr char kOtherFingerprint[] = "fedcba9876543210";

std::vector<float> TestState(int n) {
  std::vector<float> state(n);
  for (int i = 0; i < n; ++i) state[i] = 0.25f * static_cast<float>(i) - 1.0f;
  return state;
}

std::string TestBlob(const std::vector<float>& state) {
  return EncodeStateBlob({kFingerprint, /*token_count=*/1234, /*version=*/7}, state);
}

uint64_t LoadU64(const std::string& bytes, size_t offset) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[offset + i]);
  return value;
}

void StoreU32(uint32_t value, size_t offset, std::string& bytes) {
  for (int i = 0; i < 4; ++i) bytes[offset + i] = static_cast<char>(value >> (8 * i));
}

// Recomputes the trailing checksum, as a writer of that content would have.
void Reseal(std::string& bytes) {
  const size_t checked = bytes.size() - 8;
  uint64_t sum = Hash64Of(std::string_view(bytes.data(), checked));
  for (int i = 0; i < 8; ++i) bytes[checked + i] = static_cast<char>(sum >> (8 * i));
}

TEST(SessionBlobTest, RoundTrip) {
  std::vector<float> state = TestState(1000);
  state[3] = std::numeric_limits<float>::quiet_NaN();
  state[4] = -0.0f;
  state[5] = std::numeric_limits<float>::infinity();
  const std::string bytes = TestBlob(state);
  EXPECT_EQ(static_cast<int64_t>(bytes.size()), StateBlobSize(1000));
  absl::StatusOr<DecodedBlob> blob = DecodeStateBlob(bytes, kFingerprint, 1000);
  ASSERT_TRUE(blob.ok()) << blob.status();
  EXPECT_EQ(blob->header.model_fingerprint, kFingerprint);
  EXPECT_EQ(blob->header.token_count, 1234);
  EXPECT_EQ(blob->header.version, 7);
  ASSERT_EQ(blob->state.size(), state.size());
  // Bit for bit, NaN and signed zero included.
  EXPECT_EQ(std::memcmp(blob->state.data(), state.data(), state.size() * sizeof(float)), 0);
}

TEST(SessionBlobTest, EmptyStateRoundTrips) {
  const std::string bytes = EncodeStateBlob({kFingerprint, 0, 0}, {});
  EXPECT_EQ(bytes.size(), 64u);
  absl::StatusOr<DecodedBlob> blob = DecodeStateBlob(bytes, kFingerprint, 0);
  ASSERT_TRUE(blob.ok()) << blob.status();
  EXPECT_TRUE(blob->state.empty());
}

// Pins the documented layout: stored blobs must stay readable across releases.
TEST(SessionBlobTest, LayoutIsLittleEndianAsDocumented) {
  const std::string bytes = EncodeStateBlob({kFingerprint, 0x0102, 0x0304}, {1.0f, 2.0f});
  ASSERT_EQ(bytes.size(), 56u + 8u + 8u);
  EXPECT_EQ(bytes.substr(0, 8), "RWKVSTAT");
  EXPECT_EQ(bytes.substr(8, 8), std::string("\x01\0\0\0\0\0\0\0", 8));  // format 1, dtype f32
  EXPECT_EQ(bytes.substr(16, 16), kFingerprint);
  EXPECT_EQ(LoadU64(bytes, 32), 2u);
  EXPECT_EQ(LoadU64(bytes, 40), 0x0102u);
  EXPECT_EQ(LoadU64(bytes, 48), 0x0304u);
  EXPECT_EQ(bytes.substr(56, 4), std::string("\0\0\x80\x3f", 4));  // 1.0f
  EXPECT_EQ(LoadU64(bytes, 64), Hash64Of(std::string_view(bytes.data(), 64)));
}

TEST(SessionBlobTest, EveryFlippedByteIsDataLoss) {
  const std::string good = TestBlob(TestState(5));
  for (size_t i = 0; i < good.size(); ++i) {
    for (unsigned char mask : {0x01, 0x80, 0xff}) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      absl::StatusOr<DecodedBlob> blob = DecodeStateBlob(bad, kFingerprint, 5);
      ASSERT_EQ(blob.status().code(), absl::StatusCode::kDataLoss)
          << "byte " << i << " mask " << int{mask} << ": " << blob.status();
      EXPECT_NE(blob.status().message().find("session state blob is corrupt"),
                absl::string_view::npos);
    }
  }
}

TEST(SessionBlobTest, EveryTruncationIsDataLoss) {
  const std::string good = TestBlob(TestState(5));
  for (size_t length = 0; length < good.size(); ++length) {
    absl::StatusOr<DecodedBlob> blob = DecodeStateBlob(good.substr(0, length), kFingerprint, 5);
    ASSERT_EQ(blob.status().code(), absl::StatusCode::kDataLoss) << length;
  }
  EXPECT_EQ(DecodeStateBlob(good + '\0', kFingerprint, 5).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(SessionBlobTest, HugeFloatCountIsDataLossWithoutOverflow) {
  std::string bad = TestBlob(TestState(5));
  for (uint64_t floats : {uint64_t{1} << 62, ~uint64_t{0}, uint64_t{6}, uint64_t{4}}) {
    for (int i = 0; i < 8; ++i) bad[32 + i] = static_cast<char>(floats >> (8 * i));
    Reseal(bad);
    EXPECT_EQ(DecodeStateBlob(bad, kFingerprint, 5).status().code(), absl::StatusCode::kDataLoss)
        << floats;
  }
}

TEST(SessionBlobTest, UnknownFormatVersionIsDataLoss) {
  std::string bad = TestBlob(TestState(5));
  StoreU32(2, 8, bad);
  Reseal(bad);
  absl::Status status = DecodeStateBlob(bad, kFingerprint, 5).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(status.message().find("format version 2"), absl::string_view::npos) << status;
}

TEST(SessionBlobTest, OtherModelIsFailedPrecondition) {
  const std::string bytes = TestBlob(TestState(5));
  absl::Status status = DecodeStateBlob(bytes, kOtherFingerprint, 5).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find(kFingerprint), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find(kOtherFingerprint), absl::string_view::npos) << status;
}

TEST(SessionBlobTest, OtherStateSizeIsFailedPrecondition) {
  const std::string bytes = TestBlob(TestState(5));
  EXPECT_EQ(DecodeStateBlob(bytes, kFingerprint, 6).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(DecodeStateBlob(bytes, kFingerprint, 4).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(SessionBlobTest, OtherDTypeIsFailedPrecondition) {
  std::string bytes = TestBlob(TestState(5));
  StoreU32(1, 12, bytes);
  Reseal(bytes);
  EXPECT_EQ(DecodeStateBlob(bytes, kFingerprint, 5).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// Integrity is judged before compatibility: a damaged blob of another model is DATA_LOSS.
TEST(SessionBlobTest, CorruptionWinsOverMismatch) {
  std::string bad = TestBlob(TestState(5));
  bad[60] ^= 1;
  EXPECT_EQ(DecodeStateBlob(bad, kOtherFingerprint, 9).status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace rwkv::server
