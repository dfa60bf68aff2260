#include "engine/compute/matmul.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace rwkv::engine {
namespace {

using dnnl::memory;

// Packing is chosen for this row count; oneDNN's brgemm layout does not depend on it.
constexpr int64_t kRepresentativeRows = 64;

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
  return attr;
}

memory::desc RowMajor(int64_t rows, int64_t cols) {
  return memory::desc({rows, cols}, memory::data_type::f32, memory::format_tag::ab);
}

}  // namespace

MatmulContext::MatmulContext() : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}

absl::StatusOr<dnnl::matmul*> MatmulContext::Primitive(int64_t rows, int64_t in, int64_t out,
                                                       const memory::desc& weights_desc,
                                                       Epilogue epilogue) {
  Key key{rows, in, out, static_cast<int>(weights_desc.data_type()), static_cast<int>(epilogue)};
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second.get();
  try {
    dnnl::matmul::primitive_desc pd(
        dnnl::matmul::desc(RowMajor(rows, in), weights_desc, RowMajor(rows, out)),
        MakeAttr(epilogue), engine_);
    auto primitive = std::make_unique<dnnl::matmul>(pd);
    dnnl::matmul* raw = primitive.get();
    cache_.emplace(key, std::move(primitive));
    return raw;
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("oneDNN matmul ", rows, "x", in, "x", out,
                                            " could not be created: ", e.what()));
  }
}

absl::StatusOr<Linear> Linear::Create(MatmulContext& ctx, const float* weights, int64_t in,
                                      int64_t out) {
  Linear linear;
  linear.in_ = in;
  linear.out_ = out;
  try {
    // W^T as a [in, out] matrix whose memory is W's (out, in) rows: oneDNN's "ba" tag.
    memory::desc plain({in, out}, memory::data_type::f32, memory::format_tag::ba);
    memory::desc any({in, out}, memory::data_type::f32, memory::format_tag::any);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(RowMajor(kRepresentativeRows, in), any,
                                                       RowMajor(kRepresentativeRows, out)),
                                    ctx.engine());
    linear.weights_ = memory(pd.weights_desc(), ctx.engine());
    memory source(plain, ctx.engine(), const_cast<float*>(weights));
    dnnl::reorder(source, linear.weights_).execute(ctx.stream(), source, linear.weights_);
    ctx.stream().wait();
  } catch (const dnnl::error& e) {
    return absl::InternalError(
        absl::StrCat("oneDNN could not pack a ", out, "x", in, " weight matrix: ", e.what()));
  }
  return linear;
}

absl::Status Linear::Apply(MatmulContext& ctx, const float* x, int64_t rows, float* y,
                           Epilogue epilogue) const {
  if (rows == 0) return absl::OkStatus();
  auto primitive = ctx.Primitive(rows, in_, out_, weights_.get_desc(), epilogue);
  if (!primitive.ok()) return primitive.status();
  memory src(RowMajor(rows, in_), ctx.engine(), const_cast<float*>(x));
  memory dst(RowMajor(rows, out_), ctx.engine(), y);
  (*primitive)
      ->execute(ctx.stream(),
                {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights_}, {DNNL_ARG_DST, dst}});
  ctx.stream().wait();
  return absl::OkStatus();
}

}  // namespace rwkv::engine
