#include "engine/model/formats/zip_reader.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/absl_view.h"
#include "common/little_endian.h"
#include "common/status_macros.h"

namespace rwkv::engine {
namespace {

// Record signatures and fixed sizes (PKWARE APPNOTE 4.3).
constexpr uint32_t kLocalHeaderSignature = 0x04034b50;
constexpr uint32_t kCentralHeaderSignature = 0x02014b50;
constexpr uint32_t kEndSignature = 0x06054b50;
constexpr uint32_t kZip64EndSignature = 0x06064b50;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr int64_t kLocalHeaderBytes = 30;
constexpr int64_t kCentralHeaderBytes = 46;
constexpr int64_t kEndBytes = 22;
constexpr int64_t kZip64EndBytes = 56;
constexpr int64_t kZip64LocatorBytes = 20;
constexpr int64_t kMaxCommentBytes = 0xffff;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr uint32_t kNoValue32 = 0xffffffff;
constexpr uint16_t kNoValue16 = 0xffff;

uint16_t U16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t U32(const uint8_t* p) { return LoadLittleEndian<uint32_t>(p); }
int64_t I64(const uint8_t* p) { return static_cast<int64_t>(LoadLittleEndian<uint64_t>(p)); }

std::string Printable(std::string_view s) {
  return absl::CHexEscape(absl::string_view(s.data(), std::min<size_t>(s.size(), 200)));
}

// Where the central directory is and how many entries it holds.
struct Directory {
  int64_t entries = 0;
  int64_t offset = 0;
  int64_t size = 0;
};

// The sizes and local header offset of one central directory entry.
struct CentralEntry {
  std::string name;
  uint16_t flags = 0;
  uint16_t method = 0;
  int64_t compressed = 0;
  int64_t uncompressed = 0;
  int64_t header_offset = 0;
};

class ZipParser {
 public:
  explicit ZipParser(const MappedFile& file) : file_(file), base_(file.bytes().data()) {}

  absl::StatusOr<Directory> ReadDirectory() const;
  // Reads the central directory entry at `pos` and advances it past the entry.
  absl::StatusOr<CentralEntry> ReadCentralEntry(int64_t& pos, int64_t end) const;
  absl::StatusOr<ZipEntry> ReadLocalEntry(const CentralEntry& central) const;

 private:
  absl::StatusOr<int64_t> FindEndRecord() const;
  absl::StatusOr<Directory> ReadZip64Directory(int64_t end_offset) const;
  absl::Status ReadZip64Extra(const uint8_t* extra, int64_t length, CentralEntry& entry,
                              int64_t pos) const;

  template <typename... Parts>
  absl::Status Invalid(int64_t offset, const Parts&... parts) const {
    return absl::InvalidArgumentError(
        absl::StrCat(file_.path(), ": zip archive, at byte ", offset, ": ", parts...));
  }
  template <typename... Parts>
  absl::Status Truncated(int64_t offset, const Parts&... parts) const {
    return absl::DataLossError(absl::StrCat(file_.path(), ": zip archive, at byte ", offset, ": ",
                                            parts..., " runs past the end of the file (",
                                            file_.size(), " bytes; truncated?)"));
  }

