// The stored encoding of SessionRecord: round trips, the legacy rwkv.v1.Session encoding, and
// every kind of damage read as DATA_LOSS.
#include "server/sessions/session_record_codec.h"

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/hash64.h"
#include "common/little_endian.h"
#include "gtest/gtest.h"
#include "rwkv/v1/rwkv.pb.h"

namespace rwkv::server {
namespace {

constexpr size_t kHeaderBytes = 12;
constexpr size_t kChecksumBytes = 8;

SessionRecord Full() {
  return {.id = "chat-1",
          .model_fingerprint = "0123456789abcdef",
          .version = 7,
          .token_count = 1234567890123,
          .created_at = 1'700'000'000.25,
          .updated_at = 1'700'000'100.5,
          .expires_at = 1'700'003'700.5,
          .state_bytes = 4096,
          .metadata = {{"user", "ada"}, {"bytes", std::string("\0\xff\n", 3)}, {"empty", ""}}};
}

// `bytes` with its body replaced by `edit(body)` and a checksum that matches again: damage only
// the structural checks can catch.
template <typename Edit>
std::string Resealed(const std::string& bytes, Edit edit) {
  std::string out = bytes.substr(0, bytes.size() - kChecksumBytes);
  edit(out);
  char checksum[kChecksumBytes];
  StoreLittleEndian<uint64_t>(Hash64Of(out), checksum);
  return out.append(checksum, kChecksumBytes);
}

void ExpectDataLoss(const absl::StatusOr<SessionRecord>& record, absl::string_view why) {
  EXPECT_EQ(record.status().code(), absl::StatusCode::kDataLoss) << why;
  EXPECT_NE(record.status().message().find("session record of chat-1 is corrupt"),
            absl::string_view::npos)
      << record.status();
}

TEST(SessionRecordCodecTest, RoundTrips) {
  for (const SessionRecord& record :
       {Full(), SessionRecord{.id = "x"},
        SessionRecord{.id = "neg", .version = -1, .token_count = INT64_MIN, .expires_at = -0.5}}) {
    const std::string bytes = EncodeSessionRecord(record);
    EXPECT_TRUE(HasSessionRecordMagic(bytes));
    EXPECT_EQ(bytes.substr(0, 8), std::string("\0RWKVSES", 8));
    EXPECT_EQ(LoadLittleEndian<uint32_t>(bytes.data() + 8), kSessionRecordFormatVersion);
    absl::StatusOr<SessionRecord> back = DecodeSessionRecord(record.id, bytes);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, record);
  }
}

TEST(SessionRecordCodecTest, ReadsTheLegacyEncoding) {
  SessionRecord record = Full();
  record.metadata.erase("bytes");  // protobuf strings are UTF-8: never in a legacy record
  rwkv::v1::Session legacy;
  legacy.set_id(record.id);
  legacy.set_version(record.version);
  legacy.set_token_count(record.token_count);
  legacy.set_created_at(record.created_at);
  legacy.set_updated_at(record.updated_at);
  legacy.set_expires_at(record.expires_at);
  legacy.mutable_metadata()->insert(record.metadata.begin(), record.metadata.end());
  legacy.set_model_fingerprint(record.model_fingerprint);
  legacy.set_state_bytes(record.state_bytes);
  const std::string bytes = legacy.SerializeAsString();
  EXPECT_FALSE(HasSessionRecordMagic(bytes));
  absl::StatusOr<SessionRecord> back = DecodeSessionRecord(record.id, bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, record);
  // Filed under another ID, or not a protobuf at all.
  EXPECT_EQ(DecodeSessionRecord("chat-2", bytes).status().code(), absl::StatusCode::kDataLoss);
  ExpectDataLoss(DecodeSessionRecord("chat-1", "\xff\xff not a protobuf"), "garbage");
  ExpectDataLoss(DecodeSessionRecord("chat-1", ""), "empty: a record of no ID");
}

TEST(SessionRecordCodecTest, EveryTruncationIsDataLoss) {
  const std::string bytes = EncodeSessionRecord(Full());
  for (size_t size = 1; size < bytes.size(); ++size) {
    ExpectDataLoss(DecodeSessionRecord("chat-1", bytes.substr(0, size)),
                   absl::StrCat("truncated to ", size));
  }
}

TEST(SessionRecordCodecTest, EveryBitFlipIsDataLoss) {
  const std::string bytes = EncodeSessionRecord(Full());
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = bytes;
      flipped[i] ^= static_cast<char>(1 << bit);
      ExpectDataLoss(DecodeSessionRecord("chat-1", flipped),
                     absl::StrCat("byte ", i, " bit ", bit));
    }
  }
}

TEST(SessionRecordCodecTest, StructuralDamageUnderAValidChecksumIsDataLoss) {
  const std::string bytes = EncodeSessionRecord(Full());
  ExpectDataLoss(
      DecodeSessionRecord(
          "chat-1",
          Resealed(bytes, [](std::string& b) { StoreLittleEndian<uint32_t>(3, b.data() + 8); })),
      "unknown format version");
  ExpectDataLoss(
      DecodeSessionRecord("chat-1", Resealed(bytes, [](std::string& b) { b.push_back('x'); })),
      "trailing bytes");
  ExpectDataLoss(
      DecodeSessionRecord("chat-1", Resealed(bytes, [](std::string& b) { b.pop_back(); })),
      "a field cut short");
  ExpectDataLoss(DecodeSessionRecord("chat-1", Resealed(bytes,
                                                        [](std::string& b) {
                                                          // The ID's length, past the end.
                                                          StoreLittleEndian<uint32_t>(
                                                              0xffffffffu, b.data() + kHeaderBytes);
                                                        })),
                 "a length past the end");
  SessionRecord twice = Full();
  twice.metadata = {{"a", "1"}, {"b", "2"}};
  ExpectDataLoss(DecodeSessionRecord("chat-1", Resealed(EncodeSessionRecord(twice),
                                                        [](std::string& b) {
                                                          // "b" -> "a": a repeated key.
                                                          b[b.size() - 6] = 'a';
                                                        })),
                 "a repeated metadata key");
  ExpectDataLoss(DecodeSessionRecord("chat-1", std::string("\0RWKVSES", 8)), "header only");
  ExpectDataLoss(DecodeSessionRecord("chat-1", EncodeSessionRecord({.id = "chat-2"})),
                 "another session's record");
}

}  // namespace
}  // namespace rwkv::server
