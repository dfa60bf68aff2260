// LinearPacker: builds a Linear from its weight matrix delivered a run of rows at a time (see
// TensorSource::ReadF32Rows), so that loading a vocabulary-sized head never holds a float32 (or
// an unpacked int8) copy of it next to the packed one.
//
//   RWKV_ASSIGN_OR_RETURN(LinearPacker packer, LinearPacker::Start(ctx, in, out, precision));
//   std::vector<float> run(packer.run_rows() * in);
//   ... for each run of rows: RWKV_RETURN_IF_ERROR(packer.AddRows(first_row, rows));
//   RWKV_ASSIGN_OR_RETURN(Linear linear, std::move(packer).Finish());
//
// Each run is converted and reordered straight into its place in oneDNN's packed layout; the
// packed bytes are exactly those of one reorder of the whole matrix (tests/engine/compute).
#ifndef RWKV_ENGINE_COMPUTE_LINEAR_PACKER_H_
#define RWKV_ENGINE_COMPUTE_LINEAR_PACKER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/compute/matmul.h"

namespace rwkv::engine {

class LinearPacker {
 public:
  // A matrix applied as y = x W^T with W of `out` rows of `in` floats, packed in `precision`.
  // INTERNAL when oneDNN cannot pack it.
  static absl::StatusOr<LinearPacker> Start(MatmulContext& ctx, int64_t in, int64_t out,
                                            Precision precision);

  // int8: the input-channel scales of the whole matrix (InputScales; `in` floats), before the
  // first AddRows (all 1 otherwise). FAILED_PRECONDITION for another precision or after rows were
  // added, INVALID_ARGUMENT for another size.
  absl::Status SetInputScales(absl::Span<const float> input_scales);

  // Rows a run should hold: a multiple of the packed layout's blocks along the outputs, about
  // `wanted` (the last run may hold fewer). Any run of the whole matrix is fine too.
  int64_t RunRows(int64_t wanted) const;

  // Converts and packs rows [first_row, first_row + rows.size() / in). Runs must come in order,
  // each starting where the last ended, and hold whole blocks (RunRows) but for the last.
  // INVALID_ARGUMENT otherwise, INTERNAL when oneDNN fails.
  absl::Status AddRows(int64_t first_row, absl::Span<const float> rows);

  // q8_0: rows [first_row, ...) as ggml Q8_0 blocks (in / 32 blocks of 34 bytes per row), packed
  // as they are; the same rules for runs as AddRows. AddRows of float rows quantizes them with
  // ggml's Q8_0 formula first. FAILED_PRECONDITION for another precision.
  absl::Status AddQ8_0Rows(int64_t first_row, absl::Span<const uint8_t> blocks);

  // The packed matrix; FAILED_PRECONDITION unless every row was added.
  absl::StatusOr<Linear> Finish() &&;

 private:
  LinearPacker(MatmulContext& ctx, Linear linear) : ctx_(&ctx), linear_(std::move(linear)) {}
  // Reorders `count` rows stored plainly at `data` (float32 or int8) into their packed place.
  absl::Status Reorder(int64_t first_row, int64_t count, void* data);
  // INVALID_ARGUMENT unless `count` rows (`values` elements) at first_row continue the matrix.
  absl::Status CheckRun(int64_t first_row, int64_t count, size_t values) const;

  MatmulContext* ctx_;
  Linear linear_;
  int64_t out_block_ = 1;  // outputs per block of the packed layout
  int64_t next_row_ = 0;
  std::vector<int8_t> quantized_;  // int8: the current run, quantized
  std::vector<uint8_t> blocks_;    // q8_0 from float rows: the current run's Q8_0 blocks
};

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_COMPUTE_LINEAR_PACKER_H_
