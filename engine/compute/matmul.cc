#include "engine/compute/matmul.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace rwkv::engine {
namespace {

using dnnl::memory;
using DataType = memory::data_type;

// Weights are packed in the layout oneDNN picks for one row (decode): measured with oneDNN 2.6,
// every row count then runs a brgemm kernel on it, whereas a layout picked for many rows sends
// small int8 matrices with 1-2 rows to the slow reference kernel.
constexpr int64_t kRepresentativeRows = 1;

DataType WeightType(Precision precision) {
  switch (precision) {
    case Precision::kF32:
      return DataType::f32;
    case Precision::kBf16:
      return DataType::bf16;
    case Precision::kInt8:
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

// The epilogue of int8 products, applied while rescaling the int32 sums.
inline float ApplyEpilogue(Epilogue epilogue, float v, float old) {
  switch (epilogue) {
    case Epilogue::kNone:
      return v;
    case Epilogue::kAccumulate:
      return old + v;
    case Epilogue::kSigmoid:
      return 1.0f / (1.0f + std::exp(-v));
    case Epilogue::kTanh:
      return std::tanh(v);
    case Epilogue::kReluSquare:
      return v > 0.0f ? v * v : 0.0f;
    case Epilogue::kSilu:
      return v / (1.0f + std::exp(-v));
  }
  return v;
}

// Symmetric per-row int8 quantization: q = round(x / s), s = max|x| / 127.
void QuantizeRows(const float* x, int64_t rows, int64_t cols, int8_t* q, float* scales) {
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float amax = 0.0f;
    for (int64_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(xr[c]));
    const float scale = amax > 0.0f ? amax / 127.0f : 1.0f;
    const float inverse = 1.0f / scale;
    int8_t* qr = q + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      qr[c] = static_cast<int8_t>(std::nearbyint(xr[c] * inverse));
    }
    scales[r] = scale;
  }
}

}  // namespace

MatmulContext::MatmulContext() : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}

void* MatmulContext::Scratchpad(size_t bytes) {
  if (scratchpad_.size() < bytes) scratchpad_.resize(bytes);
  return scratchpad_.data();
}

absl::StatusOr<MatmulContext::Bound*> MatmulContext::Matmul(int64_t rows, int64_t in, int64_t out,
                                                            const memory::desc& src,
                                                            const memory& weights,
                                                            Epilogue epilogue) {
  const memory::desc weights_desc = weights.get_desc();
  const Key key{rows, in, out, static_cast<int>(src.data_type()),
                static_cast<int>(weights_desc.data_type()), static_cast<int>(epilogue)};
  auto it = matmuls_.find(key);
  if (it != matmuls_.end()) return it->second.get();
  try {
    const memory::desc dst = Rows(rows, out, DataType::f32);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, weights_desc, dst), MakeAttr(epilogue),
                                    engine_);
    auto bound = std::make_unique<Bound>();
    bound->primitive = dnnl::matmul(pd);
    bound->src = memory(src, engine_, DNNL_MEMORY_NONE);
    bound->dst = memory(dst, engine_, DNNL_MEMORY_NONE);
    bound->scratchpad = memory(pd.scratchpad_desc(), engine_, DNNL_MEMORY_NONE);
    bound->args = {{DNNL_ARG_SRC, bound->src},
                   {DNNL_ARG_WEIGHTS, weights},
                   {DNNL_ARG_DST, bound->dst},
                   {DNNL_ARG_SCRATCHPAD, bound->scratchpad}};
    Scratchpad(pd.scratchpad_desc().get_size());
    ++kernels_[pd.impl_info_str()];
    Bound* raw = bound.get();
    matmuls_.emplace(key, std::move(bound));
    return raw;
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("oneDNN matmul ", rows, "x", in, "x", out,
                                            " could not be created: ", e.what()));
  }
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
    bound->args = {{DNNL_ARG_FROM, bound->src}, {DNNL_ARG_TO, bound->dst}};
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
  try {
    // Assigning to an existing key copies a handle; nothing is allocated.
    if (weights != nullptr) bound.args[DNNL_ARG_WEIGHTS] = *weights;
    bound.src.set_data_handle(const_cast<void*>(src));
    bound.dst.set_data_handle(dst);
    if (bound.scratchpad) bound.scratchpad.set_data_handle(scratchpad_.data());
    bound.primitive.execute(stream_, bound.args);
    stream_.wait();
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("oneDNN execution failed: ", e.what()));
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
  Linear linear;
  linear.in_ = in;
  linear.out_ = out;
  linear.precision_ = precision;
  const DataType type = WeightType(precision);
  // int8: one symmetric scale per output channel (row of W).
  std::vector<int8_t> quantized;
  if (precision == Precision::kInt8) {
    quantized.resize(static_cast<size_t>(in * out));
    linear.scales_.resize(out);
    QuantizeRows(weights, out, in, quantized.data(), linear.scales_.data());
  }
  try {
    // W^T as a [in, out] matrix whose memory is W's (out, in) rows: oneDNN's "ba" tag.
    const DataType source_type = precision == Precision::kInt8 ? DataType::s8 : DataType::f32;
    memory::desc plain({in, out}, source_type, memory::format_tag::ba);
    memory::desc any({in, out}, type, memory::format_tag::any);
    const DataType src_type = precision == Precision::kF32 ? DataType::f32 : type;
    dnnl::matmul::primitive_desc pd(
        dnnl::matmul::desc(Rows(kRepresentativeRows, in, src_type), any,
                           Rows(kRepresentativeRows, out, DataType::f32)),
        ctx.engine());
    linear.weights_ = memory(pd.weights_desc(), ctx.engine());
    void* source_data = precision == Precision::kInt8 ? static_cast<void*>(quantized.data())
                                                      : const_cast<float*>(weights);
    memory source(plain, ctx.engine(), source_data);
    dnnl::reorder(source, linear.weights_).execute(ctx.stream(), source, linear.weights_);
    ctx.stream().wait();
    ctx.packed_bytes_ += static_cast<int64_t>(linear.WeightBytes());
    ctx.macs_per_row_ += in * out;
  } catch (const dnnl::error& e) {
    return absl::InternalError(
        absl::StrCat("oneDNN could not pack a ", out, "x", in, " weight matrix: ", e.what()));
  }
  return linear;
}

