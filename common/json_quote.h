#ifndef RWKV_COMMON_JSON_QUOTE_H_
#define RWKV_COMMON_JSON_QUOTE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace rwkv {

// `text` as a JSON string literal, quotes included. Control characters are escaped; other bytes
// pass through, since JSON text is UTF-8.
std::string JsonQuote(absl::string_view text);

}  // namespace rwkv

#endif  // RWKV_COMMON_JSON_QUOTE_H_
