#include "engine/compute/matmul.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/compute/bf16_gemv.h"
#include "engine/compute/epilogue.h"
#include "engine/compute/int8_gemv.h"
#include "engine/compute/int8_rows.h"
#include "engine/compute/linear_packer.h"
#include "engine/compute/q8_0_matmul.h"

namespace rwkv::engine {
namespace {

using dnnl::memory;
using DataType = memory::data_type;

// Weights are packed in the layout oneDNN picks for one row (decode): measured with oneDNN 2.6,
// every row count then runs a brgemm kernel on it, whereas a layout picked for many rows sends
// small int8 matrices with 1-2 rows to the slow reference kernel. The exception is the very wide
// head (vocabulary outputs): there the many-row layout is 1.6-2x faster at every row count
// (bf16 768x65536: 8.7 vs 17.9 ms for one row, 17 vs 38 ms for 64), with brgemm for all.
int64_t RepresentativeRows(int64_t out) { return out >= 8192 ? 64 : 1; }

// From this many rows on, oneDNN uses one kernel per matrix (see MatmulContext::Matmul); fewer
// rows run padded to the first of kPaddedRows that takes that kernel.
constexpr int64_t kUniformKernelRows = 64;
constexpr int64_t kPaddedRows[] = {8, 16, 32, 64};

DataType WeightType(Precision precision) {
  switch (precision) {
    case Precision::kF32:
      return DataType::f32;
    case Precision::kBf16:
      return DataType::bf16;
    case Precision::kInt8:
    case Precision::kInt8Fast:
    case Precision::kQ8_0:
      return DataType::s8;
  }
  return DataType::f32;
}

memory::desc Rows(int64_t rows, int64_t cols, DataType type) {
  return memory::desc({rows, cols}, type, memory::format_tag::ab);
}

dnnl::primitive_attr MakeAttr(Epilogue epilogue) {
  dnnl::post_ops ops;
  switch (epilogue) {
    case Epilogue::kNone:
      break;
    case Epilogue::kAccumulate:
      ops.append_sum(1.0f);
      break;
    case Epilogue::kSigmoid:
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_logistic, 0.0f, 0.0f);
      break;
    case Epilogue::kTanh:
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_tanh, 0.0f, 0.0f);
      break;
    case Epilogue::kReluSquare:
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_square, 0.0f, 0.0f);
      break;
    case Epilogue::kSilu:
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_swish, 1.0f, 0.0f);
      break;
  }
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  // Scratch memory comes from the context, so executing a primitive never allocates.
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// Process-wide, not per thread: oneDNN's OpenMP workers allocate too (AMX kernels), and nothing
// else of ours runs while a primitive executes.
std::atomic<bool> inside_onednn_call{false};

}  // namespace

bool MatmulContext::InsideOneDnnCall() {
  return inside_onednn_call.load(std::memory_order_relaxed);
}

MatmulContext::MatmulContext() : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}

float* MatmulContext::Sums(int64_t floats) {
  if (sums_.size() < static_cast<size_t>(floats)) sums_.resize(static_cast<size_t>(floats));
  return sums_.data();
}

void* MatmulContext::Scratchpad(size_t bytes) {
  if (scratchpad_.size() < bytes) scratchpad_.resize(bytes);
  return scratchpad_.data();
}

