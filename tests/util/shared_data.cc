#include "tests/util/shared_data.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

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

std::string UniqueTempPath(absl::string_view name) {
  std::string dir = ::testing::TempDir();
  if (!dir.empty() && dir.back() != '/') dir.push_back('/');
  return absl::StrCat(dir, "rwkv-", getpid(), "-", name);
}

absl::StatusOr<std::string> ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace rwkv::testing