  const MappedFile& file_;
  const uint8_t* base_;
};

absl::StatusOr<int64_t> ZipParser::FindEndRecord() const {
  const int64_t last = file_.size() - kEndBytes;
  const int64_t first = std::max<int64_t>(0, last - kMaxCommentBytes);
  for (int64_t pos = last; pos >= first; --pos) {
    if (U32(base_ + pos) != kEndSignature) continue;
    if (U16(base_ + pos + 20) <= file_.size() - pos - kEndBytes) return pos;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(file_.path(), ": no zip end-of-central-directory record in the last ",
                   std::min<int64_t>(file_.size(), kEndBytes + kMaxCommentBytes),
                   " bytes (not a zip archive, or a truncated one)"));
}

absl::StatusOr<Directory> ZipParser::ReadZip64Directory(int64_t end_offset) const {
  const int64_t locator = end_offset - kZip64LocatorBytes;
  const uint8_t* l = base_ + locator;
  if (U32(l + 4) != 0 || U32(l + 16) != 1) {
    return Invalid(locator, "the archive spans several disks, which is not supported");
  }
  const int64_t record = I64(l + 8);
  if (!file_.Has(record, kZip64EndBytes)) {
    return Truncated(locator, "the Zip64 end record it points to (at ", record, ")");
  }
  const uint8_t* r = base_ + record;
  if (U32(r) != kZip64EndSignature) return Invalid(record, "no Zip64 end record signature");
  if (U32(r + 16) != 0 || U32(r + 20) != 0 || I64(r + 24) != I64(r + 32)) {
    return Invalid(record, "the archive spans several disks, which is not supported");
  }
  return Directory{I64(r + 32), I64(r + 48), I64(r + 40)};
}

absl::StatusOr<Directory> ZipParser::ReadDirectory() const {
  if (file_.size() < kEndBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_.path(), ": ", file_.size(), " bytes is too short for a zip archive"));
  }
  RWKV_ASSIGN_OR_RETURN(const int64_t end, FindEndRecord());
  const uint8_t* e = base_ + end;
  if (end >= kZip64LocatorBytes &&
      U32(base_ + end - kZip64LocatorBytes) == kZip64LocatorSignature) {
    return ReadZip64Directory(end);
  }
  const uint16_t disk = U16(e + 4), directory_disk = U16(e + 6);
  const uint16_t disk_entries = U16(e + 8), entries = U16(e + 10);
  const uint32_t size = U32(e + 12), offset = U32(e + 16);
  if (entries == kNoValue16 || size == kNoValue32 || offset == kNoValue32) {
    return Invalid(end, "the end record defers to a Zip64 record, but there is no Zip64 locator");
  }
  if (disk != 0 || directory_disk != 0 || disk_entries != entries) {
    return Invalid(end, "the archive spans several disks, which is not supported");
  }
  return Directory{entries, offset, size};
}

absl::Status ZipParser::ReadZip64Extra(const uint8_t* extra, int64_t length, CentralEntry& entry,
                                       int64_t pos) const {
  for (int64_t at = 0; at + 4 <= length;) {
    const uint16_t id = U16(extra + at), size = U16(extra + at + 2);
    if (size > length - at - 4)
      return Invalid(pos, "entry '", Printable(entry.name), "': extra field overruns");
    if (id == kZip64ExtraId) {
      int64_t field = at + 4;
      const int64_t field_end = field + size;
      for (int64_t* value : {&entry.uncompressed, &entry.compressed, &entry.header_offset}) {
        if (*value != kNoValue32) continue;
        if (field + 8 > field_end) {
          return Invalid(pos, "entry '", Printable(entry.name), "': Zip64 extra field too short");
        }
        *value = I64(extra + field);
        field += 8;
      }
      return absl::OkStatus();
    }
    at += 4 + size;
  }
  return absl::OkStatus();
}

absl::StatusOr<CentralEntry> ZipParser::ReadCentralEntry(int64_t& pos, int64_t end) const {
  if (end - pos < kCentralHeaderBytes) return Truncated(pos, "a central directory entry");
  const uint8_t* c = base_ + pos;
  if (U32(c) != kCentralHeaderSignature) {
    return Invalid(pos, "no central directory entry signature");
  }
  const int64_t name_bytes = U16(c + 28), extra_bytes = U16(c + 30), comment_bytes = U16(c + 32);
  const int64_t total = kCentralHeaderBytes + name_bytes + extra_bytes + comment_bytes;
  if (end - pos < total) return Truncated(pos, "a central directory entry of ", total, " bytes");
  CentralEntry entry;
  entry.name.assign(reinterpret_cast<const char*>(c + kCentralHeaderBytes), name_bytes);
  entry.flags = U16(c + 8);
  entry.method = U16(c + 10);
  entry.compressed = U32(c + 20);
  entry.uncompressed = U32(c + 24);
  entry.header_offset = U32(c + 42);
  if (U16(c + 34) != 0 && U16(c + 34) != kNoValue16) {
    return Invalid(pos, "entry '", Printable(entry.name), "' is on another disk; not supported");
  }
  RWKV_RETURN_IF_ERROR(
      ReadZip64Extra(c + kCentralHeaderBytes + name_bytes, extra_bytes, entry, pos));
  pos += total;
  return entry;
}