absl::StatusOr<MatmulContext::Bound*> MatmulContext::Matmul(int64_t rows, int64_t in, int64_t out,
                                                            DataType src_type,
                                                            const memory& weights,
                                                            Epilogue epilogue) {
  // Look-ups build no oneDNN descriptor (that would allocate); only misses do.
  const dnnl_data_type_t weights_type = weights.get_desc().data.data_type;
  auto key = [&](int64_t r) {
    return Key{r, in, out, static_cast<int>(src_type), static_cast<int>(weights_type),
               static_cast<int>(epilogue)};
  };
  auto it = matmuls_.find(key(rows));
  if (it != matmuls_.end()) return it->second.get();
  try {
    const dnnl::primitive_attr attr = MakeAttr(epilogue);
    auto describe = [&](int64_t r) {
      return dnnl::matmul::primitive_desc(
          dnnl::matmul::desc(Rows(r, in, src_type), weights.get_desc(), Rows(r, out, DataType::f32)),
          attr, engine_);
    };
    // oneDNN may serve a few rows with another kernel than many (small bf16/int8 matrices: AVX512
    // for 1-2 rows, AMX from 7; bf16 with 32 outputs: AVX512 up to 8 rows). Their sums round
    // differently, and bf16/int8 inputs then round the other way, so a sequence's numbers would
    // depend on the batch. Such shapes run padded on the many-row primitive instead: one kernel per
    // matrix, whatever the batch.
    int64_t run_rows = rows;
    dnnl::matmul::primitive_desc pd = describe(rows);
    if (rows < kUniformKernelRows) {
      const dnnl::matmul::primitive_desc many = describe(kUniformKernelRows);
      const std::string kernel = many.impl_info_str();
      for (int64_t padded : kPaddedRows) {
        if (kernel == pd.impl_info_str()) break;
        if (padded < rows) continue;
        run_rows = padded;
        pd = padded == kUniformKernelRows ? many : describe(padded);
      }
    }
    if (auto existing = matmuls_.find(key(run_rows)); existing != matmuls_.end()) {
      std::shared_ptr<Bound> shared = existing->second;  // emplace may move the table
      matmuls_.emplace(key(rows), shared);
      return shared.get();
    }
    auto bound = std::make_shared<Bound>();
    bound->rows = run_rows;
    bound->primitive = dnnl::matmul(pd);
    bound->src = memory(Rows(run_rows, in, src_type), engine_, DNNL_MEMORY_NONE);
    bound->dst = memory(Rows(run_rows, out, DataType::f32), engine_, DNNL_MEMORY_NONE);
    bound->scratchpad = memory(pd.scratchpad_desc(), engine_, DNNL_MEMORY_NONE);
    bound->args = {{DNNL_ARG_SRC, bound->src.get()},
                   {DNNL_ARG_WEIGHTS, weights.get()},
                   {DNNL_ARG_DST, bound->dst.get()},
                   {DNNL_ARG_SCRATCHPAD, bound->scratchpad.get()}};
    bound->weights_arg = 1;
    Scratchpad(pd.scratchpad_desc().get_size());
    ++kernels_[pd.impl_info_str()];
    matmuls_.emplace(key(run_rows), bound);
    if (run_rows != rows) matmuls_.emplace(key(rows), bound);
    return bound.get();
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("oneDNN matmul ", rows, "x", in, "x", out,
                                            " could not be created: ", e.what()));
  }
}

absl::Status MatmulContext::RunRows(Bound& bound, const void* src, size_t row_bytes,
                                    int64_t rows, float* dst, int64_t out, bool dst_is_input,
                                    const memory& weights) {
  if (bound.rows == rows) return Run(bound, src, dst, &weights);
  const size_t src_bytes = static_cast<size_t>(rows) * row_bytes;
  const size_t dst_floats = static_cast<size_t>(rows * out);
  if (padded_src_.size() < bound.rows * row_bytes) padded_src_.resize(bound.rows * row_bytes);
  if (padded_dst_.size() < static_cast<size_t>(bound.rows * out)) {
    padded_dst_.resize(bound.rows * out);
  }
  std::memcpy(padded_src_.data(), src, src_bytes);
  std::memset(padded_src_.data() + src_bytes, 0, bound.rows * row_bytes - src_bytes);
  if (dst_is_input) std::memcpy(padded_dst_.data(), dst, dst_floats * sizeof(float));
  if (absl::Status s = Run(bound, padded_src_.data(), padded_dst_.data(), &weights); !s.ok()) {
    return s;
  }
  std::memcpy(dst, padded_dst_.data(), dst_floats * sizeof(float));
  return absl::OkStatus();
}

absl::StatusOr<MatmulContext::Bound*> MatmulContext::ToBf16(int64_t rows, int64_t cols) {
  auto it = conversions_.find({rows, cols});
  if (it != conversions_.end()) return it->second.get();
  try {
    auto bound = std::make_unique<Bound>();
    bound->src = memory(Rows(rows, cols, DataType::f32), engine_, DNNL_MEMORY_NONE);
    bound->dst = memory(Rows(rows, cols, DataType::bf16), engine_, DNNL_MEMORY_NONE);
    dnnl::reorder::primitive_desc pd(bound->src, bound->dst);
    bound->primitive = dnnl::reorder(pd);
    bound->args = {{DNNL_ARG_FROM, bound->src.get()}, {DNNL_ARG_TO, bound->dst.get()}};
    Bound* raw = bound.get();
    conversions_.emplace(std::make_pair(rows, cols), std::move(bound));
    return raw;
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("oneDNN bf16 conversion could not be created: ",
                                            e.what()));
  }
}

