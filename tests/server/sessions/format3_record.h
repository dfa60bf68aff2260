// A session record as the format version 3 encoder wrote it (before records kept their tenant):
// what stores written by earlier servers hold, for the codec and legacy store tests.
#ifndef RWKV_TESTS_SERVER_SESSIONS_FORMAT3_RECORD_H_
#define RWKV_TESTS_SERVER_SESSIONS_FORMAT3_RECORD_H_

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "server/sessions/session_record.h"

namespace rwkv::testing {

// The record kFormat3Hex holds (session "chat-1", the default tenant's).
inline server::SessionRecord Format3Record() {
  return {.id = "chat-1",
          .model_fingerprint = "0123456789abcdef",
          .version = 7,
          .token_count = 1234567890123,
          .created_at = 1'700'000'000.25,
          .updated_at = 1'700'000'100.5,
          .expires_at = 1'700'003'700.5,
          .state_bytes = 4096,
          .metadata = {{"user", "ada"}, {"bytes", std::string("\0\xff\n", 3)}, {"empty", ""}},
          .last_turn = {.turn_id = "t1",
                        .deltas = {{.token_ids = {5, 6}, .text = "ok"}},
                        .finish_reason = 1,
                        .prompt_tokens = 3,
                        .generated_tokens = 2,
                        .seed = 9}};
}

// Written by the format 3 encoder (EncodeSessionRecord at commit fda792a) from Format3Record().
inline constexpr absl::string_view kFormat3Hex =
    "0052574b565345530300000006000000636861742d3110000000303132333435363738396162636465660700"
    "000000000000cb04fb711f01000000001040fc54d94100002059fc54d941000020ddff54d941001000000000"
    "0000030000000500000062797465730300000000ff0a05000000656d70747900000000040000007573657203"
    "0000006164610200000074310100000000000000030000000200000009000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000100000002000000050000000600000002000000"
    "6f6bc2b268cf439d97a0";

inline std::string Format3Bytes() { return absl::HexStringToBytes(kFormat3Hex); }

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_SERVER_SESSIONS_FORMAT3_RECORD_H_
