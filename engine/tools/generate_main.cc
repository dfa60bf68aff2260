// rwkv-generate: run the engine on one prompt without the server.
//
//   rwkv-generate --model ../shared/models/tiny-rwkv-7v0-834K-FP32.bin --prompt "The quick"
//       --max_tokens 64 --temperature 0
//
// Streams the generated text to stdout. --dump-logits and --dump-state write the raw engine
// outputs (f32, little-endian) so outside tools can compare them with a reference:
//   logits: [prompt_tokens + generated, vocab], one row after each prompt token, then one row
//           after each generated token is fed back;
//   state:  the state right after the last prompt token (engine/model/state_layout.h).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/engine.h"
#include "engine/sampler/sampler.h"
#include "engine/tokenizer/tokenizer_factory.h"
#include "engine/tokenizer/utf8_detokenizer.h"
#include "common/command_line.h"
#include "common/status_macros.h"

ABSL_FLAG(std::string, model, "",
          "Model file (.pth, .safetensors, .gguf, rwkv.cpp .bin), Hugging Face model directory, "
          "or synthetic:<shape>.");
ABSL_FLAG(std::string, tokenizer, "",
          "bytes | world | 20b | PATH of a tokenizer JSON (.json) or World vocabulary; default "
          "chosen from the model (its own vocabulary, else its vocabulary size).");
ABSL_FLAG(std::string, prompt, "", "Prompt text.");
ABSL_FLAG(std::string, prompt_file, "", "Read the prompt from this file instead.");
ABSL_FLAG(int32_t, max_tokens, 128, "Tokens to generate.");
ABSL_FLAG(float, temperature, 1.0f, "Sampling temperature; 0 = greedy.");
ABSL_FLAG(int32_t, top_k, 0, "Keep only the k most likely tokens; 0 = off.");
ABSL_FLAG(float, top_p, 1.0f, "Nucleus sampling threshold in (0, 1].");
ABSL_FLAG(uint64_t, seed, 0, "Sampling seed: the same seed gives the same tokens.");
ABSL_FLAG(int32_t, threads, 0, "Engine threads; 0 = all cores.");
ABSL_FLAG(std::string, precision, "",
          "Weight format: f32 | bf16 | int8 | int8-fast | q8_0 | auto (bf16 where the CPU has it, "
          "else f32). "
          "Default: auto, but f32 when --dump-logits or --dump-state is given, so that dumps "
          "compare with the float32 reference.");
ABSL_FLAG(int32_t, prefill_chunk, 256, "Prompt tokens per engine call.");
ABSL_FLAG(std::string, dump_logits, "", "Write every logits row (f32 LE) to this file.");
ABSL_FLAG(std::string, dump_state, "", "Write the state after the prompt (f32 LE) to this file.");