size_t Linear::WeightBytes() const {
  return weights_.get_desc().get_size() + scales_.size() * sizeof(float);
}

absl::Status Linear::Apply(MatmulContext& ctx, const float* x, int64_t rows, float* y,
                           Epilogue epilogue) const {
  if (rows == 0) return absl::OkStatus();
  switch (precision_) {
    case Precision::kF32: {
      auto bound = ctx.Matmul(rows, in_, out_, Rows(rows, in_, DataType::f32), weights_, epilogue);
      if (!bound.ok()) return bound.status();
      return ctx.Run(**bound, x, y, &weights_);
    }
    case Precision::kBf16: {
      auto convert = ctx.ToBf16(rows, in_);
      if (!convert.ok()) return convert.status();
      if (ctx.bf16_rows_.size() < static_cast<size_t>(rows * in_)) ctx.bf16_rows_.resize(rows * in_);
      if (absl::Status s = ctx.Run(**convert, x, ctx.bf16_rows_.data()); !s.ok()) return s;
      auto bound = ctx.Matmul(rows, in_, out_, Rows(rows, in_, DataType::bf16), weights_, epilogue);
      if (!bound.ok()) return bound.status();
      return ctx.Run(**bound, ctx.bf16_rows_.data(), y, &weights_);
    }
    case Precision::kInt8:
      return ApplyInt8(ctx, x, rows, y, epilogue);
  }
  return absl::InternalError("unknown precision");
}

absl::Status Linear::ApplyInt8(MatmulContext& ctx, const float* x, int64_t rows, float* y,
                               Epilogue epilogue) const {
  const size_t n_in = static_cast<size_t>(rows * in_);
  if (ctx.int8_rows_.size() < n_in) ctx.int8_rows_.resize(n_in);
  if (ctx.row_scales_.size() < static_cast<size_t>(rows)) ctx.row_scales_.resize(rows);
  QuantizeRows(x, rows, in_, ctx.int8_rows_.data(), ctx.row_scales_.data());
  // The integer sums land in y, unless y's old values are still needed.
  float* sums = y;
  if (epilogue == Epilogue::kAccumulate) {
    if (ctx.sums_.size() < static_cast<size_t>(rows * out_)) ctx.sums_.resize(rows * out_);
    sums = ctx.sums_.data();
  }
  auto bound = ctx.Matmul(rows, in_, out_, Rows(rows, in_, DataType::s8), weights_, Epilogue::kNone);
  if (!bound.ok()) return bound.status();
  if (absl::Status s = ctx.Run(**bound, ctx.int8_rows_.data(), sums, &weights_); !s.ok()) {
    return s;
  }
  const float* row_scales = ctx.row_scales_.data();
  const float* scales = scales_.data();
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const float row_scale = row_scales[r];
    const float* s = sums + r * out_;
    float* o = y + r * out_;
    for (int64_t c = 0; c < out_; ++c) {
      o[c] = ApplyEpilogue(epilogue, s[c] * row_scale * scales[c], o[c]);
    }
  }
  return absl::OkStatus();
}

}  // namespace rwkv::engine
