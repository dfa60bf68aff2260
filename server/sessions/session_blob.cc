#include "server/sessions/session_blob.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/hash64.h"
#include "common/little_endian.h"

namespace rwkv::server {
namespace {

constexpr char kMagic[8] = {'R', 'W', 'K', 'V', 'S', 'T', 'A', 'T'};
constexpr size_t kFormatOffset = 8;
constexpr size_t kDTypeOffset = 12;
constexpr size_t kFingerprintOffset = 16;
constexpr size_t kFloatsOffset = 32;
constexpr size_t kTokenCountOffset = 40;
constexpr size_t kVersionOffset = 48;
constexpr size_t kHeaderBytes = 56;
constexpr size_t kChecksumBytes = 8;

void StorePayload(absl::Span<const float> state, char* out) {
  if constexpr (std::endian::native == std::endian::little) {
    if (!state.empty()) std::memcpy(out, state.data(), state.size() * sizeof(float));
  } else {
    for (size_t i = 0; i < state.size(); ++i) {
      StoreLittleEndian(std::bit_cast<uint32_t>(state[i]), out + i * sizeof(float));
    }
  }
}

void LoadPayload(const char* in, std::vector<float>& state) {
  if constexpr (std::endian::native == std::endian::little) {
    if (!state.empty()) std::memcpy(state.data(), in, state.size() * sizeof(float));
  } else {
    for (size_t i = 0; i < state.size(); ++i) {
      state[i] = std::bit_cast<float>(LoadLittleEndian<uint32_t>(in + i * sizeof(float)));
    }
  }
}

absl::Status Corrupt(absl::string_view why) {
  return absl::DataLossError(absl::StrCat("session state blob is corrupt: ", why));
}

// The structural checks, in the documented order; on success *floats is the state size.
absl::Status CheckIntegrity(absl::string_view bytes, uint64_t* floats) {
  if (bytes.size() < kHeaderBytes + kChecksumBytes) {
    return Corrupt(absl::StrCat(bytes.size(), " bytes, shorter than the ",
                                kHeaderBytes + kChecksumBytes, "-byte minimum"));
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) return Corrupt("bad magic");
  const uint32_t format = LoadLittleEndian<uint32_t>(bytes.data() + kFormatOffset);
  if (format != kStateBlobFormatVersion) {
    return Corrupt(absl::StrCat("unknown format version ", format));
  }
  const uint64_t payload_bytes = bytes.size() - kHeaderBytes - kChecksumBytes;
  *floats = LoadLittleEndian<uint64_t>(bytes.data() + kFloatsOffset);
  // Compared by division first so that a huge count cannot overflow the multiplication.
  if (*floats > payload_bytes / sizeof(float) || *floats * sizeof(float) != payload_bytes) {
    return Corrupt(
        absl::StrCat(bytes.size(), " bytes do not hold a state of ", *floats, " floats"));
  }
  const size_t checked = bytes.size() - kChecksumBytes;
  const uint64_t stored = LoadLittleEndian<uint64_t>(bytes.data() + checked);
  if (Hash64Of(std::string_view(bytes.data(), checked)) != stored) {
    return Corrupt("checksum mismatch");
  }
  return absl::OkStatus();
}

absl::Status CheckCompatible(absl::string_view fingerprint, uint32_t dtype, uint64_t floats,
                             absl::string_view expected_fingerprint, int64_t expected_floats) {
  if (fingerprint != expected_fingerprint) {
    return absl::FailedPreconditionError(absl::StrCat("session was created by model ",
                                                      absl::CHexEscape(fingerprint),
                                                      ", this server runs ", expected_fingerprint));
  }
  if (dtype != kStateDTypeF32) {
    return absl::FailedPreconditionError(
        absl::StrCat("session state has dtype ", dtype, "; this server uses f32 (0)"));
  }
  if (expected_floats < 0 || floats != static_cast<uint64_t>(expected_floats)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "session state has ", floats, " floats; this server's model uses ", expected_floats));
  }
  return absl::OkStatus();
}

}  // namespace

int64_t StateBlobSize(int64_t state_floats) {
  return static_cast<int64_t>(kHeaderBytes + kChecksumBytes) +
         state_floats * static_cast<int64_t>(sizeof(float));
}

std::string EncodeStateBlob(const BlobHeader& header, absl::Span<const float> state) {
  std::string out(StateBlobSize(static_cast<int64_t>(state.size())), '\0');
  char* p = out.data();
  std::memcpy(p, kMagic, sizeof(kMagic));
  StoreLittleEndian<uint32_t>(kStateBlobFormatVersion, p + kFormatOffset);
  StoreLittleEndian<uint32_t>(kStateDTypeF32, p + kDTypeOffset);
  std::memset(p + kFingerprintOffset, '?', kFingerprintChars);
  std::memcpy(p + kFingerprintOffset, header.model_fingerprint.data(),
              std::min(header.model_fingerprint.size(), kFingerprintChars));
  StoreLittleEndian<uint64_t>(state.size(), p + kFloatsOffset);
  StoreLittleEndian<uint64_t>(header.token_count, p + kTokenCountOffset);
  StoreLittleEndian<uint64_t>(header.version, p + kVersionOffset);
  StorePayload(state, p + kHeaderBytes);
  const size_t checked = out.size() - kChecksumBytes;
  StoreLittleEndian<uint64_t>(Hash64Of(std::string_view(p, checked)), p + checked);
  return out;
}

absl::StatusOr<DecodedBlob> DecodeStateBlob(absl::string_view bytes,
                                            absl::string_view expected_fingerprint,
                                            int64_t expected_floats) {
  uint64_t floats = 0;
  if (absl::Status status = CheckIntegrity(bytes, &floats); !status.ok()) return status;
  const absl::string_view fingerprint = bytes.substr(kFingerprintOffset, kFingerprintChars);
  const uint32_t dtype = LoadLittleEndian<uint32_t>(bytes.data() + kDTypeOffset);
  if (absl::Status status =
          CheckCompatible(fingerprint, dtype, floats, expected_fingerprint, expected_floats);
      !status.ok()) {
    return status;
  }
  DecodedBlob blob;
  blob.header.model_fingerprint = std::string(fingerprint);
  blob.header.token_count =
      static_cast<int64_t>(LoadLittleEndian<uint64_t>(bytes.data() + kTokenCountOffset));
  blob.header.version =
      static_cast<int64_t>(LoadLittleEndian<uint64_t>(bytes.data() + kVersionOffset));
  blob.state.resize(floats);
  LoadPayload(bytes.data() + kHeaderBytes, blob.state);
  return blob;
}

}  // namespace rwkv::server
