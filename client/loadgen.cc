#include "client/loadgen.h"

#include <algorithm>
#include <barrier>
#include <memory>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace rwkv::client {
namespace {

using Clock = RequestTimer::Clock;

// Mirrors the Session.id rule in rwkv.proto, so a bad prefix fails before any request is sent.
absl::Status ValidateSessionPrefix(absl::string_view prefix) {
  if (prefix.empty() || prefix.size() > 100) {
    return absl::InvalidArgumentError("--session-prefix must be 1 to 100 characters");
  }
  if (prefix.front() == '.') {
    return absl::InvalidArgumentError("--session-prefix must not start with '.'");
  }
  for (char c : prefix) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '_' && c != ':' && c != '-') {
      return absl::InvalidArgumentError("--session-prefix may only use [A-Za-z0-9._:-]");
    }
  }
  return absl::OkStatus();
}

// gRPC: a streaming Generate on the shared channel.
class GrpcTransport final : public LoadgenTransport {
 public:
  GrpcTransport(RwkvClient& client, absl::Duration timeout) : client_(client), timeout_(timeout) {}

  absl::Status Turn(const rwkv::v1::GenerateRequest& request, RequestTimer& timer) override {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
    rwkv::v1::GenerateResponse::Done done;
    return client_.Generate(
        request,
        [&timer](const rwkv::v1::GenerateResponse::Delta& delta) {
          timer.OnTokens(Clock::now(), delta.token_ids_size());
        },
        &done, &context);
  }

 private:
  RwkvClient& client_;
  const absl::Duration timeout_;
};

// Runs one user's turns: warm-up ones first, then `barrier`, then the measured ones.
class VirtualUser {
 public:
  VirtualUser(std::unique_ptr<LoadgenTransport> transport, const LoadgenOptions& options,
              int user)
      : transport_(std::move(transport)),
        options_(options),
        request_(BuildLoadgenRequest(options, user)) {}

  template <typename Barrier>
  void Run(Barrier& barrier) {
    for (int turn = 0; turn < options_.warmup_turns; ++turn) Turn(/*warmup=*/true);
    barrier.arrive_and_wait();
    for (int turn = 0; turn < options_.turns; ++turn) Turn(/*warmup=*/false);
  }

  const LoadgenResults& results() const { return results_; }

 private:
  void Turn(bool warmup) {
    RequestTimer timer(Clock::now());
    const absl::Status status = transport_->Turn(request_, timer);
    timer.OnEnd(Clock::now());
    results_.Record(status, timer, warmup);
  }

  const std::unique_ptr<LoadgenTransport> transport_;
  const LoadgenOptions& options_;
  const rwkv::v1::GenerateRequest request_;
  LoadgenResults results_;
};

}  // namespace

absl::Status ValidateLoadgenOptions(const LoadgenOptions& options) {
  if (options.sessions < 1) return absl::InvalidArgumentError("--sessions must be >= 1");
  if (options.turns < 1) return absl::InvalidArgumentError("--turns must be >= 1");
  if (options.warmup_turns < 0) return absl::InvalidArgumentError("--warmup-turns must be >= 0");
  if (options.max_tokens < 0) return absl::InvalidArgumentError("--max-tokens must be >= 0");
  if (options.prompt_tokens < 0) {
    return absl::InvalidArgumentError("--prompt-tokens must be >= 0");
  }
  if (!(options.top_p > 0.0f && options.top_p <= 1.0f)) {
    return absl::InvalidArgumentError("--top-p must be in (0, 1]");
  }
  if (options.prompt_tokens == 0 && options.prompt.empty()) {
    return absl::InvalidArgumentError("--prompt must not be empty");
  }
  if (options.request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--request-timeout must be positive");
  }
  if (options.use_sessions) return ValidateSessionPrefix(options.session_prefix);
  return absl::OkStatus();
}

std::vector<int32_t> CyclingPromptTokens(int count) {
  constexpr int32_t kFirst = 32;
  constexpr int32_t kLast = 126;
  std::vector<int32_t> ids;
  ids.reserve(static_cast<size_t>(std::max(count, 0)));
  for (int i = 0; i < count; ++i) ids.push_back(kFirst + i % (kLast - kFirst + 1));
  return ids;
}

std::string LoadgenSessionId(absl::string_view prefix, int user) {
  return absl::StrCat(prefix, "-", user);
}

