// Engine: the public entry point of the inference engine. It owns one model and runs batched,
// ragged forward passes over many sessions' states at once.
//
//   EngineOptions options;
//   options.model = "../shared/models/tiny-rwkv-7v0-834K-FP32.bin";  // or "synthetic:rwkv7-0.1b"
//   RWKV_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::Create(options));
//   std::vector<float> state = engine->InitialState();
//   std::vector<int32_t> prompt = {34, 105, 110};
//   RWKV_ASSIGN_OR_RETURN(LogitsView logits,
//                         engine->Forward({{absl::MakeSpan(state), prompt, LogitsMode::kLast}}));
//   absl::Span<const float> next = logits.Row(0);   // n_vocab logits after the last token
//
// Each sequence brings its own state buffer (StateLayout) and its tokens; all rows of all
// sequences go through every matrix product together, while token shift and the recurrence
// run per sequence over its own rows. A sequence's results do not depend on what else is in
// the batch nor on how its tokens are split across calls (up to float rounding).
//
// Engine is an interface: Create() returns the oneDNN implementation (engine/onednn_engine.h),
// and tests substitute a FakeEngine (tests/fakes/). This header pulls in no oneDNN or OpenMP
// header, so the server's files that schedule work onto an engine never compile the library.
//
// Threading: one thread at a time may call Forward (the server's engine loop); Forward itself
// uses `threads` OpenMP threads. Everything else is const and thread-safe.
#ifndef RWKV_ENGINE_ENGINE_H_
#define RWKV_ENGINE_ENGINE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/compute/precision.h"
#include "engine/model/formats/model_file.h"
#include "engine/model/model_config.h"
#include "engine/model/tensor_source.h"

namespace rwkv::engine {

struct EngineOptions {
  // A model file or Hugging Face directory in any supported format (rwkv.cpp .bin, PyTorch .pth,
  // safetensors, GGUF; stored types widened at load), or "synthetic:<shape>" for random weights
  // with a real shape (see SyntheticSource).
  std::string model;
  // OpenMP threads for one Forward; 0 = all available cores.
  int threads = 0;
  // Format of the weight matrices (activations and states stay float32). The library default
  // is the exact float32 path; the programs default to DefaultPrecision().
  Precision precision = Precision::kF32;
  // RWKV-7 prompts: 0 (the default) runs the WKV recurrence token by token, so a sequence's
  // numbers do not depend on how its prompt is split into Forward calls. 16, 32, 48 or 64 runs
  // every sequence with at least that many tokens in a call in the chunked matrix form with
  // chunks of that length (wkv7_chunked.h): faster on long prompts, equal to float rounding
  // (~1e-6 relative), but no longer bit-identical across different splits of a prompt; the
  // invariance suite holds for the default only. 16 is the fastest (WKV ~1.2x, prefill ~2%).
  int prefill_wkv_chunk = 0;
  // The programs' --precision auto: q8_0 for a model whose matrices are stored as Q8_0 (a Q8_0
  // GGUF or rwkv.cpp file then runs on its own blocks), `precision` otherwise.
  bool auto_precision = false;
};

enum class LogitsMode {
  kNone,  // only advance the state (prefill chunks that are not the last)
  kLast,  // logits after the sequence's last token
  kAll,   // logits after every token
};

struct SequenceInput {
  absl::Span<float> state;           // StateFloats() floats, updated in place
  absl::Span<const int32_t> tokens;  // at least one token id in [0, n_vocab)
  LogitsMode logits = LogitsMode::kLast;
};

// Logits of one Forward call; points into the engine and is valid until its next Forward.
class LogitsView {
 public:
  // `data` holds `vocab` floats per row; sequence s owns rows [first_row[s], first_row[s + 1]).
  // Both must outlive the view (an engine keeps them until its next Forward).
  LogitsView(const float* data, int64_t vocab, const std::vector<int64_t>& first_row)
      : data_(data), vocab_(vocab), first_row_(&first_row) {}

  // Row k of the rows sequence `sequence` asked for (kLast: k = 0 only).
  absl::Span<const float> Row(size_t sequence, int64_t k = 0) const {
    return absl::MakeConstSpan(data_ + ((*first_row_)[sequence] + k) * vocab_, vocab_);
  }
  int64_t RowCount(size_t sequence) const {
    return (*first_row_)[sequence + 1] - (*first_row_)[sequence];
  }

 private:
  const float* data_;
  int64_t vocab_;
  const std::vector<int64_t>* first_row_;  // per sequence, plus one past the end
};

class Engine {
 public:
  // The oneDNN engine for `options.model`.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(const EngineOptions& options);
  // The oneDNN engine over an already opened source (used by tests and synthetic models).
  static absl::StatusOr<std::unique_ptr<Engine>> FromSource(const TensorSource& source,
                                                            const EngineOptions& options);

  virtual ~Engine() = default;

  virtual const ModelConfig& config() const = 0;
  virtual const std::string& fingerprint() const = 0;
  virtual int64_t parameters() const = 0;
  virtual int threads() const = 0;
  virtual Precision precision() const = 0;
  // The kernels in use so far, e.g. "brg:avx512_core_amx_bf16 x12".
  virtual std::string KernelSummary() const = 0;
  // Bytes of matrix weights one token reads (the batch-1 decode memory traffic) and the
  // floating-point operations of its matrix products.
  virtual int64_t MatrixBytesPerToken() const = 0;
  virtual int64_t MatrixFlopsPerToken() const = 0;
  // Bytes the loaded weights hold in their compute format: the packed matrices and the
  // embedding table (the per-channel vectors, well under 1% of a model, left out).
  virtual int64_t WeightBytes() const { return MatrixBytesPerToken(); }
  // The vocabulary the model file carries (GGUF's tokenizer), token id -> bytes; empty when it
  // carries none (the tokenizer then comes from --tokenizer or the vocabulary size).
  virtual absl::Span<const std::string> EmbeddedVocabulary() const { return {}; }
  int64_t StateFloats() const { return config().StateFloats(); }
  // A new sequence's state (StateLayout of config()).
  std::vector<float> InitialState() const;
  void ResetState(absl::Span<float> state) const;

  // Runs one step over every sequence in `batch`. INVALID_ARGUMENT (naming the sequence) for an
  // empty batch or token list, a token outside the vocabulary, a state of the wrong size, or two
  // sequences sharing a state buffer. On error no state has been modified.
  virtual absl::StatusOr<LogitsView> Forward(absl::Span<const SequenceInput> batch) = 0;

  // Runs task(i) for every i in [0, count) on the engine's threads, the caller's among them, and
  // returns when all have run: per-sequence work between steps (sampling the next tokens) then
  // scales with the threads as Forward does, rather than running on one thread while the rest
  // wait. Tasks must touch disjoint data. Called from Forward's thread, never during Forward.
  // This default runs them in order on the caller's thread.
  virtual void ParallelFor(int64_t count, absl::FunctionRef<void(int64_t)> task) {
    for (int64_t i = 0; i < count; ++i) task(i);
  }
};

// The checks every implementation's Forward makes before touching a state (see Forward).
// `scratch` is reused between calls so that the check allocates nothing in the steady state.
absl::Status ValidateBatch(absl::Span<const SequenceInput> batch, const ModelConfig& config,
                           std::vector<const float*>& scratch);

// Opens a model spec: "synthetic:<shape>", or a model file or Hugging Face directory in any
// supported format (detected from the file's bytes; see engine/model/formats/model_file.h).
absl::StatusOr<ModelFile> OpenModelSource(const std::string& spec);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_ENGINE_H_
