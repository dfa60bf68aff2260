#include "server/sessions/session_record_codec.h"

#include <bit>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/hash64.h"
#include "common/little_endian.h"
#include "rwkv/v1/rwkv.pb.h"
#include "server/sessions/session_scope.h"
#include "server/sessions/tenant.h"

namespace rwkv::server {
namespace {

constexpr size_t kHeaderBytes = 12;  // magic and format version
constexpr size_t kChecksumBytes = 8;
// The versioned formats before records kept their last turn, and then their tenant.
constexpr uint32_t kFormatWithoutLastTurn = 2;
constexpr uint32_t kFormatWithoutTenant = 3;

void PutU32(uint32_t value, std::string& out) {
  char bytes[4];
  StoreLittleEndian(value, bytes);
  out.append(bytes, sizeof(bytes));
}

void PutU64(uint64_t value, std::string& out) {
  char bytes[8];
  StoreLittleEndian(value, bytes);
  out.append(bytes, sizeof(bytes));
}

void PutString(absl::string_view value, std::string& out) {
  PutU32(static_cast<uint32_t>(value.size()), out);
  out.append(value.data(), value.size());
}

// Reads fields from the front of `rest_`; every read fails (false) rather than run past the end.
class Reader {
 public:
  explicit Reader(absl::string_view bytes) : rest_(bytes) {}
  bool U32(uint32_t& value) { return Fixed(value); }
  bool I32(int32_t& value) {
    uint32_t bits = 0;
    if (!Fixed(bits)) return false;
    value = static_cast<int32_t>(bits);
    return true;
  }
  bool U64(uint64_t& value) { return Fixed(value); }
  bool I64(int64_t& value) {
    uint64_t bits = 0;
    if (!Fixed(bits)) return false;
    value = static_cast<int64_t>(bits);
    return true;
  }
  bool F64(double& value) {
    uint64_t bits = 0;
    if (!Fixed(bits)) return false;
    value = std::bit_cast<double>(bits);
    return true;
  }
  bool String(std::string& value) {
    uint32_t size = 0;
    if (!U32(size) || size > rest_.size()) return false;
    value.assign(rest_.data(), size);
    rest_.remove_prefix(size);
    return true;
  }
  // `count` i32 values; fails before allocating when fewer bytes are left.
  bool I32s(uint32_t count, std::vector<int32_t>& values) {
    if (count > rest_.size() / sizeof(int32_t)) return false;
    values.resize(count);
    for (int32_t& value : values) I32(value);
    return true;
  }
  bool done() const { return rest_.empty(); }

