// Fuzzes Generate request parsing: a serialized rwkv.v1.GenerateRequest as gRPC hands it over,
// parsed by protobuf and then validated by ParseGenerateRequest (server/api/generate_request.h),
// with the byte tokenizer of the tiny models and, where ../shared has it, the World tokenizer.
//
// A refused request must be INVALID_ARGUMENT. An accepted one must be within every documented
// limit, its text prompt must decode back to the text, and its sampling parameters must drive a
// real Sampler to tokens of the vocabulary.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/sampler/sampler.h"
#include "engine/sampler/stop_matcher.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "engine/tokenizer/world_tokenizer.h"
#include "google/protobuf/stubs/logging.h"
#include "rwkv/v1/rwkv.pb.h"
#include "server/api/generate_request.h"
#include "server/api/request_limits.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using rwkv::engine::Tokenizer;
using rwkv::server::TurnRequest;

// Small enough that fuzzed inputs reach every limit.
const rwkv::server::ServerLimits kLimits{
    .max_prompt_tokens = 512, .max_new_tokens = 256, .default_max_tokens = 16};

const Tokenizer* world = nullptr;  // null when the vocabulary is not found

bool InRange(float value, float low, float high) { return value >= low && value <= high; }

void CheckSampling(const rwkv::engine::SamplingParams& p, int32_t vocab,
                   const rwkv::v1::SamplingOptions& options) {
  FUZZ_CHECK(InRange(p.temperature, 0, 100), p.temperature);
  FUZZ_CHECK(p.top_k >= 0 && p.top_k <= vocab, p.top_k);
  FUZZ_CHECK(p.top_p > 0 && p.top_p <= 1, p.top_p);
  FUZZ_CHECK(InRange(p.min_p, 0, 1), p.min_p);
  FUZZ_CHECK(InRange(p.presence_penalty, -2, 2) && InRange(p.frequency_penalty, -2, 2), "penalty");
  FUZZ_CHECK(p.repetition_penalty > 0 && p.repetition_penalty <= 10, p.repetition_penalty);
  FUZZ_CHECK(p.penalty_window >= 0, p.penalty_window);
  for (const auto& [token, bias] : p.logit_bias) {
    FUZZ_CHECK(token >= 0 && token < vocab && InRange(bias, -100, 100), token << " " << bias);
  }
  if (options.has_seed()) FUZZ_CHECK(p.seed == options.seed(), "seed");
}

// The validated parameters must be usable: Sampler::Create accepts them, Sample stays in range.
void Sample(const rwkv::engine::SamplingParams& params, const std::vector<int32_t>& prompt,
            int32_t vocab) {
  absl::StatusOr<rwkv::engine::Sampler> sampler = rwkv::engine::Sampler::Create(params, vocab);
  FUZZ_CHECK(sampler.ok(), sampler.status());
  std::vector<float> logits(vocab);
  for (int32_t i = 0; i < vocab; ++i) logits[i] = std::sin(0.37f * i) * 4;
  for (const int32_t token : prompt) sampler->Accept(token);
  for (int step = 0; step < 4; ++step) {
    const int32_t token = sampler->Sample(logits);
    FUZZ_CHECK(token >= 0 && token < vocab, token);
    sampler->Accept(token);
  }
}

void CheckAccepted(const rwkv::v1::GenerateRequest& request, const TurnRequest& turn,
                   const Tokenizer& tokenizer, int32_t vocab) {
  const auto& generation = turn.generation;
  FUZZ_CHECK(!generation.prompt.empty(), "empty prompt accepted");
  FUZZ_CHECK(generation.prompt.size() <= static_cast<size_t>(kLimits.max_prompt_tokens),
             generation.prompt.size());
  for (const int32_t id : generation.prompt) FUZZ_CHECK(id >= 0 && id < vocab, id);
  if (request.has_text()) {
    const absl::StatusOr<std::string> text = tokenizer.Decode(generation.prompt);
    FUZZ_CHECK(text.ok() && *text == request.text(), "the prompt does not decode to the text");
  }
  FUZZ_CHECK(generation.max_tokens >= 0 && generation.max_tokens <= kLimits.max_new_tokens,
             generation.max_tokens);
  FUZZ_CHECK(generation.stop_tokens.size() <= rwkv::server::kMaxStopTokens + 1,
             generation.stop_tokens.size());
  for (const int32_t id : generation.stop_tokens) FUZZ_CHECK(id >= 0 && id < vocab, id);
  FUZZ_CHECK(rwkv::engine::ValidateStopStrings(generation.stop_strings).ok(), "stop strings");
  FUZZ_CHECK(turn.session_id == request.session_id(), "session_id");
  CheckSampling(generation.sampling, vocab, request.sampling());
  // Sampling over World's 65536 logits would slow every run about tenfold.
  if (vocab <= rwkv::engine::ByteTokenizer::kVocabSize) {
    Sample(generation.sampling, generation.prompt, vocab);
  }
}

void ParseWith(const rwkv::v1::GenerateRequest& request, const Tokenizer& tokenizer) {
  const int32_t vocab = tokenizer.VocabSize();
  const absl::StatusOr<TurnRequest> turn =
      rwkv::server::ParseGenerateRequest(request, tokenizer, vocab, kLimits);
  if (!turn.ok()) {
    FUZZ_CHECK(turn.status().code() == absl::StatusCode::kInvalidArgument, turn.status());
    FUZZ_CHECK(!turn.status().message().empty(), "an error without a message");
    return;
  }
  CheckAccepted(request, *turn, tokenizer, vocab);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Protobuf logs every string field with invalid UTF-8 otherwise.
  google::protobuf::SetLogHandler(nullptr);
  const char* shared = std::getenv("RWKV_SHARED_DIR");
  const std::string path =
      std::string(shared != nullptr ? shared : "../shared") + "/tokenizers/rwkv_vocab_v20230424.txt";
  absl::StatusOr<std::unique_ptr<rwkv::engine::WorldTokenizer>> loaded =
      rwkv::engine::WorldTokenizer::Load(path);
  if (loaded.ok()) {
    world = loaded->release();
  } else {
    std::fprintf(stderr, "generate_request_fuzzer: byte tokenizer only (%s)\n",
                 std::string(loaded.status().message()).c_str());
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rwkv::v1::GenerateRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  static const rwkv::engine::ByteTokenizer bytes;
  ParseWith(request, bytes);
  if (world != nullptr) ParseWith(request, *world);
  return 0;
}