absl::Status MatmulContext::Run(Bound& bound, const void* src, void* dst,
                                const memory* weights) {
  if (weights != nullptr) bound.args[bound.weights_arg].memory = weights->get();
  dnnl_status_t status = dnnl_memory_set_data_handle(bound.src.get(), const_cast<void*>(src));
  if (status == dnnl_success) status = dnnl_memory_set_data_handle(bound.dst.get(), dst);
  if (status == dnnl_success && bound.scratchpad) {
    status = dnnl_memory_set_data_handle(bound.scratchpad.get(), scratchpad_.data());
  }
  if (status == dnnl_success) {
    inside_onednn_call.store(true, std::memory_order_relaxed);
    status = dnnl_primitive_execute(bound.primitive.get(), stream_.get(),
                                    static_cast<int>(bound.args.size()), bound.args.data());
    inside_onednn_call.store(false, std::memory_order_relaxed);
  }
  if (status == dnnl_success) status = dnnl_stream_wait(stream_.get());
  if (status != dnnl_success) {
    return absl::InternalError(absl::StrCat("oneDNN execution failed (status ", status, ")"));
  }
  return absl::OkStatus();
}

std::string MatmulContext::KernelSummary() const {
  std::vector<std::string> lines;
  for (const auto& [name, count] : kernels_) lines.push_back(absl::StrCat(name, " x", count));
  std::sort(lines.begin(), lines.end());
  return absl::StrJoin(lines, ", ");
}

absl::StatusOr<Linear> Linear::Create(MatmulContext& ctx, const float* weights, int64_t in,
                                      int64_t out, Precision precision) {
  absl::StatusOr<LinearPacker> packer = LinearPacker::Start(ctx, in, out, precision);
  if (!packer.ok()) return packer.status();
  if (precision == Precision::kInt8) {
    std::vector<float> input_scales(in);
    InputScales(weights, out, in, input_scales.data());
    if (absl::Status s = packer->SetInputScales(input_scales); !s.ok()) return s;
  }
  absl::Status added =
      packer->AddRows(0, absl::MakeConstSpan(weights, static_cast<size_t>(in * out)));
  if (!added.ok()) return added;
  return std::move(*packer).Finish();
}

absl::StatusOr<Linear> Linear::Allocate(MatmulContext& ctx, int64_t in, int64_t out,
                                        Precision precision) {
  Linear linear;
  linear.in_ = in;
  linear.out_ = out;
  linear.precision_ = precision;
  if (precision == Precision::kQ8_0) return AllocateQ8_0(std::move(linear));
  if (precision == Precision::kBf16 && in > kBf16GemvMaxIn) {
    for (int64_t first = 0; first < in; first += kBf16GemvMaxIn) {
      absl::StatusOr<Linear> part =
          Allocate(ctx, std::min(kBf16GemvMaxIn, in - first), out, precision);
      if (!part.ok()) return part.status();
      linear.parts_.push_back(*std::move(part));
    }
    return linear;
  }
  const DataType type = WeightType(precision);
  try {
    memory::desc any({in, out}, type, memory::format_tag::any);
    const DataType src_type = precision == Precision::kF32 ? DataType::f32 : type;
    dnnl::matmul::primitive_desc pd(
        dnnl::matmul::desc(Rows(RepresentativeRows(out), in, src_type), any,
                           Rows(RepresentativeRows(out), out, DataType::f32)),
        ctx.engine());
    linear.weights_ = memory(pd.weights_desc(), ctx.engine());
  } catch (const dnnl::error& e) {
    return absl::InternalError(
        absl::StrCat("oneDNN could not pack a ", out, "x", in, " weight matrix: ", e.what()));
  }
  if (IsInt8(precision)) {
    // One symmetric scale per output channel (row of W); int8 also one per input channel, which
    // the activations take (see InputScales), all 1 until LinearPacker::SetInputScales.
    linear.scales_.resize(out);
    if (precision == Precision::kInt8) linear.input_scales_.assign(in, 1.0f);
    if (Int8GemvApplies(linear.weights_.get_desc(), in, out)) linear.compensation_.resize(out);
  }
  linear.bf16_gemv_ =
      precision == Precision::kBf16 && Bf16GemvApplies(linear.weights_.get_desc(), in, out);
  return linear;
}

