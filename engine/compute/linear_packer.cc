#include "engine/compute/linear_packer.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/compute/int8_gemv.h"
#include "engine/compute/int8_rows.h"
#include "engine/compute/q8_0_matmul.h"
#include "engine/model/quantization.h"

namespace rwkv::engine {

using dnnl::memory;

absl::StatusOr<LinearPacker> LinearPacker::Start(MatmulContext& ctx, int64_t in, int64_t out,
                                                 Precision precision) {
  absl::StatusOr<Linear> linear = Linear::Allocate(ctx, in, out, precision);
  if (!linear.ok()) return linear.status();
  LinearPacker packer(ctx, *std::move(linear));
  if (precision == Precision::kQ8_0) {
    // Runs of whole groups of outputs of the kernel's layout (a multiple of 64 is one).
    packer.out_block_ = std::min<int64_t>(out, 64);
    return packer;
  }
  // A matrix split along its inputs packs each part alike (Linear::parts_).
  const std::vector<const memory*> packed = packer.linear_.Packed();
  const memory::desc layout = packed.front()->get_desc();
  const dnnl_memory_desc_t& desc = layout.data;
  if (desc.format_kind == dnnl_blocked && desc.extra.flags == 0) {
    const dnnl_blocking_desc_t& blocking = desc.format_desc.blocking;
    for (int i = 0; i < blocking.inner_nblks; ++i) {
      if (blocking.inner_idxs[i] == 1) packer.out_block_ *= blocking.inner_blks[i];
    }
  } else {
    packer.out_block_ = out;  // No layout known to split: the whole matrix in one run.
  }
  if (packer.out_block_ < out) {
    try {  // oneDNN must take a run's place in the layout as a memory of its own.
      (void)layout.submemory_desc({desc.dims[0], packer.out_block_}, {0, packer.out_block_});
    } catch (const dnnl::error&) {
      packer.out_block_ = out;
    }
  }
  // Runs write only their own elements; the layout's padding must read as zeros.
  for (const memory* weights : packed) {
    std::memset(weights->get_data_handle(), 0, weights->get_desc().get_size());
  }
  return packer;
}

absl::Status LinearPacker::SetInputScales(absl::Span<const float> input_scales) {
  if (linear_.precision_ != Precision::kInt8 || next_row_ != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("packing a ", linear_.out_, "x", linear_.in_,
                     " matrix: input scales are for int8, before its first rows"));
  }
  if (static_cast<int64_t>(input_scales.size()) != linear_.in_) {
    return absl::InvalidArgumentError(absl::StrCat("packing a ", linear_.out_, "x", linear_.in_,
                                                   " matrix: ", input_scales.size(),
                                                   " input scales"));
  }
  linear_.input_scales_.assign(input_scales.begin(), input_scales.end());
  return absl::OkStatus();
}

int64_t LinearPacker::RunRows(int64_t wanted) const {
  const int64_t rows = std::max<int64_t>(1, wanted / out_block_) * out_block_;
  return std::min(rows, linear_.out_);
}

absl::Status LinearPacker::CheckRun(int64_t first_row, int64_t count, size_t values) const {
  const int64_t in = linear_.in_;
  const int64_t out = linear_.out_;
  const bool last = first_row + count == out;
  if (first_row != next_row_ || count * in != static_cast<int64_t>(values) ||
      first_row + count > out || (!last && count % out_block_ != 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "packing a ", out, "x", in, " matrix: a run of ", values, " values at row ", first_row,
        " does not continue at row ", next_row_, " with whole blocks of ", out_block_, " rows"));
  }
  return absl::OkStatus();
}

absl::Status LinearPacker::AddQ8_0Rows(int64_t first_row, absl::Span<const uint8_t> blocks) {
  const int64_t in = linear_.in_;
  if (linear_.precision_ != Precision::kQ8_0) {
    return absl::FailedPreconditionError(absl::StrCat("packing a ", linear_.out_, "x", in,
                                                      " matrix: Q8_0 blocks given for ",
                                                      PrecisionName(linear_.precision_)));
  }
  const int64_t row_bytes = in / kQ8_0BlockInputs * kQ8_0BlockBytes;
  const int64_t count = static_cast<int64_t>(blocks.size()) / row_bytes;
  if (count * row_bytes != static_cast<int64_t>(blocks.size())) {
    return absl::InvalidArgumentError(absl::StrCat("packing a ", linear_.out_, "x", in,
                                                   " matrix: ", blocks.size(),
                                                   " bytes of Q8_0 blocks are not whole rows"));
  }
  if (absl::Status s = CheckRun(first_row, count, static_cast<size_t>(count * in)); !s.ok()) {
    return s;
  }
  PackQ8_0Rows(blocks.data(), first_row, count, in, linear_.out_, linear_.q8_0_.get());
  next_row_ += count;
  return absl::OkStatus();
}

