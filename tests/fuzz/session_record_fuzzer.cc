// Fuzzes DecodeSessionRecord (server/sessions/session_record_codec.h): the versioned encoding
// and the legacy rwkv.v1.Session one, as read back from the store.
//
// Input: a chunk (tests/fuzz/fuzz_input.h) with the session ID the record is read as, then the
// stored bytes. A refused record must be DATA_LOSS; a decoded one must carry that ID, and
// encoding it again must give bytes that decode to the same encoding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/stubs/logging.h"
#include "server/sessions/session_id.h"
#include "server/sessions/session_record_codec.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_input.h"

using rwkv::server::DecodeSessionRecord;
using rwkv::server::EncodeSessionRecord;
using rwkv::server::SessionRecord;

namespace {

// Debian's Abseil has its own string_view type.
absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Garbage read as a legacy protobuf logs invalid UTF-8 at every run otherwise.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rwkv::fuzz::FuzzInput in(data, size);
  const absl::string_view id = AsAbsl(in.Chunk());
  const absl::string_view bytes = AsAbsl(in.Rest());
  (void)rwkv::server::ValidateSessionId(id);

  const absl::StatusOr<SessionRecord> record = DecodeSessionRecord(id, bytes);
  if (!record.ok()) {
    FUZZ_CHECK(record.status().code() == absl::StatusCode::kDataLoss, record.status());
    return 0;
  }
  FUZZ_CHECK(record->id == id, "decoded the record of another session");
  (void)rwkv::server::ValidateSessionMetadata(record->metadata);

  const std::string encoded = EncodeSessionRecord(*record);
  FUZZ_CHECK(rwkv::server::HasSessionRecordMagic(encoded), "encoding without the magic");
  const absl::StatusOr<SessionRecord> again = DecodeSessionRecord(id, encoded);
  FUZZ_CHECK(again.ok(), "a record it encoded does not decode: " << again.status());
  // Compared as bytes: a NaN timestamp is not equal to itself.
  FUZZ_CHECK(EncodeSessionRecord(*again) == encoded, "re-encoding changed the record");
  return 0;
}
