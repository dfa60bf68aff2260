#include "server/api/generate_request.h"

#include <algorithm>
#include <optional>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/sampler/stop_matcher.h"
#include "server/api/session_proto.h"
#include "server/sessions/session_id.h"

namespace rwkv::server {
namespace {

absl::Status CheckTokenIds(const google::protobuf::RepeatedField<int32_t>& ids,
                           absl::string_view field, int32_t vocab_size) {
  for (int i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, "[", i, "] = ", ids[i], " is outside the vocabulary [0, ", vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> Prompt(const rwkv::v1::GenerateRequest& request,
                                            const engine::Tokenizer& tokenizer, int32_t vocab_size,
                                            const ServerLimits& limits) {
  std::vector<int32_t> prompt;
  switch (request.prompt_case()) {
    case rwkv::v1::GenerateRequest::kText: {
      if (request.text().empty()) return absl::InvalidArgumentError("text (the prompt) is empty");
      // Before tokenizing: encoding is linear in the text, on the gRPC thread.
      RWKV_RETURN_IF_ERROR(CheckAtMost("text (the prompt)", "bytes", request.text().size(),
                                       kMaxTextBytes, " (send longer prompts as tokens)"));
      RWKV_ASSIGN_OR_RETURN(prompt, tokenizer.Encode(request.text()));
      RWKV_RETURN_IF_ERROR(CheckAtMost("text (the prompt)", "tokens", prompt.size(),
                                       limits.max_prompt_tokens, " (--max-prompt-tokens)"));
      break;
    }
    case rwkv::v1::GenerateRequest::kTokens:
      if (request.tokens().ids().empty()) {
        return absl::InvalidArgumentError("tokens.ids (the prompt) is empty");
      }
      RWKV_RETURN_IF_ERROR(CheckAtMost("tokens.ids", "tokens", request.tokens().ids_size(),
                                       limits.max_prompt_tokens, " (--max-prompt-tokens)"));
      RWKV_RETURN_IF_ERROR(CheckTokenIds(request.tokens().ids(), "tokens.ids", vocab_size));
      prompt.assign(request.tokens().ids().begin(), request.tokens().ids().end());
      break;
    case rwkv::v1::GenerateRequest::PROMPT_NOT_SET:
      return absl::InvalidArgumentError("a prompt is required: set text or tokens");
  }
  return prompt;
}

absl::StatusOr<engine::SamplingParams> Sampling(const rwkv::v1::SamplingOptions& options,
                                                int32_t vocab_size) {
  engine::SamplingParams params;
  if (options.has_temperature()) params.temperature = options.temperature();
  params.top_k = options.top_k();
  if (options.has_top_p()) params.top_p = options.top_p();
  params.min_p = options.min_p();
  params.presence_penalty = options.presence_penalty();
  params.frequency_penalty = options.frequency_penalty();
  if (options.has_repetition_penalty()) params.repetition_penalty = options.repetition_penalty();
  params.penalty_window = options.penalty_window();
  RWKV_RETURN_IF_ERROR(CheckAtMost("sampling.logit_bias", "entries", options.logit_bias_size(),
                                   kMaxLogitBiasEntries));
  for (const auto& [token, bias] : options.logit_bias())
    params.logit_bias.emplace_back(token, bias);
  std::sort(params.logit_bias.begin(), params.logit_bias.end());
  params.seed = options.has_seed() ? options.seed() : absl::Uniform<uint64_t>(absl::BitGen());
  if (absl::Status status = engine::ValidateSamplingParams(params, vocab_size); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("sampling.", status.message()));
  }
  return params;
}

absl::Status Stops(const rwkv::v1::StopOptions& options, const engine::Tokenizer& tokenizer,
                   int32_t vocab_size, const ServerLimits& limits, GenerationRequest& out) {
  out.max_tokens = options.has_max_tokens()
                       ? options.max_tokens()
                       : std::min(limits.default_max_tokens, limits.max_new_tokens);
  if (out.max_tokens < 0 || out.max_tokens > limits.max_new_tokens) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stop.max_tokens must be in [0, ", limits.max_new_tokens, "], got ", out.max_tokens));
  }
  RWKV_RETURN_IF_ERROR(CheckAtMost("stop.stop_strings", "entries", options.stop_strings_size(),
                                   engine::kMaxStopStrings));
  out.stop_strings.assign(options.stop_strings().begin(), options.stop_strings().end());
  if (absl::Status status = engine::ValidateStopStrings(out.stop_strings); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("stop.", status.message()));
  }
  RWKV_RETURN_IF_ERROR(
      CheckAtMost("stop.stop_tokens", "entries", options.stop_tokens_size(), kMaxStopTokens));
  RWKV_RETURN_IF_ERROR(CheckTokenIds(options.stop_tokens(), "stop.stop_tokens", vocab_size));
  out.stop_tokens.assign(options.stop_tokens().begin(), options.stop_tokens().end());
  if (!options.ignore_end_of_text()) {
    if (std::optional<int32_t> end = tokenizer.EndOfTextToken()) out.stop_tokens.push_back(*end);
  }
  return absl::OkStatus();
}

absl::Status CheckTurnId(absl::string_view turn_id) {
  if (!turn_id.empty() && static_cast<int64_t>(turn_id.size()) <= kMaxTurnIdChars &&
      turn_id.find_first_not_of(kTurnIdChars) == absl::string_view::npos) {
    return absl::OkStatus();
  }
  // Quoted truncated and escaped: the ID is the client's, of any size.
  return absl::InvalidArgumentError(absl::StrCat(
      "turn_id must be 1 to ", kMaxTurnIdChars, " characters from [A-Za-z0-9._:-]; got \"",
      absl::CHexEscape(turn_id.substr(0, kMaxTurnIdChars + 1)), "\""));
}

absl::Status Session(const rwkv::v1::GenerateRequest& request, TurnRequest& out) {
  out.session_id = request.session_id();
  out.create_session = request.create_session();
  out.expected_version = request.expected_version();
  if (out.session_id.empty()) {
    if (out.create_session || out.expected_version != 0 || !request.turn_id().empty()) {
      return absl::InvalidArgumentError(
          "create_session, expected_version and turn_id need a session_id");
    }
    return absl::OkStatus();
  }
  if (!request.turn_id().empty()) {
    RWKV_RETURN_IF_ERROR(CheckTurnId(request.turn_id()));
    out.turn_id = request.turn_id();
  }
  RWKV_RETURN_IF_ERROR(ValidateSessionId(out.session_id));
  if (out.expected_version < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected_version must be >= 0, got ", out.expected_version));
  }
  return absl::OkStatus();
}

rwkv::v1::FinishReason ToProto(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return rwkv::v1::FINISH_REASON_STOP;
    case FinishReason::kLength:
      return rwkv::v1::FINISH_REASON_LENGTH;
    case FinishReason::kNone:
      break;
  }
  return rwkv::v1::FINISH_REASON_UNSPECIFIED;
}

