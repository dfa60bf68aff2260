// rwkv-loadgen: drives an rwkv-serve server with N concurrent streaming users and reports
// throughput and latency percentiles (see loadgen.h for what is measured).
//
//   rwkv-loadgen --server 127.0.0.1:50051 --sessions 16 --turns 4 --max-tokens 64 --json out.json
//
// Exit status: 0 when every request succeeded, 1 when any failed (after printing the table) or
// on an error before the run, 2 for a usage error.
#include <fstream>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/channel_flags.h"
#include "client/auth_token.h"
#include "client/loadgen.h"
#include "client/loadgen_report.h"
#include "client/openai_http_transport.h"
#include "client/rwkv_client.h"
#include "common/command_line.h"
#include "common/status_macros.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "Server address, HOST:PORT.");
ABSL_FLAG(int32_t, sessions, 1, "Concurrent virtual users (one thread and one session each).");
ABSL_FLAG(int32_t, turns, 1, "Measured Generate turns per user.");
ABSL_FLAG(int32_t, warmup_turns, 0,
          "Unmeasured turns per user, run by all users before the measured phase starts.");
ABSL_FLAG(std::string, prompt, std::string(rwkv::client::kDefaultLoadgenPrompt),
          "Prompt text sent on every turn.");
ABSL_FLAG(int32_t, prompt_tokens, 0,
          "If > 0, send this many token IDs (cycling 32..126) instead of --prompt.");
ABSL_FLAG(int32_t, max_tokens, 64, "Tokens to generate per request.");
ABSL_FLAG(float, temperature, 0.0f, "Sampling temperature; 0 = greedy.");
ABSL_FLAG(float, top_p, 1.0f, "Nucleus sampling: keep the most likely tokens up to this mass; 1 = off.");
ABSL_FLAG(bool, ignore_eos, true,
          "Generate past end-of-text, so that every request yields exactly --max-tokens tokens.");
ABSL_FLAG(std::string, session_prefix, "",
          "User i continues session PREFIX-i. Default: loadgen-<random>, fresh sessions per run.");
ABSL_FLAG(bool, no_sessions, false, "One-off generations without sessions.");
ABSL_FLAG(bool, keep_sessions, false, "Keep the sessions after the run (default: delete them).");
ABSL_FLAG(std::string, http, "",
          "Run the turns over the OpenAI-compatible HTTP API at this address instead of gRPC: "
          "HOST:PORT (http://) or a URL; with --tls-ca-file, https:// trusting that CA. "
          "Sessions are still deleted over gRPC (--server) unless --keep-sessions.");
ABSL_FLAG(std::string, json, "", "Also write the report as JSON to this file.");
ABSL_FLAG(std::string, auth_token_file, "",
          "File holding the bearer token sent with every call; default: the RWKV_AUTH_TOKEN "
          "environment variable, else none.");
ABSL_FLAG(absl::Duration, connect_timeout, absl::Seconds(10), "How long to wait to connect.");
ABSL_FLAG(absl::Duration, request_timeout, absl::Minutes(5), "Deadline of each request.");

