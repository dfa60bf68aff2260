#include "tests/soak/soak_calls.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace rwkv::soak {
namespace {

using rwkv::v1::GenerateRequest;

// A greedy request over token IDs that generates exactly `max_tokens` (end-of-text ignored, no
// stop strings or tokens).
GenerateRequest GreedyRequest(const std::vector<int32_t>& prompt, int32_t max_tokens) {
  GenerateRequest request;
  request.mutable_tokens()->mutable_ids()->Assign(prompt.begin(), prompt.end());
  request.mutable_sampling()->set_temperature(0.0f);
  request.mutable_stop()->set_max_tokens(max_tokens);
  request.mutable_stop()->set_ignore_end_of_text(true);
  return request;
}

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + std::min(timeout, kCallLimit)));
}

}  // namespace

TurnOutcome RunTurn(client::RwkvClient& client, TrackedSession& session, const TurnPlan& plan,
                    const Interruption& interruption) {
  GenerateRequest request = GreedyRequest(plan.prompt, plan.max_tokens);
  request.set_session_id(session.id());
  // Version 0 means "any" to the server, so a new session's first turn cannot check it.
  request.set_expected_version(session.version());
  request.set_create_session(session.version() == 0);
  request.set_on_cancel(plan.keep_on_cancel ? rwkv::v1::CANCEL_POLICY_KEEP
                                            : rwkv::v1::CANCEL_POLICY_DISCARD);
  session.BeginTurn(plan);

  grpc::ClientContext context;
  SetDeadline(context, interruption.deadline);
  int32_t received = 0;
  bool cancelled = false;
  TurnOutcome outcome;
  outcome.status = client.Generate(
      request,
      [&](const rwkv::v1::GenerateResponse::Delta& delta) {
        session.OnTokens(delta.token_ids());
        outcome.tokens.insert(outcome.tokens.end(), delta.token_ids().begin(),
                              delta.token_ids().end());
        received += delta.token_ids_size();
        if (!cancelled && interruption.cancel_after_tokens > 0 &&
            received >= interruption.cancel_after_tokens) {
          cancelled = true;
          context.TryCancel();
        }
      },
      &outcome.done, &context);
  // The Done of a session turn always carries the session.
  outcome.got_done = outcome.done.has_session();
  return outcome;
}

absl::StatusOr<std::vector<int32_t>> StatelessGreedy(client::RwkvClient& client,
                                                     const std::vector<int32_t>& context_tokens,
                                                     int32_t count) {
  std::vector<int32_t> tokens;
  grpc::ClientContext context;
  SetDeadline(context, kCallLimit);
  absl::Status status = client.Generate(
      GreedyRequest(context_tokens, count),
      [&](const rwkv::v1::GenerateResponse::Delta& delta) {
        tokens.insert(tokens.end(), delta.token_ids().begin(), delta.token_ids().end());
      },
      nullptr, &context);
  if (!status.ok()) return status;
  return tokens;
}

absl::StatusOr<StoredSession> ReadStored(client::RwkvClient& client, const std::string& id) {
  absl::StatusOr<rwkv::v1::Session> session = client.GetSession(id);
  if (absl::IsNotFound(session.status())) return StoredSession{};
  if (!session.ok()) return session.status();
  return StoredSession{session->version(), session->token_count()};
}

absl::StatusOr<StoredSession> Settle(client::RwkvClient& client, const std::string& id,
                                     const std::string& probe_id) {
  const absl::Time give_up = absl::Now() + kCallLimit;
  for (;;) {
    rwkv::v1::ForkSessionRequest request;
    request.set_source_session_id(id);
    request.set_new_session_id(probe_id);
    absl::StatusOr<rwkv::v1::Session> fork = client.ForkSession(request);
    if (absl::IsNotFound(fork.status())) return StoredSession{};
    if (fork.ok()) {
      // Best effort: a probe left behind by a kill is only an extra session in the store.
      client.DeleteSession(probe_id).IgnoreError();
      return StoredSession{fork->version(), fork->token_count()};
    }
    if (!absl::IsAborted(fork.status()) || absl::Now() > give_up) return fork.status();
    absl::SleepFor(absl::Milliseconds(5));
  }
}

}  // namespace rwkv::soak
