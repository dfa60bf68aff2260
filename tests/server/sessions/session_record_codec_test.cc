// The stored encoding of SessionRecord: round trips, every older encoding (the legacy
// rwkv.v1.Session one included, all read as the default tenant's), and every kind of damage read
// as DATA_LOSS.
#include "server/sessions/session_record_codec.h"

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/hash64.h"
#include "common/little_endian.h"
#include "gtest/gtest.h"
#include "rwkv/v1/rwkv.pb.h"
#include "server/sessions/session_scope.h"
#include "tests/server/sessions/format3_record.h"

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

SessionRecord WithLastTurn() {
  SessionRecord record = Full();
  record.last_turn = {.turn_id = "3f2b8c1e-7d4a-4e59-9a61-0c2d5e8f9b17",
                      .deltas = {{.token_ids = {104, 105, 0, -1}, .text = std::string("hi\0", 3)},
                                 {.token_ids = {}, .text = ""},
                                 {.token_ids = {7}, .text = "\xe2\x82\xac"}},
                      .finish_reason = 1,
                      .matched_stop = "\n\n",
                      .prompt_tokens = 12,
                      .generated_tokens = 5,
                      .seed = 0xfedcba9876543210u,
                      .queue_ns = 1,
                      .time_to_first_token_ns = 2'000'000'000'000,
                      .prefill_ns = -3,
                      .total_ns = INT64_MAX};
  return record;
}

SessionRecord WithTenant(std::string tenant) {
  SessionRecord record = WithLastTurn();
  record.tenant = std::move(tenant);
  return record;
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

void ExpectDataLoss(const absl::StatusOr<SessionRecord>& record, absl::string_view why,
                    absl::string_view key = "chat-1") {
  EXPECT_EQ(record.status().code(), absl::StatusCode::kDataLoss) << why;
  EXPECT_NE(record.status().message().find(absl::StrCat("session record of ", key, " is corrupt")),
            absl::string_view::npos)
      << record.status();
}

TEST(SessionRecordCodecTest, RoundTrips) {
  for (const SessionRecord& record :
       {Full(), WithLastTurn(), SessionRecord{.id = "x"}, WithTenant("acme"),
        WithTenant(std::string(64, 't')),
        SessionRecord{.id = "t", .last_turn = {.turn_id = "only-an-id"}},
        SessionRecord{.id = "neg", .version = -1, .token_count = INT64_MIN, .expires_at = -0.5}}) {
    const std::string bytes = EncodeSessionRecord(record);
    EXPECT_TRUE(HasSessionRecordMagic(bytes));
    EXPECT_EQ(bytes.substr(0, 8), std::string("\0RWKVSES", 8));
    EXPECT_EQ(LoadLittleEndian<uint32_t>(bytes.data() + 8), kSessionRecordFormatVersion);
    absl::StatusOr<SessionRecord> back = DecodeSessionRecord(SessionKey(record), bytes);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, record);
  }
}

// Bytes written by the format version 2 encoder (before records kept their last turn), of
// Full() without its "bytes" metadata entry.
constexpr absl::string_view kFormat2Hex =
    "0052574b565345530200000006000000636861742d3110000000303132333435363738396162636465660700"
    "000000000000cb04fb711f01000000001040fc54d94100002059fc54d941000020ddff54d941001000000000"
    "00000200000005000000656d707479000000000400000075736572030000006164619699a1222dec9c13";

TEST(SessionRecordCodecTest, ReadsFormatVersion2) {
  const std::string bytes = absl::HexStringToBytes(kFormat2Hex);
  ASSERT_EQ(LoadLittleEndian<uint32_t>(bytes.data() + 8), 2u);
  SessionRecord record = Full();
  record.metadata.erase("bytes");
  absl::StatusOr<SessionRecord> back = DecodeSessionRecord("chat-1", bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, record);
  EXPECT_TRUE(back->last_turn.turn_id.empty());
  // Written again, it moves to the current format.
  EXPECT_EQ(LoadLittleEndian<uint32_t>(EncodeSessionRecord(*back).data() + 8),
            kSessionRecordFormatVersion);
  // A format 2 record is still checked: damage under a valid checksum, or a last turn appended
  // (which only format 3 has), is DATA_LOSS.
  ExpectDataLoss(
      DecodeSessionRecord("chat-1", Resealed(bytes, [](std::string& b) { b.push_back('x'); })),
      "trailing bytes in format 2");
  ExpectDataLoss(DecodeSessionRecord(
                     "chat-1", Resealed(bytes, [](std::string& b) { b.append("\0\0\0\0", 4); })),
                 "an empty last turn in format 2");
}

