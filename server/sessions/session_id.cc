#include "server/sessions/session_id.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace rwkv::server {
namespace {

constexpr size_t kMaxIdChars = 128;
constexpr size_t kMaxMetadataEntries = 16;
constexpr size_t kMaxMetadataKeyBytes = 256;
constexpr size_t kMaxMetadataValueBytes = 256;

constexpr absl::string_view kIdChars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-";

}  // namespace

absl::Status ValidateSessionId(absl::string_view id, absl::string_view field) {
  if (!id.empty() && id.size() <= kMaxIdChars && id.front() != '.' &&
      id.find_first_not_of(kIdChars) == absl::string_view::npos) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field,
                   " must be 1 to 128 characters from [A-Za-z0-9._:-], not starting with "
                   "'.'; got \"",
                   absl::CHexEscape(id.substr(0, kMaxIdChars + 1)), "\""));
}

absl::Status ValidateSessionMetadata(const std::map<std::string, std::string>& metadata) {
  if (metadata.size() > kMaxMetadataEntries) {
    return absl::InvalidArgumentError(
        absl::StrCat("metadata has ", metadata.size(), " entries; at most 16 are allowed"));
  }
  for (const auto& [key, value] : metadata) {
    if (key.empty() || key.size() > kMaxMetadataKeyBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("metadata keys must be 1 to 256 bytes; got one of ", key.size(), " bytes"));
    }
    if (value.size() > kMaxMetadataValueBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("metadata values must be at most 256 bytes; the one of key \"",
                       absl::CHexEscape(key), "\" has ", value.size()));
    }
  }
  return absl::OkStatus();
}

}  // namespace rwkv::server
