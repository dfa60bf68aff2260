// ScopedTempDir: a fresh directory under ::testing::TempDir(), unique to this process and test,
// removed with its contents when destroyed.
#ifndef RWKV_TESTS_UTIL_SCOPED_TEMP_DIR_H_
#define RWKV_TESTS_UTIL_SCOPED_TEMP_DIR_H_

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"

namespace rwkv::testing {

class ScopedTempDir {
 public:
  ScopedTempDir() {
    static std::atomic<int> counter{0};
    const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
    const std::string name = absl::StrReplaceAll(test != nullptr ? test->name() : "", {{"/", "_"}});
    path_ = (std::filesystem::path(::testing::TempDir()) /
             absl::StrCat("rwkv_", getpid(), "_", counter++, "_", name))
                .string();
    std::filesystem::remove_all(path_);
  }
  ~ScopedTempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_UTIL_SCOPED_TEMP_DIR_H_
