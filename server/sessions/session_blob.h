// The state blob of a session: a recurrent state with everything needed to refuse the wrong one.
//
//   BlobHeader header{.model_fingerprint = "0123456789abcdef", .token_count = 42, .version = 3};
//   std::string bytes = EncodeStateBlob(header, state);
//   RWKV_ASSIGN_OR_RETURN(DecodedBlob blob,
//                         DecodeStateBlob(bytes, engine.fingerprint(), state.size()));
//
// Layout, little-endian (offsets in bytes):
//     0  magic "RWKVSTAT"            8
//     8  format version u32 = 1     4
//    12  dtype u32 (0 = f32)        4
//    16  model fingerprint          16 ASCII hex characters
//    32  state_floats u64           8
//    40  token_count u64            8
//    48  version u64                8
//    56  payload                    state_floats x f32
//   end  checksum u64               Hash64 of every preceding byte
//
// A blob that fails a structural check (length, magic, format version, checksum) is DATA_LOSS;
// an intact blob that does not fit this server (another model, dtype or state size) is
// FAILED_PRECONDITION. Decoding never reads outside `bytes`.
#ifndef RWKV_SERVER_SESSIONS_SESSION_BLOB_H_
#define RWKV_SERVER_SESSIONS_SESSION_BLOB_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace rwkv::server {

inline constexpr uint32_t kStateBlobFormatVersion = 1;
inline constexpr uint32_t kStateDTypeF32 = 0;
inline constexpr size_t kFingerprintChars = 16;

struct BlobHeader {
  std::string model_fingerprint;  // kFingerprintChars hex characters
  int64_t token_count = 0;
  int64_t version = 0;
};

struct DecodedBlob {
  BlobHeader header;
  std::vector<float> state;
};

// Bytes of the encoded blob of a state of `state_floats` floats.
int64_t StateBlobSize(int64_t state_floats);

// Serializes `state` with `header`. The fingerprint must be kFingerprintChars long (callers
// validate it; a different length is cut or padded with '?', which never decodes as a match).
std::string EncodeStateBlob(const BlobHeader& header, absl::Span<const float> state);

// Checks `bytes` (see the file comment for the order and codes) and copies out the state.
absl::StatusOr<DecodedBlob> DecodeStateBlob(absl::string_view bytes,
                                            absl::string_view expected_fingerprint,
                                            int64_t expected_floats);

}  // namespace rwkv::server

#endif  // RWKV_SERVER_SESSIONS_SESSION_BLOB_H_