absl::Status LinearPacker::AddRows(int64_t first_row, absl::Span<const float> rows) {
  const int64_t in = linear_.in_;
  const int64_t count = in > 0 ? static_cast<int64_t>(rows.size()) / in : 0;
  if (absl::Status s = CheckRun(first_row, count, rows.size()); !s.ok()) return s;
  if (linear_.precision_ == Precision::kQ8_0) {
    blocks_.resize(static_cast<size_t>(count * in / kQ8_0BlockInputs * kQ8_0BlockBytes));
    if (absl::Status s = QuantizeQ8_0(rows, absl::MakeSpan(blocks_)); !s.ok()) return s;
    return AddQ8_0Rows(first_row, blocks_);
  }
  void* data = const_cast<float*>(rows.data());
  if (IsInt8(linear_.precision_)) {
    quantized_.resize(static_cast<size_t>(count * in));
    if (linear_.precision_ == Precision::kInt8) {
      QuantizeWeights(rows.data(), count, in, linear_.input_scales_.data(), quantized_.data(),
                      linear_.scales_.data() + first_row);
    } else {
      QuantizeRows(rows.data(), count, in, quantized_.data(), linear_.scales_.data() + first_row);
    }
    if (!linear_.compensation_.empty()) {
      Int8GemvCompensation(quantized_.data(), in, count, linear_.compensation_.data() + first_row);
    }
    data = quantized_.data();
  }
  if (absl::Status s = Reorder(first_row, count, data); !s.ok()) return s;
  next_row_ += count;
  return absl::OkStatus();
}

absl::Status LinearPacker::Reorder(int64_t first_row, int64_t count, void* data) {
  const int64_t in = linear_.in_;
  try {
    // W^T as a [in, count] matrix whose memory is W's (count, in) rows: oneDNN's "ba" tag; a
    // part of a split matrix takes its inputs' slice of it.
    const memory::data_type type =
        IsInt8(linear_.precision_) ? memory::data_type::s8 : memory::data_type::f32;
    const memory::desc whole({in, count}, type, memory::format_tag::ba);
    int64_t first_input = 0;
    for (const memory* weights : linear_.Packed()) {
      const int64_t part_in = weights->get_desc().data.dims[0];
      memory source(
          part_in == in ? whole : whole.submemory_desc({part_in, count}, {first_input, 0}),
          ctx_->engine(), data);
      memory target = *weights;
      if (count != linear_.out_) {
        target = memory(weights->get_desc().submemory_desc({part_in, count}, {0, first_row}),
                        ctx_->engine(), weights->get_data_handle());
      }
      dnnl::reorder(source, target).execute(ctx_->stream(), source, target);
      first_input += part_in;
    }
    ctx_->stream().wait();
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("oneDNN could not pack rows ", first_row, "..",
                                            first_row + count, " of a ", linear_.out_, "x", in,
                                            " weight matrix: ", e.what()));
  }
  return absl::OkStatus();
}

absl::StatusOr<Linear> LinearPacker::Finish() && {
  if (next_row_ != linear_.out_) {
    return absl::FailedPreconditionError(absl::StrCat("packing a ", linear_.out_, "x", linear_.in_,
                                                      " matrix: only ", next_row_,
                                                      " rows were added"));
  }
  if (!linear_.compensation_.empty()) ++ctx_->kernels_["rwkv:avx512_vnni (1-2 rows)"];
  if (linear_.q8_0_ != nullptr) ++ctx_->kernels_["rwkv:q8_0 blocks (all rows)"];
  if (linear_.bf16_gemv_ || (!linear_.parts_.empty() && linear_.parts_.front().bf16_gemv_)) {
    ++ctx_->kernels_["rwkv:avx512 bf16, AMX order (1-4 rows)"];
  }
  ctx_->packed_bytes_ += static_cast<int64_t>(linear_.WeightBytes());
  ctx_->macs_per_row_ += linear_.in_ * linear_.out_;
  return std::move(linear_);
}

}  // namespace rwkv::engine
