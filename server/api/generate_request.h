// The gRPC Generate call in the turn runner's terms, both ways: a rwkv.v1.GenerateRequest
// becomes a TurnRequest (the scheduler's GenerationRequest plus the session fields), and the
// TurnResult becomes the final GenerateResponse (Done).
//
//   RWKV_ASSIGN_OR_RETURN(TurnRequest turn, ParseGenerateRequest(request, tokenizer, vocab,
//                                                                limits));
//   ...
//   writer.Write(DoneResponse(result));
//
// Parsing refuses every invalid field with INVALID_ARGUMENT and a message that names it (every
// repeated or open-ended one past its limit in request_limits.h, before copying it). It is
// the one place a Generate call is validated: the TurnRunner takes the result as it is.
// Scheduler::Submit (sampling, prompt, state size) and SessionManager::BeginTurn (the ID) check
// again only because each is an entry point of its own, with other callers.
#ifndef RWKV_SERVER_API_GENERATE_REQUEST_H_
#define RWKV_SERVER_API_GENERATE_REQUEST_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "engine/tokenizer/tokenizer.h"
#include "rwkv/v1/rwkv.pb.h"
#include "server/api/request_limits.h"
#include "server/turns/turn_request.h"
#include "server/turns/turn_sink.h"

namespace rwkv::server {

// The result's `generation` has the prompt, the sampling options with the seed filled in (random
// when not given), max_tokens, the stop tokens (end-of-text included unless ignored) and strings,
// and keep_on_cancel; its state, `received` and `deadline` are left for the caller.
absl::StatusOr<TurnRequest> ParseGenerateRequest(const rwkv::v1::GenerateRequest& request,
                                                 const engine::Tokenizer& tokenizer,
                                                 int32_t vocab_size, const ServerLimits& limits);

// The last message of a successful turn: finish reason, usage, timings, the session, the seed.
rwkv::v1::GenerateResponse DoneResponse(const TurnResult& result);

}  // namespace rwkv::server

#endif  // RWKV_SERVER_API_GENERATE_REQUEST_H_
