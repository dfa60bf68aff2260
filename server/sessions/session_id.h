// Validation of what clients name and label sessions with: session IDs and metadata.
//
//   RWKV_RETURN_IF_ERROR(ValidateSessionId(request.source_session_id(), "source_session_id"));
//   RWKV_RETURN_IF_ERROR(ValidateSessionMetadata(metadata));
//
// SessionManager validates every ID and metadata map it is given, so front ends need not; these
// are public for code that must check an ID before it reaches the manager.
#ifndef RWKV_SERVER_SESSIONS_SESSION_ID_H_
#define RWKV_SERVER_SESSIONS_SESSION_ID_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace rwkv::server {

// 1 to 128 characters from [A-Za-z0-9._:-], not starting with '.'; INVALID_ARGUMENT naming
// `field` (and quoting the ID, escaped) otherwise.
absl::Status ValidateSessionId(absl::string_view id, absl::string_view field = "session_id");

// At most 16 entries, keys 1..256 bytes, values at most 256 bytes; INVALID_ARGUMENT otherwise.
absl::Status ValidateSessionMetadata(const std::map<std::string, std::string>& metadata);

}  // namespace rwkv::server

#endif  // RWKV_SERVER_SESSIONS_SESSION_ID_H_
