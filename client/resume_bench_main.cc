// rwkv-resume-bench: what a session saves. Builds a session with a long history, then compares
// resuming it (one new token on the stored state) with recomputing that history from scratch
// (a one-off request whose prompt is the whole history plus the same token).
//
//   rwkv-resume-bench --server 127.0.0.1:50051 --history-tokens 10000 --repeats 5
//
// Run it against a server started with --hot-cache-bytes 0 to measure resumes from the durable
// store instead of the in-memory cache.
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/rwkv_client.h"
#include "common/command_line.h"
#include "common/status_macros.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "Server address, HOST:PORT.");
ABSL_FLAG(int32_t, history_tokens, 10000, "Tokens of history in the session.");
ABSL_FLAG(int32_t, repeats, 5, "Measurements of each kind (the median is reported).");

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

// Seconds from sending `request` to its first generated token.
absl::StatusOr<double> TimeToFirstToken(RwkvClient& client, const GenerateRequest& request) {
  const absl::Time start = absl::Now();
  absl::Time first = absl::InfiniteFuture();
  RWKV_RETURN_IF_ERROR(client.Generate(
      request,
      [&](const rwkv::v1::GenerateResponse::Delta& delta) {
        if (first == absl::InfiniteFuture() && delta.token_ids_size() > 0) first = absl::Now();
      },
      nullptr));
  return absl::ToDoubleSeconds(first - start);
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

absl::Status Run() {
  RWKV_ASSIGN_OR_RETURN(auto client, RwkvClient::Connect(absl::GetFlag(FLAGS_server),
                                                         absl::Seconds(10)));
  const int32_t history_tokens = absl::GetFlag(FLAGS_history_tokens);
  const int repeats = std::max(1, absl::GetFlag(FLAGS_repeats));
  const std::vector<int32_t> history = History(history_tokens);
  const std::vector<int32_t> next = {33 + history_tokens % 94};
  const std::string session =
      absl::StrCat("resume-bench-", absl::Hex(absl::Uniform<uint32_t>(absl::BitGen())));

  const absl::Time start = absl::Now();
  RWKV_RETURN_IF_ERROR(client->Generate(Request(history, 0, session), nullptr, nullptr));
  const double build_s = absl::ToDoubleSeconds(absl::Now() - start);

  std::vector<double> resume, recompute;
  std::vector<int32_t> whole = history;
  whole.insert(whole.end(), next.begin(), next.end());
  for (int i = 0; i < repeats; ++i) {
    RWKV_ASSIGN_OR_RETURN(double r, TimeToFirstToken(*client, Request(next, 1, session)));
    resume.push_back(r);
    RWKV_ASSIGN_OR_RETURN(double c, TimeToFirstToken(*client, Request(whole, 1, "")));
    recompute.push_back(c);
  }
  RWKV_RETURN_IF_ERROR(client->DeleteSession(session));
  const double resume_ms = Median(resume) * 1000, recompute_ms = Median(recompute) * 1000;
  std::cout << absl::StrFormat(
      "| history tokens | build session | resume (TTFT) | recompute (TTFT) | speed-up |\n"
      "|---|---|---|---|---|\n| %d | %.0f ms | %.2f ms | %.0f ms | %.0fx |\n",
      history_tokens, build_s * 1000, resume_ms, recompute_ms, recompute_ms / resume_ms);
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
