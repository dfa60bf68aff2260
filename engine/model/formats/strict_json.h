// ParseStrictJson: nlohmann::json parsing for checkpoint headers, with errors as Status.
//
// Stricter than plain parsing where a file could otherwise mean two things: a key repeated in an
// object (nlohmann would silently keep one) is refused, and so is nesting deeper than 64 levels
// (no checkpoint header needs it, and a hostile one would otherwise build a huge tree).
//
//   RWKV_ASSIGN_OR_RETURN(nlohmann::json header, ParseStrictJson(text, "x.safetensors: header",
//   8));
#ifndef RWKV_ENGINE_MODEL_FORMATS_STRICT_JSON_H_
#define RWKV_ENGINE_MODEL_FORMATS_STRICT_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace rwkv::engine {

inline constexpr int kMaxJsonDepth = 64;

// INVALID_ARGUMENT naming `what` and the file offset (`base_offset` + the offset in `text`) of
// a syntax error, invalid UTF-8, a duplicate key or too deep a nesting.
absl::StatusOr<nlohmann::json> ParseStrictJson(std::string_view text, const std::string& what,
                                               int64_t base_offset);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_MODEL_FORMATS_STRICT_JSON_H_