absl::StatusOr<bool> KeepOnCancel(rwkv::v1::CancelPolicy policy) {
  switch (policy) {
    case rwkv::v1::CANCEL_POLICY_DISCARD:
      return false;
    case rwkv::v1::CANCEL_POLICY_KEEP:
      return true;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("on_cancel has unknown value ", static_cast<int>(policy)));
  }
}

}  // namespace

absl::StatusOr<TurnRequest> ParseGenerateRequest(const rwkv::v1::GenerateRequest& request,
                                                 const engine::Tokenizer& tokenizer,
                                                 int32_t vocab_size, const ServerLimits& limits) {
  TurnRequest out;
  RWKV_RETURN_IF_ERROR(Session(request, out));
  GenerationRequest& generation = out.generation;
  RWKV_ASSIGN_OR_RETURN(generation.prompt, Prompt(request, tokenizer, vocab_size, limits));
  RWKV_ASSIGN_OR_RETURN(generation.sampling, Sampling(request.sampling(), vocab_size));
  RWKV_RETURN_IF_ERROR(Stops(request.stop(), tokenizer, vocab_size, limits, generation));
  RWKV_ASSIGN_OR_RETURN(generation.keep_on_cancel, KeepOnCancel(request.on_cancel()));
  return out;
}

rwkv::v1::GenerateResponse DoneResponse(const TurnResult& result) {
  rwkv::v1::GenerateResponse response;
  auto* done = response.mutable_done();
  done->set_finish_reason(ToProto(result.finish_reason));
  done->set_matched_stop(result.matched_stop);
  done->mutable_usage()->set_prompt_tokens(result.prompt_tokens);
  done->mutable_usage()->set_generated_tokens(result.generated_tokens);
  done->mutable_usage()->set_session_tokens(result.session_tokens);
  auto* timings = done->mutable_timings();
  timings->set_time_to_first_token_s(absl::ToDoubleSeconds(result.timings.time_to_first_token));
  timings->set_queue_s(absl::ToDoubleSeconds(result.timings.queue));
  timings->set_prefill_s(absl::ToDoubleSeconds(result.timings.prefill));
  timings->set_total_s(absl::ToDoubleSeconds(result.timings.total));
  if (result.session.has_value()) *done->mutable_session() = ToProto(*result.session);
  done->set_seed(result.seed);
  return response;
}

}  // namespace rwkv::server
