// TensorSource: named weight tensors, however they are stored.
//
// The model builder pulls every tensor it needs from a TensorSource, one at a time, converts it
// to float32 and lays it out for compute. Implementations: RwkvCppFile (rwkv.cpp's .bin format,
// memory-mapped) and SyntheticSource (deterministic random weights with real model shapes, for
// benchmarks and load tests).
//
//   RWKV_ASSIGN_OR_RETURN(auto file, RwkvCppFile::Open(path));
//   const TensorInfo* info = file->Find("blocks.0.att.key.weight");
//   std::vector<float> w(info->NumElements());
//   RWKV_RETURN_IF_ERROR(file->ReadF32(info->name, absl::MakeSpan(w)));
#ifndef RWKV_ENGINE_MODEL_TENSOR_SOURCE_H_
#define RWKV_ENGINE_MODEL_TENSOR_SOURCE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "common/hash64.h"

namespace rwkv::engine {

// ggml's type codes, as rwkv.cpp and GGUF files store them. rwkv.cpp files use only F32..Q8_0;
// the K-quants and BF16 come from GGUF files (and BF16 from .pth/safetensors checkpoints).
enum class GgmlType : int32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 7,
  kQ5_1 = 8,
  kQ8_0 = 9,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kBF16 = 30,
};

// "F32", "F16", "Q5_0", ...
std::string_view GgmlTypeName(GgmlType type);

struct TensorInfo {
  std::string name;
  // Dimensions in ggml order: ne[0] is the contiguous (innermost) one, i.e. the reverse of the
  // PyTorch shape. A PyTorch (out, in) matrix has ne = {in, out}.
  std::vector<int64_t> ne;
  GgmlType type = GgmlType::kF32;

  int64_t NumElements() const;
  // "[64, 256]" in ggml order, for error messages.
  std::string ShapeString() const;
};

class TensorSource {
 public:
  virtual ~TensorSource() = default;

  // What to name in error messages: the file path, or "synthetic:rwkv7-0.1b".
  virtual const std::string& Describe() const = 0;

  // All tensors, in storage order.
  virtual const std::vector<TensorInfo>& Tensors() const = 0;

  // nullptr when there is no tensor of that name.
  virtual const TensorInfo* Find(std::string_view name) const = 0;

  // Converts the named tensor to float32 (widening FP16, dequantizing Q4/Q5/Q8) into `out`, which
  // must hold exactly NumElements() floats, in ggml order. NOT_FOUND for an unknown name,
  // INVALID_ARGUMENT for a wrong output size.
  virtual absl::Status ReadF32(std::string_view name, absl::Span<float> out) const = 0;

  // Called with each run of rows ReadF32Rows converted: the first row's index and the rows.
  using RowConsumer = absl::FunctionRef<absl::Status(int64_t first_row, absl::Span<float> rows)>;

  // Converts the named tensor to float32 a run of whole rows (ne[0] elements each; a tensor of
  // no dimensions is one row) at a time, so a vocabulary-sized tensor needs no float32 copy of
  // itself: fills the whole rows `buffer` has room for and calls `consume` on them, in order,
  // until the tensor is done. A buffer of the whole tensor gives one call. Sources that map a
  // file return each run's stored bytes to the OS once it is converted (see
  // MappedFile::Release). Returns consume's first error; NOT_FOUND for an unknown name,
  // INVALID_ARGUMENT for a buffer smaller than one row. This default reads the whole tensor
  // with ReadF32 and hands it out a buffer at a time.
  virtual absl::Status ReadF32Rows(std::string_view name, absl::Span<float> buffer,
                                   RowConsumer consume) const;

  // Called with each run of rows ReadStoredRows hands out: the first row's index, the number of
  // rows and their bytes as stored (whole blocks of the tensor's type).
  using StoredRowConsumer = absl::FunctionRef<absl::Status(int64_t first_row, int64_t rows,
                                                           absl::Span<const uint8_t> stored)>;

  // The named tensor's rows as stored, at most `max_rows` rows a run, for a consumer that keeps
  // the stored type (q8_0 packs Q8_0 blocks as they are). Mapped sources return each run's pages
  // to the OS once consumed, as ReadF32Rows does. UNIMPLEMENTED (before any call of `consume`)
  // where the source does not hold the tensor as stored, or its rows are not whole blocks: this
  // default. NOT_FOUND for an unknown name; otherwise consume's first error.
  virtual absl::Status ReadStoredRows(std::string_view name, int64_t max_rows,
                                      StoredRowConsumer consume) const;

  // A stable 64-bit hash of the tensor's name, ne, type and stored bytes: the same file gives the
  // same value on every machine and every run. Used for the model fingerprint. Mapped sources
  // return the stored bytes' pages to the OS once hashed, as ReadF32Rows does.
  virtual uint64_t ContentHash(std::string_view name) const = 0;
};

// The content hash every TensorSource gives for a tensor stored as `data` with `info`'s name, ne
// and type (see TensorSource::ContentHash). Sources that convert tensors at load hash the
// converted form, so equal weights give equal hashes whatever file they came from.
uint64_t HashTensorContent(const TensorInfo& info, absl::Span<const uint8_t> data);

// The same hash fed piece by piece: Start with the tensor's description and its total data size,
// then every byte of the data, in order, over any number of Update calls.
// Elements per row as ReadF32Rows counts them: ne[0], or 1 for a tensor of no dimensions.
int64_t RowElements(const TensorInfo& info);

// The runs of rows ReadF32Rows hands out with a buffer of `buffer_floats`: calls
// `run(first_row, first_element, elements)` for each, in order, and returns its first error.
// INVALID_ARGUMENT naming `describe` and the tensor when the buffer holds no row.
absl::Status ForEachRowRun(
    const std::string& describe, const TensorInfo& info, size_t buffer_floats,
    absl::FunctionRef<absl::Status(int64_t first_row, int64_t first_element, int64_t elements)>
        run);

class TensorContentHasher {
 public:
  TensorContentHasher(const TensorInfo& info, uint64_t data_bytes);
  void Update(absl::Span<const uint8_t> data) { hash_.Update(data.data(), data.size()); }
  uint64_t Digest() const { return hash_.Digest(); }

 private:
  Hash64 hash_;
};

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_MODEL_TENSOR_SOURCE_H_