rwkv::v1::GenerateRequest BuildLoadgenRequest(const LoadgenOptions& options, int user) {
  rwkv::v1::GenerateRequest request;
  if (options.prompt_tokens > 0) {
    for (int32_t id : CyclingPromptTokens(options.prompt_tokens)) {
      request.mutable_tokens()->add_ids(id);
    }
  } else {
    request.set_text(options.prompt);
  }
  if (options.use_sessions) {
    request.set_session_id(LoadgenSessionId(options.session_prefix, user));
    request.set_create_session(true);
  }
  request.mutable_sampling()->set_temperature(options.temperature);
  if (options.top_p < 1.0f) request.mutable_sampling()->set_top_p(options.top_p);
  request.mutable_stop()->set_max_tokens(options.max_tokens);
  request.mutable_stop()->set_ignore_end_of_text(options.ignore_eos);
  return request;
}

void LoadgenResults::Record(const absl::Status& status, const RequestTimer& timer, bool warmup) {
  if (!status.ok()) {
    ++(warmup ? warmup_failed_ : failed_);
    ErrorSummary& error = errors_[absl::StatusCodeToString(status.code())];
    if (error.count++ == 0) error.first_message = std::string(status.message());
    return;
  }
  if (warmup) return;
  ++ok_;
  generated_tokens_ += timer.tokens();
  if (timer.tokens() > 0) ttft_.Add(timer.ttft_s());
  for (double gap : timer.inter_token_s()) inter_token_.Add(gap);
  end_to_end_.Add(timer.end_to_end_s());
}

void LoadgenResults::Merge(const LoadgenResults& other) {
  ok_ += other.ok_;
  failed_ += other.failed_;
  warmup_failed_ += other.warmup_failed_;
  generated_tokens_ += other.generated_tokens_;
  ttft_.Merge(other.ttft_);
  inter_token_.Merge(other.inter_token_);
  end_to_end_.Merge(other.end_to_end_);
  for (const auto& [code, error] : other.errors_) {
    ErrorSummary& mine = errors_[code];
    if (mine.count == 0) mine.first_message = error.first_message;
    mine.count += error.count;
  }
}

LoadgenReport LoadgenResults::ToReport(double wall_s) const {
  LoadgenReport report;
  report.requests_ok = ok_;
  report.requests_failed = failed_;
  report.warmup_failed = warmup_failed_;
  report.wall_s = wall_s;
  report.generated_tokens = generated_tokens_;
  report.throughput_tok_s = wall_s > 0 ? static_cast<double>(generated_tokens_) / wall_s : 0;
  report.ttft = ttft_.Summarize();
  report.inter_token = inter_token_.Summarize();
  report.end_to_end = end_to_end_.Summarize();
  report.errors = errors_;
  return report;
}

TransportFactory GrpcTransports(RwkvClient& client, absl::Duration request_timeout) {
  return [&client, request_timeout](int /*user*/) {
    return std::make_unique<GrpcTransport>(client, request_timeout);
  };
}

absl::StatusOr<LoadgenReport> RunLoadgen(RwkvClient& client, const LoadgenOptions& options) {
  return RunLoadgen(GrpcTransports(client, options.request_timeout), &client, options);
}

absl::StatusOr<LoadgenReport> RunLoadgen(const TransportFactory& transports, RwkvClient* sessions,
                                         const LoadgenOptions& options) {
  if (absl::Status status = ValidateLoadgenOptions(options); !status.ok()) return status;
  std::vector<std::unique_ptr<VirtualUser>> users;
  for (int i = 0; i < options.sessions; ++i) {
    users.push_back(std::make_unique<VirtualUser>(transports(i), options, i));
  }
  // The completion step runs once, when the last user finishes warming up.
  Clock::time_point measured_start;
  std::barrier barrier(options.sessions,
                       [&measured_start]() noexcept { measured_start = Clock::now(); });
  std::vector<std::thread> threads;
  for (auto& user : users) {
    threads.emplace_back([&user, &barrier] { user->Run(barrier); });
  }
  for (std::thread& thread : threads) thread.join();
  const double wall_s = std::chrono::duration<double>(Clock::now() - measured_start).count();

  LoadgenResults total;
  for (const auto& user : users) total.Merge(user->results());
  LoadgenReport report = total.ToReport(wall_s);
  report.sessions = options.sessions;
  report.turns = options.turns;
  report.warmup_turns = options.warmup_turns;
  if (sessions != nullptr && options.use_sessions && !options.keep_sessions) {
    for (int i = 0; i < options.sessions; ++i) {
      const absl::Status deleted =
          sessions->DeleteSession(LoadgenSessionId(options.session_prefix, i));
      // NOT_FOUND: the user's first turn failed, so there is nothing to clean up.
      if (!deleted.ok() && !absl::IsNotFound(deleted)) {
        if (report.sessions_not_deleted++ == 0) report.delete_error = deleted;
      }
    }
  }
  return report;
}

}  // namespace rwkv::client
