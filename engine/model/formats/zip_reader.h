// ZipArchive: the entries of a zip archive whose entries are STORED (not compressed), viewed in a
// MappedFile without copying, as torch.save writes its checkpoints.
//
// Reads the end-of-central-directory record (searching back over a trailing comment), the Zip64
// end record and locator (archives and offsets past 4 GiB), the central directory and each
// entry's local header. Sizes come from the central directory: torch.save writes data descriptors
// and leaves the local header's sizes zero. Every offset and size is checked against the file.
//
//   RWKV_ASSIGN_OR_RETURN(ZipArchive zip, ZipArchive::Open(file));
//   const ZipEntry* pickle = zip.Find("archive/data.pkl");
//
// Thread safety: immutable after Open.
#ifndef RWKV_ENGINE_MODEL_FORMATS_ZIP_READER_H_
#define RWKV_ENGINE_MODEL_FORMATS_ZIP_READER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/model/formats/mapped_file.h"

namespace rwkv::engine {

struct ZipEntry {
  std::string name;
  int64_t header_offset = 0;  // Of the local header, for messages.
  int64_t data_offset = 0;    // Of the payload.
  absl::Span<const uint8_t> data;
};

class ZipArchive {
 public:
  // INVALID_ARGUMENT naming the file (and the entry and byte offset where one is at fault) when
  // the bytes are not a zip archive, an entry is compressed or encrypted, or the archive spans
  // disks; DATA_LOSS when a record or payload runs past the end of the file (a truncated file).
  static absl::StatusOr<ZipArchive> Open(std::shared_ptr<const MappedFile> file);

  // True when `bytes` starts with a zip local file header ("PK\3\4").
  static bool LooksLikeZip(absl::Span<const uint8_t> bytes);

  // In central directory order.
  const std::vector<ZipEntry>& entries() const { return entries_; }
  // nullptr when there is no entry of that exact name.
  const ZipEntry* Find(std::string_view name) const;
  const MappedFile& file() const { return *file_; }
  const std::shared_ptr<const MappedFile>& shared_file() const { return file_; }

 private:
  explicit ZipArchive(std::shared_ptr<const MappedFile> file) : file_(std::move(file)) {}

  std::shared_ptr<const MappedFile> file_;
  std::vector<ZipEntry> entries_;
  absl::flat_hash_map<std::string, size_t> index_;
};

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_MODEL_FORMATS_ZIP_READER_H_
