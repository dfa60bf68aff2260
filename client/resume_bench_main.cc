// rwkv-resume-bench: what a session saves. Builds a session with a long history, then compares
// resuming it (one new token on the stored state) with recomputing that history from scratch
// (a one-off request whose prompt is the whole history plus the same token).
//
//   rwkv-resume-bench --server 127.0.0.1:50051 --history-tokens 10000 --repeats 5
//
// Run it against a server started with --hot-cache-bytes 0 to measure resumes from the durable
// store instead of the in-memory cache, and against each --state-store to compare backends. A
// resumed turn generates one token, so its time from that token to the final message is the
// commit of the new state (plus one small reply): the "commit" columns.
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/channel_flags.h"
#include "client/auth_token.h"
#include "client/latency_stats.h"
#include "client/rwkv_client.h"
#include "common/command_line.h"
#include "common/status_macros.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "Server address, HOST:PORT.");
ABSL_FLAG(std::string, auth_token_file, "",
          "File holding the bearer token sent with every call; default: the RWKV_AUTH_TOKEN "
          "environment variable, else none.");
ABSL_FLAG(int32_t, history_tokens, 10000, "Tokens of history in the session.");
ABSL_FLAG(int32_t, repeats, 5, "Measurements of each kind (p50 and p99 are reported).");
ABSL_FLAG(bool, recompute, true,
          "Also time recomputing the history (slow on large models: it processes the whole "
          "history once per repeat).");

namespace rwkv::client {
namespace {

using rwkv::v1::GenerateRequest;

// Token IDs cycling over printable ASCII, valid for byte-level and World vocabularies alike.
std::vector<int32_t> History(int32_t count) {
  std::vector<int32_t> ids(count);
  for (int32_t i = 0; i < count; ++i) ids[i] = 33 + i % 94;
  return ids;
}

GenerateRequest Request(const std::vector<int32_t>& prompt, int max_tokens,
                        const std::string& session) {
  GenerateRequest request;
  request.mutable_tokens()->mutable_ids()->Add(prompt.begin(), prompt.end());
  request.mutable_sampling()->set_temperature(0.0f);
  request.mutable_stop()->set_max_tokens(max_tokens);
  request.mutable_stop()->set_ignore_end_of_text(true);
  request.set_session_id(session);
  request.set_create_session(!session.empty());
  return request;
}

struct Timing {
  double first_token_s = 0;  // from sending the request to its first generated token
  double rest_s = 0;         // from that token to the final message
};

absl::StatusOr<Timing> TimeTurn(RwkvClient& client, const GenerateRequest& request) {
  const absl::Time start = absl::Now();
  absl::Time first = absl::InfiniteFuture();
  RWKV_RETURN_IF_ERROR(client.Generate(
      request,
      [&](const rwkv::v1::GenerateResponse::Delta& delta) {
        if (first == absl::InfiniteFuture() && delta.token_ids_size() > 0) first = absl::Now();
      },
      nullptr));
  return Timing{absl::ToDoubleSeconds(first - start), absl::ToDoubleSeconds(absl::Now() - first)};
}

std::string Ms(double seconds) { return absl::StrFormat("%.2f ms", seconds * 1000); }

absl::Status Run() {
  RWKV_ASSIGN_OR_RETURN(auto client, RwkvClient::Connect(absl::GetFlag(FLAGS_server),
                                                         absl::Seconds(10),
                                                         ChannelOptionsFromFlags()));
  RWKV_ASSIGN_OR_RETURN(const std::string token,
                        LoadAuthToken(absl::GetFlag(FLAGS_auth_token_file)));
  client->SetAuthToken(token);
  const int32_t history_tokens = absl::GetFlag(FLAGS_history_tokens);
  const int repeats = std::max(1, absl::GetFlag(FLAGS_repeats));
  const std::vector<int32_t> history = History(history_tokens);
  const std::vector<int32_t> next = {33 + history_tokens % 94};
  const std::string session =
      absl::StrCat("resume-bench-", absl::Hex(absl::Uniform<uint32_t>(absl::BitGen())));

  const absl::Time start = absl::Now();
  RWKV_RETURN_IF_ERROR(client->Generate(Request(history, 0, session), nullptr, nullptr));
  const double build_s = absl::ToDoubleSeconds(absl::Now() - start);

  LatencyStats resume, commit, recompute;
  std::vector<int32_t> whole = history;
  whole.insert(whole.end(), next.begin(), next.end());
  const bool recomputes = absl::GetFlag(FLAGS_recompute);
  for (int i = 0; i < repeats; ++i) {
    RWKV_ASSIGN_OR_RETURN(Timing resumed, TimeTurn(*client, Request(next, 1, session)));
    resume.Add(resumed.first_token_s);
    commit.Add(resumed.rest_s);
    if (!recomputes) continue;
    RWKV_ASSIGN_OR_RETURN(Timing computed, TimeTurn(*client, Request(whole, 1, "")));
    recompute.Add(computed.first_token_s);
  }
  RWKV_RETURN_IF_ERROR(client->DeleteSession(session));
  const LatencySummary r = resume.Summarize(), c = commit.Summarize();
  std::cout << "| history tokens | build session | resume TTFT p50 | p99 | commit p50 | p99 |"
            << (recomputes ? " recompute TTFT p50 | speed-up |" : "") << "\n|---|---|---|---|---|---|"
            << (recomputes ? "---|---|" : "") << "\n"
            << absl::StrFormat("| %d | %.0f ms | %s | %s | %s | %s |", history_tokens,
                               build_s * 1000, Ms(r.p50), Ms(r.p99), Ms(c.p50), Ms(c.p99));
  if (recomputes) {
    const double recompute_s = recompute.Summarize().p50;
    std::cout << absl::StrFormat(" %.0f ms | %.0fx |", recompute_s * 1000, recompute_s / r.p50);
  }
  std::cout << "\n";
  return absl::OkStatus();
}

}  // namespace
}  // namespace rwkv::client

int main(int argc, char** argv) {
  rwkv::ParseCommandLine(argc, argv,
                         "Compares resuming a long session with recomputing its history.\n"
                         "  rwkv-resume-bench [--server HOST:PORT] [--history-tokens N]");
  if (absl::Status status = rwkv::client::Run(); !status.ok()) {
    std::cerr << "rwkv-resume-bench: " << status << "\n";
    return 1;
  }
  return 0;
}
