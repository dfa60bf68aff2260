#include "tests/util/shared_data.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace rwkv::testing {

std::string SharedDir() {
  if (const char* env = std::getenv("RWKV_SHARED_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  return RWKV_DEFAULT_SHARED_DIR;
}

std::string SharedPath(absl::string_view relative) {
  return absl::StrCat(SharedDir(), "/", relative);
}

absl::StatusOr<std::string> ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace rwkv::testing
