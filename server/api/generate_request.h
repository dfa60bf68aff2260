// Turning a rwkv.v1.GenerateRequest into the scheduler's terms, refusing every invalid field
// with INVALID_ARGUMENT and a message that names it.
#ifndef RWKV_SERVER_API_GENERATE_REQUEST_H_
#define RWKV_SERVER_API_GENERATE_REQUEST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/sampler/sampler.h"
#include "engine/tokenizer/tokenizer.h"
#include "rwkv/v1/rwkv.pb.h"

namespace rwkv::server {

struct ServerLimits {
  int32_t max_prompt_tokens = 65536;
  int32_t max_new_tokens = 4096;
  int32_t default_max_tokens = 256;
};

struct ParsedGenerate {
  std::vector<int32_t> prompt;
  engine::SamplingParams sampling;  // with the seed filled in (random when not given)
  int32_t max_tokens = 0;
  std::vector<int32_t> stop_tokens;  // including end-of-text unless ignored
  std::vector<std::string> stop_strings;
  bool keep_on_cancel = false;
  std::string session_id;  // empty: no session
  bool create_session = false;
  int64_t expected_version = 0;
};

absl::StatusOr<ParsedGenerate> ParseGenerateRequest(const rwkv::v1::GenerateRequest& request,
                                                    const engine::Tokenizer& tokenizer,
                                                    int32_t vocab_size,
                                                    const ServerLimits& limits);

}  // namespace rwkv::server

#endif  // RWKV_SERVER_API_GENERATE_REQUEST_H_
