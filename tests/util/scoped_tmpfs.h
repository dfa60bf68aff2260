// ScopedTmpfs: a small tmpfs mounted on a fresh directory for one test, so that the test can
// fill a real filesystem (ENOSPC) without touching the machine's disks; unmounted and removed
// when destroyed. Mounting needs root (CAP_SYS_ADMIN) and a mount(2) that works (not in every
// container): Mount says why not, for a GTEST_SKIP.
//
//   ScopedTmpfs disk;
//   if (absl::Status mounted = disk.Mount(16 << 20); !mounted.ok()) GTEST_SKIP() << mounted;
//   const int64_t filled = FillFilesystem(disk.path() + "/filler");   // now it is full
//   std::filesystem::remove(disk.path() + "/filler");                  // and now it is not
#ifndef RWKV_TESTS_UTIL_SCOPED_TMPFS_H_
#define RWKV_TESTS_UTIL_SCOPED_TMPFS_H_

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tests/util/scoped_temp_dir.h"

namespace rwkv::testing {

class ScopedTmpfs {
 public:
  ScopedTmpfs() = default;
  ~ScopedTmpfs() {
    // The lazy unmount still succeeds if a process the test started has a file open there.
    if (mounted_ && umount(dir_.path().c_str()) != 0) umount2(dir_.path().c_str(), MNT_DETACH);
  }
  ScopedTmpfs(const ScopedTmpfs&) = delete;
  ScopedTmpfs& operator=(const ScopedTmpfs&) = delete;

  // Mounts a tmpfs of `bytes` on path(); FAILED_PRECONDITION saying why it cannot.
  absl::Status Mount(int64_t bytes) {
    if (geteuid() != 0) {
      return absl::FailedPreconditionError("mounting a size-limited tmpfs needs root");
    }
    std::error_code error;
    std::filesystem::create_directories(dir_.path(), error);
    if (error) return absl::FailedPreconditionError(error.message());
    const std::string options = absl::StrCat("size=", bytes, ",mode=0755");
    if (mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, options.c_str()) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("mount -t tmpfs on ", dir_.path(), " failed: ", std::strerror(errno)));
    }
    mounted_ = true;
    return absl::OkStatus();
  }

  const std::string& path() const { return dir_.path(); }

 private:
  ScopedTempDir dir_;  // removed after the unmount (members are destroyed after the body)
  bool mounted_ = false;
};

// Writes `path` until its filesystem is full (ENOSPC); the bytes written. -1 if it cannot be
// created.
inline int64_t FillFilesystem(const std::string& path) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return -1;
  const std::vector<char> chunk(64 << 10, 'f');
  int64_t written = 0;
  for (;;) {
    const ssize_t n = write(fd, chunk.data(), chunk.size());
    if (n <= 0) break;
    written += n;
  }
  close(fd);
  return written;
}

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_UTIL_SCOPED_TMPFS_H_
