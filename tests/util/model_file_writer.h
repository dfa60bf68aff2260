// Writing rwkv.cpp model files byte by byte, for loader tests: well-formed ones, malformed ones,
// and quantized copies of the shared test models.
#ifndef RWKV_TESTS_UTIL_MODEL_FILE_WRITER_H_
#define RWKV_TESTS_UTIL_MODEL_FILE_WRITER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "engine/model/rwkv_cpp_file.h"
#include "engine/model/tensor_source.h"

namespace rwkv::testing {

void AppendU32(std::string& out, uint32_t v);

// The 24-byte file header.
std::string FileHeader(uint32_t version = 101, int32_t n_vocab = 256, int32_t n_embed = 64,
                       int32_t n_layer = 1, int32_t data_type = 0,
                       uint32_t magic = engine::RwkvCppFile::kMagic);

// A record with every field under the caller's control; `data_bytes` zero bytes of data.
std::string RawRecord(int32_t dim_count, int32_t name_length, int32_t type_code,
                      const std::vector<int32_t>& ne, std::string_view name, size_t data_bytes);

// A well-formed record holding `values` encoded as `type`.
std::string Record(std::string_view name, const std::vector<int32_t>& ne, engine::GgmlType type,
                   const std::vector<float>& values);

// Copies the model at `source_path` to `out_path` with the six large per-layer matrices (att
// receptance/key/value/output, ffn key/value) stored as `type`, as rwkv.cpp's quantizer does.
absl::Status WriteQuantizedCopy(const std::string& source_path, engine::GgmlType type,
                                const std::string& out_path);

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_UTIL_MODEL_FILE_WRITER_H_