absl::StatusOr<Linear> Linear::AllocateQ8_0(Linear linear) {
  if (!Q8_0Applies(linear.in_)) {
    return absl::InvalidArgumentError(absl::StrCat("a ", linear.out_, "x", linear.in_,
                                                   " matrix cannot be q8_0: its ", linear.in_,
                                                   " inputs are not whole blocks of 32"));
  }
  // Zeroed: the layout's padding outputs must read as zero weights.
  linear.q8_0_bytes_ = Q8_0PackedBytes(linear.in_, linear.out_);
  const size_t allocated = (linear.q8_0_bytes_ + 63) / 64 * 64;
  linear.q8_0_.reset(static_cast<uint8_t*>(std::aligned_alloc(64, allocated)));
  if (linear.q8_0_ == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("no memory for a ", linear.out_, "x", linear.in_, " q8_0 matrix"));
  }
  std::memset(linear.q8_0_.get(), 0, allocated);
  return linear;
}

std::vector<const dnnl::memory*> Linear::Packed() const {
  if (parts_.empty()) return {&weights_};
  std::vector<const dnnl::memory*> packed;
  for (const Linear& part : parts_) packed.push_back(&part.weights_);
  return packed;
}

size_t Linear::WeightBytes() const {
  size_t bytes = 0;
  for (const Linear& part : parts_) bytes += part.WeightBytes();
  if (!parts_.empty()) return bytes;
  if (q8_0_ != nullptr) return q8_0_bytes_;
  return weights_.get_desc().get_size() + (scales_.size() + input_scales_.size()) * sizeof(float) +
         compensation_.size() * sizeof(int32_t);
}

absl::Status Linear::Apply(MatmulContext& ctx, const float* x, int64_t rows, float* y,
                           Epilogue epilogue) const {
  if (rows == 0) return absl::OkStatus();
  switch (precision_) {
    case Precision::kF32: {
      auto bound = ctx.Matmul(rows, in_, out_, DataType::f32, weights_, epilogue);
      if (!bound.ok()) return bound.status();
      return ctx.RunRows(**bound, x, in_ * sizeof(float), rows, y, out_,
                         epilogue == Epilogue::kAccumulate, weights_);
    }
    case Precision::kBf16:
      return ApplyBf16(ctx, x, rows, y, epilogue);
    case Precision::kInt8:
    case Precision::kInt8Fast:
      return ApplyInt8(ctx, x, rows, y, epilogue);
    case Precision::kQ8_0:
      return ApplyQ8_0(ctx, x, rows, y, epilogue);
  }
  return absl::InternalError("unknown precision");
}

absl::Status Linear::ApplyBf16(MatmulContext& ctx, const float* x, int64_t rows, float* y,
                               Epilogue epilogue) const {
  if (!parts_.empty()) return ApplyBf16Parts(ctx, x, rows, y, epilogue);
  auto convert = ctx.ToBf16(rows, in_);
  if (!convert.ok()) return convert.status();
  if (ctx.bf16_rows_.size() < static_cast<size_t>(rows * in_)) ctx.bf16_rows_.resize(rows * in_);
  if (absl::Status s = ctx.Run(**convert, x, ctx.bf16_rows_.data()); !s.ok()) return s;
  // The epilogue runs after the product (epilogue.h) on both paths, never fused into oneDNN's
  // kernel, so both give the same bits; but for accumulating, where oneDNN's fused sum rounds
  // y + product once as ApplyEpilogue does (matmul_test checks the bits).
  if (bf16_gemv_ && rows <= kBf16GemvMaxRows) {
    float* sums = epilogue == Epilogue::kAccumulate ? ctx.Sums(rows * out_) : y;
    Bf16Gemv(ctx.bf16_rows_.data(), rows, in_, out_,
             static_cast<const uint16_t*>(weights_.get_data_handle()), sums);
    ApplyEpilogue(sums, rows, out_, epilogue, y);
    return absl::OkStatus();
  }
  const bool accumulate = epilogue == Epilogue::kAccumulate;
  auto bound = ctx.Matmul(rows, in_, out_, DataType::bf16, weights_,
                          accumulate ? Epilogue::kAccumulate : Epilogue::kNone);
  if (!bound.ok()) return bound.status();
  if (absl::Status s = ctx.RunRows(**bound, ctx.bf16_rows_.data(), in_ * sizeof(uint16_t), rows, y,
                                   out_, accumulate, weights_);
      !s.ok()) {
    return s;
  }
  if (!accumulate) ApplyEpilogue(y, rows, out_, epilogue, y);
  return absl::OkStatus();
}

