// Fuzzes Sampler::Sample (engine/sampler/sampler.h) on arbitrary logits (every float bit
// pattern: NaN, infinities, denormals) and parameters. Checks that the token is in range, that
// a NaN or -inf logit is never drawn while a finite one exists, and that the whole-vocabulary
// top-p / min-p cut (no top-k) draws what the candidate list (top-k = vocabulary) draws. With a
// top-k, the heap that reads the logits in place draws what it draws on the prepared copy (a
// logit bias of 0 on token 0 forces the copy).
//
// Input (tests/fuzz/fuzz_input.h): two bytes of vocabulary size, four each of temperature,
// top_p and min_p (raw float bits; parameters the validation rejects end the run), a seed
// byte, a flags byte (bit 0: a logit bias, so the logits are copied rather than read in
// place; bits 1-7: top_k, capped at the vocabulary), then the logits, four bytes each (fewer
// than the vocabulary: the rest count as -inf).
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/sampler/sampler.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

float NextFloat(rwkv::fuzz::FuzzInput& in) {
  uint32_t bits = 0;
  for (int i = 0; i < 4; ++i) bits |= static_cast<uint32_t>(in.Byte()) << (8 * i);
  return std::bit_cast<float>(bits);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using rwkv::engine::Sampler;
  using rwkv::engine::SamplingParams;
  rwkv::fuzz::FuzzInput in(data, size);
  const int32_t vocab = 1 + (in.Byte() | in.Byte() << 8) % 1500;
  SamplingParams params;
  params.temperature = NextFloat(in);
  params.top_p = NextFloat(in);
  params.min_p = NextFloat(in);
  params.seed = in.Byte();
  const uint8_t flags = in.Byte();
  if (flags & 1) params.logit_bias = {{0, 0.5f}};
  params.top_k = std::min<int32_t>(flags >> 1, vocab);
  if (!rwkv::engine::ValidateSamplingParams(params, vocab).ok()) return 0;
  std::vector<float> logits;
  while (!in.empty() && static_cast<int32_t>(logits.size()) < vocab) {
    logits.push_back(NextFloat(in));
  }
  bool any_finite = false;
  for (int32_t id = 0; id < vocab; ++id) {
    const float logit = id < static_cast<int32_t>(logits.size()) ? logits[id] : -INFINITY;
    any_finite |= !std::isnan(logit) && logit != -INFINITY;
  }
  // The reference: without a top-k, the candidate list of the whole vocabulary; with one, the
  // same top-k on the prepared copy. A bias of 0 is the identity except on -0 (it gives +0,
  // which ranks above -0): then the two may rightly differ, and there is nothing to compare.
  SamplingParams listed = params;
  if (params.top_k == 0) {
    listed.top_k = vocab;
  } else if (listed.logit_bias.empty()) {
    if (!logits.empty() && logits[0] == 0.0f && std::signbit(logits[0])) return 0;
    listed.logit_bias = {{0, 0.0f}};
  }
  absl::StatusOr<Sampler> dense = Sampler::Create(params, vocab);
  absl::StatusOr<Sampler> reference = Sampler::Create(listed, vocab);
  FUZZ_CHECK(dense.ok() && reference.ok(), "valid parameters rejected");
  for (int draw = 0; draw < 3; ++draw) {
    const int32_t token = dense->Sample(logits);
    FUZZ_CHECK(token >= 0 && token < vocab, "token " << token << " out of [0, " << vocab << ")");
    const float logit = token < static_cast<int32_t>(logits.size()) ? logits[token] : -INFINITY;
    const bool banned = std::isnan(logit) || logit == -INFINITY;
    FUZZ_CHECK(!any_finite || !banned, "drew token " << token << " whose logit is " << logit);
    const int32_t expected = reference->Sample(logits);
    FUZZ_CHECK(token == expected, "drew " << token << ", the candidate list " << expected);
  }
  return 0;
}