namespace rwkv::engine {
namespace {

absl::StatusOr<std::string> PromptText() {
  const std::string path = absl::GetFlag(FLAGS_prompt_file);
  if (path.empty()) return absl::GetFlag(FLAGS_prompt);
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read --prompt_file ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Appends f32 rows to a file, if one was asked for.
class RowWriter {
 public:
  absl::Status Open(const std::string& path) {
    if (path.empty()) return absl::OkStatus();
    out_.open(path, std::ios::binary | std::ios::trunc);
    if (!out_) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
    return absl::OkStatus();
  }
  bool active() const { return out_.is_open(); }
  void Write(absl::Span<const float> row) {
    out_.write(reinterpret_cast<const char*>(row.data()),
               static_cast<std::streamsize>(row.size() * sizeof(float)));
  }

 private:
  std::ofstream out_;
};

absl::StatusOr<SamplingParams> ParamsFromFlags(int32_t vocab) {
  SamplingParams params;
  params.temperature = absl::GetFlag(FLAGS_temperature);
  params.top_k = absl::GetFlag(FLAGS_top_k);
  params.top_p = absl::GetFlag(FLAGS_top_p);
  params.seed = absl::GetFlag(FLAGS_seed);
  RWKV_RETURN_IF_ERROR(ValidateSamplingParams(params, vocab));
  return params;
}

// Feeds the prompt in chunks; returns the logits after its last token.
absl::StatusOr<std::vector<float>> Prefill(Engine& engine, absl::Span<float> state,
                                           const std::vector<int32_t>& prompt,
                                           RowWriter& logits_out) {
  const size_t chunk = static_cast<size_t>(std::max(1, absl::GetFlag(FLAGS_prefill_chunk)));
  std::vector<float> last;
  for (size_t begin = 0; begin < prompt.size(); begin += chunk) {
    const size_t size = std::min(chunk, prompt.size() - begin);
    const bool final_chunk = begin + size == prompt.size();
    const LogitsMode mode = logits_out.active() ? LogitsMode::kAll
                            : final_chunk       ? LogitsMode::kLast
                                                : LogitsMode::kNone;
    SequenceInput input{state, absl::MakeConstSpan(prompt).subspan(begin, size), mode};
    RWKV_ASSIGN_OR_RETURN(LogitsView view, engine.Forward({input}));
    for (int64_t k = 0; logits_out.active() && k < view.RowCount(0); ++k) {
      logits_out.Write(view.Row(0, k));
    }
    if (final_chunk) {
      auto row = view.Row(0, view.RowCount(0) - 1);
      last.assign(row.begin(), row.end());
    }
  }
  return last;
}

bool Dumping() {
  return !absl::GetFlag(FLAGS_dump_logits).empty() || !absl::GetFlag(FLAGS_dump_state).empty();
}

absl::StatusOr<Precision> PrecisionFromFlags() {
  const std::string name = absl::GetFlag(FLAGS_precision);
  if (name.empty() && Dumping()) return Precision::kF32;
  return ParsePrecision(name);
}

absl::Status Run() {
  RWKV_ASSIGN_OR_RETURN(Precision precision, PrecisionFromFlags());
  RWKV_ASSIGN_OR_RETURN(
      auto engine,
      Engine::Create(
          {.model = absl::GetFlag(FLAGS_model),
           .threads = absl::GetFlag(FLAGS_threads),
           .precision = precision,
           .auto_precision = IsAutoPrecision(absl::GetFlag(FLAGS_precision)) && !Dumping()}));
  const ModelConfig& config = engine->config();
  RWKV_ASSIGN_OR_RETURN(auto tokenizer,
                        CreateTokenizer(absl::GetFlag(FLAGS_tokenizer), config.n_vocab,
                                        engine->EmbeddedVocabulary()));
  RWKV_ASSIGN_OR_RETURN(SamplingParams params, ParamsFromFlags(config.n_vocab));
  RWKV_ASSIGN_OR_RETURN(Sampler sampler, Sampler::Create(params, config.n_vocab));
  RWKV_ASSIGN_OR_RETURN(std::string text, PromptText());
  RWKV_ASSIGN_OR_RETURN(std::vector<int32_t> prompt, tokenizer->Encode(text));
  if (prompt.empty()) return absl::InvalidArgumentError("the prompt is empty");
  const int32_t max_tokens = absl::GetFlag(FLAGS_max_tokens);
  if (max_tokens < 0) return absl::InvalidArgumentError("--max_tokens must be >= 0");
  RowWriter logits_out;
  RWKV_RETURN_IF_ERROR(logits_out.Open(absl::GetFlag(FLAGS_dump_logits)));
  RowWriter state_out;
  RWKV_RETURN_IF_ERROR(state_out.Open(absl::GetFlag(FLAGS_dump_state)));

  std::vector<float> state = engine->InitialState();
  const absl::Time start = absl::Now();
  RWKV_ASSIGN_OR_RETURN(std::vector<float> logits,
                        Prefill(*engine, absl::MakeSpan(state), prompt, logits_out));
  if (state_out.active()) state_out.Write(state);
  const absl::Time prefilled = absl::Now();

  Utf8Detokenizer detokenizer;
  const std::optional<int32_t> end_of_text = tokenizer->EndOfTextToken();
  int32_t generated = 0;
  while (generated < max_tokens) {
    const int32_t token = sampler.Sample(logits);
    sampler.Accept(token);
    ++generated;
    if (end_of_text && token == *end_of_text) break;
    RWKV_ASSIGN_OR_RETURN(std::string_view bytes, tokenizer->TokenBytes(token));
    std::cout << detokenizer.Push(bytes) << std::flush;
    // Feed it back: the state then covers everything generated, and its logits are the next row.
    SequenceInput input{absl::MakeSpan(state), absl::MakeConstSpan(&token, 1)};
    RWKV_ASSIGN_OR_RETURN(LogitsView view, engine->Forward({input}));
    logits.assign(view.Row(0).begin(), view.Row(0).end());
    if (logits_out.active()) logits_out.Write(logits);
  }
  std::cout << detokenizer.Flush() << std::endl;
  const double prefill_s = absl::ToDoubleSeconds(prefilled - start);
  const double decode_s = absl::ToDoubleSeconds(absl::Now() - prefilled);
  std::cerr << absl::StrCat(config.Summary(), ", ", PrecisionName(engine->precision()),
                            " (", engine->KernelSummary(), "); prompt ", prompt.size(),
                            " tokens in ",
                            static_cast<int>(prefill_s * 1000), " ms; generated ", generated,
                            " tokens, ", generated > 0 ? generated / decode_s : 0.0, " tok/s\n");
  return absl::OkStatus();
}

}  // namespace
}  // namespace rwkv::engine

int main(int argc, char** argv) {
  rwkv::ParseCommandLine(
      argc, argv,
      "Generates text with an RWKV model, without the server.\n"
      "  rwkv-generate --model FILE --prompt TEXT [--max-tokens N] [--temperature T] [--seed S]\n"
      "Flags may be written with dashes or underscores (--max-tokens, --max_tokens).");
  if (absl::GetFlag(FLAGS_model).empty()) {
    std::cerr << "rwkv-generate: --model is required (see --help)\n";
    return 2;
  }
  absl::Status status = rwkv::engine::Run();
  if (!status.ok()) {
    std::cerr << "rwkv-generate: " << status << "\n";
    return 1;
  }
  return 0;
}