 private:
  template <typename T>
  bool Fixed(T& value) {
    if (rest_.size() < sizeof(T)) return false;
    value = LoadLittleEndian<T>(rest_.data());
    rest_.remove_prefix(sizeof(T));
    return true;
  }
  absl::string_view rest_;
};

absl::Status Corrupt(absl::string_view id, absl::string_view why) {
  return absl::DataLossError(absl::StrCat("session record of ", id, " is corrupt: ", why));
}

void PutLastTurn(const CommittedTurn& turn, std::string& out) {
  PutString(turn.turn_id, out);
  if (turn.turn_id.empty()) return;
  PutU32(static_cast<uint32_t>(turn.finish_reason), out);
  PutString(turn.matched_stop, out);
  PutU32(static_cast<uint32_t>(turn.prompt_tokens), out);
  PutU32(static_cast<uint32_t>(turn.generated_tokens), out);
  PutU64(turn.seed, out);
  for (int64_t ns : {turn.queue_ns, turn.time_to_first_token_ns, turn.prefill_ns, turn.total_ns}) {
    PutU64(static_cast<uint64_t>(ns), out);
  }
  PutU32(static_cast<uint32_t>(turn.deltas.size()), out);
  for (const CommittedTurn::Delta& delta : turn.deltas) {
    PutU32(static_cast<uint32_t>(delta.token_ids.size()), out);
    for (int32_t token : delta.token_ids) PutU32(static_cast<uint32_t>(token), out);
    PutString(delta.text, out);
  }
}

bool ReadLastTurn(Reader& in, CommittedTurn& turn) {
  if (!in.String(turn.turn_id)) return false;
  if (turn.turn_id.empty()) return true;
  uint32_t finish_reason = 0, deltas = 0;
  if (!in.U32(finish_reason) || !in.String(turn.matched_stop) || !in.I32(turn.prompt_tokens) ||
      !in.I32(turn.generated_tokens) || !in.U64(turn.seed) || !in.I64(turn.queue_ns) ||
      !in.I64(turn.time_to_first_token_ns) || !in.I64(turn.prefill_ns) || !in.I64(turn.total_ns) ||
      !in.U32(deltas)) {
    return false;
  }
  turn.finish_reason = static_cast<int32_t>(finish_reason);
  for (uint32_t i = 0; i < deltas; ++i) {
    CommittedTurn::Delta delta;
    uint32_t tokens = 0;
    if (!in.U32(tokens) || !in.I32s(tokens, delta.token_ids) || !in.String(delta.text)) {
      return false;
    }
    turn.deltas.push_back(std::move(delta));
  }
  return true;
}

// The fields after the header (of format version `format`); false when they do not fill `body`
// exactly or the tenant is not a tenant's name.
bool ReadBody(absl::string_view body, uint32_t format, SessionRecord& record) {
  Reader in(body);
  uint32_t entries = 0;
  if (!in.String(record.id)) return false;
  const bool has_tenant = format > kFormatWithoutTenant;
  if (has_tenant && (!in.String(record.tenant) || !ValidateTenant(record.tenant).ok())) {
    return false;
  }
  if (!in.String(record.model_fingerprint) || !in.I64(record.version) ||
      !in.I64(record.token_count) || !in.F64(record.created_at) || !in.F64(record.updated_at) ||
      !in.F64(record.expires_at) || !in.I64(record.state_bytes) || !in.U32(entries)) {
    return false;
  }
  for (uint32_t i = 0; i < entries; ++i) {
    std::string key, value;
    if (!in.String(key) || !in.String(value)) return false;
    if (!record.metadata.emplace(std::move(key), std::move(value)).second) return false;
  }
  if (format != kFormatWithoutLastTurn && !ReadLastTurn(in, record.last_turn)) return false;
  return in.done();
}

absl::StatusOr<SessionRecord> DecodeVersioned(absl::string_view id, absl::string_view bytes) {
  if (bytes.size() < kHeaderBytes + kChecksumBytes) {
    return Corrupt(id, absl::StrCat(bytes.size(), " bytes, shorter than the ",
                                    kHeaderBytes + kChecksumBytes, "-byte minimum"));
  }
  const uint32_t format = LoadLittleEndian<uint32_t>(bytes.data() + kSessionRecordMagic.size());
  if (format < kFormatWithoutLastTurn || format > kSessionRecordFormatVersion) {
    return Corrupt(id, absl::StrCat("unknown format version ", format));
  }
  const size_t checked = bytes.size() - kChecksumBytes;
  if (Hash64Of(std::string_view(bytes.data(), checked)) !=
      LoadLittleEndian<uint64_t>(bytes.data() + checked)) {
    return Corrupt(id, "checksum mismatch");
  }
  SessionRecord record;
  if (!ReadBody(bytes.substr(kHeaderBytes, checked - kHeaderBytes), format, record)) {
    return Corrupt(id, "its fields are malformed or do not fill it exactly");
  }
  return record;
}

absl::StatusOr<SessionRecord> DecodeLegacy(absl::string_view id, absl::string_view bytes) {
  rwkv::v1::Session legacy;
  if (!legacy.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Corrupt(id, "neither a versioned record nor a legacy rwkv.v1.Session");
  }
  SessionRecord record;
  record.id = legacy.id();
  record.model_fingerprint = legacy.model_fingerprint();
  record.version = legacy.version();
  record.token_count = legacy.token_count();
  record.created_at = legacy.created_at();
  record.updated_at = legacy.updated_at();
  record.expires_at = legacy.expires_at();
  record.state_bytes = legacy.state_bytes();
  record.metadata.insert(legacy.metadata().begin(), legacy.metadata().end());
  return record;
}

}  // namespace

std::string EncodeSessionRecord(const SessionRecord& record) {
  std::string out(kSessionRecordMagic);
  PutU32(kSessionRecordFormatVersion, out);
  PutString(record.id, out);
  PutString(record.tenant, out);
  PutString(record.model_fingerprint, out);
  PutU64(static_cast<uint64_t>(record.version), out);
  PutU64(static_cast<uint64_t>(record.token_count), out);
  PutU64(std::bit_cast<uint64_t>(record.created_at), out);
  PutU64(std::bit_cast<uint64_t>(record.updated_at), out);
  PutU64(std::bit_cast<uint64_t>(record.expires_at), out);
  PutU64(static_cast<uint64_t>(record.state_bytes), out);
  PutU32(static_cast<uint32_t>(record.metadata.size()), out);
  for (const auto& [key, value] : record.metadata) {
    PutString(key, out);
    PutString(value, out);
  }
  PutLastTurn(record.last_turn, out);
  PutU64(Hash64Of(out), out);
  return out;
}

bool HasSessionRecordMagic(absl::string_view bytes) {
  return absl::StartsWith(bytes, kSessionRecordMagic);
}

absl::StatusOr<SessionRecord> DecodeSessionRecord(absl::string_view key, absl::string_view bytes) {
  absl::StatusOr<SessionRecord> record =
      HasSessionRecordMagic(bytes) ? DecodeVersioned(key, bytes) : DecodeLegacy(key, bytes);
  if (record.ok() && SessionKey(*record) != key) {
    return Corrupt(key, absl::StrCat("it names session \"", absl::CHexEscape(record->id),
                                     "\" of tenant \"", absl::CHexEscape(record->tenant), "\""));
  }
  return record;
}

}  // namespace rwkv::server
