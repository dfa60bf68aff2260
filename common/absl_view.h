// Debian's Abseil has its own string_view type (not std::string_view), which StrCat, StrFormat
// and heterogeneous hash-map lookup need; AsAbsl converts without copying.
#ifndef RWKV_COMMON_ABSL_VIEW_H_
#define RWKV_COMMON_ABSL_VIEW_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace rwkv {

inline absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace rwkv

#endif  // RWKV_COMMON_ABSL_VIEW_H_
