// rwkv-loadgen's core: N virtual users, each on its own thread, each running M streaming Generate
// turns back to back (synchronously, so every timestamp is taken right where a token arrives).
//
//   LoadgenOptions options;
//   options.sessions = 8;
//   options.turns = 4;
//   RWKV_ASSIGN_OR_RETURN(auto client, RwkvClient::Connect(address, absl::Seconds(10)));
//   RWKV_ASSIGN_OR_RETURN(LoadgenReport report, RunLoadgen(*client, options));
//
// With sessions, user i continues session "<prefix>-<i>" (created on its first turn through
// create_session), so every turn after the first exercises state resume. Warm-up turns run first
// on every user; the measured phase starts when all users have finished warming up.
// What is measured is defined in request_timer.h; only successful requests contribute samples
// and generated tokens, failed ones are counted by status code.
#ifndef RWKV_CLIENT_LOADGEN_H_
#define RWKV_CLIENT_LOADGEN_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/latency_stats.h"
#include "client/request_timer.h"
#include "client/rwkv_client.h"
#include "rwkv/v1/rwkv.pb.h"

namespace rwkv::client {

// About 100 bytes of plain English: a realistic short chat prompt for any tokenizer.
inline constexpr absl::string_view kDefaultLoadgenPrompt =
    "The old lighthouse keeper climbed the narrow stairs every evening to light the lamp for "
    "passing ships.";

struct LoadgenOptions {
  int sessions = 1;      // concurrent virtual users, one thread each
  int turns = 1;         // measured turns per user
  int warmup_turns = 0;  // unmeasured turns per user, before the measured phase
  std::string prompt = std::string(kDefaultLoadgenPrompt);
  // > 0: send this many token IDs (CyclingPromptTokens) instead of `prompt`.
  int prompt_tokens = 0;
  int max_tokens = 64;
  float temperature = 0;
  float top_p = 1.0f;  // nucleus sampling; 1 (off) is not sent
  // Keep generating past end-of-text so every request produces exactly max_tokens tokens and
  // runs are comparable.
  bool ignore_eos = true;
  bool use_sessions = true;
  std::string session_prefix = "loadgen";
  // Otherwise the sessions are deleted once the measured phase is over.
  bool keep_sessions = false;
  absl::Duration request_timeout = absl::Minutes(5);
};

// INVALID_ARGUMENT naming the option when one is out of range.
absl::Status ValidateLoadgenOptions(const LoadgenOptions& options);

// `count` token IDs cycling through 32..126 (printable ASCII in the byte vocabulary; ordinary
// tokens in the World vocabulary).
std::vector<int32_t> CyclingPromptTokens(int count);

// "<prefix>-<user>".
std::string LoadgenSessionId(absl::string_view prefix, int user);

// The request user `user` sends on every turn.
rwkv::v1::GenerateRequest BuildLoadgenRequest(const LoadgenOptions& options, int user);

struct ErrorSummary {
  int64_t count = 0;
  std::string first_message;
};

struct LoadgenReport {
  int sessions = 0;
  int turns = 0;
  int warmup_turns = 0;
  int64_t requests_ok = 0;
  int64_t requests_failed = 0;
  int64_t warmup_failed = 0;
  double wall_s = 0;  // the measured phase only
  int64_t generated_tokens = 0;
  double throughput_tok_s = 0;  // generated_tokens / wall_s
  LatencySummary ttft;
  LatencySummary inter_token;
  LatencySummary end_to_end;
  // Failed requests (warm-up included) by status code name, e.g. "UNAVAILABLE".
  std::map<std::string, ErrorSummary> errors;
  // Sessions the clean-up could not delete, and why (the first failure).
  int64_t sessions_not_deleted = 0;
  absl::Status delete_error;

  bool AnyFailed() const { return requests_failed > 0 || warmup_failed > 0; }
};

// Accumulates request outcomes; one per thread, merged at the end (not thread-safe).
class LoadgenResults {
 public:
  void Record(const absl::Status& status, const RequestTimer& timer, bool warmup);
  void Merge(const LoadgenResults& other);
  // Fills everything but the session/turn counts and sessions_not_deleted.
  LoadgenReport ToReport(double wall_s) const;

 private:
  int64_t ok_ = 0;
  int64_t failed_ = 0;
  int64_t warmup_failed_ = 0;
  int64_t generated_tokens_ = 0;
  LatencyStats ttft_;
  LatencyStats inter_token_;
  LatencyStats end_to_end_;
  std::map<std::string, ErrorSummary> errors_;
};

// How one virtual user reaches the server: runs one streaming turn and times its tokens
// (request_timer.h's definitions). One per user, used by that user's thread only.
class LoadgenTransport {
 public:
  virtual ~LoadgenTransport() = default;
  virtual absl::Status Turn(const rwkv::v1::GenerateRequest& request, RequestTimer& timer) = 0;
};
using TransportFactory = std::function<std::unique_ptr<LoadgenTransport>(int user)>;

// gRPC Generate calls on `client`'s channel (shared by every user), each with this deadline.
TransportFactory GrpcTransports(RwkvClient& client, absl::Duration request_timeout);

// Runs the whole load test, each user on a transport of `transports`; `sessions` deletes the
// sessions afterwards (null: they are kept). Request failures are part of the report, not an
// error; the error is only for invalid options.
absl::StatusOr<LoadgenReport> RunLoadgen(const TransportFactory& transports, RwkvClient* sessions,
                                         const LoadgenOptions& options);
// Over gRPC: RunLoadgen(GrpcTransports(client, ...), &client, options).
absl::StatusOr<LoadgenReport> RunLoadgen(RwkvClient& client, const LoadgenOptions& options);

}  // namespace rwkv::client

#endif  // RWKV_CLIENT_LOADGEN_H_