namespace rwkv::client {
namespace {

LoadgenOptions OptionsFromFlags() {
  LoadgenOptions options;
  options.sessions = absl::GetFlag(FLAGS_sessions);
  options.turns = absl::GetFlag(FLAGS_turns);
  options.warmup_turns = absl::GetFlag(FLAGS_warmup_turns);
  options.prompt = absl::GetFlag(FLAGS_prompt);
  options.prompt_tokens = absl::GetFlag(FLAGS_prompt_tokens);
  options.max_tokens = absl::GetFlag(FLAGS_max_tokens);
  options.temperature = absl::GetFlag(FLAGS_temperature);
  options.top_p = absl::GetFlag(FLAGS_top_p);
  options.ignore_eos = absl::GetFlag(FLAGS_ignore_eos);
  options.use_sessions = !absl::GetFlag(FLAGS_no_sessions);
  options.keep_sessions = absl::GetFlag(FLAGS_keep_sessions);
  options.session_prefix = absl::GetFlag(FLAGS_session_prefix);
  if (options.session_prefix.empty()) {
    // A fresh prefix per run, so that no run continues the sessions of an earlier one.
    absl::BitGen random;
    options.session_prefix = absl::StrFormat("loadgen-%08x", absl::Uniform<uint32_t>(random));
  }
  options.request_timeout = absl::GetFlag(FLAGS_request_timeout);
  return options;
}

// --http as a base URL: HOST:PORT gets a scheme (https with a CA file).
std::string HttpBaseUrl(const std::string& address, const ChannelOptions& channel) {
  if (absl::StrContains(address, "://")) return address;
  return absl::StrCat(channel.tls_ca_file.empty() ? "http://" : "https://", address);
}

// Returns whether every request succeeded.
absl::StatusOr<bool> Run(const LoadgenOptions& options) {
  const std::string server = absl::GetFlag(FLAGS_server);
  const std::string http = absl::GetFlag(FLAGS_http);
  const ChannelOptions channel = ChannelOptionsFromFlags();
  RWKV_ASSIGN_OR_RETURN(const std::string token,
                        LoadAuthToken(absl::GetFlag(FLAGS_auth_token_file)));
  // gRPC runs the turns, or (over HTTP) deletes the sessions afterwards.
  std::unique_ptr<RwkvClient> client;
  if (http.empty() || (options.use_sessions && !options.keep_sessions)) {
    RWKV_ASSIGN_OR_RETURN(client,
                          RwkvClient::Connect(server, absl::GetFlag(FLAGS_connect_timeout), channel));
    client->SetAuthToken(token);
  }
  const std::string target = http.empty() ? server : HttpBaseUrl(http, channel);
  std::cerr << absl::StrFormat("rwkv-loadgen: %d users x %d turns (+%d warm-up) on %s...\n",
                               options.sessions, options.turns, options.warmup_turns, target);
  const TransportFactory transports =
      http.empty() ? GrpcTransports(*client, options.request_timeout)
                   : OpenAiHttpTransports(target, token, channel.tls_ca_file,
                                          options.request_timeout);
  RWKV_ASSIGN_OR_RETURN(LoadgenReport report, RunLoadgen(transports, client.get(), options));
  std::cout << FormatLoadgenTable(report, options, target) << std::flush;
  if (report.sessions_not_deleted > 0) {
    std::cerr << "rwkv-loadgen: warning: " << report.sessions_not_deleted
              << " sessions could not be deleted, e.g.: "
              << absl::StatusCodeToString(report.delete_error.code()) << ": "
              << report.delete_error.message() << "\n";
  }
  const std::string json_path = absl::GetFlag(FLAGS_json);
  if (!json_path.empty()) {
    std::ofstream out(json_path, std::ios::trunc);
    out << FormatLoadgenJson(report, options, target);
    out.close();
    if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write --json ", json_path));
  }
  return !report.AnyFailed();
}

}  // namespace
}  // namespace rwkv::client

int main(int argc, char** argv) {
  std::vector<char*> positional = rwkv::ParseCommandLine(
      argc, argv,
      "Load generator for rwkv-serve: N concurrent users, each running M streaming turns.\n"
      "  rwkv-loadgen [--server HOST:PORT] [--sessions N] [--turns M] [--warmup-turns W]\n"
      "               [--prompt TEXT | --prompt-tokens K] [--max-tokens N] [--temperature T]\n"
      "               [--top-p P]\n"
      "               [--session-prefix STR | --no-sessions] [--keep-sessions] [--json FILE]\n"
      "               [--http HOST:PORT]   (the OpenAI-compatible HTTP API instead of gRPC)\n"
      "               [--tls-ca-file CA.pem [--tls-cert-file CERT.pem --tls-key-file KEY.pem]]\n"
      "Prints requests ok/failed, wall time, generated tokens, throughput and the p50/p90/p99 of\n"
      "time to first token, inter-token latency and end-to-end time (nearest-rank percentiles;\n"
      "a delta carrying k tokens counts as k arrivals at once). Exit status 1 if any request\n"
      "failed. Flags may be written with dashes or underscores.");
  if (positional.size() > 1) {
    std::cerr << "rwkv-loadgen: unexpected argument '" << positional[1] << "' (see --help)\n";
    return 2;
  }
  const rwkv::client::LoadgenOptions options = rwkv::client::OptionsFromFlags();
  absl::Status valid = rwkv::client::ValidateLoadgenOptions(options);
  if (valid.ok()) {
    valid = rwkv::client::CheckChannelOptions(rwkv::client::ChannelOptionsFromFlags());
  }
  if (!valid.ok()) {
    std::cerr << "rwkv-loadgen: " << valid.message() << "\n";
    return 2;
  }
  absl::StatusOr<bool> all_ok = rwkv::client::Run(options);
  if (!all_ok.ok()) {
    std::cerr << "rwkv-loadgen: " << absl::StatusCodeToString(all_ok.status().code()) << ": "
              << all_ok.status().message() << "\n";
    return 1;
  }
  return *all_ok ? 0 : 1;
}