absl::Status Linear::ApplyQ8_0(MatmulContext& ctx, const float* x, int64_t rows, float* y,
                               Epilogue epilogue) const {
  const size_t inputs = static_cast<size_t>(rows * in_);
  if (ctx.int16_rows_.size() < inputs) ctx.int16_rows_.resize(inputs);
  if (ctx.row_scales_.size() < static_cast<size_t>(rows)) ctx.row_scales_.resize(rows);
  float* products = epilogue == Epilogue::kAccumulate ? ctx.Sums(rows * out_) : y;
  QuantizeRowsInt16(x, rows, in_, ctx.int16_rows_.data(), ctx.row_scales_.data());
  Q8_0Matmul(ctx.int16_rows_.data(), ctx.row_scales_.data(), rows, in_, out_, q8_0_.get(),
             products);
  ApplyEpilogue(products, rows, out_, epilogue, y);
  return absl::OkStatus();
}

absl::Status Linear::ApplyBf16Parts(MatmulContext& ctx, const float* x, int64_t rows, float* y,
                                    Epilogue epilogue) const {
  float* total = y;
  if (epilogue == Epilogue::kAccumulate) {
    const size_t products = static_cast<size_t>(rows * out_);
    if (ctx.parts_total_.size() < products) ctx.parts_total_.resize(products);
    total = ctx.parts_total_.data();
  }
  int64_t first = 0;
  for (const Linear& part : parts_) {
    const int64_t in = part.in_;
    if (ctx.part_x_.size() < static_cast<size_t>(rows * in)) ctx.part_x_.resize(rows * in);
    for (int64_t r = 0; r < rows; ++r) {
      std::memcpy(ctx.part_x_.data() + r * in, x + r * in_ + first, in * sizeof(float));
    }
    // Parts add up in order: total = ((part 0 + part 1) + part 2) ...
    const Epilogue add = first == 0 ? Epilogue::kNone : Epilogue::kAccumulate;
    if (absl::Status s = part.ApplyBf16(ctx, ctx.part_x_.data(), rows, total, add); !s.ok()) {
      return s;
    }
    first += in;
  }
  ApplyEpilogue(total, rows, out_, epilogue, y);
  return absl::OkStatus();
}

absl::Status Linear::ApplyInt8(MatmulContext& ctx, const float* x, int64_t rows, float* y,
                               Epilogue epilogue) const {
  // kInt8: each activation row becomes two int8 rows (QuantizeRowsSplit), so the product runs on
  // twice the rows and its integer sums need their own buffer; kInt8Fast: one row each, and the
  // sums land in y unless y's old values are still needed.
  const bool split = precision_ == Precision::kInt8;
  const int64_t int8_rows = split ? 2 * rows : rows;
  if (ctx.int8_rows_.size() < static_cast<size_t>(int8_rows * in_)) {
    ctx.int8_rows_.resize(int8_rows * in_);
  }
  if (ctx.row_scales_.size() < static_cast<size_t>(rows)) ctx.row_scales_.resize(rows);
  float* sums = split || epilogue == Epilogue::kAccumulate ? ctx.Sums(int8_rows * out_) : y;
  if (split) {
    QuantizeRowsSplit(x, rows, in_, input_scales_.data(), ctx.int8_rows_.data(),
                      ctx.row_scales_.data());
  } else {
    QuantizeRows(x, rows, in_, ctx.int8_rows_.data(), ctx.row_scales_.data());
  }
  if (!compensation_.empty() && int8_rows <= kInt8GemvMaxRows) {
    Int8Gemv(ctx.int8_rows_.data(), int8_rows, in_, out_,
             static_cast<const int8_t*>(weights_.get_data_handle()), compensation_.data(), sums);
  } else {
    auto bound = ctx.Matmul(int8_rows, in_, out_, DataType::s8, weights_, Epilogue::kNone);
    if (!bound.ok()) return bound.status();
    if (absl::Status s = ctx.RunRows(**bound, ctx.int8_rows_.data(), in_, int8_rows, sums, out_,
                                     /*dst_is_input=*/false, weights_);
        !s.ok()) {
      return s;
    }
  }
  if (split) {
    RescaleSplitRows(sums, rows, out_, ctx.row_scales_.data(), scales_.data(), epilogue, y);
  } else {
    RescaleRows(sums, rows, out_, ctx.row_scales_.data(), scales_.data(), epilogue, y);
  }
  return absl::OkStatus();
}

}  // namespace rwkv::engine
