// Builders for the zip archives and pickles of the .pth reader tests: small torch.save-shaped
// files, and broken ones, made in memory.
//
//   std::string pickle = StateDictPickle({TensorItem("w", "FloatStorage", "0", 6, 0, {2, 3}, {3,
//   1})}); std::string zip = StoredZip({{"archive/data.pkl", pickle}, {"archive/data/0",
//   Bytes(24)}});
#ifndef RWKV_TESTS_ENGINE_MODEL_FORMATS_TORCH_TEST_FILES_H_
#define RWKV_TESTS_ENGINE_MODEL_FORMATS_TORCH_TEST_FILES_H_

#include <array>
#include <cstdint>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace rwkv::engine::torch_test {

// `bytes` little-endian bytes of `value` (zeros past its 8).
inline void PutLE(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    out.push_back(static_cast<char>(i < 8 ? (value >> (8 * i)) & 0xff : 0));
  }
}

struct ZipOptions {
  bool zip64 = true;         // Zip64 end record + locator, as torch.save writes.
  uint16_t method = 0;       // Of every entry.
  uint16_t flags = 0x0808;   // Data descriptor + UTF-8 names, as torch.save writes.
  std::string comment;       // After the end record.
  bool zip64_extra = false;  // Sizes and offsets in each central entry's Zip64 extra field.
  uint64_t align = 0;        // Entry data aligned to this many bytes (torch.save: 64); 0: none.
  bool crc32 = false;        // Real CRC-32s in the central directory (torch.load checks them).
};

// zip's CRC-32 of `count` more bytes, continuing from `crc` (0 to start).
inline uint32_t Crc32(uint32_t crc, const char* data, size_t count) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (size_t i = 0; i < count; ++i) {
    crc = table[(crc ^ static_cast<uint8_t>(data[i])) & 0xff] ^ (crc >> 8);
  }
  return ~crc;
}

// Streams a zip archive of stored entries to `out` (for files too large to build in memory):
// Begin an entry, Append its bytes (any number of times), Finish once after the last entry.
// Local headers carry zero sizes; the central directory carries the real ones (as torch.save's
// writer does).
class StoredZipWriter {
 public:
  explicit StoredZipWriter(std::ostream& out, ZipOptions options = {})
      : out_(out), options_(std::move(options)) {}

  void Begin(const std::string& name) {
    EndEntry();
    name_ = name;
    offset_ = written_;
    size_ = 0;
    crc_ = 0;
    open_ = true;
    // torch.save pads the local extra field ("FB" records) so that data starts aligned.
    size_t extra = 0;
    if (options_.align > 0) {
      const uint64_t start = written_ + 30 + name.size() + 4;
      extra = 4 + (options_.align - start % options_.align) % options_.align;
    }
    std::string header;
    PutLE(header, 0x04034b50, 4);
    PutLE(header, 20, 2);
    PutLE(header, options_.flags, 2);
    PutLE(header, options_.method, 2);
    PutLE(header, 0, 4 + 4 + 4 + 4);  // time, date, crc, compressed size, uncompressed size
    PutLE(header, name.size(), 2);
    PutLE(header, extra, 2);
    header += name;
    if (extra > 0) {
      PutLE(header, 0x4246, 2);
      PutLE(header, extra - 4, 2);
      header.append(extra - 4, 'Z');
    }
    Write(header);
  }

  void Append(const char* data, size_t count) {
    out_.write(data, static_cast<std::streamsize>(count));
    written_ += count;
    size_ += count;
    if (options_.crc32) crc_ = Crc32(crc_, data, count);
  }

  void Finish() {
    EndEntry();
    const uint64_t directory_offset = written_;
    Write(directory_);
    const uint64_t zip64_end = written_;
    std::string end;
    if (options_.zip64) {
      PutLE(end, 0x06064b50, 4);
      PutLE(end, 44, 8);
      PutLE(end, 45, 2);
      PutLE(end, 45, 2);
      PutLE(end, 0, 8);  // disk numbers
      PutLE(end, entries_, 8);
      PutLE(end, entries_, 8);
      PutLE(end, directory_.size(), 8);
      PutLE(end, directory_offset, 8);
      PutLE(end, 0x07064b50, 4);
      PutLE(end, 0, 4);
      PutLE(end, zip64_end, 8);
      PutLE(end, 1, 4);
    }
    PutLE(end, 0x06054b50, 4);
    PutLE(end, 0, 4);  // disk numbers
    PutLE(end, options_.zip64 ? 0xffff : entries_, 2);
    PutLE(end, options_.zip64 ? 0xffff : entries_, 2);
    PutLE(end, options_.zip64 ? 0xffffffff : directory_.size(), 4);
    PutLE(end, options_.zip64 ? 0xffffffff : directory_offset, 4);
    PutLE(end, options_.comment.size(), 2);
    Write(end + options_.comment);
  }

