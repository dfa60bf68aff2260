// Locating the read-only test data (../shared: models, reference outputs, tokenizers).
#ifndef RWKV_TESTS_UTIL_SHARED_DATA_H_
#define RWKV_TESTS_UTIL_SHARED_DATA_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rwkv::testing {

// $RWKV_SHARED_DIR if set, else the directory configured at build time (../shared).
std::string SharedDir();

// SharedDir() + "/" + relative.
std::string SharedPath(absl::string_view relative);

// A path in the test temp directory that no other test process uses: CTest runs test cases in
// parallel processes, which must not share scratch files.
std::string UniqueTempPath(absl::string_view name);

// Whole file contents; NOT_FOUND naming the path when it cannot be read.
absl::StatusOr<std::string> ReadFileBytes(const std::string& path);

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_UTIL_SHARED_DATA_H_
