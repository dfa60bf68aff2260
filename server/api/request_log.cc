#include "server/api/request_log.h"

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/json_quote.h"
#include "server/sessions/session_id.h"

namespace rwkv::server {
namespace {

std::string Timestamp(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone());
}

// Of an ID that is not valid (whatever the client sent, up to the gRPC message size), the log
// keeps this many bytes and the full size: one request cannot write megabytes into the log.
constexpr size_t kLoggedInvalidIdBytes = 64;

// A valid session ID as it is; anything else cut at a UTF-8 character boundary within
// kLoggedInvalidIdBytes, followed by "...(N bytes)". The caller escapes the result.
std::string LoggedSession(absl::string_view id) {
  if (id.size() <= kLoggedInvalidIdBytes || ValidateSessionId(id).ok()) return std::string(id);
  size_t cut = kLoggedInvalidIdBytes;
  // Back over continuation bytes (10xxxxxx), at most a character's three.
  for (int i = 0; i < 3 && (static_cast<unsigned char>(id[cut]) & 0xC0) == 0x80; ++i) --cut;
  return absl::StrCat(id.substr(0, cut), "...(", id.size(), " bytes)");
}

std::string TextLine(const RequestRecord& r, absl::Time time) {
  std::string line = absl::StrCat(Timestamp(time), " ", r.method);
  if (!r.request_id.empty()) absl::StrAppend(&line, " request_id=", absl::CHexEscape(r.request_id));
  // Escaped: a rejected session ID is whatever the client sent, newlines included.
  if (!r.session.empty()) {
    absl::StrAppend(&line, " session=", absl::CHexEscape(LoggedSession(r.session)));
  }
  if (r.tenant.has_value() && !r.tenant->empty()) absl::StrAppend(&line, " tenant=", *r.tenant);
  if (!r.peer.empty()) absl::StrAppend(&line, " peer=", absl::CHexEscape(r.peer));
  if (r.prompt_tokens >= 0) absl::StrAppend(&line, " prompt=", r.prompt_tokens);
  if (r.generated_tokens >= 0) absl::StrAppend(&line, " generated=", r.generated_tokens);
  absl::StrAppend(&line, " status=", absl::StatusCodeToString(r.status.code()),
                  absl::StrFormat(" ms=%.1f", absl::ToDoubleMilliseconds(r.duration)));
  if (!r.status.ok()) absl::StrAppend(&line, " error=\"", absl::CHexEscape(r.status.message()), "\"");
  return line;
}

std::string JsonLine(const RequestRecord& r, absl::Time time) {
  std::string line = absl::StrCat("{\"time\":", JsonQuote(Timestamp(time)),
                                  ",\"method\":", JsonQuote(r.method));
  if (!r.request_id.empty()) absl::StrAppend(&line, ",\"request_id\":", JsonQuote(r.request_id));
  if (!r.session.empty()) {
    absl::StrAppend(&line, ",\"session\":", JsonQuote(LoggedSession(r.session)));
  }
  if (r.tenant.has_value() && !r.tenant->empty()) {
    absl::StrAppend(&line, ",\"tenant\":", JsonQuote(*r.tenant));
  }
  if (!r.peer.empty()) absl::StrAppend(&line, ",\"peer\":", JsonQuote(r.peer));
  if (r.prompt_tokens >= 0) absl::StrAppend(&line, ",\"prompt_tokens\":", r.prompt_tokens);
  if (r.generated_tokens >= 0) absl::StrAppend(&line, ",\"generated_tokens\":", r.generated_tokens);
  absl::StrAppend(&line, ",\"code\":", JsonQuote(absl::StatusCodeToString(r.status.code())),
                  absl::StrFormat(",\"ms\":%.1f", absl::ToDoubleMilliseconds(r.duration)));
  if (!r.status.ok()) absl::StrAppend(&line, ",\"error\":", JsonQuote(r.status.message()));
  line.push_back('}');
  return line;
}

}  // namespace

absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("log format must be text or json, got \"", absl::CHexEscape(name), "\""));
}

std::string FormatRequestLine(const RequestRecord& record, LogFormat format, absl::Time time) {
  return format == LogFormat::kJson ? JsonLine(record, time) : TextLine(record, time);
}

std::string FormatEventLine(absl::string_view text, LogFormat format, absl::Time time) {
  if (format == LogFormat::kJson) {
    return absl::StrCat("{\"time\":", JsonQuote(Timestamp(time)), ",\"event\":", JsonQuote(text),
                        "}");
  }
  return absl::StrCat(Timestamp(time), " ", text);
}

void RequestLog::Log(const RequestRecord& record) {
  Write(FormatRequestLine(record, format_, absl::Now()));
}

void RequestLog::Event(absl::string_view text) {
  Write(FormatEventLine(text, format_, absl::Now()));
}

void RequestLog::Write(std::string line) {
  line.push_back('\n');
  absl::MutexLock lock(&mu_);
  std::fputs(line.c_str(), out_);
}

}  // namespace rwkv::server
