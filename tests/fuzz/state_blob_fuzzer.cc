// Fuzzes DecodeStateBlob (server/sessions/session_blob.h) with whole blobs as stored.
//
// Each input is decoded twice: against a fixed server (fingerprint and state size as a real
// server would expect), and against the fingerprint and size the input itself claims, which lets
// intact blobs reach the copy-out. A blob that decodes must re-encode to exactly its own bytes,
// and its status, when refused, must be one of the two documented codes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/little_endian.h"
#include "server/sessions/session_blob.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using rwkv::server::DecodedBlob;
using rwkv::server::DecodeStateBlob;
using rwkv::server::EncodeStateBlob;

void CheckDecode(absl::string_view bytes, absl::string_view fingerprint, int64_t floats) {
  const absl::StatusOr<DecodedBlob> blob = DecodeStateBlob(bytes, fingerprint, floats);
  if (!blob.ok()) {
    const absl::StatusCode code = blob.status().code();
    FUZZ_CHECK(code == absl::StatusCode::kDataLoss ||
                   code == absl::StatusCode::kFailedPrecondition,
               blob.status());
    return;
  }
  FUZZ_CHECK(blob->header.model_fingerprint == fingerprint, blob->header.model_fingerprint);
  FUZZ_CHECK(static_cast<int64_t>(blob->state.size()) == floats, blob->state.size());
  FUZZ_CHECK(EncodeStateBlob(blob->header, blob->state) == bytes,
             "a decoded blob does not re-encode to its own bytes");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  // The tiny RWKV-7 model's state: 12 layers x (2 + 64) x 64 floats.
  CheckDecode(bytes, "0123456789abcdef", 12 * 66 * 64);
  // What the blob claims (offsets as in session_blob.h), so that intact blobs decode.
  if (size >= 40) {
    const uint64_t floats = rwkv::LoadLittleEndian<uint64_t>(data + 32);
    if (floats <= (uint64_t{1} << 40)) {
      CheckDecode(bytes, bytes.substr(16, rwkv::server::kFingerprintChars),
                  static_cast<int64_t>(floats));
    }
  }
  return 0;
}
