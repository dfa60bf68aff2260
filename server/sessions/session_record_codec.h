// The stored encoding of a SessionRecord (the value under "m/<id>").
//
//   std::string bytes = EncodeSessionRecord(record);
//   RWKV_ASSIGN_OR_RETURN(SessionRecord back, DecodeSessionRecord(record.id, bytes));
//
// Layout of format version 4 (the only one written), little-endian, offsets in bytes:
//     0  magic "\0RWKVSES"                8
//     8  format version u32 = 4            4
//    12  id                                string (the client's ID, not the key: session_scope.h)
//        tenant                            string (empty: the default tenant)
//        model_fingerprint                 string
//        version, token_count              i64, i64
//        created_at, updated_at, expires_at  f64 (IEEE-754 bits as u64) x 3
//        state_bytes                       i64
//        metadata entry count              u32, then each key and value as a string
//        last_turn.turn_id                 string; when empty nothing of the last turn follows,
//                                          else:
//          finish_reason                   u32
//          matched_stop                    string
//          prompt_tokens, generated_tokens i32, i32
//          seed                            u64
//          queue, time to first token, prefill, total  i64 nanoseconds x 4
//          delta count                     u32, then each delta: a u32 token count, that many
//                                          i32 token IDs, and its text as a string
//   end  checksum u64                      Hash64 of every preceding byte
// where a string is a u32 byte count followed by the bytes. Hand-rolled rather than protobuf:
// the checksum catches bit flips a protobuf parse would accept, and it matches the state blob.
//
// Format version 3 is the same without the tenant; version 2 is version 3 up to the metadata,
// with nothing after it (no last turn). Format version 1 is the legacy encoding: a serialized
// rwkv.v1.Session, with no header. A protobuf never starts with a NUL byte (no field has number
// 0), so the two cannot be confused; DecodeSessionRecord reads all four, older ones as records
// of the default tenant, and a store written by an older server opens unchanged (each record
// moves to version 4 the next time it is written).
#ifndef RWKV_SERVER_SESSIONS_SESSION_RECORD_CODEC_H_
#define RWKV_SERVER_SESSIONS_SESSION_RECORD_CODEC_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/sessions/session_record.h"

namespace rwkv::server {

inline constexpr uint32_t kSessionRecordFormatVersion = 4;
inline constexpr absl::string_view kSessionRecordMagic{"\0RWKVSES", 8};

std::string EncodeSessionRecord(const SessionRecord& record);

// `bytes` in any of the encodings as the record stored under `key` (SessionKey: the ID for the
// default tenant). DATA_LOSS when they fail a check (length, magic, format version, checksum,
// structure, a tenant name that is not one, or a legacy record that does not parse) or hold the
// record of another key.
absl::StatusOr<SessionRecord> DecodeSessionRecord(absl::string_view key, absl::string_view bytes);

// Whether `bytes` start as the versioned encoding does (else they are read as legacy).
bool HasSessionRecordMagic(absl::string_view bytes);

}  // namespace rwkv::server

#endif  // RWKV_SERVER_SESSIONS_SESSION_RECORD_CODEC_H_