TEST(SessionRecordCodecTest, ReadsFormatVersion3AsTheDefaultTenants) {
  const std::string bytes = testing::Format3Bytes();
  ASSERT_EQ(LoadLittleEndian<uint32_t>(bytes.data() + 8), 3u);
  absl::StatusOr<SessionRecord> back = DecodeSessionRecord("chat-1", bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, testing::Format3Record());
  EXPECT_EQ(back->tenant, "");
  // Written again, it moves to the current format, still the default tenant's.
  const std::string rewritten = EncodeSessionRecord(*back);
  EXPECT_EQ(LoadLittleEndian<uint32_t>(rewritten.data() + 8), kSessionRecordFormatVersion);
  EXPECT_EQ(DecodeSessionRecord("chat-1", rewritten).value(), *back);
  // Never another tenant's record, even under its key.
  ExpectDataLoss(DecodeSessionRecord("~acme/chat-1", bytes), "format 3 under a tenant's key",
                 "~acme/chat-1");
}

TEST(SessionRecordCodecTest, ARecordIsReadOnlyUnderItsTenantsKey) {
  const SessionRecord acme = WithTenant("acme");
  const std::string bytes = EncodeSessionRecord(acme);
  EXPECT_EQ(DecodeSessionRecord("~acme/chat-1", bytes).value(), acme);
  ExpectDataLoss(DecodeSessionRecord("chat-1", bytes), "the default tenant's key");
  ExpectDataLoss(DecodeSessionRecord("~globex/chat-1", bytes), "another tenant's key",
                 "~globex/chat-1");
  ExpectDataLoss(DecodeSessionRecord("~acme/chat-2", bytes), "another ID", "~acme/chat-2");
  // A tenant name that is not one, even under the key it would make.
  for (const std::string& tenant : {std::string("a/b"), std::string("~a"), std::string(65, 't')}) {
    const std::string key = SessionKey(tenant, "chat-1");
    ExpectDataLoss(DecodeSessionRecord(key, EncodeSessionRecord(WithTenant(tenant))), tenant, key);
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
  const std::string bytes = EncodeSessionRecord(WithLastTurn());
  for (size_t size = 1; size < bytes.size(); ++size) {
    ExpectDataLoss(DecodeSessionRecord("chat-1", bytes.substr(0, size)),
                   absl::StrCat("truncated to ", size));
  }
}

TEST(SessionRecordCodecTest, EveryBitFlipIsDataLoss) {
  const std::string bytes = EncodeSessionRecord(WithLastTurn());
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = bytes;
      flipped[i] ^= static_cast<char>(1 << bit);
      ExpectDataLoss(DecodeSessionRecord("chat-1", flipped),
                     absl::StrCat("byte ", i, " bit ", bit));
    }
  }
}

// Under a valid checksum, every cut of a record with a last turn fails the structure check
// (a field cut short, or a count past the end), never a huge allocation.
TEST(SessionRecordCodecTest, LastTurnCutShortUnderAValidChecksumIsDataLoss) {
  const std::string bytes = EncodeSessionRecord(WithLastTurn());
  const std::string without = EncodeSessionRecord(Full());
  // From the end of the metadata (where the last turn starts) to the end of the body.
  for (size_t cut = 1; cut < bytes.size() - without.size() + 4; ++cut) {
    ExpectDataLoss(
        DecodeSessionRecord("chat-1",
                            Resealed(bytes, [cut](std::string& b) { b.resize(b.size() - cut); })),
        absl::StrCat("last turn cut by ", cut));
  }
  // A delta's token count far past the end.
  SessionRecord one = Full();
  one.last_turn = {.turn_id = "t", .deltas = {{.token_ids = {1}, .text = ""}}};
  ExpectDataLoss(DecodeSessionRecord("chat-1", Resealed(EncodeSessionRecord(one),
                                                        [](std::string& b) {
                                                          // count, token, text size (0)
                                                          StoreLittleEndian<uint32_t>(
                                                              0x40000000u,
                                                              b.data() + b.size() - 12);
                                                        })),
                 "a token count past the end");
}

TEST(SessionRecordCodecTest, StructuralDamageUnderAValidChecksumIsDataLoss) {
  const std::string bytes = EncodeSessionRecord(Full());
  ExpectDataLoss(DecodeSessionRecord("chat-1", Resealed(bytes,
                                                        [](std::string& b) {
                                                          StoreLittleEndian<uint32_t>(
                                                              kSessionRecordFormatVersion + 1,
                                                              b.data() + 8);
                                                        })),
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
                                                          // "b" -> "a": a repeated key (before
                                                          // the empty last turn ID).
                                                          b[b.size() - 10] = 'a';
                                                        })),
                 "a repeated metadata key");
  ExpectDataLoss(DecodeSessionRecord("chat-1", std::string("\0RWKVSES", 8)), "header only");
  ExpectDataLoss(DecodeSessionRecord("chat-1", EncodeSessionRecord({.id = "chat-2"})),
                 "another session's record");
}

}  // namespace
}  // namespace rwkv::server