absl::StatusOr<ZipEntry> ZipParser::ReadLocalEntry(const CentralEntry& central) const {
  const std::string name = Printable(central.name);
  const int64_t pos = central.header_offset;
  if ((central.flags & 0x41) != 0) {
    return Invalid(pos, "entry '", name, "' is encrypted; not supported");
  }
  if (central.method != 0) {
    const std::string method = central.method == 8 ? "8 (deflate)" : absl::StrCat(central.method);
    return Invalid(pos, "entry '", name, "' is compressed (method ", method,
                   "); only stored entries (method 0) are supported, as torch.save writes them");
  }
  if (central.compressed != central.uncompressed) {
    return Invalid(pos, "stored entry '", name, "' has compressed size ", central.compressed,
                   " != uncompressed size ", central.uncompressed);
  }
  if (!file_.Has(pos, kLocalHeaderBytes)) return Truncated(pos, "the local header of '", name, "'");
  const uint8_t* h = base_ + pos;
  if (U32(h) != kLocalHeaderSignature) {
    return Invalid(pos, "no local header signature for entry '", name, "'");
  }
  const int64_t name_bytes = U16(h + 26), extra_bytes = U16(h + 28);
  if (!file_.Has(pos + kLocalHeaderBytes, name_bytes + extra_bytes)) {
    return Truncated(pos, "the local header of '", name, "'");
  }
  if (name_bytes != static_cast<int64_t>(central.name.size()) ||
      std::memcmp(h + kLocalHeaderBytes, central.name.data(), name_bytes) != 0) {
    return Invalid(pos, "the local header's name differs from the central directory's '", name,
                   "'");
  }
  ZipEntry entry;
  entry.name = central.name;
  entry.header_offset = pos;
  entry.data_offset = pos + kLocalHeaderBytes + name_bytes + extra_bytes;
  if (!file_.Has(entry.data_offset, central.compressed)) {
    return Truncated(entry.data_offset, "the ", central.compressed, " bytes of entry '", name, "'");
  }
  entry.data = file_.bytes().subspan(entry.data_offset, central.compressed);
  return entry;
}

}  // namespace

bool ZipArchive::LooksLikeZip(absl::Span<const uint8_t> bytes) {
  return bytes.size() >= 4 && U32(bytes.data()) == kLocalHeaderSignature;
}

absl::StatusOr<ZipArchive> ZipArchive::Open(std::shared_ptr<const MappedFile> file) {
  ZipParser parser(*file);
  RWKV_ASSIGN_OR_RETURN(const Directory directory, parser.ReadDirectory());
  if (!file->Has(directory.offset, directory.size)) {
    return absl::DataLossError(absl::StrCat(file->path(), ": zip archive: the central directory (",
                                            directory.size, " bytes at ", directory.offset,
                                            ") runs past the end of the file (", file->size(),
                                            " bytes; truncated?)"));
  }
  if (directory.entries < 0 || directory.entries > directory.size / kCentralHeaderBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(file->path(), ": zip archive: ", directory.entries, " entries cannot fit a ",
                     directory.size, "-byte central directory"));
  }
  ZipArchive archive(std::move(file));
  const MappedFile& f = *archive.file_;
  archive.entries_.reserve(directory.entries);
  int64_t pos = directory.offset;
  const int64_t end = directory.offset + directory.size;
  for (int64_t i = 0; i < directory.entries; ++i) {
    RWKV_ASSIGN_OR_RETURN(const CentralEntry central, parser.ReadCentralEntry(pos, end));
    RWKV_ASSIGN_OR_RETURN(ZipEntry entry, parser.ReadLocalEntry(central));
    if (!archive.index_.emplace(entry.name, archive.entries_.size()).second) {
      return absl::InvalidArgumentError(absl::StrCat(f.path(), ": zip archive: entry '",
                                                     Printable(entry.name), "' appears twice"));
    }
    archive.entries_.push_back(std::move(entry));
  }
  return archive;
}

const ZipEntry* ZipArchive::Find(std::string_view name) const {
  const auto it = index_.find(AsAbsl(name));
  return it == index_.end() ? nullptr : &entries_[it->second];
}

}  // namespace rwkv::engine