 private:
  void Write(const std::string& bytes) {
    out_.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    written_ += bytes.size();
  }

  // The entry's central directory record, now that its size is known.
  void EndEntry() {
    if (!open_) return;
    open_ = false;
    ++entries_;
    std::string& d = directory_;
    PutLE(d, 0x02014b50, 4);
    PutLE(d, 20, 2);
    PutLE(d, 20, 2);
    PutLE(d, options_.flags, 2);
    PutLE(d, options_.method, 2);
    PutLE(d, 0, 4);  // time, date
    PutLE(d, crc_, 4);
    const uint64_t deferred = 0xffffffff;  // "in the Zip64 extra field"
    PutLE(d, options_.zip64_extra ? deferred : size_, 4);
    PutLE(d, options_.zip64_extra ? deferred : size_, 4);
    PutLE(d, name_.size(), 2);
    PutLE(d, options_.zip64_extra ? 28 : 0, 2);
    PutLE(d, 0, 2 + 2 + 2 + 4);  // comment, disk, internal, external
    PutLE(d, options_.zip64_extra ? deferred : offset_, 4);
    d += name_;
    if (options_.zip64_extra) {
      PutLE(d, 1, 2);
      PutLE(d, 24, 2);
      PutLE(d, size_, 8);
      PutLE(d, size_, 8);
      PutLE(d, offset_, 8);
    }
  }

  std::ostream& out_;
  const ZipOptions options_;
  std::string directory_;
  std::string name_;
  uint64_t written_ = 0, offset_ = 0, size_ = 0, entries_ = 0;
  uint32_t crc_ = 0;
  bool open_ = false;
};

// A zip archive of `entries` (name, payload) in order, in memory.
inline std::string StoredZip(const std::vector<std::pair<std::string, std::string>>& entries,
                             const ZipOptions& options = {}) {
  std::ostringstream out;
  StoredZipWriter writer(out, options);
  for (const auto& [name, data] : entries) {
    writer.Begin(name);
    writer.Append(data.data(), data.size());
  }
  writer.Finish();
  return out.str();
}

// Pickle opcode writers (protocol 2 unless the opcode says otherwise).
inline std::string Str(const std::string& s) {
  std::string out = "X";
  PutLE(out, s.size(), 4);
  return out + s;
}
inline std::string Int(int64_t value) {
  std::string out;
  if (value >= 0 && value < 256) {
    out = "K";
    PutLE(out, value, 1);
  } else if (value >= 0 && value < 65536) {
    out = "M";
    PutLE(out, value, 2);
  } else {
    out = "\x8a\x08";  // LONG1 of 8 bytes
    PutLE(out, static_cast<uint64_t>(value), 8);
  }
  return out;
}
inline std::string Global(const std::string& module, const std::string& name) {
  return "c" + module + "\n" + name + "\n";
}
inline std::string IntTuple(const std::vector<int64_t>& values) {
  std::string out = "(";
  for (const int64_t v : values) out += Int(v);
  return out + "t";
}

// One `name: _rebuild_tensor_v2(persistent_id(('storage', torch.<storage>, key, 'cpu', numel)),
// offset, shape, stride, False, OrderedDict())` pair, for inside a SETITEMS.
inline std::string TensorItem(const std::string& name, const std::string& storage,
                              const std::string& key, int64_t numel, int64_t offset,
                              const std::vector<int64_t>& shape,
                              const std::vector<int64_t>& stride) {
  return Str(name) + Global("torch._utils", "_rebuild_tensor_v2") + "((" + Str("storage") +
         Global("torch", storage) + Str(key) + Str("cpu") + Int(numel) + "tQ" + Int(offset) +
         IntTuple(shape) + IntTuple(stride) + "\x89" + Global("collections", "OrderedDict") +
         ")RtR";
}

// An OrderedDict of `items` (TensorItem pairs) with a `_metadata` BUILD, as state_dict() pickles.
inline std::string StateDictPickle(const std::vector<std::string>& items) {
  std::string out = "\x80\x02" + Global("collections", "OrderedDict") + ")R(";
  for (const std::string& item : items) out += item;
  out += "u}" + Str("_metadata") + Global("collections", "OrderedDict") + ")R(" + Str("") + "}" +
         Str("version") + Int(1) + "susb.";
  return out;
}

// `count` bytes 0, 1, 2, ... (mod 256).
inline std::string Bytes(size_t count) {
  std::string out(count, '\0');
  for (size_t i = 0; i < count; ++i) out[i] = static_cast<char>(i & 0xff);
  return out;
}

}  // namespace rwkv::engine::torch_test

#endif  // RWKV_TESTS_ENGINE_MODEL_FORMATS_TORCH_TEST_FILES_H_
