#include "client/loadgen_report.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/json_quote.h"

namespace rwkv::client {
namespace {

std::string PromptDescription(const LoadgenOptions& options) {
  if (options.prompt_tokens > 0) return absl::StrCat(options.prompt_tokens, " prompt tokens");
  return absl::StrCat(options.prompt.size(), "-byte prompt");
}

std::string LatencyRow(absl::string_view name, const LatencySummary& s) {
  if (s.count == 0) return absl::StrFormat("  %-22s %10s\n", name, "-");
  return absl::StrFormat("  %-22s %10.1f %10.1f %10.1f %10.1f %10.1f\n", name, s.p50 * 1e3,
                         s.p90 * 1e3, s.p99 * 1e3, s.mean * 1e3, s.max * 1e3);
}

std::string JsonNumber(double value) { return absl::StrFormat("%.9g", value); }

std::string JsonLatency(const LatencySummary& s) {
  return absl::StrCat("{\"count\": ", s.count, ", \"mean\": ", JsonNumber(s.mean),
                      ", \"min\": ", JsonNumber(s.min), ", \"p50\": ", JsonNumber(s.p50),
                      ", \"p90\": ", JsonNumber(s.p90), ", \"p99\": ", JsonNumber(s.p99),
                      ", \"max\": ", JsonNumber(s.max), "}");
}

std::string JsonErrors(const std::map<std::string, ErrorSummary>& errors) {
  std::vector<std::string> entries;
  for (const auto& [code, error] : errors) {
    entries.push_back(absl::StrCat(JsonQuote(code), ": {\"count\": ", error.count,
                                   ", \"first_message\": ", JsonQuote(error.first_message), "}"));
  }
  return absl::StrCat("{", absl::StrJoin(entries, ", "), "}");
}

}  // namespace

std::string FormatLoadgenTable(const LoadgenReport& report, const LoadgenOptions& options,
                               absl::string_view server) {
  std::string out = absl::StrFormat(
      "rwkv-loadgen: %s, %d sessions x %d turns (+%d warm-up), %s, max %d tokens, %s\n", server,
      report.sessions, report.turns, report.warmup_turns, PromptDescription(options),
      options.max_tokens,
      options.use_sessions ? absl::StrCat("sessions ", options.session_prefix, "-*")
                           : std::string("no sessions"));
  absl::StrAppendFormat(&out, "  %-22s %d ok, %d failed", "requests", report.requests_ok,
                        report.requests_failed);
  if (report.warmup_failed > 0) {
    absl::StrAppendFormat(&out, " (+%d failed in warm-up)", report.warmup_failed);
  }
  absl::StrAppendFormat(&out, "\n  %-22s %.3f s\n", "wall time", report.wall_s);
  absl::StrAppendFormat(&out, "  %-22s %d\n", "generated tokens", report.generated_tokens);
  absl::StrAppendFormat(&out, "  %-22s %.1f tok/s\n", "throughput", report.throughput_tok_s);
  absl::StrAppendFormat(&out, "  %-22s %10s %10s %10s %10s %10s\n", "latency (ms)", "p50", "p90",
                        "p99", "mean", "max");
  out += LatencyRow("time to first token", report.ttft);
  out += LatencyRow("inter-token", report.inter_token);
  out += LatencyRow("end-to-end", report.end_to_end);
  if (report.errors.empty()) absl::StrAppendFormat(&out, "  %-22s none\n", "errors");
  const char* label = "errors";
  for (const auto& [code, error] : report.errors) {
    absl::StrAppendFormat(&out, "  %-22s %s: %d (first: %s)\n", label, code, error.count,
                          error.first_message);
    label = "";
  }
  return out;
}

std::string FormatLoadgenJson(const LoadgenReport& report, const LoadgenOptions& options,
                              absl::string_view server) {
  std::vector<std::string> fields = {
      absl::StrCat("\"server\": ", JsonQuote(server)),
      absl::StrCat("\"sessions\": ", report.sessions),
      absl::StrCat("\"turns\": ", report.turns),
      absl::StrCat("\"warmup_turns\": ", report.warmup_turns),
      absl::StrCat("\"use_sessions\": ", options.use_sessions ? "true" : "false"),
      absl::StrCat("\"prompt_bytes\": ", options.prompt_tokens > 0 ? 0 : options.prompt.size()),
      absl::StrCat("\"prompt_tokens\": ", options.prompt_tokens),
      absl::StrCat("\"max_tokens\": ", options.max_tokens),
      absl::StrCat("\"temperature\": ", JsonNumber(options.temperature)),
      absl::StrCat("\"top_p\": ", JsonNumber(options.top_p)),
      absl::StrCat("\"requests_ok\": ", report.requests_ok),
      absl::StrCat("\"requests_failed\": ", report.requests_failed),
      absl::StrCat("\"warmup_requests_failed\": ", report.warmup_failed),
      absl::StrCat("\"wall_s\": ", JsonNumber(report.wall_s)),
      absl::StrCat("\"generated_tokens\": ", report.generated_tokens),
      absl::StrCat("\"throughput_tok_s\": ", JsonNumber(report.throughput_tok_s)),
      absl::StrCat("\"ttft_s\": ", JsonLatency(report.ttft)),
      absl::StrCat("\"inter_token_s\": ", JsonLatency(report.inter_token)),
      absl::StrCat("\"end_to_end_s\": ", JsonLatency(report.end_to_end)),
      absl::StrCat("\"errors\": ", JsonErrors(report.errors)),
  };
  return absl::StrCat("{\n  ", absl::StrJoin(fields, ",\n  "), "\n}\n");
}

}  // namespace rwkv::client
