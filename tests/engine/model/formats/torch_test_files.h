// Builders for the zip archives and pickles of the .pth reader tests: small torch.save-shaped
// files, and broken ones, made in memory.
//
//   std::string pickle = StateDictPickle({TensorItem("w", "FloatStorage", "0", 6, 0, {2, 3}, {3,
//   1})}); std::string zip = StoredZip({{"archive/data.pkl", pickle}, {"archive/data/0",
//   Bytes(24)}});
#ifndef RWKV_TESTS_ENGINE_MODEL_FORMATS_TORCH_TEST_FILES_H_
#define RWKV_TESTS_ENGINE_MODEL_FORMATS_TORCH_TEST_FILES_H_

#include <cstdint>
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
};

// A zip archive of `entries` (name, payload) in order. Local headers carry zero sizes; the
// central directory carries the real ones (as torch.save's writer does).
inline std::string StoredZip(const std::vector<std::pair<std::string, std::string>>& entries,
                             const ZipOptions& options = {}) {
  std::string out, directory;
  for (const auto& [name, data] : entries) {
    const uint64_t offset = out.size();
    PutLE(out, 0x04034b50, 4);
    PutLE(out, 20, 2);
    PutLE(out, options.flags, 2);
    PutLE(out, options.method, 2);
    PutLE(out, 0, 4 + 4 + 4 + 4);  // time, date, crc, compressed size, uncompressed size
    PutLE(out, name.size(), 2);
    PutLE(out, 0, 2);
    out += name + data;
    PutLE(directory, 0x02014b50, 4);
    PutLE(directory, 20, 2);
    PutLE(directory, 20, 2);
    PutLE(directory, options.flags, 2);
    PutLE(directory, options.method, 2);
    PutLE(directory, 0, 8);                // time, date, crc
    const uint64_t deferred = 0xffffffff;  // "in the Zip64 extra field"
    PutLE(directory, options.zip64_extra ? deferred : data.size(), 4);
    PutLE(directory, options.zip64_extra ? deferred : data.size(), 4);
    PutLE(directory, name.size(), 2);
    PutLE(directory, options.zip64_extra ? 28 : 0, 2);
    PutLE(directory, 0, 2 + 2 + 2 + 4);  // comment, disk, internal, external
    PutLE(directory, options.zip64_extra ? deferred : offset, 4);
    directory += name;
    if (options.zip64_extra) {
      PutLE(directory, 1, 2);
      PutLE(directory, 24, 2);
      PutLE(directory, data.size(), 8);
      PutLE(directory, data.size(), 8);
      PutLE(directory, offset, 8);
    }
  }
  const uint64_t directory_offset = out.size();
  out += directory;
  const uint64_t zip64_end = out.size();
  if (options.zip64) {
    PutLE(out, 0x06064b50, 4);
    PutLE(out, 44, 8);
    PutLE(out, 45, 2);
    PutLE(out, 45, 2);
    PutLE(out, 0, 8);  // disk numbers
    PutLE(out, entries.size(), 8);
    PutLE(out, entries.size(), 8);
    PutLE(out, directory.size(), 8);
    PutLE(out, directory_offset, 8);
    PutLE(out, 0x07064b50, 4);
    PutLE(out, 0, 4);
    PutLE(out, zip64_end, 8);
    PutLE(out, 1, 4);
  }
  PutLE(out, 0x06054b50, 4);
  PutLE(out, 0, 4);  // disk numbers
  PutLE(out, options.zip64 ? 0xffff : entries.size(), 2);
  PutLE(out, options.zip64 ? 0xffff : entries.size(), 2);
  PutLE(out, options.zip64 ? 0xffffffff : directory.size(), 4);
  PutLE(out, options.zip64 ? 0xffffffff : directory_offset, 4);
  PutLE(out, options.comment.size(), 2);
  return out + options.comment;
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
