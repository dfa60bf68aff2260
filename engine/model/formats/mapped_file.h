// MappedFile: a file's bytes, read-only, memory-mapped (or held in memory for tests and fuzzers).
//
// Checkpoint readers parse straight from the mapping and their tensors point into it, so a 7B
// checkpoint is paged in as its tensors are read, never copied whole. Readers share ownership of
// the mapping with every tensor view built on it.
//
//   RWKV_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, MappedFile::Open(path));
//   absl::Span<const uint8_t> bytes = file->bytes();
//
// Loaders that are done with a tensor's bytes call Release() on them, so that a file mapped whole
// is never resident whole next to the weights converted from it.
//
// Thread safety: immutable after construction; Release may be called from any thread.
#ifndef RWKV_ENGINE_MODEL_FORMATS_MAPPED_FILE_H_
#define RWKV_ENGINE_MODEL_FORMATS_MAPPED_FILE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace rwkv::engine {

class MappedFile {
 public:
  // NOT_FOUND when `path` cannot be opened (with the system's reason), INVALID_ARGUMENT for a
  // directory or anything but a regular file, DATA_LOSS for an empty file.
  static absl::StatusOr<std::shared_ptr<const MappedFile>> Open(const std::string& path);
  // `bytes` held in memory; `name` stands for the path in messages.
  static std::shared_ptr<const MappedFile> FromBytes(std::string name, std::string bytes);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  absl::Span<const uint8_t> bytes() const { return {base_, static_cast<size_t>(size_)}; }
  int64_t size() const { return size_; }
  // True for a file mapped from disk, false for bytes held in memory.
  bool is_mapped() const { return mapped_; }
  // True when [offset, offset + count) lies inside the file (no overflow for any inputs >= 0).
  bool Has(int64_t offset, int64_t count) const {
    return offset >= 0 && count >= 0 && offset <= size_ && count <= size_ - offset;
  }
  // True when `range` lies inside this file's bytes.
  bool Contains(absl::Span<const uint8_t> range) const;
  // Returns the pages of `range` (bytes of this file) to the OS: the process's resident memory
  // drops by them, the bytes stay readable (a later read pages them in again from the file).
  // Does nothing for bytes held in memory or a range not inside this file.
  void Release(absl::Span<const uint8_t> range) const;

 private:
  explicit MappedFile(std::string path) : path_(std::move(path)) {}

  std::string path_;
  const uint8_t* base_ = nullptr;
  int64_t size_ = 0;
  bool mapped_ = false;
  std::string owned_;
};

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_MODEL_FORMATS_MAPPED_FILE_H_
