#include "engine/model/formats/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace rwkv::engine {

absl::StatusOr<std::shared_ptr<const MappedFile>> MappedFile::Open(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const std::string reason = std::error_code(errno, std::generic_category()).message();
    return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ", reason));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int error = errno;
    close(fd);
    return absl::ErrnoToStatus(error, absl::StrCat("cannot stat ", path));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(
        path, S_ISDIR(st.st_mode) ? " is a directory" : " is not a regular file"));
  }
  if (st.st_size == 0) {
    close(fd);
    return absl::DataLossError(absl::StrCat(path, ": the file is empty"));
  }
  void* mapping = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  const int error = errno;
  close(fd);  // The mapping keeps the file alive.
  if (mapping == MAP_FAILED) return absl::ErrnoToStatus(error, absl::StrCat("cannot map ", path));
  auto file = std::shared_ptr<MappedFile>(new MappedFile(path));
  file->base_ = static_cast<const uint8_t*>(mapping);
  file->size_ = st.st_size;
  file->mapped_ = true;
  return std::shared_ptr<const MappedFile>(std::move(file));
}

std::shared_ptr<const MappedFile> MappedFile::FromBytes(std::string name, std::string bytes) {
  auto file = std::shared_ptr<MappedFile>(new MappedFile(std::move(name)));
  file->owned_ = std::move(bytes);
  file->base_ = reinterpret_cast<const uint8_t*>(file->owned_.data());
  file->size_ = static_cast<int64_t>(file->owned_.size());
  return file;
}

bool MappedFile::Contains(absl::Span<const uint8_t> range) const {
  // Compared as integers: pointers into different objects have no order in C++.
  const uintptr_t begin = reinterpret_cast<uintptr_t>(range.data());
  const uintptr_t base = reinterpret_cast<uintptr_t>(base_);
  return begin >= base &&
         Has(static_cast<int64_t>(begin - base), static_cast<int64_t>(range.size()));
}

void MappedFile::Release(absl::Span<const uint8_t> range) const {
  if (!mapped_ || range.empty() || !Contains(range)) return;
  const int64_t offset = static_cast<int64_t>(reinterpret_cast<uintptr_t>(range.data()) -
                                              reinterpret_cast<uintptr_t>(base_));
  // The pages are widened to whole pages, the neighbours' bytes included: the mapping is
  // read-only and private, so it never holds a modified page, and MADV_DONTNEED only unmaps
  // pages the page cache still has. (POSIX_FADV_DONTNEED leaves mapped pages resident, and
  // MADV_PAGEOUT evicts them from the page cache too, so the next load reads the disk.)
  const int64_t page = sysconf(_SC_PAGESIZE);
  const int64_t begin = offset / page * page;
  const int64_t end = std::min<int64_t>((offset + range.size() + page - 1) / page * page,
                                        (size_ + page - 1) / page * page);
  madvise(const_cast<uint8_t*>(base_) + begin, static_cast<size_t>(end - begin), MADV_DONTNEED);
}

MappedFile::~MappedFile() {
  if (mapped_) munmap(const_cast<uint8_t*>(base_), static_cast<size_t>(size_));
}

}  // namespace rwkv::engine
